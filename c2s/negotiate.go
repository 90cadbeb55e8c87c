package c2s

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strconv"
	"time"

	"roost/jid"
	"roost/netconn"
	"roost/sasl"
	"roost/stanza"
	"roost/stream"
	"roost/xmlstream"
)

// negotiation is a stream's way from accept to a bound resource (RFC 6120
// §5 to §7): TLS, SASL, binding, or the resumption of another session
// (sm.go). It belongs to the connection's goroutine and is dropped once
// the stream is bound: a bound session keeps none of it.
type negotiation struct {
	*session
	log       *slog.Logger // built when first needed: logger
	directTLS bool
	tcp       *tcpStream // the transport, over TCP; nil over WebSocket
	secure    bool       // TLS is up (over WebSocket: from the start)

	headerSent    bool
	authenticated bool
	failures      int
	// attempt is the account the current SASL exchange names, once its
	// credentials were looked up (and the attempt held back, holdBack).
	attempt string
	cb      sasl.ChannelBinding
	cbMask  int // bindingMask(cb), fixed at the TLS handshake
	// preAuth answers this stream's IQs before authentication; made at
	// the first one (PreAuthHandler).
	preAuth func(ctx context.Context, domain string, iq *xmlstream.Element) *xmlstream.Element

	// On a connection that resumes another session: the client's count
	// and the answer of the session it resumes, and, when it resumes
	// within SASL2, the success that session sends for it.
	resumeH uint32
	adopted chan bool
	sasl2   *success
}

// serve negotiates the stream, then runs the bound session on a fresh
// goroutine: the handshake grows this goroutine's stack deep (TLS, SASL),
// and an idle session should keep only the small stack of a blocked read.
// done is called once the connection is over.
func (c *session) serve(ctx context.Context, directTLS bool, done func()) {
	n := &negotiation{
		session:   c,
		directTLS: directTLS,
	}
	n.tcp, _ = c.t.(*tcpStream)
	if ws, ok := c.t.(*wsStream); ok {
		// RFC 7395 §3.9: TLS is the WebSocket's (wss://), never offered
		// in the stream; ws:// is served on loopback only.
		n.secure = true
		if ws.tls != nil {
			n.tlsUp(ws.tls)
			ws.tls = nil
		}
	}
	handedOff := false
	defer func() {
		if r := recover(); r != nil {
			n.logger().Error("panic serving connection", "panic", r, "stack", string(debug.Stack()))
		}
		if !handedOff {
			c.close()
			done()
		}
	}()
	n.debug("connected", "direct_tls", directTLS, "websocket", n.tcp == nil)
	_ = c.raw.SetDeadline(time.Now().Add(c.srv.opts.NegotiationTimeout))
	if c.phase.Stopped() != nil {
		// Evicted for a crowd (or shut down) before the line above, which
		// undid the interruption: interrupt again, and the first read
		// fails and sends the reason.
		c.rd.SetDeadline(time.Now())
	}
	if directTLS {
		if err := n.handshake(ctx); err != nil {
			n.debug("TLS handshake failed", "err", err)
			return
		}
	}
	if err := n.negotiate(ctx); err != nil {
		if errors.Is(err, errHandedOver) {
			// The connection belongs to the session it resumed now.
			handedOff = true
			done()
			return
		}
		n.fail(err)
		return
	}
	handedOff = true
	go func() {
		defer func() {
			if r := recover(); r != nil {
				c.logger().Error("panic serving session", "panic", r, "stack", string(debug.Stack()))
			}
			c.close()
			done()
		}()
		c.run(ctx)
	}()
}

// logger returns the negotiation's logger, with the connection's number
// and address. It is built the first time something is logged, so that a
// login that logs nothing (at the default level, none does) builds none.
func (n *negotiation) logger() *slog.Logger {
	if n.log == nil {
		n.log = n.srv.log.With("conn", n.id, "remote", n.raw.RemoteAddr().String())
	}
	return n.log
}

