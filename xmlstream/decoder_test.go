package xmlstream

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

const clientHeader = `<?xml version='1.0'?><stream:stream to='example.org' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0' xml:lang='en'>`

// readAll reads the header and every element of a stream.
func readAll(t *testing.T, r io.Reader, lim Limits) (*Element, []*Element, error) {
	t.Helper()
	d := NewDecoder(r, lim)
	h, err := d.ReadHeader()
	if err != nil {
		return nil, nil, err
	}
	var els []*Element
	for {
		el, err := d.ReadElement()
		if err != nil {
			return h, els, err
		}
		els = append(els, el)
	}
}

func TestReadHeader(t *testing.T) {
	h, els, err := readAll(t, strings.NewReader(clientHeader+`</stream:stream>`), Limits{})
	if !errors.Is(err, ErrStreamEnd) {
		t.Fatalf("err = %v, want ErrStreamEnd", err)
	}
	if len(els) != 0 {
		t.Fatalf("got %d elements, want 0", len(els))
	}
	if got, want := h.Name, (Name{NSStream, "stream"}); got != want {
		t.Errorf("header name = %v, want %v", got, want)
	}
	for _, c := range []struct{ space, local, want string }{
		{"", "to", "example.org"},
		{"", "version", "1.0"},
		{NSXML, "lang", "en"},
	} {
		if got, _ := h.Attr(c.space, c.local); got != c.want {
			t.Errorf("header %s = %q, want %q", c.local, got, c.want)
		}
	}
	if len(h.Attrs) != 3 {
		t.Errorf("header has %d attributes (%v), want 3: declarations are not attributes", len(h.Attrs), h.Attrs)
	}
}

