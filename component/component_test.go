package component

import (
	"context"
	"crypto/sha1" //nolint:gosec // XEP-0114's handshake
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"roost/internal/xmpptest"
	"roost/stanza"
	"roost/stream"
	"roost/xmlstream"
)

// routed records what the server routes.
type routed struct {
	mu  sync.Mutex
	got []*stanza.Stanza
	ch  chan struct{}
}

func newRouted() *routed { return &routed{ch: make(chan struct{}, 100)} }

func (r *routed) Route(_ context.Context, st *stanza.Stanza) {
	if st.ID == "panic" {
		panic("router bug")
	}
	r.mu.Lock()
	r.got = append(r.got, st)
	r.mu.Unlock()
	r.ch <- struct{}{}
}

// next waits for the next routed stanza.
func (r *routed) next(t *testing.T) *stanza.Stanza {
	t.Helper()
	select {
	case <-r.ch:
	case <-time.After(10 * time.Second):
		t.Fatal("nothing routed within 10s")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.got[0]
	r.got = r.got[1:]
	return st
}

func (r *routed) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

const (
	ircDomain = "irc.example.org"
	ircSecret = "s3cret&<sauce>"
)

// testServer runs a Server with two components on a loopback listener
// until the test ends.
func testServer(t testing.TB, mod func(*Options), domains ...string) (*Server, *routed, string) {
	t.Helper()
	opts := Options{
		Secrets: map[string]string{ircDomain: ircSecret, "bridge.example.org": "other"},
		Server:  "example.org",
		ServerOptions: stream.ServerOptions{
			Limits:             xmlstream.Limits{MaxStanzaBytes: 10000, MaxDepth: 16, MaxAttrs: 16},
			NegotiationTimeout: 5 * time.Second,
		},
		Logger: slog.New(slog.DiscardHandler),
	}
	if mod != nil {
		mod(&opts)
	}
	r := newRouted()
	s := New(opts, r)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(context.Background(), ln, domains...) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return s, r, ln.Addr().String()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestHandshake(t *testing.T) {
	s, _, addr := testServer(t, nil)
	p := xmpptest.DialComponent(t, addr, xmpptest.ComponentHeader(ircDomain))
	p.ReadHeader()
	if got := p.Header.Get("from"); got != ircDomain {
		t.Errorf("header from = %q, want %q", got, ircDomain)
	}
	if p.Header.Get("id") == "" {
		t.Error("the server's header has no id")
	}
	if v := p.Header.Get("version"); v != "" {
		t.Errorf("header version = %q, want none (XEP-0114 streams predate XMPP 1.0)", v)
	}
	if s.Connected(ircDomain) {
		t.Error("Connected before the handshake")
	}
	// Uppercase hex is accepted, as Prosody does.
	sum := sha1.Sum([]byte(p.Header.Get("id") + ircSecret)) //nolint:gosec // XEP-0114's handshake
	p.Send("<handshake>\n" + strings.ToUpper(hex.EncodeToString(sum[:])) + "\n</handshake>")
	if el := p.Next(); !el.Is(xmlstream.NSComponent, "handshake") {
		t.Fatalf("got %v, want <handshake/>", el)
	}
	waitFor(t, "Connected", func() bool { return s.Connected(ircDomain) })
	if s.Connected("bridge.example.org") {
		t.Error("another component is Connected")
	}
}

func TestNegotiationErrors(t *testing.T) {
	_, _, addr := testServer(t, nil)
	tests := []struct {
		name   string
		header string
		then   func(p *xmpptest.Component) // after the server's header; nil: nothing
		want   stream.Condition
	}{
		{"unknown domain", xmpptest.ComponentHeader("nope.example.org"), nil, stream.HostUnknown},
		{"an account domain", xmpptest.ComponentHeader("example.org"), nil, stream.HostUnknown},
		{"a JID, not a domain", xmpptest.ComponentHeader("user@" + ircDomain), nil, stream.HostUnknown},
		{"no to", `<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams'>`, nil, stream.ImproperAddressing},
		{"client namespace", `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='` + ircDomain + `' version='1.0'>`, nil, stream.InvalidNamespace},
		{"not a stream", `<message xmlns='jabber:component:accept'/>`, nil, stream.InvalidNamespace},
		{"wrong secret", xmpptest.ComponentHeader(ircDomain), func(p *xmpptest.Component) { p.Handshake("guess") }, stream.NotAuthorized},
		{"another component's secret", xmpptest.ComponentHeader(ircDomain), func(p *xmpptest.Component) { p.Handshake("other") }, stream.NotAuthorized},
		{"empty handshake", xmpptest.ComponentHeader(ircDomain), func(p *xmpptest.Component) { p.Send("<handshake/>") }, stream.NotAuthorized},
		{"not hex", xmpptest.ComponentHeader(ircDomain), func(p *xmpptest.Component) { p.Send("<handshake>" + strings.Repeat("zz", 20) + "</handshake>") }, stream.NotAuthorized},
		{"handshake with a child", xmpptest.ComponentHeader(ircDomain), func(p *xmpptest.Component) { p.Send("<handshake><x/></handshake>") }, stream.NotAuthorized},
		{"stanza before the handshake", xmpptest.ComponentHeader(ircDomain), func(p *xmpptest.Component) {
			p.Send("<message from='" + ircDomain + "' to='a@example.org'><body>hi</body></message>")
		}, stream.NotAuthorized},
		{"restricted XML", xmpptest.ComponentHeader(ircDomain), func(p *xmpptest.Component) { p.Send("<!-- hi -->") }, stream.RestrictedXML},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := xmpptest.DialComponent(t, addr, tt.header)
			// XEP-0114 §3: header errors come after our own header.
			p.ReadHeader()
			if tt.then != nil {
				tt.then(p)
			}
			p.ExpectStreamError(tt.want)
		})
	}
}

