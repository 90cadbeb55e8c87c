package c2s

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"roost/internal/client"
	"roost/internal/xmpptest"
	"roost/jid"
	"roost/metrics"
	"roost/netconn"
	"roost/sasl"
	"roost/stanza"
	"roost/stream"
	"roost/xmlstream"
)

// fakeRouter binds sessions by full JID and delivers stanzas between them,
// replacing a session bound twice as the real router does.
type fakeRouter struct {
	mu       sync.Mutex
	sessions map[string]Endpoint
	onRoute  func(st *stanza.Stanza)
}

func (r *fakeRouter) Bind(_ context.Context, full jid.JID, s Endpoint) error {
	r.mu.Lock()
	old := r.sessions[full.String()]
	r.sessions[full.String()] = s
	r.mu.Unlock()
	if old != nil {
		old.Close(&stream.Error{Condition: stream.Conflict})
	}
	return nil
}

func (r *fakeRouter) Unbind(_ context.Context, full jid.JID, s Endpoint) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sessions[full.String()] == s {
		delete(r.sessions, full.String())
	}
}

func (r *fakeRouter) FromClient(_ context.Context, st *stanza.Stanza) {
	if r.onRoute != nil {
		r.onRoute(st)
	}
	r.mu.Lock()
	dst := r.sessions[st.To.String()]
	r.mu.Unlock()
	if dst != nil {
		dst.Send(st.Element())
	}
}

type creds map[string]string // bare JID → password

func (c creds) SCRAMCredentials(_ context.Context, bare jid.JID, h sasl.Hash) (sasl.Credentials, bool, error) {
	pw, ok := c[bare.String()]
	if !ok {
		return sasl.Credentials{}, false, nil
	}
	cr, err := sasl.NewCredentials(pw, h, sasl.MinIterations, rand.Reader)
	return cr, err == nil, err
}

type harness struct {
	t         *testing.T
	srv       *Server
	router    *fakeRouter
	serverTLS *tls.Config
	clientTLS *tls.Config
}

func newHarness(t *testing.T, mod func(*Options)) *harness {
	t.Helper()
	serverTLS, clientTLS := xmpptest.TLS(t, "example.com")
	opts := Options{
		Domains:    []string{"example.com"},
		TLS:        serverTLS,
		SASLSecret: []byte("0123456789abcdef0123456789abcdef"),
		AllowPlain: true,
	}
	if mod != nil {
		mod(&opts)
	}
	h := &harness{t: t, router: &fakeRouter{sessions: map[string]Endpoint{}}, serverTLS: serverTLS, clientTLS: clientTLS}
	h.srv = New(opts, h.router, creds{"juliet@example.com": "balcony!", "romeo@example.com": "orchard!"})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := h.srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return h
}

// pipe connects an in-memory connection to the server.
func (h *harness) pipe(directTLS bool) net.Conn {
	cli, srv := net.Pipe()
	h.srv.ServeConn(context.Background(), srv, directTLS)
	h.t.Cleanup(func() { _ = cli.Close() })
	return cli
}

func (h *harness) login(user, password, resource string, o client.Options) (*client.Conn, error) {
	j, err := jid.New(user, "example.com", resource)
	if err != nil {
		h.t.Fatal(err)
	}
	o.JID, o.Password, o.TLS = j, password, h.clientTLS
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return client.Login(ctx, h.pipe(o.DirectTLS), o)
}

func (h *harness) mustLogin(user, resource string) *client.Conn {
	h.t.Helper()
	pw := map[string]string{"juliet": "balcony!", "romeo": "orchard!"}[user]
	c, err := h.login(user, pw, resource, client.Options{})
	if err != nil {
		h.t.Fatalf("login %s: %v", user, err)
	}
	return c
}

