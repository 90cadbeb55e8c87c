package blocking

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"roost/internal/xmpptest"
	"roost/jid"
	"roost/stanza"
	"roost/xmlstream"
)

// fakeStore is an in-memory block list store that counts list loads.
type fakeStore struct {
	mu    sync.Mutex
	lists map[string][]string
	loads int
	fail  bool
}

func (f *fakeStore) BlockList(user string, fn func(string) error) error {
	f.mu.Lock()
	f.loads++
	if f.fail {
		f.mu.Unlock()
		return errors.New("disk on fire")
	}
	l := slices.Clone(f.lists[user])
	f.mu.Unlock()
	slices.Sort(l)
	for _, j := range l {
		if err := fn(j); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeStore) Block(user string, jids ...string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return errors.New("disk on fire")
	}
	for _, j := range jids {
		if !slices.Contains(f.lists[user], j) {
			f.lists[user] = append(f.lists[user], j)
		}
	}
	return nil
}

func (f *fakeStore) Unblock(user string, jids ...string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(jids) == 0 {
		delete(f.lists, user)
		return nil
	}
	f.lists[user] = slices.DeleteFunc(f.lists[user], func(j string) bool { return slices.Contains(jids, j) })
	return nil
}

// fakeRouter records what the module sends.
type fakeRouter struct {
	mu        sync.Mutex
	routed    []string // "from → to type"
	delivered []string // "to: payload"
	errors    []string // "to: error" for <blocked/> errors
	presences map[string][]*xmlstream.Element
}

func (f *fakeRouter) Route(_ context.Context, st *stanza.Stanza) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if st.El.Get("to") != st.To.String() || st.El.Get("from") != st.From.String() {
		// Recorded, so that the test's comparison of routed fails.
		f.routed = append(f.routed, fmt.Sprintf("stanza addresses %s → %s differ from its element %s", st.From, st.To, st.El))
		return
	}
	typ := st.Type
	if typ == "" {
		typ = "available"
	}
	f.routed = append(f.routed, fmt.Sprintf("%s %s → %s %s", st.Kind, st.From, st.To, typ))
}

func (f *fakeRouter) Deliver(full jid.JID, el *xmlstream.Element) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if se := stanza.ParseError(el); el.Get("type") == "error" {
		if el.Get("to") == full.String() && se.Condition == stanza.NotAcceptable && se.App.Is(NSErrors, "blocked") {
			f.errors = append(f.errors, full.String()+": error")
		} else {
			f.errors = append(f.errors, "bad error "+el.String())
		}
		return true
	}
	if el.Get("type") == "result" && el.Get("to") == full.String() && len(el.Children) == 0 {
		f.delivered = append(f.delivered, full.String()+": result "+el.Get("id"))
		return true
	}
	if el.Get("type") != "set" || el.Get("id") == "" || el.Get("to") != full.String() || el.Get("from") != "" {
		f.delivered = append(f.delivered, "bad push "+el.String())
		return true
	}
	f.delivered = append(f.delivered, full.String()+": "+string(xmlstream.AppendElement(nil, el.FirstChild(), xmlstream.NSClient)))
	return true
}

func (f *fakeRouter) AvailablePresences(bare jid.JID) []*xmlstream.Element {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.presences[bare.String()]
}

func subscription(_ context.Context, user, contact jid.JID) (string, error) {
	if user.String() != "juliet@example.com" {
		return "none", nil
	}
	switch contact.String() {
	case "romeo@example.com":
		return "both", nil
	case "tybalt@example.com":
		return "from", nil
	case "nurse@example.com":
		return "to", nil
	case "broken@example.com":
		return "", errors.New("roster on fire")
	}
	return "none", nil
}

type world struct {
	m      *Module
	store  *fakeStore
	router *fakeRouter
}

