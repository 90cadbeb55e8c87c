package im

import (
	"context"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"roost/internal/xmpptest"
	"roost/jid"
	"roost/module"
	"roost/router"
	"roost/stanza"
	"roost/store"
	"roost/xmlstream"
)

type accounts struct{ st *store.Store }

func (a accounts) AccountExists(_ context.Context, j jid.JID) (bool, error) {
	_, ok, err := a.st.Account(j.String())
	return ok, err
}

// world: example.com hosts juliet and romeo; everything else is "remote"
// and recorded in w.remote.
type world struct {
	xmpptest.Clients[router.Session]
	t      *testing.T
	st     *store.Store
	r      *router.Router
	im     *IM
	mu     sync.Mutex
	remote []*stanza.Stanza
	blocks map[string]bool // "user|other"
	avail  []string
}

func (w *world) SendRemote(_ context.Context, st *stanza.Stanza) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.remote = append(w.remote, st)
	return nil
}

func newWorld(t *testing.T) *world {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "roost.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	for _, u := range []string{"juliet@example.com", "romeo@example.com", "nurse@example.com"} {
		if err := st.CreateAccount(store.Account{Username: u}); err != nil {
			t.Fatal(err)
		}
	}
	w := &world{t: t, st: st, blocks: map[string]bool{}}
	w.r = router.New(router.Options{Domains: []string{"example.com"}, Accounts: accounts{st}})
	w.r.SetRemote(w)
	w.Clients = xmpptest.Clients[router.Session]{T: t, R: w.r}
	w.im = New(Options{
		Store: st, Router: w.r, MaxRosterItems: 5, MaxSubscriptionRequests: 3,
		Blocked: func(u, o jid.JID) bool { return w.blocks[u.String()+"|"+o.Bare().String()] },
		OnAvailable: func(_ context.Context, full jid.JID) {
			w.mu.Lock()
			w.avail = append(w.avail, full.String())
			w.mu.Unlock()
		},
	})
	var set module.Set
	set.Add(w.im)
	if err := set.Err(); err != nil {
		t.Fatal(err)
	}
	set.Install(w.r)
	return w
}

// got summarises and clears what full received: "presence:subscribe from
// romeo@example.com", "push romeo@example.com sub=to ask", ...
func (w *world) got(full string) []string {
	var out []string
	for _, el := range w.Sessions[full].Take() {
		out = append(out, summary(el))
	}
	return out
}

func summary(el *xmlstream.Element) string {
	if q := el.Child(NSRoster, "query"); q != nil && el.Get("type") == "set" {
		it := q.FirstChild()
		s := "push " + it.Get("jid") + " sub=" + it.Get("subscription")
		if it.Get("ask") != "" {
			s += " ask"
		}
		if it.Get("approved") != "" {
			s += " approved"
		}
		return s
	}
	s := el.Name.Local
	if t := el.Get("type"); t != "" {
		s += ":" + t
	}
	return s + " from " + el.Get("from")
}

func (w *world) takeRemote() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, st := range w.remote {
		out = append(out, summary(st.Element())+" to "+st.To.String())
	}
	w.remote = nil
	return out
}

