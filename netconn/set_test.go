package netconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// addrConn is a connection from a given address that records Close.
type addrConn struct {
	net.Conn
	from   net.Addr
	closed atomic.Bool
}

func (c *addrConn) RemoteAddr() net.Addr { return c.from }
func (c *addrConn) Close() error         { c.closed.Store(true); return nil }

func from(s string) *addrConn {
	a, err := net.ResolveTCPAddr("tcp", s)
	if err != nil {
		panic(err)
	}
	return &addrConn{from: a}
}

func TestSetLimitsPerAddress(t *testing.T) {
	s := NewSet[*addrConn](2, nil)
	add := func(nc *addrConn) bool {
		_, ok := s.Add(nc, func() *addrConn { return nc })
		return ok
	}
	a1, a2, a3 := from("192.0.2.1:1"), from("192.0.2.1:2"), from("192.0.2.1:3")
	v6a, v6b, v6c := from("[2001:db8::1]:1"), from("[2001:db8::2]:1"), from("[2001:db8::3]:1")
	other := from("[2001:db8:0:1::1]:1")
	steps := []struct {
		name string
		do   func() bool
		want bool
	}{
		{"first from an IPv4 address", func() bool { return add(a1) }, true},
		{"second from it", func() bool { return add(a2) }, true},
		{"third from it is refused", func() bool { return add(a3) }, false},
		{"two from one IPv6 /64", func() bool { return add(v6a) && add(v6b) }, true},
		{"a third host of the /64 is refused", func() bool { return add(v6c) }, false},
		{"another /64 is its own group", func() bool { return add(other) }, true},
		{"a slot freed by Done is taken again", func() bool { s.Done(a1); return add(from("192.0.2.1:5")) }, true},
		{"a detached connection keeps its slot", func() bool { s.Detach(v6a); return add(from("[2001:db8::4]:1")) }, false},
		{"until its address is released", func() bool { s.ReleaseAddr(v6a.from); return add(from("[2001:db8::5]:1")) }, true},
	}
	for _, st := range steps {
		if got := st.do(); got != st.want {
			t.Fatalf("%s: added %v, want %v", st.name, got, st.want)
		}
	}
	for _, nc := range []*addrConn{a1, a2, v6a, v6b, other} {
		if nc.closed.Load() {
			t.Errorf("admitted connection from %v was closed", nc.from)
		}
	}
	for _, nc := range []*addrConn{a3, v6c} {
		if !nc.closed.Load() {
			t.Errorf("refused connection from %v was left open", nc.from)
		}
	}
	// In the set: a2, v6b, other and the two added after a slot was freed.
	if n := s.Len(); n != 5 {
		t.Errorf("Len = %d, want 5", n)
	}
	if s.Admits(from("192.0.2.1:9").from) || !s.Admits(from("192.0.2.77:1").from) {
		t.Errorf("Admits: a full group %v, another %v; want false, true", s.Admits(from("192.0.2.1:9").from), s.Admits(from("192.0.2.77:1").from))
	}
	refused := from("192.0.2.1:4")
	if _, ok := s.Add(refused, func() *addrConn { t.Error("newConn called for a refused connection"); return refused }); ok {
		t.Fatal("a third connection from 192.0.2.1 was added")
	}
}

