package c2s

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"roost/jid"
	"roost/netconn"
	"roost/stanza"
	"roost/stream"
	"roost/xmlstream"
)

const nsPing = "urn:xmpp:ping"

// errQueueFull closes a session whose client does not read fast enough.
var errQueueFull = &stream.Error{Condition: stream.PolicyViolation, Text: "too many stanzas waiting: the client reads too slowly"}

// errCrowded ends a connection that had not logged in when its address
// reached the per-address limit and a newer connection from it took its
// place (netconn.Set.EvictUnauthenticated).
var errCrowded = &stream.Error{Condition: stream.PolicyViolation, Text: "too many connections from your address: the oldest one not logged in is closed"}

// session is one client stream, from accept to close. Its negotiation
// (negotiate.go) runs on it until a resource is bound; from then on it is
// the bound session that the router sees as its [Endpoint].
//
// The fields above mu belong to the goroutine that reads the connection.
// Those below are shared with the router's goroutines, the writer and the
// keepalive sweep; mu guards them all, because one stanza touches several
// at once: Send holds it back for CSI or queues it, the writer takes the
// queue and keeps what stream management must resend.
type session struct {
	srv *Server
	id  uint64
	link

	domain     string
	bare, full jid.JID
	pingID     string
	count      smCount       // stanzas handled from the client (sm.go)
	phase      netconn.Phase // negotiating or running, for Server.Shutdown

	mu        sync.Mutex
	q         queue
	csi       csiState   // csi.go
	unacked   smUnacked  // sm.go
	res       resumption // sm.go
	track     tracking   // track.go
	writers   sync.WaitGroup
	lastWrite atomic.Int64 // unix nanoseconds of the last write
}

// queue is what the writer goroutine sends, and its state.
type queue struct {
	items     []*xmlstream.Element // queued for the client; nil when empty
	bytes     int                  // the footprint of items
	keepalive bool                 // the sweep asks for a whitespace keepalive
	closing   bool
	reason    error // stream error to send when closing
	closed    bool  // the closing tag is written: nothing more will be
	running   bool  // the session runs: writes belong to the writer
	writing   bool  // a writer goroutine is running
	broken    bool  // the connection failed: no writer may start
}

// newSession returns the session of a TCP connection.
func (s *Server) newSession(nc net.Conn) *session {
	rd := netconn.NewReader(nc, s.opts.ReadRate, s.opts.ReadBurst)
	return &session{
		srv:  s,
		id:   s.nextID.Add(1),
		link: link{raw: nc, rd: rd, t: newTCPStream(nc, rd, &s.opts)},
	}
}

// logger returns the bound session's logger. It is built when the session
// logs, which is a few times in its life, rather than kept: a kept logger
// would cost every idle session its own copy of the attributes.
func (c *session) logger() *slog.Logger {
	return c.srv.log.With("conn", c.id, "jid", c.full.String())
}

// info logs what every session logs, its start and its end, with the
// attributes of logger but without building one: two lines per login
// should not cost a logger each.
func (c *session) info(ctx context.Context, msg string, attrs ...slog.Attr) {
	if !c.srv.log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	c.srv.log.LogAttrs(ctx, slog.LevelInfo, msg, append([]slog.Attr{slog.Uint64("conn", c.id), slog.String("jid", c.full.String())}, attrs...)...)
}

// close ends the connection once the stream is over (see
// transport.close).
func (c *session) close() { c.t.close() }

// shutdown ends the stream for a server shutdown: a bound session closes
// with reason; a negotiation is interrupted, and fail sends reason.
func (c *session) shutdown(reason error) {
	if c.phase.Stop(reason) {
		c.Close(reason)
		return
	}
	// Not a final deadline: a session bound meanwhile sets its own, and
	// its writer lingers after the closing tag.
	c.rd.SetDeadline(time.Now())
}

// abort drops the connection the session uses now.
func (c *session) abort() {
	c.mu.Lock()
	raw := c.raw
	c.mu.Unlock()
	_ = raw.Close()
}

