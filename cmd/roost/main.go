// Command roost is the roost XMPP server and its administration tool.
//
//	roost serve [-config FILE]            run the server
//	roost user add|del|passwd|list USER   manage accounts
//	roost room list|info|create|destroy   manage group chat rooms
//	roost invite [-admin] [-expires 7d] [-uses N]   an invitation link and QR code
//	roost invite list|revoke ID           open invitations
//	roost admin grant|revoke|list USER    the admin role
//	roost check [-config FILE]            validate the configuration; with the server
//	                                      running, show what phones see (server info)
//	roost check dns [DOMAIN]              DNS records, ports and certificate, as the world sees them
//	roost cert status [-config FILE]      certificates: source, issuer, expiry, problems
//	roost backup FILE / roost restore FILE
//	roost compact [-config FILE]          shrink the data file (server stopped)
//	roost export DIR|FILE                 every account, as XEP-0227
//	roost import DIR|FILE                 accounts from roost, Prosody or ejabberd (XEP-0227)
//	roost import prosody [DATADIR]        the whole move from a Prosody on this machine
//	roost version
//
// Without -config, roost uses its built-in defaults: the domain localhost,
// a self-signed certificate and a data directory ./data. Installed builds
// (make cross, the Debian package) read /etc/roost/roost.toml instead when
// it exists.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `roost: an XMPP server for the home

Usage:
  roost serve   [-config FILE] [-log-level LEVEL] [-log-format text|json|journal]
  roost user    add|del|passwd USER [-config FILE]
  roost user    list [-config FILE]
  roost room    list [-config FILE]
  roost room    info ROOM [-config FILE]
  roost room    create ROOM [-owner USER] [-name NAME] [-config FILE]
  roost room    destroy ROOM [-reason TEXT] [-config FILE]
  roost user    add -admin USER [-config FILE]
  roost invite  [-admin] [-expires 7d] [-uses N] [-from USER] [-name NAME]
  roost invite  list | revoke ID [-config FILE]
  roost admin   grant|revoke USER | list [-config FILE]
  roost check   [-config FILE]
  roost check   dns [DOMAIN] [-config FILE]
  roost cert    status [-config FILE] [-json]
  roost backup  FILE [-config FILE]
  roost restore FILE [-config FILE]
  roost compact [-config FILE]
  roost export  DIR|FILE|- [-config FILE]
  roost import  DIR|FILE|- [-overwrite] [-dry-run] [-config FILE]
  roost import  prosody [DATADIR] [-overwrite] [-dry-run] [-direct] [-config FILE]
  roost version

USER is name@domain, or just name for the first configured domain.
ROOM is name@conference.domain, or just name for the first domain.
Passwords are read from the terminal (or one line of standard input),
never from the command line.

export and import move accounts in XEP-0227, the format Prosody
(prosody-migrator) and ejabberd (export_piefxis) write: FILE ends in .xml,
anything else is a directory of one file per account. import needs the
server stopped; "roost import prosody" moves a Prosody on this machine
(/var/lib/prosody) in one go, and -dry-run says what would move.
`

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "roost:", err)
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return cmdServe(ctx, rest, stderr)
	case "user":
		return cmdUser(ctx, rest, stdin, stdout, stderr)
	case "room":
		return cmdRoom(ctx, rest, stdout, stderr)
	case "invite":
		return cmdInvite(ctx, rest, stdout, stderr)
	case "admin":
		return cmdAdmin(ctx, rest, stdout, stderr)
	case "check":
		if len(rest) > 0 && rest[0] == "dns" {
			return cmdCheckDNS(ctx, rest[1:], stdout, stderr)
		}
		return cmdCheck(rest, stdout, stderr)
	case "cert":
		return cmdCert(ctx, rest, stdout, stderr)
	case "backup":
		return cmdBackup(ctx, rest, stdout, stderr)
	case "restore":
		return cmdRestore(ctx, rest, stdout, stderr)
	case "compact":
		return cmdCompact(ctx, rest, stdout, stderr)
	case "export":
		return cmdExport(ctx, rest, stdout, stderr)
	case "import":
		return cmdImport(ctx, rest, stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "roost", version)
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "roost: unknown command %q\n\n%s", cmd, usage)
	return errUsage
}

// flags parses a subcommand's flags, which may come before or after its
// positional arguments ("roost user add alice -config x.toml").
func flags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, errUsage
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
