package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/term"

	"roost/admin"
	"roost/config"
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
}

func cmdUser(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("user", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs)
	pos, err := flags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	op, pos := pos[0], pos[1:]
	wantArgs := 1
	if op == "list" {
		wantArgs = 0
	}
	if len(pos) != wantArgs {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	ua, done, err := openAdmin(cfg)
	if err != nil {
		return err
	}
	defer done()

	switch op {
	case "add", "passwd":
		pw, err := readPassword(stdin, stderr, pos[0])
		if err != nil {
			return err
		}
		if op == "add" {
			err = ua.AddUser(ctx, pos[0], pw)
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

// openAdmin reaches the running server, or opens the store directly when
// none runs.
func openAdmin(cfg config.Config) (userAdmin, func(), error) {
	c := admin.Client{Path: cfg.Admin.Socket}
	if c.Running() {
		return c, func() {}, nil
	}
	st, err := openStore(cfg)
	if err != nil {
		return nil, nil, err
	}
	accts, err := server.NewAccounts(st, cfg.Domains)
	if err != nil {
		_ = st.Close()
		return nil, nil, err
	}
	return accts, func() { _ = st.Close() }, nil
}

func openStore(cfg config.Config) (*store.Store, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	path := filepath.Join(cfg.DataDir, server.StoreFile)
	st, err := store.Open(path, store.Options{})
	if errors.Is(err, store.ErrLocked) {
		return nil, fmt.Errorf("the data file is in use, but the server's admin socket %s does not answer: %w", cfg.Admin.Socket, err)
	}
	if err != nil {
		return nil, err
	}
	if err := adoptOwner(path, cfg.DataDir); err != nil {
		_ = st.Close()
		return nil, err
	}
	return st, nil
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
