package s2s

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/idna"

	"roost/dialback"
	"roost/netconn"
	"roost/stanza"
	"roost/stream"
	"roost/xmlstream"
)

// outConn is one outbound stream, opened for the domain pair (local,
// remote). Its goroutine connects, negotiates TLS, authenticates the pair
// with SASL EXTERNAL or dialback, and then reads what the peer sends back
// (dialback answers, stream errors); a writer goroutine sends the stanzas
// the router queues. Further local domains may be multiplexed onto it by
// dialback once it is authenticated.
type outConn struct {
	link
	srv           *Server
	local, remote string
	cancel        context.CancelFunc

	// Owned by the connection's goroutine.
	cert        peerCert
	directTLS   bool // connected with direct TLS (XEP-0368)
	headerSent  bool // our header for the current stream is written
	lingers     bool // our closing tag is sent: wait for the peer's
	saslPending bool
	dbErrors    bool // the peer announced dialback with error handling

	forPeer bool // opened to check a peer's dialback key; set before run

	pairs  dialback.Pairs         // (ours, theirs) pairs on this stream
	verifs dialback.Verifications // our <db:verify/> requests awaiting answers

	stateMu      sync.Mutex // guards the fields below; never held with link.mu
	running      bool       // the writer goroutine owns writes
	open         bool       // TLS is up: dialback elements may be sent
	held         []item     // verification requests waiting for open
	authed       bool       // some pair is authorized
	canMultiplex bool       // other senders may be added by dialback
	streamID     string     // the peer's current stream id
	mech         string     // how our own pair was authenticated
	failed       *stanza.Error
}

// sendResult says what became of a stanza handed to an outbound stream.
type sendResult uint8

const (
	sent sendResult = iota
	full
	closed
)

func (s *Server) newOutConn(p dialback.Pair) *outConn {
	c := &outConn{srv: s, local: p.Sender, remote: p.Target}
	c.log = s.log.With("conn", s.nextID.Add(1), "dir", "out", "from", p.Sender, "to", p.Target)
	c.wake = make(chan struct{}, 1)
	c.cancel = func() {}
	return c
}

// run connects and serves the stream until it ends, then reports to the
// server, which bounces what still waited.
func (c *outConn) run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	c.stateMu.Lock()
	c.cancel = cancel
	c.stateMu.Unlock()
	defer cancel()
	se := c.serve(ctx)
	defer func() {
		if c.nc == nil {
			return
		}
		if c.lingers {
			// Bounce first, then wait politely for the peer's closing tag.
			c.rd.Drain()
		}
		_ = c.nc.Close()
	}()
	c.verifs.Abort()
	c.stateMu.Lock()
	c.failed = se
	c.stateMu.Unlock()
	c.mu.Lock()
	c.closing = true
	unsent := c.queue
	c.queue = nil
	c.mu.Unlock()
	if se == nil {
		se = stanza.NewError(stanza.RemoteServerTimeout, "the stream to "+c.remote+" closed")
	}
	c.srv.outDone(c, se)
	if len(unsent) > 0 {
		c.log.Info("stanzas lost with the stream", "count", len(unsent))
	}
}