func newWorld(t testing.TB, lists map[string][]string) *world {
	t.Helper()
	fs := &fakeStore{lists: map[string][]string{}}
	for u, l := range lists {
		fs.lists[u] = slices.Clone(l)
	}
	fr := &fakeRouter{presences: map[string][]*xmlstream.Element{
		"juliet@example.com": {
			xmpptest.Element(t, `<presence from='juliet@example.com/balcony'><show>away</show></presence>`),
			xmpptest.Element(t, `<presence from='juliet@example.com/chamber'/>`),
		},
	}}
	return &world{m: New(Options{Store: fs, Router: fr, Subscription: subscription, MaxItems: 5}), store: fs, router: fr}
}

// handle runs a request; stanza.ErrReplied (the module answered itself)
// counts as success.
func (w *world) handle(t *testing.T, in string) (*xmlstream.Element, error) {
	t.Helper()
	reply, err := w.m.HandleStanza(context.Background(), xmpptest.Stanza(t, in))
	if errors.Is(err, stanza.ErrReplied) {
		return nil, nil
	}
	return reply, err
}

func TestMatch(t *testing.T) {
	entries := []string{"romeo@montague.net", "iago@shakespeare.lit/phone", "example.org", "chat.example.net/bot", "evil.com"}
	tests := []struct {
		jid  string
		want bool
	}{
		{"romeo@montague.net", true},
		{"romeo@montague.net/orchard", true},
		{"mercutio@montague.net", false},
		{"montague.net", false},
		{"iago@shakespeare.lit/phone", true},
		{"iago@shakespeare.lit/laptop", false},
		{"iago@shakespeare.lit", false},
		{"example.org", true},
		{"anyone@example.org", true},
		{"anyone@example.org/res", true},
		{"example.org/res", true},
		{"conference.example.org", true},
		{"room@conference.example.org/nick", true},
		{"notexample.org", false},
		{"chat.example.net/bot", true},
		{"chat.example.net/other", false},
		{"chat.example.net", false},
		{"user@chat.example.net/bot", false},
		{"a.b.evil.com", true},
		{"evil.com.example.io", false},
	}
	l := newList(entries)
	for _, tc := range tests {
		t.Run(tc.jid, func(t *testing.T) {
			if got := l.match(jid.MustParse(tc.jid)); got != tc.want {
				t.Errorf("match(%s) = %v, want %v", tc.jid, got, tc.want)
			}
		})
	}
	if noList.match(jid.MustParse("romeo@montague.net")) {
		t.Error("the empty list matches")
	}
}

