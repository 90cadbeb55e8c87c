package offline

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"roost/internal/xmpptest"
	"roost/jid"
	"roost/stanza"
	"roost/store"
	"roost/xmlstream"
)

// sink stands for the router and the sessions. Untracked, a session takes
// what it is sent as delivered; tracked, it waits for the test to settle.
type sink struct {
	got       []*xmlstream.Element
	to        []jid.JID // whom each of got went to
	limit     int       // refuse after this many (0: never)
	available []jid.JID // what Available answers
	track     bool      // sessions track delivery
	pending   []sent    // tracked and not settled, in order
}

type sent struct {
	el *xmlstream.Element
	t  Tracker
}

func (s *sink) Available(jid.JID) []jid.JID { return s.available }

func (s *sink) DeliverTracked(full jid.JID, el *xmlstream.Element, t Tracker) (bool, bool) {
	if s.limit > 0 && len(s.got) >= s.limit {
		return false, false
	}
	s.got, s.to = append(s.got, el), append(s.to, full)
	if s.track {
		s.pending = append(s.pending, sent{el, t})
	}
	return true, s.track
}

// settle settles the first n pending stanzas, as one session would: the
// tracker is called after the sink forgets them, as c2s does.
func (s *sink) settle(n int, delivered bool) {
	batch := s.pending[:n:n]
	s.pending = s.pending[n:]
	if len(batch) == 0 {
		return
	}
	els := make([]*xmlstream.Element, len(batch))
	for i, p := range batch {
		els[i] = p.el
	}
	batch[0].t.Settled(els, delivered)
}

// bodies returns the bodies of what the sink got since the last call.
func (s *sink) bodies() string {
	var out []string
	for _, el := range s.got {
		out = append(out, el.ChildText(xmlstream.NSClient, "body"))
	}
	s.got, s.to = nil, nil
	return strings.Join(out, ",")
}

func setup(t *testing.T, max int) (*Offline, *store.Store, *sink) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "roost.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.CreateAccount(store.Account{Username: "juliet@example.com"}); err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	s := &sink{}
	o := New(Options{Store: st, Router: s, Max: max, BatchBytes: batchBytes, Now: func() time.Time { clock = clock.Add(time.Second); return clock }})
	return o, st, s
}

// batchBytes makes the tests' batches three of their messages long.
const batchBytes = 3 * len(`<message xmlns="jabber:client" to="juliet@example.com" from="a@b.example" type="chat"><body>a</body></message>`)

// store stores messages with the given bodies for juliet.
func storeBodies(t *testing.T, o *Offline, bodies ...string) {
	t.Helper()
	for _, b := range bodies {
		if _, err := o.Intercept(context.Background(), xmpptest.Stanza(t, `<message to='juliet@example.com' from='a@b.example' type='chat'><body>`+b+`</body></message>`)); err != nil {
			t.Fatal(err)
		}
	}
}

