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

// Ready tells systemd the service is up (Type=notify).
func Ready(status string) { notify(daemon.SdNotifyReady + "\nSTATUS=" + status) }

// Status sets the one-line status shown by systemctl status.
func Status(status string) { notify("STATUS=" + status) }

// Reloading tells systemd a reload has begun; call Ready when done. The
// monotonic timestamp is required by Type=notify-reload.
func Reloading() { notify(daemon.SdNotifyReloading + "\n" + daemon.SdNotifyMonotonicUsec()) }

// Stopping tells systemd the service is shutting down.
func Stopping() { notify(daemon.SdNotifyStopping) }

// Watchdog pings systemd's watchdog at half the configured interval until
// ctx is done; alive reports whether the service is healthy enough to
// ping. It returns at once when no watchdog is configured.
func Watchdog(ctx context.Context, alive func() bool) {
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil || interval <= 0 {
		return
	}
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if alive == nil || alive() {
				notify(daemon.SdNotifyWatchdog)
			}
		}
	}
}
