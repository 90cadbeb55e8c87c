package c2s

import (
	"context"
	"errors"
	"net"
	"runtime/debug"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"roost/stanza"
	"roost/stream"
	"roost/xmlstream"
)

const nsPing = "urn:xmpp:ping"

// errQueueFull closes a session whose client does not read fast enough.
var errQueueFull = &stream.Error{Condition: stream.PolicyViolation, Text: "too many stanzas waiting: the client reads too slowly"}

// run serves a bound session until either side ends it.
func (c *conn) run(ctx context.Context) {
	_ = c.nc.SetDeadline(time.Time{})
	c.rd.setIdle(c.srv.opts.IdleTimeout)
	c.mu.Lock()
	c.running = true
	by := c.shutdownBy
	c.mu.Unlock()
	if by != nil {
		c.Close(by)
	}
	c.log.Info("session started")

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				c.log.Error("panic in writer", "panic", r, "stack", string(debug.Stack()))
				err = errors.New("writer panicked")
			}
		}()
		return c.writeLoop(gctx)
	})
	// If the writer fails, the reader must not stay blocked in Read.
	stop := context.AfterFunc(gctx, func() { _ = c.nc.SetReadDeadline(time.Now()) })
	err := c.readLoop(gctx)
	// The router must stop handing us stanzas before the writer drains the
	// queue for the last time.
	c.srv.router.Unbind(ctx, c.full, c)
	c.Close(streamErrorFor(err))
	_ = g.Wait()
	stop()
	c.log.Info("session ended", "reason", errString(err))
}

// streamErrorFor picks what to send when the reader stops with err: the
// stream error it names, or nothing (only the closing tag).
func streamErrorFor(err error) error {
	if se := stream.FromDecodeError(err); se != nil {
		return se
	}
	return nil
}

func (c *conn) readLoop(ctx context.Context) (err error) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("panic handling stanza", "panic", r, "stack", string(debug.Stack()))
			err = &stream.Error{Condition: stream.InternalServerError}
		}
	}()
	pinged, draining := false, false
	for {
		el, err := c.dec.ReadElement()
		if err != nil {
			if c.isClosing() || ctx.Err() != nil {
				return err
			}
			if isTimeout(err) {
				if pinged {
					return &stream.Error{Condition: stream.ConnectionTimeout, Text: "no answer to ping"}
				}
				pinged = true
				c.rd.setIdle(c.srv.opts.PingTimeout)
				c.sendPing()
				continue
			}
			return err
		}
		if c.isClosing() {
			// The stream is over (RFC 6120 §4.4): what the client still
			// sends is read and dropped until it closes or the linger
			// ends. Reading on, rather than closing at once, keeps the
			// kernel from resetting the connection over unread data and
			// losing the stream error on its way out.
			if !draining {
				draining = true
				c.rd.setIdle(0)
				_ = c.nc.SetReadDeadline(time.Now().Add(lingerTime))
			}
			continue
		}
		if pinged {
			pinged = false
			c.rd.setIdle(c.srv.opts.IdleTimeout)
		}
		if err := c.handle(ctx, el); err != nil {
			return err
		}
	}
}

func (c *conn) sendPing() {
	c.pingID = stream.NewID()
	c.Send(xmlstream.New(xmlstream.NSClient, "iq").
		SetAttr("type", stanza.TypeGet).SetAttr("id", c.pingID).SetAttr("from", c.domain).SetAttr("to", c.full.String()).
		Append(xmlstream.New(nsPing, "ping")))
}

// handle processes one element from a bound client.
func (c *conn) handle(ctx context.Context, el *xmlstream.Element) error {
	st, err := stanza.Parse(el)
	if errors.Is(err, stanza.ErrNotStanza) {
		return &stream.Error{Condition: stream.UnsupportedStanzaType, Text: "unexpected element " + el.Name.Local}
	}
	if !st.From.IsZero() && !st.From.Equal(c.full) && !st.From.Equal(c.bare) {
		// RFC 6120 §8.1.2.1: a client may only send as itself.
		return &stream.Error{Condition: stream.InvalidFrom, Text: "you cannot send as " + st.From.String()}
	}
	st.From = c.full
	if err != nil {
		var se *stanza.Error
		if errors.As(err, &se) && !st.IsError() {
			c.Send(stanza.ErrorReply(&st, se))
		}
		return nil
	}
	if st.Kind == stanza.IQ && st.To.IsZero() {
		switch {
		case st.Type == stanza.TypeSet && st.El.Child(stream.NSSession, "session") != nil:
			// RFC 3921 session establishment: nothing to do today.
			c.Send(stanza.ResultIQ(&st, nil))
			return nil
		case st.Type == stanza.TypeSet && st.El.Child(stream.NSBind, "bind") != nil:
			c.Send(stanza.ErrorReply(&st, stanza.NewError(stanza.NotAllowed, "a resource is already bound")))
			return nil
		}
	}
	if st.Kind == stanza.IQ && (st.Type == stanza.TypeResult || st.Type == stanza.TypeError) && st.ID == c.pingID &&
		(st.To.IsZero() || st.To.String() == c.domain) {
		return nil // the answer to our idle ping: reading it was the point
	}
	return c.srv.router.FromClient(ctx, &st)
}

