package s2s

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"roost/dialback"
	"roost/internal/xmpptest"
	"roost/stanza"
	"roost/stream"
	"roost/xmlstream"
)

// fake is a hand-driven server-to-server peer, for sending what a real
// server would not.
type fake struct {
	t   *testing.T
	nc  net.Conn
	dec *xmlstream.Decoder
	id  string // the stream id the server gave us
}

func dialFake(t *testing.T, addr string) *fake {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	return &fake{t: t, nc: nc, dec: xmlstream.NewDecoder(nc, xmlstream.Limits{})}
}

func (f *fake) send(s string) {
	f.t.Helper()
	if _, err := io.WriteString(f.nc, s); err != nil {
		f.t.Fatalf("send %q: %v", s, err)
	}
}

// open sends a stream header and returns the server's features.
func (f *fake) open(from, to string) *xmlstream.Element {
	f.t.Helper()
	f.send(string(stream.AppendHeader(nil, stream.Header{From: from, To: to, Version: "1.0", ContentNS: xmlstream.NSServer, Dialback: true})))
	hdr, err := f.dec.ReadHeader()
	if err != nil {
		f.t.Fatalf("reading the stream header: %v", err)
	}
	f.id = hdr.Get("id")
	return f.next()
}

func (f *fake) next() *xmlstream.Element {
	f.t.Helper()
	el, err := f.dec.ReadElement()
	if err != nil {
		f.t.Fatalf("read: %v", err)
	}
	return el
}

// starttls upgrades the connection, presenting cert if not nil, and
// reopens the stream.
func (f *fake) starttls(from, to string, cert *tls.Certificate) *xmlstream.Element {
	f.t.Helper()
	f.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
	if el := f.next(); !el.Is(stream.NSTLS, "proceed") {
		f.t.Fatalf("got %s, want <proceed/>", el)
	}
	cfg := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} //nolint:gosec // a test peer
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	tc := tls.Client(f.nc, cfg)
	if err := tc.Handshake(); err != nil {
		f.t.Fatal(err)
	}
	f.nc = tc
	f.dec = xmlstream.NewDecoder(tc, xmlstream.Limits{})
	return f.open(from, to)
}

// expectError reads until the server's stream error and checks it, and
// that the stream then ends.
func (f *fake) expectError(cond stream.Condition) {
	f.t.Helper()
	for {
		el, err := f.dec.ReadElement()
		if err != nil {
			f.t.Fatalf("read: %v, want stream error %s", err, cond)
		}
		if el.Is(xmlstream.NSStream, "error") {
			if got := stream.ParseError(el); got.Condition != cond {
				f.t.Fatalf("stream error %s (%s), want %s", got.Condition, got.Text, cond)
			}
			if _, err := f.dec.ReadElement(); !errors.Is(err, xmlstream.ErrStreamEnd) && !errors.Is(err, io.EOF) {
				f.t.Errorf("after the stream error: %v, want the stream closed", err)
			}
			return
		}
	}
}

func dialbackResult(t *testing.T, el *xmlstream.Element) dialback.Element {
	t.Helper()
	e, err := dialback.Parse(el)
	if err != nil {
		t.Fatalf("got %s, want a dialback element: %v", el, err)
	}
	return e
}

// TestSpoofedDialback: a server claiming to be a.example with a key a.example's
// authoritative server did not make is refused, and none of its stanzas
// get through.
func TestSpoofedDialback(t *testing.T) {
	w := newWorld(t)
	w.start([]string{"a.example"}, peerConfig{cert: selfSigned(t, "a.example")})
	b := w.start([]string{"b.example"}, peerConfig{cert: selfSigned(t, "b.example")})

	f := dialFake(t, b.ln.Addr().String())
	f.open("a.example", "b.example")
	f.starttls("a.example", "b.example", nil)
	f.send("<db:result from='a.example' to='b.example'>" + strings.Repeat("ab", 32) + "</db:result>")
	res := dialbackResult(t, f.next())
	if res.Kind != dialback.Result || res.Type != dialback.Invalid || res.From != "b.example" || res.To != "a.example" {
		t.Fatalf("got %+v, want an invalid result", res)
	}
	f.expectError(stream.NotAuthorized)
	b.router.none(t, 200*time.Millisecond)
}

