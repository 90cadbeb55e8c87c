package muc

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"roost/archive"
	"roost/discoinfo"
	"roost/form"
	"roost/jid"
	"roost/stanza"
	"roost/xmlstream"
)

// handleIQ handles IQs addressed to a room or an occupant.
func (s *service) handleIQ(ctx context.Context, st *stanza.Stanza) (*xmlstream.Element, error) {
	r := s.lockRoom(st.To.Local())
	if r == nil {
		if st.Type == stanza.TypeResult || st.IsError() {
			return nil, nil
		}
		return nil, &stanza.Error{Type: stanza.Cancel, Condition: stanza.ItemNotFound, Text: "there is no such room"}
	}
	if q := st.El.FirstChild(); st.To.Resource() == "" && (q.Is(archive.NS, "query") || q.Is(archive.NS, "metadata")) &&
		(st.Type == stanza.TypeGet || st.Type == stanza.TypeSet) {
		// Checked with the room locked, answered without: reading the
		// archive may wait for its next commit.
		err := r.mayReadArchive(st.From)
		s.release(ctx, r)
		if err != nil {
			return nil, err
		}
		return s.m.archiveIQ(ctx, st, q)
	}
	var (
		reply *xmlstream.Element
		err   error
	)
	if st.To.Resource() != "" {
		reply, err = r.occupantIQ(st)
	} else {
		reply, err = r.roomIQ(ctx, st)
	}
	s.release(ctx, r)
	return reply, err
}

// roomIQ serves the room's own IQs (mu held).
func (r *room) roomIQ(ctx context.Context, st *stanza.Stanza) (*xmlstream.Element, error) {
	if st.Type != stanza.TypeGet && st.Type != stanza.TypeSet {
		return nil, nil // nothing the room asked for
	}
	if r.locked && r.affiliation(st.From) != Owner {
		return nil, &stanza.Error{Type: stanza.Cancel, Condition: stanza.ItemNotFound, Text: "there is no such room"}
	}
	q := st.El.FirstChild()
	get := st.Type == stanza.TypeGet
	switch {
	case get && q.Is(discoinfo.NSInfo, "query"):
		return r.discoInfo(st, q.Get("node"))
	case get && q.Is(discoinfo.NSItems, "query"):
		// §6.5 lets a room list its occupants; like Prosody, roost lists
		// none, which reveals nothing in any configuration.
		return stanza.ResultIQ(st, xmlstream.New(discoinfo.NSItems, "query")), nil
	case q.Is(NSAdmin, "query"):
		if get {
			return r.adminGet(st, q)
		}
		return r.adminSet(ctx, st, q)
	case q.Is(NSOwner, "query"):
		if get {
			return r.ownerGet(st)
		}
		return r.ownerSet(ctx, st, q)
	case q.Is(nsRegister, "query"):
		return r.register(st, q)
	case get && q.Is(nsPing, "ping"):
		return nil, nil
	case get && q.Is(nsVCard, "vCard"):
		// Rooms have no vCard (no avatar); an empty one tells clients so.
		return stanza.ResultIQ(st, xmlstream.New(nsVCard, "vCard")), nil
	}
	return nil, stanza.NewError(stanza.ServiceUnavailable, "")
}

// discoInfo describes the room (§6.4), or the nick the asker reserved
// (§7.12).
func (r *room) discoInfo(st *stanza.Stanza, node string) (*xmlstream.Element, error) {
	switch node {
	case "":
	case nodeReservedNick:
		q := xmlstream.New(discoinfo.NSInfo, "query").SetAttr("node", node)
		if a, ok := r.affs[st.From.Bare()]; ok && a.nick != "" {
			q.Append(xmlstream.New(discoinfo.NSInfo, "identity").SetAttr("category", "conference").SetAttr("type", "text").SetAttr("name", a.nick))
		}
		return stanza.ResultIQ(st, q), nil
	default:
		return nil, stanza.NewError(stanza.ItemNotFound, "")
	}
	info := discoinfo.Info{
		Identities: []discoinfo.Identity{{Category: "conference", Type: "text", Name: r.displayName()}},
		Features: append([]string{NS, featureStableID, featureSelfPing, FormRequest, nsStanzaID, nsOccupantID, nsRegister, nsPing},
			r.cfg.features()...),
		Forms: []*form.Form{r.infoForm()},
	}
	if r.logged() {
		info.Features = append(info.Features, archive.NS, archive.NSExtended)
	}
	return stanza.ResultIQ(st, info.Normalized().Query("")), nil
}

