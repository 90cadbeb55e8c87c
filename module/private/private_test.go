package private

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"roost/internal/xmpptest"
	"roost/jid"
	"roost/stanza"
	"roost/xmlstream"
)

type fakeStore struct {
	mu   sync.Mutex
	data map[string][]byte // user \x00 key
}

func (f *fakeStore) PrivateXML(user, key string) ([]byte, bool, error) {
	if user == "broken@example.com" {
		return nil, false, errors.New("disk on fire")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.data[user+"\x00"+key]
	return v, ok, nil
}

func (f *fakeStore) PutPrivateXML(user, key string, v []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(v) == 0 {
		delete(f.data, user+"\x00"+key)
		return nil
	}
	f.data[user+"\x00"+key] = v
	return nil
}

func (f *fakeStore) PrivateXMLCount(user string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for k := range f.data {
		if strings.HasPrefix(k, user+"\x00") {
			n++
		}
	}
	return n, nil
}

func encode(el *xmlstream.Element) string {
	return string(xmlstream.AppendElement(nil, el, xmlstream.NSClient))
}

const bookmarks = `<storage xmlns="storage:bookmarks"><conference jid="room@conference.example.com" autojoin="true"/></storage>`

func TestHandleStanza(t *testing.T) {
	const bmKey = "juliet@example.com\x00{storage:bookmarks}storage"
	tests := []struct {
		name   string
		stored map[string]string
		in     string
		want   string // reply payload; "" for an empty result
		err    stanza.Condition
		after  map[string]string // store afterwards, when checked
	}{
		{"get with nothing stored echoes the element", nil,
			`<iq type='get' id='p' from='juliet@example.com/balcony'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>`,
			`<query xmlns="jabber:iq:private"><storage xmlns="storage:bookmarks"/></query>`, "", nil},
		{"get stored", map[string]string{bmKey: bookmarks},
			`<iq type='get' id='p' from='juliet@example.com/balcony' to='juliet@example.com'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>`,
			`<query xmlns="jabber:iq:private">` + bookmarks + `</query>`, "", nil},
		{"same name, other namespace is separate", map[string]string{bmKey: bookmarks},
			`<iq type='get' id='p' from='juliet@example.com/balcony'><query xmlns='jabber:iq:private'><storage xmlns='storage:rosternotes'/></query></iq>`,
			`<query xmlns="jabber:iq:private"><storage xmlns="storage:rosternotes"/></query>`, "", nil},
		{"set", nil,
			`<iq type='set' id='p' from='juliet@example.com/balcony'><query xmlns='jabber:iq:private'>` + bookmarks + `</query></iq>`,
			"", "", map[string]string{bmKey: bookmarks}},
		{"set two fragments", nil,
			`<iq type='set' id='p' from='juliet@example.com/balcony'><query xmlns='jabber:iq:private'>` + bookmarks + `<exodus xmlns='exodus:prefs'><defaultnick>Hamlet</defaultnick></exodus></query></iq>`,
			"", "", map[string]string{bmKey: bookmarks, "juliet@example.com\x00{exodus:prefs}exodus": `<exodus xmlns="exodus:prefs"><defaultnick>Hamlet</defaultnick></exodus>`}},
		{"set empty deletes", map[string]string{bmKey: bookmarks},
			`<iq type='set' id='p' from='juliet@example.com/balcony'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>`,
			"", "", map[string]string{}},
		{"another user's get", map[string]string{bmKey: bookmarks},
			`<iq type='get' id='p' from='romeo@example.com/orchard' to='juliet@example.com'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>`,
			"", stanza.Forbidden, nil},
		{"another user's set", nil,
			`<iq type='set' id='p' from='romeo@example.com/orchard' to='juliet@example.com'><query xmlns='jabber:iq:private'>` + bookmarks + `</query></iq>`,
			"", stanza.Forbidden, map[string]string{}},
		{"addressed to the server", nil,
			`<iq type='get' id='p' from='juliet@example.com/balcony' to='example.com'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>`,
			"", stanza.Forbidden, nil},
		{"no child", nil,
			`<iq type='get' id='p' from='juliet@example.com/balcony'><query xmlns='jabber:iq:private'/></iq>`,
			"", stanza.NotAcceptable, nil},
		{"two namespaces in a get", nil,
			`<iq type='get' id='p' from='juliet@example.com/balcony'><query xmlns='jabber:iq:private'><a xmlns='urn:a'/><b xmlns='urn:b'/></query></iq>`,
			"", stanza.BadRequest, nil},
		{"child without namespace", nil,
			`<iq type='set' id='p' from='juliet@example.com/balcony'><query xmlns='jabber:iq:private'><prefs/></query></iq>`,
			"", stanza.NotAcceptable, map[string]string{}},
		{"jabber:client", nil,
			`<iq type='set' id='p' from='juliet@example.com/balcony'><query xmlns='jabber:iq:private'><message xmlns='jabber:client'/></query></iq>`,
			"", stanza.NotAcceptable, map[string]string{}},
		{"jabber:server", nil,
			`<iq type='get' id='p' from='juliet@example.com/balcony'><query xmlns='jabber:iq:private'><message xmlns='jabber:server'/></query></iq>`,
			"", stanza.NotAcceptable, nil},
		{"one reserved fragment refuses the whole set", nil,
			`<iq type='set' id='p' from='juliet@example.com/balcony'><query xmlns='jabber:iq:private'>` + bookmarks + `<x xmlns='jabber:iq:private'/></query></iq>`,
			"", stanza.NotAcceptable, map[string]string{}},
		{"too large", nil,
			`<iq type='set' id='p' from='juliet@example.com/balcony'><query xmlns='jabber:iq:private'><n xmlns='urn:n'>` + strings.Repeat("x", 300) + `</n></query></iq>`,
			"", stanza.NotAcceptable, map[string]string{}},
		{"name too long", nil,
			`<iq type='get' id='p' from='juliet@example.com/balcony'><query xmlns='jabber:iq:private'><n xmlns='urn:` + strings.Repeat("n", 1100) + `'/></query></iq>`,
			"", stanza.NotAcceptable, nil},
		{"wrong payload", nil,
			`<iq type='get' id='p' from='juliet@example.com/balcony'><storage xmlns='jabber:iq:private'/></iq>`,
			"", stanza.BadRequest, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := &fakeStore{data: map[string][]byte{}}
			for k, v := range tc.stored {
				fs.data[k] = []byte(v)
			}
			h := New(Options{Store: fs, MaxBytes: 256})
			reply, err := h.HandleStanza(context.Background(), xmpptest.Stanza(t, tc.in))
			switch {
			case tc.err != "":
				if !errors.Is(err, &stanza.Error{Condition: tc.err}) {
					t.Fatalf("err = %v, want %s", err, tc.err)
				}
			case err != nil:
				t.Fatal(err)
			case tc.want == "":
				if reply != nil {
					t.Errorf("got %s, want an empty result", encode(reply))
				}
			default:
				if got := encode(reply.FirstChild()); got != tc.want {
					t.Errorf("got  %s\nwant %s", got, tc.want)
				}
			}
			if tc.after != nil {
				if len(fs.data) != len(tc.after) {
					t.Fatalf("store holds %d fragments, want %d", len(fs.data), len(tc.after))
				}
				for k, v := range tc.after {
					if got := string(fs.data[k]); got != v {
						t.Errorf("store[%q] = %s, want %s", k, got, v)
					}
				}
			}
		})
	}
}