// TestClaimingOurOwnDomain: a peer claiming to be the very server it talks
// to is refused without any connection being made.
func TestClaimingOurOwnDomain(t *testing.T) {
	w := newWorld(t)
	b := w.start([]string{"b.example"}, peerConfig{cert: selfSigned(t, "b.example")})
	f := dialFake(t, b.ln.Addr().String())
	f.open("b.example", "b.example")
	f.starttls("b.example", "b.example", nil)
	f.send("<db:result from='b.example' to='b.example'>" + strings.Repeat("ab", 32) + "</db:result>")
	if res := dialbackResult(t, f.next()); res.Type != dialback.Invalid {
		t.Fatalf("got %+v, want an invalid result", res)
	}
	f.expectError(stream.NotAuthorized)
	if _, out := b.srv.Stats(); out != 0 {
		t.Errorf("%d outbound streams, want none", out)
	}
}

// TestInboundChecks drives inbound streams that break the rules.
func TestInboundChecks(t *testing.T) {
	w := newWorld(t)
	ca := xmpptest.NewCA(t)
	b := w.start([]string{"b.example", "conference.b.example"}, peerConfig{
		opts: Options{RootCAs: fixedRoots(ca.Pool), NegotiationTimeout: 2 * time.Second},
		cert: ca.Issue(t, "b.example"),
	})
	evilCert := ca.Issue(t, "evil.example")
	addr := b.ln.Addr().String()

	// external authenticates a fake as evil.example with SASL EXTERNAL.
	external := func(t *testing.T) *fake {
		f := dialFake(t, addr)
		f.open("evil.example", "b.example")
		features := f.starttls("evil.example", "b.example", &evilCert)
		if m := features.Child(stream.NSSASL, "mechanisms"); m == nil || m.ChildText(stream.NSSASL, "mechanism") != "EXTERNAL" {
			t.Fatalf("features %s, want SASL EXTERNAL offered", features)
		}
		f.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>=</auth>")
		if el := f.next(); !el.Is(stream.NSSASL, "success") {
			t.Fatalf("got %s, want <success/>", el)
		}
		f.open("evil.example", "b.example")
		return f
	}

	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"stanza before TLS", func(t *testing.T) {
			f := dialFake(t, addr)
			f.open("evil.example", "b.example")
			f.send("<message from='x@evil.example' to='bob@b.example'/>")
			f.expectError(stream.PolicyViolation)
		}},
		{"stream to a domain not hosted", func(t *testing.T) {
			f := dialFake(t, addr)
			f.send(string(stream.AppendHeader(nil, stream.Header{From: "evil.example", To: "other.example", Version: "1.0", ContentNS: xmlstream.NSServer, Dialback: true})))
			if _, err := f.dec.ReadHeader(); err != nil {
				t.Fatal(err)
			}
			f.expectError(stream.HostUnknown)
		}},
		{"stanza before authentication", func(t *testing.T) {
			f := dialFake(t, addr)
			f.open("evil.example", "b.example")
			f.starttls("evil.example", "b.example", nil)
			f.send("<message from='x@evil.example' to='bob@b.example'/>")
			f.expectError(stream.NotAuthorized)
		}},
		{"EXTERNAL with a certificate for another domain", func(t *testing.T) {
			f := dialFake(t, addr)
			f.open("other.example", "b.example")
			features := f.starttls("other.example", "b.example", &evilCert)
			if features.Child(stream.NSSASL, "mechanisms") != nil {
				t.Fatalf("features %s offer SASL for a certificate that does not match", features)
			}
			f.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>=</auth>")
			if el := f.next(); !el.Is(stream.NSSASL, "failure") {
				t.Fatalf("got %s, want <failure/>", el)
			}
		}},
		{"EXTERNAL for another identity", func(t *testing.T) {
			f := dialFake(t, addr)
			f.open("evil.example", "b.example")
			f.starttls("evil.example", "b.example", &evilCert)
			f.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>YS5leGFtcGxl</auth>") // a.example
			el := f.next()
			if !el.Is(stream.NSSASL, "failure") || el.Child(stream.NSSASL, "invalid-authzid") == nil {
				t.Fatalf("got %s, want invalid-authzid", el)
			}
		}},
		{"from a domain not authenticated", func(t *testing.T) {
			f := external(t)
			f.send("<message from='alice@a.example/x' to='bob@b.example'><body>spoofed</body></message>")
			f.expectError(stream.InvalidFrom)
		}},
		{"to a domain not hosted", func(t *testing.T) {
			f := external(t)
			f.send("<message from='x@evil.example' to='bob@other.example'/>")
			f.expectError(stream.HostUnknown)
		}},
		{"without from", func(t *testing.T) {
			f := external(t)
			f.send("<message to='bob@b.example'/>")
			f.expectError(stream.ImproperAddressing)
		}},
		{"with a malformed to", func(t *testing.T) {
			f := external(t)
			f.send("<message from='x@evil.example' to='@b.example'/>")
			f.expectError(stream.ImproperAddressing)
		}},
		{"unsolicited dialback result", func(t *testing.T) {
			f := dialFake(t, addr)
			f.open("a.example", "b.example")
			f.starttls("a.example", "b.example", nil)
			f.send("<db:result from='a.example' to='b.example' type='valid'/>")
			f.send("<message from='alice@a.example/x' to='bob@b.example'/>")
			f.expectError(stream.NotAuthorized)
		}},
		{"stalls before TLS", func(t *testing.T) {
			f := dialFake(t, addr)
			f.open("evil.example", "b.example")
			start := time.Now()
			f.expectError(stream.ConnectionTimeout)
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("dropped after %v", d)
			}
		}},
		{"stalls after TLS", func(t *testing.T) {
			f := dialFake(t, addr)
			f.open("evil.example", "b.example")
			f.starttls("evil.example", "b.example", nil)
			f.expectError(stream.ConnectionTimeout)
		}},
		{"says nothing at all", func(t *testing.T) {
			// RFC 6120 §4.9.1.1: the error comes after a header of ours.
			f := dialFake(t, addr)
			if _, err := f.dec.ReadHeader(); err != nil {
				t.Fatal(err)
			}
			f.expectError(stream.ConnectionTimeout)
		}},
		{"authenticated stanza is delivered", func(t *testing.T) {
			f := external(t)
			f.send("<message from='x@evil.example/r' to='bob@b.example' type='chat'><body>legit</body></message>")
			checkDelivered(t, b.router.next(t), "x@evil.example/r", "bob@b.example", "legit")
		}},
		{"authenticated sender to another of our domains", func(t *testing.T) {
			f := external(t)
			f.send("<message from='x@evil.example/r' to='room@conference.b.example' type='groupchat'><body>legit</body></message>")
			checkDelivered(t, b.router.next(t), "x@evil.example/r", "room@conference.b.example", "legit")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
	b.router.none(t, 100*time.Millisecond)
}

// TestAuthoritative: we answer <db:verify/> for our own keys, before and
// after TLS, and refuse everything else.
func TestAuthoritative(t *testing.T) {
	w := newWorld(t)
	b := w.start([]string{"b.example"}, peerConfig{cert: selfSigned(t, "b.example")})
	good := b.srv.keys.Key("c.example", "b.example", "sid1")
	tests := []struct {
		name     string
		tls      bool
		verify   string
		wantType dialback.Type
		wantCond stanza.Condition
	}{
		{"our key in the clear", false, "<db:verify from='c.example' to='b.example' id='sid1'>" + good + "</db:verify>", dialback.Valid, ""},
		{"our key over TLS", true, "<db:verify from='c.example' to='b.example' id='sid1'>" + good + "</db:verify>", dialback.Valid, ""},
		{"for another stream", true, "<db:verify from='c.example' to='b.example' id='sid2'>" + good + "</db:verify>", dialback.Invalid, ""},
		{"for another receiving server", true, "<db:verify from='d.example' to='b.example' id='sid1'>" + good + "</db:verify>", dialback.Invalid, ""},
		{"for a domain not ours", true, "<db:verify from='c.example' to='x.example' id='sid1'>" + good + "</db:verify>", dialback.Error, stanza.ItemNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := dialFake(t, b.ln.Addr().String())
			f.open("c.example", "b.example")
			if tc.tls {
				f.starttls("c.example", "b.example", nil)
			}
			f.send(tc.verify)
			got := dialbackResult(t, f.next())
			if got.Kind != dialback.Verify || got.Type != tc.wantType || got.To != "c.example" && got.To != "d.example" {
				t.Fatalf("got %+v, want a %s verify answer", got, tc.wantType)
			}
			if tc.wantCond != "" && (got.Err == nil || got.Err.Condition != tc.wantCond) {
				t.Errorf("error %v, want %s", got.Err, tc.wantCond)
			}
		})
	}
}

