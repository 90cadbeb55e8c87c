package c2s

import (
	"context"
	"errors"
	"net"
	"runtime/debug"
	"sync"
	"time"

	"roost/stanza"
	"roost/stream"
	"roost/xmlstream"
)

const nsPing = "urn:xmpp:ping"

// errQueueFull closes a session whose client does not read fast enough.
var errQueueFull = &stream.Error{Condition: stream.PolicyViolation, Text: "too many stanzas waiting: the client reads too slowly"}

// run serves a bound session until either side ends it. The reader runs
// here. The writer is a goroutine that exists only while there is
// something to write (started by Send, Close or the keepalive sweep, gone
// once the queue is empty), so that an idle session costs one blocked
// goroutine and no buffers; there is never more than one. The reader ends
// the session by closing it and waiting for the writer to write the
// closing tag; a writer that fails cuts the reader's read short.
func (c *conn) run(ctx context.Context) {
	_ = c.nc.SetDeadline(time.Time{})
	c.wmoved = 0
	c.rd.setIdle(c.srv.opts.IdleTimeout)
	c.lastWrite.Store(time.Now().UnixNano())
	c.mu.Lock()
	c.running = true
	by := c.shutdownBy
	c.startWriterLocked() // the bind result is waiting
	c.mu.Unlock()
	if by != nil {
		c.Close(by)
	}
	c.logger().Info("session started")

	err := c.readLoop(ctx)
	for c.connectionLost(err) {
		// XEP-0198 §5: the session outlives its connection for a while.
		n := c.hibernate()
		if n == nil {
			err = errResumeTimeout
			break
		}
		if rerr := c.resume(n); rerr != nil {
			err = rerr
			break
		}
		err = c.readLoop(ctx)
	}
	c.endResumption()
	// The router must stop handing us stanzas before the writer drains the
	// queue for the last time.
	c.srv.router.Unbind(ctx, c.full, c)
	c.Close(streamErrorFor(err))
	c.writers.Wait()
	if els := c.undelivered(); len(els) > 0 && c.srv.opts.Undelivered != nil {
		c.logger().Info("unacknowledged stanzas handed back for delivery", "count", len(els))
		c.srv.opts.Undelivered.Undelivered(ctx, c.full, els)
	}
	c.logger().Info("session ended", "reason", errString(err))
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
			c.logger().Error("panic handling stanza", "panic", r, "stack", string(debug.Stack()))
			err = &stream.Error{Condition: stream.InternalServerError}
		}
	}()
	pinged, draining := false, false
	for {
		el, err := c.dec.ReadElement()
		if err != nil {
			if c.ended() {
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
	if c.smIn && isStanza(el) {
		c.handled++ // wraps at 2^32, as XEP-0198 §4 says
	}
	if el.Name.Space == nsSM {
		return c.handleSM(el)
	}
	if el.Name.Space == nsCSI {
		switch el.Name.Local {
		case "active", "inactive":
			c.setActive(el.Name.Local == "active")
			return nil
		}
	}
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
	// The element is this connection's alone until it is routed: stamping
	// the addresses in place (the decoder left room for them) spares the
	// copy Stanza.Element would make on the way to every recipient.
	el.SetAttr("from", st.From.String())
	if !st.To.IsZero() {
		el.SetAttr("to", st.To.String())
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
	c.srv.router.FromClient(ctx, &st)
	return nil
}

// Send queues el for the client without blocking.
func (c *conn) Send(el *xmlstream.Element) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return false
	}
	if c.inactive && !urgent(el) {
		c.holdLocked(el)
		if len(c.held) < maxHeld {
			return true
		}
		el = nil // held enough: all of it goes now
	}
	c.releaseLocked()
	if len(c.items) >= c.srv.opts.QueueDepth {
		c.closing, c.reason = true, errQueueFull
		c.startWriterLocked()
		return false
	}
	if el != nil {
		c.items = append(c.items, el)
	}
	c.startWriterLocked()
	return true
}

// Close ends the session: the writer sends what is queued, then reason if
// it is a *stream.Error, then the closing tag.
func (c *conn) Close(reason error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closing {
		c.closing, c.reason = true, reason
		c.releaseLocked() // what an inactive client was spared goes before the end
	}
	if c.hibernating {
		c.wakeLocked()
	}
	c.startWriterLocked()
}

// startWriterLocked starts the writer goroutine if the session runs, none
// is running and the closing tag has not been written. c.mu is held.
func (c *conn) startWriterLocked() {
	if !c.running || c.writing || c.closed || c.broken {
		return
	}
	c.writing = true
	c.writers.Add(1)
	go c.writer()
}

func (c *conn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

// ended reports whether the session is closing or its connection failed:
// either way the reader has nothing more to read for.
func (c *conn) ended() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing || c.broken
}

// keepaliveIfQuiet asks for a whitespace keepalive if the session has
// written nothing for d (called by the server's sweep).
func (c *conn) keepaliveIfQuiet(now time.Time, d time.Duration) {
	if now.UnixNano()-c.lastWrite.Load() < int64(d) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running && !c.closing {
		c.keepalive = true
		c.startWriterLocked()
	}
}

// writer writes what is queued, in batches, until the queue is empty, then
// ends. After the closing tag it marks the session closed so no writer
// starts again.
func (c *conn) writer() {
	defer c.writers.Done()
	failed := true
	defer func() {
		if r := recover(); r != nil {
			c.logger().Error("panic in writer", "panic", r, "stack", string(debug.Stack()))
		}
		if failed {
			// Nothing more can be written: cut the reader's read short;
			// it ends the session or, if it is resumable, hibernates.
			c.mu.Lock()
			c.broken, c.writing = true, false
			c.mu.Unlock()
			_ = c.nc.SetReadDeadline(time.Now())
		}
	}()
	for {
		c.mu.Lock()
		items, closing, reason, keepalive, counting := c.items, c.closing, c.reason, c.keepalive, c.smOut
		c.items, c.keepalive = nil, false
		if len(items) == 0 && !closing && !keepalive {
			c.writing = false
			c.mu.Unlock()
			failed = false
			return
		}
		c.mu.Unlock()
		if len(items) == 0 && !closing {
			// RFC 6120 §4.6.1: a whitespace keepalive.
			if err := c.write([]byte{' '}); err != nil {
				c.logger().Debug("write failed", "err", err)
				return
			}
			continue
		}
		bp := getBuf()
		b := (*bp)[:0]
		var sent []*xmlstream.Element // stanzas stream management keeps
		for i, el := range items {
			b = xmlstream.AppendElement(b, el, xmlstream.NSClient)
			switch {
			case counting && isStanza(el):
				sent = append(sent, el)
			case !counting && el.Name.Space == nsSM && el.Name.Local == "enabled":
				counting = true
			}
			items[i] = nil
		}
		if counting {
			c.mu.Lock()
			c.smOut = true
			c.unacked = append(c.unacked, sent...)
			if len(c.unacked) > 0 && !c.requested && !closing {
				// Ask for the client's count with every batch that
				// leaves stanzas unacknowledged (XEP-0198 §4).
				b = append(b, smRequest...)
				c.requested = true
			}
			if len(c.unacked) > c.srv.opts.QueueDepth && !c.closing {
				c.closing, c.reason = true, errTooManyUnacked
			}
			c.mu.Unlock()
		}
		if closing {
			var se *stream.Error
			if errors.As(reason, &se) {
				c.logger().Info("stream error", "condition", string(se.Condition), "text", se.Text)
				b = xmlstream.AppendElement(b, se.Element(), xmlstream.NSClient)
			}
			b = append(b, stream.Close...)
		}
		err := c.write(b)
		*bp = b
		putBuf(bp)
		if err != nil {
			c.logger().Debug("write failed", "err", err)
			return
		}
		if closing {
			c.mu.Lock()
			c.closed, c.writing = true, false
			c.mu.Unlock()
			failed = false
			// Give the client a moment to close its side, then the reader
			// gives up (RFC 6120 §4.4).
			_ = c.nc.SetReadDeadline(time.Now().Add(lingerTime))
			return
		}
	}
}

// write writes b within the write timeout. Like the read deadline, the
// write deadline moves only when it is more than a slack old (a timer
// update in the runtime saved on most writes under load), so each write
// gets at least the timeout less the slack.
func (c *conn) write(b []byte) error {
	now := time.Now().UnixNano()
	wt := c.srv.opts.WriteTimeout
	if now-c.wmoved >= int64(min(maxSlack, wt/4)) {
		_ = c.nc.SetWriteDeadline(time.Unix(0, now).Add(wt))
		c.wmoved = now
	}
	_, err := c.nc.Write(b)
	c.lastWrite.Store(now)
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
	if r.idle <= 0 && r.rate <= 0 {
		return r.nc.Read(p)
	}
	// One clock reading per read serves both the deadline and the rate:
	// the clock is not free on every machine (3 % of the CPU under load
	// on this one's virtual clock).
	now := time.Now()
	if r.idle > 0 && now.Sub(r.moved) >= r.slack {
		_ = r.nc.SetReadDeadline(now.Add(r.idle))
		r.moved = now
	}
	n, err := r.nc.Read(p)
	if r.rate > 0 && n > 0 {
		r.throttle(n, now)
	}
	return n, err
}

// throttle is a token bucket: reading pauses while the connection is over
// its rate, which pushes back on the sender through TCP. now is the time
// the read began; time spent blocked in it is credited at the next read.
func (r *reader) throttle(n int, now time.Time) {
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
