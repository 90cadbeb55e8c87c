package loadtool

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"roost/internal/client"
	"roost/jid"
	"roost/sasl"
	"roost/stanza"
	"roost/stream"
	"roost/xmlstream"
)

// Namespaces the tool uses beyond those of package stream.
const (
	nsRegister     = "jabber:iq:register"                    // XEP-0077
	nsPing         = "urn:xmpp:ping"                         // XEP-0199
	nsChatStates   = "http://jabber.org/protocol/chatstates" // XEP-0085
	defaultTimeout = 30 * time.Second
	// closeWait bounds how long a closing session waits for the server's
	// closing tag (RFC 6120 §4.4) before it drops the connection.
	closeWait = 2 * time.Second
)

// Errors of the c2s client the sessions are built on (internal/client).
// A server whose SASL messages make no sense gets an error wrapping
// package sasl's ErrServerMessage or ErrServerSignature.
var (
	ErrAuth       = client.ErrAuth       // the server refused the credentials
	ErrNoTLS      = client.ErrNoTLS      // no STARTTLS offered, or refused
	ErrUnexpected = client.ErrUnexpected // something out of place
)

// Target is one server under load.
type Target struct {
	// Name labels the server in reports ("roost", "prosody", ...).
	Name string
	// Addr is the client port, host:port.
	Addr string
	// Domain is the XMPP domain the server hosts.
	Domain string
	// DirectTLS connects with TLS from the first byte (XEP-0368) instead
	// of STARTTLS.
	DirectTLS bool
	// WebSocket, if set, is the path of the server's XMPP over WebSocket
	// endpoint (RFC 7395), such as "/xmpp-websocket": sessions connect to
	// wss://Addr/WebSocket instead, Addr being the HTTPS port.
	WebSocket string
	// TLS is the client's TLS configuration; its ServerName should be
	// Domain. Nil accepts any certificate.
	TLS *tls.Config
	// PID is the server process whose CPU time and memory are measured;
	// 0 measures nothing.
	PID int
}

func (t Target) tlsConfig() *tls.Config {
	if t.TLS != nil {
		return t.TLS
	}
	// A load tool measures speed, not trust: without a configured CA it
	// talks to whatever certificate the server on loopback presents.
	return &tls.Config{ServerName: t.Domain, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12, CurvePreferences: ClientCurves()} //nolint:gosec // see above
}

// Dialer opens client sessions. It is safe for concurrent use; it caches
// the SCRAM keys derived from each password and salt.
type Dialer struct {
	// Mechanism is the SASL mechanism (MechSCRAMSHA1 when empty: the one
	// every server offers).
	Mechanism string
	// Timeout bounds each negotiation (30s when zero).
	Timeout time.Duration

	keys   sasl.KeyCache
	tokens sync.Map // user → FAST token (XEP-0484)
}

// LoginOptions say how far a login goes.
type LoginOptions struct {
	// Resource is requested at bind; empty lets the server choose.
	Resource string
	// Presence sends initial presence after binding (RFC 6121 §4.2), which
	// makes the session available for messages to the bare JID.
	Presence bool
	// SASL2 logs in with SASL2 (XEP-0388) and binds in the same request
	// with Bind 2 (XEP-0386), as current clients do; Resource is then the
	// server's to choose.
	SASL2 bool
	// FAST logs in with SASL2 and Bind 2 and a FAST token (XEP-0484,
	// HT-SHA-256-EXPR): one round trip instead of the SCRAM exchange. The
	// first login of an account asks for the token with SCRAM; the Dialer
	// keeps it for the next ones.
	FAST bool
	// TLSOnly connects with TLS from the first byte and does nothing but
	// the handshake, then closes: what a login costs a server at the
	// least. It is the login load of the floor (the relay).
	TLSOnly bool
}

// FASTMechanism is the hashed-token mechanism the tool logs in with: bound
// to the TLS connection (tls-exporter), as a client on TLS 1.3 should.
const FASTMechanism = sasl.HTSHA256Expr

// Session is an established client stream: an internal/client connection
// with what the loads need on top (TLS figures, ping answers, polite
// closing).
type Session struct {
	raw net.Conn // TCP under the TLS of c; over WebSocket, the TLS connection
	c   *client.Conn
	// JID is the full JID the server bound.
	JID string
	// TLSVersion, CipherSuite and Curve describe the negotiated TLS
	// connection.
	TLSVersion, CipherSuite uint16
	Curve                   tls.CurveID
}

