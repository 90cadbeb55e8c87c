package s2s

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"roost/dialback"
	"roost/stream"
	"roost/xmlstream"
)

// lingerTime is how long a closed stream waits for the peer's closing tag
// (RFC 6120 §4.4) before the connection is dropped.
const lingerTime = 2 * time.Second

// item is one thing queued for the writer: an element, a dialback
// element (written with its prefix), or raw bytes (a stream header).
type item struct {
	el     *xmlstream.Element
	db     *dialback.Element
	raw    []byte
	stanza bool // a stanza: it counts as use for the idle timer
}

// link is the transport half shared by inbound and outbound streams: the
// connection, its decoder, and the queue the writer goroutine drains.
// Until the writer runs, the connection's own goroutine writes directly
// (writeNow); afterwards everything goes through enqueue, so that the
// reader goroutine, the router's goroutines and dialback checks never
// write concurrently.
type link struct {
	nc           net.Conn // the transport: raw, or TLS once negotiated
	tc           *tls.Conn
	rd           reader
	dec          *xmlstream.Decoder
	log          *slog.Logger
	writeTimeout time.Duration

	mu      sync.Mutex
	queue   []item // nil when empty
	closing bool
	reason  error // a *stream.Error to send when closing
	wake    chan struct{}
}

func (l *link) init(nc net.Conn, lim xmlstream.Limits, writeTimeout time.Duration, log *slog.Logger) {
	l.nc = nc
	l.rd = reader{nc: nc}
	l.dec = xmlstream.NewDecoder(&l.rd, lim)
	l.writeTimeout = writeTimeout
	l.log = log
	if l.wake == nil {
		l.wake = make(chan struct{}, 1)
	}
}

// useTLS switches the link to tc after a handshake, dropping nothing
// (callers check dec.Buffered before the handshake: bytes sent in the
// clear must not be read as if they had come over TLS).
func (l *link) useTLS(tc *tls.Conn) {
	l.tc, l.nc = tc, tc
	l.rd.setConn(tc)
	l.dec.Reset(&l.rd)
}

// enqueue queues it for the writer without blocking. It reports false
// once the stream is closing.
func (l *link) enqueue(it item) bool {
	l.mu.Lock()
	if l.closing {
		l.mu.Unlock()
		return false
	}
	l.queue = append(l.queue, it)
	l.mu.Unlock()
	l.notify()
	return true
}

// close ends the stream: the writer sends what is queued, then reason if
// it is a *stream.Error, then the closing tag.
func (l *link) close(reason error) {
	l.mu.Lock()
	if !l.closing {
		l.closing, l.reason = true, reason
	}
	l.mu.Unlock()
	l.notify()
}

func (l *link) isClosing() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closing
}

func (l *link) notify() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// writeLoop is the writer goroutine. It batches what is queued into one
// write, sends a whitespace keepalive (RFC 6120 §4.6.1) after keepalive
// without writing, and calls idle (if not nil) when no stanza was written
// for idleAfter; idle closes the link or not. It returns after writing the
// closing tag, or on a write error.
func (l *link) writeLoop(ctx context.Context, keepalive, idleAfter time.Duration, idle func()) error {
	ka := time.NewTimer(keepalive)
	defer ka.Stop()
	var idleTimer *time.Timer
	var idleC <-chan time.Time
	if idle != nil && idleAfter > 0 {
		idleTimer = time.NewTimer(idleAfter)
		defer idleTimer.Stop()
		idleC = idleTimer.C
	}
	return l.drain(ctx, ka, keepalive, idleTimer, idleC, idleAfter, idle)
}

func (l *link) drain(ctx context.Context, ka *time.Timer, keepalive time.Duration, idleTimer *time.Timer, idleC <-chan time.Time, idleAfter time.Duration, idle func()) error {
	for {
		select {
		case <-l.wake:
		case <-ka.C:
			if err := l.write([]byte{' '}); err != nil {
				return err
			}
			ka.Reset(keepalive)
			continue
		case <-idleC:
			idle()
			idleTimer.Reset(idleAfter)
			continue
		case <-ctx.Done():
			return ctx.Err()
		}
		l.mu.Lock()
		items, closing, reason := l.queue, l.closing, l.reason
		l.queue = nil
		l.mu.Unlock()
		if len(items) == 0 && !closing {
			continue
		}
		bp := getBuf()
		b := (*bp)[:0]
		stanzas := false
		for i, it := range items {
			b = appendItem(b, it)
			stanzas = stanzas || it.stanza
			items[i] = item{}
		}
		if closing {
			var se *stream.Error
			if errors.As(reason, &se) {
				l.log.Info("stream error", "condition", string(se.Condition), "text", se.Text)
				b = xmlstream.AppendElement(b, se.Element(), xmlstream.NSServer)
			}
			b = append(b, stream.Close...)
		}
		err := l.write(b)
		*bp = b
		putBuf(bp)
		if err != nil {
			return err
		}
		ka.Reset(keepalive)
		if stanzas && idleTimer != nil {
			idleTimer.Reset(idleAfter)
		}
		if closing {
			// Give the peer a moment to close its side (RFC 6120 §4.4),
			// then the reader gives up.
			l.rd.linger(lingerTime)
			return nil
		}
	}
}