func TestLogin(t *testing.T) {
	tests := []struct {
		name      string
		mech      string
		binding   string
		directTLS bool
	}{
		{"SCRAM-SHA-256", sasl.SCRAMSHA256, "", false},
		{"SCRAM-SHA-1", sasl.SCRAMSHA1, "", false},
		{"SCRAM-SHA-256-PLUS tls-exporter", sasl.SCRAMSHA256Plus, sasl.BindingTLSExporter, false},
		{"SCRAM-SHA-256-PLUS tls-server-end-point", sasl.SCRAMSHA256Plus, sasl.BindingTLSServerEndPoint, false},
		{"SCRAM-SHA-1-PLUS tls-exporter", sasl.SCRAMSHA1Plus, sasl.BindingTLSExporter, false},
		{"SCRAM-SHA-1-PLUS tls-server-end-point", sasl.SCRAMSHA1Plus, sasl.BindingTLSServerEndPoint, false},
		{"PLAIN", sasl.Plain, "", false},
		{"direct TLS SCRAM-SHA-256-PLUS", sasl.SCRAMSHA256Plus, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			c, err := h.login("juliet", "balcony!", "balcony", client.Options{Mechanism: tc.mech, BindingType: tc.binding, DirectTLS: tc.directTLS})
			if err != nil {
				t.Fatal(err)
			}
			if got := c.JID.String(); got != "juliet@example.com/balcony" {
				t.Errorf("bound %s, want juliet@example.com/balcony", got)
			}
		})
	}
}

// TestChannelBindingPolicy: a client that supports channel binding but
// uses plain SCRAM although -PLUS is offered (GS2 "y") logs in unless the
// server is strict (RFC 5802 §6, XEP-0440 §3).
func TestChannelBindingPolicy(t *testing.T) {
	for _, strict := range []bool{false, true} {
		h := newHarness(t, func(o *Options) { o.StrictChannelBinding = strict })
		_, err := h.login("juliet", "balcony!", "a", client.Options{Mechanism: sasl.SCRAMSHA256, ClaimBinding: true})
		switch {
		case !strict && err != nil:
			t.Errorf("default policy: %v, want login", err)
		case strict && (!errors.Is(err, client.ErrAuth) || !strings.Contains(err.Error(), "not-authorized")):
			t.Errorf("strict policy: %v, want not-authorized", err)
		}
	}
}

func TestFeatures(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.AllowPlain = false })
	cli := h.pipe(false)
	c := rawStream(t, cli)
	f := c.features()
	if f.Child(stream.NSTLS, "starttls").Child(stream.NSTLS, "required") == nil {
		t.Fatalf("before TLS, features = %s; want required STARTTLS", f)
	}
	if f.Child(stream.NSSASL, "mechanisms") != nil {
		t.Errorf("SASL offered before TLS: %s", f)
	}
	tc := c.startTLS(h.clientTLS)
	c = rawStream(t, tc)
	f = c.features()
	var mechs []string
	for m := range f.Child(stream.NSSASL, "mechanisms").Elements() {
		mechs = append(mechs, m.Text())
	}
	if got := strings.Join(mechs, " "); got != "SCRAM-SHA-256-PLUS SCRAM-SHA-1-PLUS SCRAM-SHA-256 SCRAM-SHA-1" {
		t.Errorf("mechanisms = %s", got)
	}
	var types []string
	for cb := range f.Child(nsSASLCB, "sasl-channel-binding").Elements() {
		types = append(types, cb.Get("type"))
	}
	if got := strings.Join(types, " "); got != "tls-exporter tls-server-end-point" {
		t.Errorf("XEP-0440 channel-binding types = %q", got)
	}
}

func TestAuthFailures(t *testing.T) {
	h := newHarness(t, nil)
	_, err := h.login("juliet", "wrong password", "x", client.Options{})
	if !errors.Is(err, client.ErrAuth) || !strings.Contains(err.Error(), "not-authorized") {
		t.Errorf("wrong password: %v, want not-authorized", err)
	}
	_, err = h.login("nobody", "whatever1", "x", client.Options{})
	if !errors.Is(err, client.ErrAuth) || !strings.Contains(err.Error(), "not-authorized") {
		t.Errorf("unknown user: %v, want the same not-authorized", err)
	}
	h.mustLogin("juliet", "x")
	h2 := newHarness(t, func(o *Options) { o.AllowPlain = false })
	_, err = h2.login("juliet", "balcony!", "x", client.Options{Mechanism: sasl.Plain})
	if !errors.Is(err, client.ErrAuth) || !strings.Contains(err.Error(), "invalid-mechanism") {
		t.Errorf("PLAIN when disabled: %v, want invalid-mechanism", err)
	}
	// Counted before the client hears of it.
	count := func(m *metrics.Counters) [3]uint64 {
		return [3]uint64{m.LoginsOK.Load(), m.LoginsBadCredentials.Load(), m.LoginsFailedOther.Load()}
	}
	if got, want := count(h.srv.opts.Metrics), [3]uint64{1, 2, 0}; got != want {
		t.Errorf("logins ok, bad credentials, failed = %v, want %v", got, want)
	}
	if got, want := count(h2.srv.opts.Metrics), [3]uint64{0, 0, 1}; got != want {
		t.Errorf("PLAIN when disabled: logins ok, bad credentials, failed = %v, want %v", got, want)
	}
}

