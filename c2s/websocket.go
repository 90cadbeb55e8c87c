package c2s

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"roost/netconn"
	"roost/stream"
	"roost/xmlstream"
)

// XMPP over WebSocket (RFC 7395). The library (github.com/coder/websocket)
// does the opening handshake, reads frames (unmasking, continuations,
// control frames: it answers pings and the closing handshake) and writes
// every frame; roost checks the request, frames the stream (one element
// per message, <open/> and <close/>) and reads each message with the
// stream's decoder under the same limits as TCP.

// WSProtocol is the WebSocket subprotocol of XMPP (RFC 7395 §3.1).
const WSProtocol = "xmpp"

// Sizes of the buffers the library reads and writes frames through, kept
// for the connection's life. Payloads bypass them: the reader's needs only
// a frame header, the writer's a whole control frame (at most 127 bytes,
// RFC 6455 §5.5), so that one goes out in one write.
const (
	wsReadBuffer  = 64
	wsWriteBuffer = 128
)

// wsReadSlack is what the library may read of one message beyond the
// stanza size limit, which the decoder enforces itself (with a stream
// error, RFC 6120 §4.9.3.14): room for whitespace around the element.
const wsReadSlack = 64 << 10

// wsPing is a ping frame with no payload, unmasked as a server sends it
// (RFC 6455 §5.2, §5.5.2): the keepalive of RFC 7395 §3.8, in place of
// RFC 6120's whitespace, which a WebSocket message may not be. The library
// sends pings only as a call that waits for the pong; a keepalive needs no
// answer, and the client's pong, read by the library, moves the read
// deadline like any traffic.
var wsPing = []byte{0x89, 0x00}

// WebSocketOptions configure [Server.WebSocket].
type WebSocketOptions struct {
	// Origins are the web origins ("https://chat.example.org": scheme,
	// host, and port unless the scheme's default) whose pages may
	// connect, besides the server's own: https://<hosted domain> on any
	// port (http:// too for a loopback name such as localhost) and the
	// endpoint's own origin. "*" allows every origin. A client that sends
	// no Origin, which is no browser, is not asked.
	Origins []string
	// SeeOtherURI, if set, sends every client to another endpoint
	// instead (RFC 7395 §3.6.1), such as "wss://xmpp.example.org/ws".
	SeeOtherURI string
}

// WebSocket returns the handler of XMPP over WebSocket (RFC 7395), to be
// served on the HTTPS listener (usually at /xmpp-websocket). A request
// must offer the subprotocol "xmpp" (400 otherwise), come from an allowed
// origin (403), and arrive over TLS unless it comes from a loopback
// address (ws:// is for tests and local proxies). The connections count
// against [Options.MaxConnsPerIP] (503 when over) and are served like TCP
// streams, with the same limits, until [Server.Shutdown]. ctx is the
// lifetime of the sessions the handler starts, as net/http's BaseContext
// is: pass one that outlives the signal to stop, so that Shutdown ends
// them gracefully.
func (s *Server) WebSocket(ctx context.Context, o WebSocketOptions) http.Handler {
	h := &wsHandler{srv: s, ctx: ctx, origins: make(map[string]bool), seeOther: o.SeeOtherURI}
	for _, or := range o.Origins {
		if or == "*" {
			h.anyOrigin = true
		}
		if u, err := url.Parse(or); err == nil {
			h.origins[originKey(u)] = true
		}
	}
	return h
}

// wsHandler serves the WebSocket endpoint. Its fields are fixed by
// Server.WebSocket.
type wsHandler struct {
	srv       *Server
	ctx       context.Context // the sessions' lifetime (see Server.WebSocket)
	anyOrigin bool
	origins   map[string]bool // originKey of each configured origin
	seeOther  string
}

