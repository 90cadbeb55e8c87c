package netconn

import (
	"errors"
	"net"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// LingerTime is how long a closed stream waits for the peer to close its
// side (RFC 6120 §4.4) before the connection is dropped.
const LingerTime = 2 * time.Second

// maxSlack bounds how stale a sliding read deadline may get: moving it
// costs a timer update in the runtime on every read, and idle timeouts are
// minutes long. The slack is also at most a quarter of the idle time, so a
// connection is never cut before three quarters of it passed in silence.
const maxSlack = time.Second

// Reader reads a connection for its one reading goroutine, keeping its
// read deadline and limiting its read rate (see the package
// documentation). Its other methods may be called from any goroutine.
type Reader struct {
	// Used by the reading goroutine only.
	limit *rate.Limiter // nil: no limit
	sleep func(time.Duration)

	mu    sync.Mutex
	nc    net.Conn
	idle  time.Duration // the sliding deadline's silence, 0: none
	slack time.Duration
	moved time.Time // when the sliding deadline was last moved
	final bool      // Linger or Interrupt: the deadline stays as it is
}

// NewReader returns a reader of nc with no deadline of its own that reads
// at most ratePerSec bytes per second on average, burst at once (at least
// ratePerSec); ratePerSec 0 means no limit.
func NewReader(nc net.Conn, ratePerSec, burst int) *Reader {
	r := &Reader{nc: nc, sleep: time.Sleep}
	if ratePerSec > 0 {
		r.limit = rate.NewLimiter(rate.Limit(ratePerSec), max(burst, ratePerSec))
	}
	return r
}

// SetConn switches to nc, such as the TLS layer after STARTTLS.
func (r *Reader) SetConn(nc net.Conn) {
	r.mu.Lock()
	r.nc = nc
	r.mu.Unlock()
}

// Conn returns the connection read.
func (r *Reader) Conn() net.Conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.nc
}

// SetDeadline sets an absolute read deadline (zero: none), which reads do
// not move.
func (r *Reader) SetDeadline(t time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.final {
		return
	}
	r.idle = 0
	_ = r.nc.SetReadDeadline(t)
}

// SetIdle makes the read deadline slide: a read fails after d of silence
// (0: no deadline at all).
func (r *Reader) SetIdle(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.final {
		return
	}
	r.idle, r.slack = d, min(maxSlack, d/4)
	if d <= 0 {
		_ = r.nc.SetReadDeadline(time.Time{})
		return
	}
	r.moved = time.Now()
	_ = r.nc.SetReadDeadline(r.moved.Add(d))
}

// Linger sets a last read deadline d from now, which nothing moves again;
// it interrupts a blocked read when it passes. Once a last deadline is
// set, Linger does nothing.
func (r *Reader) Linger(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.final {
		return
	}
	r.final, r.idle = true, 0
	_ = r.nc.SetReadDeadline(time.Now().Add(d))
}

// Interrupt makes a blocked read, and every later one, fail at once.
func (r *Reader) Interrupt() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.final, r.idle = true, 0
	_ = r.nc.SetReadDeadline(time.Now())
}

// Drain lingers (RFC 6120 §4.4): it waits at most LingerTime for the peer
// to close its side, discarding what it sends, without the rate limit.
// After Interrupt it returns at once.
func (r *Reader) Drain() {
	r.Linger(LingerTime)
	discard(r.Conn())
}

// Linger is Drain for a connection read without a Reader: it waits at most
// LingerTime for the peer to close, discarding what it sends.
func Linger(nc net.Conn) {
	_ = nc.SetReadDeadline(time.Now().Add(LingerTime))
	discard(nc)
}

func discard(nc net.Conn) {
	var buf [256]byte
	for {
		if _, err := nc.Read(buf[:]); err != nil {
			return
		}
	}
}

// Read reads from the connection. It moves a sliding deadline first if it
// is more than the slack old, and after the read pauses while the
// connection is over its rate.
func (r *Reader) Read(p []byte) (int, error) {
	r.mu.Lock()
	nc := r.nc
	// One clock reading per read serves both the deadline and the rate:
	// the clock is not free on every machine (3 % of the CPU under load
	// on a virtual clock).
	var now time.Time
	if r.idle > 0 || r.limit != nil {
		now = time.Now()
	}
	if r.idle > 0 && now.Sub(r.moved) >= r.slack {
		_ = nc.SetReadDeadline(now.Add(r.idle))
		r.moved = now
	}
	r.mu.Unlock()
	if r.limit == nil {
		return nc.Read(p)
	}
	// A token bucket cannot grant more than its burst at once.
	if b := r.limit.Burst(); len(p) > b {
		p = p[:b]
	}
	n, err := nc.Read(p)
	if n > 0 {
		// Tokens accrue up to now, the start of the read: the time spent
		// blocked in it is credited at the next read.
		if d := r.limit.ReserveN(now, n).DelayFrom(now); d > 0 {
			r.sleep(d)
		}
	}
	return n, err
}

// IsTimeout reports whether err is a timeout, such as a passed deadline.
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