func appendItem(b []byte, it item) []byte {
	switch {
	case it.db != nil:
		return dialback.Append(b, *it.db)
	case it.el != nil:
		return xmlstream.AppendElement(b, it.el, xmlstream.NSServer)
	}
	return append(b, it.raw...)
}

// writeNow writes during negotiation, before the writer goroutine runs.
func (l *link) writeNow(its ...item) error {
	bp := getBuf()
	defer putBuf(bp)
	b := (*bp)[:0]
	for _, it := range its {
		b = appendItem(b, it)
	}
	*bp = b
	return l.write(b)
}

func (l *link) write(b []byte) error {
	_ = l.nc.SetWriteDeadline(time.Now().Add(l.writeTimeout))
	_, err := l.nc.Write(b)
	return err
}

// failNow ends a stream whose writer is not running: header (if ours was
// not sent yet), stream error, closing tag. drainUntilClosed should follow.
func (l *link) failNow(header []byte, err error) {
	var se *stream.Error
	errors.As(err, &se)
	var b []byte
	b = append(b, header...)
	if se != nil {
		l.log.Info("stream error", "condition", string(se.Condition), "text", se.Text)
		b = xmlstream.AppendElement(b, se.Element(), xmlstream.NSServer)
	}
	b = append(b, stream.Close...)
	_ = l.write(b)
}

// drainUntilClosed waits briefly for the peer to close its side (RFC 6120
// §4.4), discarding what it sends.
func (l *link) drainUntilClosed() {
	l.rd.linger(lingerTime)
	var buf [256]byte
	for {
		if _, err := l.nc.Read(buf[:]); err != nil {
			return
		}
	}
}

// Write buffers are pooled: a stream holds one only while writing.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

const maxPooledBuf = 64 << 10

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(bp *[]byte) {
	if cap(*bp) > maxPooledBuf {
		return
	}
	*bp = (*bp)[:0]
	bufPool.Put(bp)
}

// reader sets the read deadline before every read: an absolute one while
// a stream negotiates (so that a peer that stalls is dropped), a sliding
// one once it is idle-timed (so that any traffic, whitespace keepalives
// included, keeps it alive), none at all otherwise. linger fixes a short
// final deadline that nothing moves again.
type reader struct {
	mu      sync.Mutex
	nc      net.Conn
	until   time.Time     // absolute deadline, if set
	idle    time.Duration // sliding deadline, if until is zero
	moved   time.Time     // when the sliding deadline was last moved
	lingers bool
}

func (r *reader) setConn(nc net.Conn) {
	r.mu.Lock()
	r.nc = nc
	r.mu.Unlock()
}

// setDeadline sets an absolute read deadline (zero: none).
func (r *reader) setDeadline(t time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lingers {
		return
	}
	r.until, r.idle = t, 0
	_ = r.nc.SetReadDeadline(t)
}

// setIdle makes the read deadline slide by d from every read (0: none).
func (r *reader) setIdle(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lingers {
		return
	}
	r.until, r.idle = time.Time{}, d
	if d > 0 {
		r.moved = time.Now()
		_ = r.nc.SetReadDeadline(r.moved.Add(d))
	} else {
		_ = r.nc.SetReadDeadline(time.Time{})
	}
}

// linger sets a last, short deadline; it also interrupts a blocked read
// after d.
func (r *reader) linger(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lingers {
		return
	}
	r.lingers = true
	r.until, r.idle = time.Now().Add(d), 0
	_ = r.nc.SetReadDeadline(r.until)
}

// interrupt makes a blocked read return at once.
func (r *reader) interrupt() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lingers = true
	r.until = time.Now()
	_ = r.nc.SetReadDeadline(r.until)
}

// maxSlack bounds how stale the sliding read deadline may get: moving it
// costs a timer update in the runtime, so it moves at most once a second
// (and at most every quarter of the idle time), as in c2s.
const maxSlack = time.Second

func (r *reader) Read(p []byte) (int, error) {
	r.mu.Lock()
	nc := r.nc
	if r.idle > 0 {
		if now := time.Now(); now.Sub(r.moved) >= min(maxSlack, r.idle/4) {
			_ = nc.SetReadDeadline(now.Add(r.idle))
			r.moved = now
		}
	}
	r.mu.Unlock()
	return nc.Read(p)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