// serve returns why the stream ended, as the error to bounce stanzas
// with, or nil for a normal close.
func (c *outConn) serve(ctx context.Context) (se *stanza.Error) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("panic serving connection", "panic", r, "stack", string(debug.Stack()))
			se = stanza.NewError(stanza.InternalServerError, "")
		}
	}()
	nc, direct, se := c.srv.connect(ctx, c.remote, c.local)
	if se != nil {
		c.log.Info("cannot connect", "err", se.Text)
		return se
	}
	c.init(nc, &c.srv.opts, c.log)
	c.directTLS = direct
	stop := context.AfterFunc(ctx, c.rd.Interrupt)
	defer stop()
	deadline := time.Now().Add(c.srv.opts.NegotiationTimeout)
	c.rd.SetDeadline(deadline)
	_ = nc.SetWriteDeadline(deadline)

	features, err := c.negotiateTLS(ctx, direct)
	if err != nil {
		se := c.negotiationFailed(err)
		if c.headerSent {
			// End our side politely; the peer's stream error, if any, was
			// already read.
			_ = c.nc.SetWriteDeadline(time.Now().Add(c.srv.opts.WriteTimeout))
			c.failNow(nil, stream.CloseReason(err))
			c.lingers = true
		}
		return se
	}
	c.log.Debug("stream encrypted", "peer_certificate_valid", c.cert.validFor(c.remote))
	_ = c.nc.SetWriteDeadline(time.Time{})
	c.dbErrors = features.Child(dialback.NSFeature, "dialback") != nil

	c.stateMu.Lock()
	c.running, c.open = true, true
	held := c.held
	c.held = nil
	c.stateMu.Unlock()
	for _, it := range held {
		c.enqueue(it)
	}

	err = c.link.run(ctx, c.srv.opts.KeepaliveInterval, c.srv.opts.IdleTimeout, func() { c.srv.retire(c) }, func(context.Context) error {
		if err := c.authenticate(features); err != nil {
			return err
		}
		return c.readLoop(deadline)
	})
	for _, p := range c.pairs.Abort() {
		c.srv.pairFailed(c, p, stanza.NewError(stanza.RemoteServerTimeout, "the stream to "+c.remote+" closed during dialback"))
	}
	c.log.Info("outbound stream ended", "reason", errString(err))
	if err == nil || errors.Is(err, xmlstream.ErrStreamEnd) && c.pairs.AnyValid() {
		return nil
	}
	return c.negotiationFailed(err)
}

// negotiateTLS opens the stream and secures it: STARTTLS unless the
// connection is direct TLS already (XEP-0368). It checks the peer's
// certificate and returns the features offered on the encrypted stream.
func (c *outConn) negotiateTLS(ctx context.Context, direct bool) (*xmlstream.Element, error) {
	if direct {
		c.useTLS(c.nc.(*tls.Conn))
	} else {
		features, err := c.openStream()
		if err != nil {
			return nil, err
		}
		if features.Child(stream.NSTLS, "starttls") == nil {
			return nil, ErrNoTLS
		}
		if err := c.writeNow(item{el: xmlstream.New(stream.NSTLS, "starttls")}); err != nil {
			return nil, err
		}
		el, err := c.dec.ReadElement()
		if err != nil {
			return nil, err
		}
		if !el.Is(stream.NSTLS, "proceed") {
			return nil, fmt.Errorf("starttls: %w", ErrNoTLS)
		}
		if err := stream.BeforeTLS(c.dec); err != nil {
			return nil, fmt.Errorf("starttls: %w", err)
		}
		tc := tls.Client(c.nc, c.srv.clientTLS(c.local, c.remote, false))
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, fmt.Errorf("tls handshake: %w", err)
		}
		c.useTLS(tc)
	}
	c.cert = checkPeer(c.tc.ConnectionState(), c.srv.roots(), x509.ExtKeyUsageServerAuth)
	if c.srv.opts.RequireValidCertificates && !c.cert.validFor(c.remote) {
		return nil, ErrUntrusted
	}
	return c.openStream()
}

// openStream sends our header, reads the peer's and its features.
func (c *outConn) openStream() (*xmlstream.Element, error) {
	hdr := stream.AppendHeader(nil, stream.Header{
		From: c.local, To: c.remote, Version: "1.0", Lang: "en",
		ContentNS: xmlstream.NSServer, Dialback: true,
	})
	if err := c.writeNow(item{raw: hdr}); err != nil {
		return nil, err
	}
	c.headerSent = true
	return c.readHeaderAndFeatures()
}

func (c *outConn) readHeaderAndFeatures() (*xmlstream.Element, error) {
	el, err := c.dec.ReadHeader()
	if err != nil {
		return nil, err
	}
	h, serr := stream.ParseHeader(el, c.dec.ContentNamespace(), xmlstream.NSServer)
	if serr != nil {
		return nil, serr
	}
	c.stateMu.Lock()
	c.streamID = h.ID
	c.stateMu.Unlock()
	f, err := c.dec.ReadElement()
	if err != nil {
		return nil, err
	}
	if f.Is(xmlstream.NSStream, "error") {
		return nil, remoteError{stream.ParseError(f)}
	}
	if !f.Is(xmlstream.NSStream, "features") {
		return nil, &stream.Error{Condition: stream.InvalidXML, Text: "expected stream features"}
	}
	return f, nil
}

