package pep

import (
	"context"
	"testing"

	"roost/internal/xmpptest"
	"roost/jid"
	"roost/stanza"
)

// hotWorld has romeo's orchard resource followed by juliet's service
// with a known client version, and nurse's kitchen with a client that
// wants nothing.
func hotWorld(tb testing.TB) *world {
	tb.Helper()
	w := newWorld(tb)
	w.befriend(juliet, romeo)
	w.befriend(juliet, nurse)
	w.online(jb, newClient(tune+"+notify"))
	w.online(ro, newClient(tune+"+notify"))
	w.online(nk, newClient("urn:xmpp:ping"))
	return w
}

// stanzas on the paths PEP watches, as the router hands them over.
func hotStanzas(tb testing.TB) map[string]*stanza.Stanza {
	tb.Helper()
	parse := func(from, xml string) *stanza.Stanza {
		st := xmpptest.Stanza(tb, xml)
		st.From = jid.MustParse(from)
		return st
	}
	fan := newClient(tune + "+notify")
	none := newClient("urn:xmpp:ping")
	return map[string]*stanza.Stanza{
		"chat message":                parse(ro, `<message type='chat' to='juliet@example.com'><body>hi</body></message>`),
		"presence, caps known":        parse(ro, `<presence to='juliet@example.com'>`+fan.caps()+`</presence>`),
		"presence, no +notify wanted": parse(nk, `<presence to='juliet@example.com'>`+none.caps()+`</presence>`),
		"presence without caps":       parse(ro, `<presence to='juliet@example.com'><show>away</show></presence>`),
		"iq result":                   parse(ro, `<iq type='result' id='x' to='juliet@example.com'/>`),
	}
}

// TestHotPathsDoNotAllocate: PEP costs nothing that allocates on the
// message path, nor on presence that changes nothing it follows, nor on
// the presence of accounts without an avatar.
func TestHotPathsDoNotAllocate(t *testing.T) {
	w := hotWorld(t)
	ctx := context.Background()
	for name, st := range hotStanzas(t) {
		st := st
		if n := testing.AllocsPerRun(100, func() { _, _ = w.pep.inbound(ctx, st) }); n != 0 {
			t.Errorf("inbound %s: %v allocations", name, n)
		}
	}
	own := xmpptest.Stanza(t, `<presence>`+newClient(tune+"+notify").caps()+`</presence>`)
	own.From = jid.MustParse(jb)
	msg := xmpptest.Stanza(t, `<message type='chat' to='romeo@example.com'><body>hi</body></message>`)
	msg.From = jid.MustParse(jb)
	for name, st := range map[string]*stanza.Stanza{"own presence, no avatar": own, "chat message": msg} {
		if n := testing.AllocsPerRun(100, func() { _, _ = w.pep.outbound(ctx, st) }); n != 0 {
			t.Errorf("outbound %s: %v allocations", name, n)
		}
	}
}

func BenchmarkInbound(b *testing.B) {
	w := hotWorld(b)
	ctx := context.Background()
	for name, st := range hotStanzas(b) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = w.pep.inbound(ctx, st)
			}
		})
	}
}

func BenchmarkOutboundPresence(b *testing.B) {
	w := hotWorld(b)
	ctx := context.Background()
	own := xmpptest.Stanza(b, `<presence>`+newClient(tune+"+notify").caps()+`</presence>`)
	own.From = jid.MustParse(jb)
	b.Run("no avatar", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = w.pep.outbound(ctx, own)
		}
	})
	w.pep.setAvatar(jid.MustParse(juliet), "0123456789abcdef0123456789abcdef01234567")
	b.Run("avatar hash added", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			st := *own
			_, _ = w.pep.outbound(ctx, &st)
		}
	})
}

// BenchmarkPublishNotify is one publication to a node followed by two
// resources, through the store, with its notifications.
func BenchmarkPublishNotify(b *testing.B) {
	w := hotWorld(b)
	pub := xmpptest.Stanza(b, publish(tune, "current", tuneItem("x")))
	pub.From = jid.MustParse(jb)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := w.pep.handle(ctx, pub); err != nil {
			b.Fatal(err)
		}
		w.Sessions[jb].Take()
		w.Sessions[ro].Take()
	}
}
