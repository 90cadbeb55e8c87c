package s2s

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"roost/dialback"
	"roost/jid"
	"roost/netconn"
	"roost/sasl"
	"roost/stanza"
	"roost/stream"
	"roost/xmlstream"
)

// inConn is one inbound stream: a peer that sends us stanzas. Its own
// goroutine negotiates TLS, then reads everything the peer sends; a writer
// goroutine sends our side (features, SASL and dialback answers, errors).
// Dialback keys are checked on goroutines of their own, so that the reader
// keeps answering the peer's <db:verify/> requests meanwhile: two servers
// checking each other's keys over each other's streams would otherwise
// wait for each other forever.
type inConn struct {
	link
	srv       *Server
	directTLS bool

	// Owned by the connection's goroutine.
	local    string // the stream's 'to': one of ours
	remote   string // the stream's 'from': what the peer claims to be
	streamID string // our current stream id (dialback keys name it)
	cert     peerCert
	external bool // SASL EXTERNAL offered and not yet used
	sent     bool // our header for the current stream is written

	pairs   dialback.Pairs // (theirs, ours) pairs authorized on this stream
	checks  sync.WaitGroup // dialback checks under way
	pending atomic.Int32   // dialback checks under way, for MaxPendingDialback
	phase   netconn.Phase  // running once the writer goroutine owns writes
}

func (s *Server) newInConn(nc net.Conn, directTLS bool) *inConn {
	c := &inConn{srv: s, directTLS: directTLS}
	c.init(nc, &s.opts, s.log.With("conn", s.nextID.Add(1), "dir", "in", "remote_addr", nc.RemoteAddr().String()))
	return c
}

func (c *inConn) serve(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("panic serving connection", "panic", r, "stack", string(debug.Stack()))
		}
		_ = c.nc.Close()
	}()
	c.log.Debug("connected", "direct_tls", c.directTLS)
	// Everything up to the first authorized pair must happen before this
	// deadline: a peer that stalls mid-negotiation is dropped.
	deadline := time.Now().Add(c.srv.opts.NegotiationTimeout)
	c.rd.SetDeadline(deadline)
	_ = c.nc.SetWriteDeadline(deadline)
	if c.directTLS {
		if err := c.handshake(ctx); err != nil {
			c.log.Debug("TLS handshake failed", "err", err)
			return
		}
	}
	if err := c.negotiateTLS(ctx); err != nil {
		c.fail(err)
		return
	}
	c.run(ctx, deadline)
}

// negotiateTLS runs the stream until TLS is established (RFC 6120 §5):
// STARTTLS is offered and required. A <db:verify/> is answered even
// before TLS: the answer reveals nothing, and some servers open a
// connection just to ask it (XEP-0220 §2.1.2 allows skipping TLS there).
func (c *inConn) negotiateTLS(ctx context.Context) error {
	for {
		if err := c.openStream(); err != nil {
			return err
		}
		if c.tc != nil {
			return nil
		}
		for done := false; !done; {
			el, err := c.dec.ReadElement()
			if err != nil {
				return err
			}
			switch {
			case el.Is(stream.NSTLS, "starttls"):
				if err := c.startTLS(ctx); err != nil {
					return err
				}
				done = true
			case el.Is(stream.NSDialback, "verify"):
				e, err := dialback.Parse(el)
				if err != nil {
					return &stream.Error{Condition: dialback.MalformedCondition(err), Text: err.Error()}
				}
				if e.Type != dialback.Request {
					return &stream.Error{Condition: stream.InvalidXML, Text: "dialback answers do not belong on this stream"}
				}
				ans := c.srv.keys.Answer(e, c.srv.isHosted)
				if err := c.writeNow(item{db: &ans}); err != nil {
					return err
				}
			default:
				return &stream.Error{Condition: stream.PolicyViolation, Text: "STARTTLS is required"}
			}
		}
	}
}

