package client

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"roost/jid"
	"roost/sasl"
	"roost/stream"
	"roost/xmlstream"
)

// Options configure a connection.
type Options struct {
	JID       jid.JID // bare or full: a resource is requested if present
	Password  string
	Mechanism string // SASL mechanism, default SCRAM-SHA-256
	TLS       *tls.Config
	DirectTLS bool // XEP-0368: TLS from the first byte
	// BindingType forces a channel-binding type for -PLUS mechanisms
	// ("tls-exporter" or "tls-server-end-point"); "" takes the best.
	BindingType string
	// ClaimBinding makes a non-PLUS SCRAM client say it supports channel
	// binding but believes the server does not (GS2 "y"), as clients that
	// share no binding type with the server do.
	ClaimBinding bool
	// NoBind stops after authentication.
	NoBind bool
	// Lang is the xml:lang of the stream headers the client sends; empty
	// sends none.
	Lang string
	// KeyCache, if set, caches the SCRAM keys derived from the password
	// (see [sasl.KeyCache]).
	KeyCache *sasl.KeyCache
	// SSDP checks the server's SCRAM downgrade protection (XEP-0474)
	// against the features received, and requires it.
	SSDP bool

	// SASL2 authenticates with XEP-0388 instead of RFC 6120 SASL; the
	// rest of these options only apply to it.
	SASL2 bool
	// UserAgent is the id of <user-agent/> (a UUID, stable per device);
	// Software and Device describe it.
	UserAgent, Software, Device string
	// Bind2 binds the resource within the authentication (XEP-0386), with
	// Tag as the software tag and Inline as the features to enable (such
	// as <enable xmlns='urn:xmpp:carbons:2'/>).
	Bind2  bool
	Tag    string
	Inline []*xmlstream.Element
	// Resume asks to resume a stream-management session within the
	// authentication (XEP-0198 §5): <resume xmlns='urn:xmpp:sm:3'/>.
	Resume *xmlstream.Element
	// RequestToken asks for a FAST token (XEP-0484) for this HT
	// mechanism.
	RequestToken string
	// Token logs in with FAST: Mechanism must then be an HT mechanism and
	// Password is ignored. Count, if not 0, is the replay counter;
	// Invalidate asks the server to drop the token.
	Token      string
	Count      uint64
	Invalidate bool
}

// Namespaces of SASL2 and what it carries inline.
const (
	NSSASL2 = "urn:xmpp:sasl:2"
	NSBind2 = "urn:xmpp:bind:0"
	NSFAST  = "urn:xmpp:fast:0"
	NSSM    = "urn:xmpp:sm:3"
)

// Errors.
var (
	// ErrAuth: the server refused the credentials.
	ErrAuth = errors.New("client: authentication failed")
	// ErrNoTLS: the server offered no STARTTLS, or refused it.
	ErrNoTLS = errors.New("client: tls not available")
	// ErrUnexpected: the server sent something out of place.
	ErrUnexpected = errors.New("client: unexpected element")
)

// StreamError is returned when the server ends the stream with an error.
type StreamError struct{ Err *stream.Error }

func (e *StreamError) Error() string { return "client: server sent " + e.Err.Error() }

// Conn is an established client stream, over TCP or over WebSocket (RFC
// 7395, DialWebSocket).
type Conn struct {
	raw  net.Conn // the transport under TLS
	nc   net.Conn
	ws   *websocket.Conn // over WebSocket: the stream's framing
	dec  *xmlstream.Decoder
	to   string // the domain the stream headers name
	lang string
	JID  jid.JID
	wmu  sync.Mutex
	wbuf []byte
	// Binding is the channel binding the TLS connection offered.
	Binding sasl.ChannelBinding
	// Features are the stream features received after authentication.
	Features *xmlstream.Element
	// Success is the SASL2 <success/>, when the client used SASL2.
	Success *xmlstream.Element
	// Token and TokenExpiry are the FAST token the server gave with the
	// success, if any.
	Token       string
	TokenExpiry time.Time
}

