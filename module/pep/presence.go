package pep

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"time"

	"roost/discoinfo"
	"roost/jid"
	"roost/stanza"
	"roost/xmlstream"
)

// caps is what PEP knows of one client version (XEP-0115 §5): the nodes
// it asks notifications for with "+notify" features (XEP-0163 §4.2).
// One value is shared by every resource that announces the same
// verification string; it is learnt once, with one disco#info request.
type caps struct {
	node, ver string
	known     bool
	notify    map[string]struct{}
	// query is the id of the disco#info request in flight, sent at
	// asked; "" when none is.
	query string
	asked time.Time
	// waiting are the resources to send last items to once known.
	waiting []waiter
}

// wants reports whether the client asked for notifications of node.
func (c *caps) wants(node string) bool {
	_, ok := c.notify[node]
	return ok
}

type waiter struct{ owner, full jid.JID }

// watcher is an available resource whose interests PEP follows.
type watcher struct {
	full jid.JID
	caps *caps
}

// capsQuery is a disco#info request in flight.
type capsQuery struct {
	owner, to jid.JID
	caps      *caps
}

const (
	// askAgain is how long an unanswered disco#info request blocks
	// another one for the same verification string.
	askAgain = 30 * time.Second
	// maxWaiting bounds the resources waiting for one answer; more only
	// get items published later.
	maxWaiting = 64
)

// outbound follows the presence of the account's own resources: they
// get the owner's notifications as their clients ask (XEP-0163 §4), and
// carry the avatar's hash (XEP-0398 §4). Everything else passes
// untouched, and costs a comparison.
func (m *Module) outbound(ctx context.Context, st *stanza.Stanza) (bool, error) {
	if st.Kind != stanza.Presence {
		return false, nil
	}
	switch st.Type {
	case "":
		m.injectAvatar(ctx, st)
		if st.To.IsZero() {
			m.available(ctx, st.From.Bare(), st.From, st.El, true)
		}
	case stanza.TypeUnavailable:
		if st.To.IsZero() {
			m.forget(st.From.Bare(), st.From)
		}
	}
	return false, nil
}

// inbound follows the presence contacts send to an account, and takes
// the answers to PEP's own requests and notifications. A message that
// is not an error costs a comparison.
func (m *Module) inbound(ctx context.Context, st *stanza.Stanza) (bool, error) {
	switch st.Kind {
	case stanza.Message:
		if st.Type == stanza.TypeError && strings.HasPrefix(st.ID, m.prefix) {
			// A notification bounced (XEP-0163 §4.3.1): its recipient is
			// gone.
			m.forget(st.To.Bare(), st.From)
			return true, nil
		}
	case stanza.IQ:
		if (st.Type == stanza.TypeResult || st.Type == stanza.TypeError) && strings.HasPrefix(st.ID, m.prefix) {
			m.answered(ctx, st)
			return true, nil
		}
	case stanza.Presence:
		owner := st.To.Bare()
		if st.From.IsZero() || st.From.Bare().Equal(owner) {
			return false, nil // the account's own resources are followed on the way out
		}
		switch st.Type {
		case "":
			if st.From.Resource() != "" {
				m.available(ctx, owner, st.From, st.El, false)
			}
		case stanza.TypeUnavailable, stanza.TypeError, stanza.TypeUnsubscribe:
			m.forget(owner, st.From)
		}
	}
	return false, nil
}

// SessionEnded implements the router's SessionObserver: a resource that
// went away without unavailable presence is no longer followed.
func (m *Module) SessionEnded(_ context.Context, full jid.JID, _ bool) {
	m.forget(full.Bare(), full)
}