func TestReadElements(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []*Element
	}{{
		name: "message with body",
		in:   `<message to='juliet@example.com' type='chat' id='a1'><body>Wherefore art thou?</body></message>`,
		want: []*Element{{
			Name: Name{NSClient, "message"},
			Attrs: []Attr{
				{Name{"", "to"}, "juliet@example.com"},
				{Name{"", "type"}, "chat"},
				{Name{"", "id"}, "a1"},
			},
			Children: []Node{{Elem: &Element{
				Name:     Name{NSClient, "body"},
				Children: []Node{{Text: "Wherefore art thou?"}},
			}}},
		}},
	}, {
		name: "keepalive whitespace between stanzas",
		in:   " \n\t<presence/>\r\n <presence type='unavailable'/> ",
		want: []*Element{
			{Name: Name{NSClient, "presence"}},
			{Name: Name{NSClient, "presence"}, Attrs: []Attr{{Name{"", "type"}, "unavailable"}}},
		},
	}, {
		name: "namespaces by prefix and default",
		in:   `<iq type='get' id='1'><q:query xmlns:q='jabber:iq:roster' ver=''><q:item jid='a@b'/></q:query></iq>`,
		want: []*Element{{
			Name:  Name{NSClient, "iq"},
			Attrs: []Attr{{Name{"", "type"}, "get"}, {Name{"", "id"}, "1"}},
			Children: []Node{{Elem: &Element{
				Name:     Name{"jabber:iq:roster", "query"},
				Attrs:    []Attr{{Name{"", "ver"}, ""}},
				Children: []Node{{Elem: &Element{Name: Name{"jabber:iq:roster", "item"}, Attrs: []Attr{{Name{"", "jid"}, "a@b"}}}}},
			}}},
		}},
	}, {
		name: "stream prefix from the header",
		in:   `<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>`,
		want: []*Element{{
			Name: Name{NSStream, "features"},
			Children: []Node{{Elem: &Element{
				Name:     Name{"urn:ietf:params:xml:ns:xmpp-tls", "starttls"},
				Children: []Node{{Elem: &Element{Name: Name{"urn:ietf:params:xml:ns:xmpp-tls", "required"}}}},
			}}},
		}},
	}, {
		name: "default namespace undeclared",
		in:   `<message><x xmlns=''/></message>`,
		want: []*Element{{
			Name:     Name{NSClient, "message"},
			Children: []Node{{Elem: &Element{Name: Name{"", "x"}}}},
		}},
	}, {
		name: "references, CDATA and newline normalisation",
		in:   "<message><body>a&lt;b&gt;c&amp;&quot;&apos;&#65;&#x42;&#x1F600;<![CDATA[<x>&amp;]]>\r\nz\rq</body></message>",
		want: []*Element{{
			Name: Name{NSClient, "message"},
			Children: []Node{{Elem: &Element{
				Name:     Name{NSClient, "body"},
				Children: []Node{{Text: "a<b>c&\"'AB\U0001F600<x>&amp;\nz\nq"}},
			}}},
		}},
	}, {
		name: "attribute value normalisation",
		in:   "<message id='a\tb\nc\r\nd&#10;e' xml:lang='fr'/>",
		want: []*Element{{
			Name:  Name{NSClient, "message"},
			Attrs: []Attr{{Name{"", "id"}, "a b c d\ne"}, {Name{NSXML, "lang"}, "fr"}},
		}},
	}, {
		name: "namespaced attribute and redundant xml declaration",
		in:   `<message xmlns:x='urn:x' xmlns:xml='http://www.w3.org/XML/1998/namespace' x:a='1' a='2'/>`,
		want: []*Element{{
			Name:  Name{NSClient, "message"},
			Attrs: []Attr{{Name{"urn:x", "a"}, "1"}, {Name{"", "a"}, "2"}},
		}},
	}, {
		name: "mixed content and unicode",
		in:   `<message><html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'>héllo <em>wörld</em> ✓</body></html></message>`,
		want: []*Element{{
			Name: Name{NSClient, "message"},
			Children: []Node{{Elem: &Element{
				Name: Name{"http://jabber.org/protocol/xhtml-im", "html"},
				Children: []Node{{Elem: &Element{
					Name: Name{"http://www.w3.org/1999/xhtml", "body"},
					Children: []Node{
						{Text: "héllo "},
						{Elem: &Element{Name: Name{"http://www.w3.org/1999/xhtml", "em"}, Children: []Node{{Text: "wörld"}}}},
						{Text: " ✓"},
					},
				}}},
			}}},
		}},
	}}
	for _, tc := range tests {
		for _, oneByte := range []bool{false, true} {
			name := tc.name
			if oneByte {
				name += "/one byte at a time"
			}
			t.Run(name, func(t *testing.T) {
				var r io.Reader = strings.NewReader(clientHeader + tc.in + `</stream:stream>`)
				if oneByte {
					r = iotest.OneByteReader(r)
				}
				_, got, err := readAll(t, r, Limits{})
				if !errors.Is(err, ErrStreamEnd) {
					t.Fatalf("err = %v, want ErrStreamEnd", err)
				}
				if len(got) != len(tc.want) {
					t.Fatalf("got %d elements, want %d", len(got), len(tc.want))
				}
				for i := range got {
					if !Equal(got[i], tc.want[i]) {
						t.Errorf("element %d:\ngot  %s\nwant %s", i, got[i], tc.want[i])
					}
				}
			})
		}
	}
}

