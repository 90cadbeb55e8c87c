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
	tmp := pos[0] + ".partial"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer os.Remove(tmp)
	defer f.Close()

	var n int64
	err = withData(cfg, true, func(c admin.Client) error {
		return c.Backup(ctx, f, func(size int64) error { n = size; return nil })
	}, func(st *store.Store) error {
		return server.Backup(cfg, st, f, func(size int64) error { n = size; return nil })
	})
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := os.Rename(tmp, pos[0]); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(stdout, "backup written to %s (%d bytes)\n", pos[0], n)
	return nil
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
