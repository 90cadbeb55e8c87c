package server

import (
	"archive/tar"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"roost/config"
	"roost/module/upload"
	"roost/store"
)

// A backup is a tar archive (USTAR, readable with `tar tf`) holding, in
// this order, the body of every uploaded file as uploads/<ID> and a
// consistent copy of the store as roost.db. Its exact size is known before
// it is written (the admin protocol sends it first), because the bodies
// are immutable once stored and deletions are held while it runs
// (upload.Module.HoldFiles). The store is copied first and the bodies
// listed after, so the archive may hold a body whose record the copy
// lacks, or lack one whose record it has (a file deleted in between):
// either way the restored server's upload sweeper tidies it.
//
// Restore also takes the raw store file older roosts wrote.

// ErrNotBackup means a file given to Restore is no roost backup.
var ErrNotBackup = errors.New("not a roost backup")

// UploadDir is where the bodies of uploaded files are kept.
func UploadDir(cfg config.Config) string { return filepath.Join(cfg.DataDir, upload.DirName) }

// tarBlock is tar's unit: headers and padded contents are whole blocks.
const tarBlock = 512

func tarEntrySize(n int64) int64 {
	return tarBlock + (n+tarBlock-1)/tarBlock*tarBlock
}

// Backup writes a backup of the data of a stopped server (cfg's data
// directory, st opened on its store) to w; size is called with its length
// before the first byte.
func Backup(cfg config.Config, st *store.Store, w io.Writer, size func(int64) error) error {
	return writeBackup(st, cfg.DataDir, w, size)
}

// body is one upload body to archive.
type body struct {
	id   string
	size int64
	info fs.FileInfo
}

// writeBackup writes the archive. A running server holds the upload
// sweeper's deletions around it.
func writeBackup(st *store.Store, dataDir string, w io.Writer, size func(int64) error) error {
	snap, err := os.CreateTemp(dataDir, ".backup-*")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer os.Remove(snap.Name())
	defer snap.Close()
	n, err := st.Backup(snap)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if _, err := snap.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	dir := filepath.Join(dataDir, upload.DirName)
	bodies, err := listBodies(dir)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	total := tarEntrySize(n) + 2*tarBlock
	for _, b := range bodies {
		total += tarEntrySize(b.size)
	}
	if err := size(total); err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	for _, b := range bodies {
		if err := addFile(tw, upload.DirName+"/"+b.id, filepath.Join(dir, b.id), b.size, b.info); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
	}
	fi, err := snap.Stat()
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := writeEntry(tw, StoreFile, snap, n, fi); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}

// listBodies lists the complete bodies in dir (none when it does not
// exist), sorted by ID.
func listBodies(dir string) ([]body, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []body
	for _, e := range entries {
		if !upload.ValidID(e.Name()) || !e.Type().IsRegular() {
			continue // temporary files and strangers
		}
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, body{id: e.Name(), size: info.Size(), info: info})
	}
	slices.SortFunc(out, func(a, b body) int { return strings.Compare(a.id, b.id) })
	return out, nil
}

func addFile(tw *tar.Writer, name, path string, size int64, info fs.FileInfo) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return writeEntry(tw, name, f, size, info)
}

// writeEntry writes one regular file of exactly size bytes.
func writeEntry(tw *tar.Writer, name string, r io.Reader, size int64, info fs.FileInfo) error {
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     name,
		Mode:     0o600,
		Size:     size,
		ModTime:  info.ModTime().Truncate(1e9), // USTAR keeps whole seconds
		Format:   tar.FormatUSTAR,
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("archive %s: %w", name, err)
	}
	if _, err := io.CopyN(tw, r, size); err != nil {
		return fmt.Errorf("archive %s: %w", name, err)
	}
	return nil
}

// isTar reports whether a file starts with a tar header: the USTAR (or
// GNU) magic at offset 257. A bbolt file has zeros there.
func isTar(head []byte) bool {
	return len(head) >= 263 && bytes.HasPrefix(head[257:], []byte("ustar"))
}

