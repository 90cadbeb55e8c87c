package form

import (
	"errors"
	"slices"
	"testing"

	"roost/internal/xmpptest"
	"roost/xmlstream"
)

const roomConfig = `<x xmlns='jabber:x:data' type='submit'>
<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>
<field var='muc#roomconfig_roomname'><value>Family</value></field>
<field var='muc#roomconfig_persistentroom' type='boolean'><value>1</value></field>
<field var='muc#roomconfig_membersonly'><value>false</value></field>
<field var='muc#roomconfig_roomadmins'><value>mum@home.example</value><value>dad@home.example</value></field>
</x>`

func TestParse(t *testing.T) {
	f, err := Parse(xmpptest.Element(t, roomConfig))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := f.FormType(), "http://jabber.org/protocol/muc#roomconfig"; got != want {
		t.Errorf("FormType = %q, want %q", got, want)
	}
	if got := f.Value("muc#roomconfig_roomname"); got != "Family" {
		t.Errorf("room name = %q", got)
	}
	if v, ok, err := f.Bool("muc#roomconfig_persistentroom"); !v || !ok || err != nil {
		t.Errorf("persistent = %v %v %v, want true true nil", v, ok, err)
	}
	if v, ok, err := f.Bool("muc#roomconfig_membersonly"); v || !ok || err != nil {
		t.Errorf("members only = %v %v %v, want false true nil", v, ok, err)
	}
	if _, ok, _ := f.Bool("muc#roomconfig_absent"); ok {
		t.Error("an absent field reads as present")
	}
	if got, want := f.Values("muc#roomconfig_roomadmins"), []string{"mum@home.example", "dad@home.example"}; !slices.Equal(got, want) {
		t.Errorf("admins = %q, want %q", got, want)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"not a form", `<query xmlns='jabber:iq:register'/>`, ErrMalformed},
		{"unknown type", `<x xmlns='jabber:x:data' type='nonsense'/>`, ErrMalformed},
		{"no type", `<x xmlns='jabber:x:data'/>`, ErrMalformed},
		{"field twice", `<x xmlns='jabber:x:data' type='submit'><field var='a'/><field var='a'/></x>`, ErrMalformed},
		{"submitted field without var", `<x xmlns='jabber:x:data' type='submit'><field><value>1</value></field></x>`, ErrMalformed},
		{"unknown field type", `<x xmlns='jabber:x:data' type='submit'><field var='a' type='colour'/></x>`, ErrMalformed},
		{"bad boolean", `<x xmlns='jabber:x:data' type='submit'><field var='a' type='boolean'><value>yes</value></field></x>`, ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse(xmpptest.Element(t, tc.in))
			if !errors.Is(err, tc.want) {
				t.Fatalf("Parse = %+v, %v; want error %v", f, err, tc.want)
			}
		})
	}
}

func TestBoolOfUntypedField(t *testing.T) {
	f, err := Parse(xmpptest.Element(t, `<x xmlns='jabber:x:data' type='submit'><field var='a'><value>maybe</value></field></x>`))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := f.Bool("a"); !ok || !errors.Is(err, ErrNotBoolean) {
		t.Errorf("Bool = %v, %v; want present and ErrNotBoolean", ok, err)
	}
}

func TestElementRoundTrip(t *testing.T) {
	f := New(TypeForm, "urn:xmpp:mam:2")
	f.Title = "Search"
	f.Instructions = []string{"Fill in"}
	f.Add(
		Field{Var: "with", Type: JIDSingle, Label: "With", Desc: "a contact"},
		Field{Var: "flip", Type: Boolean, Required: true, Values: []string{"0"}},
		Field{Var: "whois", Type: ListSingle, Values: []string{"anyone"}, Options: []Option{{Label: "Anyone", Value: "anyone"}, {Value: "moderators"}}},
		Field{Type: Fixed, Values: []string{"a note"}},
	)
	f.Reported = []Field{{Var: "jid", Label: "JID"}}
	f.Items = [][]Field{{{Var: "jid", Values: []string{"a@b"}}}, {{Var: "jid", Values: []string{"c@d"}}}}
	back, err := Parse(xmpptest.Element(t, f.Element().String()))
	if err != nil {
		t.Fatalf("parse %s: %v", f.Element(), err)
	}
	if !xmlstream.Equal(back.Element(), f.Element()) {
		t.Errorf("round trip:\n got %s\nwant %s", back.Element(), f.Element())
	}
	if back.Field("whois").Allowed("nobody") || !back.Field("whois").Allowed("moderators") {
		t.Error("Allowed does not follow the options")
	}
}

func TestSubmitIsBare(t *testing.T) {
	f := New(TypeSubmit, "urn:xmpp:mam:2").Add(Field{Var: "with", Type: JIDSingle, Label: "With", Values: []string{"a@b"}})
	got := f.Element().String()
	want := `<x xmlns="jabber:x:data" type="submit"><field var="FORM_TYPE" type="hidden"><value>urn:xmpp:mam:2</value></field><field var="with"><value>a@b</value></field></x>`
	if got != want {
		t.Errorf("submit form:\n got %s\nwant %s", got, want)
	}
}

func TestFind(t *testing.T) {
	parent := xmpptest.Element(t, `<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>other</value></field></x>`+
		`<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field><field var='with'><value>a@b</value></field></x></query>`)
	f, err := Find(parent, "urn:xmpp:mam:2")
	if err != nil || f == nil || f.Value("with") != "a@b" {
		t.Fatalf("Find = %+v, %v", f, err)
	}
	if f, err := Find(parent, "absent"); f != nil || err != nil {
		t.Errorf("Find(absent) = %+v, %v; want nil, nil", f, err)
	}
	if f, _ := Find(parent, ""); f == nil || f.FormType() != "other" {
		t.Errorf("Find(any) = %+v, want the first form", f)
	}
}

// FuzzParse: no input panics, and a form that parses survives a round trip
// through its element unchanged.
func FuzzParse(f *testing.F) {
	f.Add(roomConfig)
	f.Add(`<x xmlns='jabber:x:data' type='result'><reported><field var='a'/></reported><item><field var='a'><value>1</value></field></item></x>`)
	f.Add(`<x xmlns='jabber:x:data' type='form'><field type='list-multi' var='l'><option label='x'><value>1</value></option></field></x>`)
	f.Fuzz(func(t *testing.T, s string) {
		el, err := xmlstream.Parse([]byte(s), xmlstream.Limits{})
		if err != nil {
			return
		}
		form, err := Parse(el)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		once := form.Element()
		again, err := Parse(once)
		if err != nil {
			t.Fatalf("reparse %s: %v", once, err)
		}
		if !xmlstream.Equal(again.Element(), once) {
			t.Fatalf("round trip changed\n%s\n%s", once, again.Element())
		}
	})
}