func TestTooManyAuthFailures(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.MaxAuthFailures = 2 })
	cli := h.pipe(false)
	rc := rawStream(t, cli)
	rc.features()
	tc := rc.startTLS(h.clientTLS)
	rc = rawStream(t, tc)
	rc.features()
	for i := range 2 {
		rc.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldABub3BlMTIz</auth>`)
		el := rc.recv()
		if !el.Is(stream.NSSASL, "failure") || el.Child(stream.NSSASL, "not-authorized") == nil {
			t.Fatalf("attempt %d: got %s, want not-authorized failure", i+1, el)
		}
	}
	rc.expectStreamError(stream.PolicyViolation)
}

func TestBadInput(t *testing.T) {
	tests := []struct {
		name  string
		send  string
		limit int
		cond  stream.Condition
	}{
		{"comment", `<!-- hello -->`, 0, stream.RestrictedXML},
		{"processing instruction", `<?evil?>`, 0, stream.RestrictedXML},
		{"DTD", `<!DOCTYPE x [<!ENTITY e 'boom'>]>`, 0, stream.RestrictedXML},
		{"entity", `<message to='romeo@example.com'><body>&e;</body></message>`, 0, stream.RestrictedXML},
		{"oversized stanza", `<message to='romeo@example.com'><body>` + strings.Repeat("x", 20000) + `</body></message>`, 10000, stream.PolicyViolation},
		{"not well-formed", `<message><body></message>`, 0, stream.NotWellFormed},
		{"unknown top-level element", `<foo xmlns='urn:x'/>`, 0, stream.UnsupportedStanzaType},
		{"forged from", `<message from='romeo@example.com/orchard' to='juliet@example.com'/>`, 0, stream.InvalidFrom},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(o *Options) { o.Limits.MaxStanzaBytes = tc.limit })
			c := h.mustLogin("juliet", "a")
			// net.Pipe has no buffer: write from another goroutine, as the
			// server stops reading an oversized stanza part way.
			go func() { _ = c.SendRaw([]byte(tc.send)) }()
			xmpptest.ExpectStreamError(t, c, tc.cond)
			// The server is still fine for everyone else.
			r := h.mustLogin("romeo", "b")
			_ = r.Close()
		})
	}
}

func TestMalformedJIDIsAStanzaError(t *testing.T) {
	h := newHarness(t, nil)
	c := h.mustLogin("juliet", "a")
	if err := c.SendRaw([]byte(`<message to='a@@b' id='m1'><body>x</body></message>`)); err != nil {
		t.Fatal(err)
	}
	el, err := c.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if el.Get("type") != "error" || el.Get("id") != "m1" || el.Child(xmlstream.NSClient, "error").Child(stanza.NSStanzas, "jid-malformed") == nil {
		t.Fatalf("got %s, want a jid-malformed message error", el)
	}
	// The stream goes on.
	if err := c.Send(xmlstream.New(xmlstream.NSClient, "iq").SetAttr("type", "set").SetAttr("id", "s").
		Append(xmlstream.New(stream.NSSession, "session"))); err != nil {
		t.Fatal(err)
	}
	if el, err := c.Recv(); err != nil || el.Get("type") != "result" || el.Get("id") != "s" {
		t.Fatalf("after the error: %v, %v", el, err)
	}
}

func TestBeforeTLSAndAuth(t *testing.T) {
	t.Run("stanza before STARTTLS", func(t *testing.T) {
		h := newHarness(t, nil)
		rc := rawStream(t, h.pipe(false))
		rc.features()
		rc.send(`<message to='romeo@example.com'><body>plain text</body></message>`)
		rc.expectStreamError(stream.PolicyViolation)
	})
	t.Run("stanza before authentication", func(t *testing.T) {
		h := newHarness(t, nil)
		rc := rawStream(t, h.pipe(false))
		rc.features()
		rc = rawStream(t, rc.startTLS(h.clientTLS))
		rc.features()
		rc.send(`<message to='romeo@example.com'><body>sneaky</body></message>`)
		rc.expectStreamError(stream.NotAuthorized)
	})
	t.Run("bytes pipelined after starttls", func(t *testing.T) {
		h := newHarness(t, nil)
		rc := rawStream(t, h.pipe(false))
		rc.features()
		rc.send(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><message to='romeo@example.com'/>`)
		rc.expectStreamError(stream.PolicyViolation)
	})
	t.Run("unknown host", func(t *testing.T) {
		h := newHarness(t, nil)
		cli := h.pipe(false)
		rc := &rawConn{t: t, nc: cli, dec: xmlstream.NewDecoder(cli, xmlstream.Limits{})}
		go func() {
			_, _ = cli.Write([]byte(`<?xml version='1.0'?><stream:stream to='elsewhere.example' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>`))
		}()
		if _, err := rc.dec.ReadHeader(); err != nil {
			t.Fatal(err)
		}
		rc.expectStreamError(stream.HostUnknown)
	})
}

