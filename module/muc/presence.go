package muc

import (
	"context"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	"roost/jid"
	"roost/stanza"
	"roost/xmlstream"
)

// change says how an occupant's presence changed, for the <x/> the room
// adds (§7.2, §8, §9).
type change struct {
	codes     []int // status codes for everyone
	selfCodes []int // status codes for the occupant's own sessions only
	actor     string
	reason    string
	nick      string             // the new nick, with status 303
	destroy   *xmlstream.Element // the <destroy/> of a destroyed room
}

// Presence views: what a recipient may see of an occupant.
type view uint8

const (
	viewAnon view = iota // no real JID
	viewFull             // with the real JID
)

// handlePresence handles presence addressed to a room or an occupant.
func (s *service) handlePresence(ctx context.Context, st *stanza.Stanza) error {
	nick := st.To.Resource()
	r := s.lockRoom(st.To.Local())
	created := false
	if r == nil {
		if st.Type != "" || nick == "" {
			return nil // leaving, probing or erring in a room that is not there
		}
		if err := s.checkNick(nick); err != nil {
			return err
		}
		var err error
		if r, err = s.createFor(st); err != nil {
			return err
		}
		created = true
	}
	defer s.release(ctx, r)
	o := r.sessions[st.From]
	if nick == "" {
		// §7.2.1: a join needs a nick. Presence to the bare room JID from
		// an occupant (some clients send updates there) is the occupant's.
		if o == nil {
			if st.Type == "" {
				return &stanza.Error{Type: stanza.Modify, Condition: stanza.JIDMalformed, Text: "join the room as room@service/nick"}
			}
			return nil
		}
		nick = o.nick
	}
	switch st.Type {
	case stanza.TypeError:
		// A session that answers the room with an error is gone (§7.2.19
		// leaves this to the service; Prosody removes it too).
		r.sessionGone(ctx, st.From)
		return nil
	case stanza.TypeUnavailable:
		if o != nil {
			r.leave(ctx, o, st)
		}
		return nil
	case stanza.TypeProbe:
		return r.probe(st, o, nick)
	case "":
	default:
		return nil // subscriptions mean nothing to a room
	}
	if o == nil {
		return r.join(ctx, st, nick, created)
	}
	if nick != o.nick {
		return r.changeNick(ctx, o, st, nick)
	}
	return r.update(ctx, o, st)
}

// createFor creates the room a presence joins, if its sender may (§10.1).
// The room is locked until its owner configures it, unless the presence
// comes from a client that does not speak MUC (§10.1.1: no <x/>, an
// instant room).
func (s *service) createFor(st *stanza.Stanza) (*room, error) {
	m := s.m
	switch {
	case m.opts.Create == CreateAdmin,
		m.opts.Create == CreateLocal && (m.router == nil || !m.router.IsLocal(st.From.Domain())):
		return nil, &stanza.Error{Type: stanza.Cancel, Condition: stanza.NotAllowed, Text: "you may not create rooms here"}
	}
	if s.ownedBy(st.From) >= m.opts.MaxRoomsPerUser {
		return nil, &stanza.Error{Type: stanza.Wait, Condition: stanza.ResourceConstraint,
			Text: "you own as many rooms as allowed: " + strconv.Itoa(m.opts.MaxRoomsPerUser)}
	}
	locked := st.El.Child(NS, "x") != nil
	r, err := s.create(st.To.Local(), st.From, locked)
	if err != nil {
		// Created meanwhile by someone else: join that one.
		if r = s.lockRoom(st.To.Local()); r != nil {
			return r, nil
		}
		return nil, &stanza.Error{Type: stanza.Cancel, Condition: stanza.ItemNotFound, Text: "the room is gone"}
	}
	if !locked {
		if err := r.save(); err != nil {
			m.log.Error("saving a new room", "room", r.jid.String(), "err", err)
		}
	}
	m.log.Info("room created", "room", r.jid.String(), "by", st.From.Bare().String())
	return r, nil
}

// release unlocks r, sending what it queued, and forgets it if it was
// destroyed meanwhile.
func (s *service) release(ctx context.Context, r *room) {
	r.unlock(ctx)
	r.mu.Lock()
	gone := r.destroyed
	r.mu.Unlock()
	if gone {
		s.forget(r)
	}
}

