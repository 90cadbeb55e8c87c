package s2s

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"roost/dialback"
	"roost/netconn"
	"roost/stream"
	"roost/xmlstream"
)

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
	rd           *netconn.Reader
	dec          *xmlstream.Decoder
	log          *slog.Logger
	writeTimeout time.Duration

	mu      sync.Mutex
	queue   []item // nil when empty
	queued  int    // the footprint of the stanzas in queue (outConn.sendStanza)
	closing bool
	reason  error // a *stream.Error to send when closing
	wake    chan struct{}
}

// init sets the link up on nc with the server's limits: the read rate
// holds from the first byte, as for clients.
func (l *link) init(nc net.Conn, o *Options, log *slog.Logger) {
	l.nc = nc
	l.rd = netconn.NewReader(nc, o.ReadRate, o.ReadBurst)
	l.dec = xmlstream.NewDecoder(l.rd, o.Limits)
	l.writeTimeout = o.WriteTimeout
	l.log = log
	if l.wake == nil {
		l.wake = make(chan struct{}, 1)
	}
}

// useTLS switches the link to tc after a handshake, dropping nothing
// (callers check stream.BeforeTLS before the handshake: bytes sent in the
// clear must not be read as if they had come over TLS).
func (l *link) useTLS(tc *tls.Conn) {
	l.tc, l.nc = tc, tc
	l.rd.SetConn(tc)
	l.dec.Reset(l.rd)
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

// run serves the link once negotiated: the writer goroutine (writeLoop)
// beside read, which reads on the calling goroutine. They stop together
// (STYLE rule 9): a writer that fails interrupts the read, and when read
// returns the stream is closed with the error it returned, whose closing
// tag the writer writes before run returns read's error.
func (l *link) run(ctx context.Context, keepalive, idleAfter time.Duration, idle func(), read func(context.Context) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				l.log.Error("panic in writer", "panic", r, "stack", string(debug.Stack()))
				err = errors.New("writer panicked")
			}
		}()
		return l.writeLoop(gctx, keepalive, idleAfter, idle)
	})
	stop := context.AfterFunc(gctx, l.rd.Interrupt)
	err := read(gctx)
	l.close(stream.CloseReason(err))
	_ = g.Wait()
	stop()
	return err
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
		l.queue, l.queued = nil, 0
		l.mu.Unlock()
		if len(items) == 0 && !closing {
			continue
		}
		bp := netconn.GetBuffer()
		b := (*bp)[:0]
		stanzas := false
		for i, it := range items {
			b = appendItem(b, it)
			stanzas = stanzas || it.stanza
			items[i] = item{}
		}
		if closing {
			b = l.appendEnd(b, reason)
		}
		err := l.write(b)
		*bp = b
		netconn.PutBuffer(bp)
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
			l.rd.Linger(netconn.LingerTime)
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
	bp := netconn.GetBuffer()
	defer netconn.PutBuffer(bp)
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
// not sent yet), stream error, closing tag. rd.Drain should follow.
func (l *link) failNow(header []byte, err error) {
	_ = l.write(l.appendEnd(header, err))
}

// appendEnd appends the end of the stream: the stream error reason, if it
// is one, and the closing tag.
func (l *link) appendEnd(b []byte, reason error) []byte {
	var se *stream.Error
	if errors.As(reason, &se) {
		l.log.Info("stream error", "condition", string(se.Condition), "text", se.Text)
	}
	return stream.AppendEnd(b, se, xmlstream.NSServer)
}
