package router

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"roost/jid"
	"roost/metrics"
	"roost/stanza"
	"roost/stream"
	"roost/xmlstream"
)

// Session is a bound client session as the router sees it. It is an
// alias of an unnamed interface type, and c2s declares its Endpoint the
// same way, so that the two are one type and *Router satisfies
// c2s.Router without either package importing the other.
type Session = interface {
	// Send queues el for the client. It must not block; it reports false
	// when the session cannot take it (closing, or its queue is full, in
	// which case the session closes itself).
	Send(el *xmlstream.Element) bool
	// Close ends the session with reason, a *stream.Error to send if the
	// session can.
	Close(reason error)
}

// Handler answers stanzas addressed to a hosted domain, and IQs addressed
// to an account's bare JID or to no one (RFC 6120 §10.3.3), on behalf of
// the server.
//
// For an IQ get or set, HandleStanza returns the result to send back, or
// nil for an empty result; stanza.ErrReplied says the handler has sent its
// answer itself. Returning a *stanza.Error sends that error;
// ErrNoHandler sends service-unavailable; any other error sends
// internal-server-error and is logged. For other stanzas a returned element
// is routed as is; errors are answered the same way unless the stanza is
// itself an error.
type Handler interface {
	HandleStanza(ctx context.Context, st *stanza.Stanza) (*xmlstream.Element, error)
}

// HandlerFunc adapts a function to [Handler].
type HandlerFunc func(ctx context.Context, st *stanza.Stanza) (*xmlstream.Element, error)

// HandleStanza calls f.
func (f HandlerFunc) HandleStanza(ctx context.Context, st *stanza.Stanza) (*xmlstream.Element, error) {
	return f(ctx, st)
}

// Interceptor sees stanzas at one point of the delivery path and may
// consume them (done=true). A *stanza.Error it returns is sent back to the
// sender and consumes the stanza.
type Interceptor interface {
	Intercept(ctx context.Context, st *stanza.Stanza) (done bool, err error)
}

// InterceptorFunc adapts a function to [Interceptor].
type InterceptorFunc func(ctx context.Context, st *stanza.Stanza) (bool, error)

// Intercept calls f.
func (f InterceptorFunc) Intercept(ctx context.Context, st *stanza.Stanza) (bool, error) {
	return f(ctx, st)
}

// Remote delivers stanzas to other domains (server-to-server). It must not
// block for long: it queues, and reports later failures by routing error
// stanzas back.
type Remote interface {
	SendRemote(ctx context.Context, st *stanza.Stanza) error
}

// Accounts tells whether a local account exists.
type Accounts interface {
	AccountExists(ctx context.Context, bare jid.JID) (bool, error)
}

// SessionObserver learns about sessions that end, for example to broadcast
// unavailable presence for a connection that dropped (RFC 6121 §4.5.2).
type SessionObserver interface {
	SessionEnded(ctx context.Context, full jid.JID, wasAvailable bool)
}

// DeliveryObserver learns which sessions a message addressed to a local
// account was handed to, for example to copy it to the account's other
// sessions (XEP-0280).
type DeliveryObserver interface {
	// Watching reports whether the observer wants to learn of messages
	// delivered to the sessions of the account bare. It is asked first,
	// so that the recipient list is built, and allocated, only when
	// someone reads it.
	Watching(bare jid.JID) bool
	MessageDelivered(ctx context.Context, st *stanza.Stanza, to []jid.JID)
}

// Errors.
var (
	// ErrNoHandler is returned by a Handler that does not serve a stanza.
	ErrNoHandler = errors.New("router: no handler")
	// ErrTooManyResources refuses a bind beyond Options.MaxResources.
	ErrTooManyResources = &stanza.Error{Type: stanza.Wait, Condition: stanza.ResourceConstraint, Text: "too many sessions for this account"}
)