// checkNick refuses nicks nobody could see or that exceed the limit.
func (s *service) checkNick(nick string) *stanza.Error {
	visible := false
	for _, c := range nick {
		if !unicode.IsSpace(c) && unicode.IsGraphic(c) {
			visible = true
			break
		}
	}
	if !visible {
		return &stanza.Error{Type: stanza.Modify, Condition: stanza.NotAllowed, Text: "a nickname must have visible characters"}
	}
	if n := utf8.RuneCountInString(nick); n > s.m.opts.MaxNickLength {
		return &stanza.Error{Type: stanza.Modify, Condition: stanza.NotAcceptable,
			Text: "nicknames have at most " + strconv.Itoa(s.m.opts.MaxNickLength) + " characters"}
	}
	return nil
}

// join lets the sender of st enter the room as nick (§7.2).
func (r *room) join(ctx context.Context, st *stanza.Stanza, nick string, created bool) error {
	from := st.From
	aff := r.affiliation(from)
	muc := st.El.Child(NS, "x")
	if err := r.svc.checkNick(nick); err != nil {
		return err
	}
	// §7.2.9: a user who reserved a nick enters with it.
	assigned := false
	if a, ok := r.affs[from.Bare()]; ok && a.nick != "" && a.nick != nick {
		nick, assigned = a.nick, true
	}
	switch {
	case r.locked && aff != Owner:
		// §10.1.1: a room is not there for others until configured.
		return &stanza.Error{Type: stanza.Cancel, Condition: stanza.ItemNotFound, Text: "the room is being set up"}
	case aff == Outcast:
		return &stanza.Error{Type: stanza.Auth, Condition: stanza.Forbidden, Text: "you are banned from this room"}
	case r.cfg.MembersOnly && aff < Member:
		return &stanza.Error{Type: stanza.Auth, Condition: stanza.RegistrationRequired, Text: "only members may enter this room"}
	case r.cfg.Password != "" && !created && muc.ChildText(NS, "password") != r.cfg.Password:
		return &stanza.Error{Type: stanza.Auth, Condition: stanza.NotAuthorized, Text: "a password is needed to enter"}
	}
	o := r.occupants[nick]
	if o != nil && !o.bare.Equal(from.Bare()) {
		return &stanza.Error{Type: stanza.Cancel, Condition: stanza.Conflict, Text: "someone in the room has this nickname"}
	}
	if owner, ok := r.reservedBy(nick); ok && !owner.Equal(from.Bare()) {
		return &stanza.Error{Type: stanza.Cancel, Condition: stanza.Conflict, Text: "this nickname is reserved"}
	}
	if o == nil && aff < Admin && len(r.occupants) >= r.cfg.maxUsers(r.svc.m.lim) {
		return &stanza.Error{Type: stanza.Wait, Condition: stanza.ServiceUnavailable, Text: "the room is full"}
	}
	occJID, err := r.jid.WithResource(nick)
	if err != nil {
		return &stanza.Error{Type: stanza.Modify, Condition: stanza.JIDMalformed, Text: "not a valid nickname"}
	}
	sess := &session{full: from, children: presenceContent(st.El), lang: st.El.Lang()}
	first := o == nil
	if first {
		o = &occupant{nick: nick, jid: occJID, bare: from.Bare(), role: r.defaultRole(aff),
			id: occupantID(r.salt, from.Bare()), tokens: presenceBurst, checked: r.svc.m.now()}
		r.occupants[nick] = o
	}
	o.sessions = append(o.sessions, sess)
	r.sessions[from] = o

	// §7.2.3: the others' presence, then the new occupant's, then the
	// history, then the subject.
	r.sendOccupantList(from, o)
	codes := r.joinCodes(created, assigned)
	if first {
		r.broadcastPresence(o, "", sess.children, change{selfCodes: codes})
	} else {
		r.selfPresence(o, sess, "", sess.children, change{selfCodes: codes})
	}
	r.sendHistory(from, muc.Child(NS, "history"))
	r.sendSubject(from)
	return nil
}

// joinCodes are the status codes of a joining occupant's self-presence.
func (r *room) joinCodes(created, assigned bool) []int {
	codes := []int{statusSelf}
	if r.cfg.NonAnonymous {
		codes = append(codes, statusNonAnonymous)
	}
	if r.cfg.Logging {
		codes = append(codes, statusLogging)
	}
	if created {
		codes = append(codes, statusCreated)
	}
	if assigned {
		codes = append(codes, statusNickAssigned)
	}
	return codes
}

// update handles a presence change of an occupant's session, or a client
// joining again a room it is in (it lost track, XEP-0410).
func (r *room) update(_ context.Context, o *occupant, st *stanza.Stanza) error {
	i := o.session(st.From)
	sess := o.sessions[i]
	sess.children, sess.lang = presenceContent(st.El), st.El.Lang()
	if muc := st.El.Child(NS, "x"); muc != nil {
		r.sendOccupantList(st.From, o)
		r.selfPresence(o, sess, "", sess.children, change{selfCodes: r.joinCodes(false, false)})
		r.sendHistory(st.From, muc.Child(NS, "history"))
		r.sendSubject(st.From)
		return nil
	}
	if i != 0 {
		return nil // only the primary session's presence is the occupant's
	}
	if r.presenceAllowed(o) {
		r.broadcastPresence(o, "", sess.children, change{selfCodes: []int{statusSelf}})
	}
	return nil
}

