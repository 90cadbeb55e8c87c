package archive

import (
	"errors"
	"strconv"
	"time"

	"roost/form"
	"roost/jid"
	"roost/stanza"
	"roost/xmlstream"
)

// Namespaces.
const (
	// NS is message archive management (XEP-0313), its query form's
	// FORM_TYPE and its disco feature.
	NS = "urn:xmpp:mam:2"
	// NSExtended is the disco feature of before-id, after-id, ids, flipped
	// pages and metadata (XEP-0313 §6).
	NSExtended = "urn:xmpp:mam:2#extended"
	// NSRSM is result set management (XEP-0059).
	NSRSM = "http://jabber.org/protocol/rsm"
	// NSStanzaID is unique and stable stanza IDs (XEP-0359).
	NSStanzaID = "urn:xmpp:sid:0"
	// NSForward is stanza forwarding (XEP-0297).
	NSForward = "urn:xmpp:forward:0"
	// NSDelay is delayed delivery (XEP-0203).
	NSDelay = "urn:xmpp:delay"

	nsValidate = "http://jabber.org/protocol/xdata-validate"
)

// Limits bound the work one query may ask for. Zero fields take the
// defaults noted.
type Limits struct {
	// MaxPage is the largest page (RSM max) a query gets, whatever it
	// asks for (100); it also bounds the ids of one query.
	MaxPage int
	// DefaultPage is the page size of a query that names none (50, at
	// most MaxPage).
	DefaultPage int
}

func (l Limits) withDefaults() Limits {
	if l.MaxPage <= 0 {
		l.MaxPage = 100
	}
	if l.DefaultPage <= 0 {
		l.DefaultPage = 50
	}
	l.DefaultPage = min(l.DefaultPage, l.MaxPage)
	return l
}

// maxQueryID bounds the queryid, which every result message repeats.
const maxQueryID = 256

// Query is a parsed archive query (XEP-0313 §4).
type Query struct {
	// QueryID is the query's queryid, repeated in each result.
	QueryID string
	// With keeps messages exchanged with this JID: with a bare JID, any of
	// its resources (§4.1.1).
	With jid.JID
	// Start and End bound the messages' times, both inclusive; zero is
	// unbounded.
	Start, End time.Time
	// After and Before are exclusive bounds from after-id and before-id
	// (§4.1.3) and RSM's after and before (§4.2.3), the tighter of each
	// when both are given.
	After, Before ID
	// IDs, if not empty, keeps only these messages (§4.1.3).
	IDs []ID
	// Known are every message the query names; each must be in the
	// archive, or the query fails with item-not-found (§4.1.3, §4.2.3).
	Known []ID
	// Max is the page size, clamped to the limits.
	Max int
	// Last pages from the newest end: RSM <before/>, empty or not
	// (XEP-0059 §2.5).
	Last bool
	// Flip sends the page's results newest first (§4.2.5).
	Flip bool
}

// errorf makes the stanza errors a query parse returns.
func errorf(c stanza.Condition, text string) *stanza.Error { return stanza.NewError(c, text) }

// ParseQuery reads a <query xmlns='urn:xmpp:mam:2'/> payload. Its errors
// are *stanza.Error values to return to the querier: bad-request for a
// malformed form or set, feature-not-implemented for a field or RSM
// option this server does not serve (§4.1.5), item-not-found for an id no
// archive could hold, jid-malformed for a bad with, policy-violation for
// more ids than a page.
func ParseQuery(el *xmlstream.Element, lim Limits) (Query, error) {
	lim = lim.withDefaults()
	q := Query{QueryID: el.Get("queryid"), Max: lim.DefaultPage}
	if !el.Is(NS, "query") {
		return Query{}, errorf(stanza.BadRequest, "not an archive query")
	}
	if len(q.QueryID) > maxQueryID {
		return Query{}, errorf(stanza.BadRequest, "queryid too long")
	}
	if _, ok := el.Attr("", "node"); ok {
		// Pubsub archives (XEP-0442) are not served here.
		return Query{}, errorf(stanza.FeatureNotImplemented, "node archives are not supported")
	}
	var sawForm, sawSet bool
	for ch := range el.Elements() {
		switch {
		case ch.Is(form.NS, "x"):
			if sawForm {
				return Query{}, errorf(stanza.BadRequest, "more than one form")
			}
			sawForm = true
			if err := q.parseForm(ch, lim); err != nil {
				return Query{}, err
			}
		case ch.Is(NSRSM, "set"):
			if sawSet {
				return Query{}, errorf(stanza.BadRequest, "more than one result set")
			}
			sawSet = true
			if err := q.parseSet(ch, lim); err != nil {
				return Query{}, err
			}
		case ch.Is(NS, "flip-page"):
			q.Flip = true
		}
	}
	return q, nil
}