// Options configure a Router.
type Options struct {
	// Domains are the hosted domains.
	Domains []string
	// MaxResources bounds the sessions per account (default 10).
	MaxResources int
	Accounts     Accounts
	// Metrics counts the stanzas routed; nil: a counter nobody reads.
	Metrics *metrics.Counters
	Logger  *slog.Logger
}

type resource struct {
	full       jid.JID
	sess       Session
	since      time.Time // when the resource was bound
	available  bool
	priority   int
	presence   *xmlstream.Element
	interested bool
}

// Router is the session table and delivery logic. Configure it (Use*,
// SetRemote, SetHandler) before it serves traffic.
type Router struct {
	domains  map[string]struct{}
	maxRes   int
	accounts Accounts
	log      *slog.Logger
	metrics  *metrics.Counters

	handler   Handler
	services  map[string]Handler // hosted service domain → its handler
	remote    Remote
	outbound  []Interceptor
	inbound   []Interceptor
	offline   Interceptor
	observers []SessionObserver
	delivered []DeliveryObserver

	mu    sync.RWMutex
	users map[string][]*resource // bare JID → bound resources
}

// New returns a router for the hosted domains.
func New(opts Options) *Router {
	r := &Router{
		domains:  make(map[string]struct{}, len(opts.Domains)),
		maxRes:   opts.MaxResources,
		accounts: opts.Accounts,
		log:      opts.Logger,
		metrics:  opts.Metrics,
		users:    make(map[string][]*resource),
		services: make(map[string]Handler),
	}
	if r.maxRes <= 0 {
		r.maxRes = 10
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.metrics == nil {
		r.metrics = new(metrics.Counters)
	}
	for _, d := range opts.Domains {
		r.domains[d] = struct{}{}
	}
	return r
}

// SetHandler sets the handler for server-answered stanzas.
func (r *Router) SetHandler(h Handler) { r.handler = h }

// Host makes domain a hosted service (conference.example.org, an external
// component): every stanza addressed to it, or to any JID at it, goes to
// h, whoever sent it.
func (r *Router) Host(domain string, h Handler) { r.services[domain] = h }

// SetRemote sets where stanzas for other domains go.
func (r *Router) SetRemote(rm Remote) { r.remote = rm }

// UseOutbound adds interceptors for stanzas sent by local sessions.
func (r *Router) UseOutbound(ics ...Interceptor) { r.outbound = append(r.outbound, ics...) }

// UseInbound adds interceptors for stanzas addressed to existing local
// accounts.
func (r *Router) UseInbound(ics ...Interceptor) { r.inbound = append(r.inbound, ics...) }

// UseOffline sets the interceptor offered messages that found no available
// resource; if it does not consume them they bounce.
func (r *Router) UseOffline(ic Interceptor) { r.offline = ic }

// Observe adds a session observer.
func (r *Router) Observe(o SessionObserver) { r.observers = append(r.observers, o) }

// ObserveDeliveries adds a delivery observer.
func (r *Router) ObserveDeliveries(o DeliveryObserver) { r.delivered = append(r.delivered, o) }

// watched returns the delivery observers watching the account bare:
// nil, without allocating, when there are none.
func (r *Router) watched(bare jid.JID) []DeliveryObserver {
	for i, o := range r.delivered {
		if o.Watching(bare) {
			out := []DeliveryObserver{o}
			for _, o := range r.delivered[i+1:] {
				if o.Watching(bare) {
					out = append(out, o)
				}
			}
			return out
		}
	}
	return nil
}

// IsLocal reports whether domain is an account domain hosted here.
func (r *Router) IsLocal(domain string) bool {
	_, ok := r.domains[domain]
	return ok
}

// Bind adds a session for full. A session already bound to full is
// replaced and closed with a conflict stream error.
func (r *Router) Bind(ctx context.Context, full jid.JID, s Session) error {
	bare := full.Bare().String()
	var old *resource
	r.mu.Lock()
	list := r.users[bare]
	for i, res := range list {
		if res.full.Equal(full) {
			old = res
			list[i] = &resource{full: full, sess: s, since: time.Now()}
			break
		}
	}
	if old == nil {
		if len(list) >= r.maxRes {
			r.mu.Unlock()
			return ErrTooManyResources
		}
		r.users[bare] = append(list, &resource{full: full, sess: s, since: time.Now()})
	}
	r.mu.Unlock()
	if old != nil {
		old.sess.Close(&stream.Error{Condition: stream.Conflict, Text: "replaced by a new session"})
		r.ended(ctx, full, old.available)
	}
	return nil
}

// Unbind removes the session s bound to full. It is a no-op if s has been
// replaced meanwhile.
func (r *Router) Unbind(ctx context.Context, full jid.JID, s Session) {
	bare := full.Bare().String()
	var gone *resource
	r.mu.Lock()
	list := r.users[bare]
	for i, res := range list {
		if res.sess == s && res.full.Equal(full) {
			gone = res
			list[i] = list[len(list)-1]
			list[len(list)-1] = nil
			list = list[:len(list)-1]
			break
		}
	}
	if len(list) == 0 {
		delete(r.users, bare)
	} else {
		r.users[bare] = list
	}
	r.mu.Unlock()
	if gone != nil {
		r.ended(ctx, full, gone.available)
	}
}

func (r *Router) ended(ctx context.Context, full jid.JID, wasAvailable bool) {
	for _, o := range r.observers {
		o.SessionEnded(ctx, full, wasAvailable)
	}
}

// SetPresence records the broadcast presence of a session: available or
// not, its priority and the stanza (kept to answer probes). It returns
// whether the resource was available before, and false for ok if full is
// not bound.
func (r *Router) SetPresence(full jid.JID, available bool, priority int, el *xmlstream.Element) (wasAvailable, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, res := range r.users[full.Bare().String()] {
		if res.full.Equal(full) {
			wasAvailable = res.available
			res.available, res.priority = available, priority
			if available {
				res.presence = el
			} else {
				res.presence = nil
			}
			return wasAvailable, true
		}
	}
	return false, false
}

// SetInterested marks a session as having requested the roster, so that
// it receives roster pushes (RFC 6121 §2.1.6).
func (r *Router) SetInterested(full jid.JID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, res := range r.users[full.Bare().String()] {
		if res.full.Equal(full) {
			res.interested = true
		}
	}
}

// Dormant is implemented by sessions that can outlive their connection:
// a client stream with resumable stream management (XEP-0198 §5) whose
// connection was lost waits, bound, for the client to come back, and
// reads nothing meanwhile.
type Dormant interface {
	Hibernating() bool
}

// Awake reports whether a session of the account bare would read a
// stanza now: bound and not hibernating (Dormant). Push notifications
// (XEP-0357) go to accounts that are not awake.
func (r *Router) Awake(bare jid.JID) bool {
	var buf [8]Session
	sessions := buf[:0]
	r.mu.RLock()
	for _, res := range r.users[bare.Bare().String()] {
		sessions = append(sessions, res.sess)
	}
	r.mu.RUnlock()
	// Asked outside the lock: a session takes its own lock to answer,
	// and may hold it while it calls the router.
	for _, s := range sessions {
		if d, ok := s.(Dormant); !ok || !d.Hibernating() {
			return true
		}
	}
	return false
}

// Connected returns the full JIDs of every session of the account bare.
func (r *Router) Connected(bare jid.JID) []jid.JID {
	return r.collect(bare, func(*resource) bool { return true })
}

// Available returns the full JIDs of the account's available resources.
func (r *Router) Available(bare jid.JID) []jid.JID {
	return r.collect(bare, func(res *resource) bool { return res.available })
}

// Interested returns the full JIDs of the account's sessions that asked
// for the roster (RFC 6121 §2.1.6): roster pushes go to them.
func (r *Router) Interested(bare jid.JID) []jid.JID {
	return r.collect(bare, func(res *resource) bool { return res.interested })
}

// AvailablePresences returns the last broadcast presence of each available
// resource of the account, with from set to the resource's full JID, for
// answering probes (RFC 6121 §4.3.2).
func (r *Router) AvailablePresences(bare jid.JID) []*xmlstream.Element {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []*xmlstream.Element
	for _, res := range r.users[bare.Bare().String()] {
		if res.available && res.presence != nil {
			out = append(out, res.presence)
		}
	}
	return out
}

func (r *Router) collect(bare jid.JID, keep func(*resource) bool) []jid.JID {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []jid.JID
	for _, res := range r.users[bare.Bare().String()] {
		if keep(res) {
			out = append(out, res.full)
		}
	}
	return out
}

// SessionCount returns the number of bound sessions.
func (r *Router) SessionCount() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	n := 0
	for _, l := range r.users {
		n += len(l)
	}
	return n
}

