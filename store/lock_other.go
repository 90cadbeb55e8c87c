//go:build windows || plan9 || solaris || aix || android

package store

import (
	"errors"
	"io/fs"
	"os"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// checkUnlocked fails with ErrLocked when some process holds path open.
// Where roost has no flock(2) it lets bbolt take its own lock, which means
// reading the file; a corrupt target may then make Restore fail. roost's
// packages target Linux, which uses lock_flock.go.
func checkUnlocked(path string, timeout time.Duration) error {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: timeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return lockErr(err)
	}
	if err != nil {
		return nil // Not a usable bbolt file, and not held: it may be replaced.
	}
	return db.Close()
}
