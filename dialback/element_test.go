package dialback

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"roost/stanza"
	"roost/stream"
	"roost/xmlstream"
)

const testHeader = `<stream:stream xmlns='jabber:server' xmlns:db='jabber:server:dialback' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>`

// readElement parses one element written inside a server stream that
// declares the db prefix.
func readElement(t testing.TB, s string) *xmlstream.Element {
	t.Helper()
	d := xmlstream.NewDecoder(strings.NewReader(testHeader+s), xmlstream.Limits{})
	if _, err := d.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	el, err := d.ReadElement()
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return el
}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Element
		wantErr error
		cond    stream.Condition // for malformed elements
	}{
		{
			name: "result request, key on its own line",
			in:   "<db:result from='Capulet.example' to='montague.example'>\n  b4835385f37fe2895af6c196b59097b16862406db80559900d96bf6fa7d23df3\n</db:result>",
			want: Element{Kind: Result, From: "capulet.example", To: "montague.example", Key: "b4835385f37fe2895af6c196b59097b16862406db80559900d96bf6fa7d23df3"},
		},
		{
			name: "result valid",
			in:   "<db:result from='montague.example' to='capulet.example' type='valid'/>",
			want: Element{Kind: Result, From: "montague.example", To: "capulet.example", Type: Valid},
		},
		{
			name: "result invalid echoing the key (Prosody)",
			in:   "<db:result from='montague.example' to='capulet.example' type='invalid'>abc</db:result>",
			want: Element{Kind: Result, From: "montague.example", To: "capulet.example", Type: Invalid, Key: "abc"},
		},
		{
			name: "result error",
			in:   "<db:result from='montague.example' to='capulet.example' type='error'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></db:result>",
			want: Element{Kind: Result, From: "montague.example", To: "capulet.example", Type: Error,
				Err: &stanza.Error{Type: stanza.Cancel, Condition: stanza.ItemNotFound}},
		},
		{
			name: "error without an error child",
			in:   "<db:result from='montague.example' to='capulet.example' type='error'/>",
			want: Element{Kind: Result, From: "montague.example", To: "capulet.example", Type: Error,
				Err: &stanza.Error{Type: stanza.Cancel, Condition: stanza.UndefinedCondition}},
		},
		{
			name: "verify request with a default namespace instead of the prefix",
			in:   "<verify xmlns='jabber:server:dialback' from='capulet.example' id='417GAF25' to='montague.example'>225cc5</verify>",
			want: Element{Kind: Verify, From: "capulet.example", To: "montague.example", ID: "417GAF25", Key: "225cc5"},
		},
		{
			name: "verify error in the dialback namespace",
			in:   "<verify xmlns='jabber:server:dialback' from='a.example' id='x' to='b.example' type='error'><error type='wait'><remote-server-timeout xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></verify>",
			want: Element{Kind: Verify, From: "a.example", To: "b.example", ID: "x", Type: Error,
				Err: &stanza.Error{Type: stanza.Wait, Condition: stanza.RemoteServerTimeout}},
		},
		{name: "not dialback", in: "<message to='a.example'/>", wantErr: ErrNotDialback},
		{name: "unknown dialback element", in: "<db:other from='a.example' to='b.example'/>", wantErr: ErrNotDialback},
		{name: "missing from", in: "<db:result to='b.example'>k</db:result>", wantErr: ErrMalformed, cond: stream.ImproperAddressing},
		{name: "missing to", in: "<db:result from='a.example'>k</db:result>", wantErr: ErrMalformed, cond: stream.ImproperAddressing},
		{name: "from with a local part", in: "<db:result from='x@a.example' to='b.example'>k</db:result>", wantErr: ErrMalformed, cond: stream.ImproperAddressing},
		{name: "to with a resource", in: "<db:result from='a.example' to='b.example/r'>k</db:result>", wantErr: ErrMalformed, cond: stream.ImproperAddressing},
		{name: "invalid domain", in: "<db:result from='a..example' to='b.example'>k</db:result>", wantErr: ErrMalformed, cond: stream.ImproperAddressing},
		{name: "verify without id", in: "<db:verify from='a.example' to='b.example'>k</db:verify>", wantErr: ErrMalformed, cond: stream.BadFormat},
		{name: "unknown type", in: "<db:result from='a.example' to='b.example' type='maybe'/>", wantErr: ErrMalformed, cond: stream.BadFormat},
		{name: "request without key", in: "<db:result from='a.example' to='b.example'> </db:result>", wantErr: ErrMalformed, cond: stream.BadFormat},
		{name: "key too long", in: "<db:result from='a.example' to='b.example'>" + strings.Repeat("a", maxKey+1) + "</db:result>", wantErr: ErrMalformed, cond: stream.BadFormat},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(readElement(t, tc.in))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Parse error = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil {
				if errors.Is(tc.wantErr, ErrMalformed) {
					if c := MalformedCondition(err); c != tc.cond {
						t.Errorf("MalformedCondition = %s, want %s", c, tc.cond)
					}
				}
				return
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Parse mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAppend(t *testing.T) {
	tests := []struct {
		name string
		in   Element
		want string
	}{
		{
			name: "request",
			in:   Element{Kind: Result, From: "a.example", To: "b.example", Key: "k1"},
			want: `<db:result from="a.example" to="b.example">k1</db:result>`,
		},
		{
			name: "verify answer",
			in:   Element{Kind: Verify, From: "a.example", To: "b.example", ID: "i&d", Type: Invalid, Key: "ignored"},
			want: `<db:verify from="a.example" to="b.example" id="i&amp;d" type="invalid"/>`,
		},
		{
			name: "error in the content namespace",
			in:   Element{Kind: Result, From: "a.example", To: "b.example", Type: Error, Err: stanza.NewError(stanza.ItemNotFound, "")},
			want: `<db:result from="a.example" to="b.example" type="error"><error type="cancel"><item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></db:result>`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := string(Append(nil, tc.in))
			if got != tc.want {
				t.Errorf("Append =\n%s\nwant\n%s", got, tc.want)
			}
			// What we write reads back as what we meant.
			back, err := Parse(readElement(t, got))
			if err != nil {
				t.Fatal(err)
			}
			want := tc.in
			if want.Type != Request {
				want.Key = ""
			}
			if diff := cmp.Diff(want, back); diff != "" {
				t.Errorf("round trip mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAnswer(t *testing.T) {
	req := Element{Kind: Verify, From: "b.example", To: "a.example", ID: "s1", Key: "k"}
	got := req.Answer(Error, nil)
	want := Element{Kind: Verify, From: "a.example", To: "b.example", ID: "s1", Type: Error, Err: stanza.NewError(stanza.UndefinedCondition, "")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Answer mismatch (-want +got):\n%s", diff)
	}
	if f := Feature(); f.Child(NSFeature, "errors") == nil {
		t.Errorf("Feature() = %s, want an <errors/> child", f)
	}
}

func BenchmarkParse(b *testing.B) {
	el := readElement(b, "<db:result from='capulet.example' to='montague.example'>b4835385f37fe2895af6c196b59097b16862406db80559900d96bf6fa7d23df3</db:result>")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(el); err != nil {
			b.Fatal(err)
		}
	}
}
