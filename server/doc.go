// Package server wires roost together and runs it: it opens the store,
// builds the certificate manager, the router, the protocol servers and the
// modules from the configuration, binds the listeners, and shuts everything
// down in order.
//
// It is the only package besides cmd/roost that imports store: it adapts
// the store to the small interfaces the other packages declare (c2s's
// Credentials, router's Accounts, certs' BlobCache) and implements the
// admin backend (account management, status, backup).
//
// # Backups
//
// A backup ([Backup], and the admin backend's) is a USTAR archive of the
// upload bodies (uploads/<ID>) and then a consistent copy of the store
// (roost.db), whose length is computed before it is written: the admin
// protocol announces it, and upload bodies never change once stored while
// the upload sweeper's deletions are held. [Restore] checks and replaces
// the store first, then swaps in the restored upload directory; it also
// takes the raw store file earlier versions wrote.
//
// # Lifecycle
//
// [New] does everything that can fail at start — store, certificates,
// listeners — so that when it returns the caller can tell systemd the
// service is ready. [Server.Run] serves until its context ends, then stops
// accepting, ends every stream with system-shutdown, waits for the
// connections (bounded by Options.ShutdownTimeout) and closes the store.
// Every goroutine it starts is waited for before Run returns.
package server
