package transfer

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"roost/portable"
)

// ReaderSource reads one document from r (no XIncludes).
func ReaderSource(r io.Reader, opts portable.Options) Source {
	return func(fn func(portable.Entry) error) error { return portable.Decode(r, opts, fn) }
}

// FileSource reads the document in the file path, following its
// XIncludes inside path's directory.
func FileSource(path string, opts portable.Options) Source {
	return func(fn func(portable.Entry) error) error {
		return portable.DecodeFile(os.DirFS(filepath.Dir(path)), filepath.Base(path), opts, fn)
	}
}

// DirSource reads the documents in dir: each of its .xml files, in name
// order, except those another one includes, which are read where they
// are included. That covers the layouts servers write: one file per
// account (Prosody's prosody-migrator, roost export DIR), a main file
// including one per host (ejabberd's export_piefxis), and XEP-0227 §5.1's
// main file, host files and a directory of user files per host.
func DirSource(dir string, opts portable.Options) Source {
	return func(fn func(portable.Entry) error) error {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("read %s: %w", dir, err)
		}
		fsys := os.DirFS(dir)
		var files []string
		included := map[string]bool{}
		for _, e := range ents {
			if e.Type().IsRegular() && strings.HasSuffix(e.Name(), ".xml") {
				files = append(files, e.Name())
				inc, err := portable.Includes(fsys, e.Name())
				if err != nil {
					return err
				}
				for _, name := range inc {
					included[name] = true
				}
			}
		}
		if len(files) == 0 {
			return fmt.Errorf("read %s: no .xml files in it", dir)
		}
		slices.Sort(files)
		for _, name := range files {
			if included[name] {
				continue
			}
			if err := portable.DecodeFile(fsys, name, opts, fn); err != nil {
				return err
			}
		}
		return nil
	}
}
