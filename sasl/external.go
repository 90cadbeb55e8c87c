package sasl

import (
	"strings"
	"unicode/utf8"
)

// maxAuthzidLen bounds an EXTERNAL authorization identity: a JID is at most
// 3071 bytes (RFC 7622 §3.1).
const maxAuthzidLen = 3071

// ParseExternal parses the initial response of the EXTERNAL mechanism
// (RFC 4422 Appendix A.1):
//
//	external-initial-resp = authz-id-string
//	authz-id-string       = *( UTF8-char-no-nul )
//
// It returns the requested authorization identity, "" if the peer asked
// for the one derived from its certificate. In server-to-server use
// (XEP-0178 §3) the initiating server sends an empty response ("=" on the
// wire) or, in older implementations, its own domain; the caller checks
// the result against the stream's 'from' and the verified certificate. The
// mechanism itself carries no credentials, so all authentication happens
// in the caller. Errors are malformed-request *Error values.
func ParseExternal(in []byte) (authzid string, err error) {
	if len(in) > maxAuthzidLen {
		return "", malformed("authzid too long")
	}
	s := string(in)
	if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
		return "", malformed("invalid authzid")
	}
	return s, nil
}