func TestHandleStanza(t *testing.T) {
	tests := []struct {
		name      string
		lists     map[string][]string
		before    []string // requests sent first (results ignored)
		in        string
		want      string // reply payload, "" for an empty result
		err       stanza.Condition
		stored    []string // juliet's list afterwards
		routed    []string
		delivered []string
	}{
		{name: "empty list",
			in:   `<iq type='get' id='b' from='juliet@example.com/balcony'><blocklist xmlns='urn:xmpp:blocking'/></iq>`,
			want: `<blocklist xmlns="urn:xmpp:blocking"/>`},
		{name: "list", lists: map[string][]string{"juliet@example.com": {"romeo@example.com", "iago@example.com"}},
			in:     `<iq type='get' id='b' from='juliet@example.com/balcony' to='juliet@example.com'><blocklist xmlns='urn:xmpp:blocking'/></iq>`,
			want:   `<blocklist xmlns="urn:xmpp:blocking"><item jid="iago@example.com"/><item jid="romeo@example.com"/></blocklist>`,
			stored: []string{"iago@example.com", "romeo@example.com"}},
		{name: "block a contact who sees her presence",
			before: []string{
				`<iq type='get' id='b' from='juliet@example.com/balcony'><blocklist xmlns='urn:xmpp:blocking'/></iq>`,
				`<iq type='get' id='b' from='juliet@example.com/chamber'><blocklist xmlns='urn:xmpp:blocking'/></iq>`,
			},
			in:     `<iq type='set' id='b' from='juliet@example.com/balcony'><block xmlns='urn:xmpp:blocking'><item jid='Romeo@Example.com'/></block></iq>`,
			stored: []string{"romeo@example.com"},
			routed: []string{
				"presence juliet@example.com/balcony → romeo@example.com unavailable",
				"presence juliet@example.com/chamber → romeo@example.com unavailable",
			},
			delivered: []string{
				"juliet@example.com/balcony: result b",
				`juliet@example.com/balcony: <block xmlns="urn:xmpp:blocking"><item jid="romeo@example.com"/></block>`,
				`juliet@example.com/chamber: <block xmlns="urn:xmpp:blocking"><item jid="romeo@example.com"/></block>`,
			}},
		{name: "block several, a stranger and one she only sees",
			in:        `<iq type='set' id='b' from='juliet@example.com/balcony'><block xmlns='urn:xmpp:blocking'><item jid='paris@example.com'/><item jid='nurse@example.com'/><item jid='paris@example.com'/></block></iq>`,
			stored:    []string{"nurse@example.com", "paris@example.com"},
			delivered: []string{"juliet@example.com/balcony: result b"}},
		{name: "block again is harmless", lists: map[string][]string{"juliet@example.com": {"romeo@example.com"}},
			in:        `<iq type='set' id='b' from='juliet@example.com/balcony'><block xmlns='urn:xmpp:blocking'><item jid='romeo@example.com'/></block></iq>`,
			stored:    []string{"romeo@example.com"},
			delivered: []string{"juliet@example.com/balcony: result b"}},
		{name: "block with no item",
			in:  `<iq type='set' id='b' from='juliet@example.com/balcony'><block xmlns='urn:xmpp:blocking'/></iq>`,
			err: stanza.BadRequest},
		{name: "block an invalid JID",
			in:  `<iq type='set' id='b' from='juliet@example.com/balcony'><block xmlns='urn:xmpp:blocking'><item jid='a@b@c'/></block></iq>`,
			err: stanza.JIDMalformed},
		{name: "block without a jid attribute",
			in:  `<iq type='set' id='b' from='juliet@example.com/balcony'><block xmlns='urn:xmpp:blocking'><item/></block></iq>`,
			err: stanza.JIDMalformed},
		{name: "list full", lists: map[string][]string{"juliet@example.com": {"a@x.net", "b@x.net", "c@x.net", "d@x.net"}},
			in:     `<iq type='set' id='b' from='juliet@example.com/balcony'><block xmlns='urn:xmpp:blocking'><item jid='e@x.net'/><item jid='f@x.net'/></block></iq>`,
			err:    stanza.PolicyViolation,
			stored: []string{"a@x.net", "b@x.net", "c@x.net", "d@x.net"}},
		{name: "unblock a contact", lists: map[string][]string{"juliet@example.com": {"romeo@example.com", "nurse@example.com", "tybalt@example.com"}},
			before: []string{`<iq type='get' id='b' from='juliet@example.com/chamber'><blocklist xmlns='urn:xmpp:blocking'/></iq>`},
			in:     `<iq type='set' id='b' from='juliet@example.com/balcony'><unblock xmlns='urn:xmpp:blocking'><item jid='romeo@example.com'/><item jid='nobody@example.com'/></unblock></iq>`,
			stored: []string{"nurse@example.com", "tybalt@example.com"},
			routed: []string{
				"presence juliet@example.com/balcony → romeo@example.com available",
				"presence juliet@example.com/chamber → romeo@example.com available",
				"presence juliet@example.com → romeo@example.com probe",
			},
			delivered: []string{"juliet@example.com/balcony: result b", `juliet@example.com/chamber: <unblock xmlns="urn:xmpp:blocking"><item jid="romeo@example.com"/><item jid="nobody@example.com"/></unblock>`}},
		{name: "unblock all", lists: map[string][]string{"juliet@example.com": {"nurse@example.com", "tybalt@example.com", "paris@example.com"}},
			before: []string{`<iq type='get' id='b' from='juliet@example.com/chamber'><blocklist xmlns='urn:xmpp:blocking'/></iq>`},
			in:     `<iq type='set' id='b' from='juliet@example.com/balcony'><unblock xmlns='urn:xmpp:blocking'/></iq>`,
			routed: []string{
				"presence juliet@example.com → nurse@example.com probe",
				"presence juliet@example.com/balcony → tybalt@example.com available",
				"presence juliet@example.com/chamber → tybalt@example.com available",
			},
			delivered: []string{"juliet@example.com/balcony: result b", `juliet@example.com/chamber: <unblock xmlns="urn:xmpp:blocking"/>`}},
		{name: "another user's list",
			in:  `<iq type='get' id='b' from='romeo@example.com/orchard' to='juliet@example.com'><blocklist xmlns='urn:xmpp:blocking'/></iq>`,
			err: stanza.Forbidden},
		{name: "blocklist set",
			in:  `<iq type='set' id='b' from='juliet@example.com/balcony'><blocklist xmlns='urn:xmpp:blocking'/></iq>`,
			err: stanza.BadRequest},
		{name: "block get",
			in:  `<iq type='get' id='b' from='juliet@example.com/balcony'><block xmlns='urn:xmpp:blocking'><item jid='a@b'/></block></iq>`,
			err: stanza.BadRequest},
		{name: "unknown payload",
			in:  `<iq type='get' id='b' from='juliet@example.com/balcony'><blocked xmlns='urn:xmpp:blocking'/></iq>`,
			err: stanza.ServiceUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, tc.lists)
			for _, b := range tc.before {
				if _, err := w.handle(t, b); err != nil {
					t.Fatal(err)
				}
			}
			w.router.delivered = nil
			reply, err := w.handle(t, tc.in)
			switch {
			case tc.err != "":
				if !errors.Is(err, &stanza.Error{Condition: tc.err}) {
					t.Fatalf("err = %v, want %s", err, tc.err)
				}
			case err != nil:
				t.Fatal(err)
			case tc.want == "":
				if reply != nil {
					t.Errorf("got %s, want an empty result", reply)
				}
			default:
				if got := string(xmlstream.AppendElement(nil, reply.FirstChild(), xmlstream.NSClient)); got != tc.want {
					t.Errorf("got  %s\nwant %s", got, tc.want)
				}
			}
			got := slices.Sorted(slices.Values(w.store.lists["juliet@example.com"]))
			if !slices.Equal(got, tc.stored) {
				t.Errorf("stored %v, want %v", got, tc.stored)
			}
			// The cache agrees with the store.
			if cached := w.m.lists["juliet@example.com"]; cached != nil && !slices.Equal(cached.sorted(), got) && !(len(got) == 0 && len(cached.jids) == 0) {
				t.Errorf("cached %v, stored %v", cached.sorted(), got)
			}
			if !slices.Equal(w.router.routed, tc.routed) {
				t.Errorf("routed\n%s\nwant\n%s", strings.Join(w.router.routed, "\n"), strings.Join(tc.routed, "\n"))
			}
			if !slices.Equal(w.router.delivered, tc.delivered) {
				t.Errorf("delivered\n%s\nwant\n%s", strings.Join(w.router.delivered, "\n"), strings.Join(tc.delivered, "\n"))
			}
		})
	}
}