// roster returns the user's roster as "jid:sub[:ask][:approved]".
func (w *world) roster(user string) string {
	w.t.Helper()
	var out []string
	_, err := w.st.RosterItems(user, func(contact string, b []byte) error {
		it, err := decodeItem(b)
		if err != nil {
			return err
		}
		if !it.InRoster {
			return nil
		}
		s := contact + ":" + it.Sub.String()
		if it.Ask {
			s += ":ask"
		}
		if it.Approved {
			s += ":approved"
		}
		out = append(out, s)
		return nil
	})
	if err != nil {
		w.t.Fatal(err)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func expect(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("%s:\ngot  %q\nwant %q", what, got, want)
	}
}

// TestSubscriptionHandshake follows RFC 6121 §3.1 between two local users
// with two resources each: roster pushes to every interested resource,
// requests to every available one, and presence once subscribed.
func TestSubscriptionHandshake(t *testing.T) {
	w := newWorld(t)
	for _, f := range []string{"juliet@example.com/balcony", "juliet@example.com/chamber", "romeo@example.com/orchard", "romeo@example.com/garden"} {
		w.Connect(f)
		w.Send(f, `<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>`)
		w.Send(f, `<presence/>`)
	}
	for f := range w.Sessions {
		w.got(f)
	}

	// Juliet asks Romeo.
	w.Send("juliet@example.com/balcony", `<presence to='Romeo@Example.COM' type='subscribe'/>`)
	expect(t, "juliet/balcony", w.got("juliet@example.com/balcony"), "push romeo@example.com sub=none ask")
	expect(t, "juliet/chamber", w.got("juliet@example.com/chamber"), "push romeo@example.com sub=none ask")
	expect(t, "romeo/orchard", w.got("romeo@example.com/orchard"), "presence:subscribe from juliet@example.com")
	expect(t, "romeo/garden", w.got("romeo@example.com/garden"), "presence:subscribe from juliet@example.com")
	if got := w.roster("romeo@example.com"); got != "" {
		t.Errorf("romeo's roster shows %q before he answered", got)
	}

	// Romeo approves from one resource.
	w.Send("romeo@example.com/garden", `<presence to='juliet@example.com' type='subscribed'/>`)
	expect(t, "romeo/garden", w.got("romeo@example.com/garden"), "push juliet@example.com sub=from")
	expect(t, "romeo/orchard", w.got("romeo@example.com/orchard"), "push juliet@example.com sub=from")
	// Juliet gets the approval, the push, and Romeo's presence (§3.1.5).
	expect(t, "juliet/balcony", w.got("juliet@example.com/balcony"),
		"presence:subscribed from romeo@example.com", "push romeo@example.com sub=to",
		"presence from romeo@example.com/orchard", "presence from romeo@example.com/garden")
	w.got("juliet@example.com/chamber")
	if got := w.roster("juliet@example.com"); got != "romeo@example.com:to" {
		t.Errorf("juliet's roster = %q", got)
	}
	if got := w.roster("romeo@example.com"); got != "juliet@example.com:from" {
		t.Errorf("romeo's roster = %q", got)
	}

	// And the other way round: both.
	w.Send("romeo@example.com/orchard", `<presence to='juliet@example.com' type='subscribe'/>`)
	w.Send("juliet@example.com/chamber", `<presence to='romeo@example.com' type='subscribed'/>`)
	if got := w.roster("juliet@example.com"); got != "romeo@example.com:both" {
		t.Errorf("juliet's roster = %q", got)
	}
	if got := w.roster("romeo@example.com"); got != "juliet@example.com:both" {
		t.Errorf("romeo's roster = %q", got)
	}
	for f := range w.Sessions {
		w.got(f)
	}

	// Presence now flows both ways; a dropped connection is announced.
	w.Send("juliet@example.com/balcony", `<presence><show>away</show></presence>`)
	expect(t, "romeo/orchard", w.got("romeo@example.com/orchard"), "presence from juliet@example.com/balcony")
	expect(t, "juliet's own resource", w.got("juliet@example.com/chamber"), "presence from juliet@example.com/balcony")
	w.got("juliet@example.com/balcony")
	w.Disconnect("romeo@example.com/garden")
	expect(t, "juliet/balcony", w.got("juliet@example.com/balcony"), "presence:unavailable from romeo@example.com/garden")
	expect(t, "romeo/orchard (own resource)", w.got("romeo@example.com/orchard"), "presence:unavailable from romeo@example.com/garden")
}

func TestInitialPresenceProbesAndPendingRequests(t *testing.T) {
	w := newWorld(t)
	w.Connect("romeo@example.com/orchard")
	w.Send("romeo@example.com/orchard", `<presence/>`)
	// Juliet is offline when the nurse and Romeo ask.
	w.Send("romeo@example.com/orchard", `<presence to='juliet@example.com' type='subscribe'><status>It is I</status></presence>`)
	w.Inbound(`<presence from='tybalt@capulet.example' to='juliet@example.com' type='subscribe'/>`)
	// Romeo approves Juliet in advance (pre-approval, §3.4).
	w.Send("romeo@example.com/orchard", `<presence to='juliet@example.com' type='subscribed'/>`)
	if got := w.roster("romeo@example.com"); got != "juliet@example.com:none:ask:approved" {
		t.Errorf("romeo's roster = %q", got)
	}
	w.got("romeo@example.com/orchard")

	w.Connect("juliet@example.com/balcony")
	w.Send("juliet@example.com/balcony", `<presence/>`)
	got := w.got("juliet@example.com/balcony")
	expect(t, "juliet at initial presence", got,
		"presence from juliet@example.com/balcony",
		"presence:subscribe from romeo@example.com",
		"presence:subscribe from tybalt@capulet.example")
	if len(w.avail) != 2 || w.avail[1] != "juliet@example.com/balcony" {
		t.Errorf("OnAvailable calls: %v, want romeo's then juliet's", w.avail)
	}

	// Juliet asks Romeo back: pre-approved, so answered at once.
	w.Send("juliet@example.com/balcony", `<presence to='romeo@example.com' type='subscribe'/>`)
	if got := w.roster("romeo@example.com"); got != "juliet@example.com:from:ask" {
		t.Errorf("romeo's roster after the pre-approved request = %q", got)
	}
	if got := w.roster("juliet@example.com"); got != "romeo@example.com:to" {
		t.Errorf("juliet's roster = %q", got)
	}

	// With a subscription to Romeo, Juliet's next login probes him. She
	// never approved Romeo's own request, nor Tybalt's: both come again
	// (§3.1.3).
	w.Disconnect("juliet@example.com/balcony")
	w.Connect("juliet@example.com/chamber")
	w.Send("juliet@example.com/chamber", `<presence/>`)
	expect(t, "juliet probing romeo", w.got("juliet@example.com/chamber"),
		"presence from juliet@example.com/chamber",
		"presence from romeo@example.com/orchard",
		"presence:subscribe from romeo@example.com",
		"presence:subscribe from tybalt@capulet.example")
	// Tybalt was never answered: the request waits, the remote server got nothing.
	if got := w.takeRemote(); len(got) != 0 {
		t.Errorf("sent to other servers: %v", got)
	}
}

func TestProbeAnswers(t *testing.T) {
	w := newWorld(t)
	w.Connect("juliet@example.com/balcony")
	w.Send("juliet@example.com/balcony", `<presence><priority>1</priority></presence>`)
	// A stranger probes: unsubscribed (§4.3.2).
	w.Inbound(`<presence from='iago@venice.example' to='juliet@example.com' type='probe'/>`)
	expect(t, "stranger's probe", w.takeRemote(), "presence:unsubscribed from juliet@example.com to iago@venice.example")
	// A subscriber probes: the presence of each available resource.
	w.Inbound(`<presence from='benvolio@montague.example' to='juliet@example.com' type='subscribe'/>`)
	w.Send("juliet@example.com/balcony", `<presence to='benvolio@montague.example' type='subscribed'/>`)
	w.takeRemote()
	w.Inbound(`<presence from='benvolio@montague.example' to='juliet@example.com' type='probe'/>`)
	expect(t, "subscriber's probe", w.takeRemote(), "presence from juliet@example.com/balcony to benvolio@montague.example")
	// Blocked: nothing.
	w.blocks["juliet@example.com|benvolio@montague.example"] = true
	w.Inbound(`<presence from='benvolio@montague.example' to='juliet@example.com' type='probe'/>`)
	expect(t, "blocked prober", w.takeRemote())
	// Offline user: unavailable.
	w.blocks = map[string]bool{}
	w.Disconnect("juliet@example.com/balcony")
	w.takeRemote()
	w.Inbound(`<presence from='benvolio@montague.example' to='juliet@example.com' type='probe'/>`)
	expect(t, "probe while offline", w.takeRemote(), "presence:unavailable from juliet@example.com to benvolio@montague.example")
}

func TestDirectedPresenceAndErrors(t *testing.T) {
	w := newWorld(t)
	w.Connect("juliet@example.com/balcony")
	w.Send("juliet@example.com/balcony", `<presence/>`)
	w.Send("juliet@example.com/balcony", `<presence to='room@conference.verona.example/juliet'/>`)
	expect(t, "directed", w.takeRemote(), "presence from juliet@example.com/balcony to room@conference.verona.example/juliet")
	// Unavailable broadcast reaches the directed recipient (§4.6.3).
	w.Send("juliet@example.com/balcony", `<presence type='unavailable'/>`)
	expect(t, "unavailable", w.takeRemote(), "presence:unavailable from juliet@example.com/balcony to room@conference.verona.example/juliet")

	// A contact that answers with a presence error gets no more broadcasts.
	w.Inbound(`<presence from='mercutio@verona.example' to='juliet@example.com' type='subscribe'/>`)
	w.Send("juliet@example.com/balcony", `<presence to='mercutio@verona.example' type='subscribed'/>`)
	w.Send("juliet@example.com/balcony", `<presence/>`)
	w.takeRemote()
	w.Inbound(`<presence from='mercutio@verona.example' to='juliet@example.com' type='error'><error type='cancel'><remote-server-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>`)
	w.Send("juliet@example.com/balcony", `<presence><show>dnd</show></presence>`)
	expect(t, "after a presence error", w.takeRemote())
}

func TestRosterSet(t *testing.T) {
	w := newWorld(t)
	w.Connect("juliet@example.com/balcony")
	tests := []struct {
		name, xml string
		err       stanza.Condition
	}{
		{"add", `<iq type='set' id='1'><query xmlns='jabber:iq:roster'><item jid='nurse@example.com' name='Nurse'><group>Household</group></item></query></iq>`, ""},
		{"two items", `<iq type='set' id='2'><query xmlns='jabber:iq:roster'><item jid='a@b.example'/><item jid='c@d.example'/></query></iq>`, stanza.BadRequest},
		{"no jid", `<iq type='set' id='3'><query xmlns='jabber:iq:roster'><item name='x'/></query></iq>`, stanza.BadRequest},
		{"bad jid", `<iq type='set' id='4'><query xmlns='jabber:iq:roster'><item jid='a@@b'/></query></iq>`, stanza.BadRequest},
		{"empty group", `<iq type='set' id='5'><query xmlns='jabber:iq:roster'><item jid='a@b.example'><group/></item></query></iq>`, stanza.NotAcceptable},
		{"duplicate group", `<iq type='set' id='6'><query xmlns='jabber:iq:roster'><item jid='a@b.example'><group>x</group><group>x</group></item></query></iq>`, stanza.BadRequest},
		{"long name", `<iq type='set' id='7'><query xmlns='jabber:iq:roster'><item jid='a@b.example' name='` + strings.Repeat("n", 1024) + `'/></query></iq>`, stanza.NotAcceptable},
		{"self", `<iq type='set' id='8'><query xmlns='jabber:iq:roster'><item jid='juliet@example.com'/></query></iq>`, stanza.NotAllowed},
		{"remove unknown", `<iq type='set' id='9'><query xmlns='jabber:iq:roster'><item jid='zz@b.example' subscription='remove'/></query></iq>`, stanza.ItemNotFound},
		{"someone else's roster", `<iq type='set' id='10' to='romeo@example.com'><query xmlns='jabber:iq:roster'><item jid='a@b.example'/></query></iq>`, stanza.Forbidden},
		{"subscription attribute ignored", `<iq type='set' id='11'><query xmlns='jabber:iq:roster'><item jid='x@y.example' subscription='both'/></query></iq>`, ""},
		{"fill up", `<iq type='set' id='12'><query xmlns='jabber:iq:roster'><item jid='p@q.example'/></query></iq>`, ""},
		{"fill up 2", `<iq type='set' id='13'><query xmlns='jabber:iq:roster'><item jid='r@s.example'/></query></iq>`, ""},
		{"fill up 3", `<iq type='set' id='14'><query xmlns='jabber:iq:roster'><item jid='t@u.example'/></query></iq>`, ""},
		{"over the cap", `<iq type='set' id='15'><query xmlns='jabber:iq:roster'><item jid='v@w.example'/></query></iq>`, stanza.NotAllowed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w.Send("juliet@example.com/balcony", tc.xml)
			var reply *xmlstream.Element
			for _, el := range w.Sessions["juliet@example.com/balcony"].Take() {
				if el.Get("type") == "result" || el.Get("type") == "error" {
					reply = el
				}
			}
			if reply == nil {
				t.Fatal("no answer")
			}
			if tc.err == "" {
				if reply.Get("type") != "result" {
					t.Fatalf("got %s, want a result", reply)
				}
				return
			}
			if e := stanza.ParseError(reply); e.Condition != tc.err {
				t.Fatalf("got %s, want %s", reply, tc.err)
			}
		})
	}
	if got := w.roster("juliet@example.com"); got != "nurse@example.com:none,p@q.example:none,r@s.example:none,t@u.example:none,x@y.example:none" {
		t.Errorf("roster = %q", got)
	}
}

