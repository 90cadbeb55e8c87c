package im

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"

	"roost/jid"
	"roost/module"
	"roost/stanza"
	"roost/xmlstream"
)

// Store is what im needs from persistent storage; *store.Store satisfies
// it. Users and contacts are bare JIDs in string form.
type Store interface {
	RosterItems(user string, fn func(contact string, item []byte) error) (ver uint64, err error)
	RosterItem(user, contact string) (item []byte, found bool, err error)
	UpdateRosterItem(user, contact string, fn func(old []byte) (new []byte, err error)) (ver uint64, changed bool, err error)
	RosterChanges(user string, since uint64, fn func(contact string, item []byte) error) (ver uint64, ok bool, err error)
	RosterCount(user string, is func(item []byte) bool) (n, matched int, err error)
}

// Router is what im needs from the session table; *router.Router
// satisfies it.
type Router interface {
	Route(ctx context.Context, st *stanza.Stanza)
	Deliver(full jid.JID, el *xmlstream.Element) bool
	// DeliverTracked hands el to the session full and has it tell t
	// whether its client got el; tracked is false for a session that
	// cannot tell, which took el if sent.
	DeliverTracked(full jid.JID, el *xmlstream.Element, t Tracker) (sent, tracked bool)
	Available(bare jid.JID) []jid.JID
	Interested(bare jid.JID) []jid.JID
	AvailablePresences(bare jid.JID) []*xmlstream.Element
	SetInterested(full jid.JID)
}

// Options configure an IM.
type Options struct {
	Store  Store
	Router Router
	// MaxRosterItems bounds a roster (default 1000).
	MaxRosterItems int
	// MaxSubscriptionRequests bounds the subscription requests from
	// strangers (contacts not in the roster) waiting for the user's
	// answer (default 100); they do not count against MaxRosterItems.
	// Past it, a new stranger's request is refused with
	// resource-constraint and the waiting ones are kept.
	MaxSubscriptionRequests int
	// Blocked reports whether user blocks other (XEP-0191): blocked
	// contacts get no presence broadcasts and no probe answers.
	Blocked func(user, other jid.JID) bool
	// OnAvailable is called when a resource becomes available with a
	// non-negative priority, after initial presence has been handled
	// (offline messages are delivered then, XEP-0160).
	OnAvailable func(ctx context.Context, full jid.JID)
	// BatchBytes is how much of the stored subscription requests is
	// handed to a session at a time, at least one (0: 512 KiB); see
	// requests.go.
	BatchBytes int
	Logger     *slog.Logger
}

// IM handles rosters, subscriptions and presence. See the package
// documentation.
type IM struct {
	st       Store
	r        Router
	maxItems int
	maxReqs  int
	blocked  func(user, other jid.JID) bool
	onAvail  func(ctx context.Context, full jid.JID)
	log      *slog.Logger
	// batchBytes bounds a batch of subscription requests (requests.go).
	batchBytes int
	pushID     atomic.Uint64

	mu       sync.Mutex
	sessions map[string]*session            // full JID → presence state
	errored  map[string]map[string]struct{} // user → contacts that sent presence errors
}

// session is what im remembers about one resource's presence.
type session struct {
	initial  bool               // initial presence handled; reset by unavailable
	directed map[string]jid.JID // directed presence recipients (§4.6)
}

