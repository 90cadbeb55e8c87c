package pep

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"roost/form"
	"roost/internal/xmpptest"
	"roost/jid"
	"roost/stanza"
	"roost/xmlstream"
)

// FuzzDecodeNode: a stored record never panics the decoder, errors are
// ErrCorrupt, and what decodes encodes back to the same record.
func FuzzDecodeNode(f *testing.F) {
	n := newNode(defaultConfig())
	n.Affs = map[string]string{"a@b.example": affMember}
	n.Subs = []string{"c@d.example/x"}
	f.Add(n.encode())
	f.Add([]byte(`{"v":1,"c":{"access":"roster","groups":["x"],"max":0,"persist":true,"sendlast":"never"}}`))
	f.Add([]byte(`{"v":2}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := decodeNode(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		b1 := n.encode()
		again, err := decodeNode(b1)
		if err != nil {
			t.Fatalf("re-encoded %s does not decode: %v", b1, err)
		}
		if b2 := again.encode(); !bytes.Equal(b1, b2) {
			t.Fatalf("round trip: %s became %s", b1, b2)
		}
	})
}

// FuzzOptions: any submitted form configures a node or is refused with a
// stanza error; a configuration the form made meets the form as
// publish-options.
func FuzzOptions(f *testing.F) {
	f.Add(`<x xmlns='jabber:x:data' type='submit'><field var='pubsub#access_model'><value>open</value></field><field var='pubsub#max_items'><value>max</value></field></x>`)
	f.Add(`<x xmlns='jabber:x:data' type='submit'><field var='pubsub#persist_items'><value>true</value></field><field var='pubsub#roster_groups_allowed'><value>a</value><value>b</value></field><field var='pubsub#access_model'><value>roster</value></field></x>`)
	f.Add(`<x xmlns='jabber:x:data' type='submit'><field var='pubsub#max_items'><value>-3</value></field></x>`)
	fs := configFields()
	f.Fuzz(func(t *testing.T, s string) {
		el, err := xmlstream.Parse([]byte(s), xmlstream.Limits{})
		if err != nil {
			return
		}
		fm, err := form.Parse(el)
		if err != nil {
			return
		}
		c := defaultConfig()
		if err := fs.apply(&c, fm, 10); err != nil {
			var se *stanza.Error
			if !errors.As(err, &se) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if err := fs.preconditions(&c, fm, 10); err != nil {
			t.Fatalf("a node configured by %s does not meet it: %v", s, err)
		}
		if _, err := decodeNode(newNode(c).encode()); err != nil {
			t.Fatalf("configuration %+v does not survive storage: %v", c, err)
		}
	})
}

// FuzzHandle: any pubsub request is answered with a result or a stanza
// error, never a panic or an internal error.
func FuzzHandle(f *testing.F) {
	for _, s := range []string{
		`<publish node='n'><item id='i'><x xmlns='urn:x'/></item></publish><publish-options><x xmlns='jabber:x:data' type='submit'><field var='pubsub#access_model'><value>open</value></field></x></publish-options>`,
		`<items node='n' max_items='2'><item id='i'/></items>`,
		`<retract node='n' notify='1'><item id='i'/></retract>`,
		`<subscribe node='n' jid='juliet@example.com/balcony'/>`,
		`<create node='m'/><configure><x xmlns='jabber:x:data' type='submit'><field var='pubsub#max_items'><value>3</value></field></x></configure>`,
		`<publish node='storage:bookmarks'><item id='current'><storage xmlns='storage:bookmarks'><conference jid='r@c.example'/></storage></item></publish>`,
	} {
		f.Add("set", NS, s)
	}
	f.Add("get", NSOwner, `<configure node='n'/>`)
	f.Add("set", NSOwner, `<affiliations node='n'><affiliation jid='romeo@example.com' affiliation='member'/></affiliations>`)
	w := newWorld(f)
	f.Fuzz(func(t *testing.T, typ, ns, body string) {
		if typ != "get" && typ != "set" {
			return
		}
		el, err := xmlstream.Parse([]byte(`<pubsub xmlns='`+xmlEscape(ns)+`'>`+body+`</pubsub>`), xmlstream.Limits{MaxStanzaBytes: 64 << 10, MaxDepth: 16, MaxAttrs: 16})
		if err != nil || (ns != NS && ns != NSOwner) {
			return
		}
		iq := xmpptest.Element(t, `<iq type='`+typ+`' id='f'/>`).WithChildren([]xmlstream.Node{{Elem: el}})
		st := &stanza.Stanza{Kind: stanza.IQ, Type: typ, ID: "f", From: jid.MustParse(jb), El: iq}
		_, err = w.pep.handle(context.Background(), st)
		var se *stanza.Error
		if err != nil && !errors.As(err, &se) && !errors.Is(err, stanza.ErrReplied) {
			t.Fatalf("%s %s: %v", typ, body, err)
		}
	})
}

func xmlEscape(s string) string {
	b := xmlstream.AppendElement(nil, xmlstream.New("", "a").SetAttr("v", s), "")
	v := string(b)
	return v[len(`<a v="`) : len(v)-len(`"/>`)]
}

// FuzzBookmarks: a XEP-0048 conference converted to XEP-0402 and back
// is the same conference, normalised.
func FuzzBookmarks(f *testing.F) {
	f.Add(`<conference xmlns='storage:bookmarks' jid='r@c.example' name='R' autojoin='1'><nick>n</nick><password>p</password></conference>`)
	f.Add(`<conference xmlns='storage:bookmarks' jid='r@c.example' autojoin='false'/>`)
	f.Fuzz(func(t *testing.T, s string) {
		c, err := xmlstream.Parse([]byte(s), xmlstream.Limits{})
		if err != nil || !c.Is(nsLegacyBookmarks, "conference") {
			return
		}
		once := toLegacy(c.Get("jid"), toBookmark(c, nil))
		twice := toLegacy(c.Get("jid"), toBookmark(once, nil))
		if !xmlstream.Equal(once, twice) {
			t.Fatalf("%s became %s, then %s", s, once, twice)
		}
	})
}