// presenceAllowed takes a token from the occupant's presence bucket. With
// none left the change is merged: a timer passes on the latest presence
// once a token is back, so that a storm costs the room one broadcast per
// interval and the last state still arrives.
func (r *room) presenceAllowed(o *occupant) bool {
	m := r.svc.m
	now := m.now()
	if elapsed := now.Sub(o.checked); elapsed > 0 {
		o.tokens = min(presenceBurst, o.tokens+float64(elapsed)/float64(m.presenceEvery))
	}
	o.checked = now
	if o.tokens >= 1 {
		o.tokens--
		return true
	}
	if o.timer == nil {
		wait := time.Duration((1 - o.tokens) * float64(m.presenceEvery))
		o.timer = time.AfterFunc(wait, func() { r.mergedPresence(o) })
	}
	return false
}

// mergedPresence passes on an occupant's latest presence after a storm.
func (r *room) mergedPresence(o *occupant) {
	if r.svc.m.isClosed() {
		return
	}
	ctx := context.Background()
	r.mu.Lock()
	defer r.svc.release(ctx, r)
	o.timer = nil
	if r.destroyed || r.occupants[o.nick] != o {
		return
	}
	if r.presenceAllowed(o) {
		r.broadcastPresence(o, "", o.primary().children, change{selfCodes: []int{statusSelf}})
	}
}

// changeNick moves an occupant, all its sessions, to a new nick (§7.6).
func (r *room) changeNick(_ context.Context, o *occupant, st *stanza.Stanza, nick string) error {
	if err := r.svc.checkNick(nick); err != nil {
		return err
	}
	if a, ok := r.affs[o.bare]; ok && a.nick != "" && a.nick != nick {
		// §7.6: a reserved nick stays the user's nick in the room.
		return &stanza.Error{Type: stanza.Cancel, Condition: stanza.NotAcceptable, Text: "your nickname in this room is reserved as " + a.nick}
	}
	if other := r.occupants[nick]; other != nil {
		return &stanza.Error{Type: stanza.Cancel, Condition: stanza.Conflict, Text: "someone in the room has this nickname"}
	}
	if owner, ok := r.reservedBy(nick); ok && !owner.Equal(o.bare) {
		return &stanza.Error{Type: stanza.Cancel, Condition: stanza.Conflict, Text: "this nickname is reserved"}
	}
	newJID, err := r.jid.WithResource(nick)
	if err != nil {
		return &stanza.Error{Type: stanza.Modify, Condition: stanza.JIDMalformed, Text: "not a valid nickname"}
	}
	sess := o.sessions[o.session(st.From)]
	sess.children, sess.lang = presenceContent(st.El), st.El.Lang()
	// §7.6.3: unavailable from the old nick with 303 and the new nick,
	// then the presence of the new one.
	r.broadcastPresence(o, stanza.TypeUnavailable, nil, change{codes: []int{statusNickChanged}, selfCodes: []int{statusSelf}, nick: nick})
	delete(r.occupants, o.nick)
	o.nick, o.jid = nick, newJID
	r.occupants[nick] = o
	r.broadcastPresence(o, "", o.primary().children, change{selfCodes: []int{statusSelf}})
	return nil
}

// leave handles unavailable presence from an occupant's session (§7.14).
func (r *room) leave(ctx context.Context, o *occupant, st *stanza.Stanza) {
	i := o.session(st.From)
	if len(o.sessions) > 1 {
		// One device leaves; the occupant stays with the others.
		sess := o.sessions[i]
		o.sessions = append(o.sessions[:i:i], o.sessions[i+1:]...)
		delete(r.sessions, st.From)
		r.selfPresence(o, sess, stanza.TypeUnavailable, presenceStatus(st.El), change{selfCodes: []int{statusSelf}})
		if i == 0 {
			r.broadcastPresence(o, "", o.primary().children, change{selfCodes: []int{statusSelf}})
		}
		return
	}
	r.removeWith(o, presenceStatus(st.El), change{})
	r.destroyIfEmpty(ctx)
}