// SessionInfo describes a bound session, for the admin's list of who is
// online.
type SessionInfo struct {
	Full  jid.JID
	Since time.Time
	// Available says the session sent available presence; Presence is
	// that presence, nil otherwise.
	Available bool
	Presence  *xmlstream.Element
	// Remote is the client's network address, when the session tells
	// (a RemoteAddr() string method).
	Remote string
}

// Sessions lists the bound sessions, in no particular order.
func (r *Router) Sessions() []SessionInfo {
	r.mu.RLock()
	out := make([]SessionInfo, 0, len(r.users))
	sessions := make([]Session, 0, len(r.users))
	for _, l := range r.users {
		for _, res := range l {
			out = append(out, SessionInfo{Full: res.full, Since: res.since, Available: res.available, Presence: res.presence})
			sessions = append(sessions, res.sess)
		}
	}
	r.mu.RUnlock()
	for i, s := range sessions {
		if ra, ok := s.(interface{ RemoteAddr() string }); ok {
			out[i].Remote = ra.RemoteAddr()
		}
	}
	return out
}

// CloseSession ends the session bound to full with reason; it reports
// whether there was one.
func (r *Router) CloseSession(full jid.JID, reason error) bool {
	s := r.session(full)
	if s == nil {
		return false
	}
	s.Close(reason)
	return true
}

