package xmlstream

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// FuzzDecoder feeds arbitrary bytes after a client stream header. Properties:
// no panic; every failure is an *Error or an I/O end condition; the same
// input read one byte at a time gives the same result; whatever parses
// serialises to XML that parses back to an equal tree, and that
// encoding/xml agrees is well-formed.
func FuzzDecoder(f *testing.F) {
	seeds := []string{
		`<message to='a@b' type='chat'><body>hi &amp; bye</body></message>`,
		`<iq type='get' id='1'><query xmlns='jabber:iq:roster'/></iq>`,
		`<presence><show>away</show><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='v'/></presence>`,
		`<stream:features/><a:b xmlns:a='urn:a' a:c='1' xml:lang='en'/>`,
		`<message><![CDATA[x]]>&#x1F600;</message>`,
		`<message><!-- c --></message>`,
		`<?pi?>`,
		"<message>\xff</message>",
		`<a><b><c/></b></a></stream:stream>`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		lim := Limits{MaxStanzaBytes: 4096, MaxDepth: 8, MaxAttrs: 8, MaxElements: 256}
		input := append([]byte(clientHeader), in...)
		els, err := decodeAll(bytes.NewReader(input), lim)
		var xe *Error
		if err != io.EOF && err != io.ErrUnexpectedEOF && !errors.Is(err, ErrStreamEnd) && !errors.As(err, &xe) {
			t.Fatalf("untyped error %T: %v", err, err)
		}
		els1, err1 := decodeAll(iotest.OneByteReader(bytes.NewReader(input)), lim)
		if len(els1) != len(els) || (err == nil) != (err1 == nil) || errors.As(err, &xe) && !errors.Is(err1, xe) {
			t.Fatalf("one byte at a time: %d elements, %v; whole: %d elements, %v", len(els1), err1, len(els), err)
		}
		for i, el := range els {
			if !Equal(el, els1[i]) {
				t.Fatalf("one byte at a time gave a different tree:\n%s\n%s", el, els1[i])
			}
			wire := AppendElement(nil, el, NSClient)
			again, err := decodeAll(bytes.NewReader(append(append([]byte(clientHeader), wire...), "</stream:stream>"...)), Limits{})
			if !errors.Is(err, ErrStreamEnd) || len(again) != 1 {
				t.Fatalf("re-reading %q: %d elements, %v", wire, len(again), err)
			}
			// The two content namespaces are one on the wire (RFC 6120
			// §4.8.3): compare with that in mind.
			if !Equal(contentNormal(el), contentNormal(again[0])) {
				t.Fatalf("round trip changed the tree:\n%s\n%s", el, again[0])
			}
			if !asciiNames(el) {
				// encoding/xml knows only the older XML name tables; names
				// are checked against the fifth edition by the decoder.
				continue
			}
			standalone := AppendElement(nil, el, "")
			dec := xml.NewDecoder(bytes.NewReader(standalone))
			for {
				if _, err := dec.Token(); err != nil {
					if err != io.EOF {
						t.Fatalf("encoding/xml rejects our output %q: %v", standalone, err)
					}
					break
				}
			}
		}
	})
}

func decodeAll(r io.Reader, lim Limits) ([]*Element, error) {
	d := NewDecoder(r, lim)
	if _, err := d.ReadHeader(); err != nil {
		return nil, err
	}
	return readElements(d)
}

// readElements reads elements until an error.
func readElements(d *Decoder) ([]*Element, error) {
	var els []*Element
	for {
		el, err := d.ReadElement()
		if err != nil {
			return els, err
		}
		els = append(els, el)
	}
}

func asciiNames(el *Element) bool {
	isASCII := func(s string) bool {
		for i := 0; i < len(s); i++ {
			if s[i] >= 0x80 {
				return false
			}
		}
		return true
	}
	if !isASCII(el.Name.Local) {
		return false
	}
	for _, a := range el.Attrs {
		if !isASCII(a.Name.Local) {
			return false
		}
	}
	for c := range el.Elements() {
		if !asciiNames(c) {
			return false
		}
	}
	return true
}

// contentNormal returns a copy of el with jabber:server names written as
// jabber:client.
func contentNormal(el *Element) *Element {
	c := &Element{Name: el.Name, Attrs: el.Attrs}
	if c.Name.Space == NSServer {
		c.Name.Space = NSClient
	}
	for _, n := range el.Children {
		if n.Elem != nil {
			n.Elem = contentNormal(n.Elem)
		}
		c.Children = append(c.Children, n)
	}
	return c
}

// FuzzFragment reads arbitrary bytes as a fragment (a WebSocket message,
// RFC 7395). Properties: no panic; every failure is an *Error or an I/O
// end condition; one byte at a time gives the same result; whatever
// parses is written standalone (every namespace, the stream prefix
// included, declared) and reads back as a fragment to an equal tree.
func FuzzFragment(f *testing.F) {
	seeds := []string{
		`<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="example.org" version="1.0"/>`,
		`<message xmlns='jabber:client' to='a@b'><body>hi</body></message>`,
		`<?xml version='1.0'?><close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>`,
		`<stream:error xmlns:stream='http://etherx.jabber.org/streams'><x xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>`,
		`<a xmlns='u'/><b/>`,
		`  `,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	read := func(r io.Reader, lim Limits) ([]*Element, error) {
		d := NewDecoder(nil, lim)
		d.ResetFragment(r)
		return readElements(d)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		lim := Limits{MaxStanzaBytes: 4096, MaxDepth: 8, MaxAttrs: 8}
		els, err := read(bytes.NewReader(in), lim)
		var xe *Error
		if err != io.EOF && err != io.ErrUnexpectedEOF && !errors.As(err, &xe) {
			t.Fatalf("untyped error %T: %v", err, err)
		}
		els1, err1 := read(iotest.OneByteReader(bytes.NewReader(in)), lim)
		if len(els1) != len(els) || (err == io.EOF) != (err1 == io.EOF) || errors.As(err, &xe) && !errors.Is(err1, xe) {
			t.Fatalf("one byte at a time: %d elements, %v; whole: %d elements, %v", len(els1), err1, len(els), err)
		}
		for i, el := range els {
			if !Equal(el, els1[i]) {
				t.Fatalf("one byte at a time gave a different tree:\n%s\n%s", el, els1[i])
			}
			wire := AppendElement(nil, el, "")
			again, err := read(bytes.NewReader(wire), Limits{})
			if err != io.EOF || len(again) != 1 {
				t.Fatalf("re-reading %q: %d elements, %v", wire, len(again), err)
			}
			if !Equal(el, again[0]) {
				t.Fatalf("round trip changed the tree:\n%s\n%s", el, again[0])
			}
		}
	})
}