// TestWhitespaceAfterStartTLS: whitespace sent with <starttls/> (as
// go-xmpp does) is dropped before the handshake (RFC 6120 §11.7); any
// other byte is refused as before (§5.4.3.3).
func TestWhitespaceAfterStartTLS(t *testing.T) {
	const starttls = `<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`
	tests := []struct {
		name  string
		after string
		ok    bool
	}{
		{"a newline", "\n", true},
		{"spaces and tabs", " \t  \t ", true},
		{"an element", "<message to='romeo@example.com'/>", false},
		{"whitespace, then an element", "\n<message to='romeo@example.com'/>", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			rc := rawStream(t, h.pipe(false))
			rc.features()
			rc.send(starttls + tc.after) // one write: it arrives in one read
			if !tc.ok {
				rc.expectStreamError(stream.PolicyViolation)
				return
			}
			if el := rc.recv(); !el.Is(stream.NSTLS, "proceed") {
				t.Fatalf("got %s, want proceed", el)
			}
			secure := tls.Client(rc.nc, h.clientTLS)
			if err := secure.Handshake(); err != nil {
				t.Fatalf("TLS handshake after the whitespace: %v", err)
			}
			f := rawStream(t, secure).features()
			if f.Child(stream.NSSASL, "mechanisms") == nil {
				t.Errorf("features over TLS = %s, want the SASL mechanisms", f)
			}
		})
	}
}

func TestResourceConflictReplacesOldSession(t *testing.T) {
	h := newHarness(t, nil)
	first := h.mustLogin("juliet", "balcony")
	second := h.mustLogin("juliet", "balcony")
	xmpptest.ExpectStreamError(t, first, stream.Conflict)
	if second.JID.String() != "juliet@example.com/balcony" {
		t.Errorf("second session bound %s", second.JID)
	}
}

func TestServerGeneratedResource(t *testing.T) {
	h := newHarness(t, nil)
	a, b := h.mustLogin("juliet", ""), h.mustLogin("juliet", "")
	if a.JID.Resource() == "" || a.JID.Equal(b.JID) {
		t.Errorf("generated resources %q and %q: want two distinct non-empty ones", a.JID.Resource(), b.JID.Resource())
	}
}

func TestChat(t *testing.T) {
	h := newHarness(t, nil)
	j := h.mustLogin("juliet", "balcony")
	r := h.mustLogin("romeo", "orchard")
	msg := xmlstream.New(xmlstream.NSClient, "message").SetAttr("to", "romeo@example.com/orchard").SetAttr("type", "chat").
		Append(xmlstream.New(xmlstream.NSClient, "body").AppendText("Wherefore art thou?"))
	if err := j.Send(msg); err != nil {
		t.Fatal(err)
	}
	_ = r.SetDeadline(time.Now().Add(5 * time.Second))
	got, err := r.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if got.Get("from") != "juliet@example.com/balcony" || got.ChildText(xmlstream.NSClient, "body") != "Wherefore art thou?" {
		t.Errorf("romeo got %s; want the message stamped from juliet's full JID", got)
	}
}

func TestIdlePingThenTimeout(t *testing.T) {
	h := newHarness(t, func(o *Options) {
		o.IdleTimeout = 150 * time.Millisecond
		o.PingTimeout = 150 * time.Millisecond
		o.KeepaliveInterval = time.Hour
	})
	c := h.mustLogin("juliet", "a")
	if el := serverPing(t, c); el.Get("to") != "juliet@example.com/a" {
		t.Fatalf("got %s, want a ping to juliet@example.com/a", el)
	}
	xmpptest.ExpectStreamError(t, c, stream.ConnectionTimeout)
}