// Deliver sends el to the session bound to full, if any.
func (r *Router) Deliver(full jid.JID, el *xmlstream.Element) bool {
	s := r.session(full)
	return s != nil && s.Send(el)
}

// session returns the session bound to full, or nil.
func (r *Router) session(full jid.JID) Session {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, res := range r.users[full.Bare().String()] {
		if res.full.Equal(full) {
			return res.sess
		}
	}
	return nil
}

// Tracker learns what became of a stanza handed over with
// [Router.DeliverTracked]: whether the client got it (acknowledged with
// XEP-0198 stream management, or written to a session without it) or
// the session ended first. It is an alias of an unnamed interface type,
// as c2s.Tracker is, so that the two are one type.
type Tracker = interface {
	Settled(els []*xmlstream.Element, delivered bool)
}

// trackingSession is a session that can say when a stanza reached its
// client; roost's client sessions can.
type trackingSession interface {
	SendTracked(el *xmlstream.Element, t Tracker) bool
}

// DeliverTracked sends el to the session bound to full, if any, and has
// the session tell t once whether its client got el, so that whoever
// keeps a copy (offline storage, XEP-0160) deletes it only then. A session
// that cannot tell takes el as Deliver would: tracked is false then, and
// sent means delivered.
func (r *Router) DeliverTracked(full jid.JID, el *xmlstream.Element, t Tracker) (sent, tracked bool) {
	s := r.session(full)
	if s == nil {
		return false, false
	}
	if ts, ok := s.(trackingSession); ok {
		return ts.SendTracked(el, t), true
	}
	return s.Send(el), false
}

