package component

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"roost/jid"
	"roost/netconn"
	"roost/stanza"
	"roost/stream"
	"roost/xmlstream"
)

const nsPing = "urn:xmpp:ping"

// errPeerError: the component ended the stream with a stream error of its
// own, to which nothing is answered but the closing tag.
var errPeerError = errors.New("component: stream error from the component")

// conn is one component connection, from accept to close. The fields
// above mu belong to the connection's goroutine (the reader once the
// stream runs); domain and id do not change once negotiated.
type conn struct {
	srv     *Server
	nc      net.Conn
	rd      *netconn.Reader
	dec     *xmlstream.Decoder
	log     *slog.Logger
	allowed []string // the domains the listener serves; nil: every one
	phase   netconn.Phase

	domain string // the component's, once its stream header named it
	id     string // our stream id
	sent   bool   // our stream header is written
	pingID string

	mu      sync.Mutex
	queue   []*xmlstream.Element // for the writer; nil when empty
	closing bool
	reason  error // the *stream.Error to end with, if any
	wake    chan struct{}
}

func (s *Server) newConn(nc net.Conn, allowed []string) *conn {
	c := &conn{
		srv:     s,
		nc:      nc,
		allowed: allowed,
		log:     s.log.With("conn", s.nextID.Add(1), "remote", nc.RemoteAddr().String()),
		wake:    make(chan struct{}, 1),
	}
	c.rd = netconn.NewReader(nc, s.opts.ReadRate, s.opts.ReadBurst)
	c.dec = xmlstream.NewDecoder(c.rd, s.opts.Limits)
	return c
}

// serve runs the connection: the stream header and handshake under the
// negotiation deadline, then the stream until either side ends it.
func (c *conn) serve(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer c.nc.Close()
	c.log.Debug("connected")
	c.rd.SetDeadline(time.Now().Add(c.srv.opts.NegotiationTimeout))
	if err := c.negotiate(); err != nil {
		if stream.EndNegotiation(c.nc, err, c.phase.Stopped(), c.failHeader(), xmlstream.NSComponent, c.srv.opts.WriteTimeout, c.log) {
			c.rd.Drain()
		}
		return
	}
	// Deferred, so that a panic (recovered by the connection set, which
	// closes the connection) frees the domain too.
	defer c.srv.release(c)
	c.log = c.log.With("domain", c.domain)
	c.log.Info("component connected")
	err := c.run(ctx)
	c.log.Info("component disconnected", "reason", errString(err))
}

// failHeader is the stream header that must precede a stream error when
// ours was not sent yet (XEP-0114 §3, RFC 6120 §4.9.1.2).
func (c *conn) failHeader() []byte {
	if c.sent {
		return nil
	}
	return stream.AppendHeader(nil, stream.Header{From: c.domain, ID: stream.NewID(), ContentNS: xmlstream.NSComponent})
}

// negotiate reads the stream header and the handshake (XEP-0114 §3) and
// makes the connection the one serving its domain.
func (c *conn) negotiate() error {
	hdr, err := c.dec.ReadHeader()
	if err != nil {
		return err
	}
	h, serr := stream.ParseHeader(hdr, c.dec.ContentNamespace(), xmlstream.NSComponent)
	if serr != nil && serr.Condition != stream.UnsupportedVersion {
		return serr
	}
	// XEP-0114 streams predate XMPP 1.0: a component sends no version,
	// and gets none back, nor stream features.
	secret, err := c.header(h.To)
	if err != nil {
		return err
	}
	c.id = stream.NewID()
	if err := c.write(stream.AppendHeader(nil, stream.Header{From: c.domain, ID: c.id, ContentNS: xmlstream.NSComponent})); err != nil {
		return err
	}
	c.sent = true

	el, err := c.dec.ReadElement()
	switch {
	case err != nil:
		return err
	case el.Is(xmlstream.NSStream, "error"):
		return fmt.Errorf("%w: %v", errPeerError, stream.ParseError(el))
	case !el.Is(xmlstream.NSComponent, "handshake") || el.FirstChild() != nil:
		return &stream.Error{Condition: stream.NotAuthorized, Text: "send the handshake first (XEP-0114 §3)"}
	case !handshakeOK(el.Text(), c.id, secret):
		c.log.Info("component handshake failed", "domain", c.domain)
		return &stream.Error{Condition: stream.NotAuthorized, Text: "the handshake does not match the secret"}
	}
	if err := c.srv.claim(c); err != nil {
		c.log.Warn("second connection for a connected component refused", "domain", c.domain)
		return err
	}
	if err := c.write(xmlstream.AppendElement(nil, xmlstream.New(xmlstream.NSComponent, "handshake"), xmlstream.NSComponent)); err != nil {
		c.srv.release(c)
		return err
	}
	return nil
}

