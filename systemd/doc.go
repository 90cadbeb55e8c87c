// Package systemd is roost's thin edge to systemd, over
// github.com/coreos/go-systemd/v22: socket-activated listeners, the
// sd_notify readiness protocol and watchdog keep-alives.
//
// # Protocol
//
// With Type=notify, systemd considers roost started when it sends
// READY=1 ([Ready]), which cmd/roost does only after server.New has bound
// every listener and opened the store. [Status] lines show in
// systemctl status. On SIGHUP roost sends RELOADING=1 with
// MONOTONIC_USEC ([Reloading]), then READY=1 again; on SIGTERM it sends
// STOPPING=1 ([Stopping]). [Watchdog] pings at half of WatchdogSec while
// a health check passes (sd_notify(3), sd_watchdog_enabled(3)).
//
// Socket units (roost-c2s.socket, ...) name their sockets with
// FileDescriptorName=; [Listeners] returns them by those names, which are
// the server's listener names (sd_listen_fds_with_names(3)).
//
// # Invariants
//
// Only cmd/roost imports this package; everything else receives listeners
// and callbacks. Outside systemd (no NOTIFY_SOCKET, no LISTEN_FDS) every
// function is a harmless no-op, so the same binary runs by hand. Nothing
// here keeps state: each call reads the environment systemd set.
//
// # Concurrency
//
// The notify functions may be called from any goroutine; each sends one
// datagram. [Watchdog] blocks until its context is done.
//
// The directory also holds the unit files (roost.service, roost-*.socket)
// that the Debian package installs.
package systemd