func TestReadErrors(t *testing.T) {
	small := Limits{MaxStanzaBytes: 200, MaxDepth: 3, MaxAttrs: 4}
	tests := []struct {
		name string
		lim  Limits
		in   string // after the header
		cond string
	}{
		{"comment", Limits{}, `<message><!-- hi --></message>`, CondRestrictedXML},
		{"comment at stream level", Limits{}, `<!-- hi -->`, CondRestrictedXML},
		{"processing instruction", Limits{}, `<message><?php x?></message>`, CondRestrictedXML},
		{"processing instruction at stream level", Limits{}, `<?xml version='1.0'?>`, CondRestrictedXML},
		{"doctype", Limits{}, `<!DOCTYPE x [<!ENTITY a 'b'>]>`, CondRestrictedXML},
		{"doctype inside element", Limits{}, `<message><!DOCTYPE x></message>`, CondRestrictedXML},
		{"entity reference", Limits{}, `<message><body>&nbsp;</body></message>`, CondRestrictedXML},
		{"entity reference in attribute", Limits{}, `<message id='&foo;'/>`, CondRestrictedXML},
		{"bare ampersand", Limits{}, `<message><body>a & b</body></message>`, CondNotWellFormed},
		{"invalid character reference", Limits{}, `<message><body>&#0;</body></message>`, CondNotWellFormed},
		{"surrogate character reference", Limits{}, `<message><body>&#xD800;</body></message>`, CondNotWellFormed},
		{"invalid UTF-8", Limits{}, "<message><body>\xff\xfe</body></message>", CondNotWellFormed},
		{"overlong UTF-8", Limits{}, "<message><body>\xc0\xaf</body></message>", CondNotWellFormed},
		{"UTF-8 surrogate", Limits{}, "<message><body>\xed\xa0\x80</body></message>", CondNotWellFormed},
		{"invalid UTF-8 in attribute", Limits{}, "<message id='\xff'/>", CondNotWellFormed},
		{"invalid UTF-8 in name", Limits{}, "<message\xff/>", CondNotWellFormed},
		{"U+FFFE", Limits{}, "<message><body>\xef\xbf\xbe</body></message>", CondNotWellFormed},
		{"control character", Limits{}, "<message><body>\x01</body></message>", CondNotWellFormed},
		{"NUL", Limits{}, "<message>\x00</message>", CondNotWellFormed},
		{"undeclared prefix", Limits{}, `<foo:message/>`, CondNotWellFormed},
		{"undeclared attribute prefix", Limits{}, `<message foo:a='1'/>`, CondNotWellFormed},
		{"duplicate attribute", Limits{}, `<message id='1' id='2'/>`, CondNotWellFormed},
		{"duplicate attribute through prefixes", Limits{}, `<message xmlns:a='urn:x' xmlns:b='urn:x' a:z='1' b:z='2'/>`, CondNotWellFormed},
		{"mismatched end tag", Limits{}, `<message><body></message></body>`, CondNotWellFormed},
		{"end tag matching by prefix, not namespace", Limits{}, `<a:x xmlns:a='urn:x' xmlns:b='urn:x'></b:x>`, CondNotWellFormed},
		{"CDATA end in text", Limits{}, `<message><body>]]></body></message>`, CondNotWellFormed},
		{"lt in attribute", Limits{}, `<message id='<'/>`, CondNotWellFormed},
		{"unquoted attribute", Limits{}, `<message id=1/>`, CondNotWellFormed},
		{"attribute without whitespace", Limits{}, `<message a='1'b='2'/>`, CondNotWellFormed},
		{"empty prefix", Limits{}, `<:message/>`, CondNotWellFormed},
		{"two colons", Limits{}, `<stream:a:b/>`, CondNotWellFormed},
		{"local part starting with a digit", Limits{}, `<stream:0/>`, CondNotWellFormed},
		{"attribute local part starting with a digit", Limits{}, `<message xmlns:a='urn:a' a:1='x'/>`, CondNotWellFormed},
		{"xmlns prefix declared", Limits{}, `<message xmlns:xmlns='urn:x'/>`, CondNotWellFormed},
		{"xml prefix rebound", Limits{}, `<message xmlns:xml='urn:x'/>`, CondNotWellFormed},
		{"empty prefixed namespace", Limits{}, `<message xmlns:a=''/>`, CondNotWellFormed},
		{"text at stream level", Limits{}, `hello`, CondBadFormat},
		{"CDATA at stream level", Limits{}, `<![CDATA[x]]>`, CondBadFormat},
		{"stream end tag mismatch", Limits{}, `</stream:streams>`, CondNotWellFormed},
		{"too large", small, `<message><body>` + strings.Repeat("x", 300) + `</body></message>`, CondPolicyViolation},
		{"too deep", small, `<a><b><c><d/></c></b></a>`, CondPolicyViolation},
		{"too many attributes", small, `<a b='' c='' d='' e='' f=''/>`, CondPolicyViolation},
		{"declarations count as attributes", small, `<a xmlns:b='u:1' xmlns:c='u:2' xmlns:d='u:3' xmlns:e='u:4' f=''/>`, CondPolicyViolation},
		{"too many elements", Limits{MaxElements: 5}, `<a><b/><b/><b/><b/><b/></a>`, CondPolicyViolation},
		{"attributes count as elements", Limits{MaxElements: 5}, `<a x='1'><b y='2'/><b/></a>`, CondPolicyViolation},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := readAll(t, strings.NewReader(clientHeader+tc.in+`</stream:stream>`), tc.lim)
			var xe *Error
			if !errors.As(err, &xe) {
				t.Fatalf("err = %v, want *Error with condition %s", err, tc.cond)
			}
			if xe.Condition != tc.cond {
				t.Errorf("condition = %s (%s), want %s", xe.Condition, xe.Reason, tc.cond)
			}
			if !errors.Is(err, &Error{Condition: tc.cond}) {
				t.Errorf("errors.Is does not match condition %s", tc.cond)
			}
		})
	}
}

func TestHeaderErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		cond string
	}{
		{"non UTF-8 encoding", `<?xml version='1.0' encoding='ISO-8859-1'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams'>`, CondUnsupportedEncoding},
		{"XML 1.1", `<?xml version='1.1'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams'>`, CondNotWellFormed},
		{"processing instruction", `<?php echo?><stream:stream xmlns:stream='http://etherx.jabber.org/streams'>`, CondRestrictedXML},
		{"doctype", `<!DOCTYPE stream><stream:stream xmlns:stream='http://etherx.jabber.org/streams'>`, CondRestrictedXML},
		{"comment", `<!-- x --><stream:stream xmlns:stream='http://etherx.jabber.org/streams'>`, CondRestrictedXML},
		{"undeclared stream prefix", `<stream:stream xmlns='jabber:client'>`, CondNotWellFormed},
		{"garbage", `GET / HTTP/1.1`, CondNotWellFormed},
		{"bad byte order mark", "\xef\xbb\x00<stream:stream/>", CondNotWellFormed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewDecoder(strings.NewReader(tc.in), Limits{}).ReadHeader()
			var xe *Error
			if !errors.As(err, &xe) || xe.Condition != tc.cond {
				t.Fatalf("err = %v, want condition %s", err, tc.cond)
			}
		})
	}
}

func TestEOF(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"between elements", `<presence/>  `, io.EOF},
		{"inside an element", `<message><body>hi`, io.ErrUnexpectedEOF},
		{"inside a tag", `<message to='a`, io.ErrUnexpectedEOF},
		{"inside a reference", `<message>&am`, io.ErrUnexpectedEOF},
		{"inside a rune", "<message>\xe2\x9c", io.ErrUnexpectedEOF},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := readAll(t, strings.NewReader(clientHeader+tc.in), Limits{})
			if err != tc.want {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestSizeLimitExact(t *testing.T) {
	stanza := `<message><body>` + strings.Repeat("y", 100) + `</body></message>`
	for _, tc := range []struct {
		name string
		max  int
		ok   bool
	}{
		{"at the limit", len(stanza), true},
		{"one byte over", len(stanza) - 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, els, err := readAll(t, strings.NewReader(clientHeader+stanza+`</stream:stream>`), Limits{MaxStanzaBytes: tc.max})
			if tc.ok && (len(els) != 1 || !errors.Is(err, ErrStreamEnd)) {
				t.Fatalf("got %d elements, err %v; want 1 element and ErrStreamEnd", len(els), err)
			}
			if !tc.ok && !errors.Is(err, &Error{Condition: CondPolicyViolation}) {
				t.Fatalf("err = %v, want policy-violation", err)
			}
		})
	}
}

// countingReader counts the bytes handed to the decoder.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestSizeLimitBeforeBuffering checks that an oversized stanza is refused
// having read at most the limit plus one read buffer, not the whole stanza.
func TestSizeLimitBeforeBuffering(t *testing.T) {
	const limit = 10000
	body := bytes.Repeat([]byte("z"), 10<<20)
	cr := &countingReader{r: io.MultiReader(strings.NewReader(clientHeader+`<message><body>`), bytes.NewReader(body))}
	d := NewDecoder(cr, Limits{MaxStanzaBytes: limit})
	if _, err := d.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	_, err := d.ReadElement()
	if !errors.Is(err, &Error{Condition: CondPolicyViolation}) {
		t.Fatalf("err = %v, want policy-violation", err)
	}
	if max := len(clientHeader) + limit + readBufferSize; cr.n > max {
		t.Errorf("read %d bytes before refusing, want at most %d", cr.n, max)
	}
}