// header checks the domain a component's stream header names in its 'to'
// (XEP-0114 §3) and returns the component's secret.
func (c *conn) header(to string) (secret string, err error) {
	if to == "" {
		// As Prosody answers.
		return "", &stream.Error{Condition: stream.ImproperAddressing, Text: "name the component's domain in the stream header's 'to'"}
	}
	d, perr := jid.ParseDomain(to)
	secret, ok := c.srv.opts.Secrets[d]
	if perr != nil || !ok || !c.listens(d) {
		return "", &stream.Error{Condition: stream.HostUnknown, Text: "no component " + strconv.Quote(to) + " is configured here"}
	}
	c.domain = d
	return secret, nil
}

// listens reports whether the listener the connection came from serves
// domain.
func (c *conn) listens(domain string) bool {
	if c.allowed == nil {
		return true
	}
	for _, d := range c.allowed {
		if d == domain {
			return true
		}
	}
	return false
}

// run serves an authenticated stream: the reader on this goroutine, the
// writer on another, tied by an errgroup so that either failing stops
// both.
func (c *conn) run(ctx context.Context) error {
	c.rd.SetIdle(c.srv.opts.IdleTimeout)
	if reason := c.phase.Run(); reason != nil {
		c.close(reason) // the server began shutting down meanwhile
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				c.log.Error("panic in writer", "panic", r, "stack", string(debug.Stack()))
				err = errors.New("component: writer panicked")
			}
		}()
		return c.writeLoop(gctx)
	})
	// A writer that fails must not leave the reader blocked in Read.
	stop := context.AfterFunc(gctx, c.rd.Interrupt)
	err := c.readLoop(gctx)
	c.srv.release(c)
	c.close(stream.CloseReason(err))
	_ = g.Wait()
	stop()
	// RFC 6120 §4.4: give the component a moment to close its side.
	c.rd.Drain()
	return err
}

func (c *conn) readLoop(ctx context.Context) error {
	ka := stream.NewKeepalive(c.rd, c.srv.opts.IdleTimeout, c.srv.opts.PingTimeout)
	for {
		el, err := c.dec.ReadElement()
		if err != nil {
			if c.isClosing() || ctx.Err() != nil || !netconn.IsTimeout(err) {
				return err
			}
			if err := ka.TimedOut(c.ping); err != nil {
				return err
			}
			continue
		}
		if c.isClosing() {
			// The stream is over (RFC 6120 §4.4): what the component still
			// sends is read and dropped until the writer's linger ends.
			continue
		}
		ka.Heard()
		if err := c.handle(ctx, el); err != nil {
			return err
		}
	}
}

// ping asks a silent component for an answer (XEP-0199): any traffic
// proves it is there. An idle IRC gateway may well be silent for hours.
func (c *conn) ping() {
	c.pingID = stream.NewID()
	iq := xmlstream.New(xmlstream.NSClient, "iq").SetAttr("type", stanza.TypeGet).SetAttr("id", c.pingID)
	if c.srv.opts.Server != "" {
		iq.SetAttr("from", c.srv.opts.Server)
	}
	c.send(iq.SetAttr("to", c.domain).Append(xmlstream.New(nsPing, "ping")))
}

// handle checks and routes one element from the component.
func (c *conn) handle(ctx context.Context, el *xmlstream.Element) error {
	if el.Is(xmlstream.NSStream, "error") {
		return fmt.Errorf("%w: %v", errPeerError, stream.ParseError(el))
	}
	st, err := check(c.domain, el)
	if err != nil {
		var se *stanza.Error
		if !errors.As(err, &se) {
			return err // a stream error
		}
		c.log.Debug("stanza refused", "condition", string(se.Condition), "text", se.Text)
		if !st.IsError() {
			c.send(stanza.ErrorReply(&st, se))
		}
		return nil
	}
	if st.Kind == stanza.IQ && (st.Type == stanza.TypeResult || st.Type == stanza.TypeError) &&
		st.ID == c.pingID && st.To.String() == c.srv.opts.Server {
		return nil // the answer to our idle ping: reading it was the point
	}
	c.srv.router.Route(ctx, &st)
	return nil
}

