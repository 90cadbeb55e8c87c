package loadtool

import (
	"context"
	"fmt"
	"net"
	"time"

	"roost/internal/client"
	"roost/jid"
	"roost/stream"
	"roost/xmlstream"
)

// WaitReady polls t until it answers a stream header with stream features
// (or, for a relay, accepts a connection), and returns when that first
// happened. Connection attempts are spaced by poll; the wait ends with
// ErrNotReady after timeout.
func WaitReady(ctx context.Context, t Target, relay bool, poll, timeout time.Duration) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if at, ok := probe(ctx, t, relay); ok {
			return at, nil
		}
		if !sleepCtx(ctx, poll) {
			return time.Time{}, fmt.Errorf("wait for %s at %s: %w", t.Name, t.Addr, ErrNotReady)
		}
	}
}

// probe makes one attempt; ok reports a ready server and at is when its
// answer arrived.
func probe(ctx context.Context, t Target, relay bool) (at time.Time, ok bool) {
	d := net.Dialer{Timeout: time.Second}
	nc, err := d.DialContext(ctx, "tcp", t.Addr)
	if err != nil {
		return time.Time{}, false
	}
	defer nc.Close()
	if relay {
		return time.Now(), true
	}
	if t.DirectTLS {
		// A direct TLS port counts as ready once it accepts.
		return time.Now(), true
	}
	if t.WebSocket != "" {
		// Ready when a WebSocket opens a stream and gets its features.
		wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		domain, err := jid.New("", t.Domain, "")
		if err != nil {
			return time.Time{}, false
		}
		c, err := client.OpenWebSocket(wctx, "wss://"+t.Addr+t.WebSocket, client.Options{JID: domain, TLS: t.tlsConfig()}, client.WebSocketOptions{})
		if err != nil {
			return time.Time{}, false
		}
		at = time.Now()
		_ = c.Close()
		return at, true
	}
	_ = nc.SetDeadline(time.Now().Add(2 * time.Second))
	hdr := stream.AppendHeader(nil, stream.Header{To: t.Domain, Version: "1.0", ContentNS: xmlstream.NSClient})
	if _, err := nc.Write(hdr); err != nil {
		return time.Time{}, false
	}
	dec := xmlstream.NewDecoder(nc, xmlstream.Limits{})
	if _, err := dec.ReadHeader(); err != nil {
		return time.Time{}, false
	}
	el, err := dec.ReadElement()
	if err != nil || !el.Is(xmlstream.NSStream, "features") {
		return time.Time{}, false
	}
	at = time.Now()
	_, _ = nc.Write([]byte(stream.Close))
	return at, true
}
