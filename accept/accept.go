package accept

import (
	"errors"
	"log/slog"
	"net"
	"time"
)

// Loop accepts connections on ln and hands each to serve, which must not
// block, until Accept fails with an error that is not temporary; it
// returns that error.
func Loop(ln net.Listener, log *slog.Logger, serve func(net.Conn)) error {
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			var te interface{ Temporary() bool }
			if errors.As(err, &te) && te.Temporary() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				log.Warn("accept failed; retrying", "err", err, "delay_s", delay.Seconds())
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		serve(nc)
	}
}
