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

// Store keeps each account's last logout; *store.Store satisfies it.
type Store interface {
	LastActivity(user string) (at time.Time, status string, found bool, err error)
	SetLastActivity(user string, at time.Time, status string) error
}

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
	Now    func() time.Time
	Logger *slog.Logger
}

// Module answers jabber:iq:last and records logouts.
type Module struct {
	store    Store
	sessions Sessions
	subs     Subscription
	started  time.Time
	now      func() time.Time
	log      *slog.Logger

	mu     sync.Mutex
	status map[jid.JID]string // full JID → status of its unavailable presence
}

// New returns a module.
func New(opts Options) *Module {
	m := &Module{
		store: opts.Store, sessions: opts.Sessions, subs: opts.Subscription,
		started: opts.Started, now: opts.Now, log: opts.Logger,
		status: make(map[jid.JID]string),
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
// accounts, and records logouts from presence and ended sessions.
func (m *Module) Register(r *module.Registry) {
	r.IQ("", NS, "query", m)
	r.Outbound(m)
	r.ObserveSessions(m)
	r.ServerFeatures(NS)
	r.AccountFeatures(NS)
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
	at, status, found, err := m.store.LastActivity(account.String())
	if err != nil {
		return nil, fmt.Errorf("read last activity: %w", err)
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

// Intercept remembers the status of broadcast unavailable presence (RFC
// 6121 §4.5.1) for when the session ends. It never consumes a stanza.
func (m *Module) Intercept(_ context.Context, st *stanza.Stanza) (bool, error) {
	if st.Kind != stanza.Presence || !st.To.IsZero() {
		return false, nil
	}
	switch st.Type {
	case stanza.TypeUnavailable:
		status := truncate(st.El.ChildText(st.El.Name.Space, "status"), maxStatus)
		m.mu.Lock()
		m.status[st.From] = status
		m.mu.Unlock()
	case "":
		m.mu.Lock()
		delete(m.status, st.From)
		m.mu.Unlock()
	}
	return false, nil
}

// SessionEnded records the account's last activity when its last session
// ends. It implements the router's SessionObserver.
func (m *Module) SessionEnded(ctx context.Context, full jid.JID, _ bool) {
	m.mu.Lock()
	status := m.status[full]
	delete(m.status, full)
	m.mu.Unlock()
	bare := full.Bare()
	if len(m.sessions.Connected(bare)) > 0 {
		return
	}
	if err := m.store.SetLastActivity(bare.String(), m.now(), status); err != nil {
		m.log.LogAttrs(ctx, slog.LevelWarn, "recording last activity", slog.String("jid", bare.String()), slog.Any("err", err))
	}
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