func TestRestartKeepsBufferedBytes(t *testing.T) {
	in := clientHeader + `<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>` + clientHeader + `<iq type='get' id='b'/>`
	d := NewDecoder(strings.NewReader(in), Limits{})
	if _, err := d.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	el, err := d.ReadElement()
	if err != nil || !el.Is("urn:ietf:params:xml:ns:xmpp-sasl", "success") {
		t.Fatalf("first element = %v, %v", el, err)
	}
	d.Restart()
	if _, err := d.ReadHeader(); err != nil {
		t.Fatalf("second header: %v", err)
	}
	el, err = d.ReadElement()
	if err != nil || !el.Is(NSClient, "iq") || el.Get("id") != "b" {
		t.Fatalf("element after restart = %v, %v", el, err)
	}
}

func TestDropBufferedSpace(t *testing.T) {
	const starttls = `<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`
	tests := []struct {
		name  string
		after string
		left  int
	}{
		{"nothing", "", 0},
		{"a newline", "\n", 0},
		{"CR LF", "\r\n", 0},
		{"spaces and tabs", "  \t \t  ", 0},
		{"an element", "<injected/>", len("<injected/>")},
		{"whitespace, then an element", " \n<injected/>", len("<injected/>")},
		{"text", "\nx", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDecoder(strings.NewReader(clientHeader+starttls+tc.after), Limits{})
			if _, err := d.ReadHeader(); err != nil {
				t.Fatal(err)
			}
			if _, err := d.ReadElement(); err != nil {
				t.Fatal(err)
			}
			if got := d.DropBufferedSpace(); got != tc.left {
				t.Errorf("DropBufferedSpace() = %d, want %d", got, tc.left)
			}
			if got := d.Buffered(); got != tc.left {
				t.Errorf("Buffered() = %d after it, want %d", got, tc.left)
			}
		})
	}
}

func TestResetDropsBufferedBytes(t *testing.T) {
	d := NewDecoder(strings.NewReader(clientHeader+`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><injected/>`), Limits{})
	if _, err := d.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ReadElement(); err != nil {
		t.Fatal(err)
	}
	if d.Buffered() == 0 {
		t.Fatal("expected the injected bytes to be buffered")
	}
	d.Reset(strings.NewReader(clientHeader + `<presence/>`))
	if d.Buffered() != 0 {
		t.Fatalf("Buffered() = %d after Reset, want 0", d.Buffered())
	}
	if _, err := d.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	el, err := d.ReadElement()
	if err != nil || !el.Is(NSClient, "presence") {
		t.Fatalf("element after reset = %v, %v", el, err)
	}
}

func TestServerStreamNamespace(t *testing.T) {
	const hdr = `<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' version='1.0'>`
	d := NewDecoder(strings.NewReader(hdr+`<db:result from='a.example' to='b.example'>key</db:result>`), Limits{})
	if _, err := d.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	if got := d.ContentNamespace(); got != NSServer {
		t.Errorf("ContentNamespace() = %q, want %q", got, NSServer)
	}
	el, err := d.ReadElement()
	if err != nil {
		t.Fatal(err)
	}
	if !el.Is("jabber:server:dialback", "result") || el.Text() != "key" {
		t.Errorf("got %s, want a dialback result", el)
	}
}

func TestSelfClosingHeader(t *testing.T) {
	d := NewDecoder(strings.NewReader(`<stream:stream xmlns:stream='http://etherx.jabber.org/streams'/>`), Limits{})
	if _, err := d.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ReadElement(); !errors.Is(err, ErrStreamEnd) {
		t.Fatalf("err = %v, want ErrStreamEnd", err)
	}
}

