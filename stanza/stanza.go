package stanza

import (
	"errors"
	"fmt"
	"strconv"

	"roost/jid"
	"roost/xmlstream"
)

// Kind is the kind of a stanza.
type Kind uint8

// The three stanza kinds (RFC 6120 §8.2).
const (
	Message Kind = iota + 1
	Presence
	IQ
)

func (k Kind) String() string {
	switch k {
	case Message:
		return "message"
	case Presence:
		return "presence"
	case IQ:
		return "iq"
	}
	return "unknown"
}

// Types of stanzas that the server acts on.
const (
	TypeGet    = "get"
	TypeSet    = "set"
	TypeResult = "result"
	TypeError  = "error"

	TypeChat      = "chat"
	TypeGroupchat = "groupchat"
	TypeHeadline  = "headline"
	TypeNormal    = "normal"

	TypeUnavailable  = "unavailable"
	TypeSubscribe    = "subscribe"
	TypeSubscribed   = "subscribed"
	TypeUnsubscribe  = "unsubscribe"
	TypeUnsubscribed = "unsubscribed"
	TypeProbe        = "probe"
)

// Errors.
var (
	// ErrNotStanza is returned by [Parse] for a top-level element that is
	// not a stanza; on a stream this is the stream error
	// unsupported-stanza-type.
	ErrNotStanza = errors.New("stanza: not a stanza")
	// ErrReplied is returned by a handler that has already sent its answer
	// itself, because something must follow it in order (roster pushes
	// after a roster result, RFC 6121 §2.6.3).
	ErrReplied = errors.New("stanza: already answered")
)

// Stanza is a parsed stanza: its kind, addresses, id and type, and the
// element they came from. The element's own to and from attributes may
// differ from To and From after the server stamps them; [Stanza.Element]
// writes them back.
type Stanza struct {
	Kind     Kind
	To, From jid.JID
	ID, Type string
	El       *xmlstream.Element
}

// KindOf tells a stanza (RFC 6120 §8: message, presence or iq in a
// content namespace) from any other top-level element, a nonza.
func KindOf(el *xmlstream.Element) (Kind, bool) {
	if !xmlstream.IsContentNamespace(el.Name.Space) {
		return 0, false
	}
	switch el.Name.Local {
	case "message":
		return Message, true
	case "presence":
		return Presence, true
	case "iq":
		return IQ, true
	}
	return 0, false
}

// Priority reads a presence's <priority/>: -128..127, 0 when absent or
// invalid (RFC 6121 §4.7.2.3).
func Priority(el *xmlstream.Element) int {
	p, err := strconv.Atoi(el.ChildText(el.Name.Space, "priority"))
	if err != nil || p < -128 || p > 127 {
		return 0
	}
	return p
}

// Parse checks el and returns its routing view. Errors are [ErrNotStanza]
// or an [*Error] to return to the sender (jid-malformed, bad-request).
func Parse(el *xmlstream.Element) (Stanza, error) {
	s := Stanza{El: el}
	kind, ok := KindOf(el)
	if !ok {
		return s, ErrNotStanza
	}
	s.Kind = kind
	for _, a := range el.Attrs {
		if a.Name.Space != "" {
			continue
		}
		switch a.Name.Local {
		case "to":
			j, err := jid.Parse(a.Value)
			if err != nil {
				s.ID = el.Get("id")
				return s, &Error{Type: Modify, Condition: JIDMalformed, Text: fmt.Sprintf("invalid 'to' address: %v", err)}
			}
			s.To = j
		case "from":
			j, err := jid.Parse(a.Value)
			if err != nil {
				s.ID = el.Get("id")
				return s, &Error{Type: Modify, Condition: JIDMalformed, Text: fmt.Sprintf("invalid 'from' address: %v", err)}
			}
			s.From = j
		case "id":
			s.ID = a.Value
		case "type":
			s.Type = a.Value
		}
	}
	switch s.Kind {
	case IQ:
		// RFC 6120 §8.2.3: id and type are required, and a get or set has
		// exactly one payload element.
		switch s.Type {
		case TypeGet, TypeSet:
			n := 0
			for range el.Elements() {
				n++
			}
			if n != 1 {
				return s, &Error{Type: Modify, Condition: BadRequest, Text: "an IQ get or set needs exactly one child element"}
			}
		case TypeResult, TypeError:
		default:
			return s, &Error{Type: Modify, Condition: BadRequest, Text: "invalid IQ type"}
		}
		if s.ID == "" {
			return s, &Error{Type: Modify, Condition: BadRequest, Text: "an IQ needs an id"}
		}
	case Presence:
		switch s.Type {
		case "", TypeUnavailable, TypeSubscribe, TypeSubscribed, TypeUnsubscribe, TypeUnsubscribed, TypeProbe, TypeError:
		default:
			// RFC 6121 §4.7.1 leaves other values undefined.
			return s, &Error{Type: Modify, Condition: BadRequest, Text: "invalid presence type"}
		}
	case Message:
		switch s.Type {
		case TypeChat, TypeError, TypeGroupchat, TypeHeadline, TypeNormal:
		default:
			// RFC 6121 §5.2.2: a missing or unknown type means normal.
			s.Type = TypeNormal
		}
	}
	return s, nil
}

// IsError reports whether the stanza is itself an error, to which no error
// may be returned (RFC 6120 §8.3.1).
func (s *Stanza) IsError() bool { return s.Type == TypeError }

// Element returns the stanza's element with its to and from attributes set
// to s.To and s.From. It copies the top element only when they differ.
func (s *Stanza) Element() *xmlstream.Element {
	to, from := s.To.String(), s.From.String()
	if s.El.Get("to") == to && s.El.Get("from") == from {
		return s.El
	}
	return s.El.WithAttrs("to", to, "from", from)
}

// ResultIQ returns the result for an IQ get or set, addressed back to its
// sender, with an optional payload.
func ResultIQ(s *Stanza, payload *xmlstream.Element) *xmlstream.Element {
	el := xmlstream.New(xmlstream.NSClient, "iq")
	el.Attrs = make([]xmlstream.Attr, 0, 4)
	el.SetAttr("type", TypeResult).SetAttr("id", s.ID)
	if !s.From.IsZero() {
		el.SetAttr("to", s.From.String())
	}
	if !s.To.IsZero() {
		el.SetAttr("from", s.To.String())
	}
	return el.Append(payload)
}

// ErrorReply returns the error stanza answering s (RFC 6120 §8.3.1): same
// kind and id, addresses swapped, type error. An IQ error carries the
// original payload so the requester can see what failed.
func ErrorReply(s *Stanza, e *Error) *xmlstream.Element {
	el := xmlstream.New(xmlstream.NSClient, s.Kind.String())
	el.Attrs = make([]xmlstream.Attr, 0, 4)
	el.SetAttr("type", TypeError)
	if s.ID != "" {
		el.SetAttr("id", s.ID)
	}
	if !s.From.IsZero() {
		el.SetAttr("to", s.From.String())
	}
	if !s.To.IsZero() {
		el.SetAttr("from", s.To.String())
	}
	if s.Kind == IQ && s.El != nil {
		el.Append(s.El.FirstChild())
	}
	return el.Append(e.Element())
}
