package stanza

import (
	"errors"
	"strings"
	"testing"

	"roost/xmlstream"
)

const header = `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>`

func element(t testing.TB, s string) *xmlstream.Element {
	t.Helper()
	d := xmlstream.NewDecoder(strings.NewReader(header+s), xmlstream.Limits{})
	if _, err := d.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	el, err := d.ReadElement()
	if err != nil {
		t.Fatalf("ReadElement(%q): %v", s, err)
	}
	return el
}

func TestParse(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		kind     Kind
		to, from string
		typ      string
		err      error
	}{
		{name: "chat message", in: `<message to='Juliet@Example.com/balcony' type='chat' id='1'><body>hi</body></message>`, kind: Message, to: "juliet@example.com/balcony", typ: "chat"},
		{name: "message without type is normal", in: `<message to='a@b'/>`, kind: Message, to: "a@b", typ: "normal"},
		{name: "message with unknown type is normal", in: `<message type='bogus'/>`, kind: Message, typ: "normal"},
		{name: "initial presence", in: `<presence/>`, kind: Presence},
		{name: "presence from", in: `<presence from='a@b/c' type='unavailable'/>`, kind: Presence, from: "a@b/c", typ: "unavailable"},
		{name: "iq get", in: `<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>`, kind: IQ, typ: "get"},
		{name: "iq result without payload", in: `<iq type='result' id='p'/>`, kind: IQ, typ: "result"},
		{name: "malformed to", in: `<message to='a@@b'/>`, kind: Message, err: &Error{Condition: JIDMalformed}},
		{name: "malformed from", in: `<presence from='@b'/>`, kind: Presence, err: &Error{Condition: JIDMalformed}},
		{name: "iq without id", in: `<iq type='get'><ping xmlns='urn:xmpp:ping'/></iq>`, kind: IQ, typ: "get", err: &Error{Condition: BadRequest}},
		{name: "iq bad type", in: `<iq type='fetch' id='1'><ping xmlns='urn:xmpp:ping'/></iq>`, kind: IQ, typ: "fetch", err: &Error{Condition: BadRequest}},
		{name: "iq get with two payloads", in: `<iq type='get' id='1'><a xmlns='urn:a'/><b xmlns='urn:b'/></iq>`, kind: IQ, typ: "get", err: &Error{Condition: BadRequest}},
		{name: "iq set without payload", in: `<iq type='set' id='1'/>`, kind: IQ, typ: "set", err: &Error{Condition: BadRequest}},
		{name: "presence bad type", in: `<presence type='invisible'/>`, kind: Presence, typ: "invisible", err: &Error{Condition: BadRequest}},
		{name: "not a stanza", in: `<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`, err: ErrNotStanza},
		{name: "stanza name in another namespace", in: `<message xmlns='urn:other'/>`, err: ErrNotStanza},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse(element(t, tc.in))
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
			} else if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if s.Kind != tc.kind || s.To.String() != tc.to || s.From.String() != tc.from || s.Type != tc.typ {
				t.Errorf("got kind=%v to=%q from=%q type=%q, want kind=%v to=%q from=%q type=%q",
					s.Kind, s.To, s.From, s.Type, tc.kind, tc.to, tc.from, tc.typ)
			}
		})
	}
}

func TestErrorReply(t *testing.T) {
	s, err := Parse(element(t, `<iq type='get' id='q1' from='a@b/c' to='b'><query xmlns='urn:x'/></iq>`))
	if err != nil {
		t.Fatal(err)
	}
	got := string(xmlstream.AppendElement(nil, ErrorReply(&s, NewError(ServiceUnavailable, "")), xmlstream.NSClient))
	want := `<iq type="error" id="q1" to="a@b/c" from="b"><query xmlns="urn:x"/><error type="cancel"><service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	back := ParseError(ErrorReply(&s, &Error{Type: Modify, Condition: BadRequest, Text: "no", By: "b"}))
	if back.Type != Modify || back.Condition != BadRequest || back.Text != "no" || back.By != "b" {
		t.Errorf("ParseError = %+v", back)
	}
	// The content namespaces are one (RFC 6120 §4.8.3): slixmpp's
	// components write the error in jabber:client.
	comp, err := xmlstream.Parse([]byte(`<iq xmlns='jabber:component:accept' type='error' id='n1'><error xmlns='jabber:client' type='wait'>`+
		`<resource-constraint xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`), xmlstream.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if e := ParseError(comp); e.Type != Wait || e.Condition != ResourceConstraint {
		t.Errorf("ParseError of a component's error = %+v, want wait, resource-constraint", e)
	}
}

func TestResultAndElement(t *testing.T) {
	s, err := Parse(element(t, `<iq type='get' id='v' from='a@b/c' to='b'><query xmlns='jabber:iq:version'/></iq>`))
	if err != nil {
		t.Fatal(err)
	}
	got := string(xmlstream.AppendElement(nil, ResultIQ(&s, nil), xmlstream.NSClient))
	if want := `<iq type="result" id="v" to="a@b/c" from="b"/>`; got != want {
		t.Errorf("ResultIQ: got %s, want %s", got, want)
	}
	if s.Element() != s.El {
		t.Error("Element copied although the addresses did not change")
	}
	s.From, s.To = s.To, s.From
	el := s.Element()
	if el.Get("to") != "a@b/c" || el.Get("from") != "b" {
		t.Errorf("Element() = %s", el)
	}
	if s.El.Get("from") != "a@b/c" {
		t.Error("Element() modified the original element")
	}
}

func TestDefaultTypes(t *testing.T) {
	for c, want := range map[Condition]ErrorType{
		BadRequest: Modify, NotAuthorized: Auth, ServiceUnavailable: Cancel,
		RemoteServerTimeout: Wait, ItemNotFound: Cancel, JIDMalformed: Modify,
	} {
		if got := NewError(c, "").Type; got != want {
			t.Errorf("NewError(%s).Type = %s, want %s", c, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{`<message to='a@b'/>`, `<iq type='get' id='1'><x xmlns='u'/></iq>`, `<presence type='x'/>`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		d := xmlstream.NewDecoder(strings.NewReader(header+in), xmlstream.Limits{MaxStanzaBytes: 4096})
		if _, err := d.ReadHeader(); err != nil {
			t.Fatal(err)
		}
		el, err := d.ReadElement()
		if err != nil {
			return
		}
		s, err := Parse(el)
		var se *Error
		if err != nil && !errors.Is(err, ErrNotStanza) && !errors.As(err, &se) {
			t.Fatalf("untyped error %v", err)
		}
		if err == nil {
			// Stamping the parsed addresses back must not change them.
			again, err := Parse(s.Element())
			if err != nil || !again.To.Equal(s.To) || !again.From.Equal(s.From) {
				t.Fatalf("re-parse of %s: %+v, %v", s.Element(), again, err)
			}
		}
	})
}

func BenchmarkParse(b *testing.B) {
	el := element(b, `<message to='juliet@example.com/balcony' from='romeo@example.net/orchard' type='chat' id='ktx72v49'><body>Art thou not Romeo?</body></message>`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(el); err != nil {
			b.Fatal(err)
		}
	}
}

func TestParseAllocs(t *testing.T) {
	el := element(t, `<message to='juliet@example.com/balcony' from='romeo@example.net/orchard' type='chat' id='k'><body>x</body></message>`)
	if n := testing.AllocsPerRun(100, func() { _, _ = Parse(el) }); n != 0 {
		t.Errorf("Parse of a canonical message allocates %v times, want 0", n)
	}
}