// authenticate starts authenticating our pair: SASL EXTERNAL when the
// peer offers it (it has accepted our certificate, XEP-0178), else
// dialback (XEP-0220).
func (c *outConn) authenticate(features *xmlstream.Element) error {
	if mechs := features.Child(stream.NSSASL, "mechanisms"); mechs != nil {
		for m := range mechs.Elements() {
			if m.Text() == "EXTERNAL" {
				// The authzid is our domain: older servers require it, and
				// XEP-0178 allows it.
				c.saslPending = true
				c.enqueue(item{el: xmlstream.New(stream.NSSASL, "auth").SetAttr("mechanism", "EXTERNAL").
					AppendText(base64.StdEncoding.EncodeToString([]byte(c.local)))})
				return nil
			}
		}
	}
	return c.startDialback(c.local)
}

func (c *outConn) startDialback(sender string) error {
	c.stateMu.Lock()
	id := c.streamID
	c.stateMu.Unlock()
	req, err := c.srv.keys.Initiate(&c.pairs, dialback.Pair{Sender: sender, Target: c.remote}, id)
	if err != nil {
		return err
	}
	c.log.Debug("sending dialback key", "sender", sender)
	c.enqueue(item{db: &req})
	return nil
}

// readLoop reads the peer's side of our stream: SASL and dialback answers,
// answers to our key checks, and errors. A stream carries no stanzas
// towards its initiator (RFC 6120 §4.2); any that come are dropped.
func (c *outConn) readLoop(deadline time.Time) error {
	for {
		el, err := c.dec.ReadElement()
		if err != nil {
			if netconn.IsTimeout(err) && !c.isClosing() && !c.pairs.AnyValid() && !time.Now().Before(deadline) {
				return errNegotiationTimeout
			}
			return err
		}
		switch {
		case el.Is(xmlstream.NSStream, "error"):
			return remoteError{stream.ParseError(el)}
		case el.Is(stream.NSSASL, "success") && c.saslPending:
			if err := c.saslSucceeded(); err != nil {
				return err
			}
		case el.Is(stream.NSSASL, "failure") && c.saslPending:
			c.saslPending = false
			c.log.Info("SASL EXTERNAL refused; trying dialback", "condition", saslCondition(el))
			if err := c.startDialback(c.local); err != nil {
				return err
			}
		case dialback.IsDialback(el):
			if err := c.handleDialback(el); err != nil {
				return err
			}
		default:
			c.log.Debug("dropping an unexpected element on an outbound stream", "name", el.Name.Local)
		}
	}
}

// saslSucceeded restarts the stream after <success/> (RFC 6120 §6.4.6)
// and marks our pair authorized once the new features arrive.
func (c *outConn) saslSucceeded() error {
	c.saslPending = false
	c.enqueue(item{raw: stream.AppendHeader(nil, stream.Header{
		From: c.local, To: c.remote, Version: "1.0", Lang: "en",
		ContentNS: xmlstream.NSServer, Dialback: true,
	})})
	c.dec.Restart()
	features, err := c.readHeaderAndFeatures()
	if err != nil {
		return err
	}
	c.dbErrors = features.Child(dialback.NSFeature, "dialback") != nil
	p := dialback.Pair{Sender: c.local, Target: c.remote}
	c.pairs.Authenticate(p)
	c.authorized(p, "EXTERNAL")
	return nil
}

// authorized records that p may now carry stanzas.
func (c *outConn) authorized(p dialback.Pair, mech string) {
	c.log.Info("outbound pair authorized", "sender", p.Sender, "mechanism", mech,
		"peer_certificate_valid", c.cert.validFor(c.remote), "direct_tls", c.directTLS)
	c.stateMu.Lock()
	if p.Sender == c.local && c.mech == "" {
		c.mech = mech
	}
	first := !c.authed
	c.authed = true
	// Sender multiplexing needs nothing more (XEP-0220 §2.5.1), but only
	// a peer announcing dialback errors can refuse one without closing
	// the stream.
	c.canMultiplex = c.dbErrors
	c.stateMu.Unlock()
	if first {
		// Negotiated: a silent peer is normal from now on; the writer's
		// idle timer and keepalives take over.
		c.rd.SetIdle(0)
	}
	c.srv.pairReady(c, p)
}

