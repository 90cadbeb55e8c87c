package im

import (
	"context"
	"log/slog"

	"roost/jid"
	"roost/stanza"
	"roost/xmlstream"
)

// InterceptOutbound handles presence a local session sends (the router
// has already recorded broadcast presence as the session's availability).
// It consumes broadcast presence and subscription stanzas, which it routes
// itself, and lets directed presence through after noting it.
func (m *IM) InterceptOutbound(ctx context.Context, st *stanza.Stanza) (bool, error) {
	if st.Kind != stanza.Presence {
		return false, nil
	}
	switch st.Type {
	case "", stanza.TypeUnavailable:
		if st.To.IsZero() {
			m.broadcast(ctx, st)
			return true, nil
		}
		m.noteDirected(st)
		return false, nil
	case stanza.TypeSubscribe, stanza.TypeSubscribed, stanza.TypeUnsubscribe, stanza.TypeUnsubscribed:
		return true, m.outboundSubscription(ctx, st)
	case stanza.TypeProbe:
		// A probe speaks for the account, not a resource (§4.3.1).
		st.From = st.From.Bare()
	}
	return false, nil
}

// InterceptInbound handles presence addressed to a local account:
// subscription stanzas and probes are consumed; a presence error is noted
// and delivered.
func (m *IM) InterceptInbound(ctx context.Context, st *stanza.Stanza) (bool, error) {
	if st.Kind != stanza.Presence || st.From.IsZero() {
		return false, nil
	}
	switch st.Type {
	case stanza.TypeSubscribe, stanza.TypeSubscribed, stanza.TypeUnsubscribe, stanza.TypeUnsubscribed:
		return true, m.inboundSubscription(ctx, st)
	case stanza.TypeProbe:
		m.answerProbe(ctx, st)
		return true, nil
	case stanza.TypeError:
		// §4.4.2: no more broadcasts to a contact that answered with an
		// error, for the rest of the user's session.
		user := st.To.Bare().String()
		m.mu.Lock()
		if m.errored[user] == nil {
			m.errored[user] = map[string]struct{}{}
		}
		m.errored[user][st.From.Bare().String()] = struct{}{}
		m.mu.Unlock()
	}
	return false, nil
}

// SessionEnded implements the router's SessionObserver: a session that
// ends without having sent unavailable presence (a dropped connection, a
// replaced session) is announced as unavailable (§4.5.2).
func (m *IM) SessionEnded(ctx context.Context, full jid.JID, wasAvailable bool) {
	m.mu.Lock()
	s := m.sessions[full.String()]
	delete(m.sessions, full.String())
	m.mu.Unlock()
	var directed map[string]jid.JID
	if s != nil {
		directed = s.directed
	}
	if wasAvailable {
		m.announce(ctx, full, presence(stanza.TypeUnavailable, full, full.Bare()), false, directed)
	} else {
		for _, to := range directed {
			m.route(ctx, stanza.Presence, stanza.TypeUnavailable, full, to, presence(stanza.TypeUnavailable, full, to))
		}
	}
	if len(m.r.Available(full.Bare())) == 0 {
		m.mu.Lock()
		delete(m.errored, full.Bare().String())
		m.mu.Unlock()
	}
}

// broadcast handles a session's broadcast presence (§4.2, §4.4, §4.5).
func (m *IM) broadcast(ctx context.Context, st *stanza.Stanza) {
	full := st.From
	available := st.Type == ""
	m.mu.Lock()
	s := m.sessions[full.String()]
	if s == nil {
		s = &session{}
		m.sessions[full.String()] = s
	}
	initial := available && !s.initial
	s.initial = available
	var directed map[string]jid.JID
	if !available {
		// §4.6.3: unavailable presence also ends directed presence.
		directed, s.directed = s.directed, nil
	}
	m.mu.Unlock()

	probes, requests := m.announce(ctx, full, st.El, initial, directed)
	if !initial {
		if available && stanza.Priority(st.El) >= 0 && m.onAvail != nil {
			m.onAvail(ctx, full)
		}
		return
	}
	user := full.Bare()
	// §4.2: probe the contacts the user is subscribed to ...
	for _, c := range probes {
		m.route(ctx, stanza.Presence, stanza.TypeProbe, user, c, presence(stanza.TypeProbe, user, c))
	}
	// ... show the new resource the user's other ones ...
	for _, p := range m.r.AvailablePresences(user) {
		if p.Get("from") != full.String() {
			m.r.Deliver(full, p.WithAttr("to", full.String()))
		}
	}
	// ... and the subscription requests that waited for the user (§3.1.3).
	m.sendRequests(ctx, full, requests)
	if stanza.Priority(st.El) >= 0 && m.onAvail != nil {
		m.onAvail(ctx, full)
	}
}

