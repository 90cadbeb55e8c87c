package s2s

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"roost/dialback"
	"roost/internal/dnstest"
	"roost/internal/xmpptest"
	"roost/jid"
	"roost/srv"
	"roost/stanza"
	"roost/xmlstream"
)

var showLogs = flag.Bool("logs", false, "show the servers' logs in verbose mode")

// testRouter records what a Server delivers.
type testRouter struct {
	ch chan *stanza.Stanza
}

func newTestRouter() *testRouter { return &testRouter{ch: make(chan *stanza.Stanza, 64)} }

func (r *testRouter) Route(_ context.Context, st *stanza.Stanza) {
	cp := *st
	r.ch <- &cp
}

// next waits for the next delivered stanza.
func (r *testRouter) next(t testing.TB) *stanza.Stanza {
	t.Helper()
	select {
	case st := <-r.ch:
		return st
	case <-time.After(20 * time.Second):
		t.Fatal("no stanza delivered within 20s")
		return nil
	}
}

// none checks that nothing is delivered for a while.
func (r *testRouter) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case st := <-r.ch:
		t.Fatalf("unexpected delivery: %s", st.El)
	case <-time.After(d):
	}
}

// logBuffer collects a server's log for failing tests.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// world is a DNS zone and the servers in it.
type world struct {
	t   testing.TB
	dns *dnstest.Server
	res *srv.Resolver
}