func (c *outConn) handleDialback(el *xmlstream.Element) error {
	e, err := dialback.Parse(el)
	if err != nil {
		return &stream.Error{Condition: dialback.MalformedCondition(err), Text: err.Error()}
	}
	switch {
	case e.Kind == dialback.Verify && e.Type == dialback.Request:
		// A peer that asks on the stream we opened: answering costs
		// nothing and reveals nothing.
		ans := c.srv.keys.Answer(e, c.srv.isHosted)
		c.enqueue(item{db: &ans})
	case e.Kind == dialback.Verify:
		if err := c.verifs.Resolve(e); err != nil {
			c.log.Warn("ignoring an unsolicited dialback verification", "from", e.From, "to", e.To)
		}
	case e.Type == dialback.Request:
		c.log.Warn("ignoring a dialback request on an outbound stream", "from", e.From, "to", e.To)
	default:
		p, err := dialback.Outcome(&c.pairs, e)
		if err != nil {
			c.log.Warn("ignoring an unsolicited dialback result", "from", e.From, "to", e.To)
			return nil
		}
		switch e.Type {
		case dialback.Valid:
			c.authorized(p, "dialback")
		case dialback.Invalid:
			// XEP-0220 §2.1.1: stanzas bounce with internal-server-error,
			// and the peer will close the stream.
			c.log.Warn("dialback refused", "sender", p.Sender)
			c.srv.pairFailed(c, p, stanza.NewError(stanza.InternalServerError, c.remote+" refused our dialback key"))
			return fmt.Errorf("dialback for %s: %w", p.Sender, ErrAuthFailed)
		default:
			// A dialback error does not end the stream; the stanzas bounce
			// with remote-server-timeout (XEP-0220 §2.4).
			c.log.Info("dialback failed", "sender", p.Sender, "condition", string(e.Err.Condition))
			c.srv.pairFailed(c, p, stanza.NewError(stanza.RemoteServerTimeout, c.remote+" could not verify "+p.Sender))
			if !c.pairs.AnyValid() {
				return fmt.Errorf("dialback for %s: %s: %w", p.Sender, e.Err.Condition, ErrAuthFailed)
			}
		}
	}
	return nil
}

// sendStanza queues a stanza whose footprint is size on an authorized
// stream; limit and limitBytes bound the queue in stanzas and in bytes (0:
// no bound, for a route's backlog being handed over).
func (c *outConn) sendStanza(el *xmlstream.Element, size, limit, limitBytes int) sendResult {
	c.mu.Lock()
	switch {
	case c.closing:
		c.mu.Unlock()
		return closed
	case limit > 0 && len(c.queue) >= limit,
		limitBytes > 0 && c.queued+size > limitBytes:
		c.mu.Unlock()
		return full
	}
	c.queue = append(c.queue, item{el: el, stanza: true})
	c.queued += size
	c.mu.Unlock()
	c.notify()
	return sent
}

// multiplex asks the peer to authorize sender on this stream too, if the
// stream allows it. It is called with the server's lock held.
func (c *outConn) multiplex(sender string) bool {
	c.stateMu.Lock()
	ok := c.authed && c.canMultiplex
	c.stateMu.Unlock()
	if !ok || c.isClosing() {
		return false
	}
	if err := c.startDialback(sender); err != nil {
		return false
	}
	p := dialback.Pair{Sender: sender, Target: c.remote}
	// The peer may never answer; the stanzas must not wait forever.
	time.AfterFunc(c.srv.opts.NegotiationTimeout, func() {
		if c.pairs.State(p) == dialback.Pending && c.pairs.Finish(p, false) == nil {
			c.srv.pairFailed(c, p, stanza.NewError(stanza.RemoteServerTimeout, c.remote+" did not answer our dialback key"))
		}
	})
	return true
}

// requestVerify sends a <db:verify/> request for the Receiving Server side
// of an inbound stream, once this stream is encrypted, and returns the
// channel its answer arrives on (closed if the stream ends first).
func (c *outConn) requestVerify(req dialback.Element) <-chan dialback.Element {
	ch := c.verifs.Add(req)
	it := item{db: &req}
	c.stateMu.Lock()
	if !c.open {
		c.held = append(c.held, it)
		c.stateMu.Unlock()
		return ch
	}
	c.stateMu.Unlock()
	c.enqueue(it)
	return ch
}

