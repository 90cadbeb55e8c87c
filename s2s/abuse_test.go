package s2s

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"roost/dialback"
	"roost/internal/xmpptest"
	"roost/stanza"
	"roost/stream"
)

func TestPublicAddr(t *testing.T) {
	tests := []struct {
		addr string
		want bool
	}{
		{"93.184.216.34", true},
		{"2606:2800:220:1:248:1893:25c8:1946", true},
		{"::ffff:93.184.216.34", true},
		{"64:ff9b::5db8:d822", true}, // NAT64 of 93.184.216.34
		{"127.0.0.1", false},
		{"127.0.0.114", false},
		{"::1", false},
		{"0.0.0.0", false},
		{"::", false},
		{"0.1.2.3", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"172.31.255.255", false},
		{"192.168.1.1", false},
		{"::ffff:192.168.1.1", false},
		{"64:ff9b::c0a8:101", false}, // NAT64 of 192.168.1.1
		{"100.64.0.1", false},
		{"169.254.169.254", false},
		{"fe80::1", false},
		{"fe80::1%eth0", false},
		{"fc00::1", false},
		{"fd12:3456:789a::1", false},
		{"224.0.0.1", false},
		{"239.255.255.250", false},
		{"ff02::1", false},
		{"255.255.255.255", false},
		{"240.0.0.1", false},
	}
	for _, tc := range tests {
		if got := publicAddr(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("publicAddr(%s) = %v, want %v", tc.addr, got, tc.want)
		}
	}
}

// countingDial dials as net.Dialer does and counts the calls.
func countingDial(n *atomic.Int32) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		n.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
}

// TestPrivateAddressesRefused: by default roost connects to no server
// whose DNS answer is a loopback or private address, neither for a user's
// message nor for a peer's dialback claim (issue 18, item 2).
func TestPrivateAddressesRefused(t *testing.T) {
	w := newWorld(t)
	b := w.start([]string{"b.example"}, peerConfig{cert: selfSigned(t, "b.example")}) // on 127.0.0.1
	var dials atomic.Int32
	a := w.start([]string{"a.example"}, peerConfig{
		publicOnly: true,
		opts:       Options{Dial: countingDial(&dials)},
		cert:       selfSigned(t, "a.example"),
	})

	a.send(t, message("alice@a.example/x", "bob@b.example", "hello"))
	got := a.router.next(t)
	if se := stanza.ParseError(got.El); got.Type != stanza.TypeError || se.Condition != stanza.RemoteServerNotFound {
		t.Errorf("message to a server on 127.0.0.1: got %s, want remote-server-not-found", got.El)
	}

	f := encryptedFake(t, a.ln.Addr().String(), "b.example", "a.example")
	f.claim("b.example", "a.example")
	ans := dialbackResult(t, f.next())
	if ans.Type != dialback.Error || ans.Err.Condition != stanza.RemoteServerNotFound {
		t.Errorf("dialback claim of a domain on 127.0.0.1: got %+v, want a remote-server-not-found error", ans)
	}
	if n := dials.Load(); n != 0 {
		t.Errorf("%d connections attempted, want none", n)
	}
	if in, _ := b.srv.Stats(); in != 0 {
		t.Errorf("b.example has %d inbound streams, want none", in)
	}
}

