package muc

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"roost/archive"
	"roost/form"
	"roost/jid"
	"roost/stanza"
	"roost/xmlstream"
)

// handleMessage handles messages addressed to a room or an occupant.
func (s *service) handleMessage(ctx context.Context, st *stanza.Stanza) error {
	r := s.lockRoom(st.To.Local())
	if r == nil {
		if st.IsError() {
			return nil
		}
		return &stanza.Error{Type: stanza.Cancel, Condition: stanza.ItemNotFound, Text: "there is no such room"}
	}
	defer s.release(ctx, r)
	return r.message(ctx, st)
}

// message dispatches a message to the room (mu held).
func (r *room) message(ctx context.Context, st *stanza.Stanza) error {
	if st.To.Resource() != "" {
		return r.privateMessage(ctx, st)
	}
	switch st.Type {
	case stanza.TypeGroupchat:
		return r.groupchat(ctx, st)
	case stanza.TypeError:
		if kickable(st.El) {
			r.sessionGone(ctx, st.From)
		}
		return nil
	}
	if x := st.El.Child(NSUser, "x"); x != nil {
		if x.Child(NSUser, "invite") != nil {
			return r.invite(st, x)
		}
		if d := x.Child(NSUser, "decline"); d != nil {
			return r.decline(st, d)
		}
	}
	if f, err := form.Find(st.El, FormRequest); err == nil && f != nil {
		return r.voiceRequest(ctx, st, f)
	}
	return &stanza.Error{Type: stanza.Modify, Condition: stanza.BadRequest, Text: "send groupchat messages to the room"}
}

// voiceRequest handles §8.6: a visitor's request for voice goes to the
// moderators as a form; a moderator's answer with muc#request_allow
// grants it.
func (r *room) voiceRequest(ctx context.Context, st *stanza.Stanza, f *form.Form) error {
	o := r.sessions[st.From]
	if o == nil {
		return &stanza.Error{Type: stanza.Cancel, Condition: stanza.NotAcceptable, Text: "you are not in this room"}
	}
	if f.Type == form.TypeSubmit && f.Has("muc#request_allow") {
		// A moderator's decision.
		allow, _, err := f.Bool("muc#request_allow")
		if err != nil {
			return &stanza.Error{Type: stanza.Modify, Condition: stanza.BadRequest, Text: err.Error()}
		}
		if !allow {
			return nil
		}
		c, err := r.checkAdminItem(st.From, xmlstream.New(NSAdmin, "item").SetAttr("nick", f.Value("muc#roomnick")).SetAttr("role", "participant"))
		if err != nil {
			return err
		}
		if c.occ.role == Visitor {
			r.setRole(ctx, c.occ, Participant, o.nick, "")
		}
		return nil
	}
	if o.role != Visitor || f.Value("muc#role") != Participant.String() {
		return &stanza.Error{Type: stanza.Modify, Condition: stanza.BadRequest, Text: "only a visitor may ask for voice (muc#role participant)"}
	}
	req := form.New(form.TypeForm, FormRequest)
	req.Title = "Voice request"
	req.Instructions = []string{"To let " + o.nick + " speak, tick the box and send the form."}
	req.Add(
		form.Field{Var: "muc#role", Type: form.ListSingle, Label: "Requested role", Values: []string{Participant.String()},
			Options: []form.Option{{Value: Participant.String()}}},
		form.Field{Var: "muc#jid", Type: form.JIDSingle, Label: "User ID", Values: []string{st.From.String()}},
		form.Field{Var: "muc#roomnick", Type: form.TextSingle, Label: "Room nickname", Values: []string{o.nick}},
		form.Field{Var: "muc#request_allow", Type: form.Boolean, Label: "Grant voice to this person?", Values: []string{form.FormatBool(false)}},
	)
	el := xmlstream.New(xmlstream.NSClient, "message").SetAttr("from", r.jid.String()).SetAttr("id", r.svc.m.newID()).Append(req.Element())
	for _, m := range r.occupants {
		if m.role == Moderator {
			r.toOccupant(stanza.Message, r.jid, m, el, true)
		}
	}
	return nil
}