// debug logs at debug level, if that is on.
func (n *negotiation) debug(msg string, args ...any) {
	if n.srv.log.Enabled(context.Background(), slog.LevelDebug) {
		n.logger().Debug(msg, args...)
	}
}

// debugAttrs is debug with attributes.
func (n *negotiation) debugAttrs(ctx context.Context, msg string, attrs ...slog.Attr) {
	if n.srv.log.Enabled(ctx, slog.LevelDebug) {
		n.logger().LogAttrs(ctx, slog.LevelDebug, msg, attrs...)
	}
}

// negotiate runs the stream stages up to resource binding.
func (n *negotiation) negotiate(ctx context.Context) error {
	for {
		if err := n.openStream(); err != nil {
			return err
		}
		restart, err := n.stage(ctx)
		if err != nil {
			return err
		}
		if !restart {
			return nil
		}
	}
}

// openStream reads the client's stream header and answers with ours and
// the features of the current stage.
func (n *negotiation) openStream() error {
	h, serr, err := n.t.readHeader()
	if err != nil {
		return err
	}
	domain := ""
	if d, err := jid.Parse(h.To); err == nil && d.Local() == "" && d.Resource() == "" {
		// The configured string, not the header's: a session that kept a
		// piece of the header would keep all of it.
		domain = n.srv.domains[d.Domain()]
	}
	switch {
	case serr != nil:
	case domain == "":
		serr = &stream.Error{Condition: stream.HostUnknown, Text: "this server does not host " + strconv.Quote(h.To)}
	case n.domain != "" && domain != n.domain:
		serr = &stream.Error{Condition: stream.HostUnknown, Text: "the stream restarted for another domain"}
	}
	if domain == "" {
		domain = n.domain
	}
	if domain == "" && len(n.srv.opts.Domains) > 0 {
		domain = n.srv.opts.Domains[0]
	}
	n.domain = domain
	// The header and the features go out in one write: one TLS record,
	// one system call (over WebSocket, one write of two messages).
	bp := netconn.GetBuffer()
	defer netconn.PutBuffer(bp)
	b := n.t.appendHeader((*bp)[:0], stream.Header{From: domain, ID: stream.NewID(), Version: "1.0", Lang: "en"})
	if serr == nil {
		b = n.t.appendPrepared(b, n.features())
	}
	*bp = b
	if err := n.write(b); err != nil {
		return err
	}
	n.headerSent = true
	if serr != nil {
		return serr
	}
	return nil
}

// features returns the serialised features of the stream's stage.
func (n *negotiation) features() *prepared {
	fs := n.srv.features
	switch {
	case !n.secure:
		return fs.preTLS
	case !n.authenticated:
		return fs.preAuth[n.cbMask]
	default:
		return fs.postAuth
	}
}

// mechanisms are the SASL mechanisms offered on this stream, to SASL and
// SASL2 alike.
func (n *negotiation) mechanisms() []string { return n.srv.features.mechs[n.cbMask] }

// BoundFeatures returns the stream features offered to an authenticated
// client that has not bound a resource (RFC 6120 §4.3.2): binding, client
// state indication (XEP-0352), stream management (XEP-0198) and
// Options.Features. `roost check` reports them as clients see them. The
// element is the one every stream shares: read it, never change it.
func (s *Server) BoundFeatures() *xmlstream.Element { return s.features.postAuthEl }

