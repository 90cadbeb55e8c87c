package mam

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"roost/archive"
	"roost/internal/xmpptest"
	"roost/jid"
	"roost/module"
	"roost/stanza"
	"roost/xmlstream"
)

// fakeArchive keeps appended messages in memory.
type fakeArchive struct {
	mu    sync.Mutex
	items map[string][]archive.Item
	seq   uint64
}

func (f *fakeArchive) Append(owner string, account bool, with, res string, b []byte) (archive.ID, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !account {
		return archive.ID{}, errors.New("an account archive appended as a room's")
	}
	f.seq++
	id := archive.ID{Seq: f.seq, Tag: uint32(f.seq * 31)}
	f.items[owner] = append(f.items[owner], archive.Item{ID: id, With: with, Resource: res, Stanza: slices.Clone(b)})
	return id, nil
}

func (f *fakeArchive) Page(owner string, r archive.Range) ([]archive.Item, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range r.Known {
		if !slices.ContainsFunc(f.items[owner], func(it archive.Item) bool { return it.ID == k }) {
			return nil, false, archive.ErrUnknownID
		}
	}
	items := f.items[owner]
	return items[:min(r.Max, len(items))], r.Max >= len(items), nil
}

func (f *fakeArchive) Bounds(owner string) (archive.ID, archive.ID, error) {
	items := f.items[owner]
	if len(items) == 0 {
		return archive.ID{}, archive.ID{}, nil
	}
	return items[0].ID, items[len(items)-1].ID, nil
}

func (f *fakeArchive) bodies(owner string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, it := range f.items[owner] {
		el, err := xmlstream.Parse(it.Stanza, xmlstream.Limits{})
		if err != nil {
			out = append(out, "unparsable")
			continue
		}
		out = append(out, it.With+"/"+it.Resource+":"+el.ChildText(xmlstream.NSClient, "body"))
	}
	return out
}

type fakePrefs map[string][]byte

func (f fakePrefs) ArchivePrefs(user string) ([]byte, bool, error) {
	v, ok := f[user]
	return v, ok, nil
}

func (f fakePrefs) PutArchivePrefs(user string, v []byte) error {
	f[user] = v
	return nil
}

type fakeRouter struct {
	mu  sync.Mutex
	got []*xmlstream.Element
}

func (r *fakeRouter) Deliver(_ jid.JID, el *xmlstream.Element) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, el)
	return true
}

func (r *fakeRouter) IsLocal(domain string) bool { return domain == "example.org" }

func newTest(t *testing.T, def string, roster ...string) (*MAM, *fakeArchive, *fakeRouter) {
	t.Helper()
	arch := &fakeArchive{items: map[string][]archive.Item{}}
	r := &fakeRouter{}
	m := New(Options{Archive: arch, Prefs: fakePrefs{}, Router: r, Default: def,
		InRoster: func(_ context.Context, _, contact jid.JID) (bool, error) {
			return slices.Contains(roster, contact.String()), nil
		}})
	return m, arch, r
}

func msg(t *testing.T, from, to, inner string) *stanza.Stanza {
	t.Helper()
	st := xmpptest.Stanza(t, `<message type='chat' to='`+to+`'>`+inner+`</message>`)
	st.From = jid.MustParse(from)
	return st
}

