package xmlstream

import (
	"encoding/xml"
	"strings"
	"testing"
)

// Realistic stanzas, as clients send them.
var benchStanzas = []struct {
	name, xml string
}{
	{"message", `<message to='juliet@example.com/balcony' from='romeo@example.net/orchard' type='chat' id='ktx72v49' xml:lang='en'><body>Art thou not Romeo, and a Montague?</body><active xmlns='http://jabber.org/protocol/chatstates'/><request xmlns='urn:xmpp:receipts'/><origin-id xmlns='urn:xmpp:sid:0' id='de305d54-75b4-431b-adb2-eb6b9e546014'/></message>`},
	{"presence", `<presence from='romeo@example.net/orchard'><show>away</show><status>In the garden</status><priority>5</priority><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='http://conversations.im' ver='QgayPKawpkPSDYmwT/WM94uAlu0='/><x xmlns='vcard-temp:x:update'><photo>01b87fcd030b72895ff8e88db57ec525450f000d</photo></x></presence>`},
	{"roster", rosterResult(20)},
}

func rosterResult(n int) string {
	var b strings.Builder
	b.WriteString(`<iq type='result' id='r1' to='juliet@example.com/balcony'><query xmlns='jabber:iq:roster' ver='ver11'>`)
	for i := range n {
		b.WriteString(`<item jid='contact`)
		b.WriteByte(byte('a' + i%26))
		b.WriteString(`@example.org' name='A Contact' subscription='both'><group>Friends</group></item>`)
	}
	b.WriteString(`</query></iq>`)
	return b.String()
}

// BenchmarkReadElement measures reading and building one stanza tree.
func BenchmarkReadElement(b *testing.B) {
	for _, s := range benchStanzas {
		b.Run(s.name, func(b *testing.B) {
			d := NewDecoder(&cycleReader{head: []byte(clientHeader), body: []byte(s.xml)}, Limits{})
			if _, err := d.ReadHeader(); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(s.xml)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := d.ReadElement(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEncodingXML is the baseline: encoding/xml only tokenising the
// same stanzas (with namespace resolution), building no tree at all.
func BenchmarkEncodingXML(b *testing.B) {
	for _, s := range benchStanzas {
		b.Run(s.name, func(b *testing.B) {
			d := xml.NewDecoder(&cycleReader{head: []byte(clientHeader), body: []byte(s.xml)})
			for { // up to and including the stream header
				tok, err := d.Token()
				if err != nil {
					b.Fatal(err)
				}
				if _, ok := tok.(xml.StartElement); ok {
					break
				}
			}
			b.SetBytes(int64(len(s.xml)))
			b.ReportAllocs()
			for b.Loop() {
				depth := 0
				for {
					tok, err := d.Token()
					if err != nil {
						b.Fatal(err)
					}
					switch tok.(type) {
					case xml.StartElement:
						depth++
					case xml.EndElement:
						depth--
					}
					if depth == 0 {
						break
					}
				}
			}
		})
	}
}

func BenchmarkAppendElement(b *testing.B) {
	for _, s := range benchStanzas {
		b.Run(s.name, func(b *testing.B) {
			d := NewDecoder(strings.NewReader(clientHeader+s.xml), Limits{})
			if _, err := d.ReadHeader(); err != nil {
				b.Fatal(err)
			}
			el, err := d.ReadElement()
			if err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, 0, 4096)
			b.SetBytes(int64(len(s.xml)))
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendElement(buf[:0], el, NSClient)
			}
		})
	}
}

// BenchmarkFootprint measures what a session queue pays per stanza to
// count its bytes.
func BenchmarkFootprint(b *testing.B) {
	for _, s := range benchStanzas {
		b.Run(s.name, func(b *testing.B) {
			el, err := Parse([]byte(s.xml), Limits{})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				_ = el.Footprint()
			}
		})
	}
}
