package store

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"go.etcd.io/bbolt"
)

// Backup writes a consistent copy of the whole store to w while the server
// keeps serving, and returns the number of bytes written. The copy is a
// bbolt file that Open and Restore accept. It holds a read transaction for
// as long as w takes, so w should not be slow (see the package
// documentation on remapping).
func (s *Store) Backup(w io.Writer) (int64, error) {
	var n int64
	err := s.db.View(func(tx *bbolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("back up store: %w", err)
	}
	return n, nil
}

// Restore replaces the store at path with the backup read from r. It is
// for a stopped server: it fails with ErrLocked when path is open in any
// process. The backup is written to a temporary file in path's directory
// and fsynced, then checked: it must be a sound bbolt file (ErrNotStore,
// ErrCorrupt) with a roost schema this build can open (ErrNotStore,
// ErrSchema). Only then is it renamed over path, atomically, so a failed
// restore leaves path as it was.
func Restore(r io.Reader, path string, opts Options) (err error) {
	opts = opts.withDefaults()
	if err := checkUnlocked(path, opts.Timeout); err != nil {
		return fmt.Errorf("restore store %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".restore-*")
	if err != nil {
		return fmt.Errorf("restore store %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()      // Already closed on most paths; the error is moot.
			_ = os.Remove(tmp) // Best effort: the restore error is what matters.
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("restore store %s: %w", path, err)
	}
	n, err := io.Copy(f, r)
	if err != nil {
		return fmt.Errorf("restore store %s: copy backup: %w", path, err)
	}
	if n == 0 {
		return fmt.Errorf("restore store %s: empty backup: %w", path, ErrNotStore)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("restore store %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("restore store %s: %w", path, err)
	}
	if err := checkBackup(tmp, n, opts.Timeout); err != nil {
		return fmt.Errorf("restore store %s: %w", path, err)
	}
	// Check again: a server may have started while the backup was copied.
	if err := checkUnlocked(path, opts.Timeout); err != nil {
		return fmt.Errorf("restore store %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("restore store %s: %w", path, err)
	}
	// The rename is durable only once the directory is synced.
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("restore store %s: %w", path, err)
	}
	return nil
}

// checkBackup checks the bbolt file at path, which holds size bytes,
// before it replaces a store. bbolt trusts its file: it maps it and reads
// pages wherever the meta page points, so a truncated file faults (SIGBUS)
// and a corrupt page panics. The check therefore runs on a goroutine of its
// own with faults turned into panics, recovers them as ErrCorrupt, and
// confirms the file holds every page its meta page claims before walking
// them. A panic inside bbolt.Open itself can leave that open file and its
// map behind; Restore runs in a short-lived admin process.
func checkBackup(path string, size int64, timeout time.Duration) error {
	done := make(chan error, 1)
	go func() {
		debug.SetPanicOnFault(true) // This goroutine only; it ends here.
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("check backup: %v: %w", r, ErrCorrupt)
			}
		}()
		done <- checkBackupFile(path, size, timeout)
	}()
	return <-done
}

func checkBackupFile(path string, size int64, timeout time.Duration) error {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: timeout, PreLoadFreelist: true})
	if err != nil {
		return fmt.Errorf("open backup: %w: %w", ErrNotStore, err)
	}
	defer db.Close() // Read-only: closing cannot lose anything.
	return db.View(func(tx *bbolt.Tx) error {
		if tx.Size() > size {
			return fmt.Errorf("check backup: truncated, %d of %d bytes: %w", size, tx.Size(), ErrCorrupt)
		}
		v, err := schemaVersion(tx)
		if err != nil {
			return fmt.Errorf("check backup: %w", err)
		}
		if v == 0 {
			return fmt.Errorf("check backup: no schema version: %w", ErrNotStore)
		}
		if v > SchemaVersion {
			return fmt.Errorf("check backup: schema %d, this roost knows up to %d: %w", v, SchemaVersion, ErrSchema)
		}
		// Touch every page here, where a panic is recovered, before
		// tx.Check reads them on a goroutine of its own.
		err = tx.ForEach(func(_ []byte, b *bbolt.Bucket) error { return walk(b) })
		if err != nil {
			return fmt.Errorf("check backup: %w", err)
		}
		// Drain the channel: Check reads the file from a goroutine that
		// must finish before the transaction ends.
		var first error
		for err := range tx.Check() {
			if first == nil {
				first = err
			}
		}
		if first != nil {
			return fmt.Errorf("check backup: %w: %w", ErrCorrupt, first)
		}
		return nil
	})
}

// walk visits every key of b and of the buckets nested in it.
func walk(b *bbolt.Bucket) error {
	return b.ForEach(func(k, v []byte) error {
		if v == nil {
			if nested := b.Bucket(k); nested != nil {
				return walk(nested)
			}
		}
		return nil
	})
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		_ = d.Close()
		return err
	}
	return d.Close()
}

// Stats are counts for `roost status`.
type Stats struct {
	Schema          uint32 // schema version of the file
	Size            int64  // bytes in use, as a backup would write
	Accounts        int
	RosterItems     int // all users
	OfflineMessages int // all users
	Blobs           int
}

// Stats counts the store's contents. It walks the counted buckets' pages,
// so it is for status reports, not hot paths.
func (s *Store) Stats() (Stats, error) {
	var st Stats
	err := s.db.View(func(tx *bbolt.Tx) error {
		v, err := schemaVersion(tx)
		if err != nil {
			return err
		}
		st.Schema = v
		st.Size = tx.Size()
		st.Accounts = tx.Bucket([]byte(bucketAccounts)).Stats().KeyN
		st.RosterItems = tx.Bucket([]byte(bucketRoster)).Stats().KeyN
		st.OfflineMessages = tx.Bucket([]byte(bucketOffline)).Stats().KeyN
		st.Blobs = tx.Bucket([]byte(bucketBlobs)).Stats().KeyN
		return nil
	})
	if err != nil {
		return Stats{}, fmt.Errorf("count store: %w", err)
	}
	return st, nil
}