// Dial connects to addr and logs in.
func Dial(ctx context.Context, addr string, o Options) (*Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c, err := Login(ctx, nc, o)
	if err != nil {
		_ = nc.Close()
		return nil, err
	}
	return c, nil
}

// Login runs the stream negotiation over nc: [Secure], [Conn.Authenticate],
// [Conn.Restart] and, unless o.NoBind, [Conn.Bind]. The context's
// deadline, if any, bounds it.
func Login(ctx context.Context, nc net.Conn, o Options) (*Conn, error) {
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
		defer nc.SetDeadline(time.Time{})
	}
	c, err := Secure(ctx, nc, o)
	if err != nil {
		return nil, err
	}
	return c, c.login(o)
}

// login authenticates and binds: with SASL2 and, if asked, Bind 2 or an
// inline resumption, binding afterwards unless one of them did or
// o.NoBind; or with SASL, a stream restart and, unless o.NoBind, binding.
func (c *Conn) login(o Options) error {
	if o.SASL2 {
		if err := c.Authenticate2(o); err != nil {
			return err
		}
		if o.NoBind || c.JID.Resource() != "" || o.Resume != nil {
			return nil
		}
		return c.Bind(o.JID.Resource())
	}
	if err := c.Authenticate(o); err != nil {
		return err
	}
	if err := c.Restart(); err != nil {
		return err
	}
	c.JID = o.JID.Bare()
	if o.NoBind {
		return nil
	}
	return c.Bind(o.JID.Resource())
}

// Secure opens a stream to o.JID's domain over nc and secures it: with
// STARTTLS (RFC 6120 §5), or with TLS from the first byte when o.DirectTLS
// (XEP-0368). Features are then those offered over TLS. It sets no
// deadline on nc.
func Secure(ctx context.Context, nc net.Conn, o Options) (*Conn, error) {
	c := &Conn{nc: nc, raw: nc, to: o.JID.Domain(), lang: o.Lang}
	if !o.DirectTLS {
		c.dec = xmlstream.NewDecoder(nc, xmlstream.Limits{})
		f, err := c.open()
		if err != nil {
			return nil, err
		}
		if f.Child(stream.NSTLS, "starttls") == nil {
			return nil, fmt.Errorf("start tls: %w: not offered", ErrNoTLS)
		}
		if err := c.Send(xmlstream.New(stream.NSTLS, "starttls")); err != nil {
			return nil, err
		}
		el, err := c.Recv()
		if err != nil {
			return nil, err
		}
		if !el.Is(stream.NSTLS, "proceed") {
			return nil, fmt.Errorf("start tls: %w: refused with %s", ErrNoTLS, el)
		}
	}
	if err := c.startTLS(ctx, o.TLS); err != nil {
		return nil, err
	}
	return c, c.Restart()
}

// Restart opens a new stream on the connection, as after TLS or SASL (RFC
// 6120 §4.3.3), and keeps the server's new features in Features.
func (c *Conn) Restart() error {
	f, err := c.open()
	if err != nil {
		return err
	}
	c.Features = f
	return nil
}

func (c *Conn) startTLS(ctx context.Context, cfg *tls.Config) error {
	if cfg == nil {
		cfg = &tls.Config{}
	}
	tc := tls.Client(c.nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("client: tls: %w", err)
	}
	cs := tc.ConnectionState()
	var leaf = cs.PeerCertificates
	if len(leaf) > 0 {
		c.Binding = sasl.TLSBinding(&cs, leaf[0])
	}
	c.nc = tc
	if c.dec == nil {
		c.dec = xmlstream.NewDecoder(tc, xmlstream.Limits{})
	} else {
		c.dec.Reset(tc)
	}
	return nil
}

