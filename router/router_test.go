package router

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"roost/internal/xmpptest"
	"roost/jid"
	"roost/stanza"
	"roost/stream"
	"roost/xmlstream"
)

type fakeSession struct {
	mu     sync.Mutex
	got    []*xmlstream.Element
	closed error
}

func (f *fakeSession) Send(el *xmlstream.Element) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, el)
	return true
}

func (f *fakeSession) Close(reason error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = reason
}

func (f *fakeSession) take() []*xmlstream.Element {
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.got
	f.got = nil
	return g
}

type accounts map[string]bool

func (a accounts) AccountExists(_ context.Context, bare jid.JID) (bool, error) {
	return a[bare.String()], nil
}

func mustJID(t testing.TB, s string) jid.JID {
	t.Helper()
	j, err := jid.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// world is a router with juliet (three resources) and romeo (one).
type world struct {
	r        *Router
	sessions map[string]*fakeSession
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{
		r:        New(Options{Domains: []string{"example.com"}, Accounts: accounts{"juliet@example.com": true, "romeo@example.com": true}}),
		sessions: map[string]*fakeSession{},
	}
	for _, full := range []string{"juliet@example.com/balcony", "juliet@example.com/chamber", "juliet@example.com/garden", "romeo@example.com/orchard"} {
		s := &fakeSession{}
		w.sessions[full] = s
		if err := w.r.Bind(context.Background(), mustJID(t, full), s); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// presence makes full available with priority p (or unavailable if p is nil).
func (w *world) presence(t *testing.T, full string, prio string) {
	t.Helper()
	xml := `<presence/>`
	if prio == "unavailable" {
		xml = `<presence type='unavailable'/>`
	} else if prio != "" {
		xml = `<presence><priority>` + prio + `</priority></presence>`
	}
	st := xmpptest.Stanza(t, xml)
	st.From = mustJID(t, full)
	w.r.FromClient(context.Background(), st)
}

func (w *world) received() map[string]string {
	out := map[string]string{}
	for name, s := range w.sessions {
		var kinds []string
		for _, el := range s.take() {
			k := el.Name.Local
			if t := el.Get("type"); t != "" {
				k += ":" + t
			}
			if e := el.Child(xmlstream.NSClient, "error"); e != nil {
				k += ":" + e.FirstChild().Name.Local
			}
			kinds = append(kinds, k)
		}
		if len(kinds) > 0 {
			out[name] = strings.Join(kinds, ",")
		}
	}
	return out
}

func TestDelivery(t *testing.T) {
	tests := []struct {
		name       string
		priorities map[string]string // full JID → priority ("" default 0, "unavailable", or a number); absent = never sent presence
		from       string
		stanza     string
		want       map[string]string
	}{{
		name:       "chat to bare goes to the highest priority",
		priorities: map[string]string{"juliet@example.com/balcony": "1", "juliet@example.com/chamber": "5", "juliet@example.com/garden": ""},
		from:       "romeo@example.com/orchard",
		stanza:     `<message to='juliet@example.com' type='chat'><body>x</body></message>`,
		want:       map[string]string{"juliet@example.com/chamber": "message:chat"},
	}, {
		name:       "ties deliver to every resource sharing the priority",
		priorities: map[string]string{"juliet@example.com/balcony": "5", "juliet@example.com/chamber": "5", "juliet@example.com/garden": "1"},
		from:       "romeo@example.com/orchard",
		stanza:     `<message to='juliet@example.com'><body>x</body></message>`,
		want:       map[string]string{"juliet@example.com/balcony": "message", "juliet@example.com/chamber": "message"},
	}, {
		name:       "negative priority never gets bare messages",
		priorities: map[string]string{"juliet@example.com/balcony": "-1"},
		from:       "romeo@example.com/orchard",
		stanza:     `<message to='juliet@example.com' type='chat' id='m1'><body>x</body></message>`,
		want:       map[string]string{"romeo@example.com/orchard": "message:error:service-unavailable"},
	}, {
		name:       "negative priority gets messages to its full JID",
		priorities: map[string]string{"juliet@example.com/balcony": "-1"},
		from:       "romeo@example.com/orchard",
		stanza:     `<message to='juliet@example.com/balcony' type='chat'><body>x</body></message>`,
		want:       map[string]string{"juliet@example.com/balcony": "message:chat"},
	}, {
		name:       "headline to every non-negative resource",
		priorities: map[string]string{"juliet@example.com/balcony": "1", "juliet@example.com/chamber": "5", "juliet@example.com/garden": "-5"},
		from:       "romeo@example.com/orchard",
		stanza:     `<message to='juliet@example.com' type='headline'><body>x</body></message>`,
		want:       map[string]string{"juliet@example.com/balcony": "message:headline", "juliet@example.com/chamber": "message:headline"},
	}, {
		name:       "headline with nobody available is dropped",
		priorities: map[string]string{},
		from:       "romeo@example.com/orchard",
		stanza:     `<message to='juliet@example.com' type='headline'><body>x</body></message>`,
		want:       map[string]string{},
	}, {
		name:       "groupchat to bare is refused",
		priorities: map[string]string{"juliet@example.com/balcony": ""},
		from:       "romeo@example.com/orchard",
		stanza:     `<message to='juliet@example.com' type='groupchat'><body>x</body></message>`,
		want:       map[string]string{"romeo@example.com/orchard": "message:error:service-unavailable"},
	}, {
		name:       "error message to bare is dropped",
		priorities: map[string]string{"juliet@example.com/balcony": ""},
		from:       "romeo@example.com/orchard",
		stanza:     `<message to='juliet@example.com' type='error'/>`,
		want:       map[string]string{},
	}, {
		name:       "unavailable resources are skipped",
		priorities: map[string]string{"juliet@example.com/balcony": "unavailable", "juliet@example.com/chamber": "1"},
		from:       "romeo@example.com/orchard",
		stanza:     `<message to='juliet@example.com' type='chat'><body>x</body></message>`,
		want:       map[string]string{"juliet@example.com/chamber": "message:chat"},
	}, {
		name:       "chat to a gone full JID falls back to the bare JID",
		priorities: map[string]string{"juliet@example.com/chamber": ""},
		from:       "romeo@example.com/orchard",
		stanza:     `<message to='juliet@example.com/nowhere' type='chat'><body>x</body></message>`,
		want:       map[string]string{"juliet@example.com/chamber": "message:chat"},
	}, {
		name:       "IQ to a gone full JID is refused",
		priorities: map[string]string{"juliet@example.com/chamber": ""},
		from:       "romeo@example.com/orchard",
		stanza:     `<iq to='juliet@example.com/nowhere' type='get' id='q'><query xmlns='urn:x'/></iq>`,
		want:       map[string]string{"romeo@example.com/orchard": "iq:error:service-unavailable"},
	}, {
		name:       "IQ to a connected full JID is delivered even if unavailable",
		priorities: map[string]string{},
		from:       "romeo@example.com/orchard",
		stanza:     `<iq to='juliet@example.com/garden' type='get' id='q'><query xmlns='urn:x'/></iq>`,
		want:       map[string]string{"juliet@example.com/garden": "iq:get"},
	}, {
		name:       "IQ to a bare JID is answered by the server",
		priorities: map[string]string{"juliet@example.com/chamber": ""},
		from:       "romeo@example.com/orchard",
		stanza:     `<iq to='juliet@example.com' type='get' id='q'><query xmlns='urn:unknown'/></iq>`,
		want:       map[string]string{"romeo@example.com/orchard": "iq:error:service-unavailable"},
	}, {
		name:       "presence to bare goes to every available resource",
		priorities: map[string]string{"juliet@example.com/balcony": "-3", "juliet@example.com/chamber": "2"},
		from:       "romeo@example.com/orchard",
		stanza:     `<presence to='juliet@example.com'/>`,
		want:       map[string]string{"juliet@example.com/balcony": "presence", "juliet@example.com/chamber": "presence"},
	}, {
		name:       "message to a missing account bounces",
		priorities: map[string]string{},
		from:       "romeo@example.com/orchard",
		stanza:     `<message to='nobody@example.com' type='chat'><body>x</body></message>`,
		want:       map[string]string{"romeo@example.com/orchard": "message:error:service-unavailable"},
	}, {
		name:       "subscription request to a missing account is answered unsubscribed",
		priorities: map[string]string{"romeo@example.com/orchard": ""},
		from:       "romeo@example.com/orchard",
		stanza:     `<presence to='nobody@example.com' type='subscribe'/>`,
		want:       map[string]string{"romeo@example.com/orchard": "presence:unsubscribed"},
	}, {
		name:       "presence to a missing account is ignored",
		priorities: map[string]string{},
		from:       "romeo@example.com/orchard",
		stanza:     `<presence to='nobody@example.com'/>`,
		want:       map[string]string{},
	}, {
		name:       "message to another domain without federation bounces",
		priorities: map[string]string{},
		from:       "romeo@example.com/orchard",
		stanza:     `<message to='juliet@elsewhere.example'><body>x</body></message>`,
		want:       map[string]string{"romeo@example.com/orchard": "message:error:remote-server-not-found"},
	}, {
		name:       "message without to goes to the sender's own bare JID",
		priorities: map[string]string{"romeo@example.com/orchard": ""},
		from:       "romeo@example.com/orchard",
		stanza:     `<message type='chat'><body>note to self</body></message>`,
		want:       map[string]string{"romeo@example.com/orchard": "message:chat"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			for full, p := range tc.priorities {
				w.presence(t, full, p)
			}
			w.received() // discard
			st := xmpptest.Stanza(t, tc.stanza)
			st.From = mustJID(t, tc.from)
			w.r.FromClient(context.Background(), st)
			got := w.received()
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s got %q, want %q (all: %v)", k, got[k], v, got)
				}
			}
		})
	}
}

func TestBindReplacesWithConflict(t *testing.T) {
	w := newWorld(t)
	old := w.sessions["juliet@example.com/balcony"]
	var ended []string
	w.r.Observe(observerFunc(func(full jid.JID, was bool) { ended = append(ended, full.String()) }))
	w.presence(t, "juliet@example.com/balcony", "")
	nw := &fakeSession{}
	if err := w.r.Bind(context.Background(), mustJID(t, "juliet@example.com/balcony"), nw); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(old.closed, &stream.Error{Condition: stream.Conflict}) {
		t.Errorf("old session closed with %v, want conflict", old.closed)
	}
	if len(ended) != 1 {
		t.Errorf("observers saw %v, want the replaced session once", ended)
	}
	// The old session's own Unbind, arriving late, must not remove the new one.
	w.r.Unbind(context.Background(), mustJID(t, "juliet@example.com/balcony"), old)
	if !w.r.Deliver(mustJID(t, "juliet@example.com/balcony"), xmlstream.New(xmlstream.NSClient, "message")) {
		t.Fatal("the new session was unbound by the old one's Unbind")
	}
	if len(nw.take()) != 1 {
		t.Error("the new session did not receive the stanza")
	}
	if len(ended) != 1 {
		t.Errorf("late Unbind notified observers again: %v", ended)
	}
}

func TestMaxResources(t *testing.T) {
	r := New(Options{Domains: []string{"example.com"}, MaxResources: 2})
	for i, res := range []string{"a", "b", "c"} {
		err := r.Bind(context.Background(), mustJID(t, "u@example.com/"+res), &fakeSession{})
		if i < 2 && err != nil {
			t.Fatalf("bind %s: %v", res, err)
		}
		if i == 2 && !errors.Is(err, &stanza.Error{Condition: stanza.ResourceConstraint}) {
			t.Fatalf("third bind: err = %v, want resource-constraint", err)
		}
	}
}

func TestHandlerContract(t *testing.T) {
	tests := []struct {
		name    string
		handler HandlerFunc
		stanza  string
		want    string
	}{
		{"nil reply is an empty result", func(context.Context, *stanza.Stanza) (*xmlstream.Element, error) { return nil, nil }, `<iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>`, "iq:result"},
		{"stanza error is sent", func(context.Context, *stanza.Stanza) (*xmlstream.Element, error) {
			return nil, stanza.NewError(stanza.NotAllowed, "")
		}, `<iq type='set' id='1'><x xmlns='urn:x'/></iq>`, "iq:error:not-allowed"},
		{"other errors are internal", func(context.Context, *stanza.Stanza) (*xmlstream.Element, error) {
			return nil, errors.New("disk on fire")
		}, `<iq type='set' id='1'><x xmlns='urn:x'/></iq>`, "iq:error:internal-server-error"},
		{"no handler is service-unavailable", func(context.Context, *stanza.Stanza) (*xmlstream.Element, error) {
			return nil, ErrNoHandler
		}, `<iq type='get' id='1'><x xmlns='urn:x'/></iq>`, "iq:error:service-unavailable"},
		{"a handler that replied itself gets nothing more", func(context.Context, *stanza.Stanza) (*xmlstream.Element, error) {
			return nil, stanza.ErrReplied
		}, `<iq type='get' id='1'><x xmlns='urn:x'/></iq>`, ""},
		{"results to the server are not answered", func(context.Context, *stanza.Stanza) (*xmlstream.Element, error) {
			return nil, errors.New("must not be called")
		}, `<iq type='result' id='1'/>`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			w.r.SetHandler(tc.handler)
			st := xmpptest.Stanza(t, tc.stanza)
			st.From = mustJID(t, "romeo@example.com/orchard")
			w.r.FromClient(context.Background(), st)
			if got := w.received()["romeo@example.com/orchard"]; got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestInterceptorsAndOffline(t *testing.T) {
	w := newWorld(t)
	var stored []string
	w.r.UseInbound(InterceptorFunc(func(_ context.Context, st *stanza.Stanza) (bool, error) {
		if st.El.ChildText(xmlstream.NSClient, "body") == "blocked" {
			return true, stanza.NewError(stanza.NotAcceptable, "")
		}
		return false, nil
	}))
	w.r.UseOffline(InterceptorFunc(func(_ context.Context, st *stanza.Stanza) (bool, error) {
		stored = append(stored, st.El.ChildText(xmlstream.NSClient, "body"))
		return true, nil
	}))
	for _, body := range []string{"hello", "blocked"} {
		st := xmpptest.Stanza(t, `<message to='juliet@example.com' type='chat'><body>`+body+`</body></message>`)
		st.From = mustJID(t, "romeo@example.com/orchard")
		w.r.FromClient(context.Background(), st)
	}
	if len(stored) != 1 || stored[0] != "hello" {
		t.Errorf("offline got %v, want [hello]", stored)
	}
	if got := w.received()["romeo@example.com/orchard"]; got != "message:error:not-acceptable" {
		t.Errorf("sender got %q, want the interceptor's error", got)
	}
}

type observerFunc func(full jid.JID, wasAvailable bool)

func (f observerFunc) SessionEnded(_ context.Context, full jid.JID, was bool) { f(full, was) }

func BenchmarkRouteFullJID(b *testing.B) {
	r := New(Options{Domains: []string{"example.com"}})
	to := mustJID(b, "juliet@example.com/balcony")
	s := &countingSession{}
	if err := r.Bind(context.Background(), to, s); err != nil {
		b.Fatal(err)
	}
	st := xmpptest.Stanza(b, `<message to='juliet@example.com/balcony' from='romeo@example.com/orchard' type='chat'><body>hi</body></message>`)
	b.ReportAllocs()
	for b.Loop() {
		r.Route(context.Background(), st)
	}
}

func TestRouteFullJIDAllocs(t *testing.T) {
	r := New(Options{Domains: []string{"example.com"}})
	to := mustJID(t, "juliet@example.com/balcony")
	if err := r.Bind(context.Background(), to, &countingSession{}); err != nil {
		t.Fatal(err)
	}
	st := xmpptest.Stanza(t, `<message to='juliet@example.com/balcony' from='romeo@example.com/orchard' type='chat'><body>hi</body></message>`)
	if n := testing.AllocsPerRun(100, func() { r.Route(context.Background(), st) }); n != 0 {
		t.Errorf("routing a stamped message to a full JID allocates %v times, want 0", n)
	}
}

type countingSession struct{ n int }

func (c *countingSession) Send(*xmlstream.Element) bool { c.n++; return true }
func (c *countingSession) Close(error)                  {}

func TestResourceAccessors(t *testing.T) {
	w := newWorld(t)
	w.presence(t, "juliet@example.com/balcony", "3")
	w.presence(t, "juliet@example.com/chamber", "unavailable")
	w.r.SetInterested(mustJID(t, "juliet@example.com/garden"))
	j := mustJID(t, "juliet@example.com")
	names := func(js []jid.JID) string {
		var s []string
		for _, x := range js {
			s = append(s, x.Resource())
		}
		sort.Strings(s)
		return strings.Join(s, ",")
	}
	if got := names(w.r.Connected(j)); got != "balcony,chamber,garden" {
		t.Errorf("Connected = %s", got)
	}
	if got := names(w.r.Available(j)); got != "balcony" {
		t.Errorf("Available = %s", got)
	}
	if got := names(w.r.Interested(j)); got != "garden" {
		t.Errorf("Interested = %s", got)
	}
	p := w.r.AvailablePresences(j)
	if len(p) != 1 || p[0].Get("from") != "juliet@example.com/balcony" || p[0].ChildText(xmlstream.NSClient, "priority") != "3" {
		t.Errorf("AvailablePresences = %v; want balcony's presence stamped with its full JID", p)
	}
}

// deliveryWatcher records the deliveries it is told of, for the accounts
// it watches.
type deliveryWatcher struct {
	watch map[string]bool
	got   []string // "bare: full,full"
}

func (d *deliveryWatcher) Watching(bare jid.JID) bool { return d.watch[bare.String()] }

func (d *deliveryWatcher) MessageDelivered(_ context.Context, st *stanza.Stanza, to []jid.JID) {
	var s []string
	for _, j := range to {
		s = append(s, j.String())
	}
	sort.Strings(s)
	d.got = append(d.got, st.To.Bare().String()+": "+strings.Join(s, ","))
}

func TestDeliveryObservers(t *testing.T) {
	tests := []struct {
		name  string
		to    string
		watch string
		want  string
	}{
		{"full JID, watched", "juliet@example.com/balcony", "juliet@example.com", "juliet@example.com: juliet@example.com/balcony"},
		{"bare JID, watched, both resources at priority 1", "juliet@example.com", "juliet@example.com", "juliet@example.com: juliet@example.com/balcony,juliet@example.com/chamber"},
		{"full JID, another account watched", "juliet@example.com/balcony", "romeo@example.com", ""},
		{"bare JID, nobody watched", "juliet@example.com", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := New(Options{Domains: []string{"example.com"}})
			for _, full := range []string{"juliet@example.com/balcony", "juliet@example.com/chamber"} {
				if err := r.Bind(context.Background(), mustJID(t, full), &countingSession{}); err != nil {
					t.Fatal(err)
				}
				r.SetPresence(mustJID(t, full), true, 1, nil)
			}
			w := &deliveryWatcher{watch: map[string]bool{tc.watch: true}}
			r.ObserveDeliveries(w)
			st := xmpptest.Stanza(t, `<message to='`+tc.to+`' from='romeo@example.com/orchard' type='chat'><body>hi</body></message>`)
			r.Route(context.Background(), st)
			if got := strings.Join(w.got, "; "); got != tc.want {
				t.Errorf("observed %q, want %q", got, tc.want)
			}
			if tc.want == "" {
				if n := testing.AllocsPerRun(50, func() { r.Route(context.Background(), st) }); n != 0 {
					t.Errorf("routing with an observer not watching allocates %v times, want 0", n)
				}
			}
		})
	}
}

// refusingSession is a session that is ending: it takes nothing more.
type refusingSession struct{ tried int }

func (r *refusingSession) Send(*xmlstream.Element) bool { r.tried++; return false }
func (r *refusingSession) Close(error)                  {}

// A message whose only takers refuse it (their sessions are ending) goes
// where it would for an account with no available resource; one taker
// that accepts is enough.
func TestRefusedDeliveryFallsBackToOffline(t *testing.T) {
	tests := []struct {
		name       string
		to         string
		accepting  bool // a second, accepting resource is available
		wantStored bool
	}{
		{"bare JID, the only resource refuses", "juliet@example.com", false, true},
		{"full JID, that resource refuses", "juliet@example.com/balcony", false, true},
		{"bare JID, another resource accepts", "juliet@example.com", true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := New(Options{Domains: []string{"example.com"}})
			ctx := context.Background()
			refusing := &refusingSession{}
			balcony := mustJID(t, "juliet@example.com/balcony")
			if err := r.Bind(ctx, balcony, refusing); err != nil {
				t.Fatal(err)
			}
			r.SetPresence(balcony, true, 1, nil)
			accepting := &countingSession{}
			if tc.accepting {
				garden := mustJID(t, "juliet@example.com/garden")
				if err := r.Bind(ctx, garden, accepting); err != nil {
					t.Fatal(err)
				}
				r.SetPresence(garden, true, 1, nil)
			}
			stored := false
			r.UseOffline(InterceptorFunc(func(context.Context, *stanza.Stanza) (bool, error) {
				stored = true
				return true, nil
			}))
			st := xmpptest.Stanza(t, `<message to='`+tc.to+`' from='romeo@example.com/orchard' type='chat'><body>hi</body></message>`)
			r.Route(ctx, st)
			if refusing.tried == 0 {
				t.Error("the refusing session was not tried")
			}
			if stored != tc.wantStored {
				t.Errorf("stored offline: %v, want %v", stored, tc.wantStored)
			}
			if tc.accepting && accepting.n != 1 {
				t.Errorf("the accepting session got %d messages, want 1", accepting.n)
			}
		})
	}
}

// remoteRecorder is a Remote that keeps what it is handed.
type remoteRecorder struct{ sent []string }

func (r *remoteRecorder) SendRemote(_ context.Context, st *stanza.Stanza) error {
	r.sent = append(r.sent, st.From.String()+" → "+st.To.String())
	return nil
}

// TestHostedService: stanzas from local sessions and from other servers
// reach the service at its domain and at JIDs under it; the service's
// own stanzas leave for local accounts and other servers alike; a
// hosted domain never goes to s2s.
func TestHostedService(t *testing.T) {
	w := newWorld(t)
	remote := &remoteRecorder{}
	w.r.SetRemote(remote)
	var seen []string
	w.r.Host("conference.example.com", HandlerFunc(func(ctx context.Context, st *stanza.Stanza) (*xmlstream.Element, error) {
		seen = append(seen, st.From.String()+" → "+st.To.String()+" "+st.Kind.String()+":"+st.Type)
		if st.Kind == stanza.Message && st.Type == stanza.TypeGroupchat {
			// A room reflects the message to an occupant here and one
			// on another server.
			for _, to := range []string{"juliet@example.com/balcony", "mercutio@remote.example/x"} {
				el := xmlstream.New(xmlstream.NSClient, "message").SetAttr("type", "groupchat").SetAttr("from", "room@conference.example.com/romeo").SetAttr("to", to)
				w.r.Route(ctx, &stanza.Stanza{Kind: stanza.Message, Type: stanza.TypeGroupchat, From: mustJID(t, "room@conference.example.com/romeo"), To: mustJID(t, to), El: el})
			}
		}
		return nil, nil
	}))
	st := xmpptest.Stanza(t, `<message type='groupchat' to='room@conference.example.com'><body>hi</body></message>`)
	st.From = mustJID(t, "romeo@example.com/orchard")
	w.r.FromClient(context.Background(), st)
	w.r.Route(context.Background(), xmpptest.Stanza(t, `<presence from='mercutio@remote.example/x' to='room@conference.example.com/mercutio'/>`))
	w.r.Route(context.Background(), xmpptest.Stanza(t, `<iq type='error' id='p1' from='mercutio@remote.example/x' to='conference.example.com'><ping xmlns='urn:xmpp:ping'/></iq>`))

	want := []string{
		"romeo@example.com/orchard → room@conference.example.com message:groupchat",
		"mercutio@remote.example/x → room@conference.example.com/mercutio presence:",
		"mercutio@remote.example/x → conference.example.com iq:error",
	}
	if strings.Join(seen, "\n") != strings.Join(want, "\n") {
		t.Errorf("the service saw\n%s\nwant\n%s", strings.Join(seen, "\n"), strings.Join(want, "\n"))
	}
	if got := w.received()["juliet@example.com/balcony"]; got != "message:groupchat" {
		t.Errorf("juliet received %q, want the reflected message", got)
	}
	if got, want := strings.Join(remote.sent, ","), "room@conference.example.com/romeo → mercutio@remote.example/x"; got != want {
		t.Errorf("s2s got %q, want %q", got, want)
	}
}

// TestSessionsAndCloseSession: the admin's view of who is online, and
// ending one session.
func TestSessionsAndCloseSession(t *testing.T) {
	r := New(Options{Domains: []string{"example.org"}})
	ctx := context.Background()
	a, b := &remoteSession{addr: "192.0.2.1:4000"}, &remoteSession{}
	before := time.Now()
	if err := r.Bind(ctx, jid.MustParse("alice@example.org/phone"), a); err != nil {
		t.Fatal(err)
	}
	if err := r.Bind(ctx, jid.MustParse("bob@example.org/pc"), b); err != nil {
		t.Fatal(err)
	}
	r.SetPresence(jid.MustParse("alice@example.org/phone"), true, 0, xmlstream.New(xmlstream.NSClient, "presence"))
	got := map[string]SessionInfo{}
	for _, si := range r.Sessions() {
		got[si.Full.String()] = si
	}
	if len(got) != 2 {
		t.Fatalf("Sessions() = %v, want 2", got)
	}
	alice := got["alice@example.org/phone"]
	if !alice.Available || alice.Presence == nil || alice.Remote != "192.0.2.1:4000" || alice.Since.Before(before) {
		t.Errorf("alice's session %+v: want available, with presence, address and bind time", alice)
	}
	if bob := got["bob@example.org/pc"]; bob.Available || bob.Remote != "" {
		t.Errorf("bob's session %+v: want unavailable, no address", bob)
	}
	if r.CloseSession(jid.MustParse("alice@example.org/tablet"), nil) {
		t.Error("CloseSession of an unbound resource reported true")
	}
	if !r.CloseSession(jid.MustParse("alice@example.org/phone"), errors.New("bye")) || !a.closed {
		t.Error("CloseSession did not close alice's session")
	}
	if b.closed {
		t.Error("CloseSession closed bob's session too")
	}
}

type remoteSession struct {
	addr   string
	closed bool
}

func (s *remoteSession) Send(*xmlstream.Element) bool { return true }
func (s *remoteSession) Close(error)                  { s.closed = true }
func (s *remoteSession) RemoteAddr() string {
	return s.addr
}

// dormantSession is a session that may be hibernating (stream
// management waiting for a resumption).
type dormantSession struct {
	fakeSession
	asleep bool
}

func (d *dormantSession) Hibernating() bool { return d.asleep }

func TestAwake(t *testing.T) {
	r := New(Options{Domains: []string{"example.org"}})
	ctx := context.Background()
	alice := jid.MustParse("alice@example.org")
	if r.Awake(alice) {
		t.Error("an account without sessions is awake")
	}
	phone := &dormantSession{asleep: true}
	if err := r.Bind(ctx, jid.MustParse("alice@example.org/phone"), phone); err != nil {
		t.Fatal(err)
	}
	if r.Awake(alice) {
		t.Error("an account whose only session hibernates is awake")
	}
	phone.asleep = false
	if !r.Awake(alice) {
		t.Error("an account with a session reading is not awake")
	}
	phone.asleep = true
	// A session that cannot hibernate is always awake.
	if err := r.Bind(ctx, jid.MustParse("alice@example.org/laptop"), &fakeSession{}); err != nil {
		t.Fatal(err)
	}
	if !r.Awake(alice) {
		t.Error("an account with a plain session is not awake")
	}
}

// trackingFake is a fakeSession that can track delivery: it records
// the tracker it was given.
type trackingFake struct {
	fakeSession
	trackers []Tracker
}

func (f *trackingFake) SendTracked(el *xmlstream.Element, t Tracker) bool {
	f.trackers = append(f.trackers, t)
	return f.Send(el)
}

type nopTracker struct{}

func (nopTracker) Settled([]*xmlstream.Element, bool) {}

// TestDeliverTracked: a session that can track delivery gets the tracker
// with the stanza; one that cannot takes the stanza untracked; nobody
// bound takes nothing.
func TestDeliverTracked(t *testing.T) {
	r := New(Options{Domains: []string{"example.com"}})
	tracking, plain := &trackingFake{}, &fakeSession{}
	for full, s := range map[string]Session{"juliet@example.com/tracks": tracking, "juliet@example.com/plain": plain} {
		if err := r.Bind(context.Background(), mustJID(t, full), s); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		to                  string
		wantSent, wantTrack bool
		got                 func() int
	}{
		{"juliet@example.com/tracks", true, true, func() int { return len(tracking.take()) + len(tracking.trackers) }},
		{"juliet@example.com/plain", true, false, func() int { return len(plain.take()) }},
		{"juliet@example.com/gone", false, false, func() int { return 0 }},
	}
	for _, tc := range tests {
		sent, tracked := r.DeliverTracked(mustJID(t, tc.to), xmlstream.New(xmlstream.NSClient, "message"), nopTracker{})
		if sent != tc.wantSent || tracked != tc.wantTrack {
			t.Errorf("DeliverTracked(%s) = %v, %v; want %v, %v", tc.to, sent, tracked, tc.wantSent, tc.wantTrack)
		}
		want := 0
		if tc.wantSent {
			want = 1
			if tc.wantTrack {
				want = 2 // the stanza and its tracker
			}
		}
		if got := tc.got(); got != want {
			t.Errorf("%s: the session got %d things; want %d", tc.to, got, want)
		}
	}
}
