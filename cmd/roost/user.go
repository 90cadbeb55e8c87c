package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"roost/admin"
	"roost/server"
	"roost/store"
)

// userAdmin is what the user subcommands need; both a running server (over
// the admin socket) and the store opened directly provide it.
type userAdmin interface {
	AddUser(ctx context.Context, user, password string) error
	DeleteUser(ctx context.Context, user string) error
	SetPassword(ctx context.Context, user, password string) error
	Users(ctx context.Context) ([]string, error)
	SetAdmin(ctx context.Context, user string, admin bool) error
}

func cmdUser(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	c := newCommand("user", stderr)
	isAdmin := c.fs.Bool("admin", false, "with add: the new account is an admin (web console, admin commands)")
	pos, cfg, err := c.load(args, func(pos []string) bool {
		// list takes no USER, the other operations one.
		return len(pos) == 1 && pos[0] == "list" || len(pos) == 2 && pos[0] != "list"
	})
	if err != nil {
		return err
	}
	op, pos := pos[0], pos[1:]
	return withData(cfg, true, func(c admin.Client) error {
		return userOp(ctx, c, op, pos, *isAdmin, stdin, stdout, stderr)
	}, func(st *store.Store) error {
		accts, err := server.NewAccounts(st, cfg.Domains)
		if err != nil {
			return err
		}
		return userOp(ctx, accts, op, pos, *isAdmin, stdin, stdout, stderr)
	})
}

// userOp runs one user operation through ua.
func userOp(ctx context.Context, ua userAdmin, op string, pos []string, isAdmin bool, stdin io.Reader, stdout, stderr io.Writer) error {
	switch op {
	case "add", "passwd":
		pw, err := readPassword(stdin, stderr, pos[0])
		if err != nil {
			return err
		}
		if op == "add" {
			err = ua.AddUser(ctx, pos[0], pw)
			if err == nil && isAdmin {
				err = ua.SetAdmin(ctx, pos[0], true)
			}
		} else {
			err = ua.SetPassword(ctx, pos[0], pw)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: done\n", pos[0])
	case "del":
		if err := ua.DeleteUser(ctx, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: deleted\n", pos[0])
	case "list":
		users, err := ua.Users(ctx)
		if err != nil {
			return err
		}
		for _, u := range users {
			fmt.Fprintln(stdout, u)
		}
	default:
		fmt.Fprintf(stderr, "roost: unknown user command %q\n\n%s", op, usage)
		return errUsage
	}
	return nil
}

// readPassword asks twice on a terminal, without echo, or reads one line
// from a pipe.
func readPassword(stdin io.Reader, stderr io.Writer, user string) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(stderr, "Password for %s: ", user)
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		fmt.Fprint(stderr, "Again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if string(a) != string(b) {
			return "", errors.New("the passwords do not match")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && (err != io.EOF || line == "") {
		return "", errors.New("read password: expected one line on standard input")
	}
	return strings.TrimRight(line, "\r\n"), nil
}