func TestRemoveCancelsBothWays(t *testing.T) {
	w := newWorld(t)
	w.Connect("juliet@example.com/balcony")
	w.Send("juliet@example.com/balcony", `<presence/>`)
	w.Inbound(`<presence from='paris@verona.example' to='juliet@example.com' type='subscribe'/>`)
	w.Send("juliet@example.com/balcony", `<presence to='paris@verona.example' type='subscribed'/>`)
	w.Send("juliet@example.com/balcony", `<presence to='paris@verona.example' type='subscribe'/>`)
	w.Inbound(`<presence from='paris@verona.example' to='juliet@example.com' type='subscribed'/>`)
	if got := w.roster("juliet@example.com"); got != "paris@verona.example:both" {
		t.Fatalf("roster = %q", got)
	}
	w.takeRemote()
	w.Send("juliet@example.com/balcony", `<iq type='set' id='rm'><query xmlns='jabber:iq:roster'><item jid='paris@verona.example' subscription='remove'/></query></iq>`)
	expect(t, "sent to paris", w.takeRemote(),
		"presence:unsubscribe from juliet@example.com to paris@verona.example",
		"presence:unsubscribed from juliet@example.com to paris@verona.example",
		"presence:unavailable from juliet@example.com/balcony to paris@verona.example")
	if got := w.roster("juliet@example.com"); got != "" {
		t.Errorf("roster after remove = %q", got)
	}
}