// single is one field of the query form: its single value, or "" when it
// has none (an empty value filters nothing).
func single(fl *form.Field) (string, error) {
	switch len(fl.Values) {
	case 0:
		return "", nil
	case 1:
		return fl.Values[0], nil
	}
	return "", errorf(stanza.BadRequest, "field "+fl.Var+" takes one value")
}

func (q *Query) parseForm(x *xmlstream.Element, lim Limits) error {
	f, err := form.Parse(x)
	if err != nil {
		return errorf(stanza.BadRequest, err.Error())
	}
	if f.Type != form.TypeSubmit {
		return errorf(stanza.BadRequest, "the query form must be submitted (type submit)")
	}
	if f.FormType() != NS {
		return errorf(stanza.BadRequest, "the query form's FORM_TYPE must be "+NS)
	}
	for i := range f.Fields {
		fl := &f.Fields[i]
		switch fl.Var {
		case form.FormTypeVar:
		case "with":
			v, err := single(fl)
			if err != nil || v == "" {
				return err
			}
			if q.With, err = jid.Parse(v); err != nil {
				return errorf(stanza.JIDMalformed, "with: "+err.Error())
			}
		case "start", "end":
			v, err := single(fl)
			if err != nil || v == "" {
				return err
			}
			t, err := ParseTime(v)
			if err != nil {
				return errorf(stanza.BadRequest, fl.Var+": not a XEP-0082 date and time")
			}
			if fl.Var == "start" {
				q.Start = t
			} else {
				q.End = t
			}
		case "after-id", "before-id":
			v, err := single(fl)
			if err != nil || v == "" {
				return err
			}
			id, err := q.known(v)
			if err != nil {
				return err
			}
			if fl.Var == "after-id" {
				q.after(id)
			} else {
				q.before(id)
			}
		case "ids":
			if len(fl.Values) > lim.MaxPage {
				return errorf(stanza.PolicyViolation, "at most "+strconv.Itoa(lim.MaxPage)+" ids in one query")
			}
			for _, v := range fl.Values {
				id, err := q.known(v)
				if err != nil {
					return err
				}
				q.IDs = append(q.IDs, id)
			}
		default:
			// §4.1.5: a field the server does not recognise.
			return errorf(stanza.FeatureNotImplemented, "unknown field "+strconv.Quote(fl.Var))
		}
	}
	return nil
}

// parseSet reads the RSM set (XEP-0059 §2).
func (q *Query) parseSet(set *xmlstream.Element, lim Limits) error {
	for ch := range set.Elements() {
		if ch.Name.Space != NSRSM {
			continue
		}
		switch ch.Name.Local {
		case "max":
			n, err := strconv.ParseUint(ch.Text(), 10, 31)
			switch {
			case errors.Is(err, strconv.ErrRange):
				n = uint64(lim.MaxPage) // absurd, but a number: clamp it
			case err != nil:
				return errorf(stanza.BadRequest, "max: not a non-negative integer")
			}
			q.Max = min(int(n), lim.MaxPage)
		case "after":
			id, err := q.known(ch.Text())
			if err != nil {
				return err
			}
			q.after(id)
		case "before":
			q.Last = true
			if v := ch.Text(); v != "" {
				id, err := q.known(v)
				if err != nil {
					return err
				}
				q.before(id)
			}
		case "index":
			return errorf(stanza.FeatureNotImplemented, "paging by index is not supported")
		}
	}
	return nil
}