// probe answers a presence probe from an occupant with the probed
// occupant's presence (RFC 6121 §4.3 applied to rooms, as Prosody does).
func (r *room) probe(st *stanza.Stanza, from *occupant, nick string) error {
	if from == nil {
		return &stanza.Error{Type: stanza.Cancel, Condition: stanza.NotAcceptable, Text: "you are not in this room"}
	}
	if p := r.occupants[nick]; p != nil && (p.shown || p == from) {
		r.sendTo(stanza.Presence, p.jid, st.From, r.presence(p, "", p.primary().children, change{}, r.viewFor(from), jid.JID{}), false)
	}
	return nil
}

// sessionGone removes a session that refused a stanza or answered with an
// error: its client is gone.
func (r *room) sessionGone(ctx context.Context, full jid.JID) {
	o := r.sessions[full]
	if o == nil {
		return
	}
	i := o.session(full)
	if len(o.sessions) > 1 {
		o.sessions = append(o.sessions[:i:i], o.sessions[i+1:]...)
		delete(r.sessions, full)
		if i == 0 {
			r.broadcastPresence(o, "", o.primary().children, change{selfCodes: []int{statusSelf}})
		}
		return
	}
	r.removeWith(o, nil, change{})
	r.destroyIfEmpty(ctx)
}

// remove takes an occupant out of the room with the given change (kick,
// ban, shutdown), telling everyone.
func (r *room) remove(_ context.Context, o *occupant, c change) {
	r.removeWith(o, nil, c)
}

func (r *room) removeWith(o *occupant, content []xmlstream.Node, c change) {
	r.drop(o)
	c.selfCodes = append([]int{statusSelf}, c.selfCodes...)
	r.broadcastPresence(o, stanza.TypeUnavailable, content, c)
}

// drop takes o out of the room's tables.
func (r *room) drop(o *occupant) {
	delete(r.occupants, o.nick)
	for _, s := range o.sessions {
		delete(r.sessions, s.full)
	}
	if o.timer != nil {
		o.timer.Stop()
		o.timer = nil
	}
	o.role = RoleNone
}

// dismiss takes an occupant out when everyone leaves at once (the room is
// destroyed, the service stops): it alone hears of it (§10.9: one
// unavailable presence to each occupant, not everyone's to everyone).
func (r *room) dismiss(o *occupant, c change) {
	r.drop(o)
	c.selfCodes = append([]int{statusSelf}, c.selfCodes...)
	for _, s := range o.sessions {
		r.selfPresence(o, s, stanza.TypeUnavailable, nil, c)
	}
}

// destroyIfEmpty destroys a temporary room when its last occupant leaves
// (§10.1: temporary rooms go when empty).
func (r *room) destroyIfEmpty(_ context.Context) {
	if len(r.occupants) == 0 && (!r.cfg.Persistent || r.locked) {
		r.destroyed = true
		r.history = nil
	}
}

// occupantsOf returns the occupants of a real bare JID.
func (r *room) occupantsOf(bare jid.JID) []*occupant {
	var out []*occupant
	for _, o := range r.occupants {
		if o.bare.Equal(bare) {
			out = append(out, o)
		}
	}
	return out
}

// occupantList returns the occupants, for changes that may remove them
// while the list is walked.
func (r *room) occupantList() []*occupant {
	out := make([]*occupant, 0, len(r.occupants))
	for _, o := range r.occupants {
		out = append(out, o)
	}
	return out
}

// viewFor is what viewer may see of the others.
func (r *room) viewFor(viewer *occupant) view {
	if r.seesJIDs(viewer) {
		return viewFull
	}
	return viewAnon
}

// sendOccupantList sends a joining session the presence of every other
// occupant (§7.2.3).
func (r *room) sendOccupantList(to jid.JID, joiner *occupant) {
	v := r.viewFor(joiner)
	for _, p := range r.occupants {
		if p == joiner || !p.shown {
			continue
		}
		r.sendTo(stanza.Presence, p.jid, to, r.presence(p, "", p.primary().children, change{}, v, jid.JID{}), false)
	}
}

// broadcastPresence tells every occupant of o's presence: the others in
// the view their role allows (if o's role is broadcast, see publish), o's
// own sessions with its self codes.
func (r *room) broadcastPresence(o *occupant, typ string, content []xmlstream.Node, c change) {
	r.publish(o, typ, content, c)
	for _, s := range o.sessions {
		r.selfPresence(o, s, typ, content, c)
	}
}

// broadcasts reports whether the presence of an occupant of role is
// broadcast to the others (muc#roomconfig_presencebroadcast).
func (r *room) broadcasts(role Role) bool { return r.cfg.presenceBroadcast().Has(role) }