// groupchat broadcasts an occupant's message to the room (§7.4), with a
// stanza-id (XEP-0359) and the occupant-id (XEP-0421), and keeps it for
// history. In a logged room the stanza-id is the message's id in the
// room's archive, which it enters before anyone gets it (the archive
// queues it for its next group commit: no disk wait here).
func (r *room) groupchat(ctx context.Context, st *stanza.Stanza) error {
	o := r.sessions[st.From]
	if o == nil {
		return &stanza.Error{Type: stanza.Cancel, Condition: stanza.NotAcceptable, Text: "you are not in this room"}
	}
	if o.role < Participant {
		return &stanza.Error{Type: stanza.Auth, Condition: stanza.Forbidden, Text: "you have no voice in this room"}
	}
	el := st.El
	if subj := el.Child(el.Name.Space, "subject"); subj != nil && el.Child(el.Name.Space, "body") == nil && el.Child(el.Name.Space, "thread") == nil {
		return r.changeSubject(o, st, subj.Text())
	}
	msgID := st.ID
	if msgID == "" {
		msgID = r.svc.m.newID() // as Prosody does: clients match on it
	}
	msg := r.groupchatMessage(el, o, msgID)
	keep := historic(el)
	var id string
	var at time.Time
	if keep && r.logged() {
		aid, err := r.svc.m.archive.Append(r.jid.String(), false, r.jid.String(), o.nick, xmlstream.AppendElement(nil, msg, ""))
		if err != nil {
			// The message still goes out; only its archive copy is lost.
			r.svc.m.log.LogAttrs(ctx, slog.LevelError, "archiving a room message", slog.String("room", r.jid.String()), slog.Any("err", err))
		} else {
			id, at = aid.String(), aid.Time()
		}
	}
	if id == "" {
		id, at = r.svc.m.newID(), r.svc.m.now().UTC()
	}
	tmpl := stamp(msg, r.jid.String(), id)
	r.broadcast(stanza.Message, o.jid, tmpl, nil)
	if keep {
		r.remember(historyEntry{at: at, id: id, from: o.jid, el: tmpl})
	}
	return nil
}

// logged reports whether the room keeps its messages in the archive.
func (r *room) logged() bool {
	return r.cfg.Logging && r.cfg.Persistent && !r.locked && r.svc.m.archive != nil
}

// stamp returns msg with the room's stanza-id (XEP-0359 §3), built once
// and shared by every copy.
func stamp(msg *xmlstream.Element, room, id string) *xmlstream.Element {
	sid := xmlstream.New(nsStanzaID, "stanza-id")
	sid.Attrs = make([]xmlstream.Attr, 0, 2)
	sid.SetAttr("id", id).SetAttr("by", room)
	children := make([]xmlstream.Node, 0, len(msg.Children)+1)
	children = append(append(children, msg.Children...), xmlstream.Node{Elem: sid})
	return msg.WithChildren(children)
}

// groupchatMessage is the message as the room sends and archives it,
// before its stanza-id: from the occupant, the sender's payloads without
// what only the room may claim (its stanza-ids, occupant-ids, delays),
// then the occupant-id.
func (r *room) groupchatMessage(el *xmlstream.Element, o *occupant, msgID string) *xmlstream.Element {
	out := &xmlstream.Element{Name: xmlstream.Name{Space: xmlstream.NSClient, Local: "message"}}
	out.Attrs = make([]xmlstream.Attr, 0, 5)
	out.SetAttr("type", stanza.TypeGroupchat).SetAttr("from", o.jid.String()).SetAttr("id", msgID)
	if lang := el.Lang(); lang != "" {
		out.SetAttrNS(xmlstream.NSXML, "lang", lang)
	}
	room := r.jid.String()
	out.Children = make([]xmlstream.Node, 0, len(el.Children)+1)
	for _, n := range el.Children {
		if c := n.Elem; c != nil {
			switch {
			case c.Name.Space == nsStanzaID && c.Get("by") == room,
				c.Name.Space == nsOccupantID,
				c.Name.Space == nsDelay && c.Get("from") == room:
				continue
			}
		}
		out.Children = append(out.Children, n)
	}
	return out.Append(xmlstream.New(nsOccupantID, "occupant-id").SetAttr("id", o.id))
}

