package last

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"roost/jid"
	"roost/module"
	"roost/stanza"
	"roost/xmlstream"
)

// NS is the last activity namespace.
const NS = "jabber:iq:last"

// maxStatus bounds the status text kept and stored, in bytes.
const maxStatus = 1024

// Store keeps each account's last logout; the server adapts *store.Store.
type Store interface {
	LastActivity(user string) (at time.Time, status string, found bool, err error)
	// SetLastActivities records several logouts in one commit, skipping
	// accounts that no longer exist.
	SetLastActivities(logouts []Logout) error
}

// Logout is an account's last logout: when, and the status text of its
// unavailable presence.
type Logout struct {
	User   string
	At     time.Time
	Status string
}

// DefaultFlushEvery is how often recorded logouts are committed.
const DefaultFlushEvery = 10 * time.Second

// Sessions reports an account's sessions; *router.Router satisfies it.
type Sessions interface {
	// Connected returns every session of the account.
	Connected(bare jid.JID) []jid.JID
	// Available returns the sessions that sent available presence.
	Available(bare jid.JID) []jid.JID
}

// Subscription returns the subscription state ("none", "to", "from" or
// "both", RFC 6121 §2.1.2.5) of contact in user's roster.
type Subscription func(ctx context.Context, user, contact jid.JID) (string, error)

// Options configure a Module.
type Options struct {
	Store    Store
	Sessions Sessions
	// Subscription decides who may ask about an account; nil lets only the
	// account itself.
	Subscription Subscription
	// Started is when the server started (default: when New ran).
	Started time.Time
	// Now is the clock (default time.Now).
	Now func() time.Time
	// FlushEvery is how often recorded logouts are committed to the store
	// (DefaultFlushEvery); what is pending is committed when the server
	// stops.
	FlushEvery time.Duration
	Logger     *slog.Logger
}

// Module answers jabber:iq:last and records logouts.
type Module struct {
	store    Store
	sessions Sessions
	subs     Subscription
	started  time.Time
	now      func() time.Time
	every    time.Duration
	log      *slog.Logger

	mu      sync.Mutex
	pending map[string]Logout // bare JID → logout not committed yet
}