// openStream reads the peer's stream header and answers with ours and the
// features of the current stage.
func (c *inConn) openStream() error {
	c.sent = false
	hdr, err := c.dec.ReadHeader()
	if err != nil {
		return err
	}
	h, serr := stream.ParseHeader(hdr, c.dec.ContentNamespace(), xmlstream.NSServer)
	local := ""
	if serr == nil {
		local, serr = c.checkHeader(h)
	}
	if local != "" {
		c.local = local
	}
	c.streamID = stream.NewID()
	hdrOut := stream.AppendHeader(nil, stream.Header{
		From: c.local, To: c.remote, ID: c.streamID, Version: "1.0", Lang: "en",
		ContentNS: xmlstream.NSServer, Dialback: true,
	})
	if serr != nil {
		c.failNow(hdrOut, serr)
		c.rd.Drain()
		return errHandled
	}
	if err := c.writeNow(item{raw: hdrOut}, item{el: c.features()}); err != nil {
		return err
	}
	c.sent = true
	return nil
}

// checkHeader validates the peer's 'to' (one of ours, and the same on
// every restart) and 'from' (a domain; it may be missing, as some old
// servers leave it out, but then SASL is not offered).
func (c *inConn) checkHeader(h stream.Header) (string, *stream.Error) {
	local := ""
	if h.To != "" {
		if d, err := jid.Parse(h.To); err == nil && d.Local() == "" && d.Resource() == "" && c.srv.isHosted(d.Domain()) {
			local = d.Domain()
		}
		if local == "" {
			return "", &stream.Error{Condition: stream.HostUnknown, Text: "this server does not host " + strconv.Quote(h.To)}
		}
		if c.local != "" && local != c.local {
			return "", &stream.Error{Condition: stream.HostUnknown, Text: "the stream restarted for another domain"}
		}
	}
	if h.From != "" {
		d, err := jid.Parse(h.From)
		if err != nil || d.Local() != "" || d.Resource() != "" {
			return local, &stream.Error{Condition: stream.InvalidFrom, Text: "the stream's from is not a domain"}
		}
		if c.remote != "" && d.Domain() != c.remote {
			return local, &stream.Error{Condition: stream.InvalidFrom, Text: "the stream restarted from another domain"}
		}
		c.remote = d.Domain()
	}
	return local, nil
}

func (c *inConn) features() *xmlstream.Element {
	if c.tc == nil {
		return stream.Features(
			xmlstream.New(stream.NSTLS, "starttls").Append(xmlstream.New(stream.NSTLS, "required")),
			dialback.Feature(),
		)
	}
	f := stream.Features()
	// XEP-0178 §2: EXTERNAL only when the certificate is valid for the
	// domain the stream claims to be from.
	c.external = !c.pairs.AnyValid() && c.cert.validFor(c.remote)
	if c.external {
		f.Append(xmlstream.New(stream.NSSASL, "mechanisms").Append(
			xmlstream.New(stream.NSSASL, "mechanism").AppendText("EXTERNAL")))
	}
	return f.Append(dialback.Feature())
}

// startTLS answers <starttls/> and runs the handshake (RFC 6120 §5.4).
func (c *inConn) startTLS(ctx context.Context) error {
	if err := stream.BeforeTLS(c.dec); err != nil {
		return err
	}
	if c.srv.inTLS == nil {
		_ = c.writeNow(item{el: xmlstream.New(stream.NSTLS, "failure")})
		return errors.New("no TLS configuration")
	}
	if err := c.writeNow(item{el: xmlstream.New(stream.NSTLS, "proceed")}); err != nil {
		return err
	}
	return c.handshake(ctx)
}

func (c *inConn) handshake(ctx context.Context) error {
	tc, ok := c.nc.(*tls.Conn)
	if !ok {
		if c.srv.inTLS == nil {
			return errors.New("no TLS configuration")
		}
		tc = tls.Server(c.nc, c.srv.inTLS)
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("tls handshake: %w", err)
	}
	c.useTLS(tc)
	c.cert = checkPeer(tc.ConnectionState(), c.srv.roots(), x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth)
	return nil
}

