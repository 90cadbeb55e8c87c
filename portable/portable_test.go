package portable

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"

	"roost/xmlstream"
)

// collect decodes a document into its entries.
func collect(t *testing.T, doc string) ([]Entry, error) {
	t.Helper()
	var got []Entry
	err := Decode(strings.NewReader(doc), Options{}, func(e Entry) error {
		got = append(got, e)
		return nil
	})
	return got, err
}

func mustParse(t testing.TB, s string) *xmlstream.Element {
	t.Helper()
	el, err := xmlstream.Parse([]byte(s), xmlstream.Limits{})
	if err != nil {
		t.Fatalf("parse %s: %v", s, err)
	}
	return el
}

// sample is one of every entry the encoder writes.
func sample(t testing.TB) []Entry {
	stamp := time.Date(2024, 5, 1, 12, 30, 0, 123456000, time.UTC)
	return []Entry{
		&User{Host: "example.org", Name: "alice", Created: stamp},
		&Credential{Mechanism: "SCRAM-SHA-1", Iterations: 4096, Salt: []byte("salt"), StoredKey: bytes.Repeat([]byte{1}, 20), ServerKey: bytes.Repeat([]byte{2}, 20)},
		&Credential{Mechanism: "SCRAM-SHA-256", Iterations: 10000, Salt: []byte("salt2"), StoredKey: bytes.Repeat([]byte{3}, 32), ServerKey: bytes.Repeat([]byte{4}, 32)},
		&RosterItem{JID: "bob@example.org", Name: "Bob & co", Subscription: "both", Groups: []string{"Family", "<Friends>"}},
		&RosterItem{JID: "carol@example.org", Subscription: "none", Ask: "subscribe", Approved: true},
		&RosterItem{JID: "stranger@example.net", Subscription: "from", Hidden: true},
		&Request{From: "dave@example.net", Presence: mustParse(t, `<presence xmlns="jabber:client" from="dave@example.net" to="alice@example.org" type="subscribe"><status>hi</status></presence>`)},
		&VCard{Element: mustParse(t, `<vCard xmlns="vcard-temp"><FN>Alice</FN></vCard>`)},
		&Private{Element: mustParse(t, `<notes xmlns="urn:example:notes"><text>milk</text></notes>`)},
		&Private{Element: mustParse(t, `<storage xmlns="storage:bookmarks"/>`)},
		&Blocked{JID: "spam@example.com"},
		&Blocked{JID: "example.net"},
		&Privacy{List: mustParse(t, `<list xmlns="jabber:iq:privacy" name="Blocked contacts"><item type="jid" value="x@y" action="deny" order="1"/></list>`), Default: true},
		&PEPNode{Node: "urn:example:list", Config: mustParse(t, `<x xmlns="jabber:x:data" type="submit"><field var="pubsub#max_items"><value>10</value></field></x>`),
			Affiliations: []Affiliation{{JID: "bob@example.org", Affiliation: "member"}}, Subscriptions: []string{"bob@example.org"}},
		&PEPNode{Node: "http://jabber.org/protocol/tune"},
		&PEPItem{Node: "urn:example:list", ID: "1", Published: stamp, Payload: mustParse(t, `<entry xmlns="urn:example:list">one</entry>`)},
		&PEPItem{Node: "urn:example:list", ID: "2", Payload: mustParse(t, `<entry xmlns="urn:example:list">two</entry>`)},
		&PEPItem{Node: "http://jabber.org/protocol/tune", ID: "current"},
		&Offline{Message: mustParse(t, `<message xmlns="jabber:client" from="bob@example.org/phone" to="alice@example.org" type="chat"><body>dinner</body><delay xmlns="urn:xmpp:delay" from="example.org" stamp="2024-05-01T12:30:00Z">Offline Storage</delay></message>`)},
		&Archived{ID: "abc", Stamp: stamp, With: "bob@example.org", Resource: "phone",
			Message: mustParse(t, `<message xmlns="jabber:client" from="bob@example.org/phone" to="alice@example.org" type="chat"><body>hi</body></message>`)},
		&Archived{ID: "abd", Stamp: stamp.Add(time.Second),
			Message: mustParse(t, `<message xmlns="jabber:client" to="bob@example.org" type="chat"><body>ho</body></message>`)},
		&LastActivity{Stamp: stamp, Status: "gone fishing"},
		&ArchivePrefs{Element: mustParse(t, `<prefs xmlns="urn:xmpp:mam:2" default="roster"/>`)},
		&Doc{Key: "future\x00key", Value: []byte{0, 1, 2}},
		&UserEnd{},
		&User{Host: "example.org", Name: "bob"},
		&UserEnd{},
		&User{Host: "example.net", Name: "carol", Password: "plain", HasPassword: true},
		&UserEnd{},
		&Room{Service: "conference.example.org", Name: "family", Created: stamp, Salt: []byte{9, 8, 7},
			Config:  mustParse(t, `<x xmlns="jabber:x:data" type="submit"><field var="FORM_TYPE"><value>http://jabber.org/protocol/muc#roomconfig</value></field><field var="muc#roomconfig_roomname"><value>Family &amp; friends</value></field></x>`),
			Subject: "Sunday <lunch>", SubjectBy: "family@conference.example.org/alice", SubjectAt: stamp,
			Affiliations: []RoomAffiliation{{JID: "alice@example.org", Affiliation: "owner", Nick: "Mum"},
				{JID: "spam@example.com", Affiliation: "outcast", Reason: "spam & more"}}},
		&Room{Service: "conference.example.org", Name: "empty"},
		&User{Host: "example.org", Name: "dave"},
		&UserEnd{},
	}
}

