package store

import (
	"fmt"
	"os"
	"path/filepath"

	"go.etcd.io/bbolt"
)

// compactTxSize bounds the bytes one transaction of a compaction copies,
// so that its dirty pages stay a small part of a Raspberry Pi's memory.
const compactTxSize = 16 << 20

// Compact rewrites the store at path into a new file without the free
// pages that deleted data leaves behind (bbolt files never shrink), and
// puts it in place of the old one. It returns the file's size before and
// after. It is for a stopped server: it fails with ErrLocked when the
// file is open, and holds the lock until the new file is in place.
//
// The copy is written next to the store, synced, checked by opening it as
// a store, and renamed over the old file, and the directory is synced: a
// crash at any point leaves either the old file or the new one, whole.
func Compact(path string, opts Options) (before, after int64, err error) {
	src, err := Open(path, opts)
	if err != nil {
		return 0, 0, fmt.Errorf("compact store: %w", err)
	}
	defer func() {
		if cerr := src.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("compact store: %w", cerr)
		}
	}()
	fi, err := os.Stat(path)
	if err != nil {
		return 0, 0, fmt.Errorf("compact store: %w", err)
	}
	before = fi.Size()

	tmp := path + ".compact"
	_ = os.Remove(tmp) // left by an earlier, interrupted run
	dst, err := bbolt.Open(tmp, fi.Mode().Perm(), &bbolt.Options{Timeout: opts.withDefaults().Timeout})
	if err != nil {
		return 0, 0, fmt.Errorf("compact store: %w", err)
	}
	err = bbolt.Compact(dst, src.db, compactTxSize)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// Check the copy as a store before it replaces the original.
		var c *Store
		if c, err = Open(tmp, Options{Timeout: opts.Timeout}); err == nil {
			err = c.Close()
		}
	}
	if err != nil {
		_ = os.Remove(tmp)
		return 0, 0, fmt.Errorf("compact store: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return 0, 0, fmt.Errorf("compact store: %w", err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return 0, 0, fmt.Errorf("compact store: %w", err)
	}
	if fi, err = os.Stat(path); err != nil {
		return 0, 0, fmt.Errorf("compact store: %w", err)
	}
	return before, fi.Size(), nil
}