// TestUnreachableAnswersAlike: a closed port, a port that never answers
// and an open port with another service behind it give the same
// condition and text, both to a peer asking through dialback and to a
// user whose message bounces, so that neither can scan ports through
// roost (issue 18, item 2).
func TestUnreachableAnswersAlike(t *testing.T) {
	w := newWorld(t)
	w.publish("closed.example", closedPort(t), false)
	// An open port with another service behind it.
	other, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	go func() {
		for {
			c, err := other.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("SSH-2.0-OpenSSH_9.2\r\n"))
			_ = c.Close()
		}
	}()
	w.publish("ssh.example", other.Addr(), false)
	// A firewall that drops packets: the connect hangs until the timeout.
	filtered := w.dropped("filtered.example")
	var dials atomic.Int32
	a := w.start([]string{"a.example"}, peerConfig{
		opts: Options{ConnectTimeout: time.Second, NegotiationTimeout: 3 * time.Second, Dial: hangingDial(&dials, filtered.String())},
		cert: selfSigned(t, "a.example"),
	})
	domains := []string{"closed.example", "filtered.example", "ssh.example"}
	// generic replaces the domain in a text, to compare the rest.
	generic := func(text, domain string) string { return strings.ReplaceAll(text, domain, "D") }

	f := encryptedFake(t, a.ln.Addr().String(), "evil.example", "a.example")
	for _, d := range domains {
		f.claim(d, "a.example")
	}
	answers := map[string]string{}
	for range domains {
		ans := dialbackResult(t, f.next())
		if ans.Type != dialback.Error {
			t.Fatalf("dialback answer %+v, want an error", ans)
		}
		answers[ans.To] = string(ans.Err.Condition) + ": " + generic(ans.Err.Text, ans.To)
	}
	for _, d := range domains {
		if want := "remote-server-not-found: could not verify the key with D"; answers[d] != want {
			t.Errorf("dialback claim of %s answered %q, want %q", d, answers[d], want)
		}
	}

	for _, d := range domains {
		a.send(t, message("alice@a.example/x", "bob@"+d, "anyone?"))
	}
	bounces := map[string]string{}
	for range domains {
		got := a.router.next(t)
		se := stanza.ParseError(got.El)
		bounces[got.From.Domain()] = string(se.Condition) + ": " + generic(se.Text, got.From.Domain())
	}
	want := bounces[domains[0]]
	for _, d := range domains {
		if bounces[d] != want || !strings.HasPrefix(want, "remote-server-timeout: ") {
			t.Errorf("message to %s bounced with %q, want the same remote-server-timeout as every unreachable server (%q)", d, bounces[d], want)
		}
	}
}

// dropped publishes domains at an address behind a firewall that drops
// packets, as hangingDial dials it, and returns that address.
func (w *world) dropped(domains ...string) *net.TCPAddr {
	a := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}
	for _, d := range domains {
		w.publish(d, a, false)
	}
	return a
}

// hangingDial dials as net.Dialer does, except to addresses in drop, where
// it hangs until ctx ends as behind a firewall that drops packets, and
// counts those attempts in n.
func hangingDial(n *atomic.Int32, drop string) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr == drop {
			n.Add(1)
			<-ctx.Done()
			return nil, ctx.Err()
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
}

// encryptedFake connects a fake to addr as from, to to, over STARTTLS
// without a certificate: dialback is its only way in.
func encryptedFake(t *testing.T, addr, from, to string) *fake {
	t.Helper()
	f := dialFake(t, addr)
	f.open(from, to)
	f.starttls(from, to, nil)
	return f
}

// claim sends a dialback request for from on f.
func (f *fake) claim(from, to string) {
	f.t.Helper()
	f.send("<db:result xmlns:db='jabber:server:dialback' from='" + from + "' to='" + to + "'>0123abcd</db:result>")
}

// TestMaxPendingDialback: one inbound stream has at most
// MaxPendingDialback keys checked at once; one more is answered at once
// with a resource-constraint dialback error, without a connection, and
// the stream goes on (issue 18, item 2).
func TestMaxPendingDialback(t *testing.T) {
	w := newWorld(t)
	dropped := w.dropped("x1.example", "x2.example", "x3.example", "x4.example")
	var dials atomic.Int32
	const connectTimeout = 2 * time.Second
	b := w.start([]string{"b.example"}, peerConfig{
		opts: Options{MaxPendingDialback: 2, ConnectTimeout: connectTimeout, NegotiationTimeout: 10 * time.Second, Dial: hangingDial(&dials, dropped.String())},
		cert: selfSigned(t, "b.example"),
	})
	f := encryptedFake(t, b.ln.Addr().String(), "evil.example", "b.example")
	start := time.Now()
	f.claim("x1.example", "b.example")
	f.claim("x2.example", "b.example")
	f.claim("x3.example", "b.example")
	first := dialbackResult(t, f.next())
	if first.To != "x3.example" || first.Type != dialback.Error || first.Err.Condition != stanza.ResourceConstraint || first.Err.Type != stanza.Wait {
		t.Fatalf("first answer %+v, want a wait resource-constraint error for x3.example", first)
	}
	if took := time.Since(start); took >= connectTimeout {
		t.Errorf("the request over the limit was answered after %v, want at once", took)
	}
	if n := b.srv.opts.Metrics.DialbackRefused.Load(); n != 1 {
		t.Errorf("roost_drops_total{reason=dialback_refused} = %d, want 1", n)
	}
	// The two checks fail at the connect timeout; then there is room again.
	for range 2 {
		if ans := dialbackResult(t, f.next()); ans.Type != dialback.Error || ans.Err.Condition != stanza.RemoteServerNotFound {
			t.Errorf("answer %+v, want remote-server-not-found", ans)
		}
	}
	if n := dials.Load(); n != 2 {
		t.Errorf("%d connections attempted, want 2", n)
	}
	f.claim("x4.example", "b.example")
	if ans := dialbackResult(t, f.next()); ans.To != "x4.example" || ans.Err == nil || ans.Err.Condition != stanza.RemoteServerNotFound {
		t.Errorf("a request once the others were answered: %+v, want it checked (remote-server-not-found after the timeout)", ans)
	}
	if n := dials.Load(); n != 3 {
		t.Errorf("%d connections attempted, want 3", n)
	}
}

