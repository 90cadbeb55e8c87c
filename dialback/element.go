package dialback

import (
	"errors"
	"strings"

	"roost/jid"
	"roost/stanza"
	"roost/stream"
	"roost/xmlstream"
)

// NSFeature is the stream feature announcing dialback with error handling
// (XEP-0220 §2.4.2): <dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback>.
const NSFeature = "urn:xmpp:features:dialback"

// Kind tells <db:result/> from <db:verify/>.
type Kind uint8

// The two dialback elements.
const (
	Result Kind = iota + 1 // <db:result/>: steps 1 and 4
	Verify                 // <db:verify/>: steps 2 and 3
)

func (k Kind) String() string {
	switch k {
	case Result:
		return "result"
	case Verify:
		return "verify"
	}
	return "unknown"
}

// Type is the 'type' attribute: empty on a request, one of the others on
// an answer.
type Type string

// The types (XEP-0220 §2, §2.4).
const (
	Request Type = ""
	Valid   Type = "valid"
	Invalid Type = "invalid"
	Error   Type = "error"
)

// maxKey bounds the character data of a request. Our keys are 64 hex
// digits; other implementations use other schemes, so allow some room,
// but a key is never a document.
const maxKey = 1024

// Element is a parsed dialback element. From and To are domains in
// canonical form (RFC 7622 §3.2).
type Element struct {
	Kind     Kind
	From, To string
	// ID is the stream ID a <db:verify/> refers to; a <db:result/> has
	// none (a stray one is ignored).
	ID   string
	Type Type
	// Key is the character data of a request, trimmed of white space
	// (XEP-0220 shows keys on their own line). Answers may echo it; it is
	// kept but means nothing there.
	Key string
	// Err is the error of a Type Error answer: undefined-condition if the
	// peer sent none.
	Err *stanza.Error
}

// IsDialback reports whether el is in the dialback namespace, so that a
// stream can hand it to [Parse] instead of treating it as a stanza.
func IsDialback(el *xmlstream.Element) bool {
	return el.Name.Space == stream.NSDialback
}

// Parse reads a <db:result/> or <db:verify/>. It returns [ErrNotDialback]
// for any other element and an error wrapping [ErrMalformed] for a
// dialback element that violates XEP-0220's schema: missing or invalid
// from/to, a verify without id, an unknown type, a request without a key
// or with an oversized one. A stream answers a malformed request with a
// stream error (improper-addressing for the addresses, bad-format for the
// rest; see [MalformedCondition]).
func Parse(el *xmlstream.Element) (Element, error) {
	var e Element
	if !IsDialback(el) {
		return e, ErrNotDialback
	}
	switch el.Name.Local {
	case "result":
		e.Kind = Result
	case "verify":
		e.Kind = Verify
	default:
		return e, ErrNotDialback
	}
	var err error
	if e.From, err = domain(el.Get("from")); err != nil {
		return e, malformed(errAddress, "from", err)
	}
	if e.To, err = domain(el.Get("to")); err != nil {
		return e, malformed(errAddress, "to", err)
	}
	if e.Kind == Verify {
		e.ID = el.Get("id")
		if e.ID == "" {
			return e, malformed(errFormat, "id", errMissing)
		}
	}
	switch t := Type(el.Get("type")); t {
	case Request, Valid, Invalid, Error:
		e.Type = t
	default:
		return e, malformed(errFormat, "type", errUnknownType)
	}
	// Only character data counts as the key: an <error/> child (or any
	// other) is not part of it.
	var b strings.Builder
	for _, n := range el.Children {
		if n.Elem == nil {
			b.WriteString(n.Text)
		}
	}
	e.Key = strings.TrimSpace(b.String())
	if len(e.Key) > maxKey {
		return e, malformed(errFormat, "key", errKeyTooLong)
	}
	switch e.Type {
	case Request:
		if e.Key == "" {
			return e, malformed(errFormat, "key", errMissing)
		}
	case Error:
		e.Err = parseError(el)
	}
	return e, nil
}

// domain validates a from or to attribute: a bare domain, no local part or
// resource, returned in canonical form.
func domain(s string) (string, error) {
	if s == "" {
		return "", errMissing
	}
	return jid.ParseDomain(s)
}

