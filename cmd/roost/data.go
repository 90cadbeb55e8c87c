package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"roost/admin"
	"roost/config"
	"roost/server"
	"roost/store"
)

// withData reaches roost's data the one way that is possible at the time:
// it calls online with the admin client when a server answers on the
// admin socket, and otherwise offline with the data file opened directly
// and closed afterwards. bbolt locks the file, so a command can never open
// it while the server runs. With create false and no data file yet (a
// server that never ran), offline gets nil rather than a new file.
func withData(cfg config.Config, create bool, online func(admin.Client) error, offline func(*store.Store) error) error {
	if c := (admin.Client{Path: cfg.Admin.Socket}); c.Running() {
		return online(c)
	}
	if !create {
		if _, err := os.Stat(filepath.Join(cfg.DataDir, server.StoreFile)); errors.Is(err, fs.ErrNotExist) {
			return offline(nil)
		}
	}
	st, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	return offline(st)
}

// openStore opens the data file of a stopped server, creating the data
// directory and the file if needed, and gives the file to the data
// directory's owner (adoptOwner).
func openStore(cfg config.Config) (*store.Store, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	path := filepath.Join(cfg.DataDir, server.StoreFile)
	st, err := store.Open(path, store.Options{})
	if errors.Is(err, store.ErrLocked) {
		return nil, fmt.Errorf("the data file is in use, but the server's admin socket %s does not answer: %w", cfg.Admin.Socket, err)
	}
	if err != nil {
		return nil, err
	}
	if err := adoptOwner(path, cfg.DataDir); err != nil {
		_ = st.Close()
		return nil, err
	}
	return st, nil
}
