package component

import (
	"crypto/sha1" //nolint:gosec // XEP-0114's handshake
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"roost/internal/xmpptest"
	"roost/stanza"
	"roost/stream"
	"roost/xmlstream"
)

// componentElement reads one element written on a component stream.
func componentElement(in string) (*xmlstream.Element, error) {
	d := xmlstream.NewDecoder(strings.NewReader(xmpptest.ComponentHeader(ircDomain)+in), xmlstream.Limits{MaxStanzaBytes: 4096, MaxDepth: 16, MaxAttrs: 16})
	if _, err := d.ReadHeader(); err != nil {
		return nil, err
	}
	return d.ReadElement()
}

// FuzzCheck: whatever a component sends, check returns a typed error or
// a stanza from its domain with a recipient, which survives being written
// to a component stream and read back.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{
		`<message from='#c%irc.x@irc.example.org/n' to='a@example.org' type='groupchat'><body>x</body></message>`,
		`<presence to='a@example.org/r'/>`,
		`<iq type='get' id='1' from='irc.example.org' to='example.org'><ping xmlns='urn:xmpp:ping'/></iq>`,
		`<iq type='result' id='1' from='irc.example.org'/>`,
		`<message from='evil.example.org' to='a@example.org'/>`,
		`<message from='irc.example.org' to='a@b@c'/>`,
		`<handshake>00</handshake>`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		el, err := componentElement(in)
		if err != nil {
			return
		}
		st, err := check(ircDomain, el)
		var ste *stanza.Error
		var sme *stream.Error
		switch {
		case err == nil:
		case errors.As(err, &ste), errors.As(err, &sme):
			return
		default:
			t.Fatalf("untyped error %T %v", err, err)
		}
		if st.From.Domain() != ircDomain || st.To.IsZero() {
			t.Fatalf("accepted %s: from %q to %q", in, st.From, st.To)
		}
		again, err := componentElement(string(xmlstream.AppendElement(nil, st.Element(), xmlstream.NSComponent)))
		if err != nil {
			t.Fatalf("re-read: %v", err)
		}
		st2, err := check(ircDomain, again)
		if err != nil || st2.Kind != st.Kind || !st2.From.Equal(st.From) || !st2.To.Equal(st.To) || st2.ID != st.ID || st2.Type != st.Type {
			t.Fatalf("round trip of %s: %+v, %v; want %+v", in, st2, err, st)
		}
	})
}

// FuzzHandshake: a handshake is accepted exactly when it is the hex
// SHA-1 of the stream id and the secret, in either case, whitespace
// around it aside.
func FuzzHandshake(f *testing.F) {
	sum := sha1.Sum([]byte("id1" + "secret")) //nolint:gosec // XEP-0114's handshake
	good := hex.EncodeToString(sum[:])
	f.Add("id1", "secret", good)
	f.Add("id1", "secret", strings.ToUpper(good))
	f.Add("id1", "secret", " "+good+"\n")
	f.Add("id1", "secret", good[:39])
	f.Add("id1", "secret", good+"0")
	f.Add("", "", "")
	f.Add("id1", "secre", good)
	f.Fuzz(func(t *testing.T, id, secret, text string) {
		sum := sha1.Sum([]byte(id + secret)) //nolint:gosec // XEP-0114's handshake
		want := strings.EqualFold(strings.TrimSpace(text), hex.EncodeToString(sum[:]))
		if got := handshakeOK(text, id, secret); got != want {
			t.Fatalf("handshakeOK(%q, %q, %q) = %v, want %v", text, id, secret, got, want)
		}
	})
}