// stage reads elements until the stream restarts (restart=true) or a
// resource is bound.
func (n *negotiation) stage(ctx context.Context) (restart bool, err error) {
	for {
		el, err := n.t.readElement()
		if err != nil {
			return false, err
		}
		switch {
		case !n.secure:
			if !el.Is(stream.NSTLS, "starttls") {
				return false, &stream.Error{Condition: stream.PolicyViolation, Text: "STARTTLS is required"}
			}
			return true, n.startTLS(ctx)
		case !n.authenticated:
			switch {
			case el.Is(stream.NSSASL, "auth"):
				ok, err := n.authenticate(ctx, el)
				if err != nil || ok {
					return ok, err
				}
			case el.Is(nsSASL2, "authenticate"):
				// No restart follows SASL2: the stage goes on, bound or
				// authenticated.
				bound, err := n.authenticate2(ctx, el)
				if err != nil || bound {
					return false, err
				}
			case el.Is(xmlstream.NSClient, "iq") && n.srv.opts.PreAuth != nil:
				if n.preAuth == nil {
					n.preAuth = n.srv.opts.PreAuth.PreAuthStream()
				}
				reply := n.preAuth(ctx, n.domain, el)
				if reply == nil {
					return false, &stream.Error{Condition: stream.NotAuthorized, Text: "authenticate first"}
				}
				if err := n.writeElement(reply); err != nil {
					return false, err
				}
			case el.Is(stream.NSTLS, "starttls"):
				return false, &stream.Error{Condition: stream.PolicyViolation, Text: "TLS is already established"}
			default:
				return false, &stream.Error{Condition: stream.NotAuthorized, Text: "authenticate first"}
			}
		default:
			if el.Is(nsSM, "resume") {
				resumed, err := n.tryResume(el)
				if err != nil {
					return false, err
				}
				if resumed {
					return false, errHandedOver
				}
				continue
			}
			if el.Is(nsSM, "enable") {
				// XEP-0198 §3: enabling needs a bound resource.
				if err := n.writeElement(smFailed("unexpected-request")); err != nil {
					return false, err
				}
				continue
			}
			if el.Is(xmlstream.NSClient, "iq") && el.Get("type") == stanza.TypeSet && el.Child(stream.NSBind, "bind") != nil {
				bound, err := n.bind(ctx, el)
				if err != nil || bound {
					return false, err
				}
				continue
			}
			return false, &stream.Error{Condition: stream.NotAuthorized, Text: "bind a resource first"}
		}
	}
}

// startTLS answers <starttls/> and runs the handshake (RFC 6120 §5.4).
func (n *negotiation) startTLS(ctx context.Context) error {
	if err := stream.BeforeTLS(n.tcp.dec); err != nil {
		return err
	}
	if n.srv.opts.TLS == nil {
		_ = n.writeElement(xmlstream.New(stream.NSTLS, "failure"))
		return errors.New("no TLS configuration")
	}
	if err := n.writeElement(xmlstream.New(stream.NSTLS, "proceed")); err != nil {
		return err
	}
	return n.handshake(ctx)
}

func (n *negotiation) handshake(ctx context.Context) error {
	tc, err := n.tcp.startTLS(ctx, n.srv.opts.TLS)
	if err != nil {
		return err
	}
	n.headerSent = false
	cs := tc.ConnectionState()
	n.tlsUp(&cs)
	return nil
}

// tlsUp records that the stream is encrypted, with the channel bindings
// of cs (RFC 9266, RFC 5929).
func (n *negotiation) tlsUp(cs *tls.ConnectionState) {
	n.secure = true
	n.cb = sasl.TLSBinding(cs, n.serverLeaf(cs.ServerName))
	n.cbMask = bindingMask(n.cb)
}

// serverLeaf finds the certificate the handshake presented, for the
// tls-server-end-point channel binding.
func (n *negotiation) serverLeaf(serverName string) *x509.Certificate {
	cfg := n.srv.opts.TLS
	var cert *tls.Certificate
	switch {
	case cfg.GetCertificate != nil:
		cert, _ = cfg.GetCertificate(&tls.ClientHelloInfo{ServerName: serverName})
	case len(cfg.Certificates) > 0:
		cert = &cfg.Certificates[0]
	}
	if cert == nil {
		return nil
	}
	if cert.Leaf != nil {
		return cert.Leaf
	}
	if len(cert.Certificate) > 0 {
		leaf, err := x509.ParseCertificate(cert.Certificate[0])
		if err == nil {
			return leaf
		}
	}
	return nil
}

