package muc

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"roost/archive"
	"roost/discoinfo"
	"roost/jid"
	"roost/module"
	"roost/stanza"
	"roost/xmlstream"
)

// Store keeps rooms; *store.Store satisfies it. Rooms are bare JIDs in
// string form, records are opaque to the store.
type Store interface {
	PutRoom(room string, rec []byte) error
	Rooms(domain string, fn func(room string, rec []byte) error) error
	DeleteRoom(room string) (bool, error)
}

// Router delivers what rooms send; *router.Router satisfies it.
type Router interface {
	// Route delivers a stanza through the whole delivery path, to local
	// accounts and other servers alike.
	Route(ctx context.Context, st *stanza.Stanza)
	// Deliver hands an element to the local session bound to full.
	Deliver(full jid.JID, el *xmlstream.Element) bool
	// IsLocal reports whether domain is an account domain of this server.
	IsLocal(domain string) bool
}

// Options configure the group chat service.
type Options struct {
	// Domains are the account domains; each gets a service at
	// Label.<domain>.
	Domains []string
	// Label is the service's label, "conference" by default.
	Label string
	Store Store
	// Archive keeps the messages of logged rooms (XEP-0313 on the room's
	// JID), the same archive as the accounts'; nil keeps history in
	// memory only. A room's archive goes with it (Store.DeleteRoom).
	Archive archive.Store
	// ArchiveLimits bound the archive queries (package archive's
	// defaults when zero).
	ArchiveLimits archive.Limits
	// KeepFor is how long a room's messages are kept (0: forever): a
	// background job deletes older ones from the rooms' archives through
	// Trimmer every SweepEvery (1h), and the history sent on join leaves
	// them out at once.
	KeepFor    time.Duration
	Trimmer    archive.Trimmer
	SweepEvery time.Duration
	// Router is nil when rooms are only administered (the server is
	// stopped): nobody is in a room then.
	Router Router
	// Create says who may create rooms (CreateLocal by default).
	Create Creators
	// Defaults is the configuration of a new room.
	Defaults Config
	// MaxRoomsPerUser bounds the rooms one user owns (0: no rooms).
	MaxRoomsPerUser int
	// MaxOccupants bounds a room's occupants (default 100).
	MaxOccupants int
	// History is how many messages a room keeps for history on join
	// (default 50; negative keeps none).
	History int
	// MaxNickLength bounds a nick, in characters (default 64).
	MaxNickLength int
	// PresencePerMinute bounds the presence changes of an occupant passed
	// on per minute (default 12); faster ones are merged.
	PresencePerMinute int
	Now               func() time.Time
	// Rand makes salts and stanza-ids (crypto/rand by default).
	Rand   io.Reader
	Logger *slog.Logger
}

// MUC is the group chat module: one service per account domain.
type MUC struct {
	opts     Options
	store    Store
	archive  archive.Store
	router   Router
	now      func() time.Time
	log      *slog.Logger
	services []*service
	lim      limits
	// presenceEvery is the interval that refills one presence token.
	presenceEvery time.Duration

	randMu sync.Mutex
	rand   io.Reader

	// closed is set at shutdown: timers that fire later do nothing.
	closedMu sync.Mutex
	closed   bool
}

// service is one conference domain.
type service struct {
	m      *MUC
	domain string // conference.example.org
	parent string // example.org

	mu    sync.Mutex
	rooms map[string]*room // by localpart
}

// Errors.
var (
	// ErrNoRoom: the room does not exist.
	ErrNoRoom = errors.New("muc: no such room")
	// ErrRoomExists: the room to create exists.
	ErrRoomExists = errors.New("muc: room exists")
	// ErrNoService: the JID is not at one of the group chat services.
	ErrNoService = errors.New("muc: not a group chat service")
)

// Defaults of Options.
const (
	DefaultLabel             = "conference"
	DefaultMaxOccupants      = 100
	DefaultHistory           = 50
	DefaultMaxNickLength     = 64
	DefaultPresencePerMinute = 12
	// presenceBurst is how many presence changes pass at once before
	// the rate applies.
	presenceBurst = 5
	maxNameLength = 200
)