// run serves a bound session until either side ends it. The reader runs
// here. The writer is a goroutine that exists only while there is
// something to write (started by Send, Close or the keepalive sweep, gone
// once the queue is empty), so that an idle session costs one blocked
// goroutine and no buffers; there is never more than one. The reader ends
// the session by closing it and waiting for the writer to write the
// closing tag; a writer that fails cuts the reader's read short.
func (c *session) run(ctx context.Context) {
	started := time.Now()
	c.rd.SetIdle(c.srv.opts.IdleTimeout)
	c.lastWrite.Store(time.Now().UnixNano())
	by := c.phase.Run()
	c.mu.Lock()
	c.q.running = true
	inline := c.claimWriterLocked()
	c.mu.Unlock()
	if inline {
		// The bind result is waiting, and the client waits for it before
		// it sends anything: written here rather than by a writer
		// goroutine of its own.
		c.writer()
	}
	if by != nil {
		c.Close(by)
	}
	if c.srv.log.Enabled(ctx, slog.LevelDebug) {
		c.logger().Debug("session started")
	}

	err := c.readLoop(ctx)
	for c.connectionLost(err) {
		// XEP-0198 §5: the session outlives its connection for a while.
		n := c.hibernate()
		if n == nil {
			err = errResumeTimeout
			break
		}
		if rerr := c.resume(ctx, n); rerr != nil {
			err = rerr
			break
		}
		err = c.readLoop(ctx)
	}
	c.endResumption()
	// The router must stop handing us stanzas before the writer drains the
	// queue for the last time, here unless a writer still runs.
	c.srv.router.Unbind(ctx, c.full, c)
	c.mu.Lock()
	c.closeLocked(stream.CloseReason(err))
	inline = c.claimWriterLocked()
	c.mu.Unlock()
	if inline {
		c.writer()
	}
	c.writers.Wait()
	if els := c.undelivered(); len(els) > 0 && c.srv.opts.Undelivered != nil {
		c.logger().Info("unacknowledged stanzas handed back for delivery", "count", len(els))
		c.srv.opts.Undelivered.Undelivered(ctx, c.full, els)
	}
	c.settleRest()
	// One line at info level per session, when it ends: a login costs a
	// write to the log, not two (the start is at debug level).
	c.info(ctx, "session ended", slog.String("reason", errString(err)),
		slog.Float64("duration_s", time.Since(started).Seconds()))
}

func (c *session) readLoop(ctx context.Context) (err error) {
	defer func() {
		if r := recover(); r != nil {
			c.logger().Error("panic handling stanza", "panic", r, "stack", string(debug.Stack()))
			err = &stream.Error{Condition: stream.InternalServerError}
		}
	}()
	ka := stream.NewKeepalive(c.rd, c.srv.opts.IdleTimeout, c.srv.opts.PingTimeout)
	for {
		el, err := c.t.readElement()
		if err != nil {
			if c.ended() || !netconn.IsTimeout(err) {
				return err
			}
			if err := ka.TimedOut(c.sendPing); err != nil {
				return err
			}
			continue
		}
		if c.isClosing() {
			// The stream is over (RFC 6120 §4.4): what the client still
			// sends is read and dropped until it closes or the linger
			// ends. Reading on, rather than closing at once, keeps the
			// kernel from resetting the connection over unread data and
			// losing the stream error on its way out.
			c.rd.Linger(netconn.LingerTime)
			continue
		}
		ka.Heard()
		if err := c.handle(ctx, el); err != nil {
			return err
		}
	}
}

func (c *session) sendPing() {
	c.pingID = stream.NewID()
	c.Send(xmlstream.New(xmlstream.NSClient, "iq").
		SetAttr("type", stanza.TypeGet).SetAttr("id", c.pingID).SetAttr("from", c.domain).SetAttr("to", c.full.String()).
		Append(xmlstream.New(nsPing, "ping")))
}

// handle processes one element from a bound client.
func (c *session) handle(ctx context.Context, el *xmlstream.Element) error {
	c.count.stanza(el)
	if el.Name.Space == nsSM {
		return c.handleSM(ctx, el)
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
func (c *session) Send(el *xmlstream.Element) bool { return c.send(el, nil) }

// send queues el; t, if not nil, is told whether el reached the client
// (track.go) when send returns true.
func (c *session) send(el *xmlstream.Element, t Tracker) bool {
	size := el.Footprint()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.q.closing {
		return false
	}
	if c.heldLocked()+size > c.srv.opts.QueueBytes {
		c.queueFullLocked()
		return false
	}
	if c.csi.inactive && !urgent(el) {
		if c.csi.hold(el, size) {
			c.track.add(el, t)
			return true
		}
		el = nil // held enough: all of it goes now
	}
	c.releaseHeldLocked()
	if len(c.q.items) >= c.srv.opts.QueueDepth {
		c.queueFullLocked()
		return false
	}
	if el != nil {
		c.q.items = append(c.q.items, el)
		c.q.bytes += size
		c.track.add(el, t)
	}
	c.startWriterLocked()
	return true
}

// heldLocked is the footprint of everything the session holds for its
// client: queued, held back (CSI), sent and unacknowledged (stream
// management). c.mu is held.
func (c *session) heldLocked() int { return c.q.bytes + c.csi.bytes + c.unacked.bytes }

// queueFullLocked closes a session whose client does not take what is
// sent to it fast enough. A hibernating session (XEP-0198) ends at once
// rather than at its resumption timeout: what it holds goes to
// Options.Undelivered, and so to offline storage, instead of filling
// memory. c.mu is held.
func (c *session) queueFullLocked() {
	c.q.closing, c.q.reason = true, errQueueFull
	c.srv.opts.Metrics.C2SQueueFull.Add(1)
	if c.res.hibernating {
		c.res.wakeUp()
	}
	c.startWriterLocked()
}

// releaseHeldLocked queues what an inactive client was spared (csi.go).
// c.mu is held.
func (c *session) releaseHeldLocked() {
	var moved int
	c.q.items, moved = c.csi.release(c.q.items)
	c.q.bytes += moved
}

// Close ends the session: the writer sends what is queued, then reason if
// it is a *stream.Error, then the closing tag.
func (c *session) Close(reason error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeLocked(reason)
	c.startWriterLocked()
}

// closeLocked marks the session closing with reason. c.mu is held.
func (c *session) closeLocked(reason error) {
	if !c.q.closing {
		c.q.closing, c.q.reason = true, reason
		c.releaseHeldLocked() // what an inactive client was spared goes before the end
	}
	if c.res.hibernating {
		c.res.wakeUp()
	}
}

// startWriterLocked starts the writer goroutine if the session runs, none
// is running and the closing tag has not been written. c.mu is held.
func (c *session) startWriterLocked() {
	if c.claimWriterLocked() {
		go c.writer()
	}
}

// claimWriterLocked makes the caller the writer, to run writer on its own
// goroutine, if the session runs, no writer is running and the closing
// tag has not been written. c.mu is held.
func (c *session) claimWriterLocked() bool {
	if !c.q.running || c.q.writing || c.q.closed || c.q.broken {
		return false
	}
	c.q.writing = true
	c.writers.Add(1)
	return true
}

func (c *session) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.q.closing
}

// ended reports whether the session is closing or its connection failed:
// either way the reader has nothing more to read for.
func (c *session) ended() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.q.closing || c.q.broken
}