func encode(t testing.TB, entries []Entry) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := NewEncoder(&b)
	for _, e := range entries {
		if err := enc.Encode(e); err != nil {
			t.Fatalf("encode %T: %v", e, err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// cmpElements compares element trees by content.
var cmpElements = cmp.Comparer(func(a, b *xmlstream.Element) bool {
	if a == nil || b == nil {
		return a == b
	}
	return xmlstream.Equal(a, b)
})

// decoded is what decoding the encoding of entries gives: a node's
// configuration, affiliations and subscriptions come as entries of their
// own, one per element.
func decoded(entries []Entry) []Entry {
	var out []Entry
	for _, e := range entries {
		n, ok := e.(*PEPNode)
		if !ok {
			out = append(out, e)
			continue
		}
		out = append(out, &PEPNode{Node: n.Node, Config: n.Config})
		if len(n.Affiliations) > 0 {
			out = append(out, &PEPNode{Node: n.Node, Affiliations: n.Affiliations})
		}
		if len(n.Subscriptions) > 0 {
			out = append(out, &PEPNode{Node: n.Node, Subscriptions: n.Subscriptions})
		}
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	doc := encode(t, sample(t))
	want := decoded(sample(t))
	got, err := collect(t, string(doc))
	if err != nil {
		t.Fatalf("decode: %v\n%s", err, doc)
	}
	if diff := cmp.Diff(want, got, cmpElements); diff != "" {
		t.Errorf("entries differ (-want +got):\n%s\n%s", diff, doc)
	}
	// Encoding what was decoded gives the same document.
	if again := encode(t, got); !bytes.Equal(again, doc) {
		t.Errorf("second encoding differs:\n%s\n%s", doc, again)
	}
}

// TestProsody reads what Prosody 0.12's prosody-migrator wrote for an
// account (testdata: its xep0227 driver's output, unchanged).
func TestProsody(t *testing.T) {
	b, err := os.ReadFile("testdata/prosody-0.12-alice.xml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := collect(t, string(b))
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, e := range got {
		kinds[strings.TrimPrefix(fmt.Sprintf("%T", e), "*portable.")]++
	}
	want := map[string]int{"User": 1, "Credential": 1, "RosterItem": 1, "Request": 1, "VCard": 1, "Private": 1,
		"PEPNode": 2, "PEPItem": 4, "Archived": 4, "UserEnd": 1}
	if diff := cmp.Diff(want, kinds); diff != "" {
		t.Errorf("entry kinds (-want +got):\n%s", diff)
	}
	u := got[0].(*User)
	if u.Host != "ex.test" || u.Name != "alice" || u.HasPassword {
		t.Errorf("user = %+v", u)
	}
	c := got[1].(*Credential)
	if c.Mechanism != "SCRAM-SHA-1" || c.Iterations != 10000 || string(c.Salt) != "b7481ec9-c922-4be3-bb81-50cc27b39345" ||
		len(c.StoredKey) != 20 || len(c.ServerKey) != 20 {
		t.Errorf("credential = %+v", c)
	}
	var items []*PEPItem
	var archived []*Archived
	for _, e := range got {
		switch v := e.(type) {
		case *RosterItem:
			if diff := cmp.Diff(&RosterItem{JID: "bob@ex.test", Name: "Bob", Subscription: "both", Groups: []string{"Family"}}, v); diff != "" {
				t.Errorf("roster item (-want +got):\n%s", diff)
			}
		case *Request:
			if v.From != "carol@ex.test" {
				t.Errorf("request from %q", v.From)
			}
		case *PEPNode:
			if v.Node == "urn:example:family-list" {
				if got := fieldValue(v.Config, "pubsub#max_items"); got != "10" {
					t.Errorf("max_items = %q", got)
				}
			}
		case *PEPItem:
			items = append(items, v)
		case *Archived:
			archived = append(archived, v)
		}
	}
	if items[1].Node != "urn:example:family-list" || items[1].ID != "e0" || items[1].Payload.Text() != "item 0" {
		t.Errorf("item = %+v", items[1])
	}
	a := archived[0]
	if a.ID != "QneXw7OMGaILTxhqHeMhD5lX" || !a.Stamp.Equal(time.Date(2026, 12, 6, 16, 17, 22, 0, time.UTC)) ||
		a.Message.ChildText(NSClient, "body") != "archived 0" || a.Message.Get("to") != "bob@ex.test" {
		t.Errorf("archived = %+v", a)
	}
}

func fieldValue(form *xmlstream.Element, v string) string {
	for f := range form.Elements() {
		if f.Get("var") == v {
			return f.ChildText("jabber:x:data", "value")
		}
	}
	return ""
}

func TestUnknownAndInvalid(t *testing.T) {
	doc := `<server-data xmlns='urn:xmpp:pie:0'><extra xmlns='urn:example'/>
<host jid='h'><user name='u'>
  <query xmlns='jabber:iq:roster'><item jid='a@h'/><bogus/><item name='no jid'/></query>
  <privacy-lists xmlns='urn:example:x'><a><b/></a></privacy-lists>
  <scram-credentials xmlns='urn:xmpp:pie:0#scram' mechanism='SCRAM-SHA-1'><iter-count>x</iter-count></scram-credentials>
  <presence xmlns='jabber:client' from='a@h' type='subscribed'/>
</user><other/></host></server-data>`
	got, err := collect(t, doc)
	if err != nil {
		t.Fatal(err)
	}
	var unknown []string
	for _, e := range got {
		if u, ok := e.(*Unknown); ok {
			unknown = append(unknown, fmt.Sprintf("%s %s %v", u.Where, u.Name.Local, u.Reason != ""))
		}
	}
	want := []string{"server-data extra false", "roster bogus false", "roster item true", "user privacy-lists false",
		"user scram-credentials true", "user presence true", "host other false"}
	if diff := cmp.Diff(want, unknown); diff != "" {
		t.Errorf("unknown (-want +got):\n%s", diff)
	}
}

// TestRooms reads rooms as roost writes them, and reports the ones it
// cannot read rather than guess.
func TestRooms(t *testing.T) {
	const head = `<server-data xmlns='urn:xmpp:pie:0'><host jid='conference.h'>`
	const tail = `</host></server-data>`
	for _, tc := range []struct {
		name, room string
		want       Entry // nil: an Unknown with a reason
	}{
		{name: "bare", room: `<room xmlns='urn:roost:pie:0' name='r'/>`, want: &Room{Service: "conference.h", Name: "r"}},
		{name: "everything", room: `<room xmlns='urn:roost:pie:0' name='r' created='2024-05-01T12:00:00+02:00' salt='AQI='>
			<subject by='r@conference.h/a' stamp='2024-05-01T10:00:00Z'>hello</subject>
			<query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='member' jid='b@h' nick='B'><reason>kin</reason></item></query></room>`,
			want: &Room{Service: "conference.h", Name: "r", Created: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC), Salt: []byte{1, 2},
				Subject: "hello", SubjectBy: "r@conference.h/a", SubjectAt: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC),
				Affiliations: []RoomAffiliation{{JID: "b@h", Affiliation: "member", Nick: "B", Reason: "kin"}}}},
		{name: "no name", room: `<room xmlns='urn:roost:pie:0'/>`},
		{name: "bad created", room: `<room xmlns='urn:roost:pie:0' name='r' created='yesterday'/>`},
		{name: "bad salt", room: `<room xmlns='urn:roost:pie:0' name='r' salt='***'/>`},
		{name: "bad subject stamp", room: `<room xmlns='urn:roost:pie:0' name='r'><subject stamp='x'/></room>`},
		{name: "affiliation without jid", room: `<room xmlns='urn:roost:pie:0' name='r'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='owner'/></query></room>`},
		{name: "affiliation without name", room: `<room xmlns='urn:roost:pie:0' name='r'><query xmlns='http://jabber.org/protocol/muc#admin'><item jid='a@h'/></query></room>`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := collect(t, head+tc.room+tail)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 {
				t.Fatalf("got %d entries, want 1: %v", len(got), got)
			}
			if tc.want == nil {
				if u, ok := got[0].(*Unknown); !ok || u.Reason == "" || u.Where != "host" {
					t.Fatalf("got %#v, want an unreadable room reported", got[0])
				}
				return
			}
			if diff := cmp.Diff(tc.want, got[0], cmpElements); diff != "" {
				t.Errorf("room (-want +got):\n%s", diff)
			}
		})
	}
	// A room inside a user is refused by the encoder.
	enc := NewEncoder(io.Discard)
	if err := enc.Encode(&User{Host: "h", Name: "u"}); err != nil {
		t.Fatal(err)
	}
	if err := enc.Encode(&Room{Service: "conference.h", Name: "r"}); !errors.Is(err, ErrEncoder) {
		t.Errorf("room inside a user: got %v, want ErrEncoder", err)
	}
}

func TestBadInput(t *testing.T) {
	big := strings.Repeat("x", 200<<10)
	for _, tc := range []struct {
		name string
		doc  string
		opts Options
		want error
	}{
		{"empty", ``, Options{}, ErrFormat},
		{"wrong root", `<foo/>`, Options{}, ErrFormat},
		{"user without name", `<server-data xmlns='urn:xmpp:pie:0'><host jid='h'><user/></host></server-data>`, Options{}, ErrFormat},
		{"host without jid", `<server-data xmlns='urn:xmpp:pie:0'><host/></server-data>`, Options{}, ErrFormat},
		{"truncated", `<server-data xmlns='urn:xmpp:pie:0'><host jid='h'><user name='u'><vCard xmlns='vcard-temp'><FN>A`, Options{}, io.ErrUnexpectedEOF},
		{"dtd", `<!DOCTYPE x [<!ENTITY a "b">]><server-data xmlns='urn:xmpp:pie:0'/>`, Options{}, ErrRestricted},
		{"unknown entity", `<server-data xmlns='urn:xmpp:pie:0'>&a;</server-data>`, Options{}, nil},
		{"two roots", `<server-data xmlns='urn:xmpp:pie:0'/><server-data xmlns='urn:xmpp:pie:0'/>`, Options{}, ErrFormat},
		{"include from a stream", `<server-data xmlns='urn:xmpp:pie:0'><include xmlns='http://www.w3.org/2001/XInclude' href='a.xml'/></server-data>`, Options{}, ErrInclude},
		{"element too large", `<server-data xmlns='urn:xmpp:pie:0'><host jid='h'><user name='u'><vCard xmlns='vcard-temp'><FN>` + big + `</FN></vCard></user></host></server-data>`, Options{MaxElementBytes: 100 << 10}, ErrTooLarge},
		{"attribute too large", `<server-data xmlns='urn:xmpp:pie:0'><host jid='h'><user name='` + big + big + `'/></host></server-data>`, Options{MaxElementBytes: 100 << 10}, ErrTooLarge},
		{"too deep", `<server-data xmlns='urn:xmpp:pie:0'><host jid='h'><user name='u'><vCard xmlns='vcard-temp'>` + strings.Repeat("<a>", 10) + strings.Repeat("</a>", 10) + `</vCard></user></host></server-data>`, Options{MaxDepth: 5}, ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Decode(strings.NewReader(tc.doc), tc.opts, func(Entry) error { return nil })
			var se *SyntaxError
			switch {
			case err == nil:
				t.Fatal("no error")
			case !errors.As(err, &se):
				t.Fatalf("error %v (%T) is not a *SyntaxError", err, err)
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Fatalf("error %v, want %v", err, tc.want)
			case se.Line < 1:
				t.Fatalf("error %v has no line", err)
			}
		})
	}
}

// TestTruncated cuts a document at every byte: each prefix either fails
// with a *SyntaxError or, cut in the trailing white space, reads whole;
// entries already read were complete.
func TestTruncated(t *testing.T) {
	doc := encode(t, sample(t))
	all := 0
	for _, e := range sample(t) {
		if _, ok := e.(*UserEnd); ok {
			all++
		}
	}
	for n := range len(doc) {
		users := 0
		err := Decode(bytes.NewReader(doc[:n]), Options{}, func(e Entry) error {
			if _, ok := e.(*UserEnd); ok {
				users++
			}
			return nil
		})
		var se *SyntaxError
		if err == nil {
			if strings.TrimSpace(string(doc[n:])) != "" {
				t.Fatalf("prefix of %d bytes decoded without error", n)
			}
			continue
		}
		if !errors.As(err, &se) {
			t.Fatalf("prefix of %d bytes: %v is not a *SyntaxError", n, err)
		}
		if users > all {
			t.Fatalf("prefix of %d bytes: %d users ended", n, users)
		}
	}
}

func TestXInclude(t *testing.T) {
	fsys := fstest.MapFS{
		"export/main.xml": {Data: []byte(`<?xml version='1.0'?><server-data xmlns='urn:xmpp:pie:0' xmlns:xi='http://www.w3.org/2001/XInclude'>
<xi:include href='example.org.xml'/></server-data>`)},
		"export/example.org.xml": {Data: []byte(`<host xmlns='urn:xmpp:pie:0' xmlns:xi='http://www.w3.org/2001/XInclude' jid='example.org'>
<xi:include href='example.org/alice.xml'/><user name='bob'/></host>`)},
		"export/example.org/alice.xml": {Data: []byte(`<user xmlns='urn:xmpp:pie:0' name='alice'><vCard xmlns='vcard-temp'><FN>A</FN></vCard></user>`)},
		"export/escape.xml":            {Data: []byte(`<server-data xmlns='urn:xmpp:pie:0'><include xmlns='http://www.w3.org/2001/XInclude' href='../../secret.xml'/></server-data>`)},
		"export/loop.xml":              {Data: []byte(`<server-data xmlns='urn:xmpp:pie:0'><include xmlns='http://www.w3.org/2001/XInclude' href='loophost.xml'/></server-data>`)},
		"export/loophost.xml":          {Data: []byte(`<host xmlns='urn:xmpp:pie:0' jid='h'><include xmlns='http://www.w3.org/2001/XInclude' href='loophost.xml'/></host>`)},
		"secret.xml":                   {Data: []byte(`<host xmlns='urn:xmpp:pie:0' jid='x'/>`)},
	}
	var got []string
	err := DecodeFile(fsys, "export/main.xml", Options{}, func(e Entry) error {
		switch v := e.(type) {
		case *User:
			got = append(got, v.Name+"@"+v.Host)
		case *VCard:
			got = append(got, "vcard "+v.Element.ChildText(NSVCard, "FN"))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"alice@example.org", "vcard A", "bob@example.org"}, got); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	// Includes go from a server to hosts to users, never back up, so they
	// cannot loop: a host file including a host is not a document.
	for name, want := range map[string]error{"export/escape.xml": ErrInclude, "export/loop.xml": ErrFormat} {
		err := DecodeFile(fsys, name, Options{}, func(Entry) error { return nil })
		if !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", name, err, want)
		}
	}
}

func TestCallbackError(t *testing.T) {
	stop := errors.New("stop")
	err := Decode(bytes.NewReader(encode(t, sample(t))), Options{}, func(e Entry) error {
		if _, ok := e.(*VCard); ok {
			return stop
		}
		return nil
	})
	if err != stop {
		t.Errorf("err = %v, want the callback's", err)
	}
}

func TestEncoderOrder(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries []Entry
	}{
		{"entry outside a user", []Entry{&VCard{Element: xmlstream.New(NSVCard, "vCard")}}},
		{"user in a user", []Entry{&User{Host: "h", Name: "a"}, &User{Host: "h", Name: "b"}}},
		{"end outside a user", []Entry{&UserEnd{}}},
		{"user without host", []Entry{&User{Name: "a"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			enc := NewEncoder(io.Discard)
			var err error
			for _, e := range tc.entries {
				if err = enc.Encode(e); err != nil {
					break
				}
			}
			if !errors.Is(err, ErrEncoder) {
				t.Errorf("err = %v, want ErrEncoder", err)
			}
		})
	}
}

func TestEmptyDocument(t *testing.T) {
	doc := encode(t, nil)
	got, err := collect(t, string(doc))
	if err != nil || len(got) != 0 {
		t.Errorf("empty export: %v, %v\n%s", got, err, doc)
	}
}

func TestNoNamespacePayload(t *testing.T) {
	in := []Entry{&User{Host: "h", Name: "u"}, &Private{Element: mustParse(t, `<x xmlns="urn:a"><y xmlns=""/></x>`)},
		&PEPItem{Node: "n", ID: "1", Payload: xmlstream.New("", "bare")}, &UserEnd{}}
	got, err := collect(t, string(encode(t, in)))
	if err != nil {
		t.Fatal(err)
	}
	if p := got[2].(*PEPItem).Payload; p.Name.Space != "" || p.Name.Local != "bare" {
		t.Errorf("payload name %+v, want no namespace", p.Name)
	}
}

func BenchmarkDecode(b *testing.B) {
	doc := encode(b, sample(b))
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if err := Decode(bytes.NewReader(doc), Options{}, func(Entry) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	entries := sample(b)
	b.ReportAllocs()
	for b.Loop() {
		enc := NewEncoder(io.Discard)
		for _, e := range entries {
			if err := enc.Encode(e); err != nil {
				b.Fatal(err)
			}
		}
		if err := enc.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

func TestIncludes(t *testing.T) {
	fsys := fstest.MapFS{
		"d/main.xml": {Data: []byte(`<server-data xmlns='urn:xmpp:pie:0' xmlns:xi='http://www.w3.org/2001/XInclude'><xi:include href='a.xml'/><xi:include href='sub/b.xml'/></server-data>`)},
		"d/user.xml": {Data: []byte(`<server-data xmlns='urn:xmpp:pie:0'><host jid='h'><user name='u'><xi:include xmlns:xi='http://www.w3.org/2001/XInclude' href='never.xml'/></user></host></server-data>`)},
		"d/bad.xml":  {Data: []byte(`<server-data xmlns='urn:xmpp:pie:0'><host`)},
	}
	for name, want := range map[string][]string{"d/main.xml": {"d/a.xml", "d/sub/b.xml"}, "d/user.xml": nil} {
		got, err := Includes(fsys, name)
		if err != nil || !cmp.Equal(got, want) {
			t.Errorf("Includes(%s) = %v, %v; want %v", name, got, err, want)
		}
	}
	if _, err := Includes(fsys, "d/bad.xml"); err == nil {
		t.Error("Includes of a truncated file: no error")
	}
}

// TestScramEncodings: ejabberd's export_piefxis encodes the SCRAM values
// twice; Prosody and roost once. Both read to the same raw keys, and a
// value that only looks base64 is left alone.
func TestScramEncodings(t *testing.T) {
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	twice := func(b []byte) string { return b64([]byte(b64(b))) }
	salt := bytes.Repeat([]byte{7}, 16)
	tests := []struct {
		name, mech   string
		keySize      int
		enc          func([]byte) string
		wantSalt     []byte
		wantKeyBytes int
	}{
		{"once, SHA-1", "SCRAM-SHA-1", 20, b64, salt, 20},
		{"twice, SHA-1 (ejabberd)", "SCRAM-SHA-1", 20, twice, salt, 20},
		{"twice, SHA-256 (ejabberd)", "SCRAM-SHA-256", 32, twice, salt, 32},
		// Not a key of the hash's size either way: kept as read, and
		// reported unusable by the importer.
		{"twice, wrong size", "SCRAM-SHA-1", 16, twice, []byte(b64(salt)), 24},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stored, server := bytes.Repeat([]byte{1}, tc.keySize), bytes.Repeat([]byte{2}, tc.keySize)
			doc := `<server-data xmlns='urn:xmpp:pie:0'><host jid='h'><user name='u'>` +
				`<scram-credentials xmlns='urn:xmpp:pie:0#scram' mechanism='` + tc.mech + `'><iter-count>4096</iter-count>` +
				`<salt>` + tc.enc(salt) + `</salt><server-key>` + tc.enc(server) + `</server-key><stored-key>` + tc.enc(stored) +
				`</stored-key></scram-credentials></user></host></server-data>`
			got, err := collect(t, doc)
			if err != nil {
				t.Fatal(err)
			}
			c, ok := got[1].(*Credential)
			if !ok {
				t.Fatalf("entry 1 is %T, want *Credential", got[1])
			}
			if !bytes.Equal(c.Salt, tc.wantSalt) || len(c.StoredKey) != tc.wantKeyBytes || len(c.ServerKey) != tc.wantKeyBytes {
				t.Errorf("salt %q, keys of %d and %d bytes; want salt %q, keys of %d", c.Salt, len(c.StoredKey), len(c.ServerKey), tc.wantSalt, tc.wantKeyBytes)
			}
			if tc.wantKeyBytes == tc.keySize && (!bytes.Equal(c.StoredKey, stored) || !bytes.Equal(c.ServerKey, server)) {
				t.Errorf("keys %x %x, want %x %x", c.StoredKey, c.ServerKey, stored, server)
			}
		})
	}
}
