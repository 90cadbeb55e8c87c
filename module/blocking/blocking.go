package blocking

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"roost/jid"
	"roost/module"
	"roost/stanza"
	"roost/xmlstream"
)

// Namespaces.
const (
	NS       = "urn:xmpp:blocking"
	NSErrors = "urn:xmpp:blocking:errors"
)

// DefaultMaxItems bounds a block list when Options.MaxItems is zero.
const DefaultMaxItems = 1000

// Store keeps block lists; *store.Store satisfies it.
type Store interface {
	BlockList(user string, fn func(jid string) error) error
	Block(user string, jids ...string) error
	// Unblock removes jids, or every JID when none are given.
	Unblock(user string, jids ...string) error
}

// Router sends what a change of the list causes; *router.Router satisfies
// it.
type Router interface {
	// Route delivers a stanza whose from is trusted.
	Route(ctx context.Context, st *stanza.Stanza)
	// Deliver sends el to one session.
	Deliver(full jid.JID, el *xmlstream.Element) bool
	// AvailablePresences returns the last presence of each available
	// resource, from set to its full JID.
	AvailablePresences(bare jid.JID) []*xmlstream.Element
}

// Subscription returns the subscription state ("none", "to", "from" or
// "both", RFC 6121 §2.1.2.5) of contact in user's roster.
type Subscription func(ctx context.Context, user, contact jid.JID) (string, error)

// Options configure a Module.
type Options struct {
	Store  Store
	Router Router
	// Subscription decides who gets presence when the list changes; nil
	// sends none.
	Subscription Subscription
	// MaxItems bounds one account's list (default DefaultMaxItems).
	MaxItems int
	Logger   *slog.Logger
}

// Module serves the blocking command and enforces block lists.
type Module struct {
	store  Store
	router Router
	subs   Subscription
	max    int
	log    *slog.Logger

	// loadMu serialises loading lists and changing them, so that a load
	// never publishes a list older than a change made meanwhile.
	loadMu sync.Mutex

	mu         sync.RWMutex
	lists      map[string]*list      // bare JID → its list (immutable)
	interested map[jid.JID][]jid.JID // bare JID → resources that asked for the list
}

// list is one account's block list. It is never modified once published.
type list struct {
	jids map[string]struct{} // canonical JIDs
	// domains is set when some entry is a bare domain, the only kind that
	// also matches subdomains.
	domains bool
}

// noList is the shared empty list.
var noList = &list{}

