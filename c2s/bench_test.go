package c2s

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"math"
	"net"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"roost/internal/client"
	"roost/internal/xmpptest"
	"roost/jid"
	"roost/sasl"
	"roost/stream"
	"roost/xmlstream"
)

// sinkConn is a connection that takes every write at once, so that a
// benchmark measures the session's own work.
type sinkConn struct{ written atomic.Int64 }

func (s *sinkConn) Read([]byte) (int, error)    { return 0, io.EOF }
func (s *sinkConn) Write(b []byte) (int, error) { s.written.Add(int64(len(b))); return len(b), nil }
func (s *sinkConn) Close() error                { return nil }
func (s *sinkConn) LocalAddr() net.Addr         { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5222} }
func (s *sinkConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}
func (s *sinkConn) SetDeadline(time.Time) error      { return nil }
func (s *sinkConn) SetReadDeadline(time.Time) error  { return nil }
func (s *sinkConn) SetWriteDeadline(time.Time) error { return nil }

// benchSend runs the session send path, Send (what the router calls) to
// the writer goroutine's write, for every iteration, and waits until the
// last byte was written. written reports the bytes that reached nc. With
// one, each iteration waits for its message to be written, so a writer is
// started for each message; otherwise messages queue up while the writer
// works and are written in batches, as under load.
func benchSend(b *testing.B, nc net.Conn, written func() int64, one bool) {
	benchSendOn(b, func(srv *Server) *session { return srv.newSession(nc) }, written, one)
}

// benchSendOn is benchSend on the session newSession returns, over TCP or
// WebSocket.
func benchSendOn(b *testing.B, newSession func(*Server) *session, written func() int64, one bool) {
	srv := New(Options{Domains: []string{"example.com"}, TLS: &tls.Config{}, ServerOptions: stream.ServerOptions{QueueDepth: 1 << 30}, QueueBytes: math.MaxInt}, &fakeRouter{sessions: map[string]Endpoint{}}, creds{})
	c := newSession(srv)
	c.q.running = true // as after bind: Send starts the writer as needed
	el := xmpptest.Element(b, `<message xmlns='jabber:client' to='juliet@example.com/balcony' from='romeo@example.net/orchard' type='chat' id='ktx72v49'><body>Are we still on for dinner tonight? I can bring the salad.</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>`)
	size := int64(len(c.t.appendElement(nil, el)))
	start := written()
	b.SetBytes(size)
	b.ReportAllocs()
	var n int64
	for b.Loop() {
		if !c.Send(el) {
			b.Fatal("session closed")
		}
		n++
		for one && written()-start < n*size {
			runtime.Gosched()
		}
	}
	for written()-start < n*size {
		time.Sleep(10 * time.Microsecond)
	}
	b.StopTimer()
	c.Close(nil)
	c.writers.Wait()
}

// BenchmarkSessionSend is the send path without TLS: queueing, waking the
// writer, serialising the batch and handing it to the connection.
func BenchmarkSessionSend(b *testing.B) {
	nc := &sinkConn{}
	benchSend(b, nc, nc.written.Load, false)
}

// BenchmarkSessionSendOne sends one message at a time: the cost of waking
// the writer for each, as at a light load.
func BenchmarkSessionSendOne(b *testing.B) {
	nc := &sinkConn{}
	benchSend(b, nc, nc.written.Load, true)
}

// BenchmarkSessionSendTLS adds what a real session pays: TLS records over
// loopback TCP, read and discarded by a client.
func BenchmarkSessionSendTLS(b *testing.B) {
	serverTLS, clientTLS := xmpptest.TLS(b, "example.com")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	var read atomic.Int64
	clientDone := make(chan struct{})
	go func() {
		defer close(clientDone)
		raw, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return
		}
		tc := tls.Client(raw, clientTLS)
		defer tc.Close()
		buf := make([]byte, 32<<10)
		for {
			n, err := tc.Read(buf)
			read.Add(int64(n))
			if err != nil {
				return
			}
		}
	}()
	raw, err := ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	tc := tls.Server(raw, serverTLS)
	if err := tc.Handshake(); err != nil {
		b.Fatal(err)
	}
	benchSend(b, tc, read.Load, false)
	_ = raw.Close()
	<-clientDone
}