// keepaliveIfQuiet asks for a whitespace keepalive if the session has
// written nothing for d (called by the server's sweep).
func (c *session) keepaliveIfQuiet(now time.Time, d time.Duration) {
	if now.UnixNano()-c.lastWrite.Load() < int64(d) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.q.running && !c.q.closing {
		c.q.keepalive = true
		c.startWriterLocked()
	}
}

// writer writes what is queued, in batches, until the queue is empty, then
// ends. After the closing tag it marks the session closed so no writer
// starts again.
func (c *session) writer() {
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
			c.q.broken, c.q.writing = true, false
			c.mu.Unlock()
			c.rd.Interrupt()
		}
	}()
	for {
		c.mu.Lock()
		q := c.q
		counting := c.unacked.on
		tracking := c.track.any()
		c.q.items, c.q.bytes, c.q.keepalive = nil, 0, false
		if len(q.items) == 0 && !q.closing && !q.keepalive {
			c.q.writing = false
			c.mu.Unlock()
			failed = false
			return
		}
		c.mu.Unlock()
		if len(q.items) == 0 && !q.closing {
			if err := c.keepalive(); err != nil {
				c.logger().Debug("write failed", "err", err)
				return
			}
			continue
		}
		bp := netconn.GetBuffer()
		b := (*bp)[:0]
		var sent []*xmlstream.Element // stanzas stream management keeps
		var sentBytes int
		var written []*xmlstream.Element // delivered once written, if tracked
		for i, el := range q.items {
			b = c.t.appendElement(b, el)
			switch {
			case counting && isStanza(el):
				sent = append(sent, el)
				sentBytes += el.Footprint()
			case tracking:
				written = append(written, el)
			}
			if !counting && el.Name.Space == nsSM && el.Name.Local == "enabled" {
				counting = true
			}
			q.items[i] = nil
		}
		if counting {
			c.mu.Lock()
			if c.unacked.written(sent, sentBytes, !q.closing) {
				// Ask for the client's count with every batch that
				// leaves stanzas unacknowledged (XEP-0198 §4).
				b = c.t.appendRaw(b, smRequest)
			}
			if len(c.unacked.els) > c.srv.opts.QueueDepth && !c.q.closing {
				c.q.closing, c.q.reason = true, errTooManyUnacked
			}
			c.mu.Unlock()
		}
		if q.closing {
			var se *stream.Error // here: errors.As moves it to the heap
			if errors.As(q.reason, &se) {
				c.logger().Info("stream error", "condition", string(se.Condition), "text", se.Text)
			}
			b = c.t.appendEnd(b, se)
		}
		err := c.write(b)
		*bp = b
		netconn.PutBuffer(bp)
		if err != nil {
			c.logger().Debug("write failed", "err", err)
			return
		}
		if len(written) > 0 {
			// Without stream management, written is as delivered as a
			// stanza gets (XEP-0198 §1).
			c.settle(written, true)
		}
		if q.closing {
			c.mu.Lock()
			c.q.closed, c.q.writing = true, false
			c.mu.Unlock()
			failed = false
			// Give the client a moment to close its side, then the reader
			// gives up (RFC 6120 §4.4).
			c.rd.Linger(netconn.LingerTime)
			return
		}
	}
}

// write sends a batch built with the transport's append methods.
func (c *session) write(b []byte) error {
	err := c.t.write(b)
	c.lastWrite.Store(time.Now().UnixNano())
	return err
}

// keepalive: RFC 6120 §4.6.1, RFC 7395 §3.8.
func (c *session) keepalive() error {
	err := c.t.keepalive()
	c.lastWrite.Store(time.Now().UnixNano())
	return err
}

func errString(err error) string {
	if err == nil {
		return "closed"
	}
	return err.Error()
}

// RemoteAddr is the client's network address, for the admin's list of
// sessions.
func (c *session) RemoteAddr() string { return c.raw.RemoteAddr().String() }
