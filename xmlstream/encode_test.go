package xmlstream

import (
	"errors"
	"strings"
	"testing"
)

func TestAppendElement(t *testing.T) {
	tests := []struct {
		name      string
		el        *Element
		contentNS string
		want      string
	}{{
		name:      "stanza in the stream's content namespace",
		el:        New(NSClient, "message").SetAttr("to", "a@b").Append(New(NSClient, "body").AppendText("hi")),
		contentNS: NSClient,
		want:      `<message to="a@b"><body>hi</body></message>`,
	}, {
		name:      "server stanza written to a client stream",
		el:        New(NSServer, "message").Append(New(NSServer, "body").AppendText("hi")),
		contentNS: NSClient,
		want:      `<message><body>hi</body></message>`,
	}, {
		name:      "standalone declares the namespace",
		el:        New(NSClient, "presence"),
		contentNS: "",
		want:      `<presence xmlns="jabber:client"/>`,
	}, {
		name: "payload namespaces declared once",
		el: New(NSClient, "iq").SetAttr("type", "result").Append(
			New("jabber:iq:roster", "query").Append(New("jabber:iq:roster", "item").SetAttr("jid", "x@y"))),
		contentNS: NSClient,
		want:      `<iq type="result"><query xmlns="jabber:iq:roster"><item jid="x@y"/></query></iq>`,
	}, {
		name: "content namespace nested in another keeps its declaration",
		el: New(NSClient, "message").Append(New("urn:xmpp:forward:0", "forwarded").Append(
			New(NSClient, "message").Append(New(NSClient, "body").AppendText("x")))),
		contentNS: NSServer,
		want:      `<message><forwarded xmlns="urn:xmpp:forward:0"><message xmlns="jabber:client"><body>x</body></message></forwarded></message>`,
	}, {
		name: "server stanza forwarded inside a client stanza",
		el: New(NSClient, "message").Append(New("urn:xmpp:forward:0", "forwarded").Append(
			New(NSClient, "message").Append(New(NSServer, "body").AppendText("x")))),
		contentNS: NSClient,
		want:      `<message><forwarded xmlns="urn:xmpp:forward:0"><message xmlns="jabber:client"><body>x</body></message></forwarded></message>`,
	}, {
		name: "component stanza to a client, and a client stanza to a component",
		el: New(NSComponent, "message").Append(New(NSComponent, "body").AppendText("x"),
			New("urn:xmpp:forward:0", "forwarded").Append(New(NSComponent, "message"))),
		contentNS: NSClient,
		want:      `<message><body>x</body><forwarded xmlns="urn:xmpp:forward:0"><message xmlns="jabber:component:accept"/></forwarded></message>`,
	}, {
		name:      "client stanza on a component stream",
		el:        New(NSClient, "iq").SetAttr("type", "get").Append(New(NSClient, "x")),
		contentNS: NSComponent,
		want:      `<iq type="get"><x/></iq>`,
	}, {
		name:      "no namespace inside a stanza",
		el:        New(NSClient, "message").Append(New("", "x")),
		contentNS: NSClient,
		want:      `<message><x xmlns=""/></message>`,
	}, {
		name:      "streams namespace uses the stream prefix",
		el:        New(NSStream, "error").Append(New("urn:ietf:params:xml:ns:xmpp-streams", "conflict")),
		contentNS: NSClient,
		want:      `<stream:error><conflict xmlns="urn:ietf:params:xml:ns:xmpp-streams"/></stream:error>`,
	}, {
		name:      "streams prefix keeps the default namespace",
		el:        New(NSStream, "features").Append(New(NSClient, "x")),
		contentNS: NSClient,
		want:      `<stream:features><x/></stream:features>`,
	}, {
		name:      "standalone stream element declares its prefix",
		el:        New(NSStream, "features").Append(New("urn:ietf:params:xml:ns:xmpp-sasl", "mechanisms")),
		contentNS: "",
		want:      `<stream:features xmlns:stream="http://etherx.jabber.org/streams"><mechanisms xmlns="urn:ietf:params:xml:ns:xmpp-sasl"/></stream:features>`,
	}, {
		name:      "standalone: a nested stream element declares it too",
		el:        New(NSClient, "message").Append(New(NSStream, "x")),
		contentNS: "",
		want:      `<message xmlns="jabber:client"><stream:x xmlns:stream="http://etherx.jabber.org/streams"/></message>`,
	}, {
		name:      "escaping",
		el:        New(NSClient, "message").SetAttr("id", "a\"<&>'\t\n\r").AppendText("<&>\"'\r\n]]>"),
		contentNS: NSClient,
		want:      `<message id="a&quot;&lt;&amp;>'&#x9;&#xA;&#xD;">&lt;&amp;&gt;"'&#xD;` + "\n" + `]]&gt;</message>`,
	}, {
		name:      "characters XML cannot carry are dropped or replaced",
		el:        New(NSClient, "message").AppendText("a\x00b\x1bc\xffd\uFFFEe"),
		contentNS: NSClient,
		want:      "<message>abc\uFFFDde</message>",
	}, {
		name:      "namespaced attributes",
		el:        New(NSClient, "message").SetAttrNS(NSXML, "lang", "en").SetAttrNS("urn:a", "x", "1").SetAttrNS("urn:b", "y", "2").SetAttrNS("urn:a", "z", "3"),
		contentNS: NSClient,
		want:      `<message xml:lang="en" xmlns:ns0="urn:a" ns0:x="1" xmlns:ns1="urn:b" ns1:y="2" ns0:z="3"/>`,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := string(AppendElement(nil, tc.el, tc.contentNS))
			if got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestAppendFrame(t *testing.T) {
	tests := []struct {
		name string
		el   *Element
		want string
	}{
		{"client stanza", New(NSClient, "message").Append(New(NSClient, "body").AppendText("hi")),
			`<message xmlns="jabber:client"><body>hi</body></message>`},
		{"server stanza becomes a client one", New(NSServer, "message").SetAttr("to", "a@b").Append(New(NSServer, "body").AppendText("hi"), New("urn:x", "x")),
			`<message xmlns="jabber:client" to="a@b"><body>hi</body><x xmlns="urn:x"/></message>`},
		{"a nonza keeps its namespace", New("urn:xmpp:sm:3", "r"), `<r xmlns="urn:xmpp:sm:3"/>`},
		{"stream features declare the prefix", New(NSStream, "features").Append(New("urn:ietf:params:xml:ns:xmpp-bind", "bind")),
			`<stream:features xmlns:stream="http://etherx.jabber.org/streams"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/></stream:features>`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(AppendFrame(nil, tc.el, NSClient)); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
	el := New(NSServer, "message").SetAttr("to", "juliet@example.com").Append(New(NSServer, "body").AppendText("x"))
	buf := make([]byte, 0, 256)
	if allocs := testing.AllocsPerRun(100, func() { buf = AppendFrame(buf[:0], el, NSClient) }); allocs != 0 {
		t.Errorf("AppendFrame allocates %v times into a large enough buffer, want 0", allocs)
	}
}

// TestRoundTrip reads what the encoder writes and gets the same tree back.
func TestRoundTrip(t *testing.T) {
	els := []*Element{
		New(NSClient, "message").SetAttr("id", "a\"<&>'\t\n").SetAttrNS(NSXML, "lang", "de").
			Append(New(NSClient, "body").AppendText("<&>\"' \n ü 😀"),
				New("urn:x", "x").SetAttrNS("urn:y", "a", "b").Append(New("", "nons"), New("urn:x", "inner"))),
		New(NSClient, "iq").Append(New("jabber:iq:roster", "query").Append(
			New("jabber:iq:roster", "item").SetAttr("jid", "a@b").Append(New("jabber:iq:roster", "group").AppendText("Friends")))),
	}
	for _, el := range els {
		wire := string(AppendElement(nil, el, NSClient))
		_, got, err := readAll(t, strings.NewReader(clientHeader+wire+"</stream:stream>"), Limits{})
		if !errors.Is(err, ErrStreamEnd) || len(got) != 1 {
			t.Fatalf("reading %s: %d elements, %v", wire, len(got), err)
		}
		if !Equal(got[0], el) {
			t.Errorf("round trip changed the tree:\nwrote %s\nread  %s", el, got[0])
		}
	}
}

func TestAppendElementAllocs(t *testing.T) {
	el := New(NSClient, "message").SetAttr("to", "juliet@example.com").SetAttr("type", "chat").
		Append(New(NSClient, "body").AppendText("Wherefore art thou, Romeo?"))
	buf := make([]byte, 0, 1024)
	allocs := testing.AllocsPerRun(100, func() {
		buf = AppendElement(buf[:0], el, NSClient)
	})
	if allocs != 0 {
		t.Errorf("AppendElement allocates %v times into a large enough buffer, want 0", allocs)
	}
}

func TestElementAccessors(t *testing.T) {
	el := New(NSClient, "message").SetAttr("type", "chat").SetAttrNS(NSXML, "lang", "en").
		Append(New(NSClient, "body").AppendText("a").AppendText("b"), New("urn:x", "x"), New(NSClient, "thread"))
	if got := el.Get("type"); got != "chat" {
		t.Errorf("Get(type) = %q", got)
	}
	if got := el.Lang(); got != "en" {
		t.Errorf("Lang() = %q", got)
	}
	if got := el.ChildText(NSClient, "body"); got != "ab" {
		t.Errorf("ChildText(body) = %q, want ab", got)
	}
	if el.Child("urn:y", "x") != nil {
		t.Error("Child matched on local name alone")
	}
	if got := el.FirstChild(); !got.Is(NSClient, "body") {
		t.Errorf("FirstChild() = %v", got)
	}
	var names []string
	for c := range el.Elements() {
		names = append(names, c.Name.Local)
	}
	if got := strings.Join(names, ","); got != "body,x,thread" {
		t.Errorf("Elements() = %s", got)
	}
	c := el.WithAttrs("type", "", "to", "a@b")
	if c.Get("type") != "" || c.Get("to") != "a@b" || el.Get("type") != "chat" || el.Get("to") != "" {
		t.Errorf("WithAttrs: copy %s, original %s", c, el)
	}
	if !Equal(el, el.Clone()) {
		t.Error("Clone is not Equal to the original")
	}
}

func TestFootprintAllocs(t *testing.T) {
	el, err := Parse([]byte(`<message to='a@b' id='1'><body>hello</body><x xmlns='urn:y' a='b'/></message>`), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if allocs := testing.AllocsPerRun(100, func() { n = el.Footprint() }); allocs != 0 {
		t.Errorf("Footprint allocates %v times, want 0", allocs)
	}
	if n < len("hello")+len("a@b") {
		t.Errorf("Footprint = %d, less than the text and values it holds", n)
	}
	if got, want := (*Element)(nil).Footprint(), 0; got != want {
		t.Errorf("nil Footprint = %d, want %d", got, want)
	}
}
