package muc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"roost/jid"
	"roost/stanza"
	"roost/xmlstream"
)

// session is one client session of an occupant (a full JID).
type session struct {
	full jid.JID
	// children are the content of the session's last presence, without
	// the MUC elements the room adds itself.
	children []xmlstream.Node
	// lang is the presence's xml:lang, kept on what the room sends.
	lang string
}

// occupant is someone in the room under one nick, with one or more
// sessions (XEP-0045 §7.2: one user, several devices, one occupant).
type occupant struct {
	nick string
	jid  jid.JID // room@service/nick
	bare jid.JID // the real bare JID
	role Role
	// sessions[0] is the primary: its presence is the occupant's.
	sessions []*session
	// id is the occupant-id (XEP-0421), stable per real bare JID.
	id string
	// shown: the others have the occupant's presence. Only a role the
	// room broadcasts (muc#roomconfig_presencebroadcast) is shown; see
	// room.publish.
	shown bool

	// Presence changes are passed on at a bounded rate: a token bucket,
	// and the time a merged change is due.
	tokens  float64
	checked time.Time
	timer   *time.Timer
}

func (o *occupant) primary() *session { return o.sessions[0] }

func (o *occupant) session(full jid.JID) int {
	return slices.IndexFunc(o.sessions, func(s *session) bool { return s.full.Equal(full) })
}

// affiliation is a stored relation of a bare JID (or a whole domain, for
// a ban) to the room.
type affiliation struct {
	aff Affiliation
	// nick is the nick reserved by registration (§7.10) or by an admin's
	// item nick attribute.
	nick   string
	reason string
}

// historyEntry is one message kept for history on join (§7.2.13).
type historyEntry struct {
	at   time.Time
	id   string
	from jid.JID // the occupant JID it was sent from
	// el is the message as broadcast (from room@service/nick, with its
	// stanza-id and occupant-id), without to.
	el *xmlstream.Element
	// delayed is el with its delay stamp, made on the first join that
	// needs it and then shared.
	delayed *xmlstream.Element
	// size is the length of delayed, serialised, for maxchars.
	size int
}

// room is a chat room. Everything in it is guarded by mu; see the package
// documentation for the locking and sending rules.
type room struct {
	svc *service
	jid jid.JID

	mu        sync.Mutex
	cfg       Config
	affs      map[jid.JID]affiliation
	subject   string
	subjectBy string // nick of who set it; "" for the room itself
	subjectAt time.Time
	salt      []byte
	created   time.Time
	// locked: created and not yet configured by its owner (§10.1.1);
	// nobody else may enter.
	locked bool
	// destroyed: removed from the service; stanzas that still find it
	// are treated as addressed to no room.
	destroyed bool

	occupants map[string]*occupant  // by nick
	sessions  map[jid.JID]*occupant // by session full JID

	history []historyEntry // oldest first, at most the service's history

	// The outbox: what the room sends, in order, delivered by one
	// flusher at a time without mu held.
	out, spare []outgoing
	flushing   bool
}

func newRoom(svc *service, j jid.JID, cfg Config, salt []byte, now time.Time) *room {
	return &room{
		svc: svc, jid: j, cfg: cfg, salt: salt, created: now,
		affs:      make(map[jid.JID]affiliation),
		occupants: make(map[string]*occupant),
		sessions:  make(map[jid.JID]*occupant),
	}
}

// affiliation returns the affiliation of a real JID: its bare JID's, or
// outcast when its whole domain is banned (§9.1 allows banning a server).
func (r *room) affiliation(real jid.JID) Affiliation {
	if a, ok := r.affs[real.Bare()]; ok {
		return a.aff
	}
	if a, ok := r.affs[real.DomainJID()]; ok && a.aff == Outcast {
		return Outcast
	}
	return NoAffiliation
}

// defaultRole is the role an affiliation enters with (§5.1.2): none for
// the unaffiliated in a members-only room.
func (r *room) defaultRole(a Affiliation) Role {
	switch {
	case a >= Admin:
		return Moderator
	case a == Member:
		return Participant
	case a == NoAffiliation && r.cfg.MembersOnly:
		return RoleNone
	case a == NoAffiliation && r.cfg.Moderated:
		return Visitor
	case a == NoAffiliation:
		return Participant
	}
	return RoleNone
}

// seesJIDs reports whether viewer may see other occupants' real JIDs
// (§5.1.1: everyone in a non-anonymous room, moderators in a
// semi-anonymous one).
func (r *room) seesJIDs(viewer *occupant) bool {
	return r.cfg.NonAnonymous || viewer.role == Moderator
}