// authenticate runs one SASL exchange (RFC 6120 §6.4). It returns true on
// success, false after a failure the client may retry, or an error that
// ends the stream.
func (n *negotiation) authenticate(ctx context.Context, auth *xmlstream.Element) (bool, error) {
	n.attempt = ""
	mech := auth.Get("mechanism")
	if !slices.Contains(n.mechanisms(), mech) {
		return false, n.saslFailure(sasl.InvalidMechanism, "")
	}
	srv, err := n.saslServer(mech, nil)
	if err != nil {
		return false, n.saslFailure(sasl.InvalidMechanism, "")
	}
	data, ok := decodeSASL(auth)
	if !ok {
		return false, n.saslFailure(sasl.IncorrectEncoding, "")
	}
	for {
		out, done, err := srv.Step(ctx, data)
		if err != nil {
			cond, text, counts := n.stepFailure(mech, err)
			if !counts {
				return false, n.sendFailure(cond, text)
			}
			return false, n.saslFailure(cond, text)
		}
		if done {
			bare, serr := n.authorized(srv)
			if serr != nil {
				return false, n.saslFailure(serr.Condition, serr.Text)
			}
			if err := n.authenticatedAs(bare, mech, false); err != nil {
				return false, err
			}
			if err := n.writeElement(xmlstream.New(stream.NSSASL, "success").AppendText(encodeSASL(out))); err != nil {
				return false, err
			}
			n.t.restart()
			n.headerSent = false
			return true, nil
		}
		if err := n.writeElement(xmlstream.New(stream.NSSASL, "challenge").AppendText(encodeSASL(out))); err != nil {
			return false, err
		}
		el, err := n.t.readElement()
		if err != nil {
			return false, err
		}
		switch {
		case el.Is(stream.NSSASL, "abort"):
			return false, n.saslFailure(sasl.Aborted, "")
		case !el.Is(stream.NSSASL, "response"):
			return false, n.saslFailure(sasl.MalformedRequest, "expected a SASL response")
		}
		if data, ok = decodeSASL(el); !ok {
			return false, n.saslFailure(sasl.IncorrectEncoding, "")
		}
	}
}

// saslServer starts the server side of mech, for SASL and SASL2 alike;
// tokens verifies the hashed tokens of FAST (nil for the password
// mechanisms).
func (n *negotiation) saslServer(mech string, tokens sasl.TokenLookup) (*sasl.Server, error) {
	return sasl.NewServer(mech, sasl.ServerOptions{
		Lookup:               n.lookup,
		Binding:              n.cb,
		PlusOffered:          n.cb.Available(),
		StrictChannelBinding: n.srv.opts.StrictChannelBinding,
		Secret:               n.srv.opts.SASLSecret,
		Iterations:           sasl.DefaultIterations,
		Downgrade:            n.srv.features.downgrade[n.cbMask],
		Tokens:               tokens,
	})
}

// stepFailure turns a failed SASL step into the condition and text to
// send, and whether the failure counts against MaxAuthFailures.
func (n *negotiation) stepFailure(mech string, err error) (cond sasl.Condition, text string, counts bool) {
	cond = sasl.TemporaryAuthFailure
	var se *sasl.Error
	if errors.As(err, &se) {
		cond, text = se.Condition, se.Text
	}
	if errors.Is(err, sasl.ErrChannelBinding) {
		// A client trying a binding type we lack (tls-unique on
		// TLS 1.3) tested no password: it does not count.
		n.debug("channel binding type not supported", "mechanism", mech)
		return cond, text, false
	}
	n.logger().Info("authentication failed", "mechanism", mech, "condition", string(cond), "err", err)
	return cond, text, true
}

