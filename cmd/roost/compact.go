package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"roost/admin"
	"roost/server"
	"roost/store"
)

// cmdCompact gives back the space deleted data left in the data file
// (expired archives, deleted accounts): bbolt reuses free pages but never
// shrinks its file. It needs the server stopped.
func cmdCompact(_ context.Context, args []string, stdout, stderr io.Writer) error {
	_, cfg, err := newCommand("compact", stderr).load(args, noArgs)
	if err != nil {
		return err
	}
	if (admin.Client{Path: cfg.Admin.Socket}).Running() {
		return errors.New("compact: stop the server first (systemctl stop roost)")
	}
	path := filepath.Join(cfg.DataDir, server.StoreFile)
	before, after, err := store.Compact(path, store.Options{})
	if err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	if err := adoptOwner(path, cfg.DataDir); err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	fmt.Fprintf(stdout, "compacted %s: %s → %s\n", path, mib(before), mib(after))
	return nil
}

func noArgs(pos []string) bool { return len(pos) == 0 }

// mib writes a byte count in MiB with one decimal.
func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