// parseError reads the <error/> child of a type='error' answer. XEP-0220
// §2.4 puts it in the stream's content namespace (it has no prefix under a
// prefixed <db:result/>), but a peer that writes the dialback element with
// a default namespace puts it in jabber:server:dialback: accept any.
func parseError(el *xmlstream.Element) *stanza.Error {
	for c := range el.Elements() {
		if c.Name.Local == "error" {
			// stanza.ParseError looks for <error/> in its argument's
			// namespace: wrap the child in a stand-in parent.
			return stanza.ParseError(xmlstream.New(c.Name.Space, "wrapper").Append(c))
		}
	}
	return &stanza.Error{Type: stanza.Cancel, Condition: stanza.UndefinedCondition}
}

// Answer returns the answer to the request e: addresses swapped, the same
// id, type t, and for Error the error err (undefined-condition if nil).
func (e Element) Answer(t Type, err *stanza.Error) Element {
	a := Element{Kind: e.Kind, From: e.To, To: e.From, ID: e.ID, Type: t}
	if t == Error {
		if err == nil {
			err = stanza.NewError(stanza.UndefinedCondition, "")
		}
		a.Err = err
	}
	return a
}

// Element returns e as an element tree in the dialback namespace, for
// tests and logs. On the wire, use [Append], which writes the "db" prefix.
func (e Element) Element() *xmlstream.Element {
	el := xmlstream.New(stream.NSDialback, e.Kind.String())
	el.SetAttr("from", e.From).SetAttr("to", e.To)
	if e.ID != "" {
		el.SetAttr("id", e.ID)
	}
	if e.Type != Request {
		el.SetAttr("type", string(e.Type))
	}
	if e.Type == Request && e.Key != "" {
		el.AppendText(e.Key)
	}
	if e.Type == Error && e.Err != nil {
		el.Append(e.Err.Element())
	}
	return el
}

// Append writes e as XEP-0220 requires, with the "db" prefix that the
// stream header declares (stream.Header.Dialback): "All XML elements
// qualified by the Server Dialback namespace MUST be prefixed", and some
// deployments accept nothing else. The <error/> child is written in the
// stream's content namespace, which the prefixed parent leaves in scope.
// A request carries its key; answers carry none.
func Append(dst []byte, e Element) []byte {
	name := e.Kind.String()
	dst = append(dst, "<db:"...)
	dst = append(dst, name...)
	dst = appendAttr(dst, "from", e.From)
	dst = appendAttr(dst, "to", e.To)
	if e.ID != "" {
		dst = appendAttr(dst, "id", e.ID)
	}
	if e.Type != Request {
		dst = appendAttr(dst, "type", string(e.Type))
	}
	var child []byte
	switch {
	case e.Type == Request:
		child = xmlstream.AppendEscapedText(nil, e.Key)
	case e.Type == Error && e.Err != nil:
		child = xmlstream.AppendElement(nil, e.Err.Element(), xmlstream.NSServer)
	}
	if len(child) == 0 {
		return append(dst, "/>"...)
	}
	dst = append(dst, '>')
	dst = append(dst, child...)
	dst = append(dst, "</db:"...)
	dst = append(dst, name...)
	return append(dst, '>')
}

func appendAttr(dst []byte, name, value string) []byte {
	dst = append(dst, ' ')
	dst = append(dst, name...)
	dst = append(dst, `="`...)
	dst = xmlstream.AppendEscapedAttr(dst, value)
	return append(dst, '"')
}

// Feature returns the stream feature announcing dialback with error
// handling (XEP-0220 §2.4.2).
func Feature() *xmlstream.Element {
	return xmlstream.New(NSFeature, "dialback").Append(xmlstream.New(NSFeature, "errors"))
}

// MalformedCondition is the stream error condition for a malformed
// dialback element err from [Parse]: improper-addressing when from or to
// is missing or invalid (RFC 6120 §4.9.3.8), bad-format otherwise.
func MalformedCondition(err error) stream.Condition {
	if errors.Is(err, errAddress) {
		return stream.ImproperAddressing
	}
	return stream.BadFormat
}
