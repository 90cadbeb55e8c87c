package portable

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzDecode feeds arbitrary documents to the decoder. Properties: no
// panic; every failure is a *SyntaxError; what decodes re-encodes, and
// the re-encoded document decodes to the same entries (unknown elements
// aside, which are reported, not kept).
func FuzzDecode(f *testing.F) {
	f.Add(encode(f, sample(f)))
	if b, err := os.ReadFile("testdata/prosody-0.12-alice.xml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`<server-data xmlns='urn:xmpp:pie:0'><host jid='h'><user name='u' password='p'><offline-messages><message xmlns='jabber:client'><body>x</body></message></offline-messages></user></host></server-data>`))
	f.Add([]byte(`<server-data xmlns='http://www.xmpp.org/extensions/xep-0227.html#ns'><host jid='h'><user name='u'><presence from='a@b/c' type='subscribe'/><unknown/></user></host></server-data>`))
	f.Add([]byte(`<server-data xmlns='urn:xmpp:pie:0'><host jid='h'><user name='u'><query xmlns='jabber:iq:privacy'><default name='a'/><list name='a'/></query></user></host></server-data>`))
	f.Add([]byte(`<server-data xmlns='urn:xmpp:pie:0'><host jid='conference.h'><room xmlns='urn:roost:pie:0' name='r' salt='AQI='><subject by='x'>s</subject><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='owner' jid='a@h' nick='n'><reason>r</reason></item></query></room></host></server-data>`))
	opts := Options{MaxElementBytes: 64 << 10, MaxDepth: 16}
	f.Fuzz(func(t *testing.T, doc []byte) {
		var first []Entry
		err := Decode(bytes.NewReader(doc), opts, func(e Entry) error {
			if _, ok := e.(*Unknown); !ok {
				first = append(first, e)
			}
			return nil
		})
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %v (%T) is not a *SyntaxError", err, err)
			}
			return
		}
		doc = encode(t, first)
		second, err := collect(t, string(doc))
		if err != nil {
			t.Fatalf("re-encoded document: %v\n%s", err, doc)
		}
		if diff := cmp.Diff(first, second, cmpElements); diff != "" {
			t.Fatalf("decode, encode, decode changed the entries (-first +second):\n%s\n%s", diff, doc)
		}
	})
}