func TestWorthArchiving(t *testing.T) {
	tests := []struct {
		name string
		typ  string
		in   string
		want bool
	}{
		{"body", "chat", `<body>hi</body>`, true},
		{"normal with body", "normal", `<body>hi</body>`, true},
		{"subject", "normal", `<subject>news</subject>`, true},
		{"chat state", "chat", `<composing xmlns='http://jabber.org/protocol/chatstates'/>`, false},
		{"nothing", "chat", ``, false},
		{"thread only", "chat", `<thread>t1</thread>`, false},
		{"omemo", "chat", `<encrypted xmlns='eu.siacs.conversations.axolotl'><header sid='1'/></encrypted>`, true},
		{"omemo 2", "chat", `<encrypted xmlns='urn:xmpp:omemo:2'/>`, true},
		{"openpgp", "chat", `<openpgp xmlns='urn:xmpp:openpgp:0'>x</openpgp>`, true},
		{"receipt", "chat", `<received xmlns='urn:xmpp:receipts' id='x'/>`, true},
		{"marker", "chat", `<displayed xmlns='urn:xmpp:chat-markers:0' id='x'/>`, true},
		{"invite", "normal", `<x xmlns='jabber:x:conference' jid='room@conference.example.org'/>`, true},
		{"mediated invite", "normal", `<x xmlns='http://jabber.org/protocol/muc#user'><invite from='a@b'/></x>`, true},
		{"muc user only", "chat", `<x xmlns='http://jabber.org/protocol/muc#user'/>`, false},
		{"call", "chat", `<propose xmlns='urn:xmpp:jingle-message:0' id='c'/>`, true},
		{"no-store", "chat", `<body>hi</body><no-store xmlns='urn:xmpp:hints'/>`, false},
		{"no-permanent-store", "chat", `<body>hi</body><no-permanent-store xmlns='urn:xmpp:hints'/>`, false},
		{"store hint", "chat", `<store xmlns='urn:xmpp:hints'/>`, true},
		{"groupchat", "groupchat", `<body>hi</body>`, false},
		{"headline", "headline", `<body>hi</body>`, false},
		{"error", "error", `<body>hi</body>`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := xmpptest.Stanza(t, `<message type='`+tt.typ+`'>`+tt.in+`</message>`)
			if got := worthArchiving(st); got != tt.want {
				t.Errorf("worthArchiving = %t, want %t", got, tt.want)
			}
		})
	}
}

// TestInterceptors: both directions archive once each, stamp the right
// stanza-id, and the seal strips the sender's before the message leaves.
func TestInterceptors(t *testing.T) {
	m, arch, _ := newTest(t, Always)
	ctx := context.Background()
	var set module.Set
	set.Add(m)
	set.Add(m.Seal())
	if err := set.Err(); err != nil {
		t.Fatal(err)
	}

	// alice sends to bob, another local account.
	out := msg(t, "alice@example.org/phone", "bob@example.org", `<body>hi bob</body><active xmlns='http://jabber.org/protocol/chatstates'/><stanza-id xmlns='urn:xmpp:sid:0' by='alice@example.org' id='forged'/>`)
	if done, err := m.outbound(ctx, out); done || err != nil {
		t.Fatalf("outbound = %t, %v", done, err)
	}
	ids := stanzaIDs(out.El)
	if len(ids) != 1 || !strings.HasPrefix(ids[0], "alice@example.org=") || strings.HasSuffix(ids[0], "forged") {
		t.Errorf("after mam, the sent message has stanza-ids %v, want alice's", ids)
	}
	// (carbons would copy it here)
	sealOut := out
	sealer := seal{}
	_, _ = sealer.intercept(ctx, sealOut)
	if ids := stanzaIDs(sealOut.El); len(ids) != 0 {
		t.Errorf("after the seal, the message to bob has stanza-ids %v, want none", ids)
	}
	// On bob's side.
	in := msg(t, "alice@example.org/phone", "bob@example.org", `<body>hi bob</body>`)
	in.El = sealOut.El
	if _, err := m.inbound(ctx, in); err != nil {
		t.Fatal(err)
	}
	if ids := stanzaIDs(in.El); len(ids) != 1 || !strings.HasPrefix(ids[0], "bob@example.org=") {
		t.Errorf("delivered to bob with stanza-ids %v, want bob's", ids)
	}
	if got, want := arch.bodies("alice@example.org"), []string{"bob@example.org/:hi bob"}; !slices.Equal(got, want) {
		t.Errorf("alice's archive %q, want %q", got, want)
	}
	if got, want := arch.bodies("bob@example.org"), []string{"alice@example.org/phone:hi bob"}; !slices.Equal(got, want) {
		t.Errorf("bob's archive %q, want %q", got, want)
	}
	stored := string(arch.items["alice@example.org"][0].Stanza)
	if strings.Contains(stored, "chatstates") || strings.Contains(stored, "stanza-id") || !strings.Contains(stored, `from="alice@example.org/phone"`) {
		t.Errorf("archived copy %s: want it addressed, without chat states or stanza-ids", stored)
	}

	// The same message handed back for redelivery is not archived again,
	// and keeps its id.
	again := msg(t, "alice@example.org/phone", "bob@example.org", "")
	again.El = in.El
	if _, err := m.inbound(ctx, again); err != nil {
		t.Fatal(err)
	}
	if len(arch.items["bob@example.org"]) != 1 || !slices.Equal(stanzaIDs(again.El), stanzaIDs(in.El)) {
		t.Errorf("redelivery: bob's archive has %d messages, ids %v; want 1, %v", len(arch.items["bob@example.org"]), stanzaIDs(again.El), stanzaIDs(in.El))
	}

	// To oneself: archived once, on the way out, and the stamp stays.
	self := msg(t, "alice@example.org/phone", "alice@example.org/laptop", `<body>note to self</body>`)
	_, _ = m.outbound(ctx, self)
	_, _ = sealer.intercept(ctx, self)
	_, _ = m.inbound(ctx, self)
	if got := arch.bodies("alice@example.org"); len(got) != 2 || got[1] != "alice@example.org/laptop:note to self" {
		t.Errorf("alice's archive after a note to self: %q", got)
	}
	if ids := stanzaIDs(self.El); len(ids) != 1 || !strings.HasPrefix(ids[0], "alice@example.org=") {
		t.Errorf("note to self delivered with stanza-ids %v, want alice's", ids)
	}

	// Presence, IQs and chat states pass untouched.
	cs := msg(t, "bob@example.org/pc", "alice@example.org", `<composing xmlns='http://jabber.org/protocol/chatstates'/>`)
	before := cs.El
	_, _ = m.inbound(ctx, cs)
	if cs.El != before || len(arch.items["alice@example.org"]) != 2 {
		t.Errorf("a chat state was stamped or archived")
	}
}

