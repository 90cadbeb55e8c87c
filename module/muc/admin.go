package muc

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"roost/form"
	"roost/jid"
	"roost/stanza"
	"roost/xmlstream"
)

// adminChange is one checked item of a muc#admin set.
type adminChange struct {
	target jid.JID   // affiliation changes: a bare JID or a domain
	occ    *occupant // role changes
	aff    Affiliation
	role   Role
	isRole bool
	nick   string
	reason string
}

// adminSet applies a muc#admin set (§8, §9): every item is checked first,
// and none is applied unless all may be.
func (r *room) adminSet(ctx context.Context, st *stanza.Stanza, q *xmlstream.Element) (*xmlstream.Element, error) {
	var changes []adminChange
	for item := range q.Elements() {
		if !item.Is(NSAdmin, "item") {
			continue
		}
		c, err := r.checkAdminItem(st.From, item)
		if err != nil {
			return nil, err
		}
		changes = append(changes, c)
	}
	if len(changes) == 0 {
		return nil, &stanza.Error{Type: stanza.Modify, Condition: stanza.BadRequest, Text: "no item to change"}
	}
	if err := r.checkLastOwner(st.From, changes); err != nil {
		return nil, err
	}
	affChanged := r.applyAdminChanges(ctx, st.From, changes)
	if affChanged {
		if err := r.save(); err != nil {
			return nil, err
		}
	}
	r.destroyIfEmpty(ctx)
	return nil, nil
}

// applyAdminChanges makes checked changes, telling the occupants and the
// users whose affiliation changed, and reports whether an affiliation
// changed (the room is then to be saved). from is who asked.
func (r *room) applyAdminChanges(ctx context.Context, from jid.JID, changes []adminChange) (affChanged bool) {
	actor := ""
	if o := r.sessions[from]; o != nil {
		actor = o.nick
	}
	for _, c := range changes {
		if c.isRole {
			if r.occupants[c.occ.nick] == c.occ { // still there after the changes before it
				r.setRole(ctx, c.occ, c.role, actor, c.reason)
			}
			continue
		}
		nick := c.nick
		if nick == "" && c.aff > NoAffiliation {
			nick = r.affs[c.target].nick
		}
		r.setAffiliation(c.target, affiliation{aff: c.aff, nick: nick, reason: c.reason})
		r.affiliationChanged(ctx, c.target, actor, c.reason)
		affChanged = true
	}
	return affChanged
}

// checkAdminItem checks one item of a muc#admin set against the actor's
// privileges (§8, §9, §10; the error conditions of §9.1 and §8.2).
func (r *room) checkAdminItem(actor jid.JID, item *xmlstream.Element) (adminChange, error) {
	c := adminChange{reason: item.ChildText(NSAdmin, "reason"), nick: item.Get("nick")}
	affAttr, hasAff := item.Attr("", "affiliation")
	roleAttr, hasRole := item.Attr("", "role")
	if hasAff == hasRole {
		return c, &stanza.Error{Type: stanza.Modify, Condition: stanza.BadRequest, Text: "an item changes either an affiliation or a role"}
	}
	actorAff := r.affiliation(actor)
	if hasAff {
		aff, ok := ParseAffiliation(affAttr)
		if !ok {
			return c, &stanza.Error{Type: stanza.Modify, Condition: stanza.BadRequest, Text: "unknown affiliation " + affAttr}
		}
		c.aff = aff
		switch v := item.Get("jid"); {
		case v != "":
			j, err := jid.Parse(v)
			if err != nil || j.Resource() != "" {
				return c, &stanza.Error{Type: stanza.Modify, Condition: stanza.JIDMalformed, Text: "a bare JID is expected"}
			}
			c.target = j
		case c.nick != "":
			o := r.occupants[c.nick]
			if o == nil {
				return c, &stanza.Error{Type: stanza.Cancel, Condition: stanza.ItemNotFound, Text: "nobody in the room has this nickname"}
			}
			c.target, c.nick = o.bare, ""
		default:
			return c, &stanza.Error{Type: stanza.Modify, Condition: stanza.BadRequest, Text: "say whose affiliation changes with jid"}
		}
		if c.nick != "" {
			if err := r.svc.checkNick(c.nick); err != nil {
				return c, err
			}
			if owner, ok := r.reservedBy(c.nick); ok && !owner.Equal(c.target) {
				return c, &stanza.Error{Type: stanza.Cancel, Condition: stanza.Conflict, Text: "this nickname is reserved by someone else"}
			}
		}
		return c, r.mayChangeAffiliation(actorAff, c.target, c.aff)
	}
	role, ok := parseRole(roleAttr)
	if !ok {
		return c, &stanza.Error{Type: stanza.Modify, Condition: stanza.BadRequest, Text: "unknown role " + roleAttr}
	}
	c.role, c.isRole = role, true
	switch {
	case c.nick != "":
		c.occ = r.occupants[c.nick]
	case item.Get("jid") != "":
		if j, err := jid.Parse(item.Get("jid")); err == nil {
			c.occ = r.sessions[j]
			if c.occ == nil {
				if occs := r.occupantsOf(j.Bare()); len(occs) == 1 {
					c.occ = occs[0]
				}
			}
		}
	}
	if c.occ == nil {
		return c, &stanza.Error{Type: stanza.Cancel, Condition: stanza.ItemNotFound, Text: "nobody in the room has this nickname"}
	}
	me := r.sessions[actor]
	targetAff := r.affiliation(c.occ.bare)
	switch {
	case me == nil || me.role != Moderator:
		return c, &stanza.Error{Type: stanza.Auth, Condition: stanza.Forbidden, Text: "only moderators may change roles"}
	case targetAff >= Admin && role < Moderator:
		// §8.2, §8.4, §9.7: admins and owners cannot be kicked, silenced
		// or demoted by a role change.
		return c, &stanza.Error{Type: stanza.Cancel, Condition: stanza.NotAllowed, Text: "the room's admins and owners keep their role"}
	case targetAff > actorAff:
		return c, &stanza.Error{Type: stanza.Cancel, Condition: stanza.NotAllowed, Text: "you may not change the role of someone with a higher affiliation"}
	case (role == Moderator || c.occ.role == Moderator) && actorAff < Admin:
		return c, &stanza.Error{Type: stanza.Cancel, Condition: stanza.NotAllowed, Text: "only the room's admins may grant or revoke moderation"}
	}
	return c, nil
}

