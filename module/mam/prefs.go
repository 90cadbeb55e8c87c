package mam

import (
	"fmt"
	"slices"
	"strconv"

	"roost/archive"
	"roost/jid"
	"roost/stanza"
	"roost/xmlstream"
)

// Archiving defaults (XEP-0441 §3): which messages with a JID on neither
// list are archived.
const (
	Always = "always" // all of them
	Never  = "never"  // none
	Roster = "roster" // those with a JID in the account's roster
)

// maxPrefsJIDs bounds the JIDs in one account's always and never lists.
const maxPrefsJIDs = 1000

// prefs are an account's archiving preferences (XEP-0441). The lists hold
// bare JIDs, sorted.
type prefs struct {
	def           string
	always, never []string
}

// rule tells what prefs say about archiving a message exchanged with the
// bare JID with: archive, don't, or ask the roster.
func (p *prefs) rule(with string) string {
	if _, ok := slices.BinarySearch(p.always, with); ok {
		return Always
	}
	if _, ok := slices.BinarySearch(p.never, with); ok {
		return Never
	}
	return p.def
}

// element writes p as the <prefs/> payload of XEP-0441 §3.
func (p *prefs) element() *xmlstream.Element {
	el := xmlstream.New(archive.NS, "prefs").SetAttr("default", p.def)
	list := func(name string, jids []string) *xmlstream.Element {
		l := xmlstream.New(archive.NS, name)
		for _, j := range jids {
			l.Append(xmlstream.New(archive.NS, "jid").AppendText(j))
		}
		return l
	}
	return el.Append(list(Always, p.always), list(Never, p.never))
}

// parsePrefs reads a <prefs/> payload, as set by a client or as stored.
// Errors are stanza errors for the client: bad-request for a missing or
// unknown default, jid-malformed for a bad JID, not-acceptable for more
// JIDs than the lists hold.
func parsePrefs(el *xmlstream.Element) (*prefs, error) {
	p := &prefs{def: el.Get("default")}
	switch p.def {
	case Always, Never, Roster:
	default:
		return nil, stanza.NewError(stanza.BadRequest, "default must be always, never or roster")
	}
	n := 0
	for ch := range el.Elements() {
		if ch.Name.Space != archive.NS || (ch.Name.Local != Always && ch.Name.Local != Never) {
			continue
		}
		for j := range ch.Elements() {
			if !j.Is(archive.NS, "jid") {
				continue
			}
			if n++; n > maxPrefsJIDs {
				return nil, stanza.NewError(stanza.NotAcceptable, "at most "+strconv.Itoa(maxPrefsJIDs)+" JIDs in the archiving preferences")
			}
			parsed, err := jid.Parse(j.Text())
			if err != nil {
				return nil, stanza.NewError(stanza.JIDMalformed, fmt.Sprintf("%q: %v", j.Text(), err))
			}
			bare := parsed.Bare().String()
			if ch.Name.Local == Always {
				p.always = append(p.always, bare)
			} else {
				p.never = append(p.never, bare)
			}
		}
	}
	for _, l := range []*[]string{&p.always, &p.never} {
		slices.Sort(*l)
		*l = slices.Compact(*l)
	}
	// A JID on both lists is never archived: the safer reading.
	p.always = slices.DeleteFunc(p.always, func(j string) bool {
		_, ok := slices.BinarySearch(p.never, j)
		return ok
	})
	return p, nil
}
