package stream

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"

	"roost/xmlstream"
)

// Namespaces of the stream layer (RFC 6120 §4.8, §5, §6, §7).
const (
	NSStreams  = "urn:ietf:params:xml:ns:xmpp-streams"
	NSTLS      = "urn:ietf:params:xml:ns:xmpp-tls"
	NSSASL     = "urn:ietf:params:xml:ns:xmpp-sasl"
	NSBind     = "urn:ietf:params:xml:ns:xmpp-bind"
	NSSession  = "urn:ietf:params:xml:ns:xmpp-session" // RFC 3921 legacy, advertised optional
	NSDialback = "jabber:server:dialback"
)

// Close is the closing stream tag.
const Close = "</stream:stream>"

// Header is a stream header (RFC 6120 §4.7).
type Header struct {
	From, To, ID, Version, Lang string
	// ContentNS is the default namespace: jabber:client or jabber:server.
	ContentNS string
	// Dialback declares the jabber:server:dialback prefix "db" (XEP-0220).
	Dialback bool
}

// ParseHeader validates a received stream header against the content
// namespace the connection expects (contentNS as reported by the decoder).
func ParseHeader(el *xmlstream.Element, contentNS, want string) (Header, *Error) {
	h := headerAttrs(el)
	h.ContentNS = contentNS
	if el.Name.Local != "stream" || el.Name.Space != xmlstream.NSStream {
		return h, &Error{Condition: InvalidNamespace, Text: "the stream element must be {http://etherx.jabber.org/streams}stream"}
	}
	if contentNS != want {
		return h, &Error{Condition: InvalidNamespace, Text: "the content namespace must be " + want}
	}
	return h, checkVersion(h.Version)
}

// headerAttrs reads the attributes a stream header and an <open/> share
// (RFC 6120 §4.7, RFC 7395 §3.3.1).
func headerAttrs(el *xmlstream.Element) Header {
	var h Header
	for _, a := range el.Attrs {
		switch {
		case a.Name.Space == xmlstream.NSXML && a.Name.Local == "lang":
			h.Lang = a.Value
		case a.Name.Space != "":
		case a.Name.Local == "from":
			h.From = a.Value
		case a.Name.Local == "to":
			h.To = a.Value
		case a.Name.Local == "id":
			h.ID = a.Value
		case a.Name.Local == "version":
			h.Version = a.Value
		}
	}
	return h
}

// checkVersion: §4.7.5: no version means 0.9, which we do not speak; a
// higher minor version is still 1.x and we answer with 1.0.
func checkVersion(v string) *Error {
	major, _, _ := strings.Cut(v, ".")
	if major != "1" {
		return &Error{Condition: UnsupportedVersion, Text: "XMPP 1.0 is required"}
	}
	return nil
}

// AppendHeader appends the XML declaration and the opening stream tag.
func AppendHeader(dst []byte, h Header) []byte {
	dst = append(dst, `<?xml version='1.0'?><stream:stream xmlns="`...)
	dst = xmlstream.AppendEscapedAttr(dst, h.ContentNS)
	dst = append(dst, `" xmlns:stream="http://etherx.jabber.org/streams"`...)
	if h.Dialback {
		dst = append(dst, ` xmlns:db="jabber:server:dialback"`...)
	}
	return append(appendHeaderAttrs(dst, h), '>')
}

// appendHeaderAttrs appends the attributes of h that are set.
func appendHeaderAttrs(dst []byte, h Header) []byte {
	for _, a := range [...][2]string{{"id", h.ID}, {"from", h.From}, {"to", h.To}, {"version", h.Version}, {"xml:lang", h.Lang}} {
		if a[1] == "" {
			continue
		}
		dst = append(dst, ' ')
		dst = append(dst, a[0]...)
		dst = append(dst, `="`...)
		dst = xmlstream.AppendEscapedAttr(dst, a[1])
		dst = append(dst, '"')
	}
	return dst
}

// NewID returns a fresh stream id: 128 random bits (RFC 6120 §4.7.3 asks
// for unpredictable ids).
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Features returns a <stream:features/> element with the given children.
func Features(children ...*xmlstream.Element) *xmlstream.Element {
	return xmlstream.New(xmlstream.NSStream, "features").Append(children...)
}

// FromDecodeError maps an error from xmlstream to the stream error to send,
// or returns nil if err is not a parse failure (for example a closed
// connection, after which nothing can be sent).
func FromDecodeError(err error) *Error {
	var se *Error
	if errors.As(err, &se) {
		return se
	}
	var xe *xmlstream.Error
	if errors.As(err, &xe) {
		return &Error{Condition: Condition(xe.Condition), Text: xe.Reason}
	}
	return nil
}