// fail ends a stream that could not be negotiated.
func (c *inConn) fail(err error) {
	if errors.Is(err, errHandled) {
		return
	}
	var hdr []byte
	if !c.sent {
		hdr = stream.AppendHeader(nil, stream.Header{From: c.local, ID: stream.NewID(), Version: "1.0", ContentNS: xmlstream.NSServer, Dialback: true})
	}
	if stream.EndNegotiation(c.nc, err, c.phase.Stopped(), hdr, xmlstream.NSServer, c.srv.opts.WriteTimeout, c.log) {
		c.rd.Drain()
	}
}

// run serves the stream once TLS is up: SASL, dialback and stanzas.
func (c *inConn) run(ctx context.Context, deadline time.Time) {
	_ = c.nc.SetWriteDeadline(time.Time{})
	if by := c.phase.Run(); by != nil {
		c.close(by)
	}
	err := c.link.run(ctx, c.srv.opts.KeepaliveInterval, 0, nil, func(ctx context.Context) error {
		return c.readLoop(ctx, deadline)
	})
	c.checks.Wait()
	c.log.Info("inbound stream ended", "from", c.remote, "reason", errString(err))
}

func (c *inConn) readLoop(ctx context.Context, deadline time.Time) (err error) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("panic handling element", "panic", r, "stack", string(debug.Stack()))
			err = &stream.Error{Condition: stream.InternalServerError}
		}
	}()
	authorized := false
	for {
		el, err := c.dec.ReadElement()
		if err != nil {
			if !c.isClosing() && ctx.Err() == nil && netconn.IsTimeout(err) {
				if !c.pairs.AnyValid() && !time.Now().Before(deadline) {
					return &stream.Error{Condition: stream.ConnectionTimeout, Text: "stream negotiation took too long"}
				}
				return &stream.Error{Condition: stream.ConnectionTimeout, Text: "idle for too long"}
			}
			return err
		}
		if err := c.handle(ctx, el); err != nil {
			return err
		}
		if !authorized && c.pairs.AnyValid() {
			// Negotiated: from now on the stream lives while it is used.
			authorized = true
			c.rd.SetIdle(c.srv.opts.IdleTimeout)
		}
	}
}

func (c *inConn) handle(ctx context.Context, el *xmlstream.Element) error {
	switch {
	case el.Is(xmlstream.NSStream, "error"):
		return remoteError{stream.ParseError(el)}
	case dialback.IsDialback(el):
		return c.handleDialback(ctx, el)
	case el.Is(stream.NSSASL, "auth"):
		return c.authenticate(el)
	case el.Name.Space == stream.NSSASL || el.Name.Space == stream.NSTLS:
		return &stream.Error{Condition: stream.PolicyViolation, Text: "unexpected " + el.Name.Local}
	}
	st, err := stanza.Parse(el)
	if errors.Is(err, stanza.ErrNotStanza) {
		return &stream.Error{Condition: stream.UnsupportedStanzaType, Text: "unexpected element " + el.Name.Local}
	}
	var se *stanza.Error
	if errors.As(err, &se) && se.Condition == stanza.JIDMalformed || st.To.IsZero() || st.From.IsZero() {
		// RFC 6120 §4.9.3.8: server-to-server stanzas must carry valid
		// to and from addresses.
		return &stream.Error{Condition: stream.ImproperAddressing, Text: "a stanza between servers needs valid 'to' and 'from' addresses"}
	}
	from, to := st.From.Domain(), st.To.Domain()
	switch {
	case !c.srv.isHosted(to):
		return &stream.Error{Condition: stream.HostUnknown, Text: "this server does not host " + to}
	case c.pairs.SenderValid(from):
		// The sender is proven; the target may be any of our domains, not
		// only the one it was authenticated towards: what stops spoofing
		// is the from check, and Prosody sends replies to our services
		// over the stream authenticated for our main domain.
	case !c.pairs.AnyValid():
		return &stream.Error{Condition: stream.NotAuthorized, Text: "authenticate first"}
	default:
		// RFC 6120 §4.9.3.9: the from domain was not authenticated on this
		// stream.
		return &stream.Error{Condition: stream.InvalidFrom, Text: from + " is not authenticated on this stream"}
	}
	if err != nil {
		if !st.IsError() {
			c.srv.bounce(&st, se)
		}
		return nil
	}
	c.srv.router.Route(ctx, &st)
	return nil
}

