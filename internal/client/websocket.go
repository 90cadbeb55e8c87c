package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"

	"roost/sasl"
	"roost/stream"
	"roost/xmlstream"
)

// WebSocketOptions are what a connection over WebSocket (RFC 7395) needs
// besides [Options].
type WebSocketOptions struct {
	// Origin is sent as the Origin header, as a browser would; "" sends
	// none.
	Origin string
	// Subprotocols are offered in the handshake; nil offers "xmpp".
	Subprotocols []string
	// OnPing, if set, is called for each ping the server sends, while
	// the connection is read.
	OnPing func()
}

// HTTPError is a WebSocket handshake the server answered with an HTTP
// error.
type HTTPError struct {
	Code int
	Text string // the body
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("client: websocket: HTTP %d: %s", e.Code, e.Text)
}

// ErrSeeOther is wrapped by the error of a connection the server sent
// elsewhere (RFC 7395 §3.6.1); the URI follows in the text.
var ErrSeeOther = errors.New("client: the server sends us to another endpoint")

// DialWebSocket connects to the XMPP over WebSocket endpoint at url (ws://
// or wss://, with o.TLS) and logs in: <open/>, SASL, the restart and,
// unless o.NoBind, resource binding, bounded by ctx.
func DialWebSocket(ctx context.Context, url string, o Options, wo WebSocketOptions) (*Conn, error) {
	c, err := OpenWebSocket(ctx, url, o, wo)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.nc.SetDeadline(dl)
		defer c.nc.SetDeadline(time.Time{})
	}
	if err := c.login(o); err != nil {
		_ = c.ws.CloseNow()
		return nil, err
	}
	return c, nil
}

// OpenWebSocket connects to url and opens a stream, whose features are
// then in Features; it logs in no further.
func OpenWebSocket(ctx context.Context, url string, o Options, wo WebSocketOptions) (*Conn, error) {
	c := &Conn{to: o.JID.Domain(), lang: o.Lang, dec: xmlstream.NewDecoder(nil, xmlstream.Limits{})}
	cfg := o.TLS
	if cfg == nil {
		cfg = &tls.Config{}
	}
	var d net.Dialer
	hc := &http.Client{Transport: &http.Transport{
		// The connection is kept for deadlines and channel binding.
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			nc, err := d.DialContext(ctx, network, addr)
			c.raw, c.nc = nc, nc
			return nc, err
		},
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			nc, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			cfg := cfg.Clone()
			cfg.NextProtos = []string{"http/1.1"}
			tc := tls.Client(nc, cfg)
			if err := tc.HandshakeContext(ctx); err != nil {
				_ = nc.Close()
				return nil, err
			}
			cs := tc.ConnectionState()
			if len(cs.PeerCertificates) > 0 {
				c.Binding = sasl.TLSBinding(&cs, cs.PeerCertificates[0])
			}
			c.raw, c.nc = nc, tc
			return tc, nil
		},
	}}
	protos := wo.Subprotocols
	if protos == nil {
		protos = []string{"xmpp"}
	}
	hdr := http.Header{}
	if wo.Origin != "" {
		hdr.Set("Origin", wo.Origin)
	}
	dopts := &websocket.DialOptions{HTTPClient: hc, Subprotocols: protos, HTTPHeader: hdr}
	if wo.OnPing != nil {
		dopts.OnPingReceived = func(context.Context, []byte) bool { wo.OnPing(); return true }
	}
	ws, resp, err := websocket.Dial(ctx, url, dopts)
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
			_ = resp.Body.Close()
			return nil, &HTTPError{Code: resp.StatusCode, Text: strings.TrimSpace(string(body))}
		}
		return nil, fmt.Errorf("client: websocket: %w", err)
	}
	ws.SetReadLimit(-1) // the decoder limits each message
	c.ws = ws
	if dl, ok := ctx.Deadline(); ok {
		_ = c.nc.SetDeadline(dl)
		defer c.nc.SetDeadline(time.Time{})
	}
	if err := c.Restart(); err != nil {
		_ = ws.CloseNow()
		return nil, err
	}
	return c, nil
}

// openWS sends <open/> and reads the server's, then its features.
func (c *Conn) openWS() (*xmlstream.Element, error) {
	if err := c.sendMessage(stream.AppendOpen(nil, stream.Header{To: c.to, Version: "1.0", Lang: c.lang})); err != nil {
		return nil, fmt.Errorf("send open: %w", err)
	}
	el, err := c.recvMessage()
	if err != nil {
		return nil, fmt.Errorf("read open: %w", err)
	}
	if el.Is(stream.NSFraming, "close") {
		if uri := el.Get("see-other-uri"); uri != "" {
			return nil, fmt.Errorf("%w: %s", ErrSeeOther, uri)
		}
		return nil, xmlstream.ErrStreamEnd
	}
	if _, serr := stream.ParseOpen(el); serr != nil {
		return nil, fmt.Errorf("read open: %w", serr)
	}
	el, err = c.Recv()
	if err != nil {
		return nil, err
	}
	if !el.Is(xmlstream.NSStream, "features") {
		return nil, fmt.Errorf("read features: %w: got %s", ErrUnexpected, el)
	}
	return el, nil
}

// sendMessage sends b as one text message.
func (c *Conn) sendMessage(b []byte) error {
	return c.ws.Write(context.Background(), websocket.MessageText, b)
}

// recvMessage reads the element of the next message; <close/> is
// returned as it is.
func (c *Conn) recvMessage() (*xmlstream.Element, error) {
	for {
		typ, r, err := c.ws.Reader(context.Background())
		if err != nil {
			if websocket.CloseStatus(err) != -1 {
				return nil, fmt.Errorf("%w (%w)", io.EOF, err)
			}
			return nil, err
		}
		if typ != websocket.MessageText {
			return nil, fmt.Errorf("%w: a binary message", ErrUnexpected)
		}
		c.dec.ResetFragment(r)
		el, err := c.dec.ReadElement()
		if err == io.EOF {
			continue
		}
		if err != nil {
			return nil, err
		}
		if _, err := c.dec.ReadElement(); err != io.EOF {
			return nil, fmt.Errorf("%w: a message with more than one element", ErrUnexpected)
		}
		return el, nil
	}
}

// WebSocket returns the WebSocket of a connection made with
// DialWebSocket or OpenWebSocket, nil for a TCP one: for tests that send
// what the client would not (a binary message).
func (c *Conn) WebSocket() *websocket.Conn { return c.ws }