// known parses an id the query names and records it as one that must
// exist. An id no archive hands out is not in this one (§4.1.3).
func (q *Query) known(s string) (ID, error) {
	id, err := ParseID(s)
	if err != nil {
		return ID{}, errorf(stanza.ItemNotFound, "no such message in the archive")
	}
	q.Known = append(q.Known, id)
	return id, nil
}

func (q *Query) after(id ID) {
	if id.Seq > q.After.Seq {
		q.After = id
	}
}

func (q *Query) before(id ID) {
	if q.Before.IsZero() || id.Seq < q.Before.Seq {
		q.Before = id
	}
}

// ParseTime reads a XEP-0082 DateTime (CCYY-MM-DDThh:mm:ss[.sss]TZD).
func ParseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}

// FormatTime writes t as a XEP-0082 DateTime in UTC, to the microsecond
// archive identifiers carry (so that a client may use a stamp as a
// query's start and get exactly that message again, not its neighbours).
func FormatTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.999999Z07:00")
}

// Form returns the query form a client fetches to learn the fields this
// server serves (§4.1.5): the mandatory ones and the extended ones, ids
// with the open validation XEP-0122 calls for.
func Form() *xmlstream.Element {
	f := form.New(form.TypeForm, NS).Add(
		form.Field{Var: "with", Type: form.JIDSingle},
		form.Field{Var: "start", Type: form.TextSingle},
		form.Field{Var: "end", Type: form.TextSingle},
		form.Field{Var: "before-id", Type: form.TextSingle},
		form.Field{Var: "after-id", Type: form.TextSingle},
		form.Field{Var: "ids", Type: form.ListMulti},
	)
	x := f.Element()
	for fl := range x.Elements() {
		if fl.Get("var") == "ids" {
			// §4.1.5: the list is open to any value.
			fl.Append(xmlstream.New(nsValidate, "validate").SetAttr("datatype", "xs:string").Append(xmlstream.New(nsValidate, "open")))
		}
	}
	return xmlstream.New(NS, "query").Append(x)
}

// Element returns q as a client would send it: the form with the fields q
// uses, the RSM set and flip-page. Parsing it gives back a query that
// selects the same page (the load tool sends queries this way, and the
// fuzz test checks the round trip).
func (q *Query) Element() *xmlstream.Element {
	el := xmlstream.New(NS, "query")
	if q.QueryID != "" {
		el.SetAttr("queryid", q.QueryID)
	}
	f := form.New(form.TypeSubmit, NS)
	add := func(v string, vals ...string) { f.Add(form.Field{Var: v, Values: vals}) }
	if !q.With.IsZero() {
		add("with", q.With.String())
	}
	if !q.Start.IsZero() {
		add("start", q.Start.Format(time.RFC3339Nano))
	}
	if !q.End.IsZero() {
		add("end", q.End.Format(time.RFC3339Nano))
	}
	if !q.After.IsZero() {
		add("after-id", q.After.String())
	}
	if !q.Before.IsZero() && !q.Last {
		add("before-id", q.Before.String())
	}
	if len(q.IDs) > 0 {
		ids := make([]string, len(q.IDs))
		for i, id := range q.IDs {
			ids[i] = id.String()
		}
		add("ids", ids...)
	}
	if len(f.Fields) > 1 {
		el.Append(f.Element())
	}
	set := xmlstream.New(NSRSM, "set").Append(xmlstream.New(NSRSM, "max").AppendText(strconv.Itoa(q.Max)))
	if q.Last {
		before := xmlstream.New(NSRSM, "before")
		if !q.Before.IsZero() {
			before.AppendText(q.Before.String())
		}
		set.Append(before)
	}
	el.Append(set)
	if q.Flip {
		el.Append(xmlstream.New(NS, "flip-page"))
	}
	return el
}
