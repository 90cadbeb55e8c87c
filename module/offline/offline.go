// Package offline keeps messages for users who are not online (XEP-0160)
// and delivers them, oldest first and stamped with the time they arrived
// (XEP-0203), when the user next becomes available with a non-negative
// priority.
//
// The router offers [Offline.Intercept] the chat and normal messages that
// found no available resource (RFC 6121 §8.5.2.2.1). Messages carrying
// only chat states, or a no-store hint (XEP-0334), are dropped instead of
// stored: nobody wants yesterday's "is typing". When a user's storage is
// full the sender gets service-unavailable.
//
// Stored messages live in the store (they survive restarts) and are
// deleted only once delivered: when the client acknowledges them with
// stream management (XEP-0198 §4), or, for a session without it, once
// they are written to its connection. A crash or a lost connection in
// between loses nothing; the messages are handed over again at the next
// login, and never also handed back to offline storage by the session
// (router.Tracker), so never twice.
//
// # Batches
//
// One resource of an account takes the stored messages at a time (a
// delivery). They are read from the store and handed over in batches of
// [Options.BatchBytes] of stored stanzas, at least one message each; the
// next batch is read once the session has settled the last, so memory
// holds one batch, not all that a user was sent while away. A message
// stored while a delivery runs is part of a later batch of it. When the
// session ends before its client has a batch, the delivery moves to
// another available resource that had its messages, if any, or the
// messages wait for the next login.
//
// # Locking
//
// A delivery's state is guarded by the lock of its user (Offline.lock),
// which also serialises storing and delivering; the map of deliveries and
// the list of online resources by Offline.mu, taken after the user's lock.
// Settled runs on a session's goroutine, which holds none of the
// session's locks then, so handing over the next batch from it is safe.
package offline

import (
	"context"
	"errors"
	"hash/fnv"
	"log/slog"
	"slices"
	"sync"
	"time"

	"roost/jid"
	"roost/module"
	"roost/stanza"
	"roost/xmlstream"
)

// Namespaces.
const (
	NSDelay      = "urn:xmpp:delay"
	nsChatStates = "http://jabber.org/protocol/chatstates"
	// Feature is the disco feature of offline storage (XEP-0160 §6).
	Feature = "msgoffline"
)

// Store is what offline needs from persistent storage; *store.Store
// satisfies it. Users are bare JIDs in string form.
type Store interface {
	AppendOffline(user string, stanza []byte, stamp time.Time, limit int) (stored bool, err error)
	OfflineAfter(user string, after uint64, maxBytes int, fn func(seq uint64, stamp time.Time, stanza []byte) error) error
	DeleteOfflineSeqs(user string, seqs []uint64) error
}

// Tracker learns whether the stanzas handed over with DeliverTracked
// reached the client; it is router.Tracker, spelled out.
type Tracker = interface {
	Settled(els []*xmlstream.Element, delivered bool)
}

// Deliverer hands an element to a bound session; *router.Router
// satisfies it.
type Deliverer interface {
	// DeliverTracked hands el to the session full and has it tell t
	// whether its client got el; tracked is false for a session that
	// cannot tell, which took el if sent.
	DeliverTracked(full jid.JID, el *xmlstream.Element, t Tracker) (sent, tracked bool)
	// Available returns the account's available resources.
	Available(bare jid.JID) []jid.JID
}

// Options configure Offline.
type Options struct {
	Store  Store
	Router Deliverer
	// Max is the most messages kept per user (0: 500). Negative stores
	// none: the router answers service-unavailable, and what was stored
	// before is still delivered.
	Max int
	// BatchBytes is how much of the stored stanzas is handed to a session
	// at a time, at least one message (0: 512 KiB). It should stay well
	// below what the session may queue (limits.queue_bytes).
	BatchBytes int
	Now        func() time.Time
	Logger     *slog.Logger
}

// Offline stores and delivers offline messages.
type Offline struct {
	st    Store
	r     Deliverer
	max   int
	batch int
	now   func() time.Time
	log   *slog.Logger

	// locks serialise storing and delivering for one user (by a hash of
	// the bare JID), so that a message stored while its recipient's
	// initial presence is being handled is never left behind: the router
	// decides "nobody available" before the store commits, and the
	// presence may hand over the stored messages in between.
	locks [32]sync.Mutex

	mu sync.Mutex
	// online are the resources that got their stored messages since they
	// became available (XEP-0160 §3); a message stored for their account
	// meanwhile goes to them at once.
	online map[string][]jid.JID
	// deliveries are the deliveries under way, by user: one at most.
	deliveries map[string]*delivery
}