// New returns an IM.
func New(opts Options) *IM {
	m := &IM{
		st:       opts.Store,
		r:        opts.Router,
		maxItems: opts.MaxRosterItems,
		maxReqs:  opts.MaxSubscriptionRequests,
		blocked:  opts.Blocked,
		onAvail:  opts.OnAvailable,
		log:      opts.Logger,
		// 512 KiB: an eighth of a session's default queue (queue_bytes).
		batchBytes: cmp.Or(max(opts.BatchBytes, 0), 512<<10),
		sessions:   make(map[string]*session),
		errored:    make(map[string]map[string]struct{}),
	}
	if m.maxItems <= 0 {
		m.maxItems = 1000
	}
	if m.maxReqs <= 0 {
		m.maxReqs = 100
	}
	if m.blocked == nil {
		m.blocked = func(jid.JID, jid.JID) bool { return false }
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	return m
}

// Stream features that advertise roster versioning (§2.6) and
// subscription pre-approval (§3.4).
const (
	nsRosterVer   = "urn:xmpp:features:rosterver"
	nsPreApproval = "urn:xmpp:features:pre-approval"
)

// Features returns the stream features im adds after authentication.
func (m *IM) Features() []*xmlstream.Element {
	return []*xmlstream.Element{xmlstream.New(nsRosterVer, "ver"), xmlstream.New(nsPreApproval, "sub")}
}

// Name implements module.Module.
func (m *IM) Name() string { return "im" }

// Register implements module.Module: the roster, and presence and
// subscriptions in both directions.
func (m *IM) Register(r *module.Registry) {
	r.IQ("", NSRoster, "query", m)
	r.Outbound(module.InterceptorFunc(m.InterceptOutbound))
	r.Inbound(module.InterceptorFunc(m.InterceptInbound))
	r.ObserveSessions(m)
	r.StreamFeatures(module.AfterAuth, m.Features()...)
}

// Subscription returns the state of user's subscription with contact:
// "none", "to", "from" or "both".
func (m *IM) Subscription(ctx context.Context, user, contact jid.JID) (string, error) {
	return Rosters{m.st}.Subscription(ctx, user, contact)
}

func (m *IM) item(user, contact jid.JID) (item, error) {
	return Rosters{m.st}.item(user, contact)
}

// RosterReader reads one roster item; *store.Store satisfies it.
type RosterReader interface {
	RosterItem(user, contact string) (item []byte, found bool, err error)
}

// Rosters reads subscription states straight from the stored rosters. It
// needs no IM, so that features built before im in the server's module
// list (blocking, last activity, service discovery) can ask who may see
// an account's presence.
type Rosters struct{ Store RosterReader }

// Subscription returns the state of user's subscription with contact:
// "none", "to", "from" or "both" (RFC 6121 §2.1.2.5).
func (r Rosters) Subscription(_ context.Context, user, contact jid.JID) (string, error) {
	it, err := r.item(user, contact)
	if err != nil {
		return "", err
	}
	return it.Sub.String(), nil
}

// Groups returns the roster groups user put contact in, nil when contact
// is not in user's roster (RFC 6121 §2.1.2.4). Personal eventing's
// roster access model reads them (XEP-0060 §4.5).
func (r Rosters) Groups(_ context.Context, user, contact jid.JID) ([]string, error) {
	it, err := r.item(user, contact)
	if err != nil || !it.InRoster {
		return nil, err
	}
	return it.Groups, nil
}

func (r Rosters) item(user, contact jid.JID) (item, error) {
	b, found, err := r.Store.RosterItem(user.Bare().String(), contact.Bare().String())
	if err != nil || !found {
		return item{}, err
	}
	return decodeItem(b)
}

// update applies fn to user's item for contact in one store transaction.
// fn returns the new item; wasInRoster tells whether the old one was
// visible.
func (m *IM) update(user, contact jid.JID, fn func(it item) item) (old, updated item, ver uint64, err error) {
	ver, _, err = m.st.UpdateRosterItem(user.String(), contact.String(), func(b []byte) ([]byte, error) {
		cur, err := decodeItem(b)
		if err != nil {
			return nil, err
		}
		old = cur
		updated = fn(cur)
		return updated.encode()
	})
	if err != nil {
		return item{}, item{}, 0, fmt.Errorf("update roster item: %w", err)
	}
	return old, updated, ver, nil
}

// push sends a roster push for contact to the user's interested
// resources (§2.1.6).
func (m *IM) push(user jid.JID, itemEl *xmlstream.Element, ver string) {
	for _, full := range m.r.Interested(user) {
		m.r.Deliver(full, m.pushElement(full, itemEl, ver))
	}
}

func (m *IM) pushElement(to jid.JID, itemEl *xmlstream.Element, ver string) *xmlstream.Element {
	q := xmlstream.New(NSRoster, "query")
	if ver != "" {
		q.SetAttr("ver", ver)
	}
	q.Append(itemEl)
	return xmlstream.New(xmlstream.NSClient, "iq").
		SetAttr("type", stanza.TypeSet).
		SetAttr("id", "push"+strconv.FormatUint(m.pushID.Add(1), 10)).
		SetAttr("to", to.String()).
		Append(q)
}

// pushItem pushes the new state of an item that changed.
func (m *IM) pushItem(user, contact jid.JID, old, it item, ver uint64) {
	switch {
	case it.InRoster:
		m.push(user, it.element(contact.String()), strconv.FormatUint(ver, 10))
	case old.InRoster:
		m.push(user, removedElement(contact.String()), strconv.FormatUint(ver, 10))
	}
}

// route sends a stanza built by the server; the router answers delivery
// problems itself.
func (m *IM) route(ctx context.Context, kind stanza.Kind, typ string, from, to jid.JID, el *xmlstream.Element) {
	m.r.Route(ctx, &stanza.Stanza{Kind: kind, Type: typ, From: from, To: to, El: el})
}

// presence builds a presence stanza with the given type (may be "").
func presence(typ string, from, to jid.JID) *xmlstream.Element {
	el := xmlstream.New(xmlstream.NSClient, "presence")
	el.Attrs = make([]xmlstream.Attr, 0, 3)
	if typ != "" {
		el.SetAttr("type", typ)
	}
	return el.SetAttr("from", from.String()).SetAttr("to", to.String())
}
