package mam

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"roost/archive"
	"roost/jid"
	"roost/module"
	"roost/stanza"
	"roost/xmlstream"
)

// Namespaces of the payloads that make a message worth archiving, or not.
const (
	nsHints      = "urn:xmpp:hints"
	nsChatStates = "http://jabber.org/protocol/chatstates"
	nsReceipts   = "urn:xmpp:receipts"
	nsMarkers    = "urn:xmpp:chat-markers:0"
	nsConference = "jabber:x:conference"
	nsMUCUser    = "http://jabber.org/protocol/muc#user"
	nsEME        = "urn:xmpp:eme:0"
)

// encrypted are the payloads of end-to-end encrypted messages, which have
// no body (or only a fallback one) but are the conversation.
var encrypted = []xmlstream.Name{
	{Space: "eu.siacs.conversations.axolotl", Local: "encrypted"}, // OMEMO 0.3
	{Space: "urn:xmpp:omemo:2", Local: "encrypted"},               // OMEMO 0.8+
	{Space: "urn:xmpp:openpgp:0", Local: "openpgp"},               // XEP-0373
	{Space: "jabber:x:encrypted", Local: "x"},                     // XEP-0027
}

// PrefsStore keeps accounts' archiving preferences; *store.Store
// satisfies it. Users are bare JIDs in string form.
type PrefsStore interface {
	ArchivePrefs(user string) ([]byte, bool, error)
	PutArchivePrefs(user string, v []byte) error
}

// Router delivers query results to the querying session; *router.Router
// satisfies it.
type Router interface {
	Deliver(full jid.JID, el *xmlstream.Element) bool
	// IsLocal reports whether domain is an account domain: archives whose
	// owner is at one are account archives.
	IsLocal(domain string) bool
}

// InRoster reports whether contact is in user's roster, for the "roster"
// default.
type InRoster func(ctx context.Context, user, contact jid.JID) (bool, error)

// Options configure the archive of accounts.
type Options struct {
	Archive archive.Store
	Prefs   PrefsStore
	Trimmer archive.Trimmer
	Router  Router
	// InRoster answers the "roster" default; nil treats every contact as
	// not in the roster.
	InRoster InRoster
	// Default is what accounts without preferences of their own archive:
	// Always, Roster or Never (Always if empty).
	Default string
	// KeepFor is how long messages are kept (0: forever); MaxSize the most
	// bytes one account's archive keeps, the newest (0: no cap).
	KeepFor time.Duration
	MaxSize int64
	// SweepEvery is how often retention is applied (1h).
	SweepEvery time.Duration
	// Limits bound queries; XML the parse of archived messages.
	Limits archive.Limits
	XML    xmlstream.Limits
	Now    func() time.Time
	Logger *slog.Logger
}

// MAM is the message archive of accounts.
type MAM struct {
	opts Options
	log  *slog.Logger

	mu    sync.RWMutex
	prefs map[string]*prefs // bare JID → preferences, as read or set
}