// ConnectionState describes the connection's TLS.
func (c *Conn) ConnectionState() tls.ConnectionState {
	if tc, ok := c.nc.(*tls.Conn); ok {
		return tc.ConnectionState()
	}
	return tls.ConnectionState{}
}

// open sends a stream header, reads the server's and its features.
func (c *Conn) open() (*xmlstream.Element, error) {
	if c.ws != nil {
		return c.openWS()
	}
	c.dec.Restart()
	c.wmu.Lock()
	c.wbuf = stream.AppendHeader(c.wbuf[:0], stream.Header{To: c.to, Version: "1.0", Lang: c.lang, ContentNS: xmlstream.NSClient})
	_, err := c.nc.Write(c.wbuf)
	c.wmu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("send stream header: %w", err)
	}
	if _, err := c.dec.ReadHeader(); err != nil {
		return nil, fmt.Errorf("read stream header: %w", err)
	}
	el, err := c.Recv()
	if err != nil {
		return nil, err
	}
	if !el.Is(xmlstream.NSStream, "features") {
		return nil, fmt.Errorf("read features: %w: got %s", ErrUnexpected, el)
	}
	return el, nil
}

// Authenticate runs one SASL exchange.
func (c *Conn) Authenticate(o Options) error {
	mech := o.Mechanism
	if mech == "" {
		mech = sasl.SCRAMSHA256
	}
	// Only a -PLUS mechanism uses the binding; with plain SCRAM the client
	// says it has none ("n").
	var b sasl.ChannelBinding
	if strings.HasSuffix(mech, "-PLUS") || o.ClaimBinding {
		b = c.Binding
		switch o.BindingType {
		case sasl.BindingTLSExporter:
			b.TLSServerEndPoint = nil
		case sasl.BindingTLSServerEndPoint:
			b.TLSExporter = nil
		}
	}
	cl, err := sasl.NewClient(mech, o.JID.Local(), o.Password, b)
	if err != nil {
		return err
	}
	cl.SetKeyCache(o.KeyCache)
	if o.SSDP {
		cl.SetDowngrade(c.advertised(stream.NSSASL, "mechanisms"))
	}
	out, err := cl.Step(nil)
	if err != nil {
		return err
	}
	auth := xmlstream.New(stream.NSSASL, "auth").SetAttr("mechanism", mech).AppendText(b64(out))
	el, err := c.exchange(cl, auth, stream.NSSASL, b64)
	if err != nil {
		return err
	}
	switch {
	case el.Is(stream.NSSASL, "success"):
		return finishSASL(cl, mech, el.Text(), o.SSDP)
	case el.Is(stream.NSSASL, "failure"):
		cond := ""
		if f := el.FirstChild(); f != nil {
			cond = f.Name.Local
		}
		return fmt.Errorf("%w: %s", ErrAuth, cond)
	default:
		return fmt.Errorf("authenticate: %w: got %s", ErrUnexpected, el)
	}
}

// exchange sends auth and answers the server's challenges in ns (SASL's
// or SASL2's) with cl, the responses' data written by encode, until the
// server sends anything else, which it returns: success, failure, or an
// element out of place.
func (c *Conn) exchange(cl *sasl.Client, auth *xmlstream.Element, ns string, encode func([]byte) string) (*xmlstream.Element, error) {
	if err := c.Send(auth); err != nil {
		return nil, err
	}
	for {
		el, err := c.Recv()
		if err != nil {
			return nil, err
		}
		if !el.Is(ns, "challenge") {
			return el, nil
		}
		in, err := base64.StdEncoding.DecodeString(el.Text())
		if err != nil {
			return nil, err
		}
		out, err := cl.Step(in)
		if err != nil {
			return nil, err
		}
		if err := c.Send(xmlstream.New(ns, "response").AppendText(encode(out))); err != nil {
			return nil, err
		}
	}
}