func TestInterceptors(t *testing.T) {
	lists := map[string][]string{"juliet@example.com": {"romeo@example.com", "example.com", "evil.net"}}
	const unavailable = stanza.ServiceUnavailable
	tests := []struct {
		name     string
		outbound bool
		in       string
		done     bool
		err      stanza.Condition // returned for the router to send
		bounced  bool             // <blocked/> error delivered to the sender
	}{
		{"message from a blocked contact", false, `<message from='romeo@example.com/orchard' to='juliet@example.com' type='chat'><body>hi</body></message>`, true, unavailable, false},
		{"message to a full JID from a blocked domain", false, `<message from='iago@evil.net/x' to='juliet@example.com/balcony'/>`, true, unavailable, false},
		{"presence from a blocked contact", false, `<presence from='romeo@example.com/orchard' to='juliet@example.com'/>`, true, "", false},
		{"subscription request from a blocked contact", false, `<presence type='subscribe' from='romeo@example.com' to='juliet@example.com'/>`, true, "", false},
		{"probe from a blocked contact", false, `<presence type='probe' from='romeo@example.com' to='juliet@example.com'/>`, true, "", false},
		{"iq get from a blocked contact", false, `<iq type='get' id='1' from='romeo@example.com/orchard' to='juliet@example.com'><vCard xmlns='vcard-temp'/></iq>`, true, unavailable, false},
		{"iq result from a blocked contact", false, `<iq type='result' id='1' from='romeo@example.com/orchard' to='juliet@example.com/balcony'/>`, true, "", false},
		{"error from a blocked contact", false, `<message type='error' from='romeo@example.com/orchard' to='juliet@example.com'/>`, true, "", false},
		{"message from someone else", false, `<message from='nurse@elsewhere.org/kitchen' to='juliet@example.com'/>`, false, "", false},
		{"message to someone else", false, `<message from='romeo@example.com/orchard' to='nurse@example.com'/>`, false, "", false},
		{"her own server is never blocked", false, `<message from='example.com' to='juliet@example.com'/>`, false, "", false},
		{"her own resources are never blocked", false, `<message from='juliet@example.com/chamber' to='juliet@example.com'/>`, false, "", false},
		{"message to a blocked contact", true, `<message from='juliet@example.com/balcony' to='romeo@example.com' type='chat'><body>hi</body></message>`, true, "", true},
		{"directed presence to a blocked contact", true, `<presence from='juliet@example.com/balcony' to='romeo@example.com/orchard'/>`, true, "", true},
		{"iq to a blocked domain", true, `<iq type='get' id='1' from='juliet@example.com/balcony' to='evil.net'><ping xmlns='urn:xmpp:ping'/></iq>`, true, "", true},
		{"iq result to a blocked contact", true, `<iq type='result' id='1' from='juliet@example.com/balcony' to='romeo@example.com/orchard'/>`, true, "", false},
		{"error to a blocked contact", true, `<message type='error' from='juliet@example.com/balcony' to='romeo@example.com'/>`, true, "", false},
		{"iq to her own server", true, `<iq type='get' id='1' from='juliet@example.com/balcony' to='example.com'><ping xmlns='urn:xmpp:ping'/></iq>`, false, "", false},
		{"broadcast presence", true, `<presence from='juliet@example.com/balcony'/>`, false, "", false},
		{"message to someone else", true, `<message from='juliet@example.com/balcony' to='nurse@elsewhere.org'/>`, false, "", false},
		{"someone else sends to a blocked contact", true, `<message from='nurse@example.com/kitchen' to='romeo@example.com'/>`, false, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, lists)
			ic := w.m.Inbound
			if tc.outbound {
				ic = w.m.Outbound
			}
			st := xmpptest.Stanza(t, tc.in)
			done, err := ic(context.Background(), st)
			if done != tc.done {
				t.Errorf("done = %v, want %v", done, tc.done)
			}
			if tc.err == "" && err != nil {
				t.Errorf("err = %v, want none", err)
			}
			if tc.err != "" && !errors.Is(err, &stanza.Error{Condition: tc.err}) {
				t.Errorf("err = %v, want %s", err, tc.err)
			}
			var want []string
			if tc.bounced {
				want = []string{st.From.String() + ": error"}
			}
			if !slices.Equal(w.router.errors, want) {
				t.Errorf("delivered errors %v, want %v", w.router.errors, want)
			}
		})
	}
}