// TestSetEvictsUnauthenticated: with EvictUnauthenticated, a full address
// group makes room by evicting its oldest connection that has not
// authenticated; authenticated ones stay, and when only they remain the
// new connection is refused. Evicted connections still closing are
// bounded too.
func TestSetEvictsUnauthenticated(t *testing.T) {
	s := NewSet[*addrConn](3, nil)
	var evicted []*addrConn
	s.EvictUnauthenticated(func(c *addrConn) { evicted = append(evicted, c) })
	n := 0
	add := func() (*addrConn, bool) {
		n++
		nc := from(fmt.Sprintf("192.0.2.1:%d", n))
		_, ok := s.Add(nc, func() *addrConn { return nc })
		return nc, ok
	}
	mustAdd := func() *addrConn {
		t.Helper()
		nc, ok := add()
		if !ok {
			t.Fatalf("connection %d refused", n)
		}
		return nc
	}
	a, b, c := mustAdd(), mustAdd(), mustAdd()
	if !s.Authenticated(b) {
		t.Fatal("Authenticated(b) = false for a connection in the set")
	}
	// Full: a (oldest, not authenticated) makes room for d, then c for e.
	d := mustAdd()
	e := mustAdd()
	if want := []*addrConn{a, c}; !slices.Equal(evicted, want) {
		t.Fatalf("evicted %v, want %v", evicted, want)
	}
	if s.Authenticated(a) {
		t.Error("Authenticated(a) = true for an evicted connection")
	}
	if !s.Authenticated(d) || !s.Authenticated(e) {
		t.Fatal("Authenticated = false for d or e")
	}
	// b, d and e authenticated: nothing to evict, the next is refused.
	if s.Admits(from("192.0.2.1:99").from) {
		t.Error("Admits a full group of authenticated connections")
	}
	if f, ok := add(); ok || !f.closed.Load() {
		t.Fatalf("a fourth connection beside three authenticated ones: added %v, closed %v; want refused and closed", ok, f.closed.Load())
	}
	if len(evicted) != 2 {
		t.Errorf("evicted %d connections, want still 2", len(evicted))
	}
	for _, nc := range []*addrConn{a, b, c, d, e} {
		if nc.closed.Load() {
			t.Errorf("the set closed %v itself; evicting is the server's (evict)", nc.from)
		}
	}

	// Leaving connections are bounded: a group of 3 unauthenticated with 3
	// evicted and not yet done refuses the next.
	s2 := NewSet[*addrConn](3, nil)
	var leaving []*addrConn
	s2.EvictUnauthenticated(func(c *addrConn) { leaving = append(leaving, c) })
	add2 := func(i int) bool {
		nc := from(fmt.Sprintf("198.51.100.1:%d", i))
		_, ok := s2.Add(nc, func() *addrConn { return nc })
		return ok
	}
	for i := range 6 {
		if !add2(i) {
			t.Fatalf("connection %d refused while evicting", i)
		}
	}
	if add2(6) {
		t.Fatal("a connection admitted with the limit of evicted connections still leaving")
	}
	s2.Done(leaving[0])
	if !add2(7) {
		t.Fatal("refused after an evicted connection was done")
	}
	if s2.Len() != 3+3 {
		t.Errorf("Len = %d, want 6 (3 counted, 3 leaving)", s2.Len())
	}
}

func TestSetUnlimited(t *testing.T) {
	s := NewSet[*addrConn](0, nil)
	for range 100 {
		nc := from("192.0.2.1:1")
		if _, ok := s.Add(nc, func() *addrConn { return nc }); !ok {
			t.Fatal("refused without a limit")
		}
	}
	if n := s.Len(); n != 100 {
		t.Errorf("Len = %d, want 100", n)
	}
}

// flakyListener fails its first Accept with a temporary error, then
// accepts from a channel until closed.
type flakyListener struct {
	once  sync.Once
	conns chan net.Conn
	done  chan struct{}
	close sync.Once
}

func (l *flakyListener) Accept() (net.Conn, error) {
	first := false
	l.once.Do(func() { first = true })
	if first {
		return nil, tempErr{}
	}
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *flakyListener) Close() error   { l.close.Do(func() { close(l.done) }); return nil }
func (l *flakyListener) Addr() net.Addr { return &net.TCPAddr{} }

// TestSetServeAndShutdown: a connection accepted after a temporary error
// is served; Shutdown ends it and Serve returns ErrServerClosed.
func TestSetServeAndShutdown(t *testing.T) {
	s := NewSet[*addrConn](0, slog.New(slog.DiscardHandler))
	ln := &flakyListener{conns: make(chan net.Conn), done: make(chan struct{})}
	served := make(chan *addrConn, 1)
	ended := make(chan struct{})
	serveErr := make(chan error, 1)
	go func() {
		serveErr <- s.Serve(ln, func(nc net.Conn) {
			c, ok := s.Add(nc, func() *addrConn { return nc.(*addrConn) })
			if !ok {
				return
			}
			s.Go(c, func() {
				served <- c
				<-ended
			})
		})
	}()
	nc := from("192.0.2.9:1")
	ln.conns <- nc
	select {
	case c := <-served:
		if c != nc {
			t.Fatal("served another connection")
		}
	case err := <-serveErr:
		t.Fatalf("Serve returned %v after a temporary Accept error", err)
	case <-time.After(5 * time.Second):
		t.Fatal("the connection after a temporary Accept error was not served")
	}
	var endCalls atomic.Int32
	err := s.Shutdown(context.Background(), func(c *addrConn) {
		endCalls.Add(1)
		close(ended)
	}, nil)
	if err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if n := endCalls.Load(); n != 1 {
		t.Errorf("end called %d times, want 1", n)
	}
	if err := <-serveErr; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve returned %v, want ErrServerClosed", err)
	}
	if s.Len() != 0 {
		t.Errorf("%d connections left after Shutdown", s.Len())
	}
	// A closed set refuses connections and listeners.
	if s.Admits(from("192.0.2.9:3").from) {
		t.Error("Admits after Shutdown")
	}
	late := from("192.0.2.9:2")
	if _, ok := s.Add(late, func() *addrConn { return late }); ok || !late.closed.Load() {
		t.Errorf("Add after Shutdown: added %v, closed %v; want refused and closed", ok, late.closed.Load())
	}
	if err := s.Serve(&flakyListener{}, nil); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Shutdown: %v, want ErrServerClosed", err)
	}
	select {
	case <-s.Closing():
	default:
		t.Error("Closing() not closed after Shutdown")
	}
}