func (d *Dialer) timeout() time.Duration {
	if d.Timeout > 0 {
		return d.Timeout
	}
	return defaultTimeout
}

func (d *Dialer) mechanism() string {
	if d.Mechanism != "" {
		return d.Mechanism
	}
	return MechSCRAMSHA1
}

// connect opens a stream and secures it with TLS; the session's client
// connection then holds the features offered over TLS. The connection's
// deadline is the context's, or Timeout from now.
func (d *Dialer) connect(ctx context.Context, t Target) (*Session, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout())
	defer cancel()
	domain, err := jid.New("", t.Domain, "")
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", t.Name, err)
	}
	if t.WebSocket != "" {
		c, err := client.OpenWebSocket(ctx, "wss://"+t.Addr+t.WebSocket, client.Options{JID: domain, TLS: t.tlsConfig(), Lang: "en"}, client.WebSocketOptions{})
		if err != nil {
			return nil, err
		}
		dl, _ := ctx.Deadline()
		_ = c.NetConn().SetDeadline(dl)
		cs := c.ConnectionState()
		return &Session{raw: c.NetConn(), c: c, TLSVersion: cs.Version, CipherSuite: cs.CipherSuite, Curve: cs.CurveID}, nil
	}
	var nd net.Dialer
	raw, err := nd.DialContext(ctx, "tcp", t.Addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", t.Addr, err)
	}
	dl, _ := ctx.Deadline()
	_ = raw.SetDeadline(dl)
	c, err := client.Secure(ctx, raw, client.Options{
		JID: domain, TLS: t.tlsConfig(), DirectTLS: t.DirectTLS, Lang: "en",
	})
	if err != nil {
		_ = raw.Close()
		return nil, err
	}
	cs := c.ConnectionState()
	return &Session{raw: raw, c: c, TLSVersion: cs.Version, CipherSuite: cs.CipherSuite, Curve: cs.CurveID}, nil
}

// Handshake connects to t with TLS from the first byte, completes the
// handshake and closes the connection.
func (d *Dialer) Handshake(ctx context.Context, t Target) error {
	ctx, cancel := context.WithTimeout(ctx, d.timeout())
	defer cancel()
	var nd net.Dialer
	raw, err := nd.DialContext(ctx, "tcp", t.Addr)
	if err != nil {
		return fmt.Errorf("dial %s: %w", t.Addr, err)
	}
	defer raw.Close()
	if err := tls.Client(raw, t.tlsConfig()).HandshakeContext(ctx); err != nil {
		return fmt.Errorf("tls handshake: %w", err)
	}
	return nil
}

// Login opens a session for user@t.Domain: STARTTLS (or direct TLS), SASL,
// resource binding and, if asked, initial presence.
func (d *Dialer) Login(ctx context.Context, t Target, user, password string, o LoginOptions) (*Session, error) {
	s, err := d.connect(ctx, t)
	if err != nil {
		return nil, err
	}
	if err := d.login(s, t, user, password, o); err != nil {
		_ = s.raw.Close()
		return nil, fmt.Errorf("log in %s@%s: %w", user, t.Domain, err)
	}
	_ = s.raw.SetDeadline(time.Time{})
	return s, nil
}

func (d *Dialer) login(s *Session, t Target, user, password string, o LoginOptions) error {
	if o.SASL2 || o.FAST {
		return d.login2(s, t, user, password, o)
	}
	mech := d.mechanism()
	var offered []string
	if m := s.c.Features.Child(stream.NSSASL, "mechanisms"); m != nil {
		for el := range m.Elements() {
			offered = append(offered, el.Text())
		}
	}
	if !slices.Contains(offered, mech) {
		return fmt.Errorf("%w: %s not among %v", ErrMechanism, mech, offered)
	}
	j, err := jid.New(user, t.Domain, "")
	if err != nil {
		return fmt.Errorf("account: %w", err)
	}
	if err := s.c.Authenticate(client.Options{JID: j, Password: password, Mechanism: mech, KeyCache: &d.keys}); err != nil {
		return err
	}
	if err := s.c.Restart(); err != nil {
		return err
	}
	bind := xmlstream.New(stream.NSBind, "bind")
	if o.Resource != "" {
		bind.Append(xmlstream.New(stream.NSBind, "resource").AppendText(o.Resource))
	}
	reply, err := s.request(xmlstream.New(xmlstream.NSClient, "iq").SetAttr("type", "set").SetAttr("id", "bind").Append(bind))
	if err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	s.JID = reply.Child(stream.NSBind, "bind").ChildText(stream.NSBind, "jid")
	if s.JID == "" {
		return fmt.Errorf("bind: %w: no jid in result", ErrUnexpected)
	}
	if o.Presence {
		return s.WriteElement(xmlstream.New(xmlstream.NSClient, "presence"))
	}
	return nil
}

