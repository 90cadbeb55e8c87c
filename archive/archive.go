package archive

import (
	"errors"
	"fmt"
	"math"

	"roost/jid"
	"roost/stanza"
	"roost/xmlstream"
)

// ErrUnknownID is returned by a [Store] for a query that names a message
// the archive does not hold (XEP-0313 §4.1.3: item-not-found).
var ErrUnknownID = errors.New("archive: no such message")

// Store keeps archives; the server adapts its store to it. Owners are
// bare JIDs in string form: an account's, or a room's.
type Store interface {
	// Append archives a message and returns its ID, for the stanza-id
	// stamped on the message before it is delivered. account says the
	// owner is an account: its archive goes with it. stanza is valid only
	// during the call: the store copies it.
	Append(owner string, account bool, with, resource string, stanza []byte) (ID, error)
	// Page returns the page of owner's archive that r selects, oldest
	// first, and whether no message beyond it in the direction of paging
	// matches r; ErrUnknownID if a message r.Known names is missing.
	Page(owner string, r Range) (items []Item, complete bool, err error)
	// Bounds returns the oldest and newest messages of owner's archive,
	// zero when it is empty.
	Bounds(owner string) (first, last ID, err error)
}

// Item is an archived message.
type Item struct {
	ID ID
	// With is the other party's bare JID and Resource its resource, as
	// they were archived.
	With, Resource string
	// Stanza is the message as archived.
	Stanza []byte
}

// Range is what a query selects, in the store's terms: bounds are
// sequence numbers (ID.Seq, microseconds), After and Before exclusive,
// First and Last inclusive, zero unbounded.
type Range struct {
	With, Resource string
	After, Before  uint64
	First, Last    uint64
	IDs            []uint64
	Known          []ID
	Max            int
	// Reverse takes the page from the newest end.
	Reverse bool
}

// Range returns what q selects.
func (q *Query) Range() Range {
	r := Range{After: q.After.Seq, Before: q.Before.Seq, Known: q.Known, Max: q.Max, Reverse: q.Last}
	if !q.With.IsZero() {
		r.With, r.Resource = q.With.Bare().String(), q.With.Resource()
	}
	if !q.Start.IsZero() {
		// The first microsecond at or after Start.
		us := q.Start.UnixMicro()
		if q.Start.Nanosecond()%1000 != 0 && us < math.MaxInt64 {
			us++
		}
		r.First = uint64(max(us, 1))
	}
	if !q.End.IsZero() {
		us := q.End.UnixMicro()
		if us < 1 {
			// Before the epoch: nothing matches. Bounds of 1 and 0 in
			// the wrong order make an empty range.
			r.First, us = 2, 1
		}
		r.Last = uint64(us)
	}
	for _, id := range q.IDs {
		r.IDs = append(r.IDs, id.Seq)
	}
	return r
}

// Answer runs the query q, from the IQ iq, on owner's archive: it sends
// each result message with send, oldest first (newest first if q.Flip),
// and returns the IQ result that ends the query, carrying <fin/>
// (XEP-0313 §4.2). A *stanza.Error it returns is the answer to send
// instead (item-not-found for an unknown id). lim bounds the parse of the
// stored messages; one that no longer parses is sent as a result without
// its message (§3.2).
func Answer(st Store, owner jid.JID, iq *stanza.Stanza, q Query, lim xmlstream.Limits, send func(*xmlstream.Element)) (*xmlstream.Element, error) {
	items, complete, err := st.Page(owner.String(), q.Range())
	if errors.Is(err, ErrUnknownID) {
		return nil, stanza.NewError(stanza.ItemNotFound, "no such message in the archive")
	}
	if err != nil {
		return nil, fmt.Errorf("query archive: %w", err)
	}
	for i := range items {
		it := &items[i]
		if q.Flip {
			it = &items[len(items)-1-i]
		}
		msg, err := xmlstream.Parse(it.Stanza, lim)
		switch {
		case err != nil:
			msg = nil
		case msg.Name.Space == xmlstream.NSServer:
			// Archived as it came over s2s; forwarded to a client it is
			// in the client namespace (RFC 6120 §4.8.3).
			msg.Name.Space = xmlstream.NSClient
		}
		send(Result(iq.From, owner, q.QueryID, it.ID, msg))
	}
	fin := Fin(items, complete)
	return stanza.ResultIQ(iq, fin), nil
}