func stored(t *testing.T, st *store.Store) int {
	t.Helper()
	n, err := st.OfflineCount("juliet@example.com")
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestDeletedOnlyWhenDelivered: stored messages are handed over a batch
// at a time and stay stored until the session says its client has them;
// the next batch goes only then. A message stored meanwhile comes in a
// later batch of the same delivery, once.
func TestDeletedOnlyWhenDelivered(t *testing.T) {
	o, st, s := setup(t, 100)
	s.track = true
	juliet := jid.MustParse("juliet@example.com/balcony")
	s.available = []jid.JID{juliet}
	storeBodies(t, o, "a", "b", "c", "d", "e")
	o.Deliver(context.Background(), juliet)
	if got := s.bodies(); got != "a,b,c" {
		t.Fatalf("first batch %q, want a,b,c", got)
	}
	if n := stored(t, st); n != 5 {
		t.Fatalf("%d stored while the first batch is unacknowledged; want all 5", n)
	}
	storeBodies(t, o, "f") // while the delivery waits: not sent out of turn
	if got := s.bodies(); got != "" {
		t.Fatalf("sent %q while a batch was in flight; want nothing", got)
	}
	s.settle(2, true)
	if n, got := stored(t, st), s.bodies(); n != 4 || got != "" {
		t.Fatalf("after 2 of 3 acknowledged: %d stored, sent %q; want 4 and nothing", n, got)
	}
	s.settle(1, true)
	if n, got := stored(t, st), s.bodies(); n != 3 || got != "d,e,f" {
		t.Fatalf("after the batch: %d stored, sent %q; want 3 and d,e,f", n, got)
	}
	s.settle(3, true)
	if n, got := stored(t, st), s.bodies(); n != 0 || got != "" {
		t.Fatalf("after all: %d stored, sent %q; want 0 and nothing", n, got)
	}
	// The delivery is over: a new message goes to the resource at once.
	storeBodies(t, o, "g")
	if got := s.bodies(); got != "g" {
		t.Fatalf("a message stored after the delivery: sent %q, want g", got)
	}
}

// TestNotDeliveredStaysStored: a session that ends before its client has
// the batch leaves it stored; another available resource that had its
// messages takes it over, from the first one not delivered, and nothing
// goes twice to anyone. With none, the messages wait for the next login.
func TestNotDeliveredStaysStored(t *testing.T) {
	o, st, s := setup(t, 100)
	s.track = true
	phone, laptop := jid.MustParse("juliet@example.com/phone"), jid.MustParse("juliet@example.com/laptop")
	s.available = []jid.JID{phone, laptop}
	storeBodies(t, o, "a", "b", "c", "d")
	o.Deliver(context.Background(), laptop)
	if got := s.bodies(); got != "a,b,c" {
		t.Fatalf("first batch %q, want a,b,c to the laptop", got)
	}
	o.Deliver(context.Background(), phone) // a delivery is under way
	if got := s.bodies(); got != "" {
		t.Fatalf("the phone got %q while the laptop's delivery ran; want nothing", got)
	}
	s.settle(1, true) // a delivered
	s.available = []jid.JID{phone}
	o.SessionEnded(context.Background(), laptop, true)
	s.settle(2, false) // the laptop is gone before b and c
	if n := stored(t, st); n != 3 {
		t.Fatalf("%d stored after the laptop left; want b, c, d", n)
	}
	tos := slices.Clone(s.to)
	if got := s.bodies(); got != "b,c,d" || !tos[0].Equal(phone) {
		t.Fatalf("after the laptop left: sent %q to %v; want b,c,d to the phone", got, tos)
	}
	s.available = nil
	o.SessionEnded(context.Background(), phone, true)
	s.settle(3, false)
	if n, got := stored(t, st), s.bodies(); n != 3 || got != "" {
		t.Fatalf("with nobody left: %d stored, sent %q; want 3 and nothing", n, got)
	}
	// The next login gets them, once.
	s.available = []jid.JID{phone}
	o.Deliver(context.Background(), phone)
	if got := s.bodies(); got != "b,c,d" {
		t.Fatalf("next login got %q, want b,c,d", got)
	}
	s.settle(3, true)
	if n, got := stored(t, st), s.bodies(); n != 0 || got != "" {
		t.Fatalf("after the next login: %d stored, sent %q; want none and nothing more", n, got)
	}
}

func TestStoreAndDeliver(t *testing.T) {
	o, st, s := setup(t, 3)
	tests := []struct {
		name   string
		xml    string
		done   bool
		stored bool
		err    stanza.Condition
	}{
		{"chat", `<message from='romeo@example.net/o' to='juliet@example.com' type='chat' id='1'><body>one</body></message>`, true, true, ""},
		{"normal", `<message from='romeo@example.net/o' to='juliet@example.com/gone' id='2'><body>two</body></message>`, true, true, ""},
		{"chat state only", `<message from='romeo@example.net/o' to='juliet@example.com' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`, true, false, ""},
		{"no-store hint", `<message from='romeo@example.net/o' to='juliet@example.com' type='chat'><body>x</body><no-store xmlns='urn:xmpp:hints'/></message>`, true, false, ""},
		{"invitation without body", `<message from='romeo@example.net/o' to='juliet@example.com'><x xmlns='jabber:x:conference' jid='room@muc.example'/></message>`, true, true, ""},
		{"headline is not offered", `<message from='news@example.net' to='juliet@example.com' type='headline'><body>x</body></message>`, false, false, ""},
		{"full", `<message from='romeo@example.net/o' to='juliet@example.com' type='chat'><body>four</body></message>`, true, false, stanza.ServiceUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := st.OfflineCount("juliet@example.com")
			done, err := o.Intercept(context.Background(), xmpptest.Stanza(t, tc.xml))
			if done != tc.done {
				t.Errorf("done = %v, want %v", done, tc.done)
			}
			if tc.err != "" {
				if !errors.Is(err, &stanza.Error{Condition: tc.err}) {
					t.Errorf("err = %v, want %s", err, tc.err)
				}
			} else if err != nil {
				t.Errorf("err = %v", err)
			}
			after, _ := st.OfflineCount("juliet@example.com")
			if (after > before) != tc.stored {
				t.Errorf("stored: %d -> %d, want stored=%v", before, after, tc.stored)
			}
		})
	}

	o.Deliver(context.Background(), jid.MustParse("juliet@example.com/balcony"))
	var bodies []string
	for _, el := range s.got {
		d := el.Child(NSDelay, "delay")
		if d == nil || d.Get("from") != "example.com" || !strings.HasPrefix(d.Get("stamp"), "2026-11-23T10:00:0") {
			t.Errorf("delivered %s without the right delay stamp", el)
		}
		bodies = append(bodies, el.ChildText(xmlstream.NSClient, "body"))
	}
	if got := strings.Join(bodies, ","); got != "one,two," {
		t.Errorf("delivered bodies %q, want one,two,(invitation) in order", got)
	}
	if n, _ := st.OfflineCount("juliet@example.com"); n != 0 {
		t.Errorf("%d messages left after delivery", n)
	}
}

