package dialback

import (
	"errors"
	"fmt"
)

// Errors returned by this package; match them with errors.Is.
var (
	// ErrNotDialback: the element is not <db:result/> or <db:verify/>.
	ErrNotDialback = errors.New("dialback: not a dialback element")
	// ErrMalformed: a dialback element that violates XEP-0220's schema.
	ErrMalformed = errors.New("dialback: malformed element")
	// ErrPending: a request for the domain pair is already waiting for its
	// answer on this stream. XEP-0220 identifies answers by their domain
	// pair alone, so a second request would make them ambiguous.
	ErrPending = errors.New("dialback: a request for this domain pair is pending")
	// ErrValid: the pair is already authorized on this stream.
	ErrValid = errors.New("dialback: domain pair already authorized")
	// ErrUnsolicited: an answer that matches no request sent on this
	// stream (XEP-0220 §3.1, "Unsolicited Dialback"): it must be dropped,
	// never acted upon.
	ErrUnsolicited = errors.New("dialback: answer without a matching request")
	// ErrAborted: the stream the request depended on ended before the
	// answer came.
	ErrAborted = errors.New("dialback: stream closed before the answer")

	errAddress     = errors.New("invalid address")
	errFormat      = errors.New("invalid format")
	errMissing     = errors.New("missing")
	errUnknownType = errors.New("unknown type")
	errKeyTooLong  = errors.New("key too long")
)

// malformedError describes which attribute of a dialback element is wrong.
type malformedError struct {
	class error // errAddress or errFormat
	attr  string
	err   error
}

func malformed(class error, attr string, err error) error {
	return &malformedError{class: class, attr: attr, err: err}
}

func (e *malformedError) Error() string {
	return fmt.Sprintf("dialback: malformed element: %s: %v", e.attr, e.err)
}

func (e *malformedError) Unwrap() []error { return []error{ErrMalformed, e.class, e.err} }