func TestParsedElementsAreIndependent(t *testing.T) {
	_, els, _ := readAll(t, strings.NewReader(clientHeader+`<message a='1'><x b='2'/><y c='3'/></message>`), Limits{})
	m := els[0]
	x := m.Child(NSClient, "x")
	x.SetAttr("new", "v") // must not overwrite y's attributes in the shared slab
	if got := m.Child(NSClient, "y").Get("c"); got != "3" {
		t.Fatalf("sibling attribute changed to %q by SetAttr on a neighbour", got)
	}
	c := m.WithAttr("a", "9")
	if m.Get("a") != "1" || c.Get("a") != "9" {
		t.Fatalf("WithAttr changed the original: orig %q copy %q", m.Get("a"), c.Get("a"))
	}
}

func TestElementAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	stanza := `<message to='juliet@example.com/balcony' from='romeo@example.net/orchard' type='chat' id='ktx72v49'><body>Art thou not Romeo, and a Montague?</body><active xmlns='http://jabberd.jabberstudio.org/protocol/chatstates'/></message>`
	d := NewDecoder(&cycleReader{head: []byte(clientHeader), body: []byte(stanza)}, Limits{})
	if _, err := d.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := d.ReadElement(); err != nil {
			t.Fatal(err)
		}
	})
	// One string for the data, one slab each for elements, attributes and
	// child nodes.
	if allocs > 4 {
		t.Errorf("ReadElement allocates %v times per stanza, want at most 4", allocs)
	}
}

// cycleReader yields head once, then body forever.
type cycleReader struct {
	head, body []byte
	off        int
}

func (c *cycleReader) Read(p []byte) (int, error) {
	if len(c.head) > 0 {
		n := copy(p, c.head)
		c.head = c.head[n:]
		return n, nil
	}
	n := 0
	for n < len(p) {
		k := copy(p[n:], c.body[c.off:])
		n += k
		c.off = (c.off + k) % len(c.body)
	}
	return n, nil
}

// timeoutReader fails once with a timeout at a chosen point, then goes on.
type timeoutReader struct {
	data   string
	failAt int
	failed bool
}

type netTimeout struct{}

func (netTimeout) Error() string { return "i/o timeout" }
func (netTimeout) Timeout() bool { return true }

func (r *timeoutReader) Read(p []byte) (int, error) {
	if !r.failed && len(r.data) <= r.failAt {
		r.failed = true
		return 0, netTimeout{}
	}
	n := copy(p[:1], r.data)
	r.data = r.data[n:]
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

func TestTimeoutBetweenElementsIsRecoverable(t *testing.T) {
	tests := []struct {
		name        string
		rest        string // input left when the timeout happens
		recoverable bool
	}{
		{"between elements", "<presence/>", true},
		{"inside an element", "ce/>", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := clientHeader + "<message/>" + "<presen" + "ce/>"
			if tc.recoverable {
				in = clientHeader + "<message/>" + "<presence/>"
			}
			r := &timeoutReader{data: in, failAt: len(tc.rest)}
			d := NewDecoder(r, Limits{})
			if _, err := d.ReadHeader(); err != nil {
				t.Fatal(err)
			}
			if _, err := d.ReadElement(); err != nil {
				t.Fatal(err)
			}
			_, err := d.ReadElement()
			if _, ok := err.(netTimeout); !ok {
				t.Fatalf("first read: err = %v, want the timeout", err)
			}
			el, err := d.ReadElement()
			if tc.recoverable && (err != nil || !el.Is(NSClient, "presence")) {
				t.Fatalf("after the timeout: %v, %v; want the next element", el, err)
			}
			if !tc.recoverable && err == nil {
				t.Fatal("a timeout inside an element did not stick")
			}
		})
	}
}