// login2 logs in with SASL2 and Bind 2, with a FAST token if o.FAST and
// one is kept for user.
func (d *Dialer) login2(s *Session, t Target, user, password string, o LoginOptions) error {
	if s.c.Features.Child(client.NSSASL2, "authentication") == nil {
		return fmt.Errorf("%w: SASL2 not offered", ErrMechanism)
	}
	j, err := jid.New(user, t.Domain, "")
	if err != nil {
		return fmt.Errorf("account: %w", err)
	}
	co := client.Options{
		JID: j, Password: password, Mechanism: d.mechanism(), KeyCache: &d.keys,
		SASL2: true, Bind2: true, Tag: "roostbench", UserAgent: "roostbench-" + user,
	}
	if o.FAST {
		if tok, ok := d.tokens.Load(user); ok {
			co.Token, co.Mechanism = tok.(string), FASTMechanism
		} else {
			co.RequestToken = FASTMechanism
		}
	}
	if err := s.c.Authenticate2(co); err != nil {
		if co.Token != "" {
			d.tokens.Delete(user) // the next login asks for a new one
		}
		return err
	}
	if s.c.Token != "" {
		d.tokens.Store(user, s.c.Token)
	}
	if s.c.JID.Resource() == "" {
		return fmt.Errorf("bind: %w: the success named no resource", ErrUnexpected)
	}
	s.JID = s.c.JID.String()
	if o.Presence {
		return s.WriteElement(xmlstream.New(xmlstream.NSClient, "presence"))
	}
	return nil
}

// request sends an IQ and waits for its answer, skipping anything else the
// server sends meanwhile. An error answer is returned as a *StanzaError.
func (s *Session) request(iq *xmlstream.Element) (*xmlstream.Element, error) {
	id := iq.Get("id")
	if err := s.WriteElement(iq); err != nil {
		return nil, err
	}
	for range 100 { // a bound: nothing should be sent to a new stream but a few presences
		el, err := s.Read()
		if err != nil {
			return nil, err
		}
		if !el.Is(xmlstream.NSClient, "iq") || el.Get("id") != id {
			continue
		}
		switch el.Get("type") {
		case "result":
			return el, nil
		case "error":
			return nil, stanzaError(el)
		}
		return nil, fmt.Errorf("%w: iq of type %q", ErrUnexpected, el.Get("type"))
	}
	return nil, fmt.Errorf("wait for iq %s: %w", id, ErrUnexpected)
}