// reservedBy returns who reserved nick, if anyone.
func (r *room) reservedBy(nick string) (jid.JID, bool) {
	for j, a := range r.affs {
		if a.nick == nick && a.aff != Outcast {
			return j, true
		}
	}
	return jid.JID{}, false
}

func (r *room) owners() []jid.JID {
	var out []jid.JID
	for j, a := range r.affs {
		if a.aff == Owner {
			out = append(out, j)
		}
	}
	return out
}

// setAffiliation records a for j; NoAffiliation without a nick forgets j.
func (r *room) setAffiliation(j jid.JID, a affiliation) {
	if a.aff == NoAffiliation && a.nick == "" {
		delete(r.affs, j)
		return
	}
	r.affs[j] = a
}

// record is a room as stored: its configuration, subject and
// affiliations. Occupants are not stored.
type record struct {
	Version      int         `json:"v"`
	Config       Config      `json:"config"`
	Subject      string      `json:"subject,omitempty"`
	SubjectBy    string      `json:"subject_by,omitempty"`
	SubjectAt    time.Time   `json:"subject_at,omitzero"`
	Affiliations []affRecord `json:"affiliations,omitempty"`
	Salt         []byte      `json:"salt"`
	Created      time.Time   `json:"created"`
}

type affRecord struct {
	JID         string `json:"jid"`
	Affiliation string `json:"affiliation"`
	Nick        string `json:"nick,omitempty"`
	Reason      string `json:"reason,omitempty"`
}

const recordVersion = 1

// errRecord: a stored room record that cannot be read.
var errRecord = errors.New("muc: invalid room record")

func (r *room) record() record {
	rec := record{Version: recordVersion, Config: r.cfg, Subject: r.subject, SubjectBy: r.subjectBy, SubjectAt: r.subjectAt,
		Salt: r.salt, Created: r.created}
	for j, a := range r.affs {
		rec.Affiliations = append(rec.Affiliations, affRecord{JID: j.String(), Affiliation: a.aff.String(), Nick: a.nick, Reason: a.reason})
	}
	slices.SortFunc(rec.Affiliations, func(a, b affRecord) int {
		if a.JID < b.JID {
			return -1
		}
		if a.JID > b.JID {
			return 1
		}
		return 0
	})
	return rec
}

func encodeRecord(rec record) ([]byte, error) {
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("encode room record: %w", err)
	}
	return b, nil
}

// decodeRecord reads a stored record. Every affiliation's JID must be a
// canonical bare JID (or a domain) and every name known.
func decodeRecord(b []byte) (record, map[jid.JID]affiliation, error) {
	var rec record
	if err := json.Unmarshal(b, &rec); err != nil {
		return record{}, nil, fmt.Errorf("%w: %w", errRecord, err)
	}
	if rec.Version != recordVersion {
		return record{}, nil, fmt.Errorf("%w: version %d", errRecord, rec.Version)
	}
	affs := make(map[jid.JID]affiliation, len(rec.Affiliations))
	for _, a := range rec.Affiliations {
		j, err := jid.Parse(a.JID)
		if err != nil || j.Resource() != "" || j.String() != a.JID {
			return record{}, nil, fmt.Errorf("%w: affiliation jid %q", errRecord, a.JID)
		}
		aff, ok := ParseAffiliation(a.Affiliation)
		if !ok || (aff == NoAffiliation && a.Nick == "") {
			return record{}, nil, fmt.Errorf("%w: affiliation %q", errRecord, a.Affiliation)
		}
		affs[j] = affiliation{aff: aff, nick: a.Nick, reason: a.Reason}
	}
	switch rec.Config.AllowPM {
	case PMAnyone, PMParticipants, PMModerators, PMNone:
	default:
		return record{}, nil, fmt.Errorf("%w: allow_pm %q", errRecord, rec.Config.AllowPM)
	}
	// A chosen set equal to the default is the default (Config.Apply).
	if rec.Config.PresenceBroadcast == defaultPresenceBroadcast {
		rec.Config.PresenceBroadcast = 0
	}
	if rec.Config.GetMemberList == defaultGetMemberList {
		rec.Config.GetMemberList = 0
	}
	if rec.Config.MaxHistory < 0 || rec.Config.MaxUsers < 0 {
		return record{}, nil, fmt.Errorf("%w: negative limit", errRecord)
	}
	return rec, affs, nil
}