// The top element of a stanza has room for the server to stamp from and
// to in place; using it must not touch any other element's attributes.
func TestStampRoom(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"children with attributes",
			`<message to='a@b' id='1'><body xml:lang='en'>hi</body><x xmlns='urn:x' a='1' b='2'/></message>`,
			`<message xmlns="jabber:client" to="c@d" id="1" from="e@f/g"><body xml:lang="en">hi</body><x xmlns="urn:x" a="1" b="2"/></message>`},
		{"no attributes on the top element",
			`<message><x xmlns='urn:x' a='1'/></message>`,
			`<message xmlns="jabber:client" from="e@f/g" to="c@d"><x xmlns="urn:x" a="1"/></message>`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, els, _ := readAll(t, strings.NewReader(clientHeader+tc.in), Limits{})
			if len(els) != 1 {
				t.Fatalf("got %d elements", len(els))
			}
			el := els[0]
			el.SetAttr("from", "e@f/g").SetAttr("to", "c@d")
			if got := string(AppendElement(nil, el, "")); got != tc.want {
				t.Errorf("stamped:\n got %s\nwant %s", got, tc.want)
			}
		})
	}
	_, els, _ := readAll(t, strings.NewReader(clientHeader+`<message to='a@b' id='1'><body>hi</body></message>`), Limits{})
	el := els[0]
	if room := cap(el.Attrs) - len(el.Attrs); room < 2 {
		t.Errorf("the top element has room for %d more attributes, want 2", room)
	}
	before := &el.Attrs[0]
	el.SetAttr("from", "e@f/g").SetAttr("type", "chat")
	if &el.Attrs[0] != before {
		t.Error("stamping two attributes reallocated the attributes")
	}
}

// TestTreeMemoryBounded reads the stanzas of MaxStanzaBytes that cost the
// most memory as a tree (empty elements, empty attributes) and checks that
// the tree, retained, takes at most a few times the stanza's size: an
// element costs about a hundred bytes and an attribute fifty, so without
// Limits.MaxElements 256 KiB of "<a/>" becomes some 7 MiB. Each shape is
// either refused (policy-violation, nothing kept) or within the bound.
func TestTreeMemoryBounded(t *testing.T) {
	const size = DefaultMaxStanzaBytes
	const bound = 5 * size // what a tree at the default limits may keep
	fill := func(open, unit, close string) string {
		n := (size - len(open) - len(close)) / len(unit)
		return open + strings.Repeat(unit, n) + close
	}
	attrs := func() string {
		// As many empty attributes as MaxAttrs allows per element.
		var b strings.Builder
		b.WriteString("<b")
		for i := range DefaultMaxAttrs {
			fmt.Fprintf(&b, " a%d=''", i)
		}
		b.WriteString("/>")
		return b.String()
	}()
	shapes := []struct{ name, xml string }{
		{"empty elements", fill("<message>", "<a/>", "</message>")},
		{"nested pairs", fill("<message>", "<a><b/></a>", "</message>")},
		{"empty attributes", fill("<message>", attrs, "</message>")},
		{"elements under the limit", "<message>" + strings.Repeat("<a/>", DefaultMaxElements-1) + "</message>"},
	}
	for _, sh := range shapes {
		t.Run(sh.name, func(t *testing.T) {
			if len(sh.xml) > size {
				t.Fatalf("test stanza of %d bytes is over the size limit", len(sh.xml))
			}
			d := NewDecoder(strings.NewReader(clientHeader+sh.xml), Limits{})
			if _, err := d.ReadHeader(); err != nil {
				t.Fatal(err)
			}
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			el, err := d.ReadElement()
			// Twice: the scratch space went back to a sync.Pool, whose
			// victim cache outlives one collection.
			runtime.GC()
			runtime.GC()
			runtime.ReadMemStats(&after)
			if err != nil {
				if !errors.Is(err, &Error{Condition: CondPolicyViolation}) {
					t.Fatalf("err = %v, want a tree or policy-violation", err)
				}
				return
			}
			kept := int64(after.HeapAlloc) - int64(before.HeapAlloc)
			runtime.KeepAlive(el)
			fp := el.Footprint()
			t.Logf("%d bytes kept as %d KiB; footprint %d KiB", len(sh.xml), kept>>10, fp>>10)
			// Queues bound their bytes by footprint: it must not be far
			// below what the tree really takes.
			if int64(fp) < kept/2 || int64(fp) > 2*kept {
				t.Errorf("footprint %d bytes for a tree of %d bytes: want it within a factor of 2", fp, kept)
			}
			if kept > bound {
				t.Errorf("a %d-byte stanza keeps %d KiB as a tree, more than %d KiB (%.1f times its size)",
					len(sh.xml), kept>>10, bound>>10, float64(kept)/float64(len(sh.xml)))
			}
		})
	}
}