// serverPing reads the next element, which must be the server's idle ping
// (XEP-0199).
func serverPing(t *testing.T, c *client.Conn) *xmlstream.Element {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	el, err := c.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if el.Get("type") != "get" || el.Child("urn:xmpp:ping", "ping") == nil {
		t.Fatalf("got %s, want a ping from the server", el)
	}
	return el
}

// answerPing answers the server's ping.
func answerPing(t *testing.T, c *client.Conn, ping *xmlstream.Element) {
	t.Helper()
	pong := xmlstream.New(xmlstream.NSClient, "iq").SetAttr("type", "result").SetAttr("id", ping.Get("id")).SetAttr("to", "example.com")
	if err := c.Send(pong); err != nil {
		t.Fatal(err)
	}
}

func TestIdlePingAnsweredKeepsSession(t *testing.T) {
	h := newHarness(t, func(o *Options) {
		o.IdleTimeout = 150 * time.Millisecond
		o.PingTimeout = 150 * time.Millisecond
		o.KeepaliveInterval = time.Hour
	})
	c := h.mustLogin("juliet", "a")
	for range 3 {
		answerPing(t, c, serverPing(t, c))
	}
}

func TestWhitespaceKeepalives(t *testing.T) {
	h := newHarness(t, func(o *Options) {
		o.KeepaliveInterval = 50 * time.Millisecond
		o.IdleTimeout = 10 * time.Second
	})
	c := h.mustLogin("juliet", "a")
	// Read the raw bytes: keepalives are whitespace between elements.
	nc := c.NetConn()
	_ = nc.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 16)
	n, err := nc.Read(buf)
	if err != nil || strings.TrimSpace(string(buf[:n])) != "" || n == 0 {
		t.Fatalf("read %q, %v; want whitespace", buf[:n], err)
	}
	// And the client's own keepalives keep it alive past the idle timeout.
	h2 := newHarness(t, func(o *Options) {
		o.IdleTimeout = time.Second
		o.PingTimeout = time.Second
		o.KeepaliveInterval = time.Hour
	})
	c2 := h2.mustLogin("juliet", "b")
	done := make(chan error, 1)
	go func() {
		_ = c2.NetConn().SetReadDeadline(time.Now().Add(3 * time.Second))
		el, err := c2.Recv()
		if err == nil {
			err = errors.New("unexpected " + el.String())
		}
		done <- err
	}()
	// Keepalives for longer than the idle timeout.
	for range 25 {
		time.Sleep(100 * time.Millisecond)
		if err := c2.SendRaw([]byte(" ")); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; !netconn.IsTimeout(err) {
		t.Fatalf("client sending keepalives got %v; want nothing (no ping) until its own read deadline", err)
	}
}

func TestSlowReaderIsDisconnected(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.QueueDepth = 4 })
	c := h.mustLogin("juliet", "a")
	h.router.mu.Lock()
	ep := h.router.sessions["juliet@example.com/a"]
	h.router.mu.Unlock()
	// Nobody reads the pipe, so the writer blocks and the queue fills.
	msg := xmlstream.New(xmlstream.NSClient, "message").Append(xmlstream.New(xmlstream.NSClient, "body").AppendText(strings.Repeat("z", 1000)))
	refused := false
	for range 1000 {
		if !ep.Send(msg) {
			refused = true
			break
		}
	}
	if !refused {
		t.Fatal("Send never refused although the client reads nothing")
	}
	xmpptest.ExpectStreamError(t, c, stream.PolicyViolation)
}

func TestShutdownSendsSystemShutdown(t *testing.T) {
	h := newHarness(t, nil)
	shutdownEnds(t, h, h.mustLogin("juliet", "a"))
}

// shutdownEnds shuts the server down and checks that c's stream ends with
// system-shutdown, and that Shutdown returns once c closes.
func shutdownEnds(t *testing.T, h *harness, c *client.Conn) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- h.srv.Shutdown(ctx)
	}()
	xmpptest.ExpectStreamError(t, c, stream.SystemShutdown)
	_ = c.Close()
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