// failure is why the stream ended, for verification requests that were
// waiting on it.
func (c *outConn) failure() error {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	if c.failed != nil {
		return c.failed
	}
	return dialback.ErrAborted
}

// idle reports whether nothing waits on the stream, so that it may close.
func (c *outConn) idle() bool {
	c.stateMu.Lock()
	authed := c.authed
	c.stateMu.Unlock()
	if !authed || c.verifs.Len() > 0 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.closing && len(c.queue) == 0
}

// shutdown ends the stream for a server shutdown.
func (c *outConn) shutdown(reason error) {
	c.stateMu.Lock()
	running := c.running
	cancel := c.cancel
	c.stateMu.Unlock()
	if running {
		c.close(reason)
		return
	}
	cancel()
}

// abort drops the connection at once.
func (c *outConn) abort() {
	c.stateMu.Lock()
	cancel := c.cancel
	c.stateMu.Unlock()
	cancel()
}

// negotiationFailed turns why a stream failed into the error its waiting
// stanzas bounce with. A peer that does not speak XMPP, or not in time,
// answers as a port that refuses connections (errUnreachable); what an
// XMPP server said is passed on.
func (c *outConn) negotiationFailed(err error) *stanza.Error {
	var re remoteError
	switch {
	case errors.Is(err, errNegotiationTimeout) || netconn.IsTimeout(err) || errors.Is(err, context.DeadlineExceeded):
		c.log.Info("stream negotiation took too long", "err", err)
		return errUnreachable(c.remote)
	case errors.As(err, &re):
		c.log.Info("peer ended the stream", "condition", string(re.err.Condition), "text", re.err.Text)
		if re.err.Condition == stream.HostUnknown || re.err.Condition == stream.HostGone {
			return stanza.NewError(stanza.RemoteServerNotFound, c.remote+" does not serve this domain")
		}
		return stanza.NewError(stanza.RemoteServerTimeout, c.remote+" closed the stream: "+string(re.err.Condition))
	case errors.Is(err, ErrUntrusted):
		c.log.Info("refusing the peer's certificate")
		return stanza.NewError(stanza.RemoteServerNotFound, c.remote+" has no valid certificate")
	case errors.Is(err, ErrAuthFailed):
		return stanza.NewError(stanza.RemoteServerTimeout, c.remote+" did not accept us")
	}
	c.log.Info("stream failed", "err", err)
	return errUnreachable(c.remote)
}

// remoteError is a stream error the peer sent.
type remoteError struct{ err *stream.Error }

func (e remoteError) Error() string { return "peer sent " + e.err.Error() }

func saslCondition(failure *xmlstream.Element) string {
	for c := range failure.Elements() {
		if c.Name.Local != "text" {
			return c.Name.Local
		}
	}
	return "undefined"
}

// clientTLS is the configuration for an outbound handshake from local to
// remote. The chain is checked after the handshake (checkPeer), not by
// crypto/tls, because a certificate that does not validate still allows
// dialback when the policy permits.
func (s *Server) clientTLS(local, remote string, direct bool) *tls.Config {
	name, err := idna.Lookup.ToASCII(remote)
	if err != nil {
		name = remote
	}
	cfg := &tls.Config{
		ServerName:         name,
		InsecureSkipVerify: true, //nolint:gosec // verified by checkPeer, see above
		MinVersion:         tls.VersionTLS12,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return clientCertificate(s.opts.TLS, local)
		},
	}
	if direct {
		cfg.NextProtos = []string{"xmpp-server"} // XEP-0368 §4
	}
	return cfg
}

// dialable reports whether roost may connect to a server for domain. An
// IP literal (RFC 7622 §3.2 allows one as a domainpart) and localhost
// (RFC 6761 §6.3) name no server on the internet; a peer claiming them in
// dialback (or a local user writing to them) would otherwise make roost
// connect to addresses of its own choosing, this machine's included.
func dialable(domain string) bool {
	if strings.HasPrefix(domain, "[") {
		return false // an IPv6 literal
	}
	if _, err := netip.ParseAddr(domain); err == nil {
		return false
	}
	d := strings.ToLower(strings.TrimSuffix(domain, "."))
	return d != "localhost" && !strings.HasSuffix(d, ".localhost")
}