// TestReadFragment: a fragment is read without a stream header, each
// element with only its own declarations in scope, as a WebSocket message
// of RFC 7395 is.
func TestReadFragment(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string // the elements, as AppendElement writes them standalone
		wantErr error    // after them
	}{
		{"one stanza", `<message xmlns='jabber:client' to='a@b'><body>hi</body></message>`,
			[]string{`<message xmlns="jabber:client" to="a@b"><body>hi</body></message>`}, io.EOF},
		{"whitespace around it", "\n <open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.org' version='1.0'/> \r\n",
			[]string{`<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="example.org" version="1.0"/>`}, io.EOF},
		{"an XML declaration first", `<?xml version='1.0' encoding='UTF-8'?> <presence xmlns='jabber:client'/>`,
			[]string{`<presence xmlns="jabber:client"/>`}, io.EOF},
		{"two elements: the caller sees both", `<a xmlns='u'/><b xmlns='v'/>`,
			[]string{`<a xmlns="u"/>`, `<b xmlns="v"/>`}, io.EOF},
		{"nothing but whitespace", "  \n", nil, io.EOF},
		{"empty", "", nil, io.EOF},
		{"no namespace declared: none", `<message/>`, []string{`<message/>`}, io.EOF},
		{"stream prefix must be declared", `<stream:features/>`, nil, &Error{Condition: CondNotWellFormed}},
		{"declared stream prefix", `<stream:features xmlns:stream='http://etherx.jabber.org/streams'/>`,
			[]string{`<stream:features xmlns:stream="http://etherx.jabber.org/streams"/>`}, io.EOF},
		{"a declaration after an element", `<a xmlns='u'/><?xml version='1.0'?>`, []string{`<a xmlns="u"/>`}, &Error{Condition: CondRestrictedXML}},
		{"a processing instruction", `<?pi x?><a/>`, nil, &Error{Condition: CondRestrictedXML}},
		{"a closing tag alone", `</stream:stream>`, nil, &Error{Condition: CondNotWellFormed}},
		{"text", `hello`, nil, &Error{Condition: CondBadFormat}},
		{"truncated", `<message xmlns='jabber:client'><bo`, nil, io.ErrUnexpectedEOF},
	}
	d := NewDecoder(nil, Limits{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, r := range []io.Reader{strings.NewReader(tc.in), iotest.OneByteReader(strings.NewReader(tc.in))} {
				d.ResetFragment(r) // one decoder for all: as for the messages of one connection
				var got []string
				var err error
				for {
					var el *Element
					if el, err = d.ReadElement(); err != nil {
						break
					}
					got = append(got, string(AppendElement(nil, el, "")))
				}
				if strings.Join(got, "|") != strings.Join(tc.want, "|") || !errors.Is(err, tc.wantErr) {
					t.Errorf("read %q, %v; want %q, %v", got, err, tc.want, tc.wantErr)
				}
			}
		})
	}
}

// TestFragmentSizeLimit: the size limit holds in a fragment as in a stream,
// before the element is buffered whole.
func TestFragmentSizeLimit(t *testing.T) {
	d := NewDecoder(nil, Limits{MaxStanzaBytes: 100})
	ok := `<message xmlns='jabber:client'><body>` + strings.Repeat("x", 40) + `</body></message>`
	d.ResetFragment(strings.NewReader(ok))
	if _, err := d.ReadElement(); err != nil {
		t.Fatalf("%d bytes: %v", len(ok), err)
	}
	r := &countingReader{r: strings.NewReader(`<message xmlns='jabber:client'><body>` + strings.Repeat("x", 1<<20) + `</body></message>`)}
	d.ResetFragment(r)
	if _, err := d.ReadElement(); !errors.Is(err, &Error{Condition: CondPolicyViolation}) {
		t.Fatalf("a 1 MiB element: %v, want policy-violation", err)
	}
	if r.n > 100+readBufferSize {
		t.Errorf("read %d bytes of a 1 MiB element before refusing it, want at most %d", r.n, 100+readBufferSize)
	}
}