func TestPanicClosesOnlyItsConnection(t *testing.T) {
	h := newHarness(t, nil)
	h.router.onRoute = func(st *stanza.Stanza) {
		if st.El.ChildText(xmlstream.NSClient, "body") == "boom" {
			panic("handler bug")
		}
	}
	bad := h.mustLogin("juliet", "a")
	good := h.mustLogin("romeo", "b")
	if err := bad.SendRaw([]byte(`<message to='x@example.com'><body>boom</body></message>`)); err != nil {
		t.Fatal(err)
	}
	xmpptest.ExpectStreamError(t, bad, stream.InternalServerError)
	if err := good.Send(xmlstream.New(xmlstream.NSClient, "iq").SetAttr("type", "set").SetAttr("id", "s").
		Append(xmlstream.New(stream.NSSession, "session"))); err != nil {
		t.Fatal(err)
	}
	_ = good.SetDeadline(time.Now().Add(5 * time.Second))
	if el, err := good.Recv(); err != nil || el.Get("type") != "result" {
		t.Fatalf("other session after the panic: %v, %v", el, err)
	}
}

func TestMaxConnsPerIP(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.MaxConnsPerIP = 1 })
	c := h.mustLogin("juliet", "a")
	defer c.Close()
	cli := h.pipe(false)
	_ = cli.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, err := cli.Read(make([]byte, 1)); err == nil {
		t.Fatalf("second connection from the same address got %d bytes, want it closed", n)
	}
}

// TestCrowdFromOneAddress: at the per-address limit, the oldest
// connection that has not logged in makes room for a new one, which logs
// in; connections that logged in are never dropped for it, so once all
// have, the next is refused (issue 18, item 4). net.Pipe connections all
// come from one address, "pipe".
func TestCrowdFromOneAddress(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.MaxConnsPerIP = 2 })
	silent := []net.Conn{h.pipe(false), h.pipe(false)}
	evicted := make(chan error, len(silent))
	for _, nc := range silent {
		go func() { evicted <- expectCrowded(nc) }()
	}
	juliet := h.mustLogin("juliet", "a")
	romeo := h.mustLogin("romeo", "b")
	for range silent {
		if err := <-evicted; err != nil {
			t.Error(err)
		}
	}
	if n := h.srv.opts.Metrics.C2SEvicted.Load(); n != uint64(len(silent)) {
		t.Errorf("roost_drops_total{reason=c2s_crowd_evicted} = %d, want %d", n, len(silent))
	}
	// Both logged-in sessions go on.
	sendChat(t, romeo, "juliet@example.com/a", "still here")
	if got := recvWithin(t, juliet); got.Get("from") != "romeo@example.com/b" {
		t.Errorf("juliet got %s, want the message from romeo", got)
	}
	// Two logged-in sessions fill the limit: a third connection is refused.
	third := h.pipe(false)
	_ = third.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, err := third.Read(make([]byte, 1)); err == nil {
		t.Fatalf("a connection beside two logged-in sessions got %d bytes, want it closed", n)
	}
}

// TestCrowdDirectTLS: on the direct TLS port (XEP-0368) too, a
// connection that never starts its handshake makes room for a login from
// its address; it is closed, having no stream to carry an error yet.
func TestCrowdDirectTLS(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.MaxConnsPerIP = 1 })
	silent := h.pipe(true)
	if _, err := h.login("juliet", "balcony!", "tls", client.Options{DirectTLS: true}); err != nil {
		t.Fatalf("login beside a silent connection: %v", err)
	}
	_ = silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := silent.Read(make([]byte, 1))
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the silent connection: read %v, want it closed", err)
	}
}