// Result returns the message carrying one result of a query (§4.2): the
// archived message msg (nil if it cannot be shown), forwarded with the
// time it was archived.
func Result(to, from jid.JID, queryID string, id ID, msg *xmlstream.Element) *xmlstream.Element {
	res := xmlstream.New(NS, "result")
	if queryID != "" {
		res.SetAttr("queryid", queryID)
	}
	res.SetAttr("id", id.String())
	fwd := xmlstream.New(NSForward, "forwarded").Append(xmlstream.New(NSDelay, "delay").SetAttr("stamp", FormatTime(id.Time())))
	if msg != nil {
		fwd.Append(msg)
	}
	out := xmlstream.New(xmlstream.NSClient, "message")
	out.Attrs = make([]xmlstream.Attr, 0, 2)
	out.SetAttr("to", to.String()).SetAttr("from", from.String())
	return out.Append(res.Append(fwd))
}

// Fin returns the <fin/> that ends a query with the page items (§4.2.3):
// the RSM first and last ids, complete when nothing beyond the page
// matches, and stable, as a single file's archive always is.
func Fin(items []Item, complete bool) *xmlstream.Element {
	fin := xmlstream.New(NS, "fin")
	if complete {
		fin.SetAttr("complete", "true")
	}
	fin.SetAttr("stable", "true")
	set := xmlstream.New(NSRSM, "set")
	if len(items) > 0 {
		set.Append(
			xmlstream.New(NSRSM, "first").AppendText(items[0].ID.String()),
			xmlstream.New(NSRSM, "last").AppendText(items[len(items)-1].ID.String()),
		)
	}
	return fin.Append(set)
}

// Metadata returns the archive metadata (§5): the oldest and newest
// messages, none for an empty archive.
func Metadata(first, last ID) *xmlstream.Element {
	md := xmlstream.New(NS, "metadata")
	if !first.IsZero() {
		md.Append(xmlstream.New(NS, "start").SetAttr("id", first.String()).SetAttr("timestamp", FormatTime(first.Time())))
	}
	if !last.IsZero() {
		md.Append(xmlstream.New(NS, "end").SetAttr("id", last.String()).SetAttr("timestamp", FormatTime(last.Time())))
	}
	return md
}

// Stamp returns msg with <stanza-id by=by id=id/> (XEP-0359 §3) and
// without any other stanza-id claiming to be by the same archive: only
// the archive may say where it keeps a message. msg is not modified. It
// is on the path of every archived message, so the new elements come in
// one allocation.
func Stamp(msg *xmlstream.Element, by string, id ID) *xmlstream.Element {
	s := &stamped{}
	s.attrs = [2]xmlstream.Attr{{Name: xmlstream.Name{Local: "id"}, Value: id.String()}, {Name: xmlstream.Name{Local: "by"}, Value: by}}
	s.sid = xmlstream.Element{Name: xmlstream.Name{Space: NSStanzaID, Local: "stanza-id"}, Attrs: s.attrs[:]}
	children := make([]xmlstream.Node, 0, len(msg.Children)+1)
	for _, n := range msg.Children {
		if !isStanzaIDBy(n.Elem, by) {
			children = append(children, n)
		}
	}
	s.msg = xmlstream.Element{Name: msg.Name, Attrs: msg.Attrs, Children: append(children, xmlstream.Node{Elem: &s.sid})}
	return &s.msg
}

// stamped holds a stamped message's new elements.
type stamped struct {
	msg, sid xmlstream.Element
	attrs    [2]xmlstream.Attr
}

// Strip returns msg without stanza-id elements by by, or msg itself when
// it has none.
func Strip(msg *xmlstream.Element, by string) *xmlstream.Element {
	n := 0
	for _, c := range msg.Children {
		if isStanzaIDBy(c.Elem, by) {
			n++
		}
	}
	if n == 0 {
		return msg
	}
	children := make([]xmlstream.Node, 0, len(msg.Children)-n)
	for _, c := range msg.Children {
		if !isStanzaIDBy(c.Elem, by) {
			children = append(children, c)
		}
	}
	return msg.WithChildren(children)
}

// StanzaID returns the id of msg's stanza-id by by, if it has one.
func StanzaID(msg *xmlstream.Element, by string) (ID, bool) {
	for c := range msg.Elements() {
		if isStanzaIDBy(c, by) {
			id, err := ParseID(c.Get("id"))
			return id, err == nil
		}
	}
	return ID{}, false
}

// isStanzaIDBy reports whether el is a stanza-id by by, a canonical JID.
// A spoofed one spelled differently (ALICE@example.org) is caught too: a
// client compares JIDs after canonicalising them.
func isStanzaIDBy(el *xmlstream.Element, by string) bool {
	if !el.Is(NSStanzaID, "stanza-id") {
		return false
	}
	v := el.Get("by")
	if v == by {
		return true
	}
	j, err := jid.Parse(v)
	return err == nil && j.String() == by
}
