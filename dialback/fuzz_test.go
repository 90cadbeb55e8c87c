package dialback

import (
	"errors"
	"strings"
	"testing"

	"roost/xmlstream"
)

// FuzzParse checks that Parse never panics, that every failure is one of
// its typed errors, and that what it accepts survives Append and Parse
// unchanged (answers do not carry their key).
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"<db:result from='a.example' to='b.example'>k</db:result>",
		"<db:result from='a.example' to='b.example' type='valid'/>",
		"<db:verify from='a.example' to='b.example' id='i' type='error'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>no</text></error></db:verify>",
		"<verify xmlns='jabber:server:dialback' from='A.Example' to='b.example' id='x'>\n key \n</verify>",
		"<db:result from='a@b' to='c'/>",
		"<message to='a.example'/>",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d := xmlstream.NewDecoder(strings.NewReader(testHeader+s), xmlstream.Limits{MaxStanzaBytes: 1 << 16})
		if _, err := d.ReadHeader(); err != nil {
			t.Fatal(err)
		}
		el, err := d.ReadElement()
		if err != nil {
			return
		}
		e, err := Parse(el)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrNotDialback) {
				t.Fatalf("Parse(%q) = %v, not a typed error", s, err)
			}
			return
		}
		out := Append(nil, e)
		d = xmlstream.NewDecoder(strings.NewReader(testHeader+string(out)), xmlstream.Limits{})
		if _, err := d.ReadHeader(); err != nil {
			t.Fatal(err)
		}
		el2, err := d.ReadElement()
		if err != nil {
			t.Fatalf("Append(%+v) = %q, which does not parse: %v", e, out, err)
		}
		e2, err := Parse(el2)
		if err != nil {
			t.Fatalf("Append(%+v) = %q, which Parse refuses: %v", e, out, err)
		}
		if e.Type != Request {
			e.Key = ""
		}
		if e.Kind != e2.Kind || e.From != e2.From || e.To != e2.To || e.ID != e2.ID || e.Type != e2.Type || e.Key != e2.Key {
			t.Fatalf("round trip of %q:\n got %+v\nwant %+v", s, e2, e)
		}
		if (e.Err == nil) != (e2.Err == nil) ||
			e.Err != nil && (e.Err.Type != e2.Err.Type || e.Err.Condition != e2.Err.Condition || e.Err.Text != e2.Err.Text) {
			t.Fatalf("round trip of %q changed the error: got %v, want %v", s, e2.Err, e.Err)
		}
	})
}