func stanzaIDs(el *xmlstream.Element) []string {
	var out []string
	for c := range el.Elements() {
		if c.Is(archive.NSStanzaID, "stanza-id") {
			out = append(out, c.Get("by")+"="+c.Get("id"))
		}
	}
	return out
}

func TestPrefs(t *testing.T) {
	m, arch, _ := newTest(t, Roster, "bob@example.org")
	ctx := context.Background()
	send := func(from string) {
		st := msg(t, from, "alice@example.org", `<body>x</body>`)
		_, _ = m.inbound(ctx, st)
	}
	send("bob@example.org/pc")   // in the roster
	send("eve@example.net/spam") // not
	if got := arch.bodies("alice@example.org"); !slices.Equal(got, []string{"bob@example.org/pc:x"}) {
		t.Errorf("with the roster default: %q", got)
	}
	set := func(payload string) *xmlstream.Element {
		st := xmpptest.Stanza(t, `<iq type='set' id='p'>`+payload+`</iq>`)
		st.From = jid.MustParse("alice@example.org/phone")
		res, err := m.setPrefs(ctx, st)
		if err != nil {
			t.Fatalf("set %s: %v", payload, err)
		}
		return res
	}
	res := set(`<prefs xmlns='urn:xmpp:mam:2' default='never'><always><jid>eve@example.net/x</jid><jid>carol@example.org</jid></always><never><jid>carol@example.org</jid></never></prefs>`)
	want := `<prefs xmlns="urn:xmpp:mam:2" default="never"><always><jid>eve@example.net</jid></always><never><jid>carol@example.org</jid></never></prefs>`
	if got := res.FirstChild().String(); got != want {
		t.Errorf("set prefs answered %s\nwant %s", got, want)
	}
	send("bob@example.org/pc")   // default never now
	send("eve@example.net/spam") // always
	send("carol@example.org/x")  // on both lists: never
	if got := arch.bodies("alice@example.org"); !slices.Equal(got, []string{"bob@example.org/pc:x", "eve@example.net/spam:x"}) {
		t.Errorf("after setting prefs: %q", got)
	}
	// Stored: a fresh module reads them back.
	m2 := New(Options{Archive: arch, Prefs: m.opts.Prefs, Router: &fakeRouter{}})
	p, err := m2.prefsOf(jid.MustParse("alice@example.org"))
	if err != nil || p.def != Never || !slices.Equal(p.always, []string{"eve@example.net"}) {
		t.Errorf("prefs read back: %+v, %v", p, err)
	}
	// Forgotten with the account.
	m.AccountDeleted(ctx, jid.MustParse("alice@example.org"))
	if _, ok := m.prefs["alice@example.org"]; ok {
		t.Errorf("prefs cached after the account was deleted")
	}

	bad := []struct {
		payload string
		cond    stanza.Condition
	}{
		{`<prefs xmlns='urn:xmpp:mam:2'/>`, stanza.BadRequest},
		{`<prefs xmlns='urn:xmpp:mam:2' default='sometimes'/>`, stanza.BadRequest},
		{`<prefs xmlns='urn:xmpp:mam:2' default='always'><always><jid>@@</jid></always></prefs>`, stanza.JIDMalformed},
		{`<prefs xmlns='urn:xmpp:mam:2' default='always'><always>` + strings.Repeat(`<jid>a@b</jid>`, maxPrefsJIDs+1) + `</always></prefs>`, stanza.NotAcceptable},
	}
	for _, b := range bad {
		st := xmpptest.Stanza(t, `<iq type='set' id='p'>`+b.payload+`</iq>`)
		st.From = jid.MustParse("alice@example.org/phone")
		_, err := m.setPrefs(ctx, st)
		var se *stanza.Error
		if !errors.As(err, &se) || se.Condition != b.cond {
			t.Errorf("set %.60s: %v, want %s", b.payload, err, b.cond)
		}
	}
}

