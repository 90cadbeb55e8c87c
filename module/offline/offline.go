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
// deleted once handed to the user's session.
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
	Offline(user string, fn func(seq uint64, stamp time.Time, stanza []byte) error) error
	DeleteOffline(user string, upTo uint64) error
}

// Deliverer hands an element to a bound session; *router.Router
// satisfies it.
type Deliverer interface {
	Deliver(full jid.JID, el *xmlstream.Element) bool
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
	Max    int
	Now    func() time.Time
	Logger *slog.Logger
}

// Offline stores and delivers offline messages.
type Offline struct {
	st  Store
	r   Deliverer
	max int
	now func() time.Time
	log *slog.Logger

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
}

// New returns an Offline.
func New(o Options) *Offline {
	off := &Offline{st: o.Store, r: o.Router, max: o.Max, now: o.Now, log: o.Logger, online: make(map[string][]jid.JID)}
	if off.max == 0 {
		off.max = 500
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
	// its stored messages before this one was stored: hand it over now.
	for _, full := range o.latecomers(user) {
		o.deliverLocked(ctx, full)
	}
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

var errStop = errors.New("session gone")

// Deliver sends the user's stored messages to the session full, oldest
// first, each with a delay stamp, and deletes what was handed over.
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
	o.deliverLocked(ctx, full)
}

func (o *Offline) deliverLocked(ctx context.Context, full jid.JID) {
	user := full.Bare().String()
	var last uint64
	err := o.st.Offline(user, func(seq uint64, stamp time.Time, b []byte) error {
		el, err := xmlstream.Parse(b, xmlstream.Limits{})
		if err != nil {
			// A message we cannot read back is dropped, not retried
			// forever.
			o.log.LogAttrs(ctx, slog.LevelWarn, "unreadable offline message dropped", slog.String("user", user), slog.Any("err", err))
			last = seq
			return nil
		}
		delay := xmlstream.New(NSDelay, "delay").
			SetAttr("from", full.Domain()).
			SetAttr("stamp", stamp.UTC().Format("2006-01-02T15:04:05.000Z")).
			AppendText("Offline Storage")
		children := append(append(make([]xmlstream.Node, 0, len(el.Children)+1), el.Children...), xmlstream.Node{Elem: delay})
		if !o.r.Deliver(full, el.WithChildren(children)) {
			return errStop
		}
		last = seq
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		o.log.LogAttrs(ctx, slog.LevelError, "reading offline messages", slog.String("user", user), slog.Any("err", err))
	}
	if last > 0 {
		if err := o.st.DeleteOffline(user, last); err != nil {
			o.log.LogAttrs(ctx, slog.LevelError, "deleting delivered offline messages", slog.String("user", user), slog.Any("err", err))
		}
	}
}