// announce sends presence el of the resource full to the contacts
// subscribed to the user, to the user's available resources and to the
// directed-presence recipients given. With initial (the resource's initial
// presence) it also returns, from the same roster pass, the contacts the
// user is subscribed to, to probe, and the subscription requests waiting
// for the user (RFC 6121 §3.1.3), as the contacts who sent them: one read
// of the roster per login, and the requests themselves are read again a
// batch at a time (requests.go).
func (m *IM) announce(ctx context.Context, full jid.JID, el *xmlstream.Element, initial bool, directed map[string]jid.JID) (probes []jid.JID, requests []string) {
	user := full.Bare()
	typ := el.Get("type")
	m.mu.Lock()
	errored := m.errored[user.String()]
	m.mu.Unlock()
	_, err := m.st.RosterItems(user.String(), func(contact string, b []byte) error {
		it, err := decodeItem(b)
		if err != nil {
			return err
		}
		if initial && it.PendingIn && len(it.Request) > 0 {
			requests = append(requests, contact)
		}
		if !it.Sub.hasFrom() && !(initial && it.Sub.hasTo()) {
			return nil
		}
		c, err := jid.Parse(contact)
		if err != nil || m.blocked(user, c) {
			return nil
		}
		if initial && it.Sub.hasTo() {
			probes = append(probes, c)
		}
		if !it.Sub.hasFrom() {
			return nil
		}
		if _, bad := errored[contact]; bad {
			return nil
		}
		delete(directed, contact)
		m.route(ctx, stanza.Presence, typ, full, c, el.WithAttrs("from", full.String(), "to", contact))
		return nil
	})
	if err != nil {
		m.log.LogAttrs(ctx, slog.LevelWarn, "reading the roster to broadcast presence", slog.String("user", user.String()), slog.Any("err", err))
	}
	// The user's own resources, including the one that sent it (§4.2.2).
	for _, r := range m.r.Available(user) {
		m.r.Deliver(r, el.WithAttrs("from", full.String(), "to", r.String()))
	}
	for _, to := range directed {
		m.route(ctx, stanza.Presence, typ, full, to, el.WithAttrs("from", full.String(), "to", to.String()))
	}
	return probes, requests
}