func TestRosterVersioning(t *testing.T) {
	w := newWorld(t)
	w.Connect("juliet@example.com/balcony")
	w.Send("juliet@example.com/balcony", `<iq type='get' id='g1'><query xmlns='jabber:iq:roster' ver=''/></iq>`)
	res := w.Sessions["juliet@example.com/balcony"].Take()
	ver := res[0].Child(NSRoster, "query").Get("ver")
	if ver == "" {
		t.Fatalf("no version in %s", res[0])
	}
	w.Send("juliet@example.com/balcony", `<iq type='set' id='s1'><query xmlns='jabber:iq:roster'><item jid='nurse@example.com'/></query></iq>`)
	w.Send("juliet@example.com/balcony", `<iq type='set' id='s2'><query xmlns='jabber:iq:roster'><item jid='friar@example.com'/></query></iq>`)
	w.Send("juliet@example.com/balcony", `<iq type='set' id='s3'><query xmlns='jabber:iq:roster'><item jid='nurse@example.com' subscription='remove'/></query></iq>`)
	w.got("juliet@example.com/balcony")

	// A second device with the old version gets an empty result, then pushes.
	w.Connect("juliet@example.com/chamber")
	w.Send("juliet@example.com/chamber", `<iq type='get' id='g2'><query xmlns='jabber:iq:roster' ver='`+ver+`'/></iq>`)
	got := w.Sessions["juliet@example.com/chamber"].Take()
	if len(got) < 2 || got[0].Get("type") != "result" || got[0].FirstChild() != nil {
		t.Fatalf("first answer %v: want an empty result before the pushes", got)
	}
	var pushes []string
	for _, el := range got[1:] {
		pushes = append(pushes, summary(el))
	}
	expect(t, "delta pushes", pushes, "push friar@example.com sub=none", "push nurse@example.com sub=remove")
	last := got[len(got)-1].Child(NSRoster, "query").Get("ver")
	if last == ver || last == "" {
		t.Errorf("last push carries version %q, want the new one", last)
	}
	// Up to date: just an empty result.
	w.Send("juliet@example.com/chamber", `<iq type='get' id='g3'><query xmlns='jabber:iq:roster' ver='`+last+`'/></iq>`)
	got = w.Sessions["juliet@example.com/chamber"].Take()
	if len(got) != 1 || got[0].FirstChild() != nil {
		t.Errorf("up-to-date get answered %v, want one empty result", got)
	}
}