// mayChangeAffiliation checks that someone of affiliation actorAff may
// give target the affiliation aff (§9, §10: admins manage members and
// outcasts, owners everything).
func (r *room) mayChangeAffiliation(actorAff Affiliation, target jid.JID, aff Affiliation) error {
	current := NoAffiliation
	if a, ok := r.affs[target]; ok {
		current = a.aff
	}
	switch {
	case actorAff == Owner:
	case actorAff == Admin && aff < Admin && current < Admin:
	case actorAff == Admin:
		return &stanza.Error{Type: stanza.Cancel, Condition: stanza.NotAllowed, Text: "only owners may change owners and admins"}
	default:
		return &stanza.Error{Type: stanza.Auth, Condition: stanza.Forbidden, Text: "only the room's admins may change affiliations"}
	}
	return nil
}

// checkLastOwner keeps a room from losing its last owner (§10.5).
func (r *room) checkLastOwner(actor jid.JID, changes []adminChange) error {
	owners := r.owners()
	for _, c := range changes {
		if c.isRole {
			continue
		}
		i := slices.IndexFunc(owners, c.target.Equal)
		switch {
		case c.aff == Owner && i < 0:
			owners = append(owners, c.target)
		case c.aff != Owner && i >= 0:
			owners = slices.Delete(owners, i, i+1)
		}
	}
	if len(owners) == 0 && len(r.owners()) > 0 {
		return &stanza.Error{Type: stanza.Cancel, Condition: stanza.Conflict, Text: "a room needs an owner: name another before leaving ownership"}
	}
	_ = actor
	return nil
}

// affiliationChanged brings the occupants of target (a bare JID, or a
// banned domain) in line with their new affiliation: out with 301 or 321,
// or a new role, and a presence to everyone (§9). A user not in the room
// is told by a message with status 101.
func (r *room) affiliationChanged(ctx context.Context, target jid.JID, actor, reason string) {
	var occs []*occupant
	for _, o := range r.occupants {
		if o.bare.Equal(target) || (target.Local() == "" && o.bare.Domain() == target.Domain()) {
			occs = append(occs, o)
		}
	}
	aff := r.affiliation(target)
	if target.Local() == "" {
		aff = r.affs[target].aff
	}
	if len(occs) == 0 && target.Local() != "" {
		item := xmlstream.New(NSUser, "item").SetAttr("affiliation", aff.String()).SetAttr("jid", target.String())
		if reason != "" {
			item.Append(xmlstream.New(NSUser, "reason").AppendText(reason))
		}
		el := xmlstream.New(xmlstream.NSClient, "message").SetAttr("from", r.jid.String()).SetAttr("id", r.svc.m.newID())
		el.Append(xmlstream.New(NSUser, "x").Append(item, statusElement(statusAffiliation)))
		r.sendTo(stanza.Message, r.jid, target, el, true)
		return
	}
	for _, o := range occs {
		a := r.affiliation(o.bare)
		switch {
		case a == Outcast:
			r.removeWith(o, nil, change{codes: []int{statusBanned}, actor: actor, reason: reason})
		case r.cfg.MembersOnly && a < Member:
			r.removeWith(o, nil, change{codes: []int{statusAffiliationOut}, actor: actor, reason: reason})
		default:
			r.setRole(ctx, o, r.defaultRole(a), actor, reason)
		}
	}
}