// CloseAll closes every session with reason (server shutdown).
func (r *Router) CloseAll(reason error) {
	r.mu.RLock()
	var all []Session
	for _, l := range r.users {
		for _, res := range l {
			all = append(all, res.sess)
		}
	}
	r.mu.RUnlock()
	for _, s := range all {
		s.Close(reason)
	}
}

// FromClient handles a stanza sent by the local session st.From.
func (r *Router) FromClient(ctx context.Context, st *stanza.Stanza) {
	if st.Kind == stanza.Presence && st.To.IsZero() && (st.Type == "" || st.Type == stanza.TypeUnavailable) {
		// Kept with its from stamped, ready to answer probes.
		r.SetPresence(st.From, st.Type == "", stanza.Priority(st.El), st.Element())
	}
	if r.intercept(ctx, r.outbound, st) {
		return
	}
	if st.To.IsZero() {
		switch st.Kind {
		case stanza.IQ:
			// RFC 6120 §10.3.3: handled on behalf of the account.
			r.serve(ctx, r.handler, st)
			return
		case stanza.Message:
			// RFC 6120 §10.3.1: as if addressed to the sender's bare JID.
			st.To = st.From.Bare()
		default:
			return // broadcast presence: the interceptors' business
		}
	}
	r.Route(ctx, st)
}

// Route delivers a stanza whose from address is trusted. Failures go back
// to the sender as error stanzas.
func (r *Router) Route(ctx context.Context, st *stanza.Stanza) {
	r.metrics.StanzasRouted.Add(1)
	to := st.To
	if to.IsZero() {
		r.serve(ctx, r.handler, st)
		return
	}
	if h, ok := r.services[to.Domain()]; ok {
		r.serveService(ctx, h, st)
		return
	}
	if !r.IsLocal(to.Domain()) {
		if r.remote == nil {
			r.bounce(ctx, st, stanza.NewError(stanza.RemoteServerNotFound, "federation is disabled"))
			return
		}
		if err := r.remote.SendRemote(ctx, st); err != nil {
			var se *stanza.Error
			if !errors.As(err, &se) {
				se = stanza.NewError(stanza.RemoteServerNotFound, "")
			}
			r.bounce(ctx, st, se)
		}
		return
	}
	if to.Local() == "" {
		r.serve(ctx, r.handler, st)
		return
	}
	if r.accounts != nil {
		ok, err := r.accounts.AccountExists(ctx, to.Bare())
		if err != nil {
			r.log.LogAttrs(ctx, slog.LevelError, "account lookup", slog.String("jid", to.Bare().String()), slog.Any("err", err))
			r.bounce(ctx, st, stanza.NewError(stanza.InternalServerError, ""))
			return
		}
		if !ok {
			r.noSuchUser(ctx, st)
			return
		}
	}
	if r.intercept(ctx, r.inbound, st) {
		return
	}
	if to.Resource() != "" {
		r.toFull(ctx, st)
	} else {
		r.toBare(ctx, st)
	}
}

// noSuchUser applies RFC 6121 §8.5.1.
func (r *Router) noSuchUser(ctx context.Context, st *stanza.Stanza) {
	switch st.Kind {
	case stanza.IQ, stanza.Message:
		r.bounce(ctx, st, stanza.NewError(stanza.ServiceUnavailable, ""))
	case stanza.Presence:
		if st.Type == stanza.TypeSubscribe || st.Type == stanza.TypeProbe {
			// Answer on behalf of the missing account (§3.1.3, §4.3.2).
			el := xmlstream.New(xmlstream.NSClient, "presence")
			el.Attrs = make([]xmlstream.Attr, 0, 3)
			el.SetAttr("type", stanza.TypeUnsubscribed).SetAttr("from", st.To.Bare().String()).SetAttr("to", st.From.Bare().String())
			r.Route(ctx, &stanza.Stanza{Kind: stanza.Presence, Type: stanza.TypeUnsubscribed, From: st.To.Bare(), To: st.From.Bare(), El: el})
		}
	}
}