// noteDirected remembers directed presence (§4.6) so that the recipient
// learns when the resource goes away, unless it gets broadcasts anyway.
func (m *IM) noteDirected(st *stanza.Stanza) {
	to := st.To
	if to.Bare().Equal(st.From.Bare()) {
		return
	}
	if st.Type == "" {
		if it, err := m.item(st.From.Bare(), to); err == nil && it.Sub.hasFrom() && to.IsBare() {
			return
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.sessions[st.From.String()]
	if s == nil {
		s = &session{}
		m.sessions[st.From.String()] = s
	}
	if st.Type == "" {
		if s.directed == nil {
			s.directed = map[string]jid.JID{}
		}
		s.directed[to.String()] = to
	} else {
		delete(s.directed, to.String())
	}
}

// Bounds on what is kept of a subscription request (storedRequest).
const (
	maxRequestStatus = 1000 // bytes of <status/> text
	maxRequestNick   = 100  // bytes of a XEP-0172 nickname
	maxRequestID     = 128  // bytes of the stanza's id
)

// nsNick is XEP-0172 User Nickname, which a subscription request may
// carry (§4.1) so that the user sees who asks.
const nsNick = "http://jabber.org/protocol/nick"

// storedRequest returns what is kept of the subscription request el until
// the user answers it: what RFC 6121 §3.1.3 has the server deliver at the
// user's next login, the sender (from, to, type) with its status text and
// nickname, each dropped when longer than a bound. A request thus takes a
// few hundred bytes of storage, never a stanza's worth.
func storedRequest(el *xmlstream.Element) []byte {
	p := xmlstream.New(xmlstream.NSClient, "presence").
		SetAttr("type", stanza.TypeSubscribe).SetAttr("from", el.Get("from")).SetAttr("to", el.Get("to"))
	if id := el.Get("id"); id != "" && len(id) <= maxRequestID {
		p.SetAttr("id", id)
	}
	if s := el.ChildText(xmlstream.NSClient, "status"); s != "" && len(s) <= maxRequestStatus {
		p.Append(xmlstream.New(xmlstream.NSClient, "status").AppendText(s))
	}
	if n := el.ChildText(nsNick, "nick"); n != "" && len(n) <= maxRequestNick {
		p.Append(xmlstream.New(nsNick, "nick").AppendText(n))
	}
	return xmlstream.AppendElement(nil, p, "")
}

// pendingRequest returns the stored subscription request of a roster
// item, or nil.
func pendingRequest(it item) *xmlstream.Element {
	if !it.PendingIn || len(it.Request) == 0 {
		return nil
	}
	el, err := xmlstream.Parse(it.Request, xmlstream.Limits{})
	if err != nil {
		return nil // an unreadable request is dropped, the state stays
	}
	return el
}

// outboundSubscription applies a subscription stanza from the user
// (§3, Appendix A.2) and routes it stamped with the user's bare JID.
func (m *IM) outboundSubscription(ctx context.Context, st *stanza.Stanza) error {
	user, contact := st.From.Bare(), st.To.Bare()
	if st.To.IsZero() || contact.Equal(user) {
		return stanza.NewError(stanza.BadRequest, "a subscription needs another entity")
	}
	if st.Type == stanza.TypeSubscribe {
		if cur, err := m.item(user, contact); err != nil {
			return err
		} else if !cur.InRoster && cur.empty() {
			if err := m.checkCap(user); err != nil {
				return err
			}
		}
	}
	_, _, o, err := m.applySubscription(user, contact, func(it item) (item, outcome) { return outbound(it, st.Type) })
	if err != nil {
		return err
	}
	if o.route {
		m.route(ctx, stanza.Presence, st.Type, user, contact, st.El.WithAttrs("from", user.String(), "to", contact.String()))
	}
	if o.sendPresence {
		m.sendPresence(ctx, user, contact)
	}
	if o.sendUnavailable {
		m.sendUnavailable(ctx, user, contact)
	}
	return nil
}

// applySubscription runs one step of the subscription state machine
// (Appendix A) on user's item for contact, stores the new item and pushes
// it to user's interested resources if it changed (§2.1.6). It returns the
// item before and after, and what else the step asks for.
func (m *IM) applySubscription(user, contact jid.JID, step func(item) (item, outcome)) (old, it item, o outcome, err error) {
	old, it, ver, err := m.update(user, contact, func(it item) item {
		it, o = step(it)
		return it
	})
	if err != nil {
		return item{}, item{}, outcome{}, err
	}
	if o.changed {
		m.pushItem(user, contact, old, it, ver)
	}
	return old, it, o, nil
}

// inboundSubscription applies a subscription stanza from a contact to a
// local user (Appendix A.3).
func (m *IM) inboundSubscription(ctx context.Context, st *stanza.Stanza) error {
	user, contact := st.To.Bare(), st.From.Bare()
	if contact.Equal(user) {
		return nil
	}
	el := st.El.WithAttrs("from", contact.String(), "to", user.String())
	var request []byte
	if st.Type == stanza.TypeSubscribe {
		cur, err := m.item(user, contact)
		if err != nil {
			return err
		}
		if cur.empty() {
			// A stranger's request waits in an item of its own, under a
			// limit of its own: strangers cannot fill the roster.
			_, reqs, err := m.st.RosterCount(user.String(), isRequest)
			if err != nil {
				return err
			}
			if reqs >= m.maxReqs {
				return stanza.NewError(stanza.ResourceConstraint, "too many subscription requests are waiting for this user")
			}
		}
		request = storedRequest(el)
	}
	old, it, o, err := m.applySubscription(user, contact, func(it item) (item, outcome) { return inbound(it, st.Type, request) })
	if err != nil {
		return err
	}
	if o.route {
		// Subscribe waits in the roster item if nobody is online.
		for _, r := range m.r.Available(user) {
			m.r.Deliver(r, el)
		}
	}
	if o.autoReply != "" {
		m.route(ctx, stanza.Presence, o.autoReply, user, contact, presence(o.autoReply, user, contact))
	}
	if o.sendPresence {
		m.sendPresence(ctx, user, contact)
	}
	if st.Type == stanza.TypeUnsubscribe && old.Sub.hasFrom() && !it.Sub.hasFrom() {
		m.sendUnavailable(ctx, user, contact)
	}
	return nil
}

// answerProbe answers a presence probe for a local user (§4.3.2).
func (m *IM) answerProbe(ctx context.Context, st *stanza.Stanza) {
	user, prober := st.To.Bare(), st.From
	if m.blocked(user, prober) {
		return
	}
	it, err := m.item(user, prober)
	if err != nil {
		m.log.Warn("reading the roster to answer a probe", "user", user.String(), "err", err)
		return
	}
	if !it.Sub.hasFrom() {
		// Not subscribed: say so, without touching a pre-approval.
		m.route(ctx, stanza.Presence, stanza.TypeUnsubscribed, user, prober.Bare(), presence(stanza.TypeUnsubscribed, user, prober.Bare()))
		return
	}
	ps := m.r.AvailablePresences(user)
	if len(ps) == 0 {
		m.route(ctx, stanza.Presence, stanza.TypeUnavailable, user, prober, presence(stanza.TypeUnavailable, user, prober))
		return
	}
	for _, p := range ps {
		from, err := jid.Parse(p.Get("from"))
		if err != nil {
			continue
		}
		m.route(ctx, stanza.Presence, p.Get("type"), from, prober, p.WithAttr("to", prober.String()))
	}
}

// sendPresence sends the user's current presence to a contact that just
// got a subscription (§3.1.5).
func (m *IM) sendPresence(ctx context.Context, user, contact jid.JID) {
	if m.blocked(user, contact) {
		return
	}
	for _, p := range m.r.AvailablePresences(user) {
		if from, err := jid.Parse(p.Get("from")); err == nil {
			m.route(ctx, stanza.Presence, "", from, contact, p.WithAttr("to", contact.String()))
		}
	}
}

// sendUnavailable tells a contact that lost its subscription that the
// user's resources are gone for it.
func (m *IM) sendUnavailable(ctx context.Context, user, contact jid.JID) {
	for _, full := range m.r.Available(user) {
		m.route(ctx, stanza.Presence, stanza.TypeUnavailable, full, contact, presence(stanza.TypeUnavailable, full, contact))
	}
}
