package router

import (
	"context"
	"testing"

	"roost/internal/xmpptest"
	"roost/jid"
)

// benchRouter has juliet bound and available with one resource, as a
// routing benchmark needs.
func benchRouter(b *testing.B) *Router {
	b.Helper()
	r := New(Options{Domains: []string{"example.com"}, Accounts: accounts{"juliet@example.com": true}})
	full := mustJID(b, "juliet@example.com/balcony")
	if err := r.Bind(context.Background(), full, &countingSession{}); err != nil {
		b.Fatal(err)
	}
	if _, ok := r.SetPresence(full, true, 0, xmpptest.Element(b, `<presence/>`)); !ok {
		b.Fatal("SetPresence: not bound")
	}
	return r
}

// BenchmarkRouteBareJID is the routing decision for the common chat
// message: to a bare JID, picked by RFC 6121 §8.5.2 among the available
// resources, with the account check.
func BenchmarkRouteBareJID(b *testing.B) {
	r := benchRouter(b)
	st := xmpptest.Stanza(b, `<message to='juliet@example.com' from='romeo@example.com/orchard' type='chat' id='a1'><body>hi</body></message>`)
	b.ReportAllocs()
	for b.Loop() {
		r.Route(context.Background(), st)
	}
}

// BenchmarkFromClientStamped is a message as c2s hands it over: the
// sender's full JID stamped on a stanza that did not carry it, which costs
// a shallow copy of the top element.
func BenchmarkFromClientStamped(b *testing.B) {
	r := benchRouter(b)
	st := xmpptest.Stanza(b, `<message to='juliet@example.com' type='chat' id='a1'><body>hi</body></message>`)
	from := jid.MustParse("romeo@example.com/orchard")
	b.ReportAllocs()
	for b.Loop() {
		st.From = from
		r.FromClient(context.Background(), st)
	}
}