// toFull applies RFC 6121 §8.5.3.
func (r *Router) toFull(ctx context.Context, st *stanza.Stanza) {
	if r.Deliver(st.To, st.Element()) {
		if st.Kind == stanza.Message {
			for _, o := range r.watched(st.To.Bare()) {
				o.MessageDelivered(ctx, st, []jid.JID{st.To})
			}
		}
		return
	}
	switch st.Kind {
	case stanza.Message:
		switch st.Type {
		case stanza.TypeGroupchat:
			r.bounce(ctx, st, stanza.NewError(stanza.ServiceUnavailable, ""))
		case stanza.TypeError:
		default:
			r.toBare(ctx, st)
		}
	case stanza.IQ:
		r.bounce(ctx, st, stanza.NewError(stanza.ServiceUnavailable, ""))
	case stanza.Presence:
		// Available and unavailable presence for a gone resource is
		// dropped; subscription states were handled on the way in.
	}
}

// toBare applies RFC 6121 §8.5.2.
func (r *Router) toBare(ctx context.Context, st *stanza.Stanza) {
	switch st.Kind {
	case stanza.IQ:
		r.serve(ctx, r.handler, st)
		return
	case stanza.Message:
		switch st.Type {
		case stanza.TypeGroupchat:
			r.bounce(ctx, st, stanza.NewError(stanza.ServiceUnavailable, ""))
			return
		case stanza.TypeError:
			return
		}
	}
	var buf [8]*resource
	targets := r.pick(buf[:0], st)
	if len(targets) > 0 {
		el := st.Element()
		sent := targets[:0]
		for _, res := range targets {
			if res.sess.Send(el) {
				sent = append(sent, res)
			}
		}
		targets = sent
	}
	// A session that refuses is ending (closed, or its client too slow):
	// with no other taker, a message is handled as for an account with
	// no available resource rather than lost.
	if len(targets) > 0 {
		if st.Kind != stanza.Message {
			return
		}
		if obs := r.watched(st.To.Bare()); obs != nil {
			to := make([]jid.JID, len(targets))
			for i, res := range targets {
				to[i] = res.full
			}
			for _, o := range obs {
				o.MessageDelivered(ctx, st, to)
			}
		}
		return
	}
	if st.Kind != stanza.Message || st.Type == stanza.TypeHeadline {
		return // presence for no available resource, or a headline: dropped
	}
	if r.offline != nil {
		done, err := r.offline.Intercept(ctx, st)
		if err != nil {
			r.replyErr(ctx, st, err)
			return
		}
		if done {
			return
		}
	}
	r.bounce(ctx, st, stanza.NewError(stanza.ServiceUnavailable, ""))
}

// pick chooses the sessions a stanza to a bare JID goes to. A resource's
// full JID and session never change once bound, so the caller may read
// them without the lock.
func (r *Router) pick(dst []*resource, st *stanza.Stanza) []*resource {
	r.mu.RLock()
	defer r.mu.RUnlock()
	list := r.users[st.To.Bare().String()]
	switch {
	case st.Kind == stanza.Presence:
		for _, res := range list {
			if res.available {
				dst = append(dst, res)
			}
		}
	case st.Type == stanza.TypeHeadline:
		for _, res := range list {
			if res.available && res.priority >= 0 {
				dst = append(dst, res)
			}
		}
	default:
		// chat and normal: the highest non-negative priority, every
		// resource sharing it (RFC 6121 §8.5.2.1.1).
		best := -1
		for _, res := range list {
			if !res.available || res.priority < 0 {
				continue
			}
			if res.priority > best {
				best, dst = res.priority, dst[:0]
			}
			if res.priority == best {
				dst = append(dst, res)
			}
		}
	}
	return dst
}