// TestCertificatePolicy: with require_valid_certificates, peers without a
// valid certificate are refused, in both directions.
func TestCertificatePolicy(t *testing.T) {
	w := newWorld(t)
	strict := w.start([]string{"strict.example"}, peerConfig{
		opts: Options{RequireValidCertificates: true, RootCAs: fixedRoots(x509.NewCertPool())},
		cert: selfSigned(t, "strict.example"),
	})
	lax := w.start([]string{"lax.example"}, peerConfig{cert: selfSigned(t, "lax.example")})

	// strict does not accept lax's certificate.
	strict.send(t, message("s@strict.example/x", "l@lax.example", "hi"))
	got := strict.router.next(t)
	if se := stanza.ParseError(got.El); got.Type != stanza.TypeError || se.Condition != stanza.RemoteServerNotFound {
		t.Errorf("strict → lax: got %s, want remote-server-not-found", got.El)
	}
	// lax may connect, but strict refuses its dialback.
	lax.send(t, message("l@lax.example/x", "s@strict.example", "hi"))
	got = lax.router.next(t)
	if se := stanza.ParseError(got.El); got.Type != stanza.TypeError || se.Condition != stanza.RemoteServerTimeout {
		t.Errorf("lax → strict: got %s, want remote-server-timeout", got.El)
	}
	strict.router.none(t, 200*time.Millisecond)
}

