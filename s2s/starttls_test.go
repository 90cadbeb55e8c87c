package s2s

import (
	"crypto/tls"
	"net"
	"testing"
	"time"

	"roost/stream"
	"roost/xmlstream"
)

// Whitespace sent with <starttls/> or <proceed/> is dropped before the
// handshake (RFC 6120 §11.7); any other byte is refused with
// policy-violation (§5.4.3.3), in both directions.
var afterStartTLS = []struct {
	name  string
	after string
	ok    bool
}{
	{"a newline", "\n", true},
	{"spaces and tabs", " \t  \t ", true},
	{"an element", "<db:verify from='c.example' to='b.example' id='x'>00</db:verify>", false},
	{"whitespace, then an element", "\n<db:verify from='c.example' to='b.example' id='x'>00</db:verify>", false},
}

// TestWhitespaceAfterStartTLS is the inbound direction: a peer's
// <starttls/>.
func TestWhitespaceAfterStartTLS(t *testing.T) {
	w := newWorld(t)
	b := w.start([]string{"b.example"}, peerConfig{cert: selfSigned(t, "b.example")})
	for _, tc := range afterStartTLS {
		t.Run(tc.name, func(t *testing.T) {
			f := dialFake(t, b.ln.Addr().String())
			f.open("c.example", "b.example")
			f.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>" + tc.after) // one write, one read
			if !tc.ok {
				f.expectError(stream.PolicyViolation)
				return
			}
			if el := f.next(); !el.Is(stream.NSTLS, "proceed") {
				t.Fatalf("got %s, want <proceed/>", el)
			}
			secure := tls.Client(f.nc, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}) //nolint:gosec // a test peer
			if err := secure.Handshake(); err != nil {
				t.Fatalf("TLS handshake after the whitespace: %v", err)
			}
			f.nc = secure
			f.dec = xmlstream.NewDecoder(secure, xmlstream.Limits{})
			if features := f.open("c.example", "b.example"); !features.Is(xmlstream.NSStream, "features") {
				t.Fatalf("got %s over TLS, want features", features)
			}
		})
	}
}

// TestWhitespaceAfterProceed is the outbound direction: a peer server's
// <proceed/>, on the stream we opened to deliver a stanza.
func TestWhitespaceAfterProceed(t *testing.T) {
	for _, tc := range afterStartTLS {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			a := w.start([]string{"a.example"}, peerConfig{cert: selfSigned(t, "a.example")})
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			w.publish("b.example", ln.Addr(), false)
			cert := selfSigned(t, "b.example")
			result := make(chan string, 1)
			go func() { result <- proceedWith(ln, cert, tc.after, tc.ok) }()
			a.send(t, message("alice@a.example/x", "bob@b.example", "hi"))
			select {
			case got := <-result:
				want := "policy-violation"
				if tc.ok {
					want = "stream header from a.example over TLS"
				}
				if got != want {
					t.Fatalf("the peer saw %q, want %q", got, want)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("the outbound stream never got past <proceed/>")
			}
			if !tc.ok {
				// The stanza bounces to its sender.
				if st := a.router.next(t); st.Type != "error" {
					t.Errorf("got %s, want the message bounced", st.El)
				}
			}
		})
	}
}

// proceedWith plays a peer server on ln up to STARTTLS: it answers
// <starttls/> with <proceed/> and after in one write, then, if handshake,
// runs the TLS handshake and reports the stream header it gets over TLS;
// otherwise it reports the stream error condition it gets in the clear.
func proceedWith(ln net.Listener, cert tls.Certificate, after string, handshake bool) string {
	nc, err := ln.Accept()
	if err != nil {
		return err.Error()
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(15 * time.Second))
	dec := xmlstream.NewDecoder(nc, xmlstream.Limits{})
	if _, err := dec.ReadHeader(); err != nil {
		return "reading the header: " + err.Error()
	}
	hdr := stream.AppendHeader(nil, stream.Header{From: "b.example", ID: "s1", Version: "1.0", ContentNS: xmlstream.NSServer, Dialback: true})
	features := "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>"
	if _, err := nc.Write(append(hdr, features...)); err != nil {
		return err.Error()
	}
	if el, err := dec.ReadElement(); err != nil || !el.Is(stream.NSTLS, "starttls") {
		return "want <starttls/>"
	}
	if _, err := nc.Write([]byte("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>" + after)); err != nil {
		return err.Error()
	}
	if !handshake {
		el, err := dec.ReadElement()
		if err != nil || !el.Is(xmlstream.NSStream, "error") {
			return "want a stream error"
		}
		return string(stream.ParseError(el).Condition)
	}
	secure := tls.Server(nc, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err := secure.Handshake(); err != nil {
		return "TLS handshake: " + err.Error()
	}
	h, err := xmlstream.NewDecoder(secure, xmlstream.Limits{}).ReadHeader()
	if err != nil {
		return "reading the header over TLS: " + err.Error()
	}
	return "stream header from " + h.Get("from") + " over TLS"
}
