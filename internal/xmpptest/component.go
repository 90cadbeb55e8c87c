package xmpptest

import (
	"crypto/sha1" //nolint:gosec // XEP-0114 §3 defines the handshake with SHA-1.
	"encoding/hex"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"roost/stream"
	"roost/xmlstream"
)

// Component is the component's side of an external component stream
// (XEP-0114), for tests of the server's side.
type Component struct {
	t testing.TB
	// Conn is the connection, for tests that read or write raw bytes.
	Conn net.Conn
	dec  *xmlstream.Decoder
	// Header is the server's stream header, once ReadHeader has read it.
	Header *xmlstream.Element
}

// ComponentHeader is the stream header a component sends for domain.
func ComponentHeader(domain string) string {
	return `<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='` + domain + `'>`
}

// DialComponent connects to addr and sends header; every read and write
// must be done within 10 seconds. The connection closes when the test
// ends.
func DialComponent(t testing.TB, addr, header string) *Component {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	c := &Component{t: t, Conn: nc, dec: xmlstream.NewDecoder(nc, xmlstream.Limits{})}
	c.Send(header)
	return c
}

// ConnectComponent opens an authenticated stream for domain.
func ConnectComponent(t testing.TB, addr, domain, secret string) *Component {
	t.Helper()
	c := DialComponent(t, addr, ComponentHeader(domain))
	c.ReadHeader()
	c.Handshake(secret)
	if el := c.Next(); !el.Is(xmlstream.NSComponent, "handshake") || el.FirstChild() != nil || el.Text() != "" {
		t.Fatalf("after the handshake the server sent %v, want an empty <handshake/>", el)
	}
	return c
}

// Send writes s.
func (c *Component) Send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.Conn, s); err != nil {
		c.t.Fatal(err)
	}
}

// ReadHeader reads the server's stream header.
func (c *Component) ReadHeader() {
	c.t.Helper()
	hdr, err := c.dec.ReadHeader()
	if err != nil {
		c.t.Fatalf("reading the server's stream header: %v", err)
	}
	c.Header = hdr
}

// Handshake sends the handshake for secret (XEP-0114 §3).
func (c *Component) Handshake(secret string) {
	c.t.Helper()
	sum := sha1.Sum([]byte(c.Header.Get("id") + secret)) //nolint:gosec // see the import
	c.Send("<handshake>" + hex.EncodeToString(sum[:]) + "</handshake>")
}

// Next reads the next element from the server.
func (c *Component) Next() *xmlstream.Element {
	c.t.Helper()
	el, err := c.dec.ReadElement()
	if err != nil {
		c.t.Fatalf("reading from the server: %v", err)
	}
	return el
}

// ExpectStreamError reads until the server's stream error, checks its
// condition, then that the server closed the stream.
func (c *Component) ExpectStreamError(cond stream.Condition) {
	c.t.Helper()
	for {
		el, err := c.dec.ReadElement()
		if err != nil {
			c.t.Fatalf("reading: %v, want the stream error %s", err, cond)
		}
		if !el.Is(xmlstream.NSStream, "error") {
			continue
		}
		if got := stream.ParseError(el); got.Condition != cond {
			c.t.Fatalf("stream error %s (%s), want %s", got.Condition, got.Text, cond)
		}
		break
	}
	if _, err := c.dec.ReadElement(); !errors.Is(err, xmlstream.ErrStreamEnd) {
		c.t.Errorf("after the stream error: %v, want the closing tag", err)
	}
}