func TestCache(t *testing.T) {
	w := newWorld(t, map[string][]string{"juliet@example.com": {"romeo@example.com"}})
	juliet, romeo, nurse := jid.MustParse("juliet@example.com"), jid.MustParse("romeo@example.com/orchard"), jid.MustParse("nurse@example.com")
	for range 3 {
		if !w.m.IsBlocked(juliet, romeo) || w.m.IsBlocked(juliet, nurse) {
			t.Fatal("IsBlocked disagrees with the store")
		}
	}
	if w.store.loads != 1 {
		t.Errorf("loaded %d times, want once", w.store.loads)
	}
	if _, err := w.handle(t, `<iq type='set' id='b' from='juliet@example.com/balcony'><block xmlns='urn:xmpp:blocking'><item jid='nurse@example.com'/></block></iq>`); err != nil {
		t.Fatal(err)
	}
	if !w.m.IsBlocked(juliet, nurse) || w.store.loads != 1 {
		t.Errorf("after block: IsBlocked = %v with %d loads, want true with 1", w.m.IsBlocked(juliet, nurse), w.store.loads)
	}
	// The account is deleted and made again: its old list is gone.
	delete(w.store.lists, "juliet@example.com")
	w.m.Forget(juliet)
	if w.m.IsBlocked(juliet, romeo) {
		t.Error("a forgotten list still blocks")
	}
	// A failing store blocks nothing through IsBlocked but refuses through
	// the interceptors, which can report it.
	w.store.fail = true
	w.m.Forget(juliet)
	if w.m.IsBlocked(juliet, romeo) {
		t.Error("IsBlocked with a failing store = true")
	}
	done, err := w.m.Inbound(context.Background(), xmpptest.Stanza(t, `<message from='romeo@example.com/orchard' to='juliet@example.com'/>`))
	var se *stanza.Error
	if !done || err == nil || errors.As(err, &se) {
		t.Errorf("Inbound with a failing store = %v, %v; want an internal error", done, err)
	}
}