// Restore replaces the data of a stopped server (cfg's data directory)
// with a backup read from r: the store, checked and renamed into place by
// store.Restore, and the upload bodies, written to a new directory that
// then replaces the old one. Nothing changes until the store is restored,
// and a failure before that leaves the data as it was. A raw store file
// (older backups) replaces the store only.
func Restore(cfg config.Config, r io.Reader) error {
	dbPath := filepath.Join(cfg.DataDir, StoreFile)
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(tarBlock)
	if !isTar(head) {
		return store.Restore(br, dbPath, store.Options{})
	}
	staging, err := os.MkdirTemp(cfg.DataDir, ".restore-uploads-*")
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer os.RemoveAll(staging) // emptied by the swap on success
	if err := os.Chmod(staging, 0o750); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	tr := tar.NewReader(br)
	restored := false
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("restore: read archive: %w: %w", ErrNotBackup, err)
		}
		id, isBody := strings.CutPrefix(hdr.Name, upload.DirName+"/")
		switch {
		case restored:
			return fmt.Errorf("restore: %s after %s: %w", hdr.Name, StoreFile, ErrNotBackup)
		case hdr.Typeflag != tar.TypeReg:
			return fmt.Errorf("restore: %s is not a file: %w", hdr.Name, ErrNotBackup)
		case hdr.Name == StoreFile:
			if err := store.Restore(tr, dbPath, store.Options{}); err != nil {
				return fmt.Errorf("restore: %w", err)
			}
			restored = true
		case isBody && upload.ValidID(id):
			if err := extract(filepath.Join(staging, id), tr); err != nil {
				return fmt.Errorf("restore: %w", err)
			}
		default:
			return fmt.Errorf("restore: unexpected entry %q: %w", hdr.Name, ErrNotBackup)
		}
	}
	if !restored {
		return fmt.Errorf("restore: no %s in the archive: %w", StoreFile, ErrNotBackup)
	}
	return swapDir(UploadDir(cfg), staging)
}

// StoreOfBackup copies the store of a backup read from r to w, skipping
// the upload bodies before it: a consistent copy of a running server's
// store, for a command that reads it (roost export) and has no use for
// the files. A raw store file (older backups) is copied as it is.
func StoreOfBackup(r io.Reader, w io.Writer) error {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(tarBlock)
	if !isTar(head) {
		if _, err := io.Copy(w, br); err != nil {
			return fmt.Errorf("copy store: %w", err)
		}
		return nil
	}
	tr := tar.NewReader(br)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("no %s in the archive: %w", StoreFile, ErrNotBackup)
		}
		if err != nil {
			return fmt.Errorf("read archive: %w: %w", ErrNotBackup, err)
		}
		if hdr.Name != StoreFile {
			continue // a body: tar.Reader skips what is not read
		}
		if _, err := io.Copy(w, tr); err != nil {
			return fmt.Errorf("copy store: %w", err)
		}
		// Drain the writer's end, so that it sees its archive taken whole.
		_, err = io.Copy(io.Discard, br)
		return err
	}
}

// extract writes one body, durably.
func extract(path string, r io.Reader) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		_ = f.Close()
		return fmt.Errorf("extract %s: %w", filepath.Base(path), err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// swapDir puts the directory staging in the place of dir, and removes the
// old dir.
func swapDir(dir, staging string) error {
	parent := filepath.Dir(dir)
	old := ""
	if _, err := os.Stat(dir); err == nil {
		o, err := os.MkdirTemp(parent, ".uploads-old-*")
		if err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		old = filepath.Join(o, "uploads")
		if err := os.Rename(dir, old); err != nil {
			_ = os.Remove(o)
			return fmt.Errorf("restore: %w", err)
		}
		defer os.RemoveAll(o)
	}
	if err := os.Rename(staging, dir); err != nil {
		if old != "" {
			_ = os.Rename(old, dir) // put the old bodies back
		}
		return fmt.Errorf("restore: %w", err)
	}
	d, err := os.Open(parent)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	return nil
}
