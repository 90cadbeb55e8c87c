package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"roost/admin"
	"roost/qrcode"
	"roost/server"
	"roost/store"
)

// inviteAdmin is what the invite and admin subcommands need; the running
// server (admin.Client) and the stopped server's store (server.AdminOps)
// both provide it.
type inviteAdmin interface {
	admin.Invites
}

// withInvites runs fn with the running server's admin client, or with the
// store of a stopped server.
func withInvites(name string, args []string, stderr io.Writer, setup func(c command), ok func(pos []string) bool,
	fn func(ia inviteAdmin, pos []string) error) error {
	c := newCommand(name, stderr)
	if setup != nil {
		setup(c)
	}
	pos, cfg, err := c.load(args, ok)
	if err != nil {
		return err
	}
	return withData(cfg, true, func(ac admin.Client) error {
		return fn(ac, pos)
	}, func(st *store.Store) error {
		ops, err := server.NewAdminOps(st, cfg)
		if err != nil {
			return err
		}
		return fn(ops, pos)
	})
}

// cmdInvite: roost invite [--admin] [--expires 7d] [--uses N] [--from USER]
// [--name NAME], roost invite list, roost invite revoke ID.
func cmdInvite(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		isAdmin       bool
		expires, from string
		name          string
		uses          int
	)
	setup := func(c command) {
		c.fs.BoolVar(&isAdmin, "admin", false, "the new account is an admin")
		c.fs.StringVar(&expires, "expires", "", "how long the invitation works, such as 7d or 12h (default: [invites] expiry)")
		c.fs.IntVar(&uses, "uses", 1, "how many accounts it may make")
		c.fs.StringVar(&from, "from", "", "the `account` the new one becomes a contact of (default: the admin, if there is one)")
		c.fs.StringVar(&name, "name", "", "the user `name` the new account must take (default: they choose)")
	}
	ok := func(pos []string) bool {
		return len(pos) == 0 || len(pos) == 1 && pos[0] == "list" || len(pos) == 2 && pos[0] == "revoke"
	}
	return withInvites("invite", args, stderr, setup, ok, func(ia inviteAdmin, pos []string) error {
		switch {
		case len(pos) == 1:
			return listInvites(ctx, ia, stdout)
		case len(pos) == 2:
			if err := ia.RevokeInvite(ctx, pos[1]); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "invitation %s: withdrawn\n", pos[1])
			return nil
		}
		d, err := parseExpiry(expires)
		if err != nil {
			return err
		}
		note := ""
		if from == "" {
			admins, err := ia.Admins(ctx)
			if err != nil {
				return err
			}
			switch len(admins) {
			case 1:
				from = admins[0]
			case 0:
				note = "Tip: make your own account an admin (roost admin grant NAME), and the people\nyou invite appear in your contacts.\n"
			default:
				note = fmt.Sprintf("The new account is nobody's contact: there are %d admins; say --from ACCOUNT.\n", len(admins))
			}
		}
		link, err := ia.CreateInvite(ctx, admin.InviteParams{Inviter: from, Username: name, Admin: isAdmin, Expires: d, Uses: uses})
		if err != nil {
			return err
		}
		printInvite(stdout, link, from, isAdmin, note)
		return nil
	})
}

// parseExpiry reads a duration with days allowed ("7d"); "" is zero, the
// server's default.
func parseExpiry(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 || n > 366 {
			return 0, fmt.Errorf("--expires %q: want a number of days from 1 to 366, such as 7d", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("--expires %q: want a duration such as 7d, 12h or 30m", s)
	}
	return d, nil
}

// printInvite shows a new invitation: the link, a QR code of it, and what
// it does.
func printInvite(w io.Writer, link admin.InviteLink, from string, isAdmin bool, note string) {
	uses := "one person"
	if link.Uses > 1 {
		uses = fmt.Sprintf("%d people", link.Uses)
	}
	fmt.Fprintf(w, "\nInvitation for %s, valid until %s:\n\n    %s\n\n", uses, link.Expires.Local().Format("Mon 2 Jan 2006 15:04"), link.URL)
	if c, err := qrcode.Encode(link.URL); err == nil {
		f, isFile := w.(*os.File)
		fmt.Fprint(w, indent(c.Terminal(isFile && term.IsTerminal(int(f.Fd()))), "  "))
	}
	fmt.Fprintln(w, "\nSend the link, or let them scan the code with their phone's camera.")
	if from != "" {
		fmt.Fprintf(w, "They will be in the contacts of %s, and %s in theirs.\n", from, from)
	}
	if isAdmin {
		fmt.Fprintln(w, "Their account will be an admin of this server.")
	}
	fmt.Fprint(w, note)
	fmt.Fprintf(w, "To withdraw it: roost invite revoke %s\n", link.ID)
}

func indent(s, prefix string) string {
	lines := strings.SplitAfter(s, "\n")
	var b strings.Builder
	for _, l := range lines {
		if l != "" {
			b.WriteString(prefix + l)
		}
	}
	return b.String()
}

func listInvites(ctx context.Context, ia inviteAdmin, stdout io.Writer) error {
	list, err := ia.ListInvites(ctx)
	if err != nil {
		return err
	}
	if len(list) == 0 {
		fmt.Fprintln(stdout, "no open invitations")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tUSED\tVALID UNTIL\tCONTACT OF\tNAME\tADMIN")
	for _, in := range list {
		fmt.Fprintf(tw, "%s\t%d of %d\t%s\t%s\t%s\t%s\n", in.ID, in.Used, in.MaxUses, in.Expires.Local().Format("2006-01-02 15:04"),
			dash(in.Inviter), dash(in.Username), yes(in.Admin))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "-"
}

// cmdAdmin: roost admin grant|revoke USER, roost admin list.
func cmdAdmin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	ok := func(pos []string) bool {
		return len(pos) == 1 && pos[0] == "list" || len(pos) == 2 && (pos[0] == "grant" || pos[0] == "revoke")
	}
	return withInvites("admin", args, stderr, nil, ok, func(ia inviteAdmin, pos []string) error {
		if pos[0] == "list" {
			admins, err := ia.Admins(ctx)
			if err != nil {
				return err
			}
			for _, a := range admins {
				fmt.Fprintln(stdout, a)
			}
			return nil
		}
		if err := ia.SetAdmin(ctx, pos[1], pos[0] == "grant"); err != nil {
			return err
		}
		if pos[0] == "grant" {
			fmt.Fprintf(stdout, "%s: now an admin (web console, admin commands, invitations)\n", pos[1])
		} else {
			fmt.Fprintf(stdout, "%s: no longer an admin\n", pos[1])
		}
		return nil
	})
}