// New returns an Offline.
func New(o Options) *Offline {
	off := &Offline{st: o.Store, r: o.Router, max: o.Max, batch: o.BatchBytes, now: o.Now, log: o.Logger,
		online: make(map[string][]jid.JID), deliveries: make(map[string]*delivery)}
	if off.max == 0 {
		off.max = 500
	}
	if off.batch <= 0 {
		off.batch = 512 << 10
	}
	if off.now == nil {
		off.now = time.Now
	}
	if off.log == nil {
		off.log = slog.New(slog.DiscardHandler)
	}
	return off
}

// Name implements module.Module.
func (o *Offline) Name() string { return "offline" }

// Register implements module.Module. Delivery of what is stored is not
// registered here: im calls [Offline.Deliver] once a resource has sent
// its initial presence (XEP-0160 §3), a dependency the server's module
// list makes explicit.
func (o *Offline) Register(r *module.Registry) {
	if o.max < 0 {
		return
	}
	r.Offline(o)
	r.ObserveSessions(o)
	r.ServerFeatures(Feature)
}

// lock returns the lock of user's stored messages.
func (o *Offline) lock(user string) *sync.Mutex {
	h := fnv.New32a()
	_, _ = h.Write([]byte(user))
	return &o.locks[h.Sum32()%uint32(len(o.locks))]
}

// SessionEnded forgets a resource that had its messages.
func (o *Offline) SessionEnded(_ context.Context, full jid.JID, _ bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	user := full.Bare().String()
	list := slices.DeleteFunc(o.online[user], full.Equal)
	if len(list) == 0 {
		delete(o.online, user)
	} else {
		o.online[user] = list
	}
}

// Intercept stores a message that found no available resource.
func (o *Offline) Intercept(ctx context.Context, st *stanza.Stanza) (bool, error) {
	if st.Kind != stanza.Message || (st.Type != stanza.TypeChat && st.Type != stanza.TypeNormal) {
		return false, nil
	}
	if !worthStoring(st.El) {
		return true, nil
	}
	b := xmlstream.AppendElement(nil, st.Element(), "")
	user := st.To.Bare()
	l := o.lock(user.String())
	l.Lock()
	defer l.Unlock()
	stored, err := o.st.AppendOffline(user.String(), b, o.now().UTC(), o.max)
	if err != nil {
		return true, err
	}
	if !stored {
		return true, &stanza.Error{Type: stanza.Cancel, Condition: stanza.ServiceUnavailable, Text: "the recipient's offline storage is full"}
	}
	// A resource that became available after the router found none got
	// its stored messages before this one was stored: hand it over now,
	// unless a delivery under way will.
	o.handOverLocked(ctx, user, jid.JID{})
	return true, nil
}

// latecomers returns the resources of user that had their stored messages
// handed over and are still available.
func (o *Offline) latecomers(user jid.JID) []jid.JID {
	o.mu.Lock()
	had := slices.Clone(o.online[user.String()])
	o.mu.Unlock()
	if len(had) == 0 {
		return nil
	}
	avail := o.r.Available(user)
	return slices.DeleteFunc(had, func(j jid.JID) bool { return !slices.ContainsFunc(avail, j.Equal) })
}

// handOverLocked starts a delivery of user's stored messages to the first
// available resource that had its messages, other than not, unless one is
// under way. The user's lock is held.
func (o *Offline) handOverLocked(ctx context.Context, user, not jid.JID) {
	for _, full := range o.latecomers(user) {
		if !full.Equal(not) {
			o.startLocked(ctx, full)
			return
		}
	}
}

// worthStoring drops messages that are only about the moment: chat
// states, or anything marked no-store (XEP-0334).
func worthStoring(el *xmlstream.Element) bool {
	if h := stanza.StoreHintOf(el); h != stanza.HintNone {
		return h == stanza.HintStore
	}
	for c := range el.Elements() {
		switch {
		case c.Name.Space == nsChatStates:
		case c.Name.Local == "thread" && xmlstream.IsContentNamespace(c.Name.Space):
		default:
			return true
		}
	}
	return false
}

// Deliver sends the user's stored messages to the session full, oldest
// first, each with a delay stamp, in batches; each is deleted once the
// client has it.
func (o *Offline) Deliver(ctx context.Context, full jid.JID) {
	user := full.Bare().String()
	l := o.lock(user)
	l.Lock()
	defer l.Unlock()
	o.mu.Lock()
	if !slices.ContainsFunc(o.online[user], full.Equal) {
		o.online[user] = append(o.online[user], full)
	}
	o.mu.Unlock()
	o.startLocked(ctx, full)
}

