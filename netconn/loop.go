package netconn

import (
	"errors"
	"log/slog"
	"net"
	"time"
)

// loop accepts connections on ln and hands each to handle, which must not
// block, until Accept fails with an error that is not temporary; it
// returns that error. A temporary error (EMFILE, ENFILE, ECONNABORTED) is
// retried after a pause that doubles from 5 ms up to a second, as
// net/http's Server.Serve does.
func loop(ln net.Listener, log *slog.Logger, handle func(net.Conn)) error {
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
		handle(nc)
	}
}