// TestCrowdEvictsAtOnce: a connection evicted right after it was
// accepted, before its negotiation began, still ends at once rather than
// at the negotiation timeout.
func TestCrowdEvictsAtOnce(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.MaxConnsPerIP = 1; o.NegotiationTimeout = 20 * time.Second })
	for i := range 20 {
		first := h.pipe(false)
		second := h.pipe(false) // evicts first
		start := time.Now()
		if err := expectCrowded(first); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("round %d: the evicted connection ended after %v, want at once", i, took)
		}
		first.Close()
		second.Close()
		for h.srv.ConnCount() > 0 {
			if time.Since(start) > 5*time.Second {
				t.Fatalf("round %d: %d connections left", i, h.srv.ConnCount())
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// expectCrowded reads what the server sends a connection that sent
// nothing, and reports an error unless it is the stream error of a
// crowded address.
func expectCrowded(nc net.Conn) error {
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	dec := xmlstream.NewDecoder(nc, xmlstream.Limits{})
	if _, err := dec.ReadHeader(); err != nil {
		return fmt.Errorf("evicted connection: header: %w", err)
	}
	el, err := dec.ReadElement()
	if err != nil {
		return fmt.Errorf("evicted connection: %w, want a stream error", err)
	}
	if !el.Is(xmlstream.NSStream, "error") || stream.ParseError(el).Condition != stream.PolicyViolation {
		return fmt.Errorf("evicted connection got %s, want stream error policy-violation", el)
	}
	return nil
}

// rawConn drives the protocol by hand for the negotiation tests.
type rawConn struct {
	t   *testing.T
	nc  net.Conn
	dec *xmlstream.Decoder
}

func rawStream(t *testing.T, nc net.Conn) *rawConn {
	t.Helper()
	c := &rawConn{t: t, nc: nc, dec: xmlstream.NewDecoder(nc, xmlstream.Limits{})}
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	c.send(string(stream.AppendHeader(nil, stream.Header{To: "example.com", Version: "1.0", ContentNS: xmlstream.NSClient})))
	if _, err := c.dec.ReadHeader(); err != nil {
		t.Fatalf("server header: %v", err)
	}
	return c
}

func (c *rawConn) send(s string) {
	c.t.Helper()
	go func() { _, _ = io.Copy(c.nc, bytes.NewReader([]byte(s))) }()
}

func (c *rawConn) recv() *xmlstream.Element {
	c.t.Helper()
	el, err := c.dec.ReadElement()
	if err != nil {
		c.t.Fatalf("recv: %v", err)
	}
	return el
}

func (c *rawConn) features() *xmlstream.Element {
	c.t.Helper()
	el := c.recv()
	if !el.Is(xmlstream.NSStream, "features") {
		c.t.Fatalf("got %s, want features", el)
	}
	return el
}

func (c *rawConn) startTLS(cfg *tls.Config) net.Conn {
	c.t.Helper()
	c.send(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
	if el := c.recv(); !el.Is(stream.NSTLS, "proceed") {
		c.t.Fatalf("got %s, want proceed", el)
	}
	tc := tls.Client(c.nc, cfg)
	if err := tc.Handshake(); err != nil {
		c.t.Fatal(err)
	}
	return tc
}

func (c *rawConn) expectStreamError(cond stream.Condition) {
	c.t.Helper()
	for {
		el, err := c.dec.ReadElement()
		if err != nil {
			c.t.Fatalf("read: %v, want stream error %s", err, cond)
		}
		if el.Is(xmlstream.NSStream, "error") {
			if got := stream.ParseError(el).Condition; got != cond {
				c.t.Fatalf("stream error %s, want %s", got, cond)
			}
			if _, err := c.dec.ReadElement(); !errors.Is(err, xmlstream.ErrStreamEnd) {
				c.t.Errorf("after the stream error: %v, want the closing tag", err)
			}
			return
		}
	}
}

// TestClosedStreamStopsProcessing: once the server has ended a stream,
// stanzas the client keeps sending are not routed any more, and the
// connection still ends within the linger time although data keeps
// coming.
func TestClosedStreamStopsProcessing(t *testing.T) {
	h := newHarness(t, nil)
	var routed atomic.Int64
	h.router.onRoute = func(*stanza.Stanza) { routed.Add(1) }
	c := h.mustLogin("juliet", "a")
	h.router.mu.Lock()
	ep := h.router.sessions["juliet@example.com/a"]
	h.router.mu.Unlock()
	stop := make(chan struct{})
	flooded := make(chan struct{})
	go func() {
		defer close(flooded)
		msg := []byte(`<message to='x@example.com'><body>flood</body></message>`)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if c.SendRaw(msg) != nil {
				return
			}
		}
	}()
	time.Sleep(50 * time.Millisecond)
	ep.Close(&stream.Error{Condition: stream.SystemShutdown})
	start := time.Now()
	xmpptest.ExpectStreamError(t, c, stream.SystemShutdown)
	before := routed.Load()
	deadline := time.Now().Add(5 * time.Second)
	for h.srv.ConnCount() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	<-flooded
	if n := h.srv.ConnCount(); n != 0 {
		t.Fatalf("%d connections still open %v after the stream ended under a flood", n, time.Since(start))
	}
	// The one stanza the reader may have been handling when the session
	// was closed can still complete; nothing after it may.
	if after := routed.Load(); after > before+1 {
		t.Errorf("%d stanzas routed after the stream error", after-before)
	}
}
