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
	"net"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"roost/jid"
	"roost/sasl"
	"roost/stanza"
	"roost/stream"
	"roost/xmlstream"
)

// lingerTime is how long a closed stream waits for the peer's closing tag
// (RFC 6120 §4.4) before the connection is dropped.
const lingerTime = 2 * time.Second

// conn is one client connection, from accept to close. Fields below mu are
// shared with the router's goroutines; the rest belong to the connection's
// own goroutine until the writer starts.
type conn struct {
	srv       *Server
	id        uint64
	raw       net.Conn // the accepted connection
	nc        net.Conn // the transport: raw, or TLS once negotiated
	tc        *tls.Conn
	directTLS bool
	negLog    *slog.Logger // until bound; see logger
	rd        *reader
	dec       *xmlstream.Decoder

	domain        string
	headerSent    bool
	authenticated bool
	failures      int
	cb            sasl.ChannelBinding
	bare, full    jid.JID
	pingID        string
	smIn          bool   // stream management enabled: the reader counts
	handled       uint32 // stanzas handled from the client (XEP-0198)

	mu        sync.Mutex
	items     []*xmlstream.Element // queued for the client; nil when empty
	keepalive bool                 // the sweep asks for a whitespace keepalive
	inactive  bool                 // the client said it is inactive (XEP-0352)
	held      []*xmlstream.Element // held back from an inactive client; see csi.go
	smOut     bool                 // stream management: the writer counts (sm.go)
	unacked   []*xmlstream.Element // written, not yet acknowledged
	acked     uint32               // the client's last count
	requested bool                 // an <r/> awaits its <a/>
	broken    bool                 // the connection failed: no writer may start
	// Resumption (XEP-0198 §5, sm.go): smID names a resumable session;
	// while hibernating it waits for a connection that resumes it
	// (pending) or for wake (closed, timed out).
	smID        string
	hibernating bool
	resumeOver  bool  // no resumption may take this session any more
	pending     *conn // the connection resuming this session
	wake        chan struct{}
	// On a connection that resumes another session: the client's count
	// and the answer of the session it resumes.
	resumeH    uint32
	adopted    chan bool
	closing    bool
	closed     bool  // the closing tag is written: nothing more will be
	reason     error // stream error to send when closing
	running    bool  // the session runs: writes belong to the writer
	writing    bool  // a writer goroutine is running
	shutdownBy error // set by Server.Shutdown during negotiation
	writers    sync.WaitGroup
	lastWrite  atomic.Int64 // unix nanoseconds of the last write
	wmoved     int64        // when the writer last moved the write deadline
}

func (s *Server) newConn(nc net.Conn, directTLS bool) *conn {
	c := &conn{
		srv:       s,
		raw:       nc,
		nc:        nc,
		directTLS: directTLS,
	}
	c.id = s.nextID.Add(1)
	c.negLog = s.log.With("conn", c.id, "remote", nc.RemoteAddr().String())
	c.rd = &reader{nc: nc, rate: s.opts.ReadRate, burst: s.opts.ReadBurst}
	c.dec = xmlstream.NewDecoder(c.rd, s.opts.Limits)
	return c
}