// New returns a module.
func New(opts Options) *Module {
	m := &Module{
		store: opts.Store, sessions: opts.Sessions, subs: opts.Subscription,
		started: opts.Started, now: opts.Now, every: opts.FlushEvery, log: opts.Logger,
		pending: make(map[string]Logout),
	}
	if m.every <= 0 {
		m.every = DefaultFlushEvery
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.started.IsZero() {
		m.started = m.now()
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	return m
}

// Name implements module.Module.
func (m *Module) Name() string { return "last" }

// Register implements module.Module: it answers for the server and for
// accounts, records logouts from presence and ended sessions, and commits
// them in a background job.
func (m *Module) Register(r *module.Registry) {
	r.IQ("", NS, "query", m)
	r.Outbound(m)
	r.ObserveSessions(m)
	r.ObserveAccounts(m)
	r.ServerFeatures(NS)
	r.AccountFeatures(NS)
	r.Job("commit", m.Run)
}

// HandleStanza answers a last activity get.
func (m *Module) HandleStanza(ctx context.Context, st *stanza.Stanza) (*xmlstream.Element, error) {
	if st.Type != stanza.TypeGet {
		return nil, stanza.NewError(stanza.BadRequest, "a last activity query is an IQ get")
	}
	account := st.To
	if account.IsZero() {
		account = st.From.Bare()
	}
	if account.Local() == "" {
		return m.reply(st, m.now().Sub(m.started), ""), nil
	}
	account = account.Bare()
	ok, err := m.allowed(ctx, account, st.From)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, stanza.NewError(stanza.Forbidden, "")
	}
	if len(m.sessions.Available(account)) > 0 {
		return m.reply(st, 0, ""), nil
	}
	m.mu.Lock()
	p, found := m.pending[account.String()]
	m.mu.Unlock()
	at, status := p.At, p.Status
	if !found {
		at, status, found, err = m.store.LastActivity(account.String())
		if err != nil {
			return nil, fmt.Errorf("read last activity: %w", err)
		}
	}
	if !found {
		return nil, stanza.NewError(stanza.ServiceUnavailable, "")
	}
	return m.reply(st, m.now().Sub(at), status), nil
}

func (m *Module) reply(st *stanza.Stanza, d time.Duration, status string) *xmlstream.Element {
	secs := int64(d / time.Second)
	if secs < 0 {
		secs = 0 // a clock stepped backwards
	}
	q := xmlstream.New(NS, "query").SetAttr("seconds", strconv.FormatInt(secs, 10)).AppendText(status)
	return stanza.ResultIQ(st, q)
}

func (m *Module) allowed(ctx context.Context, account, requester jid.JID) (bool, error) {
	if requester.Bare().Equal(account) {
		return true, nil
	}
	if m.subs == nil || requester.IsZero() {
		return false, nil
	}
	sub, err := m.subs(ctx, account, requester.Bare())
	if err != nil {
		return false, fmt.Errorf("look up subscription: %w", err)
	}
	return sub == "from" || sub == "both", nil
}

// Intercept records a logout when a resource broadcasts unavailable
// presence (RFC 6121 §4.5.1) and the account has no other available
// resource: from then on its contacts see it offline (§3). It never
// consumes a stanza.
func (m *Module) Intercept(_ context.Context, st *stanza.Stanza) (bool, error) {
	if st.Kind != stanza.Presence || !st.To.IsZero() || st.Type != stanza.TypeUnavailable {
		return false, nil
	}
	bare := st.From.Bare()
	for _, r := range m.sessions.Available(bare) {
		if !r.Equal(st.From) {
			return false, nil // still online elsewhere
		}
	}
	m.record(bare, truncate(st.El.ChildText(st.El.Name.Space, "status"), maxStatus))
	return false, nil
}

// SessionEnded records a logout when an available session ends without
// having sent unavailable presence (its connection dropped) and the
// account has no other available resource. A session that never sent
// available presence was never online for the contacts, and leaves no
// trace. It implements the router's SessionObserver.
func (m *Module) SessionEnded(_ context.Context, full jid.JID, wasAvailable bool) {
	bare := full.Bare()
	if !wasAvailable || len(m.sessions.Available(bare)) > 0 {
		return
	}
	m.record(bare, "")
}

// record keeps a logout for the next commit.
func (m *Module) record(bare jid.JID, status string) {
	m.mu.Lock()
	m.pending[bare.String()] = Logout{User: bare.String(), At: m.now(), Status: status}
	m.mu.Unlock()
}

// AccountDeleted forgets a deleted account's pending logout.
func (m *Module) AccountDeleted(_ context.Context, bare jid.JID) {
	m.mu.Lock()
	delete(m.pending, bare.String())
	m.mu.Unlock()
}

// Run commits the recorded logouts every FlushEvery, and once more when
// ctx ends, so that a logout costs no commit of its own (a commit syncs
// the disk, which on a Pi's SD card is slow and wears it) and many share
// one. A crash loses the logouts of the last FlushEvery.
func (m *Module) Run(ctx context.Context) error {
	t := time.NewTicker(m.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			m.commit(context.WithoutCancel(ctx))
			return nil
		case <-t.C:
			m.commit(ctx)
		}
	}
}

// commit stores the pending logouts; on failure they stay pending.
func (m *Module) commit(ctx context.Context) {
	m.mu.Lock()
	if len(m.pending) == 0 {
		m.mu.Unlock()
		return
	}
	batch := make([]Logout, 0, len(m.pending))
	for _, l := range m.pending {
		batch = append(batch, l)
	}
	m.mu.Unlock()
	if err := m.store.SetLastActivities(batch); err != nil {
		m.log.LogAttrs(ctx, slog.LevelWarn, "recording last activity", slog.Int("logouts", len(batch)), slog.Any("err", err))
		return
	}
	m.mu.Lock()
	for _, l := range batch {
		if p, ok := m.pending[l.User]; ok && p == l {
			delete(m.pending, l.User) // not recorded again meanwhile
		}
	}
	m.mu.Unlock()
}

// truncate cuts s to at most n bytes without splitting a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
