package stream

import (
	"errors"
	"log/slog"
	"net"
	"time"

	"roost/xmlstream"
)

// Condition is a defined stream error condition (RFC 6120 §4.9.3).
type Condition string

// The defined conditions.
const (
	BadFormat              Condition = "bad-format"
	BadNamespacePrefix     Condition = "bad-namespace-prefix"
	Conflict               Condition = "conflict"
	ConnectionTimeout      Condition = "connection-timeout"
	HostGone               Condition = "host-gone"
	HostUnknown            Condition = "host-unknown"
	ImproperAddressing     Condition = "improper-addressing"
	InternalServerError    Condition = "internal-server-error"
	InvalidFrom            Condition = "invalid-from"
	InvalidNamespace       Condition = "invalid-namespace"
	InvalidXML             Condition = "invalid-xml"
	NotAuthorized          Condition = "not-authorized"
	NotWellFormed          Condition = "not-well-formed"
	PolicyViolation        Condition = "policy-violation"
	RemoteConnectionFailed Condition = "remote-connection-failed"
	Reset                  Condition = "reset"
	ResourceConstraint     Condition = "resource-constraint"
	RestrictedXML          Condition = "restricted-xml"
	SeeOtherHost           Condition = "see-other-host"
	SystemShutdown         Condition = "system-shutdown"
	UndefinedCondition     Condition = "undefined-condition"
	UnsupportedEncoding    Condition = "unsupported-encoding"
	UnsupportedFeature     Condition = "unsupported-feature"
	UnsupportedStanzaType  Condition = "unsupported-stanza-type"
	UnsupportedVersion     Condition = "unsupported-version"
)

// Error is a stream error (§4.9). Sending one ends the stream.
type Error struct {
	Condition Condition
	// Text is a human-readable description, in English.
	Text string
	// App is an optional application-specific condition element.
	App *xmlstream.Element
}

func (e *Error) Error() string {
	if e.Text != "" {
		return "stream error: " + string(e.Condition) + ": " + e.Text
	}
	return "stream error: " + string(e.Condition)
}

// Is matches any *Error with the same condition.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Condition == e.Condition
}

// Element returns the <stream:error/> element.
func (e *Error) Element() *xmlstream.Element {
	cond := e.Condition
	if cond == "" {
		cond = UndefinedCondition
	}
	return xmlstream.New(xmlstream.NSStream, "error").AppendCondition(NSStreams, string(cond), e.Text, e.App)
}

// ParseError reads a received <stream:error/>.
func ParseError(el *xmlstream.Element) *Error {
	cond, text, app := el.ReadCondition(NSStreams)
	e := &Error{Condition: UndefinedCondition, Text: text, App: app}
	if cond != "" {
		e.Condition = Condition(cond)
	}
	return e
}

// CloseReason is what to end a stream with after its reader stopped with
// err: the stream error err maps to, or nil for the closing tag alone. Its
// nil is an untyped nil error, never a nil *Error in an error interface.
func CloseReason(err error) error {
	if se := FromDecodeError(err); se != nil {
		return se
	}
	return nil
}

// NegotiationFailure is how to end a stream whose negotiation failed with
// err: with the stream error err maps to; with shutdown's (a *Error, or
// nil) when the server interrupted it to stop; with connection-timeout
// when the negotiation took too long (RFC 6120 §4.9.3.4). send is false
// when nothing can be sent, because the connection itself failed; a peer
// that closed its stream gets our closing tag (se nil, send true).
func NegotiationFailure(err, shutdown error) (se *Error, send bool) {
	se = FromDecodeError(err)
	var te interface{ Timeout() bool }
	switch {
	case shutdown != nil && se == nil:
		errors.As(shutdown, &se)
	case se == nil && errors.As(err, &te) && te.Timeout():
		se = &Error{Condition: ConnectionTimeout, Text: "stream negotiation took too long"}
	}
	if se == nil && !errors.Is(err, xmlstream.ErrStreamEnd) {
		return nil, false
	}
	return se, true
}

// EndNegotiation ends a stream whose negotiation failed with err, on nc,
// which no writer goroutine uses yet. stopped is why the server
// interrupted the negotiation, if it did (see NegotiationFailure). It
// writes, within timeout, header if not nil (our stream header, not sent
// yet), the stream error, if any, and the closing tag (RFC 6120 §4.9), and
// logs what it does on log. It reports false when the connection itself
// failed, so that nothing was written: the caller only closes it;
// otherwise the caller should linger for the peer's closing tag (§4.4).
func EndNegotiation(nc net.Conn, err, stopped error, header []byte, contentNS string, timeout time.Duration, log *slog.Logger) bool {
	se, send := NegotiationFailure(err, stopped)
	if !send {
		log.Debug("stream ended during negotiation", "err", err)
		return false
	}
	if se != nil {
		log.Info("stream error", "condition", string(se.Condition), "text", se.Text)
	}
	_ = nc.SetWriteDeadline(time.Now().Add(timeout))
	_, _ = nc.Write(AppendEnd(header, se, contentNS))
	return true
}

// AppendEnd appends what ends a stream: the stream error se, if not nil,
// then the closing tag (RFC 6120 §4.4, §4.9). contentNS is the stream's
// default namespace.
func AppendEnd(b []byte, se *Error, contentNS string) []byte {
	if se != nil {
		b = xmlstream.AppendElement(b, se.Element(), contentNS)
	}
	return append(b, Close...)
}