// check applies XEP-0114 §3 to an element from the component serving
// domain and returns the stanza to route. A *stream.Error ends the
// stream: an element that is no stanza (unsupported-stanza-type) or a
// 'from' outside the domain (invalid-from, RFC 6120 §4.9.3.9). A
// *stanza.Error goes back to the component: an invalid 'to', or none.
// A missing 'from' is taken as the component's domain, as Prosody does:
// components in the wild rely on it.
func check(domain string, el *xmlstream.Element) (stanza.Stanza, error) {
	if _, ok := stanza.KindOf(el); !ok {
		return stanza.Stanza{El: el}, &stream.Error{Condition: stream.UnsupportedStanzaType, Text: "unexpected element " + strconv.Quote(el.Name.Local)}
	}
	from := el.Get("from")
	if from == "" {
		// The element is this connection's alone until it is routed:
		// stamping it in place spares a copy.
		from = domain
		el.SetAttr("from", from)
	}
	if f, err := jid.Parse(from); err != nil || f.Domain() != domain {
		return stanza.Stanza{El: el}, &stream.Error{Condition: stream.InvalidFrom, Text: "a component may only send from addresses at " + domain}
	}
	st, err := stanza.Parse(el)
	if err != nil {
		return st, err
	}
	if st.To.IsZero() {
		return st, &stanza.Error{Type: stanza.Modify, Condition: stanza.BadRequest, Text: "a component must address its stanzas ('to', XEP-0114 §3)"}
	}
	return st, nil
}

// send queues el for the component without blocking. A component that
// lets QueueDepth stanzas pile up reads too slowly: its stream ends.
func (c *conn) send(el *xmlstream.Element) bool {
	c.mu.Lock()
	switch {
	case c.closing:
		c.mu.Unlock()
		return false
	case len(c.queue) >= c.srv.opts.QueueDepth:
		c.closing, c.reason = true, errQueueFull
		c.mu.Unlock()
		c.notify()
		return false
	}
	c.queue = append(c.queue, el)
	c.mu.Unlock()
	c.notify()
	return true
}

// close ends the stream: the writer sends what is queued, then reason if
// it is a *stream.Error, then the closing tag.
func (c *conn) close(reason error) {
	c.mu.Lock()
	if !c.closing {
		c.closing, c.reason = true, reason
	}
	c.mu.Unlock()
	c.notify()
}

func (c *conn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

func (c *conn) notify() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// stop ends the stream for a server shutdown: a running stream closes
// with reason; a negotiating one has its read interrupted, and the
// negotiation sends the error.
func (c *conn) stop(reason error) {
	if c.phase.Stop(reason) {
		c.close(reason)
		return
	}
	c.rd.Interrupt()
}

// abort cuts the connection when a shutdown runs out of time.
func (c *conn) abort() { _ = c.nc.Close() }

// writeLoop is the writer goroutine: it writes everything queued in one
// batch with a deadline, a whitespace keepalive (RFC 6120 §4.6.1) after
// KeepaliveInterval without writing, and finally the closing tag.
func (c *conn) writeLoop(ctx context.Context) error {
	every := c.srv.opts.KeepaliveInterval
	ka := time.NewTimer(every)
	defer ka.Stop()
	for {
		select {
		case <-c.wake:
		case <-ka.C:
			if err := c.write([]byte{' '}); err != nil {
				return err
			}
			ka.Reset(every)
			continue
		case <-ctx.Done():
			return ctx.Err()
		}
		c.mu.Lock()
		items, closing, reason := c.queue, c.closing, c.reason
		c.queue = nil
		c.mu.Unlock()
		if len(items) == 0 && !closing {
			continue
		}
		bp := netconn.GetBuffer()
		b := (*bp)[:0]
		for i, el := range items {
			b = xmlstream.AppendElement(b, el, xmlstream.NSComponent)
			items[i] = nil
		}
		if closing {
			var se *stream.Error
			if errors.As(reason, &se) {
				c.log.Info("stream error", "condition", string(se.Condition), "text", se.Text)
			}
			b = stream.AppendEnd(b, se, xmlstream.NSComponent)
		}
		err := c.write(b)
		*bp = b
		netconn.PutBuffer(bp)
		if err != nil {
			return err
		}
		ka.Reset(every)
		if closing {
			// The reader reads on until the component closes its side or
			// the linger ends.
			c.rd.Linger(netconn.LingerTime)
			return nil
		}
	}
}

func (c *conn) write(b []byte) error {
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.srv.opts.WriteTimeout))
	_, err := c.nc.Write(b)
	return err
}

func errString(err error) string {
	if err == nil {
		return "closed"
	}
	return err.Error()
}