// historic reports whether a message belongs in the history: one with a
// body or encrypted content, unless marked no-store (XEP-0334), as
// Prosody decides. Chat states alone are not history.
func historic(el *xmlstream.Element) bool {
	if h := stanza.StoreHintOf(el); h != stanza.HintNone {
		return h == stanza.HintStore
	}
	for c := range el.Elements() {
		switch {
		case c.Name.Local == "body" && xmlstream.IsContentNamespace(c.Name.Space),
			c.Name.Space == "urn:xmpp:eme:0",
			c.Name.Space == "eu.siacs.conversations.axolotl",
			c.Name.Space == "urn:xmpp:chat-markers:0":
			return true
		}
	}
	return false
}

// remember keeps a message for history on join, dropping the oldest
// beyond the service's bound.
func (r *room) remember(e historyEntry) {
	keep := r.svc.m.opts.History
	if keep <= 0 {
		return
	}
	if len(r.history) >= keep {
		copy(r.history, r.history[len(r.history)-keep+1:])
		r.history = r.history[:keep-1]
	}
	r.history = append(r.history, e)
}

// loadHistory fills the history from the archive after a restart: the
// room's last messages, with their stanza-ids.
func (r *room) loadHistory() error {
	m := r.svc.m
	if !r.logged() || m.opts.History <= 0 {
		return nil
	}
	items, _, err := m.archive.Page(r.jid.String(), archive.Range{Max: m.opts.History, Reverse: true})
	if err != nil {
		return err
	}
	for _, it := range items {
		el, err := xmlstream.Parse(it.Stanza, xmlstream.Limits{})
		if err != nil {
			m.log.Warn("unreadable room message skipped", "room", r.jid.String(), "err", err)
			continue
		}
		from, err := jid.Parse(el.Get("from"))
		if err != nil {
			m.log.Warn("room message without a valid sender skipped", "room", r.jid.String(), "err", err)
			continue
		}
		id := it.ID.String()
		r.history = append(r.history, historyEntry{at: it.ID.Time(), id: id, from: from, el: stamp(el, r.jid.String(), id)})
	}
	return nil
}

// sendHistory sends a joining session the discussion history it asked
// for (§7.2.13, §7.2.14), each message with a delay stamp (XEP-0203).
func (r *room) sendHistory(to jid.JID, req *xmlstream.Element) {
	maxStanzas, maxChars := r.cfg.MaxHistory, -1
	// Messages past the retention are gone from the archive at the next
	// sweep; a join never shows them meanwhile.
	since := r.svc.m.keepAfter()
	if req != nil {
		if n, ok := attrInt(req, "maxstanzas"); ok {
			maxStanzas = min(n, maxStanzas)
		}
		if n, ok := attrInt(req, "maxchars"); ok {
			maxChars = n
		}
		if n, ok := attrInt(req, "seconds"); ok {
			if t := r.svc.m.now().Add(-time.Duration(n) * time.Second); t.After(since) {
				since = t
			}
		}
		if v := req.Get("since"); v != "" {
			if t, err := time.Parse(time.RFC3339Nano, v); err == nil && t.After(since) {
				since = t
			}
		}
	}
	first, chars := len(r.history), 0
	for i := len(r.history) - 1; i >= 0 && len(r.history)-i <= maxStanzas; i-- {
		e := &r.history[i]
		if !since.IsZero() && e.at.Before(since) {
			break
		}
		if maxChars >= 0 {
			if chars += r.delayed(e, true) + len(to.String()); chars > maxChars {
				break
			}
		}
		first = i
	}
	for i := first; i < len(r.history); i++ {
		e := &r.history[i]
		r.delayed(e, false)
		r.sendTo(stanza.Message, e.from, to, e.delayed, false)
	}
}