// authenticate handles SASL EXTERNAL (XEP-0178): one exchange, success if
// the certificate is valid for the identity, which is the stream's from
// domain (an empty authzid or the same domain).
func (c *inConn) authenticate(auth *xmlstream.Element) error {
	if !c.external {
		return c.saslFailure(sasl.InvalidMechanism, "")
	}
	if auth.Get("mechanism") != "EXTERNAL" {
		return c.saslFailure(sasl.InvalidMechanism, "")
	}
	var data []byte
	switch t := auth.Text(); t {
	case "", "=":
	default:
		b, err := base64.StdEncoding.Strict().DecodeString(t)
		if err != nil {
			return c.saslFailure(sasl.IncorrectEncoding, "")
		}
		data = b
	}
	authzid, err := sasl.ParseExternal(data)
	if err != nil {
		return c.saslFailure(sasl.MalformedRequest, "")
	}
	if authzid != "" {
		if d, err := jid.Parse(authzid); err != nil || d.String() != c.remote {
			return c.saslFailure(sasl.InvalidAuthzid, "you may only act as "+c.remote)
		}
	}
	if !c.cert.validFor(c.remote) {
		return c.saslFailure(sasl.NotAuthorized, "")
	}
	c.external = false
	c.pairs.Authenticate(dialback.Pair{Sender: c.remote, Target: c.local})
	c.enqueue(item{el: xmlstream.New(stream.NSSASL, "success")})
	c.log.Info("inbound pair authorized", "from", c.remote, "to", c.local, "mechanism", "EXTERNAL")
	// RFC 6120 §6.4.6: the stream restarts, without a new TLS layer.
	c.dec.Restart()
	hdr, err := c.dec.ReadHeader()
	if err != nil {
		return err
	}
	h, serr := stream.ParseHeader(hdr, c.dec.ContentNamespace(), xmlstream.NSServer)
	if serr == nil {
		_, serr = c.checkHeader(h)
	}
	c.streamID = stream.NewID()
	c.enqueue(item{raw: stream.AppendHeader(nil, stream.Header{
		From: c.local, To: c.remote, ID: c.streamID, Version: "1.0", Lang: "en",
		ContentNS: xmlstream.NSServer, Dialback: true,
	})})
	if serr != nil {
		return serr
	}
	c.enqueue(item{el: c.features()})
	return nil
}

func (c *inConn) saslFailure(cond sasl.Condition, text string) error {
	f := xmlstream.New(stream.NSSASL, "failure").Append(xmlstream.New(stream.NSSASL, string(cond)))
	if text != "" {
		f.Append(xmlstream.New(stream.NSSASL, "text").SetAttrNS(xmlstream.NSXML, "lang", "en").AppendText(text))
	}
	c.enqueue(item{el: f})
	c.log.Info("SASL EXTERNAL refused", "from", c.remote, "condition", string(cond))
	return nil
}