// BenchmarkSessionSendWebSocket is BenchmarkSessionSend over WebSocket:
// each stanza a message (a frame written by the library), a batch still
// one write.
func BenchmarkSessionSendWebSocket(b *testing.B) {
	nc := &sinkConn{}
	benchSendOn(b, func(srv *Server) *session { return wsSessionOn(b, srv, nc) }, nc.written.Load, false)
}

// BenchmarkSessionSendOneWebSocket is BenchmarkSessionSendOne over
// WebSocket.
func BenchmarkSessionSendOneWebSocket(b *testing.B) {
	nc := &sinkConn{}
	benchSendOn(b, func(srv *Server) *session { return wsSessionOn(b, srv, nc) }, nc.written.Load, true)
}

// wsSessionOn accepts a WebSocket on nc, as the handler does, and returns
// its session.
func wsSessionOn(tb testing.TB, srv *Server, nc net.Conn) *session {
	req := httptest.NewRequest("GET", "https://example.com/xmpp-websocket", nil)
	for k, v := range map[string]string{"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
		"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol": WSProtocol} {
		req.Header.Set(k, v)
	}
	hj := &wsHijack{ResponseWriter: &hijackable{ResponseRecorder: httptest.NewRecorder(), nc: nc}, srv: srv}
	ws, err := websocket.Accept(hj, req, &websocket.AcceptOptions{Subprotocols: []string{WSProtocol}})
	if err != nil {
		tb.Fatal(err)
	}
	return srv.newWSSession(ws, hj.conn, nil)
}

// hijackable is a response recorder whose connection can be taken over.
type hijackable struct {
	*httptest.ResponseRecorder
	nc net.Conn
}

func (h *hijackable) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return h.nc, bufio.NewReadWriter(bufio.NewReader(h.nc), bufio.NewWriter(h.nc)), nil
}

