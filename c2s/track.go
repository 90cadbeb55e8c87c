package c2s

import (
	"slices"

	"roost/xmlstream"
)

// Delivery tracking. Whoever hands the session a stanza it must not lose,
// such as offline storage handing over stored messages (XEP-0160), sends
// it with SendTracked and keeps its copy until the session says the client
// has it: when the client acknowledges it with stream management
// (XEP-0198 §4), or, without stream management, once it is written to the
// connection, which is as delivered as a stanza gets then. A session that
// ends first says the stanza was not delivered and does not hand it to
// Options.Undelivered: its sender still has it, and handing it back too
// would deliver it twice. A crash between the queue and the socket thus
// loses nothing.
//
// The list of tracked stanzas is short (one batch of stored messages) and
// empty almost always, so the writer and the acknowledgement path look at
// it only when it is not: the message path costs nothing more.

// Tracker learns what became of stanzas sent with SendTracked. It is an
// alias of an unnamed interface type, as router.Tracker is, so that the
// two are one type without either package importing the other.
type Tracker = interface {
	// Settled says whether the client got els (true) or the session
	// ended before it did (false). It runs on one of the session's
	// goroutines, without the session's lock: it may send to the session
	// again, and must not block for long.
	Settled(els []*xmlstream.Element, delivered bool)
}

// tracked is a stanza whose delivery someone waits to hear of.
type tracked struct {
	el *xmlstream.Element
	t  Tracker
}

// tracking is a session's tracked stanzas, in the order they were sent.
// The session's lock guards it.
type tracking struct {
	list []tracked
}

func (t *tracking) any() bool { return len(t.list) > 0 }

func (t *tracking) add(el *xmlstream.Element, tr Tracker) {
	if tr != nil {
		t.list = append(t.list, tracked{el, tr})
	}
}

func (t *tracking) has(el *xmlstream.Element) bool {
	return slices.ContainsFunc(t.list, func(tr tracked) bool { return tr.el == el })
}

// take removes the tracked entries of els, all of them when els is nil,
// and returns them in order.
func (t *tracking) take(els []*xmlstream.Element) []tracked {
	var out []tracked
	t.list = slices.DeleteFunc(t.list, func(tr tracked) bool {
		if els == nil || slices.Contains(els, tr.el) {
			out = append(out, tr)
			return true
		}
		return false
	})
	if len(t.list) == 0 {
		t.list = nil
	}
	return out
}

// SendTracked queues el like Send and, when it returns true, tells t once
// whether the client got el: delivered when it acknowledged el, or when el
// was written on a session without stream management; not delivered when
// the session ended first.
func (c *session) SendTracked(el *xmlstream.Element, t Tracker) bool {
	return c.send(el, t)
}

// settle tells the trackers of els whether they were delivered: each
// tracker once, with its stanzas in the order they were sent.
func (c *session) settle(els []*xmlstream.Element, delivered bool) {
	c.mu.Lock()
	done := c.track.take(els)
	c.mu.Unlock()
	for len(done) > 0 {
		t := done[0].t
		var mine []*xmlstream.Element
		rest := done[:0]
		for _, tr := range done {
			if tr.t == t {
				mine = append(mine, tr.el)
			} else {
				rest = append(rest, tr)
			}
		}
		done = rest
		t.Settled(mine, delivered)
	}
}

// settleRest tells the trackers of what the ended session still held that
// it was not delivered. Only the reader calls it, after the writer is gone
// and undelivered has run.
func (c *session) settleRest() {
	c.settle(nil, false)
}