// finishSASL checks the data of the server's success: the proof of a
// SCRAM or HT server, and the downgrade protection hash when ssdp.
func finishSASL(cl *sasl.Client, mech, data string, ssdp bool) error {
	if data != "" && data != "=" {
		in, err := base64.StdEncoding.DecodeString(data)
		if err != nil {
			return err
		}
		if _, err := cl.Step(in); err != nil {
			return err
		}
	}
	if mech != sasl.Plain && !cl.Verified() {
		return errors.New("client: server signature not verified")
	}
	if ssdp && !strings.HasPrefix(mech, "HT-") && !cl.DowngradeChecked() {
		return fmt.Errorf("client: no downgrade protection hash: %w", sasl.ErrDowngrade)
	}
	return nil
}

// Bind binds a resource ("" lets the server choose).
func (c *Conn) Bind(resource string) error {
	b := xmlstream.New(stream.NSBind, "bind")
	if resource != "" {
		b.Append(xmlstream.New(stream.NSBind, "resource").AppendText(resource))
	}
	if err := c.Send(xmlstream.New(xmlstream.NSClient, "iq").SetAttr("type", "set").SetAttr("id", "bind1").Append(b)); err != nil {
		return err
	}
	el, err := c.Recv()
	if err != nil {
		return err
	}
	if el.Get("type") != "result" {
		return fmt.Errorf("client: bind failed: %s", el)
	}
	j, err := jid.Parse(el.Child(stream.NSBind, "bind").ChildText(stream.NSBind, "jid"))
	if err != nil {
		return fmt.Errorf("client: bind result: %w", err)
	}
	c.JID = j
	return nil
}

// Send writes one element.
func (c *Conn) Send(el *xmlstream.Element) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.ws != nil {
		c.wbuf = xmlstream.AppendFrame(c.wbuf[:0], el, xmlstream.NSClient)
		return c.sendMessage(c.wbuf)
	}
	c.wbuf = xmlstream.AppendElement(c.wbuf[:0], el, xmlstream.NSClient)
	_, err := c.nc.Write(c.wbuf)
	return err
}

// SendRaw writes bytes as they are: over WebSocket, as one message.
func (c *Conn) SendRaw(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.ws != nil {
		return c.sendMessage(b)
	}
	_, err := c.nc.Write(b)
	return err
}

// Recv reads the next element. A stream error from the server is returned
// as *StreamError; the end of the stream as xmlstream.ErrStreamEnd.
func (c *Conn) Recv() (*xmlstream.Element, error) {
	var el *xmlstream.Element
	var err error
	if c.ws != nil {
		el, err = c.recvMessage()
		if err == nil && el.Is(stream.NSFraming, "close") {
			return nil, xmlstream.ErrStreamEnd
		}
	} else {
		el, err = c.dec.ReadElement()
	}
	if err != nil {
		return nil, err
	}
	if el.Is(xmlstream.NSStream, "error") {
		return el, &StreamError{Err: stream.ParseError(el)}
	}
	return el, nil
}

// SetDeadline sets the connection's deadline.
func (c *Conn) SetDeadline(t time.Time) error { return c.nc.SetDeadline(t) }

// Close ends the stream and closes the connection. It does not wait for
// the server's closing tag, nor send a TLS close_notify.
func (c *Conn) Close() error {
	_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	_ = c.EndStream()
	if c.ws != nil {
		return c.ws.CloseNow()
	}
	return c.raw.Close()
}

// EndStream sends the end of the stream: the closing tag, or <close/> over
// WebSocket (RFC 7395 §3.6). The server answers with its own.
func (c *Conn) EndStream() error {
	if c.ws != nil {
		return c.SendRaw([]byte(stream.FramedClose))
	}
	return c.SendRaw([]byte(stream.Close))
}

// NetConn returns the underlying connection.
func (c *Conn) NetConn() net.Conn { return c.nc }

func b64(b []byte) string {
	if len(b) == 0 {
		return "="
	}
	return base64.StdEncoding.EncodeToString(b)
}
