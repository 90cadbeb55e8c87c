package xmlstream

import (
	"errors"
	"fmt"
)

// Stream error conditions (RFC 6120 §4.9.3) that parse failures map to.
const (
	CondNotWellFormed       = "not-well-formed"
	CondRestrictedXML       = "restricted-xml"
	CondPolicyViolation     = "policy-violation"
	CondBadFormat           = "bad-format"
	CondUnsupportedEncoding = "unsupported-encoding"
	CondBadNamespacePrefix  = "bad-namespace-prefix"
)

// ErrStreamEnd is returned by [Decoder.ReadElement] when the peer closes the
// stream with its closing tag.
var ErrStreamEnd = errors.New("xmlstream: stream closed by peer")

// Error is a parse failure. Condition is the RFC 6120 §4.9.3 stream error
// condition the caller should send before closing the stream.
type Error struct {
	Condition string
	Reason    string
	Offset    int64 // byte offset in the stream where the problem was found
}

func (e *Error) Error() string {
	return fmt.Sprintf("xmlstream: %s at byte %d: %s", e.Condition, e.Offset, e.Reason)
}

// Is matches another *Error with the same condition, so callers can write
// errors.Is(err, &xmlstream.Error{Condition: xmlstream.CondRestrictedXML}).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Condition == e.Condition
}