// publish tells the other occupants of o's presence if its role is
// broadcast. An occupant the others have seen and whose role no longer is
// (or who leaves) is gone for them: unavailable, as Prosody sends it; one
// they never saw stays unseen, leaving included.
func (r *room) publish(o *occupant, typ string, content []xmlstream.Node, c change) {
	visible := typ != stanza.TypeUnavailable && r.broadcasts(o.role)
	switch {
	case visible:
	case !o.shown:
		return
	default:
		typ = stanza.TypeUnavailable
	}
	o.shown = visible
	var tmpl [2]*xmlstream.Element
	n := 0
	for _, p := range r.occupants {
		if p != o {
			n += len(p.sessions)
		}
	}
	envs := make([]envelope, n)
	i := 0
	for _, p := range r.occupants {
		if p == o {
			continue
		}
		v := r.viewFor(p)
		if tmpl[v] == nil {
			tmpl[v] = r.presence(o, typ, content, c, v, jid.JID{})
		}
		for _, s := range p.sessions {
			r.queue(outgoing{kind: stanza.Presence, typ: typ, from: o.jid, to: s.full, el: address(&envs[i], tmpl[v], s.full.String())})
			i++
		}
	}
}

// selfPresence sends one of o's sessions its own presence (status 110),
// with its own real JID.
func (r *room) selfPresence(o *occupant, s *session, typ string, content []xmlstream.Node, c change) {
	c.codes = append(append([]int(nil), c.codes...), c.selfCodes...)
	r.sendTo(stanza.Presence, o.jid, s.full, r.presence(o, typ, content, c, viewFull, s.full), false)
}

// presence builds o's presence as the room sends it (§7.2.3): the
// session's content, the occupant-id (XEP-0421) and the <x/> with the
// item and status codes. self is the session's JID for its own copy.
func (r *room) presence(o *occupant, typ string, content []xmlstream.Node, c change, v view, self jid.JID) *xmlstream.Element {
	el := xmlstream.New(xmlstream.NSClient, "presence")
	el.Attrs = make([]xmlstream.Attr, 0, 3)
	el.SetAttr("from", o.jid.String())
	if typ != "" {
		el.SetAttr("type", typ)
	}
	el.Children = make([]xmlstream.Node, 0, len(content)+2)
	el.Children = append(el.Children, content...)
	el.Append(xmlstream.New(nsOccupantID, "occupant-id").SetAttr("id", o.id))
	x := xmlstream.New(NSUser, "x")
	item := xmlstream.New(NSUser, "item").SetAttr("affiliation", r.affiliation(o.bare).String()).SetAttr("role", o.role.String())
	switch {
	case !self.IsZero():
		item.SetAttr("jid", self.String())
	case v == viewFull:
		item.SetAttr("jid", o.primary().full.String())
	}
	if c.nick != "" {
		item.SetAttr("nick", c.nick)
	}
	if c.actor != "" {
		item.Append(xmlstream.New(NSUser, "actor").SetAttr("nick", c.actor))
	}
	if c.reason != "" {
		item.Append(xmlstream.New(NSUser, "reason").AppendText(c.reason))
	}
	x.Append(item)
	for _, code := range c.codes {
		x.Append(statusElement(code))
	}
	x.Append(c.destroy)
	return el.Append(x)
}

func statusElement(code int) *xmlstream.Element {
	return xmlstream.New(NSUser, "status").SetAttr("code", strconv.Itoa(code))
}

// presenceContent keeps what a client's presence says about it (show,
// status, priority, caps, ...), without what the room adds itself or must
// not pass on: the MUC elements and any occupant-id (XEP-0421 §4: the
// room's, never a client's).
func presenceContent(el *xmlstream.Element) []xmlstream.Node {
	keep := 0
	for _, n := range el.Children {
		if keepInPresence(n) {
			keep++
		}
	}
	if keep == len(el.Children) {
		return el.Children
	}
	out := make([]xmlstream.Node, 0, keep)
	for _, n := range el.Children {
		if keepInPresence(n) {
			out = append(out, n)
		}
	}
	return out
}

func keepInPresence(n xmlstream.Node) bool {
	if n.Elem == nil {
		return false // whitespace between children
	}
	switch n.Elem.Name.Space {
	case NS, NSUser, nsOccupantID:
		return false
	}
	return true
}

// presenceStatus keeps the status text of an unavailable presence
// (§7.14: it goes to the others with the leave).
func presenceStatus(el *xmlstream.Element) []xmlstream.Node {
	for c := range el.Elements() {
		if c.Name.Local == "status" && xmlstream.IsContentNamespace(c.Name.Space) {
			return []xmlstream.Node{{Elem: c}}
		}
	}
	return nil
}