// infoForm is the muc#roominfo extension of the room's disco#info
// (§15.5.4).
func (r *room) infoForm() *form.Form {
	f := form.New(form.TypeResult, FormInfo)
	text := func(v, label, value string) form.Field {
		return form.Field{Var: v, Type: form.TextSingle, Label: label, Values: []string{value}}
	}
	boolean := func(v, label string, b bool) form.Field {
		return form.Field{Var: v, Type: form.Boolean, Label: label, Values: []string{form.FormatBool(b)}}
	}
	return f.Add(
		text(fName, "Name", r.cfg.Name),
		text("muc#roominfo_description", "Description", r.cfg.Description),
		text("muc#roominfo_subject", "Subject", r.subject),
		text("muc#roominfo_occupants", "Number of occupants", strconv.Itoa(len(r.occupants))),
		text(fMaxHistory, "Maximum number of history messages returned by the room", strconv.Itoa(r.cfg.MaxHistory)),
		boolean(fChangeSubject, "Participants may change the subject", r.cfg.ChangeSubject),
		boolean(fAllowInvites, "Occupants may invite others", r.cfg.AllowInvites),
		text(fAllowPM, "Who may send private messages", r.cfg.AllowPM),
	)
}

// mayReadArchive says whether from may search the room's archive (mu
// held): a logged room's, by anyone who may enter it (its members, in a
// members-only room), as Prosody's mod_muc_mam allows.
func (r *room) mayReadArchive(from jid.JID) error {
	aff := r.affiliation(from)
	switch {
	case r.locked && aff != Owner:
		return &stanza.Error{Type: stanza.Cancel, Condition: stanza.ItemNotFound, Text: "there is no such room"}
	case !r.logged():
		return &stanza.Error{Type: stanza.Cancel, Condition: stanza.ServiceUnavailable, Text: "this room keeps no archive"}
	case aff == Outcast:
		return &stanza.Error{Type: stanza.Auth, Condition: stanza.Forbidden, Text: "you are banned from this room"}
	case r.cfg.MembersOnly && aff < Member:
		return &stanza.Error{Type: stanza.Auth, Condition: stanza.Forbidden, Text: "only members may read this room's archive"}
	}
	return nil
}

// archiveIQ answers XEP-0313 on a room's JID with the shared archive
// code: the query form, the metadata (§5), and queries, whose results go
// to the asker from the room before the IQ result that ends them.
func (m *MUC) archiveIQ(ctx context.Context, st *stanza.Stanza, q *xmlstream.Element) (*xmlstream.Element, error) {
	room := st.To.Bare()
	switch {
	case st.Type == stanza.TypeGet && q.Name.Local == "query":
		return stanza.ResultIQ(st, archive.Form()), nil
	case st.Type == stanza.TypeGet:
		first, last, err := m.archive.Bounds(room.String())
		if err != nil {
			return nil, fmt.Errorf("archive bounds of %s: %w", room, err)
		}
		return stanza.ResultIQ(st, archive.Metadata(first, last)), nil
	case q.Name.Local != "query":
		return nil, &stanza.Error{Type: stanza.Modify, Condition: stanza.BadRequest, Text: "metadata is read with get"}
	}
	query, err := archive.ParseQuery(q, m.opts.ArchiveLimits)
	if err != nil {
		return nil, err
	}
	ctx = context.WithoutCancel(ctx)
	return archive.Answer(m.archive, room, st, query, xmlstream.Limits{}, func(el *xmlstream.Element) {
		m.router.Route(ctx, &stanza.Stanza{Kind: stanza.Message, From: room, To: st.From, El: el})
	})
}

// occupantIQ relays an IQ between occupants (§7.5 by analogy; Prosody's
// scheme), answers an occupant's self-ping (XEP-0410 §3.3), and routes
// answers to relayed IQs back to whoever asked.
func (r *room) occupantIQ(st *stanza.Stanza) (*xmlstream.Element, error) {
	target := r.occupants[st.To.Resource()]
	if st.Type == stanza.TypeResult || st.IsError() {
		r.relayAnswer(st)
		return nil, nil
	}
	from := r.sessions[st.From]
	switch {
	case from == nil:
		// XEP-0410 §3.2: a client that is not joined learns it here.
		return nil, &stanza.Error{Type: stanza.Cancel, Condition: stanza.NotAcceptable, Text: "you are not in this room"}
	case target == nil:
		return nil, &stanza.Error{Type: stanza.Cancel, Condition: stanza.ItemNotFound, Text: "nobody in the room has this nickname"}
	case target == from && st.Type == stanza.TypeGet && st.El.FirstChild().Is(nsPing, "ping"):
		return nil, nil // XEP-0410 §3.3: the room answers for the occupant
	}
	to := target.primary().full
	switch st.El.FirstChild().Name.Space {
	case nsVCard, nsPubsub, nsVCard4:
		// The occupant's account answers these, not a client (as Prosody).
		to = to.Bare()
	}
	id := r.relayID(st.From, st.ID, to)
	el := st.El.WithAttrs("id", id, "from", from.jid.String(), "to", to.String())
	r.queue(outgoing{kind: stanza.IQ, typ: st.Type, from: from.jid, to: to, el: el, route: true})
	return nil, stanza.ErrReplied
}

// relayID names a relayed IQ so that its answer finds the asker without
// the room keeping state: the original id and the target in clear, and a
// MAC binding them to the asker's session, which the room's secret salt
// keeps anyone from forging.
func (r *room) relayID(asker jid.JID, id string, target jid.JID) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(id)) + "." + enc.EncodeToString([]byte(target.String())) + "." +
		enc.EncodeToString(r.relayMAC(asker, id, target))
}