// clientFrame is a text message as a client sends it: masked (RFC 6455
// §5.3).
func clientFrame(payload []byte) []byte {
	mask := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	f := []byte{0x81}
	switch n := len(payload); {
	case n < 126:
		f = append(f, 0x80|byte(n))
	case n < 1<<16:
		f = append(f, 0x80|126, byte(n>>8), byte(n))
	default:
		f = append(f, 0x80|127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	f = append(f, mask[:]...)
	for i, c := range payload {
		f = append(f, c^mask[i%4])
	}
	return f
}

// replayConn reads data over and over; writes are dropped.
type replayConn struct {
	sinkConn
	data []byte
	pos  int
}

func (r *replayConn) Read(p []byte) (int, error) {
	n := copy(p, r.data[r.pos:])
	r.pos = (r.pos + n) % len(r.data)
	return n, nil
}

// BenchmarkReadWebSocket is the read path over WebSocket: a frame read by
// the library, its message parsed by the stream's decoder, checked to
// hold one element.
func BenchmarkReadWebSocket(b *testing.B) {
	msg := []byte(`<message xmlns='jabber:client' to='juliet@example.com/balcony' type='chat' id='ktx72v49'><body>Are we still on for dinner tonight? I can bring the salad.</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>`)
	srv := New(Options{Domains: []string{"example.com"}}, &fakeRouter{}, creds{})
	c := wsSessionOn(b, srv, &replayConn{data: clientFrame(msg)})
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		el, err := c.t.readElement()
		if err != nil || el.Name.Local != "message" {
			b.Fatalf("read %v, %v", el, err)
		}
	}
}

// FuzzWebSocketMessage reads arbitrary text as one WebSocket message.
// Properties: no panic; an element comes with nothing else, and a failure
// is a stream error to send (or the stream's end), never anything untyped.
func FuzzWebSocketMessage(f *testing.F) {
	for _, s := range []string{
		`<message xmlns='jabber:client'><body>hi</body></message>`,
		`<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>`,
		`<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.com' version='1.0'/>`,
		`<a xmlns='u'/><b xmlns='u'/>`, `<a xmlns='u'>`, `  `, `<?xml version='1.0'?><a xmlns='u'/>`, "<a>\xff</a>",
	} {
		f.Add([]byte(s))
	}
	srv := New(Options{Domains: []string{"example.com"}, ServerOptions: stream.ServerOptions{Limits: xmlstream.Limits{MaxStanzaBytes: 4096}}}, &fakeRouter{}, creds{})
	end := clientFrame([]byte(`<presence xmlns='jabber:client'/>`))
	f.Fuzz(func(t *testing.T, msg []byte) {
		c := wsSessionOn(t, srv, &replayConn{data: append(clientFrame(msg), end...)})
		el, err := c.t.readElement()
		switch {
		case err == nil:
			if el == nil {
				t.Fatal("no element and no error")
			}
		case errors.Is(err, xmlstream.ErrStreamEnd):
		case stream.FromDecodeError(err) == nil:
			t.Fatalf("untyped error %T: %v", err, err)
		}
	})
}

// fixedCreds are one account's credentials, derived once, as a store keeps
// them: the same salt every time, so that the client's key cache works.
type fixedCreds map[sasl.Hash]sasl.Credentials

func newFixedCreds(b *testing.B, password string) fixedCreds {
	f := fixedCreds{}
	for _, h := range []sasl.Hash{sasl.SHA1, sasl.SHA256} {
		c, err := sasl.NewCredentials(password, h, sasl.DefaultIterations, nil)
		if err != nil {
			b.Fatal(err)
		}
		f[h] = c
	}
	return f
}

func (f fixedCreds) SCRAMCredentials(_ context.Context, _ jid.JID, h sasl.Hash) (sasl.Credentials, bool, error) {
	c, ok := f[h]
	return c, ok, nil
}

// BenchmarkLogin is a whole login over an in-memory connection, client
// and server in one process (so the figures are the sum of both): a
// STARTTLS handshake, then SASL and legacy binding, SASL2 with Bind 2, or
// a FAST token with Bind 2. The client's SCRAM keys are cached, as the
// load tool's are, and the handshake costs what it costs.
func BenchmarkLogin(b *testing.B) {
	for _, mode := range []string{"SASL", "SASL2", "FAST"} {
		b.Run(mode, func(b *testing.B) {
			tk := newFakeTokens()
			serverTLS, clientTLS := xmpptest.TLS(b, "example.com")
			clientTLS.CurvePreferences = []tls.CurveID{tls.X25519}
			srv := New(Options{Domains: []string{"example.com"}, TLS: serverTLS, SASLSecret: make([]byte, 32), Tokens: tk},
				&fakeRouter{sessions: map[string]Endpoint{}}, newFixedCreds(b, "balcony!"))
			b.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
			var keys sasl.KeyCache
			o := client.Options{JID: jid.MustParse("juliet@example.com/balcony"), Password: "balcony!", TLS: clientTLS,
				Mechanism: sasl.SCRAMSHA1, KeyCache: &keys, UserAgent: "bench", SASL2: mode != "SASL", Bind2: mode != "SASL"}
			login := func() *client.Conn {
				cli, s := net.Pipe()
				srv.ServeConn(context.Background(), s, false)
				c, err := client.Login(context.Background(), cli, o)
				if err != nil {
					b.Fatal(err)
				}
				return c
			}
			if mode == "FAST" {
				o.RequestToken = sasl.HTSHA256Expr
				c := login()
				_ = c.Close()
				o.RequestToken, o.Token, o.Mechanism = "", c.Token, sasl.HTSHA256Expr
			}
			b.ReportAllocs()
			for b.Loop() {
				_ = login().Close()
			}
		})
	}
}