// authorized returns the account a finished exchange authenticated, or
// the failure to report: a client may only act as itself (RFC 6120
// §6.4.6).
func (n *negotiation) authorized(srv *sasl.Server) (jid.JID, *sasl.Error) {
	bare, err := jid.New(srv.Username(), n.domain, "")
	if err != nil {
		return jid.JID{}, &sasl.Error{Condition: sasl.NotAuthorized}
	}
	if az := srv.Authzid(); az != "" {
		if a, err := jid.Parse(az); err != nil || !a.Equal(bare) {
			return jid.JID{}, &sasl.Error{Condition: sasl.InvalidAuthzid, Text: "you may only act as yourself"}
		}
	}
	return bare, nil
}

// authenticatedAs records a successful authentication by mech, with SASL2
// (XEP-0388) or SASL (RFC 6120 §6), before the client is told. From then
// on the connection is never evicted for a crowd from its address; if it
// was evicted already, it returns the eviction's stream error instead.
func (n *negotiation) authenticatedAs(bare jid.JID, mech string, sasl2 bool) error {
	if !n.srv.conns.Authenticated(n.session) {
		return errCrowded
	}
	n.bare, n.authenticated = bare, true
	n.srv.opts.Metrics.LoginsOK.Add(1)
	if b := n.srv.opts.Backoff; b != nil {
		b.Succeeded(bare.String(), netconn.AddrKey(n.raw.RemoteAddr()))
	}
	n.cb = sasl.ChannelBinding{} // needed no more
	n.debug("authenticated", "user", bare.String(), "mechanism", mech, "sasl2", sasl2)
	return nil
}

// saslFailure counts a failure, sends <failure/>, and returns a stream
// error once the client has failed too often (RFC 6120 §6.4.5). It counts
// first, so that the metrics have it once the client knows.
func (n *negotiation) saslFailure(cond sasl.Condition, text string) error {
	tooMany := n.countFailure(cond)
	if err := n.sendFailure(cond, text); err != nil {
		return err
	}
	return tooMany
}

// countFailure counts a failed authentication, for the client's tries and
// the server's metrics by cond, and returns a stream error once the client
// has failed too often (RFC 6120 §6.4.5).
func (n *negotiation) countFailure(cond sasl.Condition) error {
	n.failures++
	if b := n.srv.opts.Backoff; b != nil {
		b.Failed(n.attempt, netconn.AddrKey(n.raw.RemoteAddr()))
	}
	if cond == sasl.NotAuthorized {
		n.srv.opts.Metrics.LoginsBadCredentials.Add(1)
	} else {
		n.srv.opts.Metrics.LoginsFailedOther.Add(1)
	}
	if n.failures >= n.srv.opts.MaxAuthFailures {
		return &stream.Error{Condition: stream.PolicyViolation, Text: "too many failed authentication attempts"}
	}
	return nil
}

func (n *negotiation) sendFailure(cond sasl.Condition, text string) error {
	f := xmlstream.New(stream.NSSASL, "failure").Append(xmlstream.New(stream.NSSASL, string(cond)))
	if text != "" {
		f.Append(xmlstream.New(stream.NSSASL, "text").SetAttrNS(xmlstream.NSXML, "lang", "en").AppendText(text))
	}
	return n.writeElement(f)
}

func (n *negotiation) lookup(ctx context.Context, username string, h sasl.Hash) (sasl.Credentials, bool, error) {
	bare, err := jid.New(username, n.domain, "")
	if err != nil || n.srv.creds == nil {
		return sasl.Credentials{}, false, nil
	}
	if err := n.holdBack(ctx, bare); err != nil {
		return sasl.Credentials{}, false, err
	}
	return n.srv.creds.SCRAMCredentials(ctx, bare, h)
}

// holdBack waits, once per SASL exchange, as long as Options.Backoff asks
// before the credentials for bare are checked: for SCRAM before the
// server-first-message, for PLAIN and the FAST tokens before the answer.
// Success and failure are held back alike, so that a guesser cannot take
// a quick answer for a right guess.
func (n *negotiation) holdBack(ctx context.Context, bare jid.JID) error {
	if n.attempt != "" {
		return nil // PLAIN looks up both hashes
	}
	n.attempt = bare.String()
	b := n.srv.opts.Backoff
	if b == nil {
		return nil
	}
	d := b.Delay(n.attempt, netconn.AddrKey(n.raw.RemoteAddr()))
	if d <= 0 {
		return nil
	}
	n.srv.opts.Metrics.LoginsDelayed.Add(1)
	n.debug("login held back", "user", n.attempt, "seconds", d.Seconds())
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("hold back login: %w", ctx.Err())
	}
}

