package push

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"roost/internal/xmpptest"
	"roost/jid"
	"roost/stanza"
	"roost/xmlstream"
)

type memStore struct {
	mu   sync.Mutex
	docs map[string][]byte
}

func (m *memStore) PushRegistrations(user string) ([]byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.docs[user]
	return v, ok, nil
}

func (m *memStore) PutPushRegistrations(user string, v []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(v) == 0 {
		delete(m.docs, user)
	} else {
		m.docs[user] = v
	}
	return nil
}

// fakeRouter records what is routed, and answers for whether accounts
// are awake.
type fakeRouter struct {
	mu     sync.Mutex
	awake  map[string]bool
	routed []*stanza.Stanza
	sent   chan struct{}
}

func (r *fakeRouter) Route(_ context.Context, st *stanza.Stanza) {
	r.mu.Lock()
	r.routed = append(r.routed, st)
	r.mu.Unlock()
	r.sent <- struct{}{}
}

func (r *fakeRouter) Awake(bare jid.JID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.awake[bare.String()]
}

func (r *fakeRouter) take() []*stanza.Stanza {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.routed
	r.routed = nil
	return out
}

type harness struct {
	t      *testing.T
	p      *Push
	st     *memStore
	r      *fakeRouter
	cancel context.CancelFunc
	done   chan error
}

