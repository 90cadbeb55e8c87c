package netconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"slices"
	"sync"
)

// ErrServerClosed is returned by [Set.Serve] once the set is closed. The
// servers built on a Set wrap it in their own sentinel ([ServerClosed]),
// so that errors.Is matches both.
var ErrServerClosed = errors.New("server closed")

// ServerClosed returns the sentinel a server called name returns from
// Serve after Shutdown: "name: server closed", matching ErrServerClosed.
func ServerClosed(name string) error { return fmt.Errorf("%s: %w", name, ErrServerClosed) }

// Set is the listeners and connections of one server. C identifies a
// connection, usually a pointer to the server's own connection type. All
// methods are safe for concurrent use.
type Set[C comparable] struct {
	log      *slog.Logger
	maxPerIP int

	mu        sync.Mutex
	closing   bool
	closed    chan struct{} // closed by Close
	listeners map[net.Listener]struct{}
	conns     map[C]entry
	perAddr   map[string]*group[C] // by AddrKey, with maxPerIP > 0
	evict     func(C)              // see EvictUnauthenticated; nil: refuse
	wg        sync.WaitGroup       // one per connection added and not yet done
}

// entry is what a Set keeps of a connection.
type entry struct {
	nc      net.Conn // as accepted; closed after a panic
	key     string   // the address group it counts against ("" if none)
	evicted bool     // given up for a newer one: counts in its group's leaving
}

// group is the connections of one address group.
type group[C comparable] struct {
	n int // connections counted against the limit
	// waiting are the counted connections not yet authenticated, oldest
	// first: the ones Add may evict. At most maxPerIP long.
	waiting []C
	// leaving counts connections evicted and not yet done. They no longer
	// count against the limit, but at most maxPerIP may be leaving at
	// once, so that a group holds at most twice the limit even when its
	// evicted connections are slow to close.
	leaving int
}

// NewSet returns an empty set. maxPerIP bounds the connections from one
// address group (see [AddrKey]); 0 means no limit. log receives accept
// errors, refused connections and panics; nil discards them.
func NewSet[C comparable](maxPerIP int, log *slog.Logger) *Set[C] {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Set[C]{
		log:       log,
		maxPerIP:  maxPerIP,
		closed:    make(chan struct{}),
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[C]entry),
		perAddr:   make(map[string]*group[C]),
	}
}

// EvictUnauthenticated makes Add, when an address group is full, make room
// by evicting the group's oldest connection that has not authenticated
// (see [Set.Authenticated]) rather than refusing the new one: a household
// behind one NAT address keeps logging in while strangers on the same
// address, or a crowd of its own stuck apps, hold connections open
// without logging in. Connections that authenticated are never evicted;
// when all of a full group's connections have, the new one is refused as
// without eviction. evict is called outside the set's lock, must not
// block, and must end the connection soon: until it is done it counts
// among the group's leaving connections, of which at most the limit may
// exist (beyond it, new connections are refused). Call it before the set
// is used.
func (s *Set[C]) EvictUnauthenticated(evict func(C)) {
	s.mu.Lock()
	s.evict = evict
	s.mu.Unlock()
}

// Authenticated marks c as authenticated: it is never evicted to make
// room. It reports false if c was evicted already (or is not in the set):
// the connection is on its way out and must not go on as authenticated.
func (s *Set[C]) Authenticated(c C) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.conns[c]
	if !ok || e.evicted {
		return false
	}
	if g := s.perAddr[e.key]; g != nil {
		g.waiting = dropWaiting(g.waiting, c)
	}
	return true
}

// dropWaiting removes c from w, keeping the order.
func dropWaiting[C comparable](w []C, c C) []C {
	if i := slices.Index(w, c); i >= 0 {
		return slices.Delete(w, i, i+1)
	}
	return w
}

// Serve accepts connections on ln and hands each to handle, which must not
// block (it calls Add, then Go or starts its own goroutine). Temporary
// Accept errors are retried with a growing pause. It returns
// [ErrServerClosed] after Close or Shutdown, else the error that ended
// the listener.
func (s *Set[C]) Serve(ln net.Listener, handle func(net.Conn)) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()
	err := loop(ln, s.log, handle)
	if s.isClosing() {
		return ErrServerClosed
	}
	return err
}

// Add registers the connection newConn returns for nc, counting it
// against nc's address group. It reports false, having closed nc and
// without calling newConn, when the set is closing or the group already
// has the most connections allowed. newConn runs under the set's lock, so
// that a Shutdown either refuses the connection or ends it. Every
// connection added must be given back with Done (Go does it).
func (s *Set[C]) Add(nc net.Conn, newConn func() C) (c C, ok bool) {
	key := ""
	if s.maxPerIP > 0 {
		key = AddrKey(nc.RemoteAddr())
	}
	s.mu.Lock()
	g := s.perAddr[key]
	full := s.maxPerIP > 0 && g != nil && g.n >= s.maxPerIP
	if s.closing || full && !s.evictableLocked(g) {
		over := !s.closing
		s.mu.Unlock()
		if over {
			s.log.Warn("too many connections from one address", "remote", key, "limit", s.maxPerIP)
		}
		_ = nc.Close()
		return c, false
	}
	var victim C
	if full {
		// The oldest unauthenticated connection gives its slot to the new
		// one and leaves.
		victim = g.waiting[0]
		g.waiting = slices.Delete(g.waiting, 0, 1)
		e := s.conns[victim]
		e.evicted = true
		s.conns[victim] = e
		g.n--
		g.leaving++
	}
	c = newConn()
	s.conns[c] = entry{nc: nc, key: key}
	if s.maxPerIP > 0 {
		if g == nil {
			g = new(group[C])
			s.perAddr[key] = g
		}
		g.n++
		if s.evict != nil {
			g.waiting = append(g.waiting, c)
		}
	}
	s.wg.Add(1)
	evict := s.evict
	s.mu.Unlock()
	if full {
		s.log.Info("too many connections from one address: the oldest not logged in is closed", "remote", key, "limit", s.maxPerIP)
		evict(victim)
	}
	return c, true
}

