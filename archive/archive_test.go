package archive

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"roost/jid"
	"roost/stanza"
	"roost/xmlstream"
)

// memStore is an archive in memory, for testing what Answer does with a
// store's page; the store package tests the paging itself on a real file.
type memStore struct {
	owner string
	items []Item
	err   error
}

func (m *memStore) Append(owner string, _ bool, with, res string, st []byte) (ID, error) {
	id := ID{Seq: uint64(len(m.items) + 1), Tag: uint32(len(m.items) * 7)}
	m.items = append(m.items, Item{ID: id, With: with, Resource: res, Stanza: slices.Clone(st)})
	m.owner = owner
	return id, nil
}

func (m *memStore) Page(owner string, r Range) ([]Item, bool, error) {
	if m.err != nil {
		return nil, false, m.err
	}
	for _, k := range r.Known {
		if !slices.ContainsFunc(m.items, func(it Item) bool { return it.ID == k }) {
			return nil, false, ErrUnknownID
		}
	}
	var sel []Item
	for _, it := range m.items {
		if owner == m.owner && (r.After == 0 || it.ID.Seq > r.After) && (r.Before == 0 || it.ID.Seq < r.Before) &&
			(r.With == "" || it.With == r.With) {
			sel = append(sel, it)
		}
	}
	complete := len(sel) <= r.Max
	if r.Reverse {
		sel = sel[max(len(sel)-r.Max, 0):]
	} else {
		sel = sel[:min(r.Max, len(sel))]
	}
	return sel, complete, nil
}

func (m *memStore) Bounds(string) (ID, ID, error) {
	if len(m.items) == 0 {
		return ID{}, ID{}, nil
	}
	return m.items[0].ID, m.items[len(m.items)-1].ID, nil
}

