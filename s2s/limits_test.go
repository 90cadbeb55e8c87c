package s2s

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"roost/dialback"
	"roost/internal/xmpptest"
	"roost/stanza"
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

// TestQueueBytes: what waits for another server is bounded in bytes as
// well as in stanzas: while the stream to a silent peer is set up, large
// stanzas bounce with resource-constraint once their footprint reaches
// QueueBytes, well before QueueDepth; and an established stream's queue
// refuses a stanza that would take it past its byte bound.
func TestQueueBytes(t *testing.T) {
	w := newWorld(t)
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	w.publish("silent.example", silent.Addr(), false)
	big := message("u@q.example/x", "v@silent.example", strings.Repeat("x", 16<<10))
	size := xmpptest.Stanza(t, big).Element().Footprint()
	q := w.start([]string{"q.example"}, peerConfig{opts: Options{QueueDepth: 1000, QueueBytes: 3*size + size/2}, cert: selfSigned(t, "q.example")})
	for i := range 5 {
		err := q.srv.SendRemote(context.Background(), xmpptest.Stanza(t, big))
		var se *stanza.Error
		switch {
		case i < 3 && err != nil:
			t.Fatalf("stanza %d: %v", i, err)
		case i >= 3 && (!errors.As(err, &se) || se.Condition != stanza.ResourceConstraint || se.Type != stanza.Wait):
			t.Fatalf("stanza %d: %v, want resource-constraint (wait)", i, err)
		}
	}
	if got := q.srv.opts.Metrics.S2SQueueFull.Load(); got != 2 {
		t.Errorf("stanzas refused for a full queue = %d, want 2", got)
	}
	// A small stanza still fits beside the three large ones.
	if err := q.srv.SendRemote(context.Background(), xmpptest.Stanza(t, message("u@q.example/x", "v@silent.example", "hi"))); err != nil {
		t.Errorf("a small stanza after the bound: %v, want it queued", err)
	}

	el := xmpptest.Stanza(t, big).Element()
	tests := []struct {
		name              string
		limit, limitBytes int
		want              []sendResult
	}{
		{"bytes", 100, 2 * size, []sendResult{sent, sent, full, full}},
		{"count", 3, 100 * size, []sendResult{sent, sent, sent, full}},
		{"backlog handed over: no bound", 0, 0, []sendResult{sent, sent, sent, sent}},
	}
	for _, tc := range tests {
		c := &outConn{}
		var got []sendResult
		for range tc.want {
			got = append(got, c.sendStanza(el, size, tc.limit, tc.limitBytes))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: sendStanza results %v, want %v", tc.name, got, tc.want)
		}
	}
}