// setRole gives an occupant a role (§8, §9.6): none removes it (status
// 307, kicked), anything else is a presence to everyone.
func (r *room) setRole(_ context.Context, o *occupant, role Role, actor, reason string) {
	if role == RoleNone {
		r.removeWith(o, nil, change{codes: []int{statusKicked}, actor: actor, reason: reason})
		return
	}
	before := r.viewFor(o)
	o.role = role
	r.broadcastPresence(o, "", o.primary().children, change{actor: actor, reason: reason, selfCodes: []int{statusSelf}})
	if r.viewFor(o) != before {
		// A moderator of a semi-anonymous room now sees real JIDs, or no
		// longer does: the others' presence again, as Prosody sends it.
		for _, s := range o.sessions {
			r.sendOccupantList(s.full, o)
		}
	}
}

// adminGet lists affiliations (§9.5, §10.5) or roles (§8.5, §9.8).
func (r *room) adminGet(st *stanza.Stanza, q *xmlstream.Element) (*xmlstream.Element, error) {
	item := q.Child(NSAdmin, "item")
	if item == nil {
		return nil, &stanza.Error{Type: stanza.Modify, Condition: stanza.BadRequest, Text: "ask for an affiliation or a role"}
	}
	actorAff := r.affiliation(st.From)
	out := xmlstream.New(NSAdmin, "query")
	if a, ok := item.Attr("", "affiliation"); ok {
		aff, ok := ParseAffiliation(a)
		if !ok || aff == NoAffiliation {
			return nil, &stanza.Error{Type: stanza.Modify, Condition: stanza.BadRequest, Text: "unknown affiliation list " + a}
		}
		// Admins see lists up to their own rank; in a members-only,
		// non-anonymous room members may see them too (as Prosody); the
		// member list, also the occupants whose role the room's
		// muc#roomconfig_getmemberlist names.
		if !(actorAff >= Admin && actorAff >= aff) && !(r.cfg.MembersOnly && r.cfg.NonAnonymous && actorAff >= Member) &&
			!(aff == Member && r.mayGetMemberList(st.From)) {
			return nil, &stanza.Error{Type: stanza.Auth, Condition: stanza.Forbidden, Text: "you may not see this list"}
		}
		for _, j := range r.withAffiliation(aff) {
			x := r.affs[j]
			it := xmlstream.New(NSAdmin, "item").SetAttr("affiliation", aff.String()).SetAttr("jid", j.String())
			if x.nick != "" {
				it.SetAttr("nick", x.nick)
			}
			if x.reason != "" {
				it.Append(xmlstream.New(NSAdmin, "reason").AppendText(x.reason))
			}
			out.Append(it)
		}
		return stanza.ResultIQ(st, out), nil
	}
	role, ok := parseRole(item.Get("role"))
	if !ok || role == RoleNone {
		return nil, &stanza.Error{Type: stanza.Modify, Condition: stanza.BadRequest, Text: "unknown role list " + item.Get("role")}
	}
	if me := r.sessions[st.From]; me == nil || me.role != Moderator {
		return nil, &stanza.Error{Type: stanza.Auth, Condition: stanza.Forbidden, Text: "only moderators may see this list"}
	}
	nicks := make([]string, 0, len(r.occupants))
	for n, o := range r.occupants {
		if o.role == role {
			nicks = append(nicks, n)
		}
	}
	slices.Sort(nicks)
	for _, n := range nicks {
		o := r.occupants[n]
		out.Append(xmlstream.New(NSAdmin, "item").SetAttr("affiliation", r.affiliation(o.bare).String()).
			SetAttr("role", role.String()).SetAttr("nick", n).SetAttr("jid", o.primary().full.String()))
	}
	return stanza.ResultIQ(st, out), nil
}