// startLocked starts a delivery to full unless one is under way for its
// account: that one hands over everything stored, what was stored after it
// started included. The user's lock is held.
func (o *Offline) startLocked(ctx context.Context, full jid.JID) {
	user := full.Bare().String()
	o.mu.Lock()
	busy := o.deliveries[user] != nil
	d := &delivery{o: o, user: user, to: full}
	if !busy {
		o.deliveries[user] = d
	}
	o.mu.Unlock()
	if !busy {
		d.next(ctx)
	}
}

// delivery hands one account's stored messages to one of its sessions, a
// batch at a time. The user's lock guards it.
type delivery struct {
	o     *Offline
	user  string
	to    jid.JID
	after uint64                        // the seq of the last message handed over
	sent  map[*xmlstream.Element]uint64 // handed over, not settled: their seqs
	over  bool                          // no longer the account's delivery
}

// next hands over the next batch, or ends the delivery when nothing more
// is stored or the session refuses. The user's lock is held.
func (d *delivery) next(ctx context.Context) {
	for len(d.sent) == 0 && !d.over {
		var done []uint64 // deleted at once: unreadable, or sent untracked
		read, refused := 0, false
		err := d.o.st.OfflineAfter(d.user, d.after, d.o.batch, func(seq uint64, stamp time.Time, b []byte) error {
			read++
			el, err := xmlstream.Parse(b, xmlstream.Limits{})
			if err != nil {
				// A message we cannot read back is dropped, not retried
				// forever.
				d.o.log.LogAttrs(ctx, slog.LevelWarn, "unreadable offline message dropped", slog.String("user", d.user), slog.Any("err", err))
				done, d.after = append(done, seq), seq
				return nil
			}
			el = stamped(el, d.to.Domain(), stamp)
			sent, tracked := d.o.r.DeliverTracked(d.to, el, d)
			switch {
			case !sent:
				refused = true
				return errStop
			case tracked:
				if d.sent == nil {
					d.sent = make(map[*xmlstream.Element]uint64)
				}
				d.sent[el] = seq
			default:
				done = append(done, seq)
			}
			d.after = seq
			return nil
		})
		if err != nil && !errors.Is(err, errStop) {
			d.o.log.LogAttrs(ctx, slog.LevelError, "reading offline messages", slog.String("user", d.user), slog.Any("err", err))
		}
		d.delete(ctx, done)
		if err != nil || read == 0 || refused && len(d.sent) == 0 {
			// Done, failed, or refused with nothing to wait for: what is
			// left waits for the next login. A session that refused after
			// taking some will say it did not deliver them, and the
			// delivery moves on then (Settled).
			d.end()
		}
		if refused {
			return
		}
	}
}

var errStop = errors.New("session gone")

// stamped returns el with a delay stamp (XEP-0203) of when the server got
// it.
func stamped(el *xmlstream.Element, domain string, stamp time.Time) *xmlstream.Element {
	delay := xmlstream.New(NSDelay, "delay").
		SetAttr("from", domain).
		SetAttr("stamp", stamp.UTC().Format("2006-01-02T15:04:05.000Z")).
		AppendText("Offline Storage")
	children := append(append(make([]xmlstream.Node, 0, len(el.Children)+1), el.Children...), xmlstream.Node{Elem: delay})
	return el.WithChildren(children)
}

// Settled implements router.Tracker: the session says whether its client
// got els. Delivered ones are deleted; once the whole batch is, the next
// one goes. A session that ended first leaves them stored and the delivery
// moves to another available resource of the account, if any.
func (d *delivery) Settled(els []*xmlstream.Element, delivered bool) {
	ctx := context.Background()
	l := d.o.lock(d.user)
	l.Lock()
	defer l.Unlock()
	var seqs []uint64
	for _, el := range els {
		if seq, ok := d.sent[el]; ok {
			seqs = append(seqs, seq)
			delete(d.sent, el)
		}
	}
	if delivered {
		d.delete(ctx, seqs)
	}
	if d.over {
		return
	}
	if !delivered {
		d.end()
		clear(d.sent)
		d.o.handOverLocked(ctx, d.to.Bare(), d.to)
		return
	}
	d.next(ctx)
}

// delete removes delivered messages from the store.
func (d *delivery) delete(ctx context.Context, seqs []uint64) {
	if len(seqs) == 0 {
		return
	}
	if err := d.o.st.DeleteOfflineSeqs(d.user, seqs); err != nil {
		d.o.log.LogAttrs(ctx, slog.LevelError, "deleting delivered offline messages", slog.String("user", d.user), slog.Any("err", err))
	}
}

// end makes d no longer the account's delivery.
func (d *delivery) end() {
	d.over = true
	d.o.mu.Lock()
	if d.o.deliveries[d.user] == d {
		delete(d.o.deliveries, d.user)
	}
	d.o.mu.Unlock()
}