func newWorld(t testing.TB) *world {
	t.Helper()
	dns := dnstest.NewServer(t, "")
	res, err := srv.New(srv.Options{Server: dns.Addr, CacheSize: -1, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return &world{t: t, dns: dns, res: res}
}

// publish adds SRV and A records pointing domain at addr.
func (w *world) publish(domain string, addr net.Addr, directTLS bool) {
	w.t.Helper()
	tcp := addr.(*net.TCPAddr)
	host := "host." + domain
	name := "_xmpp-server._tcp." + domain
	if directTLS {
		name = "_xmpps-server._tcp." + domain
	}
	w.dns.AddSRV(name, 60, 0, 0, uint16(tcp.Port), host)
	w.dns.AddA(host, 60, tcp.IP.String())
}

type peer struct {
	domain string
	srv    *Server
	router *testRouter
	ln     net.Listener
	log    *logBuffer
}

type peerConfig struct {
	opts      Options
	cert      tls.Certificate
	directTLS bool // listen for direct TLS and publish _xmpps-server
	hidden    bool // publish nothing in DNS
	// publicOnly keeps Options.AllowPrivateAddresses as given; otherwise
	// it is set, since every test server listens on loopback.
	publicOnly bool
}

// start runs a Server for domains (the first is the main one) on a
// loopback port published in the world's DNS.
func (w *world) start(domains []string, cfg peerConfig) *peer {
	t := w.t
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{domain: domains[0], router: newTestRouter(), ln: ln, log: &logBuffer{}}
	opts := cfg.opts
	opts.Domains = domains
	opts.TLS = &tls.Config{Certificates: []tls.Certificate{cfg.cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"xmpp-server"}}
	opts.DialbackSecret = []byte("secret of " + domains[0])
	opts.Resolver = w.res
	opts.AllowPrivateAddresses = opts.AllowPrivateAddresses || !cfg.publicOnly
	opts.Logger = slog.New(slog.NewTextHandler(p.log, &slog.HandlerOptions{Level: slog.LevelDebug})).With("server", domains[0])
	if opts.ConnectTimeout == 0 {
		opts.ConnectTimeout = 5 * time.Second
	}
	if opts.NegotiationTimeout == 0 {
		opts.NegotiationTimeout = 10 * time.Second
	}
	p.srv = New(opts, p.router)
	for _, d := range domains {
		if !cfg.hidden {
			w.publish(d, ln.Addr(), cfg.directTLS)
		}
	}
	done := make(chan error, 1)
	go func() {
		if cfg.directTLS {
			done <- p.srv.ServeTLS(context.Background(), ln)
		} else {
			done <- p.srv.Serve(context.Background(), ln)
		}
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.srv.Shutdown(ctx); err != nil {
			t.Errorf("%s: Shutdown: %v", p.domain, err)
		}
		if err := <-done; err != ErrServerClosed {
			t.Errorf("%s: Serve returned %v", p.domain, err)
		}
		if t.Failed() || testing.Verbose() && *showLogs {
			t.Logf("log of %s:\n%s", p.domain, p.log)
		}
	})
	return p
}

// send hands a stanza to p's SendRemote as the router would.
func (p *peer) send(t *testing.T, xml string) {
	t.Helper()
	st := xmpptest.Stanza(t, xml)
	if err := p.srv.SendRemote(context.Background(), st); err != nil {
		t.Fatalf("SendRemote(%s): %v", xml, err)
	}
}

func message(from, to, body string) string {
	return `<message from='` + from + `' to='` + to + `' type='chat' id='m-` + strconv.Itoa(len(body)) + `'><body>` + body + `</body></message>`
}

// outMechanisms returns how each outbound stream of p authenticated.
func (p *peer) outStreams() []*outConn {
	p.srv.mu.Lock()
	defer p.srv.mu.Unlock()
	var out []*outConn
	for c := range p.srv.outs {
		out = append(out, c)
	}
	return out
}

func selfSigned(t testing.TB, names ...string) tls.Certificate {
	t.Helper()
	return xmpptest.NewCA(t).Issue(t, names...)
}

func checkDelivered(t *testing.T, st *stanza.Stanza, from, to, body string) {
	t.Helper()
	if st.From.String() != from || st.To.String() != to || st.El.ChildText(st.El.Name.Space, "body") != body {
		t.Errorf("delivered %s, want from %s to %s with body %q", st.El, from, to, body)
	}
}

// TestFederation exchanges messages both ways between two servers, with
// certificates each trusts (SASL EXTERNAL) and with self-signed ones
// (dialback), over STARTTLS and direct TLS.
func TestFederation(t *testing.T) {
	tests := []struct {
		name      string
		trusted   bool
		directTLS bool
		wantMech  string
	}{
		{"dialback over STARTTLS", false, false, "dialback"},
		{"SASL EXTERNAL over STARTTLS", true, false, "EXTERNAL"},
		{"dialback over direct TLS", false, true, "dialback"},
		{"SASL EXTERNAL over direct TLS", true, true, "EXTERNAL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			var certA, certB tls.Certificate
			var roots *x509.CertPool
			if tc.trusted {
				ca := xmpptest.NewCA(t)
				certA, certB, roots = ca.Issue(t, "a.example"), ca.Issue(t, "b.example"), ca.Pool
			} else {
				certA, certB, roots = selfSigned(t, "a.example"), selfSigned(t, "b.example"), x509.NewCertPool()
			}
			var calls atomic.Int32
			counted := func() *x509.CertPool { calls.Add(1); return roots }
			a := w.start([]string{"a.example"}, peerConfig{opts: Options{RootCAs: counted}, cert: certA, directTLS: tc.directTLS})
			b := w.start([]string{"b.example"}, peerConfig{opts: Options{RootCAs: counted}, cert: certB, directTLS: tc.directTLS})
			// The roots are asked for on the first certificate check, not
			// when the servers start (certs.LazyRoots builds them then).
			if n := calls.Load(); n != 0 {
				t.Errorf("RootCAs called %d times before any stream, want 0", n)
			}

			a.send(t, message("alice@a.example/laptop", "bob@b.example", "hello bob"))
			checkDelivered(t, b.router.next(t), "alice@a.example/laptop", "bob@b.example", "hello bob")
			if calls.Load() == 0 {
				t.Error("RootCAs never called, want the peer's certificate checked against it")
			}
			b.send(t, message("bob@b.example/phone", "alice@a.example/laptop", "hello alice"))
			checkDelivered(t, a.router.next(t), "bob@b.example/phone", "alice@a.example/laptop", "hello alice")
			// More stanzas reuse the streams.
			for i := range 3 {
				a.send(t, message("alice@a.example/laptop", "bob@b.example", "again "+strconv.Itoa(i)))
			}
			for i := range 3 {
				checkDelivered(t, b.router.next(t), "alice@a.example/laptop", "bob@b.example", "again "+strconv.Itoa(i))
			}
			for _, p := range []*peer{a, b} {
				outs := p.outStreams()
				if len(outs) != 1 {
					t.Fatalf("%s has %d outbound streams, want 1", p.domain, len(outs))
				}
				if m := outs[0].mechanism(); m != tc.wantMech {
					t.Errorf("%s authenticated with %q, want %q", p.domain, m, tc.wantMech)
				}
			}
		})
	}
}