// mayGetMemberList reports whether the session from is an occupant whose
// role may retrieve the member list (muc#roomconfig_getmemberlist).
func (r *room) mayGetMemberList(from jid.JID) bool {
	o := r.sessions[from]
	return o != nil && r.cfg.getMemberList().Has(o.role)
}

// withAffiliation returns the JIDs of affiliation aff, in order.
func (r *room) withAffiliation(aff Affiliation) []jid.JID {
	keys := make([]jid.JID, 0, len(r.affs))
	for j, x := range r.affs {
		if x.aff == aff {
			keys = append(keys, j)
		}
	}
	sortJIDs(keys)
	return keys
}

// sortJIDs puts js in the order of their string forms, so that lists and
// changes come out the same on every run.
func sortJIDs(js []jid.JID) {
	slices.SortFunc(js, func(a, b jid.JID) int { return strings.Compare(a.String(), b.String()) })
}

// ownerGet sends the configuration form (§10.2).
func (r *room) ownerGet(st *stanza.Stanza) (*xmlstream.Element, error) {
	if r.affiliation(st.From) != Owner {
		return nil, &stanza.Error{Type: stanza.Auth, Condition: stanza.Forbidden, Text: "only the room's owners may configure it"}
	}
	return stanza.ResultIQ(st, xmlstream.New(NSOwner, "query").Append(r.configForm().Element())), nil
}

// configForm is the configuration form (§10.2) with the room's owners and
// admins (muc#roomconfig_roomowners, _roomadmins).
func (r *room) configForm() *form.Form {
	f := r.cfg.Form("Configuration of "+r.jid.String(), r.svc.m.lim)
	list := func(v, label string, aff Affiliation) form.Field {
		fl := form.Field{Var: v, Type: form.JIDMulti, Label: label}
		for _, j := range r.withAffiliation(aff) {
			fl.Values = append(fl.Values, j.String())
		}
		return fl
	}
	return f.Add(list(fRoomOwners, "Owners (full list)", Owner), list(fRoomAdmins, "Admins (full list)", Admin))
}

// listChanges turns the owner and admin lists of a submitted
// configuration form into the changes that muc#admin items would make
// (§10.3–10.7), checked with the same rules: whoever is listed gets the
// affiliation; an owner or admin left out of its list, and in no other,
// becomes a member (the lists say who runs the room, not who may enter
// it: a members-only room's former admin still may). Config.Apply has
// refused bad JIDs and anyone in both lists.
func (r *room) listChanges(from jid.JID, f *form.Form) ([]adminChange, error) {
	want := map[jid.JID]Affiliation{}
	for _, l := range []struct {
		v   string
		aff Affiliation
	}{{fRoomOwners, Owner}, {fRoomAdmins, Admin}} {
		if !f.Has(l.v) {
			continue
		}
		listed, err := userJIDs(f.Values(l.v))
		if err != nil {
			return nil, badConfig("field %s: %v", l.v, err)
		}
		for _, j := range r.withAffiliation(l.aff) {
			if _, ok := want[j]; !ok && !slices.ContainsFunc(listed, j.Equal) {
				want[j] = Member
			}
		}
		for _, j := range listed {
			want[j] = l.aff
		}
	}
	targets := make([]jid.JID, 0, len(want))
	for j := range want {
		targets = append(targets, j)
	}
	sortJIDs(targets)
	actorAff := r.affiliation(from)
	var changes []adminChange
	for _, j := range targets {
		current := NoAffiliation
		if a, ok := r.affs[j]; ok {
			current = a.aff
		}
		if want[j] == current {
			continue
		}
		if err := r.mayChangeAffiliation(actorAff, j, want[j]); err != nil {
			return nil, err
		}
		changes = append(changes, adminChange{target: j, aff: want[j]})
	}
	return changes, nil
}