func TestSessionEnded(t *testing.T) {
	w := newWorld(t, nil)
	for _, r := range []string{"balcony", "chamber"} {
		if _, err := w.handle(t, `<iq type='get' id='b' from='juliet@example.com/`+r+`'><blocklist xmlns='urn:xmpp:blocking'/></iq>`); err != nil {
			t.Fatal(err)
		}
	}
	w.m.SessionEnded(context.Background(), jid.MustParse("juliet@example.com/balcony"), true)
	if _, err := w.handle(t, `<iq type='set' id='b' from='juliet@example.com/chamber'><block xmlns='urn:xmpp:blocking'><item jid='paris@example.com'/></block></iq>`); err != nil {
		t.Fatal(err)
	}
	want := []string{"juliet@example.com/chamber: result b", `juliet@example.com/chamber: <block xmlns="urn:xmpp:blocking"><item jid="paris@example.com"/></block>`}
	if !slices.Equal(w.router.delivered, want) {
		t.Errorf("pushed %v, want %v", w.router.delivered, want)
	}
	w.m.SessionEnded(context.Background(), jid.MustParse("juliet@example.com/chamber"), true)
	if n := len(w.m.interested); n != 0 {
		t.Errorf("%d accounts still marked interested after their sessions ended", n)
	}
}

// TestConcurrent runs checks and changes together, for the race detector.
func TestConcurrent(t *testing.T) {
	w := newWorld(t, nil)
	juliet := jid.MustParse("juliet@example.com")
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for n := range 50 {
				c := jid.MustParse(fmt.Sprintf("c%d@example.net", (i*50+n)%4))
				w.m.IsBlocked(juliet, c)
				_, _ = w.m.Outbound(context.Background(), &stanza.Stanza{Kind: stanza.Message, From: juliet, To: c})
			}
		})
	}
	for n := range 20 {
		op := "block"
		if n%2 == 1 {
			op = "unblock"
		}
		st := &stanza.Stanza{Kind: stanza.IQ, Type: stanza.TypeSet, ID: "x", From: juliet,
			El: xmlstream.New(xmlstream.NSClient, "iq").Append(xmlstream.New(NS, op).Append(xmlstream.New(NS, "item").SetAttr("jid", fmt.Sprintf("c%d@example.net", n%4))))}
		if _, err := w.m.HandleStanza(context.Background(), st); !errors.Is(err, stanza.ErrReplied) {
			t.Error(err)
		}
	}
	wg.Wait()
	got := slices.Sorted(slices.Values(w.store.lists["juliet@example.com"]))
	if cached := w.m.lists["juliet@example.com"].sorted(); !slices.Equal(cached, got) && len(got)+len(cached) > 0 {
		t.Errorf("cache %v, store %v", cached, got)
	}
}

func TestIsBlockedAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	w := newWorld(t, map[string][]string{"juliet@example.com": {"romeo@example.com", "evil.net"}})
	juliet, nurse := jid.MustParse("juliet@example.com"), jid.MustParse("nurse@sub.example.org/kitchen")
	w.m.IsBlocked(juliet, nurse)
	if n := testing.AllocsPerRun(100, func() { w.m.IsBlocked(juliet, nurse) }); n != 0 {
		t.Errorf("IsBlocked allocates %v times, want 0", n)
	}
}

func BenchmarkIsBlocked(b *testing.B) {
	for _, size := range []int{0, 10, 1000} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			var l []string
			for i := range size {
				l = append(l, fmt.Sprintf("u%d@example.net", i))
			}
			w := newWorld(b, map[string][]string{"juliet@example.com": l})
			juliet, nurse := jid.MustParse("juliet@example.com"), jid.MustParse("nurse@sub.example.org/kitchen")
			b.ReportAllocs()
			for b.Loop() {
				w.m.IsBlocked(juliet, nurse)
			}
		})
	}
}

// FuzzBlockUnblock: any block request either fails with a stanza error or
// leaves every requested JID blocked, and unblocking them all leaves none.
func FuzzBlockUnblock(f *testing.F) {
	f.Add(`<item jid='romeo@example.com'/>`)
	f.Add(`<item jid='example.com'/><item jid='a@b/c'/><item/>`)
	f.Add(`<item jid='ROMEO@example.com'/><item jid='romeo@example.com'/>`)
	f.Add(`<other/><item jid='x'/>`)
	f.Fuzz(func(t *testing.T, items string) {
		d := xmlstream.NewDecoder(strings.NewReader(`<s xmlns='jabber:client'><iq type='set' id='f' from='juliet@example.com/balcony'><block xmlns='urn:xmpp:blocking'>`+items+`</block></iq>`), xmlstream.Limits{})
		if _, err := d.ReadHeader(); err != nil {
			return
		}
		el, err := d.ReadElement()
		if err != nil {
			return
		}
		st, err := stanza.Parse(el)
		if err != nil {
			return
		}
		w := newWorld(t, nil)
		w.m.max = 1 << 20
		if _, err := w.m.HandleStanza(context.Background(), &st); !errors.Is(err, stanza.ErrReplied) {
			var se *stanza.Error
			if !errors.As(err, &se) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		juliet := jid.MustParse("juliet@example.com")
		jids, _ := parseItems(st.El.FirstChild())
		for _, j := range jids {
			if !w.m.IsBlocked(juliet, j) {
				t.Fatalf("%s blocked but IsBlocked says no", j)
			}
		}
		unblock := &stanza.Stanza{Kind: stanza.IQ, Type: stanza.TypeSet, ID: "u", From: st.From,
			El: xmlstream.New(xmlstream.NSClient, "iq").Append(xmlstream.New(NS, "unblock"))}
		if _, err := w.m.HandleStanza(context.Background(), unblock); !errors.Is(err, stanza.ErrReplied) {
			t.Fatal(err)
		}
		for _, j := range jids {
			if w.m.IsBlocked(juliet, j) {
				t.Fatalf("%s still blocked after unblocking all", j)
			}
		}
	})
}
