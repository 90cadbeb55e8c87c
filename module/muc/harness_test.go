package muc

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"roost/archive"
	"roost/internal/xmpptest"
	"roost/jid"
	"roost/module"
	"roost/router"
	"roost/stanza"
	"roost/store"
	"roost/xmlstream"
)

// The tests run the module on a real router, with fake sessions for
// local users and a fake s2s for the others, and a real store.

type fakeSession struct {
	mu     sync.Mutex
	got    []*xmlstream.Element
	refuse bool
}

func (s *fakeSession) Send(el *xmlstream.Element) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refuse {
		return false
	}
	s.got = append(s.got, el)
	return true
}

func (s *fakeSession) Close(error) {}

type fakeRemote struct {
	mu  sync.Mutex
	got map[string][]*xmlstream.Element
}

func (f *fakeRemote) SendRemote(_ context.Context, st *stanza.Stanza) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got[st.To.String()] = append(f.got[st.To.String()], st.Element())
	return nil
}

type harness struct {
	t        testing.TB
	m        *MUC
	r        *router.Router
	st       *store.Store
	dir      string
	opts     Options
	sessions map[string]*fakeSession
	remote   *fakeRemote

	clockMu sync.Mutex
	clock   time.Time
}

const svc = "conference.example.org"

// openDefaults are the defaults of most tests: an open, non-anonymous,
// persistent, logged room.
func openDefaults() Config {
	return Config{Persistent: true, NonAnonymous: true, Logging: true, AllowInvites: true, ChangeSubject: true, AllowPM: PMAnyone}
}

func newHarness(t testing.TB, edit ...func(*Options)) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir(), sessions: map[string]*fakeSession{},
		remote: &fakeRemote{got: map[string][]*xmlstream.Element{}},
		clock:  time.Date(2026, 12, 24, 18, 0, 0, 0, time.UTC)}
	h.opts = Options{
		Domains:         []string{"example.org"},
		Defaults:        openDefaults(),
		MaxRoomsPerUser: 5,
		MaxOccupants:    10,
		History:         5,
		Now:             h.now,
	}
	for _, e := range edit {
		e(&h.opts)
	}
	h.start()
	return h
}

func (h *harness) now() time.Time {
	h.clockMu.Lock()
	defer h.clockMu.Unlock()
	return h.clock
}

func (h *harness) advance(d time.Duration) {
	h.clockMu.Lock()
	defer h.clockMu.Unlock()
	h.clock = h.clock.Add(d)
}