func TestQueryAccess(t *testing.T) {
	m, _, r := newTest(t, Always)
	ctx := context.Background()
	for _, tc := range []struct {
		from, to string
		ok       bool
	}{
		{"alice@example.org/phone", "", true},
		{"alice@example.org/phone", "alice@example.org", true},
		{"alice@example.org/phone", "bob@example.org", false},
		{"eve@example.net/x", "alice@example.org", false},
	} {
		st := xmpptest.Stanza(t, `<iq type='set' id='q'><query xmlns='urn:xmpp:mam:2'/></iq>`)
		st.From = jid.MustParse(tc.from)
		if tc.to != "" {
			st.To = jid.MustParse(tc.to)
		}
		res, err := m.query(ctx, st)
		var se *stanza.Error
		switch {
		case tc.ok && (err != nil || res.Child(archive.NS, "fin") == nil):
			t.Errorf("%s → %q: %v, %v", tc.from, tc.to, res, err)
		case !tc.ok && (!errors.As(err, &se) || se.Condition != stanza.Forbidden):
			t.Errorf("%s → %q: %v, want forbidden", tc.from, tc.to, err)
		}
	}
	if len(r.got) != 0 {
		t.Errorf("results for an empty archive: %v", r.got)
	}
	st := xmpptest.Stanza(t, `<iq type='get' id='f'><query xmlns='urn:xmpp:mam:2'/></iq>`)
	st.From = jid.MustParse("alice@example.org/phone")
	if res, err := m.form(ctx, st); err != nil || !strings.Contains(res.String(), `var="before-id"`) {
		t.Errorf("form: %v, %v", res, err)
	}
}

// fakeTrimmer records the policy it is asked to apply, and hands out
// work in two passes.
type fakeTrimmer struct {
	calls    []string
	policies map[string][2]int64
}

func (f *fakeTrimmer) TrimArchives(from string, budget int, policy func(string) (time.Time, int64)) (int, string, error) {
	f.calls = append(f.calls, from)
	for _, owner := range []string{"alice@example.org", "den@conference.example.org"} {
		keep, size := policy(owner)
		f.policies[owner] = [2]int64{keep.Unix(), size}
	}
	if from == "" {
		return budget, "bob@example.org", nil
	}
	return 3, "", nil
}

func TestTrim(t *testing.T) {
	tr := &fakeTrimmer{policies: map[string][2]int64{}}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := New(Options{Archive: &fakeArchive{}, Prefs: fakePrefs{}, Router: &fakeRouter{}, Trimmer: tr,
		KeepFor: 24 * time.Hour, MaxSize: 1 << 20, Now: func() time.Time { return now }})
	n, err := m.trim(context.Background())
	if err != nil || n != archive.SweepBudget+3 || !slices.Equal(tr.calls, []string{"", "bob@example.org"}) {
		t.Errorf("trim = %d, %v after calls %q", n, err, tr.calls)
	}
	if got, want := tr.policies["alice@example.org"], [2]int64{now.Add(-24 * time.Hour).Unix(), 1 << 20}; got != want {
		t.Errorf("account policy %v, want %v", got, want)
	}
	if got, want := tr.policies["den@conference.example.org"], [2]int64{time.Time{}.Unix(), 0}; got != want {
		t.Errorf("room policy %v, want %v (left alone)", got, want)
	}
}