func TestStoredDataErrors(t *testing.T) {
	tests := []struct {
		name, user, stored string
	}{
		{"store fails", "broken@example.com", ""},
		{"not XML", "juliet@example.com", "<storage"},
		{"trailing data", "juliet@example.com", `<storage xmlns="storage:bookmarks"/>x`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := &fakeStore{data: map[string][]byte{tc.user + "\x00{storage:bookmarks}storage": []byte(tc.stored)}}
			st := xmpptest.Stanza(t, `<iq type='get' id='p' from='`+tc.user+`/x'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>`)
			_, err := New(Options{Store: fs}).HandleStanza(context.Background(), st)
			var se *stanza.Error
			if err == nil || errors.As(err, &se) {
				t.Fatalf("err = %v, want an internal error", err)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(bookmarks))
	f.Add([]byte(`<p:x xmlns:p="urn:p" p:a="1"><y/></p:x>`))
	f.Add([]byte(`<x xmlns="urn:x"><![CDATA[a]]></x>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		el, err := decode(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		again, err := decode(xmlstream.AppendElement(nil, el, ""))
		if err != nil {
			t.Fatalf("re-encoded fragment does not decode: %v", err)
		}
		if !xmlstream.Equal(el, again) {
			t.Fatalf("round trip changed %s into %s", el, again)
		}
	})
}

// FuzzRoundTrip: any fragment a client sets is served back unchanged, or
// the set is refused with a stanza error.
func FuzzRoundTrip(f *testing.F) {
	f.Add(bookmarks)
	f.Add(`<a xmlns='urn:a' xmlns:b='urn:b' b:c='d'><b:e/>text</a>`)
	f.Add(`<a/>`)
	f.Fuzz(func(t *testing.T, frag string) {
		set, err := parseStanza(`<iq type='set' id='p' from='juliet@example.com/balcony'><query xmlns='jabber:iq:private'>` + frag + `</query></iq>`)
		if err != nil {
			return
		}
		h := New(Options{Store: &fakeStore{data: map[string][]byte{}}, MaxBytes: 4096})
		if _, err := h.HandleStanza(context.Background(), set); err != nil {
			var se *stanza.Error
			if !errors.As(err, &se) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		for el := range set.El.FirstChild().Elements() {
			q := xmlstream.New(NS, "query").Append(xmlstream.New(el.Name.Space, el.Name.Local))
			get := &stanza.Stanza{Kind: stanza.IQ, Type: stanza.TypeGet, ID: "g", From: set.From,
				El: xmlstream.New(xmlstream.NSClient, "iq").Append(q)}
			reply, err := h.HandleStanza(context.Background(), get)
			if err != nil {
				t.Fatalf("get after set: %v", err)
			}
			// A later fragment of the same name replaces an earlier one.
			last := el
			for o := range set.El.FirstChild().Elements() {
				if o.Name == el.Name {
					last = o
				}
			}
			got := reply.FirstChild().FirstChild()
			if empty(last) {
				if !empty(got) {
					t.Fatalf("set empty %s, got back %s", last, got)
				}
			} else if !xmlstream.Equal(got, last) {
				t.Fatalf("set %s, got back %s", last, got)
			}
		}
	})
}

func parseStanza(s string) (*stanza.Stanza, error) {
	d := xmlstream.NewDecoder(strings.NewReader(`<s xmlns='jabber:client'>`+s), xmlstream.Limits{})
	if _, err := d.ReadHeader(); err != nil {
		return nil, err
	}
	el, err := d.ReadElement()
	if err != nil {
		return nil, err
	}
	st, err := stanza.Parse(el)
	return &st, err
}

// splitter owns storage:bookmarks: it keeps conferences itself and leaves
// everything else to the private store, as personal eventing does.
type splitter struct {
	conferences []*xmlstream.Element
	fail        error
}

func (s *splitter) Owns(n xmlstream.Name) bool {
	return n == xmlstream.Name{Space: "storage:bookmarks", Local: "storage"}
}

func (s *splitter) PrivateGet(_ context.Context, _ jid.JID, stored *xmlstream.Element) (*xmlstream.Element, error) {
	out := xmlstream.New("storage:bookmarks", "storage").Append(s.conferences...)
	if stored != nil {
		for el := range stored.Elements() {
			out.Append(el)
		}
	}
	return out, nil
}

func (s *splitter) PrivateSet(_ context.Context, _ jid.JID, el *xmlstream.Element) (*xmlstream.Element, error) {
	if s.fail != nil {
		return nil, s.fail
	}
	s.conferences = nil
	rest := xmlstream.New("storage:bookmarks", "storage")
	for ch := range el.Elements() {
		if ch.Name.Local == "conference" {
			s.conferences = append(s.conferences, ch)
		} else {
			rest.Append(ch)
		}
	}
	return rest, nil
}

func TestDelegate(t *testing.T) {
	const key = "juliet@example.com\x00{storage:bookmarks}storage"
	fs := &fakeStore{data: map[string][]byte{}}
	d := &splitter{}
	h := New(Options{Store: fs, Delegate: d})
	run := func(xml string) (*xmlstream.Element, error) {
		return h.HandleStanza(context.Background(), xmpptest.Stanza(t, xml))
	}
	set := `<iq type='set' id='p' from='juliet@example.com/balcony'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'>` +
		`<conference jid='room@conference.example.com' autojoin='true'/><url name='roost' url='https://roost.example'/></storage>` +
		`<prefs xmlns='urn:prefs'/></query></iq>`
	if _, err := run(set); err != nil {
		t.Fatal(err)
	}
	if len(d.conferences) != 1 {
		t.Errorf("delegate kept %d conferences, want 1", len(d.conferences))
	}
	if got, want := string(fs.data[key]), `<storage xmlns="storage:bookmarks"><url name="roost" url="https://roost.example"/></storage>`; got != want {
		t.Errorf("private store keeps %s, want %s", got, want)
	}
	reply, err := run(`<iq type='get' id='p' from='juliet@example.com/balcony'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>`)
	if err != nil {
		t.Fatal(err)
	}
	want := `<query xmlns="jabber:iq:private"><storage xmlns="storage:bookmarks"><conference jid="room@conference.example.com" autojoin="true"/><url name="roost" url="https://roost.example"/></storage></query>`
	if got := encode(reply.FirstChild()); got != want {
		t.Errorf("get: %s\nwant %s", got, want)
	}
	// Nothing left for the store: its copy goes.
	if _, err := run(`<iq type='set' id='p' from='juliet@example.com/balcony'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'><conference jid='r@c.example'/></storage></query></iq>`); err != nil {
		t.Fatal(err)
	}
	if _, ok := fs.data[key]; ok {
		t.Errorf("private store still holds %s", fs.data[key])
	}
	d.fail = stanza.NewError(stanza.PolicyViolation, "too many")
	if _, err := run(set); !errors.Is(err, d.fail) {
		t.Errorf("failing delegate: %v, want policy-violation", err)
	}
}

func TestKey(t *testing.T) {
	for _, tc := range []struct {
		el   *xmlstream.Element
		want string
		ok   bool
	}{
		{xmlstream.New("urn:example:notes", "notes"), "{urn:example:notes}notes", true},
		{xmlstream.New(NS, "query"), "{jabber:iq:private}query", false},
		{xmlstream.New("", "bare"), "{}bare", false},
		{xmlstream.New(strings.Repeat("n", maxKey), "x"), "{" + strings.Repeat("n", maxKey) + "}x", false},
	} {
		if got, ok := Key(tc.el); got != tc.want || ok != tc.ok {
			t.Errorf("Key(%v) = %q, %t; want %q, %t", tc.el.Name, got, ok, tc.want, tc.ok)
		}
	}
}

// TestMaxKeys: an account keeps at most MaxKeys fragments; replacing or
// deleting one is always allowed, and a refused set stores nothing.
func TestMaxKeys(t *testing.T) {
	set := func(frags string) *stanza.Stanza {
		st, err := parseStanza(`<iq type='set' id='p' from='juliet@example.com/balcony'><query xmlns='jabber:iq:private'>` + frags + `</query></iq>`)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	fs := &fakeStore{data: map[string][]byte{}}
	h := New(Options{Store: fs, MaxKeys: 2})
	tests := []struct {
		name      string
		frags     string
		wantErr   stanza.Condition
		wantCount int
	}{
		{"first", `<a xmlns='urn:a'>1</a>`, "", 1},
		{"second", `<b xmlns='urn:b'>1</b>`, "", 2},
		{"a third", `<c xmlns='urn:c'>1</c>`, stanza.PolicyViolation, 2},
		{"a replacement", `<a xmlns='urn:a'>2</a>`, "", 2},
		{"a replacement and a third", `<a xmlns='urn:a'>3</a><c xmlns='urn:c'>1</c>`, stanza.PolicyViolation, 2},
		{"a deletion", `<b xmlns='urn:b'/>`, "", 1},
		{"a third after the deletion", `<c xmlns='urn:c'>1</c>`, "", 2},
	}
	for _, tc := range tests {
		_, err := h.HandleStanza(context.Background(), set(tc.frags))
		var se *stanza.Error
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.wantErr != "" && (!errors.As(err, &se) || se.Condition != tc.wantErr):
			t.Errorf("%s: err %v, want %s", tc.name, err, tc.wantErr)
		}
		if n, _ := fs.PrivateXMLCount("juliet@example.com"); n != tc.wantCount {
			t.Errorf("%s: %d fragments kept, want %d", tc.name, n, tc.wantCount)
		}
	}
	if v, _, _ := fs.PrivateXML("juliet@example.com", "{urn:a}a"); !strings.Contains(string(v), ">2<") {
		t.Errorf("the refused set changed urn:a to %s", v)
	}
}
