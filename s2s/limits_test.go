package s2s

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"roost/dialback"
)

// TestMaxConnsPerIP: a peer address gets at most MaxConnsPerIP inbound
// streams; a further connection is closed before any stream header, and
// one that ends makes room again.
func TestMaxConnsPerIP(t *testing.T) {
	w := newWorld(t)
	b := w.start([]string{"b.example"}, peerConfig{opts: Options{MaxConnsPerIP: 2}, cert: selfSigned(t, "b.example")})
	addr := b.ln.Addr().String()
	first := dialFake(t, addr)
	first.open("a.example", "b.example")
	dialFake(t, addr).open("a.example", "b.example")

	refused := dialFake(t, addr)
	refused.send("<?xml version='1.0'?>")
	if _, err := refused.dec.ReadHeader(); !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !isReset(err) {
		t.Fatalf("third stream from one address: %v, want the connection closed", err)
	}
	if in, _ := b.srv.Stats(); in != 2 {
		t.Errorf("%d inbound streams, want 2", in)
	}

	first.nc.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if in, _ := b.srv.Stats(); in == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the closed stream was never forgotten")
		}
		time.Sleep(10 * time.Millisecond)
	}
	dialFake(t, addr).open("a.example", "b.example")
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// TestReadRate: an inbound stream is read no faster than ReadRate once
// its burst is spent, so a peer cannot make the server parse at line
// speed. The check is a lower bound, which a slow machine only exceeds.
func TestReadRate(t *testing.T) {
	const rate, burst = 2000, 2000
	w := newWorld(t)
	b := w.start([]string{"b.example"}, peerConfig{opts: Options{ReadRate: rate, ReadBurst: burst}, cert: selfSigned(t, "b.example")})
	f := dialFake(t, b.ln.Addr().String())
	f.open("c.example", "b.example")
	// Whitespace between elements is read like anything else (RFC 6120
	// §11.7), then a request answered before TLS.
	key := b.srv.keys.Key("c.example", "b.example", "sid1")
	payload := strings.Repeat(" ", 3500) + "<db:verify from='c.example' to='b.example' id='sid1'>" + key + "</db:verify>"
	start := time.Now()
	f.send(payload)
	if got := dialbackResult(t, f.next()); got.Kind != dialback.Verify || got.Type != dialback.Valid {
		t.Fatalf("got %+v, want a valid verify answer", got)
	}
	// The burst, at most, is read at once (the header took some of it);
	// the rest waits for the rate.
	want := time.Duration(float64(len(payload)-burst) / rate * float64(time.Second))
	if took := time.Since(start); took < want*9/10 {
		t.Errorf("%d bytes read in %v; at %d bytes/s after a %d byte burst it takes at least %v", len(payload), took, rate, burst, want)
	}
}
