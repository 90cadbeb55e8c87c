package prosody

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"roost/portable"
)

// migratorStores are the stores prosody-migrator's xep0227 driver can
// write (mod_storage_xep0227 in Prosody 0.12): the others (block lists,
// offline messages) it refuses, and they are read directly.
var migratorStores = []string{"accounts", "roster", "vcard", "private", "pep-pubsub", "archive-archive"}

// FindMigrator returns the path of prosody-migrator, which comes with
// Prosody, or an error when it is not installed.
func FindMigrator() (string, error) {
	p, err := exec.LookPath("prosody-migrator")
	if err != nil {
		return "", fmt.Errorf("find prosody-migrator: %w", err)
	}
	return p, nil
}

// Migrate runs prosody-migrator to export the accounts of hosts to outDir
// as XEP-0227, one file per account (name@host.xml), reading the data
// directory in place and writing nothing else.
//
// prosody-migrator's xep0227 driver writes into Prosody's own data path,
// which the script fixes at install time (CFG_DATADIR, /var/lib/prosody
// on Debian), next to the live data; and, started as root, it switches
// to the prosody user. So the script is run under its own interpreter
// with the one global it sets for the data path redirected to outDir
// before it runs (a Lua __newindex on the globals, the script itself
// unchanged), and as root with --root, which keeps the user roost was
// started as.
func (d Dir) Migrate(ctx context.Context, migrator, outDir string, hosts []string) error {
	script, err := os.ReadFile(migrator)
	if err != nil {
		return fmt.Errorf("read %s: %w", migrator, err)
	}
	interp, err := interpreter(script)
	if err != nil {
		return fmt.Errorf("run %s: %w", migrator, err)
	}
	abs, err := filepath.Abs(d.Path)
	if err != nil {
		return err
	}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "-- written by roost import prosody\ninput {\n\ttype = \"internal\";\n\tpath = %s;\n\thosts = {\n", luaQuote(abs))
	for _, h := range hosts {
		fmt.Fprintf(&cfg, "\t\t[%s] = {", luaQuote(h))
		for _, s := range migratorStores {
			fmt.Fprintf(&cfg, " %s;", luaQuote(s))
		}
		cfg.WriteString(" };\n")
	}
	fmt.Fprintf(&cfg, "\t};\n}\noutput {\n\ttype = \"xep0227\";\n\tpath = %s;\n}\n", luaQuote(outDir))
	cfgFile := filepath.Join(outDir, "migrator.cfg.lua")
	if err := os.WriteFile(cfgFile, []byte(cfg.String()), 0o600); err != nil {
		return err
	}
	defer os.Remove(cfgFile)
	hook := "setmetatable(_G, {__newindex = function(t, k, v) if k == \"CFG_DATADIR\" then v = " + luaQuote(outDir) + " end rawset(t, k, v) end})"
	args := []string{"-e", hook, migrator}
	if os.Geteuid() == 0 {
		args = append(args, "--root")
	}
	args = append(args, "--config", cfgFile, "input", "output")
	cmd := exec.CommandContext(ctx, interp, args...)
	cmd.Dir = outDir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("run %s: %w\n%s", migrator, err, tail(out.String(), 20))
	}
	return nil
}

// interpreter reads the script's #! line: prosody-migrator is a Lua
// script ("#!/usr/bin/env lua5.4" on Debian).
func interpreter(script []byte) (string, error) {
	line, _, _ := bytes.Cut(script, []byte("\n"))
	rest, ok := bytes.CutPrefix(line, []byte("#!"))
	f := strings.Fields(string(rest))
	if !ok || len(f) == 0 {
		return "", fmt.Errorf("no #! line to say which Lua runs it")
	}
	if filepath.Base(f[0]) == "env" && len(f) > 1 {
		return exec.LookPath(f[1])
	}
	return f[0], nil
}

// luaQuote writes s as a Lua string literal.
func luaQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c >= 0x7f:
			fmt.Fprintf(&b, "\\%03d", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func tail(s string, lines int) string {
	var keep []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		keep = append(keep, sc.Text())
		if len(keep) > lines {
			keep = keep[1:]
		}
	}
	return strings.Join(keep, "\n")
}

// Supplement adds to the accounts src yields (prosody-migrator's export,
// read back) what its xep0227 driver leaves out and is read here directly
// instead: block lists and offline messages, and the stores nobody reads,
// reported; then the group chat rooms (Rooms). Users that have no account in the data directory (data left
// behind by deleted accounts, which the migrator exports too) are left
// out, and named to skipped.
func (d Dir) Supplement(src func(func(portable.Entry) error) error, skipped func(jid string)) func(func(portable.Entry) error) error {
	return func(fn func(portable.Entry) error) error {
		var host, user string
		drop := false
		err := src(func(e portable.Entry) error {
			switch v := e.(type) {
			case *portable.User:
				host, user = v.Host, v.Name
				_, err := os.Stat(d.file(host, "accounts", user, ".dat"))
				drop = err != nil
				if drop {
					if skipped != nil {
						skipped(user + "@" + host)
					}
					return nil
				}
			case *portable.UserEnd:
				if drop {
					drop = false
					return nil
				}
				for _, step := range []func(host, user string, fn func(portable.Entry) error) error{d.Blocklist, d.Offline, d.unknownStores} {
					if err := step(host, user, fn); err != nil {
						return err
					}
				}
			default:
				if drop {
					return nil
				}
			}
			return fn(e)
		})
		if err != nil {
			return err
		}
		return d.Rooms(fn)
	}
}