// available handles available presence from full to owner, or from one
// of owner's own resources (self): with entity capabilities it decides
// whether the resource wants any of owner's nodes (XEP-0163 §4.2), asks
// its client once per version, and sends it the last items
// (XEP-0163 §4.3.4). Presence without caps keeps what is known (servers
// may strip unchanged caps, XEP-0115 §8.4); a presence whose caps are
// already known for the resource costs two map lookups.
func (m *Module) available(ctx context.Context, owner, full jid.JID, el *xmlstream.Element, self bool) {
	c := el.Child(NSCaps, "c")
	if c == nil {
		return
	}
	node, ver := c.Get("node"), c.Get("ver")
	if c.Get("hash") != "sha-1" || node == "" || ver == "" {
		m.forget(owner, full) // legacy or unknown hashes: not followed
		return
	}
	m.mu.Lock()
	if w, ok := m.watchers[owner.String()][full.String()]; ok && w.caps.node == node && w.caps.ver == ver {
		// Followed already. Unless its version is still unknown and
		// nobody is asking (a request lost or refused): then ask it.
		ask := ""
		if cp := w.caps; !cp.known && (cp.query == "" || m.now().Sub(cp.asked) > askAgain) {
			ask = m.newQuery(owner, full, cp)
		}
		m.mu.Unlock()
		if ask != "" {
			m.sendQuery(ctx, owner, full, w.caps, ask)
		}
		return
	}
	key := node + "#" + ver
	cp := m.capsByVer[key]
	if cp == nil {
		cp = &caps{node: node, ver: ver}
		m.rememberCaps(key, cp)
	}
	uninterested := cp.known && len(cp.notify) == 0
	m.mu.Unlock()
	if uninterested {
		m.forget(owner, full)
		return
	}
	if !self && !m.sharesPresence(ctx, owner, full) {
		return
	}
	var ask string
	m.mu.Lock()
	added := m.watch(owner, full, cp)
	known := cp.known
	if added && !known {
		if len(cp.waiting) < maxWaiting {
			cp.waiting = append(cp.waiting, waiter{owner, full})
		}
		if cp.query == "" || m.now().Sub(cp.asked) > askAgain {
			ask = m.newQuery(owner, full, cp)
		}
	}
	m.mu.Unlock()
	switch {
	case ask != "":
		m.sendQuery(ctx, owner, full, cp, ask)
	case added && known:
		m.sendLastOnPresence(ctx, owner, full, cp)
	}
}

// newQuery records a disco#info request to full about cp and returns its
// id, replacing any earlier one. Call with m.mu held.
func (m *Module) newQuery(owner, full jid.JID, cp *caps) string {
	delete(m.asked, cp.query)
	id := m.nextID('c')
	cp.query, cp.asked = id, m.now()
	m.asked[id] = &capsQuery{owner: owner, to: full, caps: cp}
	return id
}

// sendQuery asks full's client what cp's version means, from the owner's
// bare JID (XEP-0115 §6.2), naming the node#ver it announced.
func (m *Module) sendQuery(ctx context.Context, owner, full jid.JID, cp *caps, id string) {
	q := xmlstream.New(discoinfo.NSInfo, "query").SetAttr("node", cp.node+"#"+cp.ver)
	iq := xmlstream.New(xmlstream.NSClient, "iq")
	iq.Attrs = make([]xmlstream.Attr, 0, 4)
	iq.SetAttr("type", stanza.TypeGet).SetAttr("id", id).SetAttr("from", owner.String()).SetAttr("to", full.String())
	m.send(ctx, stanza.IQ, stanza.TypeGet, owner, full, id, iq.Append(q))
}

// sharesPresence reports whether contact may see owner's presence: only
// such contacts are followed (XEP-0163 §4, Prosody does the same); the
// access model of each node decides the rest when notifying.
func (m *Module) sharesPresence(ctx context.Context, owner, contact jid.JID) bool {
	sub, err := m.rosters.Subscription(ctx, owner, contact.Bare())
	if err != nil {
		m.log.LogAttrs(ctx, slog.LevelWarn, "reading a subscription", slog.String("owner", owner.String()), slog.Any("err", err))
		return false
	}
	return sub == "from" || sub == "both"
}

// rememberCaps caches cp, making room by forgetting another version when
// the cache is full. Resources still pointing at the forgotten one keep
// it. Call with m.mu held.
func (m *Module) rememberCaps(key string, cp *caps) {
	if len(m.capsByVer) >= m.lim.CapsCache {
		for k, old := range m.capsByVer {
			delete(m.capsByVer, k)
			delete(m.asked, old.query)
			break
		}
	}
	m.capsByVer[key] = cp
}

// watch follows full for owner, within the limit; it reports whether
// full is followed now. Call with m.mu held.
func (m *Module) watch(owner, full jid.JID, cp *caps) bool {
	w := m.watchers[owner.String()]
	if w == nil {
		w = make(map[string]watcher)
		m.watchers[owner.String()] = w
	}
	if _, ok := w[full.String()]; !ok && len(w) >= m.lim.MaxWatchers {
		return false
	}
	w[full.String()] = watcher{full, cp}
	return true
}

