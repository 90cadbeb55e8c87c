package archive

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"roost/jid"
	"roost/stanza"
	"roost/xmlstream"
)

func parseEl(t testing.TB, s string) *xmlstream.Element {
	t.Helper()
	el, err := xmlstream.Parse([]byte(s), xmlstream.Limits{})
	if err != nil {
		t.Fatalf("parse %s: %v", s, err)
	}
	return el
}

var (
	id1 = ID{Seq: 1748772000000000, Tag: 7}
	id2 = ID{Seq: 1748772005000000, Tag: 9}
	id3 = ID{Seq: 1748772009000000, Tag: 0xffffffff}
)

func TestIDRoundTrip(t *testing.T) {
	for _, id := range []ID{id1, id2, id3, {Seq: 1}, {Seq: ^uint64(0), Tag: ^uint32(0)}} {
		s := id.String()
		if len(s) != idLen {
			t.Errorf("%+v.String() = %q, %d characters, want %d", id, s, len(s), idLen)
		}
		got, err := ParseID(s)
		if err != nil || got != id {
			t.Errorf("ParseID(%q) = %+v, %v; want %+v", s, got, err, id)
		}
	}
	// Any other 16 characters of base64url are a well-formed id, which
	// the archive's lookup then does not find.
	for _, s := range []string{"", "AAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAA", "28482-98726-73623", "AAAAAAAAAAAAAAA=", "AAAAAAAAAAAAAAB/", "AAAAAAAAAAAAAA.B"} {
		if id, err := ParseID(s); !errors.Is(err, ErrBadID) {
			t.Errorf("ParseID(%q) = %+v, %v; want ErrBadID", s, id, err)
		}
	}
	if got := id2.Time(); !got.Equal(time.Date(2025, 6, 1, 10, 0, 5, 0, time.UTC)) {
		t.Errorf("id2.Time() = %v", got)
	}
}

func formQuery(fields string, rest string) string {
	return `<query xmlns='urn:xmpp:mam:2' queryid='q1'><x xmlns='jabber:x:data' type='submit'>` +
		`<field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field>` + fields + `</x>` + rest + `</query>`
}

func field(v string, vals ...string) string {
	var b strings.Builder
	b.WriteString(`<field var='` + v + `'>`)
	for _, x := range vals {
		b.WriteString(`<value>` + x + `</value>`)
	}
	b.WriteString(`</field>`)
	return b.String()
}