// TestSetShutdownAborts: connections that do not end in time are aborted.
func TestSetShutdownAborts(t *testing.T) {
	s := NewSet[*addrConn](0, nil)
	nc := from("192.0.2.1:1")
	c, _ := s.Add(nc, func() *addrConn { return nc })
	stop := make(chan struct{})
	s.Go(c, func() { <-stop })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	var aborted []*addrConn
	err := s.Shutdown(ctx, nil, func(c *addrConn) { aborted = append(aborted, c); close(stop) })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown: %v, want the context's deadline", err)
	}
	if len(aborted) != 1 || aborted[0] != nc {
		t.Errorf("aborted %v, want the one connection", aborted)
	}
	if err := s.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestSetPanicClosesOnlyItsConnection: a panic while serving is recovered,
// closes its connection and frees its slot; the others go on.
func TestSetPanicClosesOnlyItsConnection(t *testing.T) {
	s := NewSet[*addrConn](1, nil)
	bad, good := from("192.0.2.1:1"), from("192.0.2.2:1")
	b, _ := s.Add(bad, func() *addrConn { return bad })
	g, _ := s.Add(good, func() *addrConn { return good })
	stop := make(chan struct{})
	defer close(stop)
	s.Go(g, func() { <-stop })
	s.Go(b, func() { panic("handler bug") })
	deadline := time.Now().Add(5 * time.Second)
	for s.Len() != 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if s.Len() != 1 {
		t.Fatalf("%d connections after the panic, want 1", s.Len())
	}
	if !bad.closed.Load() || good.closed.Load() {
		t.Errorf("closed: panicking %v, other %v; want true, false", bad.closed.Load(), good.closed.Load())
	}
	again := from("192.0.2.1:2")
	if _, ok := s.Add(again, func() *addrConn { return again }); !ok {
		t.Error("the panicking connection's slot was not freed")
	}
}

func TestServerClosed(t *testing.T) {
	err := ServerClosed("c2s")
	if !errors.Is(err, ErrServerClosed) || err.Error() != "c2s: server closed" {
		t.Errorf("ServerClosed(%q) = %q, matching ErrServerClosed %v; want \"c2s: server closed\", true", "c2s", err, errors.Is(err, ErrServerClosed))
	}
}

// BenchmarkSetAddDone: the accept path's bookkeeping for a connection
// from one of 100 addresses, added and done, with eviction on; and an
// address kept full, each new connection evicting the oldest.
func BenchmarkSetAddDone(b *testing.B) {
	conns := make([]*addrConn, 100)
	for i := range conns {
		conns[i] = from(fmt.Sprintf("192.0.2.%d:1", i))
	}
	b.Run("room", func(b *testing.B) {
		s := NewSet[*addrConn](64, nil)
		s.EvictUnauthenticated(func(*addrConn) {})
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			nc := conns[i%len(conns)]
			c, _ := s.Add(nc, func() *addrConn { return nc })
			s.Done(c)
		}
	})
	b.Run("evicting", func(b *testing.B) {
		s := NewSet[*addrConn](64, nil)
		var evicted []*addrConn
		s.EvictUnauthenticated(func(c *addrConn) { evicted = append(evicted, c) })
		// 64 in the set, and the one evicted last, done, to come back.
		ring := make([]*addrConn, 65)
		for i := range ring {
			ring[i] = &addrConn{from: conns[0].from}
		}
		for _, nc := range ring[:64] {
			s.Add(nc, func() *addrConn { return nc })
		}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			nc := ring[(64+i)%len(ring)]
			if _, ok := s.Add(nc, func() *addrConn { return nc }); !ok {
				b.Fatal("refused")
			}
			for _, e := range evicted {
				s.Done(e)
			}
			evicted = evicted[:0]
		}
	})
}