// Send queues el for the client without blocking.
func (c *conn) Send(el *xmlstream.Element) bool {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return false
	}
	if len(c.items) >= c.srv.opts.QueueDepth {
		c.closing, c.reason = true, errQueueFull
		c.mu.Unlock()
		c.notify()
		return false
	}
	c.items = append(c.items, el)
	c.mu.Unlock()
	c.notify()
	return true
}

// Close ends the session: the writer sends what is queued, then reason if
// it is a *stream.Error, then the closing tag.
func (c *conn) Close(reason error) {
	c.mu.Lock()
	if !c.closing {
		c.closing, c.reason = true, reason
	}
	c.mu.Unlock()
	c.notify()
}

func (c *conn) notify() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *conn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

// writeLoop is the session's writer goroutine.
func (c *conn) writeLoop(ctx context.Context) error {
	keepalive := time.NewTimer(c.srv.opts.KeepaliveInterval)
	defer keepalive.Stop()
	for {
		select {
		case <-c.wake:
		case <-keepalive.C:
			// RFC 6120 §4.6.1: a whitespace keepalive.
			if err := c.write([]byte{' '}); err != nil {
				return err
			}
			keepalive.Reset(c.srv.opts.KeepaliveInterval)
			continue
		case <-ctx.Done():
			return ctx.Err()
		}
		c.mu.Lock()
		items, closing, reason := c.items, c.closing, c.reason
		c.items = nil
		c.mu.Unlock()
		if len(items) > 0 || closing {
			bp := getBuf()
			b := (*bp)[:0]
			for i, el := range items {
				b = xmlstream.AppendElement(b, el, xmlstream.NSClient)
				items[i] = nil
			}
			if closing {
				var se *stream.Error
				if errors.As(reason, &se) {
					c.log.Info("stream error", "condition", string(se.Condition), "text", se.Text)
					b = xmlstream.AppendElement(b, se.Element(), xmlstream.NSClient)
				}
				b = append(b, stream.Close...)
			}
			err := c.write(b)
			*bp = b
			putBuf(bp)
			if err != nil {
				return err
			}
			keepalive.Reset(c.srv.opts.KeepaliveInterval)
		}
		if closing {
			// Give the client a moment to close its side, then the reader
			// gives up (RFC 6120 §4.4).
			_ = c.nc.SetReadDeadline(time.Now().Add(lingerTime))
			return nil
		}
	}
}

func (c *conn) write(b []byte) error {
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.srv.opts.WriteTimeout))
	_, err := c.nc.Write(b)
	return err
}

// Write buffers are pooled: a session holds one only while writing.
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

// maxSlack bounds how stale the read deadline may get: moving it costs a
// timer update in the runtime on every read, and idle timeouts are
// minutes long. The slack is also at most a quarter of the timeout, so a
// session is never cut before three quarters of it passed in silence.
const maxSlack = time.Second

// reader moves the read deadline forward as data arrives, so that any
// traffic, whitespace keepalives included, keeps a session alive, and
// limits the sustained read rate. Only the connection's reading goroutine
// uses it.
type reader struct {
	nc    net.Conn
	idle  time.Duration
	rate  int
	burst int

	moved  time.Time // when the deadline was last moved
	slack  time.Duration
	tokens float64
	last   time.Time
}

func (r *reader) setIdle(d time.Duration) {
	r.idle = d
	r.slack = min(maxSlack, d/4)
	r.moved = time.Time{} // takes effect on the next read
}

func (r *reader) Read(p []byte) (int, error) {
	if r.idle > 0 {
		if now := time.Now(); now.Sub(r.moved) >= r.slack {
			_ = r.nc.SetReadDeadline(now.Add(r.idle))
			r.moved = now
		}
	}
	n, err := r.nc.Read(p)
	if r.rate > 0 && n > 0 {
		r.throttle(n)
	}
	return n, err
}

// throttle is a token bucket: reading pauses while the connection is over
// its rate, which pushes back on the sender through TCP.
func (r *reader) throttle(n int) {
	now := time.Now()
	burst := float64(max(r.burst, r.rate))
	if r.last.IsZero() {
		r.tokens = burst
	} else {
		r.tokens = min(burst, r.tokens+now.Sub(r.last).Seconds()*float64(r.rate))
	}
	r.last = now
	r.tokens -= float64(n)
	if r.tokens < 0 {
		time.Sleep(time.Duration(-r.tokens / float64(r.rate) * float64(time.Second)))
	}
}

func errString(err error) string {
	if err == nil {
		return "closed"
	}
	return err.Error()
}