func (h *wsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := h.srv
	remote := remoteAddr(r)
	if r.TLS == nil && !remote.Addr().IsLoopback() {
		http.Error(w, "XMPP over WebSocket is served over TLS only: connect to wss://", http.StatusForbidden)
		return
	}
	if !offers(r.Header, "Sec-WebSocket-Protocol", WSProtocol) {
		// RFC 7395 §3.1: the client names the subprotocol; a WebSocket
		// without it would not be XMPP.
		http.Error(w, `this is XMPP over WebSocket (RFC 7395): connect with the WebSocket subprotocol "xmpp"`, http.StatusBadRequest)
		return
	}
	if origin := r.Header.Get("Origin"); origin != "" && !h.allowed(origin, r.Host) {
		s.log.Debug("WebSocket from a web page not allowed", "remote", r.RemoteAddr, "origin", origin)
		http.Error(w, "web pages from "+origin+" may not connect to this XMPP server", http.StatusForbidden)
		return
	}
	if !s.conns.Admits(net.TCPAddrFromAddrPort(remote)) {
		http.Error(w, "too many connections from your address", http.StatusServiceUnavailable)
		return
	}
	hj := &wsHijack{ResponseWriter: w, srv: s}
	ws, err := websocket.Accept(hj, r, &websocket.AcceptOptions{
		Subprotocols:       []string{WSProtocol},
		InsecureSkipVerify: true, // the origin is checked above
	})
	if err != nil {
		s.log.Debug("WebSocket handshake failed", "remote", r.RemoteAddr, "err", err)
		return // Accept answered
	}
	nc := hj.conn
	c, ok := s.conns.Add(nc, func() *session { return s.newWSSession(ws, nc, r.TLS) })
	if !ok {
		return // Add closed the connection
	}
	if h.seeOther != "" {
		defer s.conns.Done(c)
		c.seeOther(h.seeOther)
		return
	}
	s.startSweep()
	// Negotiate here, on the goroutine net/http gave the request; the
	// bound session goes on on one of its own, and this one ends.
	c.serve(h.ctx, false, func() { s.conns.Done(c) })
}