// evictableLocked reports whether a full group g can make room for one
// more connection by evicting one.
func (s *Set[C]) evictableLocked(g *group[C]) bool {
	return s.evict != nil && len(g.waiting) > 0 && g.leaving < s.maxPerIP
}

// Admits reports whether a connection from a would be added now: the set
// is not closing and a's address group has room. Add decides; Admits is for
// a server that must answer a refusal in its own protocol before it holds
// the connection, such as an HTTP status before a WebSocket upgrade.
func (s *Set[C]) Admits(a net.Addr) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	g := s.perAddr[AddrKey(a)]
	return s.maxPerIP <= 0 || g == nil || g.n < s.maxPerIP || s.evictableLocked(g)
}

// Go serves c on a new goroutine: run is called, a panic in it is logged
// with its stack and closes c's connection, and c is done once run
// returns.
func (s *Set[C]) Go(c C, run func()) {
	go func() {
		defer s.Done(c)
		defer func() {
			if p := recover(); p != nil {
				s.mu.Lock()
				nc := s.conns[c].nc
				s.mu.Unlock()
				s.log.Error("panic serving a connection", "panic", p, "stack", string(debug.Stack()))
				if nc != nil {
					_ = nc.Close()
				}
			}
		}()
		run()
	}()
}

// Done forgets c, which has ended, and frees its address slot. Calling it
// for a connection not in the set does nothing.
func (s *Set[C]) Done(c C) { s.remove(c, true) }

// Detach forgets c but keeps its address slot taken, for a connection
// handed to a server that serves it on without this set (net/http); give
// the slot back with ReleaseAddr when that connection ends.
func (s *Set[C]) Detach(c C) { s.remove(c, false) }

func (s *Set[C]) remove(c C, release bool) {
	s.mu.Lock()
	e, ok := s.conns[c]
	if ok {
		delete(s.conns, c)
		switch g := s.perAddr[e.key]; {
		case g == nil:
		case e.evicted:
			g.leaving--
			s.forgetLocked(e.key, g)
		default:
			// Detached, it is no longer ours to evict.
			g.waiting = dropWaiting(g.waiting, c)
			if release {
				s.releaseLocked(e.key)
			}
		}
	}
	s.mu.Unlock()
	if ok {
		s.wg.Done()
	}
}

// ReleaseAddr frees the address slot of a detached connection from a.
func (s *Set[C]) ReleaseAddr(a net.Addr) {
	if s.maxPerIP <= 0 {
		return
	}
	key := AddrKey(a)
	s.mu.Lock()
	s.releaseLocked(key)
	s.mu.Unlock()
}

func (s *Set[C]) releaseLocked(key string) {
	g := s.perAddr[key]
	if s.maxPerIP <= 0 || g == nil {
		return
	}
	g.n--
	s.forgetLocked(key, g)
}

// forgetLocked drops g, the group of key, once nothing counts in it.
func (s *Set[C]) forgetLocked(key string, g *group[C]) {
	if g.n <= 0 && g.leaving <= 0 {
		delete(s.perAddr, key)
	}
}

// Len returns the number of connections in the set.
func (s *Set[C]) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Range calls f for every connection, with the set's lock held: f must not
// call the set.
func (s *Set[C]) Range(f func(C)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		f(c)
	}
}

// Closing returns a channel that is closed when the set starts closing,
// for the background work of a server (a keepalive sweep) to stop with it.
func (s *Set[C]) Closing() <-chan struct{} { return s.closed }

func (s *Set[C]) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// Close stops accepting: the listeners close, Serve returns
// ErrServerClosed and Add refuses every connection. The connections in the
// set go on.
func (s *Set[C]) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return
	}
	s.closing = true
	close(s.closed)
	for ln := range s.listeners {
		_ = ln.Close()
	}
}

// Shutdown closes the set, calls end for every connection (outside the
// set's lock; end must not block) and waits until all are done, or until
// ctx ends: then it calls abort for those left and returns ctx's error.
// end and abort may be nil.
func (s *Set[C]) Shutdown(ctx context.Context, end, abort func(C)) error {
	s.Close()
	if end != nil {
		for _, c := range s.snapshot() {
			end(c)
		}
	}
	err := s.Wait(ctx)
	if err != nil && abort != nil {
		for _, c := range s.snapshot() {
			abort(c)
		}
	}
	return err
}

// Wait waits until every connection is done, or until ctx ends.
func (s *Set[C]) Wait(ctx context.Context) error { return Wait(ctx, &s.wg) }

func (s *Set[C]) snapshot() []C {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]C, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c)
	}
	return out
}

// Wait waits for wg, or until ctx ends, and returns ctx's error then.
func Wait(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