// New returns the module with the stored rooms of its services loaded.
func New(opts Options) (*MUC, error) {
	opts.Label = cmp.Or(opts.Label, DefaultLabel)
	opts.Create = cmp.Or(opts.Create, CreateLocal)
	opts.MaxOccupants = cmp.Or(max(opts.MaxOccupants, 0), DefaultMaxOccupants)
	opts.History = cmp.Or(opts.History, DefaultHistory)
	if opts.History < 0 {
		opts.History = 0
	}
	opts.MaxNickLength = cmp.Or(max(opts.MaxNickLength, 0), DefaultMaxNickLength)
	opts.PresencePerMinute = cmp.Or(max(opts.PresencePerMinute, 0), DefaultPresencePerMinute)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SweepEvery <= 0 {
		opts.SweepEvery = time.Hour
	}
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	opts.Defaults.AllowPM = cmp.Or(opts.Defaults.AllowPM, PMAnyone)
	opts.Defaults.MaxHistory = min(max(opts.Defaults.MaxHistory, 0), opts.History)
	opts.Defaults.MaxHistory = cmp.Or(opts.Defaults.MaxHistory, opts.History)
	m := &MUC{
		opts: opts, store: opts.Store, archive: opts.Archive, router: opts.Router,
		now: opts.Now, log: opts.Logger, rand: opts.Rand,
		lim:           limits{maxUsers: opts.MaxOccupants, maxHistory: opts.History, maxName: maxNameLength},
		presenceEvery: time.Minute / time.Duration(opts.PresencePerMinute),
	}
	for _, d := range opts.Domains {
		s := &service{m: m, domain: opts.Label + "." + d, parent: d, rooms: make(map[string]*room)}
		if err := s.load(); err != nil {
			return nil, err
		}
		m.services = append(m.services, s)
	}
	return m, nil
}

// load reads the service's stored rooms and their recent history.
func (s *service) load() error {
	err := s.m.store.Rooms(s.domain, func(name string, b []byte) error {
		j, err := jid.Parse(name)
		if err != nil || j.Local() == "" || j.Domain() != s.domain || j.Resource() != "" {
			s.m.log.Warn("stored room with an invalid name skipped", "room", name)
			return nil
		}
		rec, affs, err := decodeRecord(b)
		if err != nil {
			s.m.log.Warn("unreadable stored room skipped", "room", name, "err", err)
			return nil
		}
		r := newRoom(s, j, rec.Config, rec.Salt, rec.Created)
		r.affs = affs
		r.subject, r.subjectBy, r.subjectAt = rec.Subject, rec.SubjectBy, rec.SubjectAt
		if len(r.salt) == 0 {
			r.salt = s.m.random(16)
		}
		if err := r.loadHistory(); err != nil {
			s.m.log.Warn("room history not loaded", "room", name, "err", err)
		}
		s.rooms[j.Local()] = r
		return nil
	})
	if err != nil {
		return fmt.Errorf("load rooms of %s: %w", s.domain, err)
	}
	return nil
}

// Name implements module.Module.
func (m *MUC) Name() string { return "muc" }

// Register implements module.Module: one hosted service per account
// domain, the account-deletion observer, and the shutdown step that tells
// occupants the service is going away (status 332).
func (m *MUC) Register(r *module.Registry) {
	for _, s := range m.services {
		r.Service(module.Service{
			Domain: s.domain,
			Parent: s.parent,
			Name:   "Group chats",
			Info: discoinfo.Info{
				Identities: []discoinfo.Identity{{Category: "conference", Type: "text", Name: "Group chats"}},
				Features:   []string{NS, nsOccupantID, nsStanzaID},
			},
			Handler: s,
		})
	}
	r.ObserveAccounts(m)
	r.Stop("rooms", m.Shutdown)
	if m.archive != nil && m.opts.Trimmer != nil && m.opts.KeepFor > 0 {
		r.Job("retention", m.sweep)
	}
}

// sweep applies the rooms' retention every SweepEvery until ctx is done.
func (m *MUC) sweep(ctx context.Context) error {
	return archive.Retain(ctx, m.opts.SweepEvery, m.trim, m.log)
}

// trim goes once through every archive and returns how many messages it
// deleted from the archives of rooms at this module's services; the
// accounts' archives are module/mam's to trim.
func (m *MUC) trim(ctx context.Context) (int, error) {
	keepAfter := m.keepAfter()
	return archive.Sweep(ctx, m.opts.Trimmer, func(owner string) (time.Time, int64) {
		at := strings.LastIndexByte(owner, '@')
		if at <= 0 || m.serviceOf(owner[at+1:]) == nil {
			return time.Time{}, 0 // not a room of ours: left alone
		}
		return keepAfter, 0
	})
}

