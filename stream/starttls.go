package stream

import "roost/xmlstream"

// BeforeTLS checks what the peer sent after <starttls/> (or, on a stream
// we opened, after <proceed/>) and before the TLS handshake, in either
// direction. Whitespace is dropped: RFC 6120 §11.7 allows it between
// top-level elements, and clients send it (go-xmpp, which home-automation
// scripts use, writes a newline after <starttls/>). Anything else would be
// read as if it had come over TLS, which is how plaintext injection works
// (RFC 6120 §5.4.3.3, CVE-2011-0411): it ends the stream with
// policy-violation.
func BeforeTLS(dec *xmlstream.Decoder) error {
	if dec.DropBufferedSpace() > 0 {
		return &Error{Condition: PolicyViolation, Text: "data sent before the TLS handshake"}
	}
	return nil
}