func newHarness(t *testing.T, includeBody bool) *harness {
	t.Helper()
	h := &harness{t: t, st: &memStore{docs: map[string][]byte{}}, r: &fakeRouter{awake: map[string]bool{}, sent: make(chan struct{}, 64)}}
	h.p = New(Options{Store: h.st, Router: h.r, IncludeBody: includeBody, MaxRegistrations: 2, Burst: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- h.p.run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-h.done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	return h
}

func (h *harness) iq(from, payload string, fn func(context.Context, *stanza.Stanza) (*xmlstream.Element, error)) error {
	h.t.Helper()
	st := xmpptest.Stanza(h.t, `<iq type='set' id='e'>`+payload+`</iq>`)
	st.From = jid.MustParse(from)
	_, err := fn(context.Background(), st)
	return err
}

func (h *harness) deliver(xml, from, to string) bool {
	h.t.Helper()
	st := xmpptest.Stanza(h.t, xml)
	st.From, st.To = jid.MustParse(from), jid.MustParse(to)
	done, err := h.p.inbound(context.Background(), st)
	if err != nil {
		h.t.Fatal(err)
	}
	return done
}

// wait returns the notifications routed within d.
func (h *harness) wait(n int, d time.Duration) []*stanza.Stanza {
	h.t.Helper()
	deadline := time.After(d)
	for got := 0; got < n; got++ {
		select {
		case <-h.r.sent:
		case <-deadline:
			return h.r.take()
		}
	}
	// Anything more within the burst would be a second notification.
	time.Sleep(150 * time.Millisecond)
	return h.r.take()
}

const enableSecret = `<enable xmlns='urn:xmpp:push:0' jid='push.example.net' node='n1'><x xmlns='jabber:x:data'><field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='secret'><value>s3cret</value></field></x></enable>`

func TestNotifyOncePerBurst(t *testing.T) {
	h := newHarness(t, false)
	if err := h.iq("alice@example.org/phone", enableSecret, h.p.enable); err != nil {
		t.Fatal(err)
	}
	// Asleep: a burst of three messages and a subscription request.
	for _, b := range []string{"one", "two", "three"} {
		h.deliver(`<message type='chat'><body>`+b+`</body></message>`, "bob@example.org/pc", "alice@example.org")
	}
	h.deliver(`<presence type='subscribe'/>`, "carol@example.org", "alice@example.org")
	got := h.wait(1, 5*time.Second)
	if len(got) != 1 {
		t.Fatalf("%d notifications for one burst, want 1", len(got))
	}
	n := got[0]
	if n.Kind != stanza.IQ || n.Type != stanza.TypeSet || !n.From.Equal(jid.MustParse("alice@example.org")) || n.To.String() != "push.example.net" {
		t.Errorf("notification routed from %s to %s", n.From, n.To)
	}
	s := n.El.String()
	for _, want := range []string{
		`<publish node="n1"><item><notification xmlns="urn:xmpp:push:0"><x xmlns="jabber:x:data" type="submit">`,
		`<field var="FORM_TYPE" type="hidden"><value>urn:xmpp:push:summary</value></field>`,
		`<field var="message-count"><value>3</value></field>`,
		`<field var="pending-subscription-count"><value>1</value></field>`,
		`<field var="last-message-sender"><value>bob@example.org/pc</value></field>`,
		`<field var="last-message-body"><value>New Message!</value></field>`,
		`<publish-options><x xmlns="jabber:x:data" type="submit"><field var="FORM_TYPE" type="hidden"><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var="secret"><value>s3cret</value></field></x></publish-options>`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("notification %s\nlacks %s", s, want)
		}
	}
	if strings.Contains(s, "three") {
		t.Errorf("the body went out although bodies are off: %s", s)
	}
	// A later message is a new burst.
	h.deliver(`<message type='chat'><body>four</body></message>`, "bob@example.org/pc", "alice@example.org")
	if got := h.wait(1, 5*time.Second); len(got) != 1 || !strings.Contains(got[0].El.String(), `<field var="message-count"><value>1</value></field>`) {
		t.Errorf("the next burst: %d notifications", len(got))
	}
}

func TestWhatNotifies(t *testing.T) {
	h := newHarness(t, true)
	if err := h.iq("alice@example.org/phone", `<enable xmlns='urn:xmpp:push:0' jid='push.example.net' node='n1'/>`, h.p.enable); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, xml, from string
		want            string // the body in the summary; "" for no notification
	}{
		{"chat", `<message type='chat'><body>hi</body></message>`, "bob@example.org/pc", "hi"},
		{"omemo", `<message type='chat'><encrypted xmlns='eu.siacs.conversations.axolotl'/></message>`, "bob@example.org/pc", "New Message!"},
		{"chat state", `<message type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`, "bob@example.org/pc", ""},
		{"headline", `<message type='headline'><body>news</body></message>`, "news.example.org", ""},
		{"error", `<message type='error'><body>x</body></message>`, "bob@example.org/pc", ""},
		{"group chat", `<message type='groupchat'><body>lunch?</body></message>`, "den@conference.example.org/bob", ""},
		{"mention by name", `<message type='groupchat'><body>Alice, lunch?</body></message>`, "den@conference.example.org/bob", "Alice, lunch?"},
		{"name inside a word", `<message type='groupchat'><body>malice</body></message>`, "den@conference.example.org/bob", ""},
		{"mention reference", `<message type='groupchat'><body>@mum lunch?</body><reference xmlns='urn:xmpp:reference:0' type='mention' uri='xmpp:alice@example.org' begin='0' end='4'/></message>`, "den@conference.example.org/bob", "@mum lunch?"},
		{"available presence", `<presence/>`, "bob@example.org/pc", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.deliver(tt.xml, tt.from, "alice@example.org/phone")
			got := h.wait(1, 400*time.Millisecond)
			switch {
			case tt.want == "" && len(got) != 0:
				t.Errorf("notified: %s", got[0].El)
			case tt.want != "" && (len(got) != 1 || !strings.Contains(got[0].El.String(), `<field var="last-message-body"><value>`+tt.want+`</value>`)):
				t.Errorf("notifications %v, want one with body %q", got, tt.want)
			}
		})
	}
	// Awake: nothing.
	h.r.mu.Lock()
	h.r.awake["alice@example.org"] = true
	h.r.mu.Unlock()
	h.deliver(`<message type='chat'><body>hi</body></message>`, "bob@example.org/pc", "alice@example.org")
	if got := h.wait(1, 300*time.Millisecond); len(got) != 0 {
		t.Errorf("notified an awake account: %v", got)
	}
	// Without registrations: nothing.
	h.deliver(`<message type='chat'><body>hi</body></message>`, "bob@example.org/pc", "carol@example.org")
	if got := h.wait(1, 300*time.Millisecond); len(got) != 0 {
		t.Errorf("notified an account without registrations: %v", got)
	}
}