// TestMultiplexing: a second local domain reaches the same remote domain
// over the stream already authenticated, by dialback.
func TestMultiplexing(t *testing.T) {
	for _, trusted := range []bool{false, true} {
		t.Run("trusted="+strconv.FormatBool(trusted), func(t *testing.T) {
			w := newWorld(t)
			var certA, certB tls.Certificate
			roots := x509.NewCertPool()
			if trusted {
				// The certificate covers a.example only: the service domain
				// still needs dialback.
				ca := xmpptest.NewCA(t)
				certA, certB, roots = ca.Issue(t, "a.example"), ca.Issue(t, "b.example"), ca.Pool
			} else {
				certA, certB = selfSigned(t, "a.example", "conference.a.example"), selfSigned(t, "b.example")
			}
			a := w.start([]string{"a.example", "conference.a.example"}, peerConfig{opts: Options{RootCAs: fixedRoots(roots)}, cert: certA})
			b := w.start([]string{"b.example"}, peerConfig{opts: Options{RootCAs: fixedRoots(roots)}, cert: certB})
			a.send(t, message("alice@a.example/x", "bob@b.example", "first"))
			checkDelivered(t, b.router.next(t), "alice@a.example/x", "bob@b.example", "first")
			a.send(t, message("room@conference.a.example/alice", "bob@b.example", "from the room"))
			checkDelivered(t, b.router.next(t), "room@conference.a.example/alice", "bob@b.example", "from the room")
			if n := len(a.outStreams()); n != 1 {
				t.Errorf("a has %d outbound streams, want 1 (multiplexed)", n)
			}
			c := a.outStreams()[0]
			if !c.pairs.Valid(dialback.Pair{Sender: "conference.a.example", Target: "b.example"}) {
				t.Error("conference.a.example is not authorized on the stream")
			}
		})
	}
}

// closedPort returns a loopback address nobody listens on.
func closedPort(t *testing.T) net.Addr {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr()
	ln.Close()
	return a
}

// TestBounces: stanzas for domains that cannot be reached come back to
// their senders with the right error, within the configured time.
func TestBounces(t *testing.T) {
	w := newWorld(t)
	w.publish("closed.example", closedPort(t), false)
	// A peer that accepts and never says anything.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	w.publish("silent.example", silent.Addr(), false)
	// Names no server on the internet has, published all the same: roost
	// must not even look them up.
	w.publish("localhost", silent.Addr(), false)
	w.publish("127.0.0.1", silent.Addr(), false)
	// "." target: the domain says it has no XMPP service.
	w.dns.AddSRV("_xmpp-server._tcp.none.example", 60, 0, 0, 0, ".")

	const connectTimeout, negotiationTimeout = 2 * time.Second, 2 * time.Second
	a := w.start([]string{"a.example"}, peerConfig{
		opts: Options{ConnectTimeout: connectTimeout, NegotiationTimeout: negotiationTimeout},
		cert: selfSigned(t, "a.example"),
	})
	tests := []struct {
		name   string
		to     string
		cond   stanza.Condition
		within time.Duration
	}{
		{"no DNS at all", "bob@nxdomain.example", stanza.RemoteServerNotFound, connectTimeout},
		{"no XMPP service", "bob@none.example", stanza.RemoteServerNotFound, connectTimeout},
		// Found, but no stream: a closed port answers as a silent server
		// does (errUnreachable).
		{"closed port", "bob@closed.example", stanza.RemoteServerTimeout, connectTimeout},
		{"silent server", "bob@silent.example", stanza.RemoteServerTimeout, negotiationTimeout + 3*time.Second},
		{"localhost", "bob@localhost", stanza.RemoteServerNotFound, time.Second},
		{"an IP literal", "bob@127.0.0.1", stanza.RemoteServerNotFound, time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			a.send(t, message("alice@a.example/x", tc.to, "anyone there?"))
			got := a.router.next(t)
			took := time.Since(start)
			if got.Type != stanza.TypeError || got.To.String() != "alice@a.example/x" || got.From.String() != tc.to {
				t.Fatalf("bounce %s, want an error from %s to the sender", got.El, tc.to)
			}
			if se := stanza.ParseError(got.El); se.Condition != tc.cond {
				t.Errorf("condition %s (%s), want %s", se.Condition, se.Text, tc.cond)
			}
			if took > tc.within {
				t.Errorf("bounced after %v, want within %v", took, tc.within)
			}
		})
	}
	// Errors and results are never bounced.
	a.send(t, `<message from='alice@a.example/x' to='bob@nxdomain.example' type='error'><body>x</body></message>`)
	a.router.none(t, time.Second)
}