// allowed reports whether a page from origin may connect (see
// WebSocketOptions.Origins); host is the request's Host.
func (h *wsHandler) allowed(origin, host string) bool {
	if h.anyOrigin {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if h.origins[originKey(u)] || strings.EqualFold(u.Host, host) {
		return true
	}
	name := strings.ToLower(u.Hostname())
	if _, hosted := h.srv.domains[name]; hosted {
		return u.Scheme == "https" || u.Scheme == "http" && isLoopbackName(name)
	}
	return false
}

// originKey is an origin's serialisation (RFC 6454 §6.1): lower-case
// scheme and host, and the port unless it is the scheme's default.
func originKey(u *url.URL) string {
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	if scheme == "https" && port == "443" || scheme == "http" && port == "80" {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host
}

func isLoopbackName(name string) bool {
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(name)
	return err == nil && ip.IsLoopback()
}

// remoteAddr is the request's peer address; the zero AddrPort when
// net/http gave none it can parse (then it is not loopback).
func remoteAddr(r *http.Request) netip.AddrPort {
	ap, _ := netip.ParseAddrPort(r.RemoteAddr)
	return ap
}

// offers reports whether the comma-separated tokens of header key include
// token.
func offers(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// wsHijack gives the library, when it takes the connection over, a
// connection that reads through roost's own reader (the read deadline and
// rate, as on TCP) and buffers of roost's sizes: the library keeps what
// Hijack returns for the connection's life.
type wsHijack struct {
	http.ResponseWriter
	srv  *Server
	conn *wsConn // set by Hijack
}

func (h *wsHijack) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	c := &wsConn{Conn: nc, rd: netconn.NewReader(nc, h.srv.opts.ReadRate, h.srv.opts.ReadBurst), timeout: h.srv.opts.WriteTimeout}
	if n := brw.Reader.Buffered(); n > 0 {
		// Sent right behind the request, before our answer: the first
		// frames.
		early, _ := brw.Reader.Peek(n)
		c.early = bytes.Clone(early)
	}
	h.conn = c
	return c, bufio.NewReadWriter(bufio.NewReaderSize(c, wsReadBuffer), bufio.NewWriterSize(c, wsWriteBuffer)), nil
}

// wsConn is the connection under a WebSocket, as the library reads and
// writes it. Reads go through a netconn.Reader. Writes go out at once
// (the library's control frames: pongs, the closing handshake), or, while
// a batch is built, into the batch, which the session's write sends in
// one piece: the library writes each message as a frame and flushes it,
// and a batch of many stanzas then still costs one write, as on TCP. The
// library writes a frame under its own lock, so frames never interleave.
type wsConn struct {
	net.Conn
	rd      *netconn.Reader
	early   []byte // read first; belongs to the reading goroutine
	timeout time.Duration

	mu       sync.Mutex
	moved    int64 // see moveWriteDeadline
	batching bool
	batch    []byte
}

func (c *wsConn) Read(p []byte) (int, error) {
	if len(c.early) > 0 {
		n := copy(p, c.early)
		c.early = c.early[n:]
		return n, nil
	}
	return c.rd.Read(p)
}

func (c *wsConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.batching {
		c.batch = append(c.batch, p...)
		return len(p), nil
	}
	return c.writeLocked(p)
}

func (c *wsConn) writeLocked(p []byte) (int, error) {
	moveWriteDeadline(c.Conn, &c.moved, c.timeout)
	return c.Conn.Write(p)
}

// collect makes writes append to b until collected returns it.
func (c *wsConn) collect(b []byte) {
	c.mu.Lock()
	c.batching, c.batch = true, b
	c.mu.Unlock()
}

func (c *wsConn) collected() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.batch
	c.batching, c.batch = false, nil
	return b
}

// wsStream is the WebSocket framing of RFC 7395: one standalone element
// per text message, the stream opened by <open/> and closed by <close/>.
type wsStream struct {
	ws   *websocket.Conn
	conn *wsConn
	dec  *xmlstream.Decoder // reset for every message
	// tls is the TLS under the WebSocket, for the negotiation's channel
	// bindings; nil over ws:// on loopback, and once negotiated.
	tls  *tls.ConnectionState
	code websocket.StatusCode // for the closing handshake
	err  error                // a write that failed while a batch was built
}

// newWSSession returns the session of an accepted WebSocket.
func (s *Server) newWSSession(ws *websocket.Conn, nc *wsConn, cs *tls.ConnectionState) *session {
	limit := s.opts.Limits.MaxStanzaBytes
	if limit <= 0 {
		limit = xmlstream.DefaultMaxStanzaBytes
	}
	ws.SetReadLimit(int64(limit) + wsReadSlack)
	return &session{
		srv: s,
		id:  s.nextID.Add(1),
		link: link{raw: nc, rd: nc.rd, t: &wsStream{
			ws: ws, conn: nc, dec: xmlstream.NewDecoder(nil, s.opts.Limits), tls: cs, code: websocket.StatusNormalClosure,
		}},
	}
}

// Stream errors of the framing.
var (
	errWSBinary = &stream.Error{Condition: stream.BadFormat,
		Text: "a WebSocket message carrying XMPP is text, not binary (RFC 7395 §3.2)"}
	errWSElements = &stream.Error{Condition: stream.BadFormat,
		Text: "a WebSocket message carries exactly one element (RFC 7395 §3.3.3)"}
	errWSOpen = &stream.Error{Condition: stream.BadFormat,
		Text: "<open/> only opens the stream, or opens it again after authentication (RFC 7395 §3.4, §3.7)"}
)

func (t *wsStream) readHeader() (stream.Header, *stream.Error, error) {
	el, err := t.readMessage()
	if err != nil {
		return stream.Header{}, nil, err
	}
	if el.Is(stream.NSFraming, "close") {
		return stream.Header{}, nil, xmlstream.ErrStreamEnd
	}
	h, serr := stream.ParseOpen(el)
	return h, serr, nil
}

func (t *wsStream) readElement() (*xmlstream.Element, error) {
	el, err := t.readMessage()
	switch {
	case err != nil:
		return nil, err
	case el.Is(stream.NSFraming, "close"):
		return nil, xmlstream.ErrStreamEnd
	case el.Is(stream.NSFraming, "open"):
		return nil, errWSOpen
	}
	return el, nil
}

// readMessage reads the next message that holds an element, and the
// element. A message of whitespace alone (some clients' keepalive, which
// RFC 7395 §3.8 replaces with pings) is skipped.
func (t *wsStream) readMessage() (*xmlstream.Element, error) {
	for {
		typ, r, err := t.ws.Reader(context.Background())
		if err != nil {
			if websocket.CloseStatus(err) != -1 {
				// The client closed the WebSocket without closing the
				// stream: for stream management, a lost connection.
				return nil, io.EOF
			}
			return nil, err
		}
		if typ != websocket.MessageText {
			t.code = websocket.StatusUnsupportedData
			return nil, errWSBinary
		}
		t.dec.ResetFragment(r)
		el, err := t.dec.ReadElement()
		if err == io.EOF {
			continue
		}
		if err != nil {
			if errors.Is(err, &xmlstream.Error{Condition: xmlstream.CondPolicyViolation}) {
				t.code = websocket.StatusMessageTooBig
			}
			if err == io.ErrUnexpectedEOF {
				return nil, errWSElements // the message ended inside the element
			}
			return nil, err
		}
		switch _, err := t.dec.ReadElement(); {
		case err == io.EOF:
			return el, nil
		case err == nil || err == io.ErrUnexpectedEOF || stream.FromDecodeError(err) != nil:
			return nil, errWSElements
		default:
			return nil, err // the connection failed within the message
		}
	}
}

func (t *wsStream) restart() {}

func (t *wsStream) appendHeader(b []byte, h stream.Header) []byte {
	bp := netconn.GetBuffer()
	*bp = stream.AppendOpen((*bp)[:0], h)
	b = t.appendRaw(b, *bp)
	netconn.PutBuffer(bp)
	return b
}

func (t *wsStream) appendElement(b []byte, el *xmlstream.Element) []byte {
	bp := netconn.GetBuffer()
	*bp = xmlstream.AppendFrame((*bp)[:0], el, xmlstream.NSClient)
	b = t.appendRaw(b, *bp)
	netconn.PutBuffer(bp)
	return b
}

// appendRaw has the library write el as a message, into b.
func (t *wsStream) appendRaw(b, el []byte) []byte {
	t.conn.collect(b)
	err := t.ws.Write(context.Background(), websocket.MessageText, el)
	b = t.conn.collected()
	if err != nil && t.err == nil {
		t.err = err
	}
	return b
}

func (t *wsStream) appendPrepared(b []byte, p *prepared) []byte { return t.appendRaw(b, p.standalone) }

func (t *wsStream) appendEnd(b []byte, se *stream.Error) []byte {
	if se != nil {
		// RFC 7395 §3.5: the stream error, then <close/>, each a message.
		b = t.appendElement(b, se.Element())
	}
	return t.appendRaw(b, []byte(stream.FramedClose))
}

func (t *wsStream) write(b []byte) error {
	if t.err != nil {
		return t.err
	}
	t.conn.mu.Lock()
	defer t.conn.mu.Unlock()
	_, err := t.conn.writeLocked(b)
	return err
}

func (t *wsStream) keepalive() error { return t.write(wsPing) }

func (t *wsStream) close() {
	t.conn.rd.Linger(netconn.LingerTime)
	_ = t.ws.Close(t.code, "")
}

// seeOther answers the client's <open/> with <close/> naming the endpoint
// to use instead (RFC 7395 §3.6.1), and closes.
func (c *session) seeOther(uri string) {
	defer c.close()
	_ = c.raw.SetDeadline(time.Now().Add(c.srv.opts.NegotiationTimeout))
	if _, _, err := c.t.readHeader(); err != nil {
		return
	}
	bp := netconn.GetBuffer()
	defer netconn.PutBuffer(bp)
	*bp = c.t.appendElement((*bp)[:0], xmlstream.New(stream.NSFraming, "close").SetAttr("see-other-uri", uri))
	_ = c.write(*bp)
}