func TestAnswer(t *testing.T) {
	st := &memStore{}
	owner := jid.MustParse("juliet@capulet.lit")
	for i := range 5 {
		msg := fmt.Sprintf(`<message xmlns="jabber:client" from="romeo@montague.lit/orchard" to="juliet@capulet.lit" type="chat"><body>%d</body></message>`, i)
		if _, err := st.Append(owner.String(), true, "romeo@montague.lit", "orchard", []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	st.items[3].Stanza = []byte("<message><body>broken") // no longer parses
	iq := &stanza.Stanza{Kind: stanza.IQ, Type: stanza.TypeSet, ID: "juliet1", From: jid.MustParse("juliet@capulet.lit/balcony")}
	ids := func(i int) string { return st.items[i].ID.String() }
	tests := []struct {
		name    string
		q       Query
		results []string // the result ids in the order sent
		fin     string
	}{
		{"first page", Query{QueryID: "f27", Max: 2}, []string{ids(0), ids(1)},
			`<fin xmlns="urn:xmpp:mam:2" stable="true"><set xmlns="http://jabber.org/protocol/rsm"><first>` + ids(0) + `</first><last>` + ids(1) + `</last></set></fin>`},
		{"last page flipped", Query{Max: 2, Last: true, Flip: true}, []string{ids(4), ids(3)},
			`<fin xmlns="urn:xmpp:mam:2" complete="false" stable="true"><set xmlns="http://jabber.org/protocol/rsm"><first>` + ids(3) + `</first><last>` + ids(4) + `</last></set></fin>`},
		{"everything", Query{Max: 10}, []string{ids(0), ids(1), ids(2), ids(3), ids(4)},
			`<fin xmlns="urn:xmpp:mam:2" complete="true" stable="true"><set xmlns="http://jabber.org/protocol/rsm"><first>` + ids(0) + `</first><last>` + ids(4) + `</last></set></fin>`},
		{"nothing", Query{Max: 10, With: jid.MustParse("nurse@capulet.lit")}, nil,
			`<fin xmlns="urn:xmpp:mam:2" complete="true" stable="true"><set xmlns="http://jabber.org/protocol/rsm"/></fin>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sent []*xmlstream.Element
			res, err := Answer(st, owner, iq, tt.q, xmlstream.Limits{}, func(el *xmlstream.Element) { sent = append(sent, el) })
			if err != nil {
				t.Fatalf("Answer = %v", err)
			}
			var got []string
			for _, el := range sent {
				r := el.Child(NS, "result")
				got = append(got, r.Get("id"))
				if el.Get("to") != "juliet@capulet.lit/balcony" || el.Get("from") != "juliet@capulet.lit" || r.Get("queryid") != tt.q.QueryID {
					t.Errorf("result addressed %s → %s, queryid %q", el.Get("from"), el.Get("to"), r.Get("queryid"))
				}
				fwd := r.Child(NSForward, "forwarded")
				if fwd.Child(NSDelay, "delay").Get("stamp") == "" {
					t.Errorf("result %s has no delay stamp", el)
				}
				msg := fwd.Child(xmlstream.NSClient, "message")
				if (msg == nil) != (r.Get("id") == ids(3)) {
					t.Errorf("result %s: forwarded message present = %t", r.Get("id"), msg != nil)
				}
			}
			if !slices.Equal(got, tt.results) {
				t.Errorf("results %v, want %v", got, tt.results)
			}
			if res.Get("type") != "result" || res.Get("id") != "juliet1" || res.Get("to") != "juliet@capulet.lit/balcony" {
				t.Errorf("IQ result %s", res)
			}
			// complete='false' and no complete mean the same (§4.2.3).
			want := strings.Replace(tt.fin, ` complete="false"`, "", 1)
			if got := res.FirstChild().String(); got != want {
				t.Errorf("fin = %s\nwant  %s", got, want)
			}
		})
	}
	_, err := Answer(st, owner, iq, Query{Max: 1, Known: []ID{{Seq: 99}}}, xmlstream.Limits{}, func(*xmlstream.Element) {})
	var se *stanza.Error
	if !errors.As(err, &se) || se.Condition != stanza.ItemNotFound {
		t.Errorf("unknown id: %v, want item-not-found", err)
	}
	st.err = errors.New("disk on fire")
	if _, err := Answer(st, owner, iq, Query{Max: 1}, xmlstream.Limits{}, func(*xmlstream.Element) {}); err == nil || errors.As(err, &se) {
		t.Errorf("store failure: %v, want a plain error (internal-server-error)", err)
	}
}

func TestResult(t *testing.T) {
	msg := parseEl(t, `<message xmlns="jabber:client" from="witch@shakespeare.lit" to="macbeth@shakespeare.lit"><body>Hail to thee</body></message>`)
	el := Result(jid.MustParse("juliet@capulet.lit/chamber"), jid.MustParse("juliet@capulet.lit"), "f27", id2, msg)
	want := `<message xmlns="jabber:client" to="juliet@capulet.lit/chamber" from="juliet@capulet.lit"><result xmlns="urn:xmpp:mam:2" queryid="f27" id="` + id2.String() +
		`"><forwarded xmlns="urn:xmpp:forward:0"><delay xmlns="urn:xmpp:delay" stamp="2025-06-01T10:00:05Z"/><message xmlns="jabber:client" from="witch@shakespeare.lit" to="macbeth@shakespeare.lit"><body>Hail to thee</body></message></forwarded></result></message>`
	if got := el.String(); got != want {
		t.Errorf("Result =\n%s\nwant\n%s", got, want)
	}
	if got := FormatTime(ID{Seq: 1748772005000123}.Time()); got != "2025-06-01T10:00:05.000123Z" {
		t.Errorf("FormatTime = %s", got)
	}
}

func TestMetadata(t *testing.T) {
	if got := Metadata(ID{}, ID{}).String(); got != `<metadata xmlns="urn:xmpp:mam:2"/>` {
		t.Errorf("empty metadata = %s", got)
	}
	want := `<metadata xmlns="urn:xmpp:mam:2"><start id="` + id1.String() + `" timestamp="2025-06-01T10:00:00Z"/><end id="` + id3.String() + `" timestamp="2025-06-01T10:00:09Z"/></metadata>`
	if got := Metadata(id1, id3).String(); got != want {
		t.Errorf("Metadata =\n%s\nwant\n%s", got, want)
	}
}

func TestStampAndStrip(t *testing.T) {
	const in = `<message xmlns="jabber:client" to="juliet@capulet.lit"><body>hi</body>` +
		`<stanza-id xmlns="urn:xmpp:sid:0" by="juliet@capulet.lit" id="spoofed"/>` +
		`<stanza-id xmlns="urn:xmpp:sid:0" by="JULIET@capulet.lit" id="spoofed-too"/>` +
		`<stanza-id xmlns="urn:xmpp:sid:0" by="room@muc.example.com" id="kept"/></message>`
	msg := parseEl(t, in)
	stamped := Stamp(msg, "juliet@capulet.lit", id2)
	want := `<message xmlns="jabber:client" to="juliet@capulet.lit"><body>hi</body><stanza-id xmlns="urn:xmpp:sid:0" by="room@muc.example.com" id="kept"/>` +
		`<stanza-id xmlns="urn:xmpp:sid:0" id="` + id2.String() + `" by="juliet@capulet.lit"/></message>`
	if got := stamped.String(); got != want {
		t.Errorf("Stamp =\n%s\nwant\n%s", got, want)
	}
	if msg.String() != parseEl(t, in).String() {
		t.Errorf("Stamp changed its input: %s", msg)
	}
	if id, ok := StanzaID(stamped, "juliet@capulet.lit"); !ok || id != id2 {
		t.Errorf("StanzaID = %v, %t; want %v", id, ok, id2)
	}
	if _, ok := StanzaID(stamped, "romeo@montague.lit"); ok {
		t.Errorf("StanzaID found one by romeo")
	}
	stripped := Strip(stamped, "juliet@capulet.lit")
	want = `<message xmlns="jabber:client" to="juliet@capulet.lit"><body>hi</body><stanza-id xmlns="urn:xmpp:sid:0" by="room@muc.example.com" id="kept"/></message>`
	if got := stripped.String(); got != want {
		t.Errorf("Strip =\n%s\nwant\n%s", got, want)
	}
	if again := Strip(stripped, "juliet@capulet.lit"); again != stripped {
		t.Errorf("Strip of nothing copied the message")
	}
}

func BenchmarkStamp(b *testing.B) {
	msg := parseEl(b, `<message xmlns="jabber:client" to="juliet@capulet.lit" type="chat"><body>hi</body><active xmlns="http://jabber.org/protocol/chatstates"/></message>`)
	b.ReportAllocs()
	for b.Loop() {
		_ = Stamp(msg, "juliet@capulet.lit", id2)
	}
}

func BenchmarkAnswer(b *testing.B) {
	st := &memStore{}
	owner := jid.MustParse("juliet@capulet.lit")
	for i := range 50 {
		msg := fmt.Sprintf(`<message xmlns="jabber:client" from="romeo@montague.lit/orchard" to="juliet@capulet.lit" type="chat" id="m%d"><body>Call me but love, and I'll be new baptized.</body></message>`, i)
		_, _ = st.Append(owner.String(), true, "romeo@montague.lit", "orchard", []byte(msg))
	}
	iq := &stanza.Stanza{Kind: stanza.IQ, Type: stanza.TypeSet, ID: "q", From: jid.MustParse("juliet@capulet.lit/balcony")}
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		if _, err := Answer(st, owner, iq, Query{Max: 50}, xmlstream.Limits{}, func(*xmlstream.Element) { n++ }); err != nil || n != 50 {
			b.Fatalf("Answer = %d results, %v", n, err)
		}
	}
}
