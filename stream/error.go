package stream

import "roost/xmlstream"

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
