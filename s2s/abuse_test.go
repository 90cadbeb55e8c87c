package s2s

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"roost/dialback"
	"roost/stanza"
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

	f := dialFake(t, a.ln.Addr().String())
	f.open("b.example", "a.example")
	f.starttls("b.example", "a.example", nil)
	f.send("<db:result xmlns:db='jabber:server:dialback' from='b.example' to='a.example'>0123abcd</db:result>")
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
// condition and text,
// both to a peer asking through dialback and to a user whose message
// bounces, so that neither can scan ports through roost (issue 18,
// item 2).
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
	filtered := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}
	w.publish("filtered.example", filtered, false)
	a := w.start([]string{"a.example"}, peerConfig{
		opts: Options{
			ConnectTimeout: time.Second, NegotiationTimeout: 3 * time.Second,
			Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
				if addr == filtered.String() {
					<-ctx.Done()
					return nil, ctx.Err()
				}
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			},
		},
		cert: selfSigned(t, "a.example"),
	})
	domains := []string{"closed.example", "filtered.example", "ssh.example"}
	// generic replaces the domain in a text, to compare the rest.
	generic := func(text, domain string) string { return strings.ReplaceAll(text, domain, "D") }

	f := dialFake(t, a.ln.Addr().String())
	f.open("evil.example", "a.example")
	f.starttls("evil.example", "a.example", nil)
	for _, d := range domains {
		f.send("<db:result xmlns:db='jabber:server:dialback' from='" + d + "' to='a.example'>0123abcd</db:result>")
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