// TestMaxOutbound: at most MaxOutbound outbound streams are open, and
// dialback checks for peers get at most half of them, so that a stranger
// claiming domains cannot take the room our users need (issue 18, item 2).
func TestMaxOutbound(t *testing.T) {
	w := newWorld(t)
	dropped := w.dropped("x1.example", "x2.example", "u1.example", "u2.example")
	var dials atomic.Int32
	b := w.start([]string{"b.example"}, peerConfig{
		opts: Options{MaxOutbound: 2, ConnectTimeout: 5 * time.Second, NegotiationTimeout: 10 * time.Second, Dial: hangingDial(&dials, dropped.String())},
		cert: selfSigned(t, "b.example"),
	})
	f := encryptedFake(t, b.ln.Addr().String(), "evil.example", "b.example")
	// One of the two checks takes the one stream checks may have; the
	// other is refused at once.
	f.claim("x1.example", "b.example")
	f.claim("x2.example", "b.example")
	start := time.Now()
	ans := dialbackResult(t, f.next())
	if ans.Type != dialback.Error || ans.Err.Condition != stanza.RemoteServerNotFound {
		t.Fatalf("answer %+v, want a remote-server-not-found error at once", ans)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("answered after %v, want at once", took)
	}
	// Our users still have room for one stream, and no more.
	if err := b.srv.SendRemote(context.Background(), xmpptest.Stanza(t, message("bob@b.example/x", "u1@u1.example", "one"))); err != nil {
		t.Fatalf("a message to u1.example with room left: %v", err)
	}
	err := b.srv.SendRemote(context.Background(), xmpptest.Stanza(t, message("bob@b.example/x", "u2@u2.example", "two")))
	var se *stanza.Error
	if !errors.As(err, &se) || se.Condition != stanza.ResourceConstraint {
		t.Errorf("a message needing a third stream: %v, want resource-constraint", err)
	}
	if _, out := b.srv.Stats(); out != 2 {
		t.Errorf("%d outbound streams, want 2", out)
	}
}

// TestClaimsDoNotExtendNegotiation: a peer that has authenticated nothing
// is dropped at the negotiation deadline even while a domain it claimed
// is still being checked: the check is dropped with it (issue 18, item 2).
func TestClaimsDoNotExtendNegotiation(t *testing.T) {
	w := newWorld(t)
	dropped := w.dropped("x1.example")
	var dials atomic.Int32
	const negotiation = time.Second
	b := w.start([]string{"b.example"}, peerConfig{
		opts: Options{ConnectTimeout: 20 * time.Second, NegotiationTimeout: negotiation, Dial: hangingDial(&dials, dropped.String())},
		cert: selfSigned(t, "b.example"),
	})
	start := time.Now()
	f := encryptedFake(t, b.ln.Addr().String(), "evil.example", "b.example")
	f.claim("x1.example", "b.example")
	f.expectError(stream.ConnectionTimeout)
	if took := time.Since(start); took > negotiation+time.Second {
		t.Errorf("dropped after %v, want at the negotiation deadline (%v)", took, negotiation)
	}
	if dials.Load() != 1 {
		t.Errorf("%d connections attempted, want 1 (the check was under way)", dials.Load())
	}
}
