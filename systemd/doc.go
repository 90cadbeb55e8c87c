// Package systemd is roost's thin edge to systemd, over
// github.com/coreos/go-systemd/v22: socket-activated listeners, the
// sd_notify readiness protocol (READY=1, STATUS=, RELOADING=1,
// STOPPING=1) and watchdog keep-alives.
//
// Only cmd/roost imports it; everything else receives listeners and
// callbacks. Outside systemd (no NOTIFY_SOCKET, no LISTEN_FDS) every
// function is a harmless no-op, so the same binary runs by hand.
//
// The directory also holds the unit files (roost.service, roost*.socket)
// installed by the Debian package.
package systemd