func TestDialable(t *testing.T) {
	for domain, want := range map[string]bool{
		"example.org": true, "xn--bcher-kva.example": true, "localhost.example": true,
		"localhost": false, "LocalHost.": false, "foo.localhost": false,
		"127.0.0.1": false, "10.1.2.3": false, "[::1]": false, "::1": false,
	} {
		if got := dialable(domain); got != want {
			t.Errorf("dialable(%q) = %v, want %v", domain, got, want)
		}
	}
}

func (c *outConn) mechanism() string {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	return c.mech
}

var _ = jid.MustParse
var _ = xmlstream.NSServer

// BenchmarkSendRemote measures handing a stanza to an established
// outbound stream: the route lookup and the queueing, with the writer
// draining concurrently and the peer reading.
func BenchmarkSendRemote(b *testing.B) {
	w := newWorld(b)
	a := w.start([]string{"a.example"}, peerConfig{cert: selfSigned(b, "a.example")})
	peer := w.start([]string{"b.example"}, peerConfig{cert: selfSigned(b, "b.example")})
	st := xmpptest.Stanza(b, message("alice@a.example/x", "bob@b.example", "hello, this is a chat message of ordinary length"))
	if err := a.srv.SendRemote(context.Background(), st); err != nil {
		b.Fatal(err)
	}
	peer.router.next(b)
	go func() {
		for range peer.router.ch {
		}
	}()
	b.ReportAllocs()
	for b.Loop() {
		if err := a.srv.SendRemote(context.Background(), st); err != nil {
			// A full queue: let the writer catch up.
			time.Sleep(time.Millisecond)
		}
	}
}

// TestServeConn: a connection accepted and handshaken elsewhere (a port
// 443 dispatcher, ALPN "xmpp-server", no client certificate asked) is
// served as a direct TLS stream.
func TestServeConn(t *testing.T) {
	w := newWorld(t)
	a := w.start([]string{"a.example"}, peerConfig{cert: selfSigned(t, "a.example")})
	// b's own listener is not published: the dispatcher below is.
	b := w.start([]string{"b.example"}, peerConfig{cert: selfSigned(t, "b.example"), hidden: true})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	w.dns.AddSRV("_xmpps-server._tcp.b.example", 60, 0, 0, uint16(ln.Addr().(*net.TCPAddr).Port), "dispatch.b.example")
	w.dns.AddA("dispatch.b.example", 60, "127.0.0.1")
	cfg := &tls.Config{Certificates: []tls.Certificate{selfSigned(t, "b.example")}, NextProtos: []string{"http/1.1", "xmpp-server"}, MinVersion: tls.VersionTLS12}
	alpn := make(chan string, 4)
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			tc := tls.Server(nc, cfg)
			if err := tc.Handshake(); err != nil {
				nc.Close()
				continue
			}
			alpn <- tc.ConnectionState().NegotiatedProtocol
			b.srv.ServeConn(context.Background(), tc)
		}
	}()
	a.send(t, message("alice@a.example/x", "bob@b.example", "via the dispatcher"))
	checkDelivered(t, b.router.next(t), "alice@a.example/x", "bob@b.example", "via the dispatcher")
	select {
	case p := <-alpn:
		if p != "xmpp-server" {
			t.Errorf("ALPN %q, want xmpp-server", p)
		}
	default:
		t.Error("the stream did not come through the dispatcher")
	}
}

// fixedRoots is an Options.RootCAs that returns pool.
func fixedRoots(pool *x509.CertPool) func() *x509.CertPool {
	return func() *x509.CertPool { return pool }
}