// Register creates the account user@t.Domain with in-band registration
// (XEP-0077 §3.1) on a fresh stream, then closes it. An account that
// exists already is reported as ErrExists.
func (d *Dialer) Register(ctx context.Context, t Target, user, password string) error {
	s, err := d.connect(ctx, t)
	if err != nil {
		return err
	}
	defer s.Logout()
	q := xmlstream.New(nsRegister, "query").Append(
		xmlstream.New(nsRegister, "username").AppendText(user),
		xmlstream.New(nsRegister, "password").AppendText(password),
	)
	_, err = s.request(xmlstream.New(xmlstream.NSClient, "iq").SetAttr("type", "set").SetAttr("id", "reg").Append(q))
	var se *StanzaError
	if errors.As(err, &se) && se.Condition == "conflict" {
		return fmt.Errorf("register %s@%s: %w", user, t.Domain, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("register %s@%s: %w", user, t.Domain, err)
	}
	return nil
}

// WriteElement sends one element.
func (s *Session) WriteElement(el *xmlstream.Element) error {
	if err := s.c.Send(el); err != nil {
		return fmt.Errorf("write %s: %w", el.Name.Local, err)
	}
	return nil
}

// Write sends bytes as they are, in one TLS record when they fit.
func (s *Session) Write(b []byte) error {
	if err := s.c.SendRaw(b); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// Read returns the next element. A stream error from the server is
// returned as *StreamError.
func (s *Session) Read() (*xmlstream.Element, error) {
	el, err := s.c.Recv()
	if err != nil {
		return nil, err
	}
	return el, nil
}

// Serve reads until the stream ends, answering the server's requests (an
// XEP-0199 ping with a result, anything else with service-unavailable)
// and handing each message to onMessage (which may be nil). It returns nil
// when the server closes the stream.
func (s *Session) Serve(onMessage func(*xmlstream.Element)) error {
	for {
		el, err := s.Read()
		if errors.Is(err, xmlstream.ErrStreamEnd) {
			return nil
		}
		if err != nil {
			return err
		}
		if el.Name.Space != xmlstream.NSClient {
			continue
		}
		switch el.Name.Local {
		case "message":
			if onMessage != nil {
				onMessage(el)
			}
		case "iq":
			if t := el.Get("type"); t == "get" || t == "set" {
				if err := s.WriteElement(answer(el)); err != nil {
					return err
				}
			}
		}
	}
}

// answer is the reply to a request from the server.
func answer(iq *xmlstream.Element) *xmlstream.Element {
	reply := xmlstream.New(xmlstream.NSClient, "iq").SetAttr("id", iq.Get("id"))
	if from := iq.Get("from"); from != "" {
		reply.SetAttr("to", from)
	}
	if iq.Get("type") == "get" && iq.Child(nsPing, "ping") != nil {
		return reply.SetAttr("type", "result")
	}
	return reply.SetAttr("type", "error").Append(xmlstream.New(xmlstream.NSClient, "error").SetAttr("type", "cancel").
		Append(xmlstream.New(stanza.NSStanzas, "service-unavailable")))
}

// CloseStream sends the closing stream tag and gives the server closeWait
// to answer with its own; a goroutine in Serve then returns.
func (s *Session) CloseStream() {
	_ = s.raw.SetWriteDeadline(time.Now().Add(closeWait))
	_ = s.c.EndStream()
	_ = s.raw.SetReadDeadline(time.Now().Add(closeWait))
}

// Logout ends a session nobody is reading: it closes the stream, reads
// until the server has closed its side (or closeWait passed), and closes
// the connection.
func (s *Session) Logout() {
	s.CloseStream()
	s.AwaitClose()
}

// AwaitClose reads, after CloseStream, until the server has closed its
// side (or closeWait passed), then closes the connection.
func (s *Session) AwaitClose() {
	for range 1000 { // bounded: a server may flush some stanzas first
		if _, err := s.Read(); err != nil {
			break
		}
	}
	_ = s.Close()
}

// Close drops the connection without ending the stream.
func (s *Session) Close() error { return s.raw.Close() }

// TLSDescription names the negotiated TLS version and cipher suite.
func (s *Session) TLSDescription() string { return tlsName(s.TLSVersion, s.CipherSuite, s.Curve) }

func tlsName(version, suite uint16, curve tls.CurveID) string {
	name := tls.VersionName(version) + " " + tls.CipherSuiteName(suite)
	if curve != 0 {
		name += " " + curve.String()
	}
	return name
}

// StreamError is a stream error the server sent (RFC 6120 §4.9).
type StreamError = client.StreamError

// StanzaError is an IQ error the server answered with (RFC 6120 §8.3).
type StanzaError struct{ Condition, Text string }

func (e *StanzaError) Error() string {
	if e.Text != "" {
		return "stanza error " + e.Condition + ": " + strconv.Quote(e.Text)
	}
	return "stanza error " + e.Condition
}

func stanzaError(iq *xmlstream.Element) *StanzaError {
	se := &StanzaError{Condition: "undefined-condition"}
	e := iq.Child(xmlstream.NSClient, "error")
	if e == nil {
		return se
	}
	for c := range e.Elements() {
		if c.Name.Space != stanza.NSStanzas {
			continue
		}
		if c.Name.Local == "text" {
			se.Text = c.Text()
		} else {
			se.Condition = c.Name.Local
		}
	}
	return se
}

// closeAll ends the streams of the sessions opened so far (nil entries are
// sessions never opened), gives their readers a moment to see the
// server's closing tag, and closes the connections.
func closeAll(sessions []*Session, readers *sync.WaitGroup) {
	for _, s := range sessions {
		if s != nil {
			s.CloseStream()
		}
	}
	waitTimeout(readers, 2*closeWait)
	for _, s := range sessions {
		if s != nil {
			_ = s.Close()
		}
	}
}