// delayed makes e's delayed copy if needed and returns its serialised
// size when asked (0 otherwise).
func (r *room) delayed(e *historyEntry, size bool) int {
	if e.delayed == nil {
		delay := xmlstream.New(nsDelay, "delay").SetAttr("from", r.jid.String()).
			SetAttr("stamp", e.at.UTC().Format("2006-01-02T15:04:05.000Z"))
		children := make([]xmlstream.Node, 0, len(e.el.Children)+1)
		children = append(append(children, e.el.Children...), xmlstream.Node{Elem: delay})
		e.delayed = e.el.WithChildren(children)
	}
	if size && e.size == 0 {
		e.size = len(xmlstream.AppendElement(nil, e.delayed, xmlstream.NSClient))
	}
	return e.size
}

func attrInt(el *xmlstream.Element, name string) (int, bool) {
	v := el.Get(name)
	if v == "" {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// sendSubject sends a joining session the subject (§7.2.15), empty when
// none is set: clients take it as the end of the join.
func (r *room) sendSubject(to jid.JID) {
	from := r.jid
	if r.subjectBy != "" {
		if j, err := r.jid.WithResource(r.subjectBy); err == nil {
			from = j
		}
	}
	el := xmlstream.New(xmlstream.NSClient, "message").SetAttr("type", stanza.TypeGroupchat).SetAttr("from", from.String()).
		SetAttr("id", r.svc.m.newID())
	el.Append(xmlstream.New(xmlstream.NSClient, "subject").AppendText(r.subject))
	if !r.subjectAt.IsZero() {
		el.Append(xmlstream.New(nsDelay, "delay").SetAttr("from", r.jid.String()).SetAttr("stamp", r.subjectAt.UTC().Format("2006-01-02T15:04:05Z")))
	}
	r.sendTo(stanza.Message, from, to, el, false)
}

// changeSubject sets the subject, if the occupant may (§8.1).
func (r *room) changeSubject(o *occupant, st *stanza.Stanza, subject string) error {
	if o.role < Moderator && !(o.role >= Participant && r.cfg.ChangeSubject) {
		return &stanza.Error{Type: stanza.Auth, Condition: stanza.Forbidden, Text: "only moderators may change the subject"}
	}
	r.subject, r.subjectBy, r.subjectAt = subject, o.nick, r.svc.m.now().UTC()
	if err := r.save(); err != nil {
		return err
	}
	el := xmlstream.New(xmlstream.NSClient, "message").SetAttr("type", stanza.TypeGroupchat).SetAttr("from", o.jid.String())
	id := st.ID
	if id == "" {
		id = r.svc.m.newID()
	}
	el.SetAttr("id", id)
	el.Append(xmlstream.New(xmlstream.NSClient, "subject").AppendText(subject),
		xmlstream.New(nsOccupantID, "occupant-id").SetAttr("id", o.id))
	r.broadcast(stanza.Message, o.jid, el, nil)
	return nil
}

// privateMessage passes a message between occupants (§7.5), by the room's
// policy.
func (r *room) privateMessage(ctx context.Context, st *stanza.Stanza) error {
	from := r.sessions[st.From]
	if from == nil {
		if st.IsError() {
			return nil
		}
		return &stanza.Error{Type: stanza.Cancel, Condition: stanza.NotAcceptable, Text: "you are not in this room"}
	}
	switch {
	case st.Type == stanza.TypeGroupchat:
		return &stanza.Error{Type: stanza.Modify, Condition: stanza.BadRequest, Text: "a private message cannot be of type groupchat"}
	case st.IsError() && kickable(st.El):
		r.sessionGone(ctx, st.From)
		return nil
	case !st.IsError() && !r.mayPM(from):
		return &stanza.Error{Type: stanza.Cancel, Condition: stanza.NotAllowed, Text: "private messages are not allowed here"}
	}
	to := r.occupants[st.To.Resource()]
	if to == nil {
		if st.IsError() {
			return nil
		}
		return &stanza.Error{Type: stanza.Cancel, Condition: stanza.ItemNotFound, Text: "nobody in the room has this nickname"}
	}
	tmpl := &xmlstream.Element{Name: xmlstream.Name{Space: xmlstream.NSClient, Local: "message"}}
	tmpl.Attrs = make([]xmlstream.Attr, 0, 4)
	tmpl.SetAttr("from", from.jid.String())
	for _, a := range st.El.Attrs {
		if a.Name.Space == "" && (a.Name.Local == "to" || a.Name.Local == "from") {
			continue
		}
		tmpl.Attrs = append(tmpl.Attrs, a)
	}
	tmpl.Children = make([]xmlstream.Node, 0, len(st.El.Children)+2)
	for _, n := range st.El.Children {
		if n.Elem != nil && (n.Elem.Name.Space == NSUser || n.Elem.Name.Space == nsOccupantID) {
			continue
		}
		tmpl.Children = append(tmpl.Children, n)
	}
	// §7.5: the <x/> tells the recipient's client it is a private
	// message in a room, not a chat with the room's owner.
	tmpl.Append(xmlstream.New(NSUser, "x"), xmlstream.New(nsOccupantID, "occupant-id").SetAttr("id", from.id))
	r.toOccupant(stanza.Message, from.jid, to, tmpl, true)
	return nil
}

// mayPM applies the room's private message policy to a sender.
func (r *room) mayPM(o *occupant) bool {
	switch r.cfg.AllowPM {
	case PMAnyone:
		return true
	case PMParticipants:
		return o.role >= Participant
	case PMModerators:
		return o.role == Moderator
	}
	return false
}

// kickable reports whether an error from an occupant's session means the
// session is gone (as Prosody's muc/util decides).
func kickable(el *xmlstream.Element) bool {
	switch stanza.ParseError(el).Condition {
	case stanza.Gone, stanza.InternalServerError, stanza.ItemNotFound, stanza.JIDMalformed, stanza.RecipientUnavailable,
		stanza.Redirect, stanza.RemoteServerNotFound, stanza.RemoteServerTimeout, stanza.ServiceUnavailable, stanza.UndefinedCondition:
		return true
	}
	return false
}

// invite sends a mediated invitation (§7.8.2) for each <invite/>, and
// makes the invitees members of a members-only room, as Prosody does.
func (r *room) invite(st *stanza.Stanza, x *xmlstream.Element) error {
	inviter := st.From
	aff := r.affiliation(inviter)
	o := r.sessions[inviter]
	role := r.defaultRole(aff)
	if o != nil {
		role = o.role
	}
	switch {
	case o == nil && aff < Member:
		return &stanza.Error{Type: stanza.Cancel, Condition: stanza.NotAcceptable, Text: "you are not in this room"}
	case role < Participant && aff < Admin:
		return &stanza.Error{Type: stanza.Auth, Condition: stanza.Forbidden, Text: "you may not invite to this room"}
	case !r.cfg.AllowInvites && aff < Admin && role < Moderator:
		return &stanza.Error{Type: stanza.Auth, Condition: stanza.Forbidden, Text: "only moderators may invite to this room"}
	case r.cfg.MembersOnly && !r.cfg.AllowInvites && aff < Admin:
		return &stanza.Error{Type: stanza.Auth, Condition: stanza.Forbidden, Text: "only the room's admins may invite to this members-only room"}
	}
	var invitees []jid.JID
	for inv := range x.Elements() {
		if !inv.Is(NSUser, "invite") {
			continue
		}
		to, err := jid.Parse(inv.Get("to"))
		if err != nil {
			return &stanza.Error{Type: stanza.Modify, Condition: stanza.JIDMalformed, Text: "invalid invitee address"}
		}
		if r.affiliation(to) == Outcast {
			return &stanza.Error{Type: stanza.Cancel, Condition: stanza.NotAllowed, Text: to.Bare().String() + " is banned from this room"}
		}
		invitees = append(invitees, to)
	}
	changed := false
	i := 0
	for inv := range x.Elements() {
		if !inv.Is(NSUser, "invite") {
			continue
		}
		to := invitees[i]
		i++
		if r.cfg.MembersOnly && r.affiliation(to) == NoAffiliation {
			r.setAffiliation(to.Bare(), affiliation{aff: Member, reason: "invited by " + inviter.Bare().String()})
			changed = true
		}
		r.sendTo(stanza.Message, r.jid, to, r.invitation(inviter, o, to, inv.ChildText(NSUser, "reason")), true)
	}
	if changed {
		return r.save()
	}
	return nil
}

// invitation is the message the room sends an invitee: the §7.8.2
// <invite/>, the XEP-0249 element older clients look for, and a body for
// clients that know neither.
func (r *room) invitation(inviter jid.JID, o *occupant, invitee jid.JID, reason string) *xmlstream.Element {
	from := inviter.Bare().String()
	if !r.cfg.NonAnonymous && o != nil && r.defaultRole(r.affiliation(invitee)) < Moderator {
		from = o.jid.String() // semi-anonymous: the invitee learns the nick only
	}
	el := xmlstream.New(xmlstream.NSClient, "message").SetAttr("from", r.jid.String()).SetAttr("id", r.svc.m.newID())
	inv := xmlstream.New(NSUser, "invite").SetAttr("from", from)
	if reason != "" {
		inv.Append(xmlstream.New(NSUser, "reason").AppendText(reason))
	}
	x := xmlstream.New(NSUser, "x").Append(inv)
	if r.cfg.Password != "" {
		x.Append(xmlstream.New(NSUser, "password").AppendText(r.cfg.Password))
	}
	direct := xmlstream.New(nsConference, "x").SetAttr("jid", r.jid.String())
	if reason != "" {
		direct.SetAttr("reason", reason)
	}
	if r.cfg.Password != "" {
		direct.SetAttr("password", r.cfg.Password)
	}
	body := from + " invites you to the room " + r.jid.String()
	if reason != "" {
		body += " (" + reason + ")"
	}
	return el.Append(x, direct, xmlstream.New(xmlstream.NSClient, "body").AppendText(body))
}

// decline passes an invitee's refusal on to the inviter (§7.8.2).
func (r *room) decline(st *stanza.Stanza, d *xmlstream.Element) error {
	to, err := jid.Parse(d.Get("to"))
	if err != nil {
		return &stanza.Error{Type: stanza.Modify, Condition: stanza.JIDMalformed, Text: "invalid inviter address"}
	}
	el := xmlstream.New(xmlstream.NSClient, "message").SetAttr("from", r.jid.String()).SetAttr("id", r.svc.m.newID())
	dec := xmlstream.New(NSUser, "decline").SetAttr("from", st.From.Bare().String())
	if reason := d.ChildText(NSUser, "reason"); reason != "" {
		dec.Append(xmlstream.New(NSUser, "reason").AppendText(reason))
	}
	el.Append(xmlstream.New(NSUser, "x").Append(dec),
		xmlstream.New(xmlstream.NSClient, "body").AppendText(st.From.Bare().String()+" declined your invitation to the room "+r.jid.String()))
	r.sendTo(stanza.Message, r.jid, to, el, true)
	return nil
}