func TestSubscriptionStampsBareJID(t *testing.T) {
	w := newWorld(t)
	w.Connect("juliet@example.com/balcony")
	w.Send("juliet@example.com/balcony", `<presence to='rosaline@verona.example' type='subscribe'/>`)
	w.mu.Lock()
	st := w.remote[0]
	w.mu.Unlock()
	if st.From.String() != "juliet@example.com" || st.Element().Get("from") != "juliet@example.com" {
		t.Errorf("subscription sent from %s (%s), want the bare JID", st.From, st.Element())
	}
}

func TestSubscription(t *testing.T) {
	w := newWorld(t)
	w.Connect("juliet@example.com/balcony")
	w.Inbound(`<presence from='romeo@example.com' to='juliet@example.com' type='subscribe'/>`)
	w.Send("juliet@example.com/balcony", `<presence to='romeo@example.com' type='subscribed'/>`)
	got, err := w.im.Subscription(context.Background(), jid.MustParse("juliet@example.com"), jid.MustParse("romeo@example.com"))
	if err != nil || got != "from" {
		t.Errorf("Subscription = %q, %v", got, err)
	}
	if got, _ := w.im.Subscription(context.Background(), jid.MustParse("juliet@example.com"), jid.MustParse("x@y.example")); got != "none" {
		t.Errorf("Subscription of a stranger = %q", got)
	}
}

