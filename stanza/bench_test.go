package stanza

import (
	"testing"

	"roost/jid"
	"roost/xmlstream"
)

// chatMessage is a client's chat message as it arrives, with the usual
// chat-state payload and no from.
const chatMessage = `<message to='juliet@example.com' type='chat' id='ktx72v49'><body>Are we still on for dinner tonight? I can bring the salad.</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>`

// BenchmarkSerializeStamped is the per-message work of the send path after
// routing: stamp the sender's address (RFC 6120 §8.1.2.1) and serialise the
// stanza into a reused buffer for the receiving session.
func BenchmarkSerializeStamped(b *testing.B) {
	st, err := Parse(element(b, chatMessage))
	if err != nil {
		b.Fatal(err)
	}
	st.From = jid.MustParse("romeo@example.net/orchard")
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = xmlstream.AppendElement(buf[:0], st.Element(), xmlstream.NSClient)
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkSerializeUnchanged serialises a stanza whose addresses are
// already right (a message relayed as it came), which needs no copy.
func BenchmarkSerializeUnchanged(b *testing.B) {
	st, err := Parse(element(b, `<message to='juliet@example.com' from='romeo@example.net/orchard' type='chat' id='k'><body>hi</body></message>`))
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = xmlstream.AppendElement(buf[:0], st.Element(), xmlstream.NSClient)
	}
	b.SetBytes(int64(len(buf)))
}

func TestSerializeUnchangedAllocs(t *testing.T) {
	st, err := Parse(element(t, `<message to='juliet@example.com' from='romeo@example.net/orchard' type='chat' id='k'><body>hi</body></message>`))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(100, func() { buf = xmlstream.AppendElement(buf[:0], st.Element(), xmlstream.NSClient) }); n != 0 {
		t.Errorf("serialising a stanza with unchanged addresses allocates %v times, want 0", n)
	}
}

// BenchmarkErrorReply builds and serialises the error bounce for a
// message (RFC 6120 §8.3.1), the reply to every undeliverable stanza.
func BenchmarkErrorReply(b *testing.B) {
	st, err := Parse(element(b, chatMessage))
	if err != nil {
		b.Fatal(err)
	}
	st.From = jid.MustParse("romeo@example.net/orchard")
	e := NewError(ServiceUnavailable, "")
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = xmlstream.AppendElement(buf[:0], ErrorReply(&st, e), xmlstream.NSClient)
	}
}
