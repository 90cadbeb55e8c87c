package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"roost/admin"
	"roost/server"
	"roost/store"
)

func cmdBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	pos, cfg, err := newCommand("backup", stderr).load(args, oneArg)
	if err != nil {
		return err
	}
	f, done, err := createAtomically(pos[0])
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	var n int64
	err = done(withData(cfg, true, func(c admin.Client) error {
		return c.Backup(ctx, f, func(size int64) error { n = size; return nil })
	}, func(st *store.Store) error {
		return server.Backup(cfg, st, f, func(size int64) error { n = size; return nil })
	}))
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(stdout, "backup written to %s (%d bytes)\n", pos[0], n)
	return nil
}

// createAtomically creates path's content under a temporary name, mode
// 0600 (backups and exports hold credentials); done, given the error of
// writing it, syncs, closes and renames it into place on success, and
// removes it otherwise, so that path is either complete or untouched.
func createAtomically(path string) (*os.File, func(error) error, error) {
	tmp := path + ".partial"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, nil, err
	}
	return f, func(err error) error {
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp, path)
		}
		if err != nil {
			_ = os.Remove(tmp) // the write's error is the one to report
		}
		return err
	}, nil
}

func cmdRestore(_ context.Context, args []string, stdout, stderr io.Writer) error {
	pos, cfg, err := newCommand("restore", stderr).load(args, oneArg)
	if err != nil {
		return err
	}
	if (admin.Client{Path: cfg.Admin.Socket}).Running() {
		return errors.New("restore: stop the server first (systemctl stop roost)")
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer f.Close()
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := server.Restore(cfg, f); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	// The store and the uploaded files, as the server's user.
	dst := filepath.Join(cfg.DataDir, server.StoreFile)
	paths := []string{dst}
	uploads := server.UploadDir(cfg)
	if names, err := os.ReadDir(uploads); err == nil {
		paths = append(paths, uploads)
		for _, n := range names {
			paths = append(paths, filepath.Join(uploads, n.Name()))
		}
	}
	for _, p := range paths {
		if err := adoptOwner(p, cfg.DataDir); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
	}
	fmt.Fprintf(stdout, "restored %s from %s\n", cfg.DataDir, pos[0])
	return nil
}