func TestParseQuery(t *testing.T) {
	lim := Limits{MaxPage: 100, DefaultPage: 20}
	start := time.Date(2010, 6, 7, 0, 0, 0, 0, time.UTC)
	end := time.Date(2010, 7, 7, 13, 23, 54, 500_000_000, time.UTC)
	tests := []struct {
		name string
		in   string
		want Query
	}{
		{"bare", `<query xmlns='urn:xmpp:mam:2'/>`, Query{Max: 20}},
		{"queryid", `<query xmlns='urn:xmpp:mam:2' queryid='f27'/>`, Query{QueryID: "f27", Max: 20}},
		{"with and times", formQuery(field("with", "juliet@capulet.lit")+field("start", "2010-06-07T00:00:00Z")+field("end", "2010-07-07T15:23:54.5+02:00"), ""),
			Query{QueryID: "q1", With: jid.MustParse("juliet@capulet.lit"), Start: start, End: end, Max: 20}},
		{"empty values filter nothing", formQuery(field("with")+field("start", "")+field("after-id"), ""), Query{QueryID: "q1", Max: 20}},
		{"ids", formQuery(field("ids", id2.String(), id1.String()), ""), Query{QueryID: "q1", IDs: []ID{id2, id1}, Known: []ID{id2, id1}, Max: 20}},
		{"between", formQuery(field("after-id", id1.String())+field("before-id", id3.String()), ""),
			Query{QueryID: "q1", After: id1, Before: id3, Known: []ID{id1, id3}, Max: 20}},
		{"rsm max and after", formQuery("", `<set xmlns='http://jabber.org/protocol/rsm'><max>10</max><after>`+id2.String()+`</after></set>`),
			Query{QueryID: "q1", After: id2, Known: []ID{id2}, Max: 10}},
		{"last page", `<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><max>10</max><before/></set></query>`,
			Query{Max: 10, Last: true}},
		{"page before", `<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><before>` + id3.String() + `</before></set><flip-page/></query>`,
			Query{Max: 20, Last: true, Before: id3, Known: []ID{id3}, Flip: true}},
		{"tighter bound wins", formQuery(field("after-id", id2.String())+field("before-id", id3.String()),
			`<set xmlns='http://jabber.org/protocol/rsm'><after>`+id1.String()+`</after><before>`+id2.String()+`</before></set>`),
			Query{QueryID: "q1", After: id2, Before: id2, Last: true, Known: []ID{id2, id3, id1, id2}, Max: 20}},
		{"absurd max is clamped", `<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><max>99999999999999999999999</max></set></query>`, Query{Max: 100}},
		{"large max is clamped", `<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><max>5000</max></set></query>`, Query{Max: 100}},
		{"zero max", `<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><max>0</max></set></query>`, Query{Max: 0}},
		{"other namespaces ignored", `<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><max xmlns='x'>zz</max></set><foo xmlns='bar'/></query>`, Query{Max: 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseQuery(parseEl(t, tt.in), lim)
			if err != nil {
				t.Fatalf("ParseQuery = %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b jid.JID) bool { return a.Equal(b) })); diff != "" {
				t.Errorf("query (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseQueryErrors(t *testing.T) {
	lim := Limits{MaxPage: 3}
	rsm := func(s string) string {
		return `<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'>` + s + `</set></query>`
	}
	tests := []struct {
		name string
		in   string
		want stanza.Condition
	}{
		{"not a query", `<query xmlns='urn:xmpp:mam:1'/>`, stanza.BadRequest},
		{"long queryid", `<query xmlns='urn:xmpp:mam:2' queryid='` + strings.Repeat("q", 300) + `'/>`, stanza.BadRequest},
		{"node", `<query xmlns='urn:xmpp:mam:2' node='urn:xmpp:microblog:0'/>`, stanza.FeatureNotImplemented},
		{"two forms", `<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'/><x xmlns='jabber:x:data' type='submit'/></query>`, stanza.BadRequest},
		{"two sets", `<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'/><set xmlns='http://jabber.org/protocol/rsm'/></query>`, stanza.BadRequest},
		{"form type", `<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:xmpp:mam:1</value></field></x></query>`, stanza.BadRequest},
		{"no form type", `<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'><field var='with'><value>a@b</value></field></x></query>`, stanza.BadRequest},
		{"form not submitted", `<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='form'><field var='FORM_TYPE'><value>urn:xmpp:mam:2</value></field></x></query>`, stanza.BadRequest},
		{"bad form type attribute", `<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='nonsense'/></query>`, stanza.BadRequest},
		{"field twice", formQuery(field("with", "a@b")+field("with", "c@d"), ""), stanza.BadRequest},
		{"field without var", formQuery(`<field><value>x</value></field>`, ""), stanza.BadRequest},
		{"two withs", formQuery(field("with", "a@b", "c@d"), ""), stanza.BadRequest},
		{"bad with", formQuery(field("with", "@@"), ""), stanza.JIDMalformed},
		{"bad start", formQuery(field("start", "yesterday"), ""), stanza.BadRequest},
		{"start without zone", formQuery(field("start", "2010-06-07T00:00:00"), ""), stanza.BadRequest},
		{"unknown field", formQuery(field("include-groupchat", "true"), ""), stanza.FeatureNotImplemented},
		{"unknown id", formQuery(field("after-id", "28482-98726-73623"), ""), stanza.ItemNotFound},
		{"unknown ids", formQuery(field("ids", id1.String(), "nope"), ""), stanza.ItemNotFound},
		{"too many ids", formQuery(field("ids", id1.String(), id2.String(), id3.String(), id1.String()), ""), stanza.PolicyViolation},
		{"negative max", rsm(`<max>-1</max>`), stanza.BadRequest},
		{"word max", rsm(`<max>ten</max>`), stanza.BadRequest},
		{"empty max", rsm(`<max/>`), stanza.BadRequest},
		{"unknown rsm after", rsm(`<after>x</after>`), stanza.ItemNotFound},
		{"empty rsm after", rsm(`<after/>`), stanza.ItemNotFound},
		{"index", rsm(`<index>10</index>`), stanza.FeatureNotImplemented},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := ParseQuery(parseEl(t, tt.in), lim)
			var se *stanza.Error
			if !errors.As(err, &se) || se.Condition != tt.want {
				t.Errorf("ParseQuery = %+v, %v; want %s", q, err, tt.want)
			}
		})
	}
}

func TestRange(t *testing.T) {
	at := func(s string) time.Time {
		tm, err := ParseTime(s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		name string
		q    Query
		want Range
	}{
		{"empty", Query{Max: 5}, Range{Max: 5}},
		{"full with", Query{With: jid.MustParse("b@x/phone"), Max: 5}, Range{With: "b@x", Resource: "phone", Max: 5}},
		{"bare with", Query{With: jid.MustParse("b@x"), Max: 5}, Range{With: "b@x", Max: 5}},
		{"whole microseconds", Query{Start: at("2025-06-01T10:00:05Z"), End: at("2025-06-01T10:00:09.000001Z")},
			Range{First: 1748772005000000, Last: 1748772009000001}},
		{"start rounds up, end down", Query{Start: at("2025-06-01T10:00:05.0000001Z"), End: at("2025-06-01T10:00:09.0000019Z")},
			Range{First: 1748772005000001, Last: 1748772009000001}},
		{"before the epoch", Query{Start: at("1960-01-01T00:00:00Z"), End: at("1965-01-01T00:00:00Z")}, Range{First: 2, Last: 1}},
		{"ids and bounds", Query{After: id1, Before: id3, IDs: []ID{id2}, Known: []ID{id1, id3, id2}, Last: true},
			Range{After: id1.Seq, Before: id3.Seq, IDs: []uint64{id2.Seq}, Known: []ID{id1, id3, id2}, Reverse: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.q.Range()); diff != "" {
				t.Errorf("Range (-want +got):\n%s", diff)
			}
		})
	}
}

func TestQueryElementRoundTrip(t *testing.T) {
	for _, q := range []Query{
		{Max: 20},
		{QueryID: "x", With: jid.MustParse("b@x/phone"), Start: time.Unix(1, 500).UTC(), End: time.Unix(99, 0).UTC(), Max: 7, Flip: true},
		{After: id1, Before: id3, Known: []ID{id1, id3}, Max: 3},
		{Before: id3, Last: true, Known: []ID{id3}, Max: 50},
		{Last: true, Max: 1, IDs: []ID{id1, id2}, Known: []ID{id1, id2}},
	} {
		got, err := ParseQuery(q.Element(), Limits{})
		if err != nil {
			t.Errorf("ParseQuery(%s) = %v", q.Element(), err)
			continue
		}
		if diff := cmp.Diff(q.Range(), got.Range()); diff != "" || got.Flip != q.Flip || got.QueryID != q.QueryID {
			t.Errorf("round trip of %s (-want +got):\n%s", q.Element(), diff)
		}
	}
}

func TestForm(t *testing.T) {
	got := Form().String()
	for _, want := range []string{`var="FORM_TYPE"`, `var="with" type="jid-single"`, `var="start"`, `var="end"`, `var="before-id"`, `var="after-id"`,
		`var="ids" type="list-multi"`, `<validate xmlns="http://jabber.org/protocol/xdata-validate" datatype="xs:string"><open/></validate>`} {
		if !strings.Contains(got, want) {
			t.Errorf("Form() = %s\nwant it to contain %s", got, want)
		}
	}
	if strings.Contains(got, "required") {
		t.Errorf("Form() marks a field required (§4.1 forbids it): %s", got)
	}
}

// FuzzParseQuery: any input parses to a query or a stanza error, never a
// panic; a parsed query re-encodes to one selecting the same page; and
// the work it asks for is bounded.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{
		`<query xmlns='urn:xmpp:mam:2'/>`,
		formQuery(field("with", "juliet@capulet.lit")+field("start", "2010-06-07T00:00:00Z")+field("end", "2010-07-07T13:23:54Z"), ""),
		formQuery(field("after-id", id1.String())+field("before-id", id3.String())+field("ids", id2.String()), `<flip-page/>`),
		formQuery("", `<set xmlns='http://jabber.org/protocol/rsm'><max>10</max><before>`+id2.String()+`</before></set>`),
		`<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><max>999999999999999999</max><before/></set></query>`,
	} {
		f.Add(s)
	}
	lim := Limits{MaxPage: 10}
	f.Fuzz(func(t *testing.T, s string) {
		el, err := xmlstream.Parse([]byte(s), xmlstream.Limits{})
		if err != nil {
			return
		}
		q, err := ParseQuery(el, lim)
		if err != nil {
			var se *stanza.Error
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a stanza error", err)
			}
			return
		}
		if q.Max < 0 || q.Max > 10 || len(q.IDs) > 10 {
			t.Fatalf("unbounded query: max %d, %d ids", q.Max, len(q.IDs))
		}
		again, err := ParseQuery(q.Element(), lim)
		if err != nil {
			t.Fatalf("re-parse of %s: %v", q.Element(), err)
		}
		// The same page; the ids the re-encoded query must find are among
		// the first's (a looser bound it named is dropped).
		r1, r2 := q.Range(), again.Range()
		for _, id := range r2.Known {
			if !slices.Contains(r1.Known, id) {
				t.Fatalf("round trip of %s names %v, which the first did not", s, id)
			}
		}
		r1.Known, r2.Known = nil, nil
		if diff := cmp.Diff(r1, r2); diff != "" || again.Flip != q.Flip || again.QueryID != q.QueryID {
			t.Fatalf("round trip of %s (-first +second):\n%s", s, diff)
		}
	})
}

func FuzzParseID(f *testing.F) {
	f.Add(id1.String())
	f.Add("AAAAAAAAAAAAAAAB")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseID(s)
		if err != nil {
			return
		}
		if id.String() != s {
			t.Fatalf("ParseID(%q).String() = %q", s, id.String())
		}
	})
}

func BenchmarkParseQuery(b *testing.B) {
	el := parseEl(b, formQuery(field("with", "juliet@capulet.lit")+field("start", "2010-06-07T00:00:00Z"),
		`<set xmlns='http://jabber.org/protocol/rsm'><max>50</max><before>`+id2.String()+`</before></set>`))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseQuery(el, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}