func TestRostersGroups(t *testing.T) {
	w := newWorld(t)
	w.Connect("juliet@example.com/balcony")
	w.Send("juliet@example.com/balcony", `<iq type='set' id='r1'><query xmlns='jabber:iq:roster'><item jid='romeo@example.com'><group>Friends</group><group>Family</group></item></query></iq>`)
	w.Inbound(`<presence from='nurse@example.com' to='juliet@example.com' type='subscribe'/>`)
	juliet := jid.MustParse("juliet@example.com")
	tests := []struct {
		contact string
		want    []string
	}{
		{"romeo@example.com/orchard", []string{"Friends", "Family"}},
		{"nurse@example.com", nil}, // a pending request is not a roster entry
		{"stranger@example.net", nil},
	}
	for _, tc := range tests {
		got, err := Rosters{w.st}.Groups(context.Background(), juliet, jid.MustParse(tc.contact))
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("Groups(%s) = %q, %v; want %q", tc.contact, got, err, tc.want)
		}
	}
}

// TestStrangerRequests shows that subscription requests from strangers
// (RFC 6121 §3.1.3) neither fill the roster nor grow without bound: they
// have a limit of their own, past which a new one is refused and the
// waiting ones stay; the user denies one with unsubscribed, which frees
// its place, also for a request never seen before; and a request is kept
// in a few hundred bytes, whatever the stanza carried.
func TestStrangerRequests(t *testing.T) {
	w := newWorld(t)
	ask := func(from, extra string) {
		t.Helper()
		w.Inbound(`<presence from='` + from + `' to='juliet@example.com' type='subscribe'>` + extra + `</presence>`)
	}
	// Juliet is offline: three strangers ask, the third with a nickname
	// and 100 KiB each of status text and of other elements.
	ask("tybalt@capulet.example", `<status>Let me in</status>`)
	ask("paris@verona.example", ``)
	big := strings.Repeat("x", 100<<10)
	ask("mercutio@verona.example", `<status>`+big+`</status><nick xmlns='http://jabber.org/protocol/nick'>Mercutio</nick><junk xmlns='urn:example'>`+big+`</junk>`)
	if got := w.takeRemote(); len(got) != 0 {
		t.Errorf("answers to the first three requests: %v", got)
	}
	stored, _, err := w.st.RosterItem("juliet@example.com", "mercutio@verona.example")
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) > 512 {
		t.Errorf("stored request of a 200 KiB stanza: %d bytes, want at most 512", len(stored))
	}

	// A fourth is refused: the limit is 3.
	ask("benvolio@verona.example", ``)
	expect(t, "answer to the fourth request", w.takeRemote(), "presence:error from juliet@example.com to benvolio@verona.example")

	// The requests do not count against the roster's limit of 5.
	w.Connect("juliet@example.com/balcony")
	for i, c := range []string{"nurse@example.com", "a@b.example", "c@d.example", "e@f.example", "g@h.example"} {
		w.Send("juliet@example.com/balcony", `<iq type='set' id='add`+strconv.Itoa(i)+`'><query xmlns='jabber:iq:roster'><item jid='`+c+`'/></query></iq>`)
		res := w.Sessions["juliet@example.com/balcony"].TakeFirst(func(el *xmlstream.Element) bool { return el.Get("id") == "add"+strconv.Itoa(i) })
		if res == nil || res.Get("type") != "result" {
			t.Fatalf("adding %s with three requests waiting: %v, want a result", c, res)
		}
	}
	w.got("juliet@example.com/balcony")

	// At login the waiting requests come as kept: status and nickname
	// when short, nothing else.
	w.Send("juliet@example.com/balcony", `<presence/>`)
	var requests []string
	for _, el := range w.Sessions["juliet@example.com/balcony"].Take() {
		if el.Get("type") == "subscribe" {
			requests = append(requests, el.String())
		}
	}
	expect(t, "requests at login", requests,
		`<presence xmlns="jabber:client" type="subscribe" from="tybalt@capulet.example" to="juliet@example.com"><status>Let me in</status></presence>`,
		`<presence xmlns="jabber:client" type="subscribe" from="paris@verona.example" to="juliet@example.com"/>`,
		`<presence xmlns="jabber:client" type="subscribe" from="mercutio@verona.example" to="juliet@example.com"><nick xmlns="http://jabber.org/protocol/nick">Mercutio</nick></presence>`)

	// Juliet denies Paris's request: gone, and Paris is told.
	w.Send("juliet@example.com/balcony", `<presence to='paris@verona.example' type='unsubscribed'/>`)
	expect(t, "denying paris", w.takeRemote(), "presence:unsubscribed from juliet@example.com to paris@verona.example")
	if _, found, _ := w.st.RosterItem("juliet@example.com", "paris@verona.example"); found {
		t.Error("paris's request is still stored after the denial")
	}
	// Now Benvolio's request fits, and arrives at once.
	ask("benvolio@verona.example", ``)
	if got := w.takeRemote(); len(got) != 0 {
		t.Errorf("answer to benvolio's second request: %v", got)
	}
	expect(t, "benvolio's request, live", w.got("juliet@example.com/balcony"), "presence:subscribe from benvolio@verona.example")
	// A request Juliet has not seen yet (she went offline) is denied the
	// same way, without having been delivered.
	w.Disconnect("juliet@example.com/balcony")
	ask("rosaline@verona.example", ``) // the limit: refused
	expect(t, "rosaline at the limit", w.takeRemote(), "presence:error from juliet@example.com to rosaline@verona.example")
	w.Connect("juliet@example.com/chamber")
	w.Send("juliet@example.com/chamber", `<presence to='tybalt@capulet.example' type='unsubscribed'/>`)
	expect(t, "denying tybalt before any login", w.takeRemote(), "presence:unsubscribed from juliet@example.com to tybalt@capulet.example")
	w.Send("juliet@example.com/chamber", `<presence/>`)
	var left []string
	for _, el := range w.Sessions["juliet@example.com/chamber"].Take() {
		if el.Get("type") == "subscribe" {
			left = append(left, el.Get("from"))
		}
	}
	expect(t, "requests at the next login", left, "mercutio@verona.example", "benvolio@verona.example")
	if got := w.roster("juliet@example.com"); got != "a@b.example:none,c@d.example:none,e@f.example:none,g@h.example:none,nurse@example.com:none" {
		t.Errorf("roster = %q, want the five contacts and no requests", got)
	}
}