// TestIdleAndQueue: idle streams close; a route's queue is bounded.
func TestIdleAndQueue(t *testing.T) {
	w := newWorld(t)
	a := w.start([]string{"a.example"}, peerConfig{opts: Options{IdleTimeout: 300 * time.Millisecond}, cert: selfSigned(t, "a.example")})
	b := w.start([]string{"b.example"}, peerConfig{opts: Options{IdleTimeout: 300 * time.Millisecond}, cert: selfSigned(t, "b.example")})
	a.send(t, message("alice@a.example/x", "bob@b.example", "hi"))
	b.router.next(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		ain, aout := a.srv.Stats()
		bin, bout := b.srv.Stats()
		if ain+aout+bin+bout == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("streams still open: a in %d out %d, b in %d out %d", ain, aout, bin, bout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A new stanza opens a new stream.
	a.send(t, message("alice@a.example/x", "bob@b.example", "again"))
	checkDelivered(t, b.router.next(t), "alice@a.example/x", "bob@b.example", "again")

	// A peer that never answers: the queue fills up.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	w.publish("silent.example", silent.Addr(), false)
	q := w.start([]string{"q.example"}, peerConfig{opts: Options{QueueDepth: 2}, cert: selfSigned(t, "q.example")})
	for i := range 3 {
		st := xmpptest.Stanza(t, message("u@q.example/x", "v@silent.example", "m"))
		err := q.srv.SendRemote(context.Background(), st)
		var se *stanza.Error
		switch {
		case i < 2 && err != nil:
			t.Fatalf("stanza %d: %v", i, err)
		case i == 2 && (!errors.As(err, &se) || se.Condition != stanza.ResourceConstraint):
			t.Fatalf("stanza %d: %v, want resource-constraint", i, err)
		}
	}
	if got := q.srv.opts.Metrics.S2SQueueFull.Load(); got != 1 {
		t.Errorf("stanzas refused for a full queue = %d, want 1", got)
	}
	// Not ours to send.
	if err := q.srv.SendRemote(context.Background(), xmpptest.Stanza(t, message("u@elsewhere.example/x", "v@b.example", "m"))); !errors.Is(err, &stanza.Error{Condition: stanza.NotAllowed}) {
		t.Errorf("relaying: %v, want not-allowed", err)
	}
}