// keepAfter is the oldest a room's message may be and still be kept;
// zero when messages are kept forever.
func (m *MUC) keepAfter() time.Time {
	if m.opts.KeepFor <= 0 {
		return time.Time{}
	}
	return m.now().Add(-m.opts.KeepFor)
}

// random returns n random bytes.
func (m *MUC) random(n int) []byte {
	b := make([]byte, n)
	m.randMu.Lock()
	defer m.randMu.Unlock()
	if _, err := io.ReadFull(m.rand, b); err != nil {
		// crypto/rand does not fail (Go 1.24+); a broken test reader is
		// a bug worth stopping for.
		panic(fmt.Sprintf("muc: random: %v", err))
	}
	return b
}

// newID returns a stanza-id (XEP-0359 §4: unique and unpredictable).
func (m *MUC) newID() string { return base64.RawURLEncoding.EncodeToString(m.random(12)) }

// occupantID derives the occupant-id of a real bare JID (XEP-0421 §4:
// stable per room and user, revealing nothing).
func occupantID(salt []byte, bare jid.JID) string {
	h := hmac.New(sha256.New, salt)
	h.Write([]byte(bare.String()))
	return base64.RawStdEncoding.EncodeToString(h.Sum(nil)[:16])
}

// send delivers a batch from a room's outbox and returns the local
// sessions that refused theirs.
func (m *MUC) send(ctx context.Context, batch []outgoing) (gone []jid.JID) {
	if m.router == nil {
		return nil
	}
	for i := range batch {
		o := &batch[i]
		if !o.route && m.router.IsLocal(o.to.Domain()) {
			if !m.router.Deliver(o.to, o.el) {
				gone = append(gone, o.to)
			}
			continue
		}
		m.router.Route(ctx, &stanza.Stanza{Kind: o.kind, Type: o.typ, From: o.from, To: o.to, ID: o.el.Get("id"), El: o.el})
	}
	return gone
}

// serviceOf returns the service at domain.
func (m *MUC) serviceOf(domain string) *service {
	for _, s := range m.services {
		if s.domain == domain {
			return s
		}
	}
	return nil
}

// lookup returns the room named local, or nil.
func (s *service) lookup(local string) *room {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rooms[local]
}

// lockRoom returns the room named local, locked, or nil.
func (s *service) lockRoom(local string) *room {
	for {
		r := s.lookup(local)
		if r == nil {
			return nil
		}
		r.mu.Lock()
		if !r.destroyed {
			return r
		}
		r.mu.Unlock()
		s.forget(r)
	}
}

// forget removes a destroyed room from the service. It takes s.mu, so it
// is never called with a room's mu held (the order is s.mu, then r.mu).
func (s *service) forget(r *room) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rooms[r.jid.Local()] == r {
		delete(s.rooms, r.jid.Local())
	}
}