func TestNegotiationTimeout(t *testing.T) {
	_, _, addr := testServer(t, func(o *Options) { o.NegotiationTimeout = 200 * time.Millisecond })
	p := xmpptest.DialComponent(t, addr, xmpptest.ComponentHeader(ircDomain))
	p.ReadHeader()
	p.ExpectStreamError(stream.ConnectionTimeout)
}

func TestListenerServesItsDomains(t *testing.T) {
	_, _, addr := testServer(t, nil, "bridge.example.org")
	p := xmpptest.DialComponent(t, addr, xmpptest.ComponentHeader(ircDomain))
	p.ReadHeader()
	p.ExpectStreamError(stream.HostUnknown)
	xmpptest.ConnectComponent(t, addr, "bridge.example.org", "other")
}

// TestConflict: a second component for a connected domain is refused and
// the first one keeps working.
func TestConflict(t *testing.T) {
	s, r, addr := testServer(t, nil)
	first := xmpptest.ConnectComponent(t, addr, ircDomain, ircSecret)
	waitFor(t, "Connected", func() bool { return s.Connected(ircDomain) })

	second := xmpptest.DialComponent(t, addr, xmpptest.ComponentHeader(ircDomain))
	second.ReadHeader()
	second.Handshake(ircSecret)
	second.ExpectStreamError(stream.Conflict)

	// An impostor without the secret learns nothing: not-authorized.
	third := xmpptest.DialComponent(t, addr, xmpptest.ComponentHeader(ircDomain))
	third.ReadHeader()
	third.Handshake("guess")
	third.ExpectStreamError(stream.NotAuthorized)

	first.Send("<message from='#chan%irc.example.net@" + ircDomain + "/nick' to='alice@example.org' type='groupchat'><body>still here</body></message>")
	if st := r.next(t); st.El.ChildText(xmlstream.NSComponent, "body") != "still here" {
		t.Errorf("routed %v, want the first component's message", st.El)
	}
	if !s.Send(ircDomain, xmlstream.New(xmlstream.NSClient, "message").SetAttr("to", ircDomain)) {
		t.Fatal("Send to the first component failed")
	}
	if el := first.Next(); !el.Is(xmlstream.NSComponent, "message") {
		t.Errorf("the first component got %v, want the message", el)
	}
}