// BenchmarkArchiveMessage is what archiving adds to a message on the
// routing path, both directions: the sender's archive with its seal, and
// the recipient's.
func BenchmarkArchiveMessage(b *testing.B) {
	arch := &nopArchive{}
	m := New(Options{Archive: arch, Prefs: fakePrefs{}, Router: &fakeRouter{}})
	ctx := context.Background()
	el, err := xmlstream.Parse([]byte(`<message xmlns="jabber:client" type="chat" to="bob@example.org" id="x1"><body>How was the trip? We're back on Sunday.</body><active xmlns="http://jabber.org/protocol/chatstates"/></message>`), xmlstream.Limits{})
	if err != nil {
		b.Fatal(err)
	}
	from, to := jid.MustParse("alice@example.org/phone"), jid.MustParse("bob@example.org")
	b.ReportAllocs()
	for b.Loop() {
		st := &stanza.Stanza{Kind: stanza.Message, Type: stanza.TypeChat, From: from, To: to, El: el}
		_, _ = m.outbound(ctx, st)
		st.El = archive.Strip(st.El, "alice@example.org")
		_, _ = m.inbound(ctx, st)
	}
}

type nopArchive struct{ n uint64 }

func (a *nopArchive) Append(string, bool, string, string, []byte) (archive.ID, error) {
	a.n++
	return archive.ID{Seq: a.n, Tag: 1}, nil
}

func (a *nopArchive) Page(string, archive.Range) ([]archive.Item, bool, error) { return nil, true, nil }

func (a *nopArchive) Bounds(string) (archive.ID, archive.ID, error) {
	return archive.ID{}, archive.ID{}, nil
}

// TestNothingKeptAllocatesNothing: with the archive on (the default),
// what it does not keep — presence, IQs, chat states alone, errors,
// headlines, messages an owner's preferences say never to keep, in both
// directions — costs no allocation on the routing path (docs/benchmarks.md).
func TestNothingKeptAllocatesNothing(t *testing.T) {
	arch := &nopArchive{}
	prefs := fakePrefs{"carol@example.org": []byte(`<prefs xmlns='urn:xmpp:mam:2' default='never'/>`)}
	m := New(Options{Archive: arch, Prefs: prefs, Router: &fakeRouter{}, Default: Always})
	ctx := context.Background()
	parse := func(s string) *xmlstream.Element {
		el, err := xmlstream.Parse([]byte(s), xmlstream.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		return el
	}
	for _, tc := range []struct {
		name     string
		kind     stanza.Kind
		typ      string
		from, to string
		el       string
	}{
		{"presence", stanza.Presence, "", "alice@example.org/phone", "bob@example.org",
			`<presence xmlns="jabber:client"><show>away</show></presence>`},
		{"iq", stanza.IQ, stanza.TypeGet, "alice@example.org/phone", "bob@example.org/pc",
			`<iq xmlns="jabber:client" type="get" id="p1"><ping xmlns="urn:xmpp:ping"/></iq>`},
		{"chat state", stanza.Message, stanza.TypeChat, "alice@example.org/phone", "bob@example.org",
			`<message xmlns="jabber:client" type="chat"><composing xmlns="http://jabber.org/protocol/chatstates"/></message>`},
		{"error", stanza.Message, stanza.TypeError, "alice@example.org/phone", "bob@example.org",
			`<message xmlns="jabber:client" type="error"><body>x</body><error type="cancel"/></message>`},
		{"headline", stanza.Message, stanza.TypeHeadline, "alice@example.org/phone", "bob@example.org",
			`<message xmlns="jabber:client" type="headline"><body>news</body></message>`},
		{"preferences say never", stanza.Message, stanza.TypeChat, "carol@example.org/phone", "carol@example.org",
			`<message xmlns="jabber:client" type="chat"><body>note to self</body></message>`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			el := parse(tc.el)
			from, to := jid.MustParse(tc.from), jid.MustParse(tc.to)
			st := &stanza.Stanza{Kind: tc.kind, Type: tc.typ, From: from, To: to, El: el}
			run := func() {
				st.El = el
				_, _ = m.outbound(ctx, st)
				_, _ = m.inbound(ctx, st)
			}
			run() // the preferences are read and cached once
			if n := testing.AllocsPerRun(100, run); n != 0 {
				t.Errorf("%v allocations per stanza, want 0", n)
			}
			if arch.n != 0 {
				t.Errorf("%d messages archived, want none", arch.n)
			}
		})
	}
}