func TestDeliverStopsWhenSessionRefuses(t *testing.T) {
	o, st, s := setup(t, 10)
	for i := range 5 {
		if _, err := o.Intercept(context.Background(), xmpptest.Stanza(t, `<message to='juliet@example.com' from='a@b.example' type='chat'><body>`+string(rune('a'+i))+`</body></message>`)); err != nil {
			t.Fatal(err)
		}
	}
	s.limit = 2
	o.Deliver(context.Background(), jid.MustParse("juliet@example.com/x"))
	if n, _ := st.OfflineCount("juliet@example.com"); n != 3 {
		t.Fatalf("%d left, want the 3 not handed over", n)
	}
	s.limit, s.got = 0, nil
	o.Deliver(context.Background(), jid.MustParse("juliet@example.com/x"))
	if len(s.got) != 3 || s.got[0].ChildText(xmlstream.NSClient, "body") != "c" {
		t.Fatalf("second delivery: %d messages starting %v", len(s.got), s.got)
	}
}

// TestStoredAfterInitialPresence: the router found no available resource,
// but the recipient's initial presence handed over the stored messages
// before this one was stored. It must reach the resource at once, not
// wait for the next login; once the resource is gone it stays stored.
func TestStoredAfterInitialPresence(t *testing.T) {
	o, st, s := setup(t, 10)
	juliet := jid.MustParse("juliet@example.com/balcony")
	s.available = []jid.JID{juliet}
	o.Deliver(context.Background(), juliet) // nothing stored yet
	msg := `<message from='romeo@example.net/o' to='juliet@example.com' type='chat'><body>late</body></message>`
	if done, err := o.Intercept(context.Background(), xmpptest.Stanza(t, msg)); !done || err != nil {
		t.Fatalf("Intercept = %v, %v", done, err)
	}
	if len(s.got) != 1 || s.got[0].ChildText(xmlstream.NSClient, "body") != "late" {
		t.Fatalf("delivered %v, want the late message", s.got)
	}
	if n, _ := st.OfflineCount("juliet@example.com"); n != 0 {
		t.Errorf("%d messages left in storage after delivery", n)
	}
	o.SessionEnded(context.Background(), juliet, true)
	if _, err := o.Intercept(context.Background(), xmpptest.Stanza(t, msg)); err != nil {
		t.Fatal(err)
	}
	if n, _ := st.OfflineCount("juliet@example.com"); n != 1 || len(s.got) != 1 {
		t.Errorf("after the session ended: %d stored, %d delivered; want 1 stored, none delivered", n, len(s.got)-1)
	}
}