// start opens the store and builds router and module on it.
func (h *harness) start() {
	t := h.t
	t.Helper()
	st, err := store.Open(filepath.Join(h.dir, "roost.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	h.st = st
	t.Cleanup(func() { _ = st.Close() })
	h.r = router.New(router.Options{Domains: []string{"example.org"}})
	h.r.SetRemote(h.remote)
	opts := h.opts
	opts.Store, opts.Router, opts.Trimmer = st, h.r, st
	opts.Archive = archiveAdapter{st, h.now}
	m, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	h.m = m
	var set module.Set
	set.Add(m)
	if err := set.Err(); err != nil {
		t.Fatal(err)
	}
	set.Install(h.r)
	for full, s := range h.sessions {
		if err := h.r.Bind(context.Background(), jid.MustParse(full), s); err != nil {
			t.Fatal(err)
		}
	}
}

// restart closes the store and starts afresh on the same file: rooms
// survive, occupants do not.
func (h *harness) restart() {
	h.t.Helper()
	if err := h.st.Close(); err != nil {
		h.t.Fatal(err)
	}
	h.sessions = map[string]*fakeSession{}
	h.start()
}

// session binds (once) and returns the local session full.
func (h *harness) session(full string) *fakeSession {
	if s := h.sessions[full]; s != nil {
		return s
	}
	s := &fakeSession{}
	if err := h.r.Bind(context.Background(), jid.MustParse(full), s); err != nil {
		h.t.Fatal(err)
	}
	h.sessions[full] = s
	return s
}

// send has from send the stanza xml: a local user through its session,
// anyone else as a stanza arriving over s2s.
func (h *harness) send(from, xml string) {
	h.t.Helper()
	st := xmpptest.Stanza(h.t, xml)
	st.From = jid.MustParse(from)
	if h.r.IsLocal(st.From.Domain()) {
		h.session(from)
		h.r.FromClient(context.Background(), st)
		return
	}
	h.r.Route(context.Background(), st)
}

// take returns what to received since the last take.
func (h *harness) take(to string) []*xmlstream.Element {
	if s := h.sessions[to]; s != nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		got := s.got
		s.got = nil
		return got
	}
	h.remote.mu.Lock()
	defer h.remote.mu.Unlock()
	got := h.remote.got[to]
	delete(h.remote.got, to)
	return got
}

// join has full enter room as nick (with MUC's <x/>, and extra inside it)
// and returns what it received.
func (h *harness) join(full, room, nick string, extra ...string) []*xmlstream.Element {
	h.t.Helper()
	h.send(full, `<presence to='`+room+`@`+svc+`/`+nick+`'><x xmlns='http://jabber.org/protocol/muc'>`+strings.Join(extra, "")+`</x></presence>`)
	return h.take(full)
}

// create has full create room as an instant room and returns what it
// received.
func (h *harness) create(full, room, nick string) []*xmlstream.Element {
	h.t.Helper()
	got := h.join(full, room, nick)
	h.send(full, `<iq type='set' id='create' to='`+room+`@`+svc+`'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'/></query></iq>`)
	got = append(got, h.take(full)...)
	return got
}

// wire serialises el as on a client stream.
func wire(el *xmlstream.Element) string {
	return string(xmlstream.AppendElement(nil, el, xmlstream.NSClient))
}

func wires(els []*xmlstream.Element) string {
	var b strings.Builder
	for _, el := range els {
		b.WriteString(wire(el))
		b.WriteByte('\n')
	}
	return b.String()
}

// statuses returns the MUC status codes of a stanza.
func statuses(el *xmlstream.Element) []int {
	var out []int
	for c := range el.Child(NSUser, "x").Elements() {
		if c.Is(NSUser, "status") {
			n, _ := strconv.Atoi(c.Get("code"))
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// item returns the muc#user item of a stanza as "affiliation role jid
// nick", with - for what is missing.
func item(el *xmlstream.Element) string {
	it := el.Child(NSUser, "x").Child(NSUser, "item")
	if it == nil {
		return "no item"
	}
	part := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	return part(it.Get("affiliation")) + " " + part(it.Get("role")) + " " + part(it.Get("jid")) + " " + part(it.Get("nick"))
}

// errCondition returns the error condition of an error stanza, or "".
func errCondition(el *xmlstream.Element) string {
	if el.Get("type") != "error" {
		return ""
	}
	return string(stanza.ParseError(el).Condition)
}

// find returns the stanzas of kind (message, presence, iq) from from.
func find(els []*xmlstream.Element, kind, from string) []*xmlstream.Element {
	var out []*xmlstream.Element
	for _, el := range els {
		if el.Name.Local == kind && (from == "" || el.Get("from") == from) {
			out = append(out, el)
		}
	}
	return out
}

// one returns the only stanza of kind from from, failing otherwise.
func one(t testing.TB, els []*xmlstream.Element, kind, from string) *xmlstream.Element {
	t.Helper()
	f := find(els, kind, from)
	if len(f) != 1 {
		t.Fatalf("want one %s from %s, got %d in:\n%s", kind, from, len(f), wires(els))
	}
	return f[0]
}

// wantError checks that els is one error of condition cond.
func wantError(t testing.TB, els []*xmlstream.Element, cond stanza.Condition) {
	t.Helper()
	if len(els) != 1 || errCondition(els[0]) != string(cond) {
		t.Fatalf("want one %s error, got:\n%s", cond, wires(els))
	}
}

func body(el *xmlstream.Element) string { return el.ChildText(el.Name.Space, "body") }

func mustBare(full string) jid.JID { return jid.MustParse(full).Bare() }

// roomSalt returns a room's occupant-id salt.
func (h *harness) roomSalt(local string) []byte {
	s := h.m.services[0]
	r := s.lockRoom(local)
	if r == nil {
		h.t.Fatalf("no room %s", local)
	}
	defer r.mu.Unlock()
	return r.salt
}

// archiveAdapter is the store's archive as archive.Store, as the server
// adapts it (server/archive.go; a test here cannot import server).
type archiveAdapter struct {
	st  *store.Store
	now func() time.Time
}

func (a archiveAdapter) Append(owner string, account bool, with, resource string, stanza []byte) (archive.ID, error) {
	ref, err := a.st.AppendArchive(store.ArchiveRecord{Owner: owner, Account: account, With: with, Resource: resource, Stanza: stanza}, a.now())
	return archive.ID{Seq: ref.ID, Tag: ref.Tag}, err
}

func (a archiveAdapter) Page(owner string, r archive.Range) ([]archive.Item, bool, error) {
	q := store.ArchiveQuery{With: r.With, Resource: r.Resource, After: r.After, Before: r.Before,
		First: r.First, Last: r.Last, IDs: r.IDs, Max: r.Max, Reverse: r.Reverse}
	for _, id := range r.Known {
		q.Check = append(q.Check, store.ArchiveRef{ID: id.Seq, Tag: id.Tag})
	}
	items, complete, err := a.st.ArchivePage(owner, q)
	if errors.Is(err, store.ErrUnknownArchiveID) {
		return nil, false, archive.ErrUnknownID
	}
	out := make([]archive.Item, len(items))
	for i, it := range items {
		out[i] = archive.Item{ID: archive.ID{Seq: it.ID, Tag: it.Tag}, With: it.With, Resource: it.Resource, Stanza: it.Stanza}
	}
	return out, complete, err
}

func (a archiveAdapter) Bounds(owner string) (archive.ID, archive.ID, error) {
	sum, err := a.st.ArchiveSummary(owner)
	return archive.ID{Seq: sum.First.ID, Tag: sum.First.Tag}, archive.ID{Seq: sum.Last.ID, Tag: sum.Last.Tag}, err
}