// forget stops following full for owner; a bare JID stops all its
// resources.
func (m *Module) forget(owner, full jid.JID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	w := m.watchers[owner.String()]
	if w == nil {
		return
	}
	if full.Resource() != "" {
		delete(w, full.String())
	} else {
		for k, v := range w {
			if v.full.Bare().Equal(full) {
				delete(w, k)
			}
		}
	}
	if len(w) == 0 {
		delete(m.watchers, owner.String())
	}
}

// nextWaiter drops from cp's waiting list the resources no longer
// following it and not, and returns the first one left. Call with m.mu
// held.
func (m *Module) nextWaiter(cp *caps, not jid.JID) (waiter, bool) {
	cp.waiting = slices.DeleteFunc(cp.waiting, func(w waiter) bool {
		return w.full.Equal(not) || m.watchers[w.owner.String()][w.full.String()].caps != cp
	})
	if len(cp.waiting) == 0 {
		return waiter{}, false
	}
	return cp.waiting[0], true
}

// interested returns the resources following owner whose clients asked
// for notifications of node.
func (m *Module) interested(owner jid.JID, node string) []jid.JID {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []jid.JID
	for _, w := range m.watchers[owner.String()] {
		if w.caps.wants(node) {
			out = append(out, w.full)
		}
	}
	return out
}

// answered takes the answer to a disco#info request PEP sent. A result
// whose verification string matches (XEP-0115 §5.4) teaches the
// interests of every resource of that client version; one that does not
// is believed for the resource that sent it only, and an error teaches
// nothing: then another resource waiting for the version is asked.
func (m *Module) answered(ctx context.Context, st *stanza.Stanza) {
	m.mu.Lock()
	q := m.asked[st.ID]
	delete(m.asked, st.ID)
	if q != nil && q.caps.query == st.ID {
		q.caps.query = ""
	}
	m.mu.Unlock()
	if q == nil || !st.From.Equal(q.to) {
		return
	}
	var info discoinfo.Info
	verified := false
	if st.Type == stanza.TypeResult {
		var err error
		info, err = discoinfo.Parse(st.El.Child(discoinfo.NSInfo, "query"))
		if err == nil {
			ver, err := info.Ver()
			verified = err == nil && ver == q.caps.ver
		}
	}
	notify := map[string]struct{}{}
	for _, f := range info.Features {
		if n, ok := strings.CutSuffix(f, "+notify"); ok && n != "" {
			notify[n] = struct{}{}
		}
	}
	type serve struct {
		w  waiter
		cp *caps
	}
	var (
		todo   []serve
		next   waiter
		nextID string
	)
	m.mu.Lock()
	cp := q.caps
	switch {
	case cp.known:
		// Answered already (a second request crossed the first): what
		// is known stays, read by others without the lock.
	case verified:
		cp.known, cp.notify = true, notify
		for _, w := range cp.waiting {
			if m.watchers[w.owner.String()][w.full.String()].caps == cp {
				todo = append(todo, serve{w, cp})
			}
		}
		cp.waiting = nil
	default:
		if w, ok := m.watchers[q.owner.String()][q.to.String()]; ok && w.caps == cp && st.Type == stanza.TypeResult {
			own := &caps{node: cp.node, ver: cp.ver, known: true, notify: notify}
			m.watchers[q.owner.String()][q.to.String()] = watcher{q.to, own}
			todo = append(todo, serve{waiter{q.owner, q.to}, own})
		}
		if w, ok := m.nextWaiter(cp, q.to); ok && cp.query == "" {
			next = w
			nextID = m.newQuery(w.owner, w.full, cp)
		}
	}
	m.mu.Unlock()
	if !verified {
		m.log.LogAttrs(ctx, slog.LevelDebug, "caps not learnt from a disco#info answer", slog.String("from", st.From.String()), slog.String("ver", q.caps.ver), slog.String("type", st.Type))
	}
	if nextID != "" {
		m.sendQuery(ctx, next.owner, next.full, cp, nextID)
	}
	for _, s := range todo {
		if len(s.cp.notify) > 0 {
			m.sendLastOnPresence(ctx, s.w.owner, s.w.full, s.cp)
		}
	}
}