// ownedBy counts the rooms owner owns at the service.
func (s *service) ownedBy(owner jid.JID) int {
	s.mu.Lock()
	rooms := make([]*room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()
	n := 0
	for _, r := range rooms {
		r.mu.Lock()
		if !r.destroyed && r.affs[owner.Bare()].aff == Owner {
			n++
		}
		r.mu.Unlock()
	}
	return n
}

// create makes a room named local owned by owner, locked for its
// configuration when locked is set, and returns it locked (r.mu held).
// It fails with ErrRoomExists when the room exists.
func (s *service) create(local string, owner jid.JID, locked bool) (*room, error) {
	j, err := jid.New(local, s.domain, "")
	if err != nil {
		return nil, fmt.Errorf("room name %q: %w", local, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.rooms[j.Local()]; old != nil {
		old.mu.Lock()
		gone := old.destroyed
		old.mu.Unlock()
		if !gone {
			return nil, ErrRoomExists
		}
	}
	r := newRoom(s, j, s.m.opts.Defaults, s.m.random(16), s.m.now())
	r.locked = locked
	if !owner.IsZero() {
		r.affs[owner.Bare()] = affiliation{aff: Owner}
	}
	r.mu.Lock()
	s.rooms[j.Local()] = r
	return r, nil
}

// HandleStanza implements router.Handler for the service domain and every
// JID at it.
func (s *service) HandleStanza(ctx context.Context, st *stanza.Stanza) (*xmlstream.Element, error) {
	if st.From.IsZero() {
		return nil, nil // nothing to answer to
	}
	if st.To.Local() == "" {
		return s.handleService(ctx, st)
	}
	switch st.Kind {
	case stanza.Presence:
		err := s.handlePresence(ctx, st)
		var se *stanza.Error
		if errors.As(err, &se) && !st.IsError() {
			// The error presence carries the MUC <x/> (§7.2.6 and on), by
			// which clients tell a refused join from other errors.
			el := stanza.ErrorReply(st, se)
			el.Children = append([]xmlstream.Node{{Elem: xmlstream.New(NS, "x")}}, el.Children...)
			return el, nil
		}
		return nil, err
	case stanza.Message:
		return nil, s.handleMessage(ctx, st)
	case stanza.IQ:
		return s.handleIQ(ctx, st)
	}
	return nil, nil
}

// handleService answers what is addressed to the service domain itself
// (its disco#info is answered from the declared Info before this).
func (s *service) handleService(_ context.Context, st *stanza.Stanza) (*xmlstream.Element, error) {
	if st.Kind != stanza.IQ || (st.Type != stanza.TypeGet && st.Type != stanza.TypeSet) {
		return nil, nil
	}
	q := st.El.FirstChild()
	switch {
	case st.To.Resource() != "":
		return nil, stanza.NewError(stanza.ServiceUnavailable, "")
	case st.Type == stanza.TypeGet && q.Is(discoinfo.NSItems, "query") && q.Get("node") == "":
		return stanza.ResultIQ(st, s.publicRooms()), nil
	case st.Type == stanza.TypeGet && q.Is(discoinfo.NSInfo, "query"):
		return nil, stanza.NewError(stanza.ItemNotFound, "")
	case st.Type == stanza.TypeGet && q.Is(nsPing, "ping"):
		return nil, nil
	}
	return nil, stanza.NewError(stanza.ServiceUnavailable, "")
}

// publicRooms lists the public rooms in a disco#items result (§6.3).
func (s *service) publicRooms() *xmlstream.Element {
	s.mu.Lock()
	rooms := make([]*room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()
	sort.Slice(rooms, func(i, j int) bool { return rooms[i].jid.String() < rooms[j].jid.String() })
	q := xmlstream.New(discoinfo.NSItems, "query")
	for _, r := range rooms {
		r.mu.Lock()
		if r.cfg.Public && !r.locked && !r.destroyed {
			item := xmlstream.New(discoinfo.NSItems, "item").SetAttr("jid", r.jid.String())
			item.SetAttr("name", r.displayName())
			q.Append(item)
		}
		r.mu.Unlock()
	}
	return q
}

func (r *room) displayName() string {
	if r.cfg.Name != "" {
		return r.cfg.Name
	}
	return r.jid.Local()
}

// AccountDeleted implements module.AccountObserver: the user's
// affiliations go, so that a new account of the same name inherits no
// room, and their occupants leave.
func (m *MUC) AccountDeleted(ctx context.Context, bare jid.JID) {
	for _, s := range m.services {
		for _, r := range s.all() {
			r.mu.Lock()
			if r.destroyed {
				r.mu.Unlock()
				continue
			}
			_, had := r.affs[bare]
			delete(r.affs, bare)
			for _, o := range r.occupantsOf(bare) {
				r.remove(ctx, o, change{codes: []int{statusAffiliationOut}, reason: "the account was deleted"})
			}
			if had {
				if err := r.save(); err != nil {
					m.log.Error("saving a room after an account was deleted", "room", r.jid.String(), "err", err)
				}
			}
			r.destroyIfEmpty(ctx)
			s.release(ctx, r)
		}
	}
}

// all returns the service's rooms.
func (s *service) all() []*room {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*room, 0, len(s.rooms))
	for _, r := range s.rooms {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *room) int {
		switch {
		case a.jid.String() < b.jid.String():
			return -1
		case a.jid.String() > b.jid.String():
			return 1
		}
		return 0
	})
	return out
}

// Shutdown removes every occupant with status 332 (§7.2.20: the service
// is shutting down), so that clients know to join again later. It runs
// before the protocol servers close their streams.
func (m *MUC) Shutdown(ctx context.Context) error {
	m.closedMu.Lock()
	m.closed = true
	m.closedMu.Unlock()
	for _, s := range m.services {
		for _, r := range s.all() {
			r.mu.Lock()
			for _, o := range r.occupantList() {
				r.dismiss(o, change{codes: []int{statusShutdown}, reason: "The server is shutting down"})
			}
			r.unlock(ctx)
		}
	}
	return nil
}

func (m *MUC) isClosed() bool {
	m.closedMu.Lock()
	defer m.closedMu.Unlock()
	return m.closed
}
