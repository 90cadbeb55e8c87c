package systemd

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/coreos/go-systemd/v22/daemon"
)

// Listeners returns the sockets systemd passed, keyed by their
// FileDescriptorName= (which roost's socket units set to the listener
// names the server knows: c2s, c2s-tls, s2s, s2s-tls, https, http).
// It unsets LISTEN_FDS and friends, so that they are not inherited, and
// returns an empty map when the process was not socket-activated.
func Listeners() (map[string][]net.Listener, error) {
	lns, err := activation.ListenersWithNames()
	if err != nil {
		return nil, fmt.Errorf("socket activation: %w", err)
	}
	return lns, nil
}

func notify(state string) {
	// Errors here mean no systemd is listening: nothing to do about it.
	_, _ = daemon.SdNotify(false, state)
}

// Ready tells systemd the service is up (Type=notify), with the status
// line to show.
func Ready(status string) { notify(daemon.SdNotifyReady + "\nSTATUS=" + status) }

// Status sets the one-line status shown by systemctl status.
func Status(status string) { notify("STATUS=" + status) }

// Reloading tells systemd a reload has begun; call Ready when done. The
// monotonic timestamp lets systemd tell this reload from an earlier one
// (sd_notify(3), required by Type=notify-reload).
func Reloading() { notify(daemon.SdNotifyReloading + "\n" + daemon.SdNotifyMonotonicUsec()) }

// Stopping tells systemd the service is shutting down, so that it does not
// take the exit for a crash and shows the status meanwhile.
func Stopping(status string) { notify(daemon.SdNotifyStopping + "\nSTATUS=" + status) }

// Watchdog pings systemd's watchdog (WatchdogSec=) at half the configured
// interval until ctx is done, as sd_watchdog_enabled(3) advises; alive
// reports whether the service is healthy enough to ping, so that a hung
// server is restarted rather than kept alive by this goroutine alone. It
// returns nil at once when no watchdog is configured for this process,
// and an error when the environment systemd set is malformed.
func Watchdog(ctx context.Context, alive func(context.Context) bool) error {
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		return fmt.Errorf("read watchdog settings: %w", err)
	}
	if interval <= 0 {
		return nil
	}
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if alive == nil || probe(ctx, alive, interval/4) {
				notify(daemon.SdNotifyWatchdog)
			}
		}
	}
}

// probe runs alive with a deadline, so that a stuck check cannot make the
// pings late.
func probe(ctx context.Context, alive func(context.Context) bool, d time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return alive(ctx)
}