// intercept runs ics; it reports whether one consumed the stanza.
func (r *Router) intercept(ctx context.Context, ics []Interceptor, st *stanza.Stanza) bool {
	for _, ic := range ics {
		done, err := ic.Intercept(ctx, st)
		if err != nil {
			r.replyErr(ctx, st, err)
			return true
		}
		if done {
			return true
		}
	}
	return false
}

// serve has h answer st on behalf of the server or an account.
func (r *Router) serve(ctx context.Context, h Handler, st *stanza.Stanza) {
	if st.Kind == stanza.IQ && (st.Type == stanza.TypeResult || st.Type == stanza.TypeError) {
		return // answers to the server's own requests: nothing waits for them here
	}
	r.serveService(ctx, h, st)
}

// serveService has h answer st. Unlike serve it hands over IQ results and
// errors too: a service (a group chat relaying an IQ, an external
// component) may be waiting for them.
func (r *Router) serveService(ctx context.Context, h Handler, st *stanza.Stanza) {
	if h == nil {
		r.replyErr(ctx, st, ErrNoHandler)
		return
	}
	reply, err := h.HandleStanza(ctx, st)
	if errors.Is(err, stanza.ErrReplied) {
		return
	}
	if err != nil {
		r.replyErr(ctx, st, err)
		return
	}
	if reply == nil && st.Kind == stanza.IQ && (st.Type == stanza.TypeGet || st.Type == stanza.TypeSet) {
		reply = stanza.ResultIQ(st, nil)
	}
	if reply != nil {
		r.reply(ctx, st, reply)
	}
}

// replyErr sends err back to the sender of st as a stanza error.
func (r *Router) replyErr(ctx context.Context, st *stanza.Stanza, err error) {
	var se *stanza.Error
	switch {
	case errors.As(err, &se):
	case errors.Is(err, ErrNoHandler):
		if st.Kind == stanza.Presence {
			return
		}
		se = stanza.NewError(stanza.ServiceUnavailable, "")
	default:
		r.log.LogAttrs(ctx, slog.LevelError, "handling stanza",
			slog.String("kind", st.Kind.String()), slog.String("from", st.From.String()), slog.String("to", st.To.String()), slog.Any("err", err))
		se = stanza.NewError(stanza.InternalServerError, "")
	}
	r.bounce(ctx, st, se)
}

// bounce returns an error for st to its sender, never for an error.
func (r *Router) bounce(ctx context.Context, st *stanza.Stanza, se *stanza.Error) {
	if st.IsError() || (st.Kind == stanza.IQ && st.Type == stanza.TypeResult) {
		return
	}
	r.reply(ctx, st, stanza.ErrorReply(st, se)) // nothing without a sender
}

// reply routes el, built as an answer to st, back to st's sender.
func (r *Router) reply(ctx context.Context, st *stanza.Stanza, el *xmlstream.Element) {
	if st.From.IsZero() {
		return
	}
	rs := &stanza.Stanza{Kind: st.Kind, To: st.From, From: st.To, ID: st.ID, Type: el.Get("type"), El: el}
	if k, ok := stanza.KindOf(el); ok {
		rs.Kind = k
	}
	r.Route(ctx, rs)
}

// CloseUser ends every session of the account bare, for example when the
// account is deleted.
func (r *Router) CloseUser(bare jid.JID, reason error) {
	r.CloseUserExcept(bare, jid.JID{}, reason)
}

// CloseUserExcept ends every session of the account bare but the one
// bound to keep (none when keep is zero), for example those of a password
// just changed by keep.
func (r *Router) CloseUserExcept(bare, keep jid.JID, reason error) {
	r.mu.RLock()
	list := r.users[bare.Bare().String()]
	sessions := make([]Session, 0, len(list))
	for _, res := range list {
		if !res.full.Equal(keep) {
			sessions = append(sessions, res.sess)
		}
	}
	r.mu.RUnlock()
	for _, s := range sessions {
		s.Close(reason)
	}
}
