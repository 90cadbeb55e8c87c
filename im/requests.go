package im

import (
	"context"
	"log/slog"
	"sync"

	"roost/jid"
	"roost/xmlstream"
)

// Subscription requests that waited for the user (RFC 6121 §3.1.3) go to
// each resource at its initial presence. There may be many (strangers can
// send them), each stored whole, up to a stanza's size: they are handed
// over in batches of at most Options.BatchBytes of stored requests and
// requestBatch requests, read and parsed one batch at a time, the next
// once the session says its client has the last (router.Tracker), so that
// memory holds one batch and the session's queue never fills with them.
// Requests stay stored until the user answers them, so a session that ends
// first loses nothing: they come again at the next login.

// requestBatch bounds the requests in a batch, however small: well below
// the stanzas a session may queue (limits.queue_depth, at least 8).
const requestBatch = 64

// Tracker learns whether stanzas handed over with DeliverTracked reached
// the client; it is router.Tracker, spelled out.
type Tracker = interface {
	Settled(els []*xmlstream.Element, delivered bool)
}

// requests hands the pending subscription requests of one user to one
// resource. mu guards its fields: Settled runs on the session's goroutines.
type requests struct {
	m  *IM
	to jid.JID

	mu       sync.Mutex
	contacts []string // whose requests are still to go, in roster order
	inFlight int      // handed over, not settled
	over     bool
}

// sendRequests starts handing the requests of contacts to full.
func (m *IM) sendRequests(ctx context.Context, full jid.JID, contacts []string) {
	if len(contacts) == 0 {
		return
	}
	d := &requests{m: m, to: full, contacts: contacts}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.next(ctx)
}

// next hands over the next batch. d.mu is held.
func (d *requests) next(ctx context.Context) {
	user := d.to.Bare().String()
	for d.inFlight == 0 && !d.over && len(d.contacts) > 0 {
		size, n := 0, 0
		for len(d.contacts) > 0 && n < requestBatch && (n == 0 || size < d.m.batchBytes) {
			contact := d.contacts[0]
			d.contacts = d.contacts[1:]
			b, found, err := d.m.st.RosterItem(user, contact)
			if err != nil {
				d.m.log.LogAttrs(ctx, slog.LevelWarn, "reading a subscription request", slog.String("user", user), slog.Any("err", err))
				continue
			}
			it, err := decodeItem(b)
			if !found || err != nil {
				continue // answered meanwhile, or unreadable
			}
			req := pendingRequest(it)
			if req == nil {
				continue
			}
			size, n = size+len(it.Request), n+1
			sent, tracked := d.m.r.DeliverTracked(d.to, req, d)
			switch {
			case !sent:
				// The session is closing: the rest waits for the next
				// login. Those in flight settle as not delivered.
				d.over = true
				return
			case tracked:
				d.inFlight++
			}
		}
	}
}

// Settled implements router.Tracker: once a batch is delivered, the next
// one goes; a session that ended stops the handover.
func (d *requests) Settled(els []*xmlstream.Element, delivered bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.inFlight -= len(els)
	if !delivered {
		d.over = true
		return
	}
	d.next(context.Background())
}