func (r *room) relayMAC(asker jid.JID, id string, target jid.JID) []byte {
	h := hmac.New(sha256.New, r.salt)
	h.Write([]byte(asker.String()))
	h.Write([]byte{0})
	h.Write([]byte(id))
	h.Write([]byte{0})
	h.Write([]byte(target.String()))
	return h.Sum(nil)[:12]
}

// relayAnswer routes the answer to a relayed IQ to the session that asked.
// Answers that do not check out are dropped.
func (r *room) relayAnswer(st *stanza.Stanza) {
	enc := base64.RawURLEncoding
	parts := strings.Split(st.ID, ".")
	if len(parts) != 3 {
		return
	}
	id, err1 := enc.DecodeString(parts[0])
	target, err2 := enc.DecodeString(parts[1])
	mac, err3 := enc.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return
	}
	tj, err := jid.Parse(string(target))
	if err != nil || !(st.From.Equal(tj) || st.From.Equal(tj.Bare())) {
		return
	}
	answerer := r.sessions[tj]
	if answerer == nil {
		answerer = r.sessions[st.From]
	}
	asker := r.occupants[st.To.Resource()]
	if answerer == nil || asker == nil {
		return
	}
	for _, s := range asker.sessions {
		if hmac.Equal(mac, r.relayMAC(s.full, string(id), tj)) {
			el := st.El.WithAttrs("id", string(id), "from", answerer.jid.String(), "to", s.full.String())
			r.queue(outgoing{kind: stanza.IQ, typ: st.Type, from: answerer.jid, to: s.full, el: el, route: true})
			return
		}
	}
}

// register serves the room's registration (§7.10): a member reserves a
// nick, and in a room open to all anyone becomes a member by registering.
func (r *room) register(st *stanza.Stanza, q *xmlstream.Element) (*xmlstream.Element, error) {
	bare := st.From.Bare()
	aff := r.affiliation(st.From)
	switch {
	case aff == Outcast:
		return nil, &stanza.Error{Type: stanza.Auth, Condition: stanza.Forbidden, Text: "you are banned from this room"}
	case r.cfg.MembersOnly && aff < Member:
		return nil, &stanza.Error{Type: stanza.Auth, Condition: stanza.RegistrationRequired, Text: "only members may register with this room"}
	}
	current := r.affs[bare]
	if st.Type == stanza.TypeGet {
		out := xmlstream.New(nsRegister, "query")
		if current.nick != "" {
			return stanza.ResultIQ(st, out.Append(xmlstream.New(nsRegister, "registered"),
				xmlstream.New(nsRegister, "username").AppendText(current.nick))), nil
		}
		f := form.New(form.TypeForm, FormRegister)
		f.Title = "Register with " + r.displayName()
		f.Instructions = []string{"Reserve your nickname in this room."}
		f.Add(form.Field{Var: "muc#register_roomnick", Type: form.TextSingle, Label: "Nickname", Required: true})
		out.Append(xmlstream.New(nsRegister, "instructions").AppendText("Reserve your nickname in this room."), f.Element())
		return stanza.ResultIQ(st, out), nil
	}
	if q.Child(nsRegister, "remove") != nil {
		// Cancelling a registration gives up membership, not more.
		next := affiliation{aff: aff}
		if aff == Member {
			next.aff = NoAffiliation
		}
		r.setAffiliation(bare, next)
		if next.aff == NoAffiliation && r.cfg.MembersOnly {
			for _, o := range r.occupantsOf(bare) {
				r.removeWith(o, nil, change{codes: []int{statusAffiliationOut}})
			}
		}
		return nil, r.save()
	}
	f, err := form.Find(q, FormRegister)
	if err != nil || f == nil || f.Type != form.TypeSubmit {
		return nil, &stanza.Error{Type: stanza.Modify, Condition: stanza.BadRequest, Text: "submit the " + FormRegister + " form"}
	}
	nick := f.Value("muc#register_roomnick")
	if j, err := r.jid.WithResource(nick); err != nil || nick == "" {
		return nil, &stanza.Error{Type: stanza.Modify, Condition: stanza.BadRequest, Text: "not a valid nickname"}
	} else {
		nick = j.Resource()
	}
	if err := r.svc.checkNick(nick); err != nil {
		return nil, &stanza.Error{Type: stanza.Modify, Condition: stanza.BadRequest, Text: err.Text}
	}
	if o := r.occupants[nick]; o != nil && !o.bare.Equal(bare) {
		return nil, &stanza.Error{Type: stanza.Cancel, Condition: stanza.Conflict, Text: "someone in the room has this nickname"}
	}
	if owner, ok := r.reservedBy(nick); ok && !owner.Equal(bare) {
		return nil, &stanza.Error{Type: stanza.Cancel, Condition: stanza.Conflict, Text: "this nickname is reserved"}
	}
	r.setAffiliation(bare, affiliation{aff: max(aff, Member), nick: nick, reason: current.reason})
	return nil, r.save()
}