// ownerSet applies a configuration (§10.1.2, §10.2), cancels the creation
// of a locked room (§10.1.3) or destroys the room (§10.9).
func (r *room) ownerSet(ctx context.Context, st *stanza.Stanza, q *xmlstream.Element) (*xmlstream.Element, error) {
	if r.affiliation(st.From) != Owner {
		return nil, &stanza.Error{Type: stanza.Auth, Condition: stanza.Forbidden, Text: "only the room's owners may configure it"}
	}
	if d := q.Child(NSOwner, "destroy"); d != nil {
		var alt jid.JID
		if v := d.Get("jid"); v != "" {
			j, err := jid.Parse(v)
			if err != nil {
				return nil, &stanza.Error{Type: stanza.Modify, Condition: stanza.JIDMalformed, Text: "invalid alternate venue"}
			}
			alt = j
		}
		return nil, r.destroy(ctx, alt, d.ChildText(NSOwner, "reason"), d.ChildText(NSOwner, "password"))
	}
	x := q.Child(form.NS, "x")
	if x == nil {
		return nil, &stanza.Error{Type: stanza.Modify, Condition: stanza.BadRequest, Text: "submit a configuration form or destroy the room"}
	}
	f, err := form.Parse(x)
	if err != nil {
		return nil, &stanza.Error{Type: stanza.Modify, Condition: stanza.BadRequest, Text: err.Error()}
	}
	switch f.Type {
	case form.TypeCancel:
		if r.locked {
			// §10.1.3: cancelling the first configuration cancels the room.
			return nil, r.destroy(ctx, jid.JID{}, "", "")
		}
		return nil, nil
	case form.TypeSubmit:
	default:
		return nil, &stanza.Error{Type: stanza.Modify, Condition: stanza.BadRequest, Text: "submit or cancel the form"}
	}
	cfg, err := r.cfg.Apply(f, r.svc.m.lim)
	if err != nil {
		return nil, err // nothing changed
	}
	changes, err := r.listChanges(st.From, f)
	if err != nil {
		return nil, err
	}
	if err := r.checkLastOwner(st.From, changes); err != nil {
		return nil, err
	}
	// The affiliations first, so that a room turning members-only keeps
	// the owners and admins the same form names.
	r.applyAdminChanges(ctx, st.From, changes)
	return nil, r.applyConfig(ctx, cfg)
}

// applyConfig makes cfg the room's configuration and announces the change
// (§10.2.1): status codes to everyone, non-members out of a room that
// became members-only (322).
func (r *room) applyConfig(ctx context.Context, cfg Config) error {
	old, wasLocked := r.cfg, r.locked
	r.cfg, r.locked = cfg, false
	if old.Persistent && !cfg.Persistent && !wasLocked {
		if _, err := r.svc.m.store.DeleteRoom(r.jid.String()); err != nil {
			return fmt.Errorf("forget room %s: %w", r.jid, err)
		}
	}
	if err := r.save(); err != nil {
		return err
	}
	if cfg.MembersOnly && !old.MembersOnly {
		for _, o := range r.occupantList() {
			if r.affiliation(o.bare) < Member {
				r.removeWith(o, nil, change{codes: []int{statusMembersOnly}})
			}
		}
	}
	if cfg.presenceBroadcast() != old.presenceBroadcast() {
		// Occupants the others now may see appear; those they may not
		// go (publish).
		for _, o := range r.occupantList() {
			if o.shown != r.broadcasts(o.role) {
				r.publish(o, "", o.primary().children, change{})
			}
		}
	}
	if codes := cfg.changeCodes(old); len(codes) > 0 && !wasLocked {
		x := xmlstream.New(NSUser, "x")
		for _, c := range codes {
			x.Append(statusElement(c))
		}
		el := xmlstream.New(xmlstream.NSClient, "message").SetAttr("type", stanza.TypeGroupchat).
			SetAttr("from", r.jid.String()).SetAttr("id", r.svc.m.newID()).Append(x)
		r.broadcast(stanza.Message, r.jid, el, nil)
	}
	if wasLocked {
		r.svc.m.log.Info("room configured", "room", r.jid.String())
	}
	r.destroyIfEmpty(ctx)
	return nil
}

// destroy removes everyone and forgets the room (§10.9), pointing the
// occupants at an alternate venue if given.
func (r *room) destroy(_ context.Context, alt jid.JID, reason, password string) error {
	d := xmlstream.New(NSUser, "destroy")
	if !alt.IsZero() {
		d.SetAttr("jid", alt.String())
	}
	if reason != "" {
		d.Append(xmlstream.New(NSUser, "reason").AppendText(reason))
	}
	if password != "" {
		d.Append(xmlstream.New(NSUser, "password").AppendText(password))
	}
	// §10.9: the occupants see affiliation and role none, each only its
	// own removal.
	clear(r.affs)
	for _, o := range r.occupantList() {
		r.dismiss(o, change{destroy: d})
	}
	r.destroyed = true
	r.history = nil
	if _, err := r.svc.m.store.DeleteRoom(r.jid.String()); err != nil {
		return fmt.Errorf("delete room %s: %w", r.jid, err)
	}
	r.svc.m.log.Info("room destroyed", "room", r.jid.String())
	return nil
}