// New returns the archive of accounts.
func New(opts Options) *MAM {
	if opts.Default == "" {
		opts.Default = Always
	}
	if opts.SweepEvery <= 0 {
		opts.SweepEvery = time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &MAM{opts: opts, log: opts.Logger, prefs: make(map[string]*prefs)}
}

// Name implements module.Module.
func (m *MAM) Name() string { return "mam" }

// Register implements module.Module.
func (m *MAM) Register(r *module.Registry) {
	r.Outbound(module.InterceptorFunc(m.outbound))
	r.Inbound(module.InterceptorFunc(m.inbound))
	r.IQ(stanza.TypeSet, archive.NS, "query", module.HandlerFunc(m.query))
	r.IQ(stanza.TypeGet, archive.NS, "query", module.HandlerFunc(m.form))
	r.IQ(stanza.TypeGet, archive.NS, "metadata", module.HandlerFunc(m.metadata))
	r.IQ("", archive.NS, "prefs", module.HandlerFunc(m.setPrefs))
	r.ObserveAccounts(m)
	// XEP-0313 §6: on the archive's JID, the account's bare JID;
	// XEP-0359 §4 for the stanza-id the archive stamps.
	r.AccountFeatures(archive.NS, archive.NSExtended, archive.NSStanzaID)
	if m.opts.KeepFor > 0 || m.opts.MaxSize > 0 {
		r.Job("retention", m.sweep)
	}
}

// Seal returns the module, placed after carbons in the server's list, that
// takes the sender's stanza-id off a sent message before it leaves:
// XEP-0313 §3.5 puts it on the sender's carbon copies, never on what the
// recipient gets.
func (m *MAM) Seal() module.Module { return seal{} }

type seal struct{}

func (seal) Name() string { return "mam-seal" }

func (s seal) Register(r *module.Registry) { r.Outbound(module.InterceptorFunc(s.intercept)) }

func (seal) intercept(_ context.Context, st *stanza.Stanza) (bool, error) {
	if st.Kind != stanza.Message || st.From.IsZero() {
		return false, nil
	}
	owner := st.From.Bare()
	if st.To.IsZero() || st.To.Bare().Equal(owner) {
		return false, nil // to the account itself, which may read its archive
	}
	st.El = archive.Strip(st.El, owner.String())
	return false, nil
}

// AccountDeleted implements module.AccountObserver: the archive goes with
// the account in the store; the cached preferences go here.
func (m *MAM) AccountDeleted(_ context.Context, bare jid.JID) {
	m.mu.Lock()
	delete(m.prefs, bare.String())
	m.mu.Unlock()
}

// outbound archives what a local session sends, in the sender's archive,
// and stamps the stanza-id before carbons copies it (XEP-0313 §3.5).
func (m *MAM) outbound(ctx context.Context, st *stanza.Stanza) (bool, error) {
	if st.Kind != stanza.Message {
		return false, nil
	}
	owner := st.From.Bare()
	// XEP-0359 §3: only the archive says where it keeps a message.
	st.El = archive.Strip(st.El, owner.String())
	with := st.To
	if with.IsZero() {
		with = owner // RFC 6120 §10.3.1: to the account's bare JID
	}
	m.archive(ctx, st, owner, with)
	return false, nil
}

// inbound archives what an account receives, in its archive, and stamps
// the stanza-id before delivery, carbons and offline storage see it.
func (m *MAM) inbound(ctx context.Context, st *stanza.Stanza) (bool, error) {
	if st.Kind != stanza.Message {
		return false, nil
	}
	owner := st.To.Bare()
	if st.From.Bare().Equal(owner) {
		// Sent by the account to itself: archived, and stamped, on the
		// way out.
		return false, nil
	}
	if id, ok := archive.StanzaID(st.El, owner.String()); ok && m.archived(owner, id) {
		// Archived and stamped already: a message a session with stream
		// management never acknowledged, handed back for delivery to
		// another resource or offline storage. A forged stanza-id cannot
		// name an archived message: ids are unpredictable.
		return false, nil
	}
	st.El = archive.Strip(st.El, owner.String())
	m.archive(ctx, st, owner, st.From)
	return false, nil
}

// archived reports whether id names a message in owner's archive.
func (m *MAM) archived(owner jid.JID, id archive.ID) bool {
	_, _, err := m.opts.Archive.Page(owner.String(), archive.Range{Known: []archive.ID{id}})
	return err == nil
}

// archive stores st in owner's archive if it is worth it and the owner's
// preferences allow, and stamps its stanza-id. A failure to archive is
// logged, not returned: the message is still delivered.
func (m *MAM) archive(ctx context.Context, st *stanza.Stanza, owner, with jid.JID) {
	if !worthArchiving(st) || with.IsZero() || !m.wants(ctx, owner, with) {
		return
	}
	// Addressed as routed; the router would make the same copy to
	// deliver it, and finds it made.
	el := st.Element()
	sc := scratchPool.Get().(*scratch)
	sc.buf = xmlstream.AppendElement(sc.buf[:0], sc.stored(el), "")
	id, err := m.opts.Archive.Append(owner.String(), true, with.Bare().String(), with.Resource(), sc.buf)
	sc.release()
	if err != nil {
		m.log.LogAttrs(ctx, slog.LevelError, "archiving a message", slog.String("owner", owner.String()), slog.Any("err", err))
		return
	}
	st.El = archive.Stamp(el, owner.String(), id)
}

// scratch is what serialising a message for the archive needs, pooled:
// nothing on the routing path allocates for it (the store copies the
// bytes into its queue).
type scratch struct {
	buf  []byte
	kids []xmlstream.Node
	el   xmlstream.Element
}

var scratchPool = sync.Pool{New: func() any { return &scratch{buf: make([]byte, 0, 1024)} }}

// stored returns the message as archived: in the client namespace, and
// without chat states, which mean nothing later (most clients send
// <active/> with every message). It may return sc.el, valid until
// release.
func (sc *scratch) stored(el *xmlstream.Element) *xmlstream.Element {
	states := false
	for c := range el.Elements() {
		if c.Name.Space == nsChatStates {
			states = true
			break
		}
	}
	if !states && el.Name.Space == xmlstream.NSClient {
		return el
	}
	sc.el = xmlstream.Element{Name: xmlstream.Name{Space: xmlstream.NSClient, Local: el.Name.Local}, Attrs: el.Attrs, Children: el.Children}
	if states {
		sc.kids = sc.kids[:0]
		for _, n := range el.Children {
			if n.Elem == nil || n.Elem.Name.Space != nsChatStates {
				sc.kids = append(sc.kids, n)
			}
		}
		sc.el.Children = sc.kids
	}
	return &sc.el
}

// release returns sc to the pool, without the message it pointed to.
func (sc *scratch) release() {
	clear(sc.kids)
	sc.el = xmlstream.Element{}
	if cap(sc.buf) > 64<<10 {
		sc.buf = make([]byte, 0, 1024) // a huge message: do not keep its buffer
	}
	scratchPool.Put(sc)
}

// worthArchiving tells the messages that are the conversation (XEP-0313
// §5.1.1: chat and normal messages with a body; and, as Prosody's mod_mam
// does, their end-to-end encrypted forms, receipts and chat markers that
// sync read state, invitations and call messages) from what is only about
// the moment: chat states, errors, headlines, group chat (the room keeps
// its own archive), and anything marked no-store (XEP-0334).
func worthArchiving(st *stanza.Stanza) bool {
	if st.Type != stanza.TypeChat && st.Type != stanza.TypeNormal {
		return false
	}
	worth := false
	for c := range st.El.Elements() {
		switch {
		case c.Name.Space == nsHints:
			switch c.Name.Local {
			case "no-store", "no-permanent-store":
				return false
			case "store":
				worth = true
			}
		case xmlstream.IsContentNamespace(c.Name.Space) && (c.Name.Local == "body" || c.Name.Local == "subject"):
			worth = true
		case c.Name.Space == nsReceipts, c.Name.Space == nsMarkers, c.Name.Space == nsEME,
			c.Name.Space == nsConference, c.Name.Space == "urn:xmpp:jingle-message:0", c.Name.Space == "urn:xmpp:jingle-message:1":
			worth = true
		case c.Is(nsMUCUser, "x") && c.Child(nsMUCUser, "invite") != nil:
			worth = true
		case slices.Contains(encrypted, c.Name):
			worth = true
		}
	}
	return worth
}

// wants applies owner's preferences to a message exchanged with with.
func (m *MAM) wants(ctx context.Context, owner, with jid.JID) bool {
	p, err := m.prefsOf(owner)
	if err != nil {
		m.log.LogAttrs(ctx, slog.LevelError, "reading archive preferences", slog.String("owner", owner.String()), slog.Any("err", err))
		return m.opts.Default == Always
	}
	switch p.rule(with.Bare().String()) {
	case Always:
		return true
	case Roster:
		if with.Bare().Equal(owner) {
			return true // one's own account is always "in the roster"
		}
		if m.opts.InRoster == nil {
			return false
		}
		in, err := m.opts.InRoster(ctx, owner, with.Bare())
		if err != nil {
			m.log.LogAttrs(ctx, slog.LevelError, "reading the roster", slog.String("owner", owner.String()), slog.Any("err", err))
		}
		return in
	}
	return false
}

// prefsOf returns owner's preferences: cached, stored, or the server's
// default.
func (m *MAM) prefsOf(owner jid.JID) (*prefs, error) {
	key := owner.String()
	m.mu.RLock()
	p, ok := m.prefs[key]
	m.mu.RUnlock()
	if ok {
		return p, nil
	}
	b, found, err := m.opts.Prefs.ArchivePrefs(key)
	if err != nil {
		return nil, err
	}
	p = &prefs{def: m.opts.Default}
	if found {
		el, err := xmlstream.Parse(b, m.opts.XML)
		if err == nil {
			p, err = parsePrefs(el)
		}
		if err != nil {
			return nil, fmt.Errorf("decode archive preferences: %w", err)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if cur, ok := m.prefs[key]; ok {
		return cur, nil // set meanwhile: newer than what was read
	}
	m.prefs[key] = p
	return p, nil
}

// own checks that an archive request comes from the account whose archive
// it addresses (XEP-0313 §9.1: forbidden otherwise), and returns it.
func own(st *stanza.Stanza) (jid.JID, error) {
	owner := st.From.Bare()
	if st.From.Resource() == "" || (!st.To.IsZero() && !st.To.Equal(owner)) {
		return jid.JID{}, stanza.NewError(stanza.Forbidden, "an archive is only for its own account")
	}
	return owner, nil
}

// query answers an archive query (XEP-0313 §4).
func (m *MAM) query(ctx context.Context, st *stanza.Stanza) (*xmlstream.Element, error) {
	owner, err := own(st)
	if err != nil {
		return nil, err
	}
	q, err := archive.ParseQuery(st.El.FirstChild(), m.opts.Limits)
	if err != nil {
		return nil, err
	}
	res, err := archive.Answer(m.opts.Archive, owner, st, q, m.opts.XML, func(el *xmlstream.Element) {
		m.opts.Router.Deliver(st.From, el)
	})
	var se *stanza.Error
	if err != nil && !errors.As(err, &se) {
		m.log.LogAttrs(ctx, slog.LevelError, "archive query", slog.String("owner", owner.String()), slog.Any("err", err))
	}
	return res, err
}

// form answers the request for the query form (§4.1.5).
func (m *MAM) form(_ context.Context, st *stanza.Stanza) (*xmlstream.Element, error) {
	if _, err := own(st); err != nil {
		return nil, err
	}
	return stanza.ResultIQ(st, archive.Form()), nil
}

// metadata answers the archive metadata request (§5).
func (m *MAM) metadata(_ context.Context, st *stanza.Stanza) (*xmlstream.Element, error) {
	owner, err := own(st)
	if err != nil {
		return nil, err
	}
	first, last, err := m.opts.Archive.Bounds(owner.String())
	if err != nil {
		return nil, fmt.Errorf("read archive metadata: %w", err)
	}
	return stanza.ResultIQ(st, archive.Metadata(first, last)), nil
}

// setPrefs reads (get) or replaces (set) the account's archiving
// preferences (XEP-0441 §3, §4).
func (m *MAM) setPrefs(_ context.Context, st *stanza.Stanza) (*xmlstream.Element, error) {
	owner, err := own(st)
	if err != nil {
		return nil, err
	}
	if st.Type == stanza.TypeSet {
		p, err := parsePrefs(st.El.FirstChild())
		if err != nil {
			return nil, err
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		if err := m.opts.Prefs.PutArchivePrefs(owner.String(), xmlstream.AppendElement(nil, p.element(), "")); err != nil {
			return nil, fmt.Errorf("store archive preferences: %w", err)
		}
		m.prefs[owner.String()] = p
		return stanza.ResultIQ(st, p.element()), nil
	}
	p, err := m.prefsOf(owner)
	if err != nil {
		return nil, err
	}
	return stanza.ResultIQ(st, p.element()), nil
}