// handleDialback answers the peer's dialback requests: <db:result/> as
// Receiving Server, <db:verify/> as Authoritative Server.
func (c *inConn) handleDialback(ctx context.Context, el *xmlstream.Element) error {
	e, err := dialback.Parse(el)
	if err != nil {
		return &stream.Error{Condition: dialback.MalformedCondition(err), Text: err.Error()}
	}
	if e.Type != dialback.Request {
		// XEP-0220 §2.2: answers never arrive on an inbound stream;
		// acting on one is how unsolicited dialback attacks work.
		c.log.Warn("ignoring a dialback answer on an inbound stream", "kind", e.Kind.String(), "from", e.From, "to", e.To)
		return nil
	}
	if e.Kind == dialback.Verify {
		ans := c.srv.keys.Answer(e, c.srv.isHosted)
		c.enqueue(item{db: &ans})
		return nil
	}
	rec := c.srv.receiver
	cert := c.cert
	rec.Trusted = cert.validFor
	ans, decision := rec.Receive(&c.pairs, e)
	switch decision {
	case dialback.Answer:
		c.answered(ans, "certificate")
	case dialback.Check:
		if int(c.pending.Load()) >= c.srv.opts.MaxPendingDialback {
			// Each check may open a stream to the domain claimed: a peer
			// must not make us open any number of them. A dialback error,
			// not a stream error (XEP-0220 §2.4: the stream may carry
			// other pairs); resource-constraint, type wait (RFC 6120
			// §8.3.3.18): the peer may ask again once answers came.
			_ = c.pairs.Finish(dialback.Pair{Sender: e.From, Target: e.To}, false)
			c.srv.opts.Metrics.DialbackRefused.Add(1)
			c.answered(e.Answer(dialback.Error, &stanza.Error{Type: stanza.Wait, Condition: stanza.ResourceConstraint,
				Text: "too many dialback requests waiting on this stream"}), "")
			return nil
		}
		c.log.Debug("verifying a dialback key", "from", e.From, "to", e.To)
		streamID := c.streamID
		c.checks.Add(1)
		c.pending.Add(1)
		go func() {
			defer c.checks.Done()
			defer c.pending.Add(-1)
			defer func() {
				if r := recover(); r != nil {
					c.log.Error("panic checking a dialback key", "panic", r, "stack", string(debug.Stack()))
					c.close(&stream.Error{Condition: stream.InternalServerError})
				}
			}()
			vctx, cancel := context.WithTimeout(ctx, c.srv.opts.NegotiationTimeout)
			defer cancel()
			c.answered(rec.Check(vctx, &c.pairs, streamID, e), "dialback")
		}()
	}
	return nil
}

// answered sends a dialback answer; an invalid key ends the stream
// (XEP-0220 §2.2.1: the peer tried to spoof the domain).
// mech says how a valid answer was reached, for the log: "dialback" (the
// key was checked) or "certificate" (XEP-0344).
func (c *inConn) answered(ans dialback.Element, mech string) {
	c.enqueue(item{db: &ans})
	switch ans.Type {
	case dialback.Valid:
		c.log.Info("inbound pair authorized", "from", ans.To, "to", ans.From, "mechanism", mech)
	case dialback.Invalid:
		c.log.Warn("dialback key refused by the authoritative server: spoofing attempt?", "from", ans.To, "to", ans.From)
		c.close(&stream.Error{Condition: stream.NotAuthorized, Text: "invalid dialback key for " + ans.To})
	case dialback.Error:
		c.log.Info("dialback failed", "from", ans.To, "to", ans.From, "condition", string(ans.Err.Condition))
	}
	if ans.Type == dialback.Valid && !c.isClosing() {
		// The reader moves to the idle timeout on its next element; wake
		// it from the negotiation deadline now.
		c.rd.SetIdle(c.srv.opts.IdleTimeout)
	}
}

// shutdown ends the stream for a server shutdown.
func (c *inConn) shutdown(reason error) {
	if c.phase.Stop(reason) {
		c.close(reason)
		return
	}
	// Negotiating: interrupt the blocked read; fail() sends the error.
	c.rd.Interrupt()
}

func errString(err error) string {
	if err == nil {
		return "closed"
	}
	return err.Error()
}