// save stores the room if it is persistent. Called with mu held.
func (r *room) save() error {
	if !r.cfg.Persistent || r.locked || r.destroyed {
		return nil
	}
	b, err := encodeRecord(r.record())
	if err != nil {
		return err
	}
	if err := r.svc.m.store.PutRoom(r.jid.String(), b); err != nil {
		return fmt.Errorf("save room %s: %w", r.jid, err)
	}
	return nil
}

// outgoing is one stanza in the outbox.
type outgoing struct {
	kind     stanza.Kind
	typ      string
	from, to jid.JID
	el       *xmlstream.Element
	// route sends through the router's whole delivery path (interceptors,
	// offline storage, carbons): for private messages, relayed IQs and
	// messages to bare JIDs. Otherwise a local session gets the stanza
	// directly, as the occupant it is.
	route bool
}

// queue adds a stanza to the outbox. Called with mu held.
func (r *room) queue(o outgoing) { r.out = append(r.out, o) }

// unlock releases mu after sending what the outbox holds, in order. One
// caller at a time sends, without mu, so that a stanza routed back to the
// room at once (an error bounced by the router) is handled instead of
// deadlocking; whoever finds a send in progress leaves its stanzas to it.
func (r *room) unlock(ctx context.Context) {
	if r.flushing || len(r.out) == 0 {
		r.mu.Unlock()
		return
	}
	r.flushing = true
	ctx = context.WithoutCancel(ctx)
	for len(r.out) > 0 {
		batch := r.out
		r.out, r.spare = r.spare[:0], nil
		r.mu.Unlock()
		gone := r.svc.m.send(ctx, batch)
		r.mu.Lock()
		clear(batch)
		r.spare = batch[:0]
		for _, full := range gone {
			r.sessionGone(ctx, full)
		}
	}
	r.flushing = false
	r.mu.Unlock()
}

// envelope is the per-recipient copy of a broadcast stanza: the top
// element and its attributes, sharing the children with every other
// recipient's (the router's elements are immutable once handed over).
type envelope struct {
	el    xmlstream.Element
	attrs [5]xmlstream.Attr
}

// address returns tmpl addressed to to, built in env.
func address(env *envelope, tmpl *xmlstream.Element, to string) *xmlstream.Element {
	if len(tmpl.Attrs) >= len(env.attrs) {
		return tmpl.WithAttr("to", to)
	}
	n := 0
	for _, a := range tmpl.Attrs {
		if a.Name.Space == "" && a.Name.Local == "to" {
			continue
		}
		env.attrs[n] = a
		n++
	}
	env.attrs[n] = xmlstream.Attr{Name: xmlstream.Name{Local: "to"}, Value: to}
	n++
	env.el = xmlstream.Element{Name: tmpl.Name, Attrs: env.attrs[:n:n], Children: tmpl.Children}
	return &env.el
}

// sendTo queues tmpl (from from, without to) for to.
func (r *room) sendTo(kind stanza.Kind, from, to jid.JID, tmpl *xmlstream.Element, route bool) {
	var env envelope
	r.queue(outgoing{kind: kind, typ: tmpl.Get("type"), from: from, to: to, el: address(&env, tmpl, to.String()), route: route})
}

// toOccupant queues tmpl for every session of o.
func (r *room) toOccupant(kind stanza.Kind, from jid.JID, o *occupant, tmpl *xmlstream.Element, route bool) {
	envs := make([]envelope, len(o.sessions))
	typ := tmpl.Get("type")
	for i, s := range o.sessions {
		r.queue(outgoing{kind: kind, typ: typ, from: from, to: s.full, el: address(&envs[i], tmpl, s.full.String()), route: route})
	}
}

// broadcast queues tmpl for every session of every occupant but skip,
// with one allocation for all the envelopes.
func (r *room) broadcast(kind stanza.Kind, from jid.JID, tmpl *xmlstream.Element, skip *occupant) {
	n := 0
	for _, o := range r.occupants {
		if o != skip {
			n += len(o.sessions)
		}
	}
	if n == 0 {
		return
	}
	envs := make([]envelope, n)
	typ := tmpl.Get("type")
	r.out = slices.Grow(r.out, n)
	i := 0
	for _, o := range r.occupants {
		if o == skip {
			continue
		}
		for _, s := range o.sessions {
			r.out = append(r.out, outgoing{kind: kind, typ: typ, from: from, to: s.full, el: address(&envs[i], tmpl, s.full.String())})
			i++
		}
	}
}