// TestErrorsDisable: an error answer, except wait, removes the
// registration; an answer from elsewhere is ignored; answers are taken.
func TestErrorsDisable(t *testing.T) {
	h := newHarness(t, false)
	for _, e := range []string{
		`<enable xmlns='urn:xmpp:push:0' jid='push.example.net' node='a'/>`,
		`<enable xmlns='urn:xmpp:push:0' jid='unreachable.example' node='b'/>`,
	} {
		if err := h.iq("alice@example.org/phone", e, h.p.enable); err != nil {
			t.Fatal(err)
		}
	}
	h.deliver(`<message type='chat'><body>hi</body></message>`, "bob@example.org/pc", "alice@example.org")
	got := h.wait(2, 5*time.Second)
	if len(got) != 2 {
		t.Fatalf("%d notifications for two registrations", len(got))
	}
	answer := func(n *stanza.Stanza, from, typ, errXML string) bool {
		return h.deliver(`<iq type='`+typ+`' id='`+n.ID+`'>`+errXML+`</iq>`, from, "alice@example.org")
	}
	for _, n := range got {
		switch n.To.String() {
		case "push.example.net":
			if !answer(n, "eve@example.net", "error", `<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>`) {
				t.Error("an answer from a stranger was not taken")
			}
			if !answer(n, "push.example.net", "error", `<error type='wait'><resource-constraint xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>`) {
				t.Error("the app server's answer was not taken")
			}
		case "unreachable.example":
			// The server's own bounce for a domain it cannot reach.
			answer(n, "unreachable.example", "error", `<error type='cancel'><remote-server-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>`)
		}
	}
	regs, err := h.p.registrations(jid.MustParse("alice@example.org"))
	if err != nil || len(regs) != 1 || regs[0].jid.String() != "push.example.net" {
		t.Fatalf("registrations after the errors: %v, %v; want push.example.net's only", regs, err)
	}
	// Now an error of type cancel from the app server itself.
	h.deliver(`<message type='chat'><body>again</body></message>`, "bob@example.org/pc", "alice@example.org")
	got = h.wait(1, 5*time.Second)
	if len(got) != 1 {
		t.Fatalf("%d notifications", len(got))
	}
	answer(got[0], "push.example.net", "error", `<error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>`)
	if regs, _ := h.p.registrations(jid.MustParse("alice@example.org")); len(regs) != 0 {
		t.Errorf("registrations after a forbidden: %v", regs)
	}
	if _, found, _ := h.st.PushRegistrations("alice@example.org"); found {
		t.Error("the stored registrations still exist")
	}
	// Unrelated IQ results pass.
	if h.deliver(`<iq type='result' id='other'/>`, "bob@example.org/pc", "alice@example.org") {
		t.Error("an unrelated IQ result was taken")
	}
}

func TestEnableDisable(t *testing.T) {
	h := newHarness(t, false)
	alice := "alice@example.org/phone"
	for _, e := range []string{
		`<enable xmlns='urn:xmpp:push:0' jid='p1.example.net' node='a'/>`,
		`<enable xmlns='urn:xmpp:push:0' jid='p1.example.net' node='b'/>`,
		`<enable xmlns='urn:xmpp:push:0' jid='p2.example.net' node='c'/>`, // the third: the oldest goes
		`<enable xmlns='urn:xmpp:push:0' jid='p2.example.net' node='c'><x xmlns='jabber:x:data'><field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='secret'><value>x</value></field></x></enable>`,
	} {
		if err := h.iq(alice, e, h.p.enable); err != nil {
			t.Fatal(err)
		}
	}
	list := func() string {
		regs, err := h.p.registrations(jid.MustParse("alice@example.org"))
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range regs {
			s := r.jid.String() + "#" + r.node
			if r.options != nil {
				s += "+options"
			}
			out = append(out, s)
		}
		return strings.Join(out, " ")
	}
	if got := list(); got != "p1.example.net#b p2.example.net#c+options" {
		t.Errorf("registrations %q", got)
	}
	// Stored: a fresh module reads them back.
	p2 := New(Options{Store: h.st, Router: h.r})
	if regs, err := p2.registrations(jid.MustParse("alice@example.org")); err != nil || len(regs) != 2 || regs[1].options == nil {
		t.Errorf("read back: %v, %v", regs, err)
	}
	if err := h.iq(alice, `<disable xmlns='urn:xmpp:push:0' jid='p2.example.net'/>`, h.p.disable); err != nil {
		t.Fatal(err)
	}
	if got := list(); got != "p1.example.net#b" {
		t.Errorf("after disabling p2: %q", got)
	}
	if err := h.iq(alice, `<disable xmlns='urn:xmpp:push:0' jid='p1.example.net' node='zz'/>`, h.p.disable); err != nil {
		t.Fatal(err)
	}
	if got := list(); got != "p1.example.net#b" {
		t.Errorf("after disabling another node: %q", got)
	}
	h.p.AccountDeleted(context.Background(), jid.MustParse("alice@example.org"))
	h.p.mu.RLock()
	_, cached := h.p.regs["alice@example.org"]
	h.p.mu.RUnlock()
	if cached {
		t.Error("registrations cached after the account was deleted")
	}

	bad := []struct {
		from, payload string
		cond          stanza.Condition
	}{
		{alice, `<enable xmlns='urn:xmpp:push:0' node='a'/>`, stanza.BadRequest},
		{alice, `<enable xmlns='urn:xmpp:push:0' jid='@@'/>`, stanza.JIDMalformed},
		{alice, `<enable xmlns='urn:xmpp:push:0' jid='alice@example.org'/>`, stanza.BadRequest},
		{alice, `<enable xmlns='urn:xmpp:push:0' jid='p.example'><x xmlns='jabber:x:data'><field var='FORM_TYPE'><value>urn:other</value></field></x></enable>`, stanza.BadRequest},
		{alice, `<enable xmlns='urn:xmpp:push:0' jid='p.example'><x xmlns='jabber:x:data' type='bogus'/></enable>`, stanza.BadRequest},
		{alice, `<disable xmlns='urn:xmpp:push:0'/>`, stanza.BadRequest},
		{"alice@example.org", `<enable xmlns='urn:xmpp:push:0' jid='p.example'/>`, stanza.Forbidden},
	}
	for _, b := range bad {
		fn := h.p.enable
		if strings.Contains(b.payload, "<disable") {
			fn = h.p.disable
		}
		err := h.iq(b.from, b.payload, fn)
		var se *stanza.Error
		if !errors.As(err, &se) || se.Condition != b.cond {
			t.Errorf("%.70s: %v, want %s", b.payload, err, b.cond)
		}
	}
}