// New returns a module.
func New(opts Options) *Module {
	m := &Module{
		store: opts.Store, router: opts.Router, subs: opts.Subscription, max: opts.MaxItems, log: opts.Logger,
		lists: make(map[string]*list), interested: make(map[jid.JID][]jid.JID),
	}
	if m.max <= 0 {
		m.max = DefaultMaxItems
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	return m
}

func newList(jids []string) *list {
	if len(jids) == 0 {
		return noList
	}
	l := &list{jids: make(map[string]struct{}, len(jids))}
	for _, s := range jids {
		l.jids[s] = struct{}{}
		if !strings.ContainsAny(s, "@/") {
			l.domains = true
		}
	}
	return l
}

// sorted returns the list's JIDs in byte order.
func (l *list) sorted() []string {
	out := make([]string, 0, len(l.jids))
	for s := range l.jids {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// match applies the JID matching rules of XEP-0191 §6 (XEP-0016 §2.1).
func (l *list) match(j jid.JID) bool {
	if len(l.jids) == 0 {
		return false
	}
	// user@domain/resource, and domain/resource, match only themselves;
	// a bare JID or a domain matches itself too.
	if _, ok := l.jids[j.String()]; ok {
		return true
	}
	// user@domain matches all its resources; for domain/resource the bare
	// JID is the domain, which matches everything at it.
	if j.Resource() != "" {
		if _, ok := l.jids[j.Bare().String()]; ok {
			return true
		}
	}
	d := j.Domain()
	if _, ok := l.jids[d]; ok {
		return true
	}
	if l.domains {
		for i := strings.IndexByte(d, '.'); i >= 0; i = strings.IndexByte(d, '.') {
			d = d[i+1:]
			if _, ok := l.jids[d]; ok {
				return true
			}
		}
	}
	return false
}

// cached returns the loaded list of the bare JID key, nil if it is not
// loaded.
func (m *Module) cached(key string) *list {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.lists[key]
}

// get returns user's list, loading it on first use.
func (m *Module) get(user jid.JID) (*list, error) {
	if l := m.cached(user.String()); l != nil {
		return l, nil
	}
	m.loadMu.Lock()
	defer m.loadMu.Unlock()
	return m.getLocked(user)
}

// getLocked is get with loadMu held.
func (m *Module) getLocked(user jid.JID) (*list, error) {
	key := user.String()
	if l := m.cached(key); l != nil {
		return l, nil
	}
	var jids []string
	err := m.store.BlockList(key, func(j string) error {
		jids = append(jids, j)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load block list: %w", err)
	}
	l := newList(jids)
	m.publish(key, l)
	return l, nil
}

func (m *Module) publish(key string, l *list) {
	m.mu.Lock()
	m.lists[key] = l
	m.mu.Unlock()
}

// IsBlocked reports whether the local account user blocks other. It is
// meant for the IM code (presence broadcast, probes); a store failure is
// logged and counts as not blocked.
func (m *Module) IsBlocked(user, other jid.JID) bool {
	l, err := m.get(user.Bare())
	if err != nil {
		m.log.LogAttrs(context.Background(), slog.LevelError, "checking the block list", slog.String("jid", user.Bare().String()), slog.Any("err", err))
		return false
	}
	return l.match(other)
}

// Forget drops the cached list of a deleted account, so that an account
// created later under the same name starts with an empty list.
func (m *Module) Forget(user jid.JID) {
	m.loadMu.Lock()
	defer m.loadMu.Unlock()
	m.mu.Lock()
	delete(m.lists, user.Bare().String())
	delete(m.interested, user.Bare())
	m.mu.Unlock()
}

// ownTraffic reports stanzas between an account and itself or its server,
// which no block list applies to.
func ownTraffic(account, peer jid.JID) bool {
	return peer.Bare().Equal(account) || (peer.Local() == "" && peer.Resource() == "" && peer.Domain() == account.Domain())
}

// blocks reports whether user's block list matches peer. Traffic without
// a peer and an account's own traffic are never blocked.
func (m *Module) blocks(user, peer jid.JID) (bool, error) {
	if peer.IsZero() || ownTraffic(user, peer) {
		return false, nil
	}
	l, err := m.get(user)
	if err != nil {
		return false, err
	}
	return l.match(peer), nil
}

// Inbound is the router interceptor for stanzas to local accounts. It
// consumes stanzas from JIDs the addressee blocks (XEP-0191 §3.3).
func (m *Module) Inbound(_ context.Context, st *stanza.Stanza) (bool, error) {
	user := st.To.Bare()
	if user.Local() == "" {
		return false, nil
	}
	if blocked, err := m.blocks(user, st.From); !blocked || err != nil {
		return err != nil, err
	}
	switch {
	case st.Kind == stanza.Message && st.Type != stanza.TypeError,
		st.Kind == stanza.IQ && (st.Type == stanza.TypeGet || st.Type == stanza.TypeSet):
		return true, stanza.NewError(stanza.ServiceUnavailable, "")
	}
	return true, nil // presence, errors and IQ results: silently
}

// blockedErr is returned to an account writing to a JID it blocks.
func blockedErr() *stanza.Error {
	return &stanza.Error{Type: stanza.Cancel, Condition: stanza.NotAcceptable, App: xmlstream.New(NSErrors, "blocked")}
}

// Outbound is the router interceptor for stanzas sent by local sessions. It
// refuses stanzas to JIDs the sender blocks (XEP-0191 §3.3). The error goes
// straight to the sending session: routed, it would come from the blocked
// JID and be dropped by the sender's own inbound check.
func (m *Module) Outbound(_ context.Context, st *stanza.Stanza) (bool, error) {
	if blocked, err := m.blocks(st.From.Bare(), st.To); !blocked || err != nil {
		return err != nil, err
	}
	if !st.IsError() && (st.Kind != stanza.IQ || st.Type == stanza.TypeGet || st.Type == stanza.TypeSet) {
		m.router.Deliver(st.From, stanza.ErrorReply(st, blockedErr()))
	}
	return true, nil
}

// SessionEnded forgets that the session asked for the list. It implements
// the router's SessionObserver.
func (m *Module) SessionEnded(_ context.Context, full jid.JID, _ bool) {
	bare := full.Bare()
	m.mu.Lock()
	defer m.mu.Unlock()
	rs := slices.DeleteFunc(m.interested[bare], func(r jid.JID) bool { return r.Equal(full) })
	if len(rs) == 0 {
		delete(m.interested, bare)
	} else {
		m.interested[bare] = rs
	}
}

func (m *Module) markInterested(full jid.JID) {
	bare := full.Bare()
	m.mu.Lock()
	defer m.mu.Unlock()
	if !slices.Contains(m.interested[bare], full) {
		m.interested[bare] = append(m.interested[bare], full)
	}
}

// Name implements module.Module.
func (m *Module) Name() string { return "blocking" }

// Register implements module.Module. Blocking must come first in the
// module list, in both directions: nothing else may see a stanza a block
// list refuses (XEP-0191 §3.3).
func (m *Module) Register(r *module.Registry) {
	for _, local := range []string{"blocklist", "block", "unblock"} {
		r.IQ("", NS, local, m)
	}
	r.Inbound(module.InterceptorFunc(m.Inbound))
	r.Outbound(module.InterceptorFunc(m.Outbound))
	r.ObserveSessions(m)
	r.ObserveAccounts(m)
	r.ServerFeatures(NS)
}

// AccountDeleted forgets the account's list.
func (m *Module) AccountDeleted(_ context.Context, bare jid.JID) { m.Forget(bare) }

// HandleStanza serves <blocklist/>, <block/> and <unblock/>.
func (m *Module) HandleStanza(ctx context.Context, st *stanza.Stanza) (*xmlstream.Element, error) {
	user := st.From.Bare()
	if !st.To.IsZero() && !st.To.Equal(user) && !st.To.Equal(user.DomainJID()) {
		return nil, stanza.NewError(stanza.Forbidden, "a block list belongs to its account only")
	}
	p := st.El.FirstChild()
	switch {
	case p.Is(NS, "blocklist") && st.Type == stanza.TypeGet:
		l, err := m.get(user)
		if err != nil {
			return nil, err
		}
		m.markInterested(st.From)
		return stanza.ResultIQ(st, itemsElement("blocklist", l.sorted())), nil
	case p.Is(NS, "block") && st.Type == stanza.TypeSet:
		jids, err := parseItems(p)
		if err != nil {
			return nil, err
		}
		if len(jids) == 0 {
			return nil, stanza.NewError(stanza.BadRequest, "name at least one JID to block")
		}
		return nil, m.block(ctx, st, jids)
	case p.Is(NS, "unblock") && st.Type == stanza.TypeSet:
		jids, err := parseItems(p)
		if err != nil {
			return nil, err
		}
		return nil, m.unblock(ctx, st, jids)
	case p.Is(NS, "blocklist"), p.Is(NS, "block"), p.Is(NS, "unblock"):
		return nil, stanza.NewError(stanza.BadRequest, "blocklist is read with get, block and unblock are set")
	}
	return nil, stanza.NewError(stanza.ServiceUnavailable, "")
}

// parseItems reads the <item jid=.../> children of a block or unblock
// element, canonical and without duplicates, in document order.
func parseItems(p *xmlstream.Element) ([]jid.JID, error) {
	var out []jid.JID
	for el := range p.Elements() {
		if !el.Is(NS, "item") {
			continue
		}
		j, err := jid.Parse(el.Get("jid"))
		if err != nil {
			return nil, &stanza.Error{Type: stanza.Modify, Condition: stanza.JIDMalformed, Text: fmt.Sprintf("invalid JID %.64q: %v", el.Get("jid"), err)}
		}
		if !slices.Contains(out, j) {
			out = append(out, j)
		}
	}
	return out, nil
}

func itemsElement(name string, jids []string) *xmlstream.Element {
	el := xmlstream.New(NS, name)
	el.Children = make([]xmlstream.Node, 0, len(jids))
	for _, j := range jids {
		el.Append(xmlstream.New(NS, "item").SetAttr("jid", j))
	}
	return el
}

// edit changes the list of st's sender under loadMu and answers st.
// change gets the loaded list and returns the list to publish once the
// store holds it, nil when nothing changed.
func (m *Module) edit(st *stanza.Stanza, change func(l *list) ([]string, error)) error {
	user := st.From.Bare()
	m.loadMu.Lock()
	l, err := m.getLocked(user)
	var next []string
	if err == nil {
		next, err = change(l)
	}
	if err == nil && next != nil {
		m.publish(user.String(), newList(next))
	}
	m.loadMu.Unlock()
	if err != nil {
		return err
	}
	m.router.Deliver(st.From, stanza.ResultIQ(st, nil))
	return nil
}

// block adds jids to the list of st's sender, answers st, then sends what
// the change causes; it returns stanza.ErrReplied on success.
func (m *Module) block(ctx context.Context, st *stanza.Stanza, jids []jid.JID) error {
	user := st.From.Bare()
	var added []jid.JID
	err := m.edit(st, func(l *list) ([]string, error) {
		for _, j := range jids {
			if _, ok := l.jids[j.String()]; !ok {
				added = append(added, j)
			}
		}
		if len(l.jids)+len(added) > m.max {
			return nil, stanza.NewError(stanza.PolicyViolation, fmt.Sprintf("a block list holds at most %d JIDs", m.max))
		}
		if len(added) == 0 {
			return nil, nil
		}
		strs := make([]string, len(added))
		for i, j := range added {
			strs[i] = j.String()
		}
		if err := m.store.Block(user.String(), strs...); err != nil {
			return nil, fmt.Errorf("store block list: %w", err)
		}
		return append(l.sorted(), strs...), nil
	})
	if err != nil {
		return err
	}

	// XEP-0191 §3.3: the contact sees the account go offline.
	for _, j := range added {
		if !m.sharesPresence(ctx, user, j, "from") {
			continue
		}
		for _, p := range m.router.AvailablePresences(user) {
			from, err := jid.Parse(p.Get("from"))
			if err != nil {
				continue
			}
			el := xmlstream.New(xmlstream.NSClient, "presence")
			el.Attrs = make([]xmlstream.Attr, 0, 3)
			el.SetAttr("type", stanza.TypeUnavailable).SetAttr("from", from.String()).SetAttr("to", j.String())
			m.router.Route(ctx, &stanza.Stanza{Kind: stanza.Presence, Type: stanza.TypeUnavailable, From: from, To: j, El: el})
		}
	}
	m.push(user, "block", jids)
	return stanza.ErrReplied
}

// unblock removes jids (all when empty) from the list of st's sender,
// answers st, then sends what the change causes; it returns
// stanza.ErrReplied on success.
func (m *Module) unblock(ctx context.Context, st *stanza.Stanza, jids []jid.JID) error {
	user := st.From.Bare()
	var removed []string
	err := m.edit(st, func(l *list) ([]string, error) {
		if len(jids) == 0 {
			removed = l.sorted()
		} else {
			for _, j := range jids {
				if _, ok := l.jids[j.String()]; ok {
					removed = append(removed, j.String())
				}
			}
		}
		if len(removed) == 0 {
			return nil, nil
		}
		var err error
		if len(jids) == 0 {
			err = m.store.Unblock(user.String())
		} else {
			err = m.store.Unblock(user.String(), removed...)
		}
		if err != nil {
			return nil, fmt.Errorf("store block list: %w", err)
		}
		return slices.DeleteFunc(l.sorted(), func(s string) bool { return slices.Contains(removed, s) }), nil
	})
	if err != nil {
		return err
	}

	// XEP-0191 §3.4: the contact sees the account's presence again, and
	// the account the contact's.
	for _, s := range removed {
		j, err := jid.Parse(s)
		if err != nil {
			continue
		}
		if m.sharesPresence(ctx, user, j, "from") {
			for _, p := range m.router.AvailablePresences(user) {
				from, err := jid.Parse(p.Get("from"))
				if err != nil {
					continue
				}
				m.router.Route(ctx, &stanza.Stanza{Kind: stanza.Presence, From: from, To: j, El: p.WithAttr("to", j.String())})
			}
		}
		if m.sharesPresence(ctx, user, j, "to") {
			el := xmlstream.New(xmlstream.NSClient, "presence")
			el.Attrs = make([]xmlstream.Attr, 0, 3)
			el.SetAttr("type", stanza.TypeProbe).SetAttr("from", user.String()).SetAttr("to", j.Bare().String())
			m.router.Route(ctx, &stanza.Stanza{Kind: stanza.Presence, Type: stanza.TypeProbe, From: user, To: j.Bare(), El: el})
		}
	}
	m.push(user, "unblock", jids)
	return stanza.ErrReplied
}

// sharesPresence reports whether user's subscription with contact is dir
// ("from": contact sees user; "to": user sees contact) or both.
func (m *Module) sharesPresence(ctx context.Context, user, contact jid.JID, dir string) bool {
	if m.subs == nil {
		return false
	}
	sub, err := m.subs(ctx, user, contact.Bare())
	if err != nil {
		m.log.LogAttrs(ctx, slog.LevelWarn, "looking up a subscription", slog.String("jid", user.String()), slog.Any("err", err))
		return false
	}
	return sub == dir || sub == "both"
}

// push sends a block or unblock push to each resource that asked for the
// list (XEP-0191 §3.3, §3.4).
func (m *Module) push(user jid.JID, name string, jids []jid.JID) {
	m.mu.RLock()
	targets := slices.Clone(m.interested[user])
	m.mu.RUnlock()
	if len(targets) == 0 {
		return
	}
	strs := make([]string, len(jids))
	for i, j := range jids {
		strs[i] = j.String()
	}
	payload := itemsElement(name, strs)
	for _, full := range targets {
		iq := xmlstream.New(xmlstream.NSClient, "iq")
		iq.Attrs = make([]xmlstream.Attr, 0, 3)
		iq.SetAttr("type", stanza.TypeSet).SetAttr("id", "push-"+rand.Text()).SetAttr("to", full.String())
		m.router.Deliver(full, iq.Append(payload))
	}
}
