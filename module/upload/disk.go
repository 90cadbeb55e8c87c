package upload

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// DirName is the directory of the data directory that holds the bodies of
// uploaded files, one file per slot named by its ID.
const DirName = "uploads"

// tempPrefix starts the name of a body being written. A body is renamed to
// its ID only once it is complete, so a name that is a valid ID is always
// a whole file; names with this prefix are never served or backed up.
const tempPrefix = ".put-"

// idLen is the length of a slot ID: 16 random bytes in unpadded base64url.
const idLen = 22

// ValidID reports whether s has the form of a slot ID, and so of a
// complete body's file name: 22 characters of the URL-safe base64
// alphabet. Anything else in the directory is a temporary file or not
// roost's.
func ValidID(s string) bool {
	if len(s) != idLen {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// body is a file being written.
type body interface {
	io.Writer
	Sync() error
	Close() error
}

// content is a stored body being read.
type content interface {
	io.ReadSeekCloser
}

// fileSystem is where bodies live. diskFS is the real one; tests wrap it
// to run out of space.
type fileSystem interface {
	// Create creates or truncates the named file, mode 0600.
	Create(name string) (body, error)
	Open(name string) (content, error)
	Rename(from, to string) error
	// Remove removes the named file; a missing file is not an error.
	Remove(name string) error
	// Names lists the directory.
	Names() ([]string, error)
	// SyncDir makes renames and removals durable.
	SyncDir() error
	// Free is the space available to roost on the file system, in bytes.
	Free() (int64, error)
}

// diskFS is a directory on disk.
type diskFS struct{ dir string }

func (d diskFS) path(name string) string { return filepath.Join(d.dir, name) }

func (d diskFS) Create(name string) (body, error) {
	return os.OpenFile(d.path(name), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
}

func (d diskFS) Open(name string) (content, error) { return os.Open(d.path(name)) }

func (d diskFS) Rename(from, to string) error { return os.Rename(d.path(from), d.path(to)) }

func (d diskFS) Remove(name string) error {
	if err := os.Remove(d.path(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func (d diskFS) Names() ([]string, error) {
	f, err := os.Open(d.dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

func (d diskFS) SyncDir() error {
	f, err := os.Open(d.dir)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

func (d diskFS) Free() (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(d.dir, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", d.dir, err)
	}
	return int64(st.Bavail) * int64(st.Bsize), nil //nolint:unconvert // field types differ by platform
}

// isNoSpace reports whether err says the disk (or the user's disk quota)
// is full.
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// tempName is the name a body is written under.
func tempName(id string) string { return tempPrefix + id }

// isTemp reports whether name is a body being written (or left by a
// crash).
func isTemp(name string) bool { return strings.HasPrefix(name, tempPrefix) }
