package stanza

import (
	"roost/xmlstream"
)

// NSStanzas qualifies stanza error conditions (RFC 6120 §8.3.2).
const NSStanzas = "urn:ietf:params:xml:ns:xmpp-stanzas"

// ErrorType says what the sender should do about an error (§8.3.2).
type ErrorType string

// Error types.
const (
	Auth     ErrorType = "auth"
	Cancel   ErrorType = "cancel"
	Continue ErrorType = "continue"
	Modify   ErrorType = "modify"
	Wait     ErrorType = "wait"
)

// Condition is a defined stanza error condition (§8.3.3).
type Condition string

// The defined conditions.
const (
	BadRequest            Condition = "bad-request"
	Conflict              Condition = "conflict"
	FeatureNotImplemented Condition = "feature-not-implemented"
	Forbidden             Condition = "forbidden"
	Gone                  Condition = "gone"
	InternalServerError   Condition = "internal-server-error"
	ItemNotFound          Condition = "item-not-found"
	JIDMalformed          Condition = "jid-malformed"
	NotAcceptable         Condition = "not-acceptable"
	NotAllowed            Condition = "not-allowed"
	NotAuthorized         Condition = "not-authorized"
	PolicyViolation       Condition = "policy-violation"
	RecipientUnavailable  Condition = "recipient-unavailable"
	Redirect              Condition = "redirect"
	RegistrationRequired  Condition = "registration-required"
	RemoteServerNotFound  Condition = "remote-server-not-found"
	RemoteServerTimeout   Condition = "remote-server-timeout"
	ResourceConstraint    Condition = "resource-constraint"
	ServiceUnavailable    Condition = "service-unavailable"
	SubscriptionRequired  Condition = "subscription-required"
	UndefinedCondition    Condition = "undefined-condition"
	UnexpectedRequest     Condition = "unexpected-request"
)

// defaultType is the error type RFC 6120 §8.3.3 gives with each condition.
func defaultType(c Condition) ErrorType {
	switch c {
	case BadRequest, JIDMalformed, NotAcceptable, PolicyViolation, Redirect:
		return Modify
	case Forbidden, NotAuthorized, RegistrationRequired, SubscriptionRequired:
		return Auth
	case RecipientUnavailable, RemoteServerTimeout, ResourceConstraint, UnexpectedRequest:
		return Wait
	}
	return Cancel
}

// Error is a stanza error (§8.3). Handlers return it to have the router send
// it back to the sender.
type Error struct {
	Type      ErrorType
	Condition Condition
	// Text is a human-readable description, in English.
	Text string
	// By is the entity that generated the error, if not the addressee.
	By string
	// App is an optional application-specific condition element.
	App *xmlstream.Element
}

// NewError returns an error with the condition's usual type.
func NewError(c Condition, text string) *Error {
	return &Error{Type: defaultType(c), Condition: c, Text: text}
}

func (e *Error) Error() string {
	if e.Text != "" {
		return "stanza error: " + string(e.Condition) + ": " + e.Text
	}
	return "stanza error: " + string(e.Condition)
}

// Is matches any *Error with the same condition.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Condition == e.Condition
}

// Element returns the <error/> child of an error stanza.
func (e *Error) Element() *xmlstream.Element {
	t := e.Type
	if t == "" {
		t = defaultType(e.Condition)
	}
	el := xmlstream.New(xmlstream.NSClient, "error").SetAttr("type", string(t))
	if e.By != "" {
		el.SetAttr("by", e.By)
	}
	cond := e.Condition
	if cond == "" {
		cond = UndefinedCondition
	}
	return el.AppendCondition(NSStanzas, string(cond), e.Text, e.App)
}

// ParseError reads the <error/> child of a received error stanza. It
// returns undefined-condition when the child is missing or malformed.
func ParseError(stanza *xmlstream.Element) *Error {
	e := &Error{Type: Cancel, Condition: UndefinedCondition}
	// The content namespaces are one (RFC 6120 §4.8.3): slixmpp's
	// components write <error xmlns='jabber:client'/> inside a
	// jabber:component:accept stanza. An <error/> in the stanza's own
	// namespace counts too: dialback's (XEP-0220 §2.4) is in its own.
	var el *xmlstream.Element
	for c := range stanza.Elements() {
		if c.Name.Local == "error" && (c.Name.Space == stanza.Name.Space || xmlstream.IsContentNamespace(c.Name.Space)) {
			el = c
			break
		}
	}
	if el == nil {
		return e
	}
	if t := ErrorType(el.Get("type")); t != "" {
		e.Type = t
	}
	e.By = el.Get("by")
	cond, text, app := el.ReadCondition(NSStanzas)
	if cond != "" {
		e.Condition = Condition(cond)
	}
	e.Text, e.App = text, app
	return e
}