// serve negotiates the stream, then hands the bound session to a fresh
// goroutine: the handshake grows this goroutine's stack deep (TLS, SASL),
// and an idle session should keep only the small stack of a blocked read.
// done is called once the connection is over.
func (c *conn) serve(ctx context.Context, done func()) {
	handedOff := false
	defer func() {
		if r := recover(); r != nil {
			c.logger().Error("panic serving connection", "panic", r, "stack", string(debug.Stack()))
		}
		if !handedOff {
			c.close()
			done()
		}
	}()
	c.logger().Debug("connected", "direct_tls", c.directTLS)
	_ = c.nc.SetDeadline(time.Now().Add(c.srv.opts.NegotiationTimeout))
	if c.directTLS {
		if err := c.handshake(ctx); err != nil {
			c.logger().Debug("TLS handshake failed", "err", err)
			return
		}
	}
	if err := c.negotiate(ctx); err != nil {
		if errors.Is(err, errHandedOver) {
			// The connection belongs to the session it resumed now.
			handedOff = true
			done()
			return
		}
		c.fail(err)
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

// logger returns the connection's logger. A bound session builds it when
// it logs, which is a few times in its life, rather than keeping one: a
// kept logger would cost every idle session its own copy of the
// attributes.
func (c *conn) logger() *slog.Logger {
	if c.negLog != nil {
		return c.negLog
	}
	return c.srv.log.With("conn", c.id, "jid", c.full.String())
}

// close drops the connection. The closing stream tag has ended the
// stream; a TLS close_notify would add nothing but a write that can block
// for seconds on a peer that does not read.
func (c *conn) close() { _ = c.raw.Close() }

// negotiate runs the stream stages up to resource binding.
func (c *conn) negotiate(ctx context.Context) error {
	for {
		if err := c.openStream(); err != nil {
			return err
		}
		restart, err := c.stage(ctx)
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
func (c *conn) openStream() error {
	hdr, err := c.dec.ReadHeader()
	if err != nil {
		return err
	}
	h, serr := stream.ParseHeader(hdr, c.dec.ContentNamespace(), xmlstream.NSClient)
	domain := ""
	if d, err := jid.Parse(h.To); err == nil && d.Local() == "" && d.Resource() == "" {
		// The configured string, not the header's: a session that kept a
		// piece of the header would keep all of it.
		domain = c.srv.domains[d.Domain()]
	}
	switch {
	case serr != nil:
	case domain == "":
		serr = &stream.Error{Condition: stream.HostUnknown, Text: "this server does not host " + strconv.Quote(h.To)}
	case c.domain != "" && domain != c.domain:
		serr = &stream.Error{Condition: stream.HostUnknown, Text: "the stream restarted for another domain"}
	}
	if domain == "" {
		domain = c.domain
	}
	if domain == "" && len(c.srv.opts.Domains) > 0 {
		domain = c.srv.opts.Domains[0]
	}
	c.domain = domain
	if err := c.writeRaw(stream.AppendHeader(nil, stream.Header{
		From: domain, ID: stream.NewID(), Version: "1.0", Lang: "en", ContentNS: xmlstream.NSClient,
	})); err != nil {
		return err
	}
	c.headerSent = true
	if serr != nil {
		return serr
	}
	return c.writeElement(c.features())
}

func (c *conn) features() *xmlstream.Element {
	switch {
	case c.tc == nil:
		return stream.Features(xmlstream.New(stream.NSTLS, "starttls").Append(xmlstream.New(stream.NSTLS, "required")))
	case !c.authenticated:
		mechs := xmlstream.New(stream.NSSASL, "mechanisms")
		for _, m := range c.mechanisms() {
			mechs.Append(xmlstream.New(stream.NSSASL, "mechanism").AppendText(m))
		}
		f := stream.Features(mechs)
		if types := c.cb.Types(); len(types) > 0 {
			// XEP-0440: say which channel-binding types we support.
			cb := xmlstream.New(nsSASLCB, "sasl-channel-binding")
			for _, t := range types {
				cb.Append(xmlstream.New(nsSASLCB, "channel-binding").SetAttr("type", t))
			}
			f.Append(cb)
		}
		return f.Append(c.srv.opts.PreAuthFeatures...)
	default:
		return stream.Features(
			xmlstream.New(stream.NSBind, "bind"),
			xmlstream.New(stream.NSSession, "session").Append(xmlstream.New(stream.NSSession, "optional")),
			xmlstream.New(nsCSI, "csi"),
			xmlstream.New(nsSM, "sm"),
		).Append(c.srv.opts.Features...)
	}
}

const nsSASLCB = "urn:xmpp:sasl-cb:0"

func (c *conn) mechanisms() []string {
	return sasl.Mechanisms(c.cb, c.srv.opts.AllowPlain)
}

// stage reads elements until the stream restarts (restart=true) or a
// resource is bound.
func (c *conn) stage(ctx context.Context) (restart bool, err error) {
	for {
		el, err := c.dec.ReadElement()
		if err != nil {
			return false, err
		}
		switch {
		case c.tc == nil:
			if !el.Is(stream.NSTLS, "starttls") {
				return false, &stream.Error{Condition: stream.PolicyViolation, Text: "STARTTLS is required"}
			}
			return true, c.startTLS(ctx)
		case !c.authenticated:
			switch {
			case el.Is(stream.NSSASL, "auth"):
				ok, err := c.authenticate(ctx, el)
				if err != nil || ok {
					return ok, err
				}
			case el.Is(xmlstream.NSClient, "iq") && c.srv.opts.PreAuth != nil:
				reply := c.srv.opts.PreAuth.HandlePreAuth(ctx, c.domain, el)
				if reply == nil {
					return false, &stream.Error{Condition: stream.NotAuthorized, Text: "authenticate first"}
				}
				if err := c.writeElement(reply); err != nil {
					return false, err
				}
			case el.Is(stream.NSTLS, "starttls"):
				return false, &stream.Error{Condition: stream.PolicyViolation, Text: "TLS is already established"}
			default:
				return false, &stream.Error{Condition: stream.NotAuthorized, Text: "authenticate first"}
			}
		default:
			if el.Is(nsSM, "resume") {
				resumed, err := c.tryResume(el)
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
				if err := c.writeElement(smFailed("unexpected-request")); err != nil {
					return false, err
				}
				continue
			}
			if el.Is(xmlstream.NSClient, "iq") && el.Get("type") == stanza.TypeSet && el.Child(stream.NSBind, "bind") != nil {
				bound, err := c.bind(ctx, el)
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
func (c *conn) startTLS(ctx context.Context) error {
	if c.dec.Buffered() > 0 {
		// Data pipelined after <starttls/> would be read as if it had come
		// over TLS: refuse it.
		return &stream.Error{Condition: stream.PolicyViolation, Text: "data sent before the TLS handshake"}
	}
	if c.srv.opts.TLS == nil {
		_ = c.writeElement(xmlstream.New(stream.NSTLS, "failure"))
		return errors.New("no TLS configuration")
	}
	if err := c.writeElement(xmlstream.New(stream.NSTLS, "proceed")); err != nil {
		return err
	}
	return c.handshake(ctx)
}

func (c *conn) handshake(ctx context.Context) error {
	tc, ok := c.nc.(*tls.Conn)
	if !ok {
		tc = tls.Server(c.nc, c.srv.opts.TLS)
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("tls handshake: %w", err)
	}
	c.tc, c.nc = tc, tc
	c.rd.nc = tc
	c.dec.Reset(c.rd)
	c.headerSent = false
	cs := tc.ConnectionState()
	c.cb = sasl.TLSBinding(&cs, c.serverLeaf(cs.ServerName))
	return nil
}

// serverLeaf finds the certificate the handshake presented, for the
// tls-server-end-point channel binding.
func (c *conn) serverLeaf(serverName string) *x509.Certificate {
	cfg := c.srv.opts.TLS
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
func (c *conn) authenticate(ctx context.Context, auth *xmlstream.Element) (bool, error) {
	mech := auth.Get("mechanism")
	if !slices.Contains(c.mechanisms(), mech) {
		return false, c.saslFailure(sasl.InvalidMechanism, "")
	}
	srv, err := sasl.NewServer(mech, sasl.ServerOptions{
		Lookup:               c.lookup,
		Binding:              c.cb,
		PlusOffered:          c.cb.Available(),
		StrictChannelBinding: c.srv.opts.StrictChannelBinding,
		Secret:               c.srv.opts.SASLSecret,
		Iterations:           sasl.DefaultIterations,
	})
	if err != nil {
		return false, c.saslFailure(sasl.InvalidMechanism, "")
	}
	data, ok := decodeSASL(auth)
	if !ok {
		return false, c.saslFailure(sasl.IncorrectEncoding, "")
	}
	for {
		out, done, err := srv.Step(ctx, data)
		if err != nil {
			cond, text := sasl.TemporaryAuthFailure, ""
			var se *sasl.Error
			if errors.As(err, &se) {
				cond, text = se.Condition, se.Text
			}
			if errors.Is(err, sasl.ErrChannelBinding) {
				// A client trying a binding type we lack (tls-unique on
				// TLS 1.3) tested no password: it does not count.
				c.logger().Debug("channel binding type not supported", "mechanism", mech)
				return false, c.sendFailure(cond, text)
			}
			c.logger().Info("authentication failed", "mechanism", mech, "condition", string(cond), "err", err)
			return false, c.saslFailure(cond, text)
		}
		if done {
			bare, err := jid.New(srv.Username(), c.domain, "")
			if err != nil {
				return false, c.saslFailure(sasl.NotAuthorized, "")
			}
			if az := srv.Authzid(); az != "" {
				if a, err := jid.Parse(az); err != nil || !a.Equal(bare) {
					return false, c.saslFailure(sasl.InvalidAuthzid, "you may only act as yourself")
				}
			}
			if err := c.writeElement(xmlstream.New(stream.NSSASL, "success").AppendText(encodeSASL(out))); err != nil {
				return false, err
			}
			c.bare, c.authenticated = bare, true
			c.cb = sasl.ChannelBinding{} // needed no more
			c.logger().Debug("authenticated", "user", bare.String(), "mechanism", mech)
			c.dec.Restart()
			c.headerSent = false
			return true, nil
		}
		if err := c.writeElement(xmlstream.New(stream.NSSASL, "challenge").AppendText(encodeSASL(out))); err != nil {
			return false, err
		}
		el, err := c.dec.ReadElement()
		if err != nil {
			return false, err
		}
		switch {
		case el.Is(stream.NSSASL, "abort"):
			return false, c.saslFailure(sasl.Aborted, "")
		case !el.Is(stream.NSSASL, "response"):
			return false, c.saslFailure(sasl.MalformedRequest, "expected a SASL response")
		}
		if data, ok = decodeSASL(el); !ok {
			return false, c.saslFailure(sasl.IncorrectEncoding, "")
		}
	}
}

// saslFailure sends <failure/>, counts it, and returns a stream error once
// the client has failed too often (RFC 6120 §6.4.5).
func (c *conn) saslFailure(cond sasl.Condition, text string) error {
	if err := c.sendFailure(cond, text); err != nil {
		return err
	}
	c.failures++
	if c.failures >= c.srv.opts.MaxAuthFailures {
		return &stream.Error{Condition: stream.PolicyViolation, Text: "too many failed authentication attempts"}
	}
	return nil
}

func (c *conn) sendFailure(cond sasl.Condition, text string) error {
	f := xmlstream.New(stream.NSSASL, "failure").Append(xmlstream.New(stream.NSSASL, string(cond)))
	if text != "" {
		f.Append(xmlstream.New(stream.NSSASL, "text").SetAttrNS(xmlstream.NSXML, "lang", "en").AppendText(text))
	}
	return c.writeElement(f)
}

func (c *conn) lookup(ctx context.Context, username string, h sasl.Hash) (sasl.Credentials, bool, error) {
	bare, err := jid.New(username, c.domain, "")
	if err != nil || c.srv.creds == nil {
		return sasl.Credentials{}, false, nil
	}
	return c.srv.creds.SCRAMCredentials(ctx, bare, h)
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
func (c *conn) bind(ctx context.Context, iq *xmlstream.Element) (bool, error) {
	id := iq.Get("id")
	reply := func(e *stanza.Error) error {
		st := stanza.Stanza{Kind: stanza.IQ, ID: id, Type: stanza.TypeSet, El: iq}
		return c.writeElement(stanza.ErrorReply(&st, e))
	}
	res := iq.Child(stream.NSBind, "bind").ChildText(stream.NSBind, "resource")
	if res == "" {
		res = newResource()
	}
	full, err := c.bare.WithResource(res)
	if err != nil {
		return false, reply(&stanza.Error{Type: stanza.Modify, Condition: stanza.BadRequest, Text: "invalid resource"})
	}
	c.full = full
	if err := c.srv.router.Bind(ctx, full, c); err != nil {
		var se *stanza.Error
		if !errors.As(err, &se) {
			c.logger().Error("binding resource", "err", err)
			se = stanza.NewError(stanza.InternalServerError, "")
		}
		return false, reply(se)
	}
	result := xmlstream.New(xmlstream.NSClient, "iq").SetAttr("type", stanza.TypeResult).SetAttr("id", id).Append(
		xmlstream.New(stream.NSBind, "bind").Append(xmlstream.New(stream.NSBind, "jid").AppendText(full.String())))
	// The router may already deliver to us: make sure the result goes
	// first.
	c.mu.Lock()
	c.items = append([]*xmlstream.Element{result}, c.items...)
	c.mu.Unlock()
	c.negLog = nil // from here on, see logger
	return true, nil
}

func newResource() string {
	var b [9]byte
	_, _ = rand.Read(b[:])
	return "roost-" + base64.RawURLEncoding.EncodeToString(b[:])
}

// writeElement writes one element during negotiation, before the writer
// goroutine exists.
func (c *conn) writeElement(el *xmlstream.Element) error {
	bp := getBuf()
	defer putBuf(bp)
	*bp = xmlstream.AppendElement((*bp)[:0], el, xmlstream.NSClient)
	return c.writeRaw(*bp)
}

func (c *conn) writeRaw(b []byte) error {
	_, err := c.nc.Write(b)
	return err
}

// fail ends a stream that could not be negotiated, sending the stream
// error err maps to, if any.
func (c *conn) fail(err error) {
	c.mu.Lock()
	by := c.shutdownBy
	c.mu.Unlock()
	se := stream.FromDecodeError(err)
	switch {
	case by != nil && se == nil:
		errors.As(by, &se)
	case se == nil && isTimeout(err):
		se = &stream.Error{Condition: stream.ConnectionTimeout, Text: "stream negotiation took too long"}
	}
	if se == nil && !errors.Is(err, xmlstream.ErrStreamEnd) {
		c.logger().Debug("stream ended during negotiation", "err", err)
		return
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.srv.opts.WriteTimeout))
	var b []byte
	if !c.headerSent {
		b = stream.AppendHeader(b, stream.Header{From: c.domain, ID: stream.NewID(), Version: "1.0", Lang: "en", ContentNS: xmlstream.NSClient})
	}
	if se != nil {
		c.logger().Info("stream error", "condition", string(se.Condition), "text", se.Text)
		b = xmlstream.AppendElement(b, se.Element(), xmlstream.NSClient)
	}
	b = append(b, stream.Close...)
	_ = c.writeRaw(b)
	c.linger()
}

// linger waits briefly for the peer to close its side (RFC 6120 §4.4).
func (c *conn) linger() {
	_ = c.nc.SetReadDeadline(time.Now().Add(lingerTime))
	var buf [256]byte
	for {
		if _, err := c.nc.Read(buf[:]); err != nil {
			return
		}
	}
}

// shutdown ends the stream for a server shutdown.
func (c *conn) shutdown(reason error) {
	c.mu.Lock()
	running := c.running
	if !running {
		c.shutdownBy = reason
	}
	c.mu.Unlock()
	if running {
		c.Close(reason)
		return
	}
	// Negotiating: interrupt the blocked read; fail() sends the error.
	_ = c.nc.SetReadDeadline(time.Now())
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