// connect resolves remote (SRV records, RFC 6120 §3.2 and XEP-0368) and
// connects to the first target that answers, within ConnectTimeout. Direct
// TLS targets are handshaken here, so that a failed handshake moves on to
// the next target.
func (s *Server) connect(ctx context.Context, remote, local string) (net.Conn, bool, *stanza.Error) {
	if !dialable(remote) {
		return nil, false, stanza.NewError(stanza.RemoteServerNotFound, remote+" is not a server on the internet")
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.ConnectTimeout)
	defer cancel()
	targets, err := s.opts.Resolver.LookupServer(ctx, remote)
	if err != nil {
		s.log.Debug("cannot resolve", "to", remote, "err", err)
		return nil, false, errNotFound(remote)
	}
	dialed, private := false, false
	for _, t := range targets {
		addrs, err := s.opts.Resolver.LookupHost(ctx, t.Host)
		if err != nil {
			s.log.Debug("cannot resolve", "to", remote, "host", t.Host, "err", err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		for _, a := range addrs {
			addr := netip.AddrPortFrom(a, t.Port).String()
			if !s.opts.AllowPrivateAddresses && !publicAddr(a) {
				s.log.Info("refusing to connect to an address that is not public", "to", remote, "addr", addr)
				private = true
				continue
			}
			dialed = true
			nc, err := s.opts.Dial(ctx, "tcp", addr)
			if err != nil {
				s.log.Debug("connect failed", "to", remote, "addr", addr, "err", err)
				if ctx.Err() != nil {
					return nil, false, errUnreachable(remote)
				}
				continue
			}
			if !t.DirectTLS {
				return nc, false, nil
			}
			tc := tls.Client(nc, s.clientTLS(local, remote, true))
			if err := tc.HandshakeContext(ctx); err != nil {
				s.log.Debug("direct TLS handshake failed", "to", remote, "addr", addr, "err", err)
				_ = nc.Close()
				if ctx.Err() != nil {
					return nil, false, errUnreachable(remote)
				}
				continue
			}
			return tc, true, nil
		}
	}
	switch {
	case dialed:
		return nil, false, errUnreachable(remote)
	case private:
		return nil, false, stanza.NewError(stanza.RemoteServerNotFound, remote+" has no address on the internet")
	}
	return nil, false, errNotFound(remote)
}

// errNotFound: DNS names no server for remote (RFC 6120 §8.3.3.16).
func errNotFound(remote string) *stanza.Error {
	return stanza.NewError(stanza.RemoteServerNotFound, "cannot find the server of "+remote)
}

// errUnreachable: remote's server was found but no stream came of it
// (RFC 6120 §8.3.3.17: resolved, but communications could not be
// established). A refused connection, an unreachable network, a connect
// that timed out and a failed handshake all answer this one condition
// with one text, and the details go to the log only: were they told
// apart, a peer naming a host of its choice (in dialback, or through a
// user) would learn from the answer which of its ports are open.
func errUnreachable(remote string) *stanza.Error {
	return stanza.NewError(stanza.RemoteServerTimeout, "cannot reach "+remote)
}

// publicAddr reports whether a is an address on the public internet,
// where a peer's server may be. Outbound streams refuse the others unless
// Options.AllowPrivateAddresses: a peer controls the DNS of the domains it
// claims in dialback, and would otherwise make roost connect into the
// network it runs in (the household's router, printer, other services of
// this machine). Refused: unspecified, loopback, private (RFC 1918, and
// RFC 4193 unique local fc00::/7), link-local, multicast, carrier-grade
// NAT (RFC 6598), "this network" 0.0.0.0/8 and the reserved 240.0.0.0/4
// (broadcast included); IPv4-mapped and NAT64 (RFC 6052 64:ff9b::/96)
// addresses are judged by the IPv4 address they carry.
func publicAddr(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	if nat64.Contains(a) {
		b := a.As16()
		a = netip.AddrFrom4([4]byte(b[12:]))
	}
	switch {
	case !a.IsValid(), a.IsUnspecified(), a.IsLoopback(), a.IsPrivate(),
		a.IsLinkLocalUnicast(), a.IsMulticast():
		return false
	}
	for _, p := range notPublic4 {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

var (
	nat64      = netip.MustParsePrefix("64:ff9b::/96")
	notPublic4 = []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),
		netip.MustParsePrefix("100.64.0.0/10"),
		netip.MustParsePrefix("240.0.0.0/4"),
	}
)
