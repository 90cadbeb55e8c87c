package discoinfo

import (
	"errors"
	"testing"

	"roost/form"
	"roost/internal/xmpptest"
	"roost/xmlstream"
)

// The worked examples of XEP-0115 §5.2 and §5.3.
const (
	simple = `<query xmlns='http://jabber.org/protocol/disco#info' node='http://code.google.com/p/exodus#QgayPKawpkPSDYmwT/WM94uAlu0='>
  <identity category='client' name='Exodus 0.9.1' type='pc'/>
  <feature var='http://jabber.org/protocol/caps'/>
  <feature var='http://jabber.org/protocol/disco#info'/>
  <feature var='http://jabber.org/protocol/disco#items'/>
  <feature var='http://jabber.org/protocol/muc'/>
</query>`
	complex = `<query xmlns='http://jabber.org/protocol/disco#info' node='http://psi-im.org#q07IKJEyjvHSyhy//CH0CxmKi8w='>
  <identity xml:lang='en' category='client' name='Psi 0.11' type='pc'/>
  <identity xml:lang='el' category='client' name='Ψ 0.11' type='pc'/>
  <feature var='http://jabber.org/protocol/caps'/>
  <feature var='http://jabber.org/protocol/disco#info'/>
  <feature var='http://jabber.org/protocol/disco#items'/>
  <feature var='http://jabber.org/protocol/muc'/>
  <x xmlns='jabber:x:data' type='result'>
    <field var='FORM_TYPE' type='hidden'><value>urn:xmpp:dataforms:softwareinfo</value></field>
    <field var='ip_version' type='text-multi'><value>ipv4</value><value>ipv6</value></field>
    <field var='os'><value>Mac</value></field>
    <field var='os_version'><value>10.5.1</value></field>
    <field var='software'><value>Psi</value></field>
    <field var='software_version'><value>0.11</value></field>
  </x>
</query>`
)

func TestVerExamples(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"simple (§5.2)", simple, "QgayPKawpkPSDYmwT/WM94uAlu0="},
		{"complex with a form (§5.3)", complex, "q07IKJEyjvHSyhy//CH0CxmKi8w="},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in, err := Parse(xmpptest.Element(t, tc.in))
			if err != nil {
				t.Fatal(err)
			}
			got, err := in.Ver()
			if err != nil || got != tc.want {
				t.Errorf("Ver = %q, %v; want %q", got, err, tc.want)
			}
			// A reply written from the parsed info hashes the same.
			back, err := Parse(in.Normalized().Query(""))
			if err != nil {
				t.Fatal(err)
			}
			if again, _ := back.Ver(); again != tc.want {
				t.Errorf("Ver after Query = %q, want %q", again, tc.want)
			}
		})
	}
}

func TestVerInvalid(t *testing.T) {
	ft := func(typ string) *form.Form {
		return &form.Form{Type: form.TypeResult, Fields: []form.Field{{Var: form.FormTypeVar, Type: typ, Values: []string{"urn:x"}}}}
	}
	id := Identity{Category: "client", Type: "pc"}
	tests := []struct {
		name string
		in   Info
	}{
		{"duplicate identity", Info{Identities: []Identity{id, id}}},
		{"duplicate feature", Info{Features: []string{"a", "b", "a"}}},
		{"two forms of a type", Info{Forms: []*form.Form{ft(form.Hidden), ft(form.Hidden)}}},
		{"FORM_TYPE not hidden", Info{Forms: []*form.Form{ft(form.TextSingle)}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if v, err := tc.in.Ver(); !errors.Is(err, ErrInvalid) {
				t.Errorf("Ver = %q, %v; want ErrInvalid", v, err)
			}
		})
	}
}

func TestNormalizedQuery(t *testing.T) {
	in := Info{
		Identities: []Identity{{Category: "server", Type: "im", Name: "roost"}, {Category: "pubsub", Type: "pep"}, {Category: "server", Type: "im", Name: "roost"}},
		Features:   []string{"urn:xmpp:ping", NSInfo, "jabber:iq:version", "urn:xmpp:ping"},
	}
	got := in.Normalized().Query("n").String()
	want := `<query xmlns="http://jabber.org/protocol/disco#info" node="n">` +
		`<identity category="pubsub" type="pep"/><identity category="server" type="im" name="roost"/>` +
		`<feature var="http://jabber.org/protocol/disco#info"/><feature var="http://jabber.org/protocol/disco#items"/>` +
		`<feature var="jabber:iq:version"/><feature var="urn:xmpp:ping"/></query>`
	if got != want {
		t.Errorf("Query:\n got %s\nwant %s", got, want)
	}
}

// FuzzVer: no input panics; a valid Info hashes the same after a round
// trip through its query element.
func FuzzVer(f *testing.F) {
	f.Add(simple)
	f.Add(complex)
	f.Fuzz(func(t *testing.T, s string) {
		el, err := xmlstream.Parse([]byte(s), xmlstream.Limits{})
		if err != nil {
			return
		}
		in, err := Parse(el)
		if err != nil {
			return
		}
		v, err := in.Ver()
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		back, err := Parse(in.Query(""))
		if err != nil {
			t.Fatal(err)
		}
		if again, err := back.Ver(); err != nil || again != v {
			t.Fatalf("Ver after round trip = %q, %v; want %q", again, err, v)
		}
	})
}