func FuzzDecodeRegistrations(f *testing.F) {
	f.Add([]byte(`<registrations xmlns="urn:xmpp:push:0"><registration jid="p.example" node="n" since="5"/></registrations>`))
	f.Add([]byte(`<registrations xmlns="urn:xmpp:push:0"><registration jid="@"/></registrations>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		regs, err := decodeRegistrations(b, xmlstream.Limits{})
		if err != nil {
			return
		}
		again, err := decodeRegistrations(xmlstream.AppendElement(nil, encodeRegistrations(regs), ""), xmlstream.Limits{})
		if err != nil || len(again) != len(regs) {
			t.Fatalf("round trip of %q: %d registrations, %v", b, len(again), err)
		}
		for i := range regs {
			if !regs[i].same(again[i]) {
				t.Fatalf("round trip of %q changed registration %d", b, i)
			}
		}
	})
}

// BenchmarkInboundNoRegistrations is what push adds to every message for
// an account without registrations: a map lookup.
func BenchmarkInboundNoRegistrations(b *testing.B) {
	p := New(Options{Store: &memStore{docs: map[string][]byte{}}, Router: &fakeRouter{awake: map[string]bool{}}})
	el, _ := xmlstream.Parse([]byte(`<message xmlns="jabber:client" type="chat"><body>hi</body></message>`), xmlstream.Limits{})
	st := &stanza.Stanza{Kind: stanza.Message, Type: stanza.TypeChat, From: jid.MustParse("bob@example.org/pc"), To: jid.MustParse("alice@example.org"), El: el}
	_, _ = p.inbound(context.Background(), st)
	b.ReportAllocs()
	for b.Loop() {
		_, _ = p.inbound(context.Background(), st)
	}
}

// TestInboundIdleAllocatesNothing: for an account without registrations,
// push costs nothing per message (STYLE 23: a zero-allocation claim is a
// test).
func TestInboundIdleAllocatesNothing(t *testing.T) {
	p := New(Options{Store: &memStore{docs: map[string][]byte{}}, Router: &fakeRouter{awake: map[string]bool{}}})
	el, err := xmlstream.Parse([]byte(`<message xmlns="jabber:client" type="chat"><body>hi</body></message>`), xmlstream.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	st := &stanza.Stanza{Kind: stanza.Message, Type: stanza.TypeChat, From: jid.MustParse("bob@example.org/pc"), To: jid.MustParse("alice@example.org"), El: el}
	_, _ = p.inbound(context.Background(), st) // reads the (absent) registrations once
	if n := testing.AllocsPerRun(100, func() { _, _ = p.inbound(context.Background(), st) }); n != 0 {
		t.Errorf("%v allocations per message, want 0", n)
	}
}