// TestStanzas: what a component sends is checked and routed; what is sent
// to it arrives in its namespace.
func TestStanzas(t *testing.T) {
	s, r, addr := testServer(t, nil)
	p := xmpptest.ConnectComponent(t, addr, ircDomain, ircSecret)

	p.Send(`<message from='#chan%irc.example.net@irc.example.org/bob' to='alice@example.org/phone' type='groupchat' id='m1'><body>hi &amp; bye</body></message>`)
	st := r.next(t)
	if st.Kind != stanza.Message || st.From.String() != "#chan%irc.example.net@irc.example.org/bob" ||
		st.To.String() != "alice@example.org/phone" || st.ID != "m1" || st.Type != stanza.TypeGroupchat {
		t.Errorf("routed %+v", st)
	}
	if got := st.El.ChildText(st.El.Name.Space, "body"); got != "hi & bye" {
		t.Errorf("body %q, want %q", got, "hi & bye")
	}
	// Written to a client it is a jabber:client stanza.
	if got, want := string(xmlstream.AppendElement(nil, st.El, xmlstream.NSClient)),
		`<message from="#chan%irc.example.net@irc.example.org/bob" to="alice@example.org/phone" type="groupchat" id="m1"><body>hi &amp; bye</body></message>`; got != want {
		t.Errorf("written to a client:\n%s\nwant\n%s", got, want)
	}

	// No from: the component's domain, as Prosody takes it.
	p.Send(`<presence to='alice@example.org'/>`)
	if st := r.next(t); st.From.String() != ircDomain || st.El.Get("from") != ircDomain {
		t.Errorf("routed from %q (attribute %q), want %q", st.From, st.El.Get("from"), ircDomain)
	}

	// No to: a stanza error back, the stream goes on.
	p.Send(`<iq type='get' id='q1' from='` + ircDomain + `'><query xmlns='jabber:iq:version'/></iq>`)
	el := p.Next()
	if !el.Is(xmlstream.NSComponent, "iq") || el.Get("type") != "error" || el.Get("id") != "q1" ||
		el.Child(xmlstream.NSComponent, "error").Child(stanza.NSStanzas, string(stanza.BadRequest)) == nil {
		t.Errorf("got %v, want a bad-request error for q1", el)
	}
	// A bad to: jid-malformed, back.
	p.Send(`<message from='` + ircDomain + `' to='a@b@c' id='m2'><body>x</body></message>`)
	el = p.Next()
	if el.Get("type") != "error" || el.Get("id") != "m2" ||
		el.Child(xmlstream.NSComponent, "error").Child(stanza.NSStanzas, string(stanza.JIDMalformed)) == nil {
		t.Errorf("got %v, want a jid-malformed error for m2", el)
	}
	// An error without to gets no error back.
	p.Send(`<message from='` + ircDomain + `' type='error' id='m3'/>`)

	// Stanzas to the component.
	msg := xmlstream.New(xmlstream.NSClient, "message").SetAttr("from", "alice@example.org/phone").
		SetAttr("to", "#chan%irc.example.net@"+ircDomain).SetAttr("type", "groupchat").
		Append(xmlstream.New(xmlstream.NSClient, "body").AppendText("hello <irc>"))
	if !s.Send(ircDomain, msg) {
		t.Fatal("Send failed")
	}
	el = p.Next()
	if !el.Is(xmlstream.NSComponent, "message") || el.Get("from") != "alice@example.org/phone" ||
		el.ChildText(xmlstream.NSComponent, "body") != "hello <irc>" {
		t.Errorf("the component got %v", el)
	}
	if r.count() != 0 {
		t.Errorf("%d more stanzas routed, want none", r.count())
	}
	if s.Send("bridge.example.org", msg) {
		t.Error("Send to a component that is not connected succeeded")
	}
}

func TestStreamErrors(t *testing.T) {
	tests := []struct {
		name string
		send string
		want stream.Condition
	}{
		{"from another domain", `<message from='alice@example.org' to='bob@example.org'><body>spoof</body></message>`, stream.InvalidFrom},
		{"from a subdomain", `<message from='x.irc.example.org' to='bob@example.org'/>`, stream.InvalidFrom},
		{"from the other component", `<message from='bridge.example.org' to='bob@example.org'/>`, stream.InvalidFrom},
		{"malformed from", `<message from='@irc.example.org' to='bob@example.org'/>`, stream.InvalidFrom},
		{"not a stanza", `<foo xmlns='jabber:component:accept'/>`, stream.UnsupportedStanzaType},
		{"second handshake", `<handshake/>`, stream.UnsupportedStanzaType},
		{"oversized stanza", `<message from='irc.example.org' to='bob@example.org'><body>` + strings.Repeat("x", 10001) + `</body></message>`, stream.PolicyViolation},
		{"not well-formed", `<message from='irc.example.org' to='bob@example.org'><body></message>`, stream.NotWellFormed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, r, addr := testServer(t, nil)
			p := xmpptest.ConnectComponent(t, addr, ircDomain, ircSecret)
			p.Send(tt.send)
			p.ExpectStreamError(tt.want)
			if n := r.count(); n != 0 {
				t.Errorf("%d stanzas routed, want none", n)
			}
			waitFor(t, "disconnected", func() bool { return !s.Connected(ircDomain) })
			// The domain is free again.
			xmpptest.ConnectComponent(t, addr, ircDomain, ircSecret)
		})
	}
}

func TestIdlePing(t *testing.T) {
	_, r, addr := testServer(t, func(o *Options) {
		o.IdleTimeout = 300 * time.Millisecond
		o.PingTimeout = 300 * time.Millisecond
	})
	p := xmpptest.ConnectComponent(t, addr, ircDomain, ircSecret)
	ping := p.Next()
	if !ping.Is(xmlstream.NSComponent, "iq") || ping.Get("type") != "get" || ping.Get("from") != "example.org" ||
		ping.Get("to") != ircDomain || ping.Child(nsPing, "ping") == nil {
		t.Fatalf("got %v, want a ping", ping)
	}
	// The answer keeps the stream and is not routed.
	p.Send(fmt.Sprintf(`<iq type='result' id='%s' from='%s' to='example.org'/>`, ping.Get("id"), ircDomain))
	ping = p.Next()
	if ping.Child(nsPing, "ping") == nil {
		t.Fatalf("got %v, want a second ping", ping)
	}
	// No answer: connection-timeout.
	p.ExpectStreamError(stream.ConnectionTimeout)
	if n := r.count(); n != 0 {
		t.Errorf("%d stanzas routed, want none (the pong is ours)", n)
	}
}

