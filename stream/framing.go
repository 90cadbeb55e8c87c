package stream

import "roost/xmlstream"

// NSFraming is the namespace of the stream's framing over WebSocket: <open/>
// and <close/> stand for the opening and closing stream tags (RFC 7395
// §3.3.2), because every WebSocket message is a standalone document.
const NSFraming = "urn:ietf:params:xml:ns:xmpp-framing"

// FramedClose ends a stream over WebSocket, as [Close] ends one over TCP
// (RFC 7395 §3.6).
const FramedClose = `<close xmlns="` + NSFraming + `"/>`

// ParseOpen validates the <open/> element that opens (or, after SASL,
// restarts) a stream over WebSocket (RFC 7395 §3.4, §3.7). Its attributes
// are a stream header's, with the same meaning; there is no content
// namespace: every stanza declares jabber:client itself (§3.3.3).
func ParseOpen(el *xmlstream.Element) (Header, *Error) {
	h := headerAttrs(el)
	if !el.Is(NSFraming, "open") {
		return h, &Error{Condition: InvalidNamespace, Text: "a stream over WebSocket opens with <open xmlns='" + NSFraming + "'/> (RFC 7395 §3.4)"}
	}
	return h, checkVersion(h.Version)
}

// AppendOpen appends the <open/> element answering or opening a stream over
// WebSocket (RFC 7395 §3.4) with h's attributes. h.ContentNS and
// h.Dialback have no place in it.
func AppendOpen(dst []byte, h Header) []byte {
	dst = append(dst, `<open xmlns="`+NSFraming+`"`...)
	return append(appendHeaderAttrs(dst, h), "/>"...)
}
