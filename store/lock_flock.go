//go:build !windows && !plan9 && !solaris && !aix && !android

package store

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
	"time"

	berrors "go.etcd.io/bbolt/errors"
)

// lockPoll is how often checkUnlocked retries, as bbolt does.
const lockPoll = 50 * time.Millisecond

// checkUnlocked fails with ErrLocked when some process holds path open as
// a bbolt file. It takes the same flock(2) lock bbolt takes, exclusively so
// that read-only holders count too, and releases it at once. It does not
// read the file: the target of a restore may well be corrupt, and bbolt
// opening a corrupt file can fault.
func checkUnlocked(path string, timeout time.Duration) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close() // Read-only, and closing also drops the lock.
	start := time.Now()
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return err
		}
		if time.Since(start) >= timeout {
			return lockErr(berrors.ErrTimeout)
		}
		time.Sleep(lockPoll)
	}
}