func TestKeepalive(t *testing.T) {
	_, _, addr := testServer(t, func(o *Options) { o.KeepaliveInterval = 50 * time.Millisecond })
	p := xmpptest.ConnectComponent(t, addr, ircDomain, ircSecret)
	var b [1]byte
	if _, err := io.ReadFull(p.Conn, b[:]); err != nil || b[0] != ' ' {
		t.Fatalf("read %q, %v; want a whitespace keepalive", b, err)
	}
}

func TestSlowComponent(t *testing.T) {
	s, _, addr := testServer(t, func(o *Options) { o.QueueDepth = 4 })
	p := xmpptest.ConnectComponent(t, addr, ircDomain, ircSecret)
	big := xmlstream.New(xmlstream.NSClient, "message").SetAttr("to", ircDomain).
		Append(xmlstream.New(xmlstream.NSClient, "body").AppendText(strings.Repeat("x", 60000)))
	// The component reads nothing: the socket buffers fill, the writer
	// blocks, the queue fills.
	refused := false
	for range 10000 {
		if !s.Send(ircDomain, big) {
			refused = true
			break
		}
	}
	if !refused {
		t.Fatal("Send never refused a component that does not read")
	}
	_ = p.Conn.SetDeadline(time.Now().Add(30 * time.Second))
	p.ExpectStreamError(stream.PolicyViolation)
}

func TestShutdown(t *testing.T) {
	r := newRouted()
	s := New(Options{Secrets: map[string]string{ircDomain: ircSecret}, Logger: slog.New(slog.DiscardHandler)}, r)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(context.Background(), ln) }()
	addr := ln.Addr().String()
	running := xmpptest.ConnectComponent(t, addr, ircDomain, ircSecret)
	negotiating := xmpptest.DialComponent(t, addr, xmpptest.ComponentHeader(ircDomain))
	negotiating.ReadHeader()
	waitFor(t, "two connections", func() bool { return s.ConnCount() == 2 })

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(ctx) }()
	running.ExpectStreamError(stream.SystemShutdown)
	negotiating.ExpectStreamError(stream.SystemShutdown)
	_ = running.Conn.Close()
	_ = negotiating.Conn.Close()
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve returned %v, want ErrServerClosed", err)
	}
	if n := s.ConnCount(); n != 0 {
		t.Errorf("%d connections after Shutdown", n)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("still accepting after Shutdown")
	}
}

func TestMaxConnsPerIP(t *testing.T) {
	s, _, addr := testServer(t, func(o *Options) { o.MaxConnsPerIP = 1 })
	first := xmpptest.DialComponent(t, addr, xmpptest.ComponentHeader(ircDomain))
	first.ReadHeader()
	waitFor(t, "one connection", func() bool { return s.ConnCount() == 1 })
	second, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	_ = second.SetDeadline(time.Now().Add(5 * time.Second))
	if n, err := second.Read(make([]byte, 1)); err == nil {
		t.Errorf("the second connection from one address read %d bytes, want it closed", n)
	}
}

func TestServeUnknownDomain(t *testing.T) {
	s := New(Options{Secrets: map[string]string{ircDomain: ircSecret}}, newRouted())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := s.Serve(context.Background(), ln, "nope.example.org"); err == nil {
		t.Error("Serve for an unconfigured domain succeeded")
	}
}

// TestPanic: a panic while handling a component's stanza closes its
// connection only, and frees its domain.
func TestPanic(t *testing.T) {
	s, r, addr := testServer(t, nil)
	irc := xmpptest.ConnectComponent(t, addr, ircDomain, ircSecret)
	bridge := xmpptest.ConnectComponent(t, addr, "bridge.example.org", "other")
	irc.Send(`<message from='irc.example.org' to='a@example.org' id='panic'/>`)
	if _, err := io.ReadAll(irc.Conn); err != nil {
		t.Fatalf("reading until the server closes: %v", err)
	}
	waitFor(t, "disconnected", func() bool { return !s.Connected(ircDomain) })
	bridge.Send(`<message from='bridge.example.org' to='a@example.org' id='ok'/>`)
	if st := r.next(t); st.ID != "ok" {
		t.Errorf("routed %v, want the other component's message", st.El)
	}
	xmpptest.ConnectComponent(t, addr, ircDomain, ircSecret)
}
