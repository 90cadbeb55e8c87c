package main

import (
	"fmt"
	"os"
	"syscall"
)

// adoptOwner gives path the owner and group of dir when roost runs as
// root. `sudo roost user add` or `sudo roost restore` while the server is
// stopped opens or replaces the data file directly; left to root, the
// file could no longer be opened by the server, which runs as the user
// roost that owns the data directory. As any other user it does nothing.
func adoptOwner(path, dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("set owner of %s: %w", path, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 {
		return nil
	}
	if err := os.Lchown(path, int(st.Uid), int(st.Gid)); err != nil {
		return fmt.Errorf("set owner of %s: %w", path, err)
	}
	return nil
}