// decodeSASL decodes the base64 payload of an auth or response element:
// "=" is an empty response, no text at all is no initial response.
func decodeSASL(el *xmlstream.Element) ([]byte, bool) {
	t := el.Text()
	switch t {
	case "":
		return nil, true
	case "=":
		return []byte{}, true
	}
	b, err := base64.StdEncoding.Strict().DecodeString(t)
	return b, err == nil
}

func encodeSASL(b []byte) string {
	if len(b) == 0 {
		return "="
	}
	return base64.StdEncoding.EncodeToString(b)
}

// bind handles the resource binding request (RFC 6120 §7).
func (n *negotiation) bind(ctx context.Context, iq *xmlstream.Element) (bool, error) {
	id := iq.Get("id")
	reply := func(e *stanza.Error) error {
		st := stanza.Stanza{Kind: stanza.IQ, ID: id, Type: stanza.TypeSet, El: iq}
		return n.writeElement(stanza.ErrorReply(&st, e))
	}
	res := iq.Child(stream.NSBind, "bind").ChildText(stream.NSBind, "resource")
	if res == "" {
		res = newResource()
	}
	full, err := n.bare.WithResource(res)
	if err != nil {
		return false, reply(&stanza.Error{Type: stanza.Modify, Condition: stanza.BadRequest, Text: "invalid resource"})
	}
	n.full = full
	if err := n.srv.router.Bind(ctx, full, n.session); err != nil {
		var se *stanza.Error
		if !errors.As(err, &se) {
			n.logger().Error("binding resource", "err", err)
			se = stanza.NewError(stanza.InternalServerError, "")
		}
		return false, reply(se)
	}
	result := xmlstream.New(xmlstream.NSClient, "iq").SetAttr("type", stanza.TypeResult).SetAttr("id", id).Append(
		xmlstream.New(stream.NSBind, "bind").Append(xmlstream.New(stream.NSBind, "jid").AppendText(full.String())))
	// The router may already deliver to us: make sure the result goes
	// first.
	n.mu.Lock()
	n.q.items = append([]*xmlstream.Element{result}, n.q.items...)
	n.q.bytes += result.Footprint()
	n.mu.Unlock()
	return true, nil
}

func newResource() string {
	var b [9]byte
	_, _ = rand.Read(b[:])
	return "roost-" + base64.RawURLEncoding.EncodeToString(b[:])
}

// writeElement writes one element during negotiation, before the writer
// goroutine exists.
func (n *negotiation) writeElement(el *xmlstream.Element) error {
	bp := netconn.GetBuffer()
	defer netconn.PutBuffer(bp)
	*bp = n.t.appendElement((*bp)[:0], el)
	return n.write(*bp)
}

// fail ends a stream that could not be negotiated, sending the stream
// error err maps to, if any (RFC 6120 §4.9); the connection closes after.
func (n *negotiation) fail(err error) {
	se, send := stream.NegotiationFailure(err, n.phase.Stopped())
	if !send {
		n.debug("stream ended during negotiation", "err", err)
		return
	}
	if se != nil {
		n.logger().Info("stream error", "condition", string(se.Condition), "text", se.Text)
	}
	bp := netconn.GetBuffer()
	defer netconn.PutBuffer(bp)
	b := (*bp)[:0]
	if !n.headerSent {
		b = n.t.appendHeader(b, stream.Header{From: n.domain, ID: stream.NewID(), Version: "1.0", Lang: "en"})
	}
	*bp = n.t.appendEnd(b, se)
	_ = n.write(*bp)
}
