package c2s

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"roost/internal/client"
	"roost/internal/xmpptest"
	"roost/jid"
	"roost/sasl"
	"roost/stanza"
	"roost/stream"
	"roost/xmlstream"
)

// webSocket serves the harness's server over WebSocket at /xmpp-websocket
// on loopback, over TLS (wss://) or not (ws://), and returns the URL.
func (h *harness) webSocket(secure bool, o WebSocketOptions) string {
	h.t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/xmpp-websocket", h.srv.WebSocket(context.Background(), o))
	srv := httptest.NewUnstartedServer(mux)
	scheme := "ws://"
	if secure {
		srv.TLS = h.serverTLS.Clone()
		srv.TLS.NextProtos = []string{"http/1.1"}
		srv.StartTLS()
		scheme = "wss://"
	} else {
		srv.Start()
	}
	// Before the server's Shutdown (cleanups run last first): its
	// connections are the c2s server's to end.
	h.t.Cleanup(srv.Close)
	return scheme + srv.Listener.Addr().String() + "/xmpp-websocket"
}

func (h *harness) wsLogin(url, user, password, resource string, o client.Options, wo client.WebSocketOptions) (*client.Conn, error) {
	j, err := jid.New(user, "example.com", resource)
	if err != nil {
		h.t.Fatal(err)
	}
	o.JID, o.Password, o.TLS = j, password, h.clientTLS
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.DialWebSocket(ctx, url, o, wo)
	if err == nil {
		h.t.Cleanup(func() { _ = c.Close() })
	}
	return c, err
}

func (h *harness) mustWSLogin(url, user, resource string) *client.Conn {
	h.t.Helper()
	pw := map[string]string{"juliet": "balcony!", "romeo": "orchard!"}[user]
	c, err := h.wsLogin(url, user, pw, resource, client.Options{}, client.WebSocketOptions{})
	if err != nil {
		h.t.Fatalf("login %s over WebSocket: %v", user, err)
	}
	return c
}

// recvWithin reads the next element, skipping stream management requests.
func recvWithin(t *testing.T, c *client.Conn) *xmlstream.Element {
	t.Helper()
	var requests int
	return recvSkipping(t, c, &requests)
}

func TestWebSocketLogin(t *testing.T) {
	tests := []struct {
		name    string
		secure  bool
		mech    string
		binding string
	}{
		{"wss SCRAM-SHA-256", true, sasl.SCRAMSHA256, ""},
		{"wss SCRAM-SHA-256-PLUS tls-exporter", true, sasl.SCRAMSHA256Plus, sasl.BindingTLSExporter},
		{"wss SCRAM-SHA-1-PLUS tls-server-end-point", true, sasl.SCRAMSHA1Plus, sasl.BindingTLSServerEndPoint},
		{"wss PLAIN", true, sasl.Plain, ""},
		{"ws on loopback SCRAM-SHA-1", false, sasl.SCRAMSHA1, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			url := h.webSocket(tc.secure, WebSocketOptions{})
			c, err := h.wsLogin(url, "juliet", "balcony!", "web", client.Options{Mechanism: tc.mech, BindingType: tc.binding}, client.WebSocketOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := c.JID.String(); got != "juliet@example.com/web" {
				t.Errorf("bound %s, want juliet@example.com/web", got)
			}
			for _, f := range []struct{ ns, local string }{{nsSM, "sm"}, {nsCSI, "csi"}, {stream.NSBind, "bind"}} {
				if c.Features.Child(f.ns, f.local) == nil {
					t.Errorf("features after authentication = %s; want %s as over TCP", c.Features, f.local)
				}
			}
		})
	}
}

// TestWebSocketFeatures: no STARTTLS over WebSocket (RFC 7395 §3.9); the
// -PLUS mechanisms over wss:// only, where there is a TLS to bind to.
func TestWebSocketFeatures(t *testing.T) {
	for _, secure := range []bool{true, false} {
		h := newHarness(t, nil)
		url := h.webSocket(secure, WebSocketOptions{})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := client.OpenWebSocket(ctx, url, client.Options{JID: jid.MustParse("example.com"), TLS: h.clientTLS}, client.WebSocketOptions{})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if c.Features.Child(stream.NSTLS, "starttls") != nil {
			t.Errorf("secure=%v: STARTTLS offered over WebSocket: %s", secure, c.Features)
		}
		var mechs []string
		for m := range c.Features.Child(stream.NSSASL, "mechanisms").Elements() {
			mechs = append(mechs, m.Text())
		}
		want := "SCRAM-SHA-256 SCRAM-SHA-1 PLAIN"
		if secure {
			want = "SCRAM-SHA-256-PLUS SCRAM-SHA-1-PLUS " + want
		}
		if got := strings.Join(mechs, " "); got != want {
			t.Errorf("secure=%v: mechanisms %q, want %q", secure, got, want)
		}
		_ = c.Close()
	}
}

// TestWebSocketChat: a web client and a TCP client talk both ways; a
// stanza the server holds in jabber:server reaches the web client as
// jabber:client (RFC 6120 §4.8.3).
func TestWebSocketChat(t *testing.T) {
	h := newHarness(t, nil)
	url := h.webSocket(true, WebSocketOptions{})
	web := h.mustWSLogin(url, "juliet", "web")
	tcp := h.mustLogin("romeo", "orchard")
	sendChat(t, tcp, "juliet@example.com/web", "Wherefore art thou?")
	if got := recvWithin(t, web); got.Get("from") != "romeo@example.com/orchard" || got.ChildText(xmlstream.NSClient, "body") != "Wherefore art thou?" {
		t.Errorf("the web client got %s; want romeo's message", got)
	}
	sendChat(t, web, "romeo@example.com/orchard", "Here, by the balcony.")
	if got := recvWithin(t, tcp); got.Get("from") != "juliet@example.com/web" || got.ChildText(xmlstream.NSClient, "body") != "Here, by the balcony." {
		t.Errorf("the TCP client got %s; want juliet's message", got)
	}
	h.router.mu.Lock()
	ep := h.router.sessions["juliet@example.com/web"]
	h.router.mu.Unlock()
	ep.Send(xmlstream.New(xmlstream.NSServer, "message").SetAttr("from", "nurse@example.net").
		Append(xmlstream.New(xmlstream.NSServer, "body").AppendText("from afar")))
	if got := recvWithin(t, web); !got.Is(xmlstream.NSClient, "message") || got.ChildText(xmlstream.NSClient, "body") != "from afar" {
		t.Errorf("a jabber:server stanza reached the web client as %s {%s}; want jabber:client", got, got.Name.Space)
	}
}

// wsBadInput is one thing a client should not send over WebSocket.
type wsBadInput struct {
	name      string
	login     bool                           // log in first
	send      func(*testing.T, *client.Conn) // the bad input
	cond      stream.Condition
	closeCode websocket.StatusCode // of the server's closing handshake
}

func sendText(s string) func(*testing.T, *client.Conn) {
	return func(t *testing.T, c *client.Conn) {
		if err := c.SendRaw([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWebSocketBadInput: each bad message ends its own stream with a clear
// stream error, then <close/> and the WebSocket closing handshake (RFC
// 7395 §3.5, §3.6); a session beside it is not affected.
func TestWebSocketBadInput(t *testing.T) {
	const limit = 10000
	tests := []wsBadInput{
		{"two stanzas in one message", true,
			sendText(`<presence xmlns='jabber:client'/><presence xmlns='jabber:client'/>`), stream.BadFormat, websocket.StatusNormalClosure},
		{"an element and text", true,
			sendText(`<presence xmlns='jabber:client'/>hello`), stream.BadFormat, websocket.StatusNormalClosure},
		{"half an element", true,
			sendText(`<message xmlns='jabber:client' to='romeo@example.com'><body>`), stream.BadFormat, websocket.StatusNormalClosure},
		{"a binary message", true, func(t *testing.T, c *client.Conn) {
			if err := c.WebSocket().Write(context.Background(), websocket.MessageBinary, []byte(`<presence xmlns='jabber:client'/>`)); err != nil {
				t.Fatal(err)
			}
		}, stream.BadFormat, websocket.StatusUnsupportedData},
		{"an oversized message", true,
			sendText(`<message xmlns='jabber:client' to='romeo@example.com'><body>` + strings.Repeat("x", 4*limit) + `</body></message>`),
			stream.PolicyViolation, websocket.StatusMessageTooBig},
		{"an oversized message before authentication", false,
			sendText(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>` + strings.Repeat("A", 4*limit) + `</auth>`),
			stream.PolicyViolation, websocket.StatusMessageTooBig},
		{"not well-formed", true,
			sendText(`<message xmlns='jabber:client'><body></message>`), stream.NotWellFormed, websocket.StatusNormalClosure},
		{"a comment", true,
			sendText(`<message xmlns='jabber:client'><!-- x --></message>`), stream.RestrictedXML, websocket.StatusNormalClosure},
		{"<open/> in the middle of the stream", true,
			sendText(`<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.com' version='1.0'/>`), stream.BadFormat, websocket.StatusNormalClosure},
		{"a stanza before authentication", false,
			sendText(`<message xmlns='jabber:client' to='romeo@example.com'><body>hi</body></message>`), stream.NotAuthorized, websocket.StatusNormalClosure},
	}
	h := newHarness(t, func(o *Options) { o.Limits.MaxStanzaBytes = limit })
	url := h.webSocket(true, WebSocketOptions{})
	bystander := h.mustWSLogin(url, "romeo", "bystander")
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c *client.Conn
			var err error
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if tc.login {
				c, err = h.wsLogin(url, "juliet", "balcony!", "bad"+string(rune('a'+i)), client.Options{}, client.WebSocketOptions{})
			} else {
				c, err = client.OpenWebSocket(ctx, url, client.Options{JID: jid.MustParse("example.com"), TLS: h.clientTLS}, client.WebSocketOptions{})
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.send(t, c)
			xmpptest.ExpectStreamError(t, c, tc.cond)
			// The closing handshake: the server's close frame.
			_, err = c.Recv()
			if code := websocket.CloseStatus(err); code != tc.closeCode {
				t.Errorf("after <close/>: %v (close status %d), want the close status %d", err, code, tc.closeCode)
			}
		})
	}
	// Nothing else was affected.
	tcp := h.mustLogin("juliet", "after")
	sendChat(t, tcp, "romeo@example.com/bystander", "still there?")
	if got := recvWithin(t, bystander); got.ChildText(xmlstream.NSClient, "body") != "still there?" {
		t.Errorf("the session beside got %s; want the message", got)
	}
}

// TestWebSocketHandshakeRefused: what is not XMPP over WebSocket, or not
// from an allowed place, gets a clear HTTP error before any upgrade.
func TestWebSocketHandshakeRefused(t *testing.T) {
	tests := []struct {
		name     string
		secure   bool
		wo       client.WebSocketOptions
		wantCode int
		wantText string
	}{
		{"no subprotocol", true, client.WebSocketOptions{Subprotocols: []string{}}, http.StatusBadRequest, `subprotocol "xmpp"`},
		{"another subprotocol", true, client.WebSocketOptions{Subprotocols: []string{"chat"}}, http.StatusBadRequest, `subprotocol "xmpp"`},
		{"a page from elsewhere", true, client.WebSocketOptions{Origin: "https://evil.example"}, http.StatusForbidden, "https://evil.example may not connect"},
		{"http page of a hosted domain", true, client.WebSocketOptions{Origin: "http://example.com"}, http.StatusForbidden, "may not connect"},
	}
	h := newHarness(t, nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			url := h.webSocket(tc.secure, WebSocketOptions{Origins: []string{"https://chat.example.net"}})
			_, err := h.wsLogin(url, "juliet", "balcony!", "x", client.Options{}, tc.wo)
			var he *client.HTTPError
			if !errors.As(err, &he) || he.Code != tc.wantCode || !strings.Contains(he.Text, tc.wantText) {
				t.Fatalf("got %v; want HTTP %d saying %q", err, tc.wantCode, tc.wantText)
			}
		})
	}
	// Allowed pages log in.
	url := h.webSocket(true, WebSocketOptions{Origins: []string{"https://chat.example.net"}})
	for _, origin := range []string{"https://example.com", "https://example.com:8443", "https://chat.example.net", "https://CHAT.example.net:443"} {
		c, err := h.wsLogin(url, "juliet", "balcony!", "x", client.Options{}, client.WebSocketOptions{Origin: origin})
		if err != nil {
			t.Errorf("a page from %s: %v, want it allowed", origin, err)
			continue
		}
		_ = c.Close()
	}
}

func TestWebSocketOrigins(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Domains = []string{"example.com", "localhost"} })
	tests := []struct {
		origins []string
		origin  string
		host    string
		want    bool
	}{
		{nil, "https://example.com", "xmpp.example.org:5443", true},
		{nil, "https://Example.COM:8443", "xmpp.example.org:5443", true},
		{nil, "http://example.com", "xmpp.example.org:5443", false},
		{nil, "http://localhost:8080", "localhost:5443", true},
		{nil, "https://sub.example.com", "example.com:5443", false},
		{nil, "https://example.com:5443", "example.com:5443", true},
		{nil, "https://web.example.org:5443", "web.example.org:5443", true}, // the endpoint's own origin
		{nil, "null", "example.com", false},
		{nil, "not a url %", "example.com", false},
		{[]string{"https://chat.example.net"}, "https://chat.example.net", "example.com", true},
		{[]string{"https://chat.example.net"}, "https://chat.example.net:444", "example.com", false},
		{[]string{"https://chat.example.net"}, "http://chat.example.net", "example.com", false},
		{[]string{"http://127.0.0.81:8080"}, "http://127.0.0.81:8080", "127.0.0.80:5443", true},
		{[]string{"*"}, "https://anything.example", "example.com", true},
	}
	for _, tc := range tests {
		hd := h.srv.WebSocket(context.Background(), WebSocketOptions{Origins: tc.origins}).(*wsHandler)
		if got := hd.allowed(tc.origin, tc.host); got != tc.want {
			t.Errorf("origins %q: a page from %q on host %q allowed %v, want %v", tc.origins, tc.origin, tc.host, got, tc.want)
		}
	}
}

// TestWebSocketPlainOnlyOnLoopback: ws:// from anywhere but loopback is
// refused.
func TestWebSocketPlainOnlyOnLoopback(t *testing.T) {
	h := newHarness(t, nil)
	hd := h.srv.WebSocket(context.Background(), WebSocketOptions{})
	for _, tc := range []struct {
		remote string
		want   int
	}{
		{"192.0.2.7:40000", http.StatusForbidden},
		{"[2001:db8::1]:40000", http.StatusForbidden},
		{"127.0.0.1:40000", http.StatusBadRequest}, // allowed on to the subprotocol check
		{"[::1]:40000", http.StatusBadRequest},
	} {
		req := httptest.NewRequest("GET", "http://example.com/xmpp-websocket", nil)
		req.RemoteAddr = tc.remote
		rec := httptest.NewRecorder()
		hd.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("ws:// from %s: HTTP %d %q, want %d", tc.remote, rec.Code, rec.Body, tc.want)
		}
	}
}

// TestWebSocketClose: the client closes its stream; the server answers
// <close/> (RFC 7395 §3.6) and then the WebSocket closing handshake.
func TestWebSocketClose(t *testing.T) {
	h := newHarness(t, nil)
	url := h.webSocket(true, WebSocketOptions{})
	c := h.mustWSLogin(url, "juliet", "web")
	if err := c.SendRaw([]byte(stream.FramedClose)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Recv(); !errors.Is(err, xmlstream.ErrStreamEnd) {
		t.Fatalf("after <close/>: %v, want the server's <close/>", err)
	}
	if _, err := c.Recv(); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Fatalf("then %v, want a normal closure", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for h.srv.ConnCount() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := h.srv.ConnCount(); n != 0 {
		t.Errorf("%d connections after the close", n)
	}
}

// TestWebSocketKeepalive: a quiet session is sent WebSocket pings (RFC
// 7395 §3.8), not whitespace.
func TestWebSocketKeepalive(t *testing.T) {
	h := newHarness(t, func(o *Options) {
		o.KeepaliveInterval = 50 * time.Millisecond
		o.IdleTimeout = 10 * time.Second
	})
	url := h.webSocket(true, WebSocketOptions{})
	var pings atomic.Int32
	c, err := h.wsLogin(url, "juliet", "balcony!", "web", client.Options{}, client.WebSocketOptions{OnPing: func() { pings.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	// Reading handles the pings; nothing but them arrives.
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	el, err := c.Recv()
	if err == nil {
		t.Fatalf("got %s, want nothing but pings", el)
	}
	if n := pings.Load(); n < 2 {
		t.Errorf("%d pings in 500ms with a keepalive interval of 50ms, want several", n)
	}
}

// TestWebSocketIdlePing: an idle session is pinged (XEP-0199) as on TCP,
// and one that does not answer ends with connection-timeout.
func TestWebSocketIdlePing(t *testing.T) {
	h := newHarness(t, func(o *Options) {
		o.IdleTimeout = 150 * time.Millisecond
		o.PingTimeout = 150 * time.Millisecond
		o.KeepaliveInterval = time.Hour
	})
	url := h.webSocket(true, WebSocketOptions{})
	c := h.mustWSLogin(url, "juliet", "web")
	answerPing(t, c, serverPing(t, c))
	serverPing(t, c) // the session lives on, idle again
	xmpptest.ExpectStreamError(t, c, stream.ConnectionTimeout)
}

// TestWebSocketSeeOther: with see-other-uri configured, every client is
// sent there (RFC 7395 §3.6.1).
func TestWebSocketSeeOther(t *testing.T) {
	h := newHarness(t, nil)
	url := h.webSocket(true, WebSocketOptions{SeeOtherURI: "wss://xmpp.example.com/ws"})
	_, err := h.wsLogin(url, "juliet", "balcony!", "web", client.Options{}, client.WebSocketOptions{})
	if !errors.Is(err, client.ErrSeeOther) || !strings.Contains(err.Error(), "wss://xmpp.example.com/ws") {
		t.Fatalf("got %v; want to be sent to wss://xmpp.example.com/ws", err)
	}
}

func TestWebSocketShutdown(t *testing.T) {
	h := newHarness(t, nil)
	shutdownEnds(t, h, h.mustWSLogin(h.webSocket(true, WebSocketOptions{}), "juliet", "web"))
}

// TestWebSocketMaxConnsPerIP: WebSockets count with the TCP connections;
// one over the limit is refused with 503 before the upgrade.
func TestWebSocketMaxConnsPerIP(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.MaxConnsPerIP = 1 })
	url := h.webSocket(true, WebSocketOptions{})
	h.mustWSLogin(url, "juliet", "a")
	_, err := h.wsLogin(url, "romeo", "orchard!", "b", client.Options{}, client.WebSocketOptions{})
	var he *client.HTTPError
	if !errors.As(err, &he) || he.Code != http.StatusServiceUnavailable {
		t.Fatalf("second WebSocket from one address: %v, want HTTP 503", err)
	}
}

// TestWebSocketCrowdFromOneAddress: WebSockets that never log in make
// room, at the per-address limit, for one that does (issue 18, item 4).
func TestWebSocketCrowdFromOneAddress(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.MaxConnsPerIP = 2 })
	url := h.webSocket(true, WebSocketOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var silent []*websocket.Conn
	for range 2 {
		ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{
			Subprotocols: []string{WSProtocol},
			HTTPClient:   &http.Client{Transport: &http.Transport{TLSClientConfig: h.clientTLS}},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer ws.CloseNow()
		silent = append(silent, ws)
	}
	// The server adds a WebSocket after answering the upgrade.
	for h.srv.ConnCount() < len(silent) {
		if ctx.Err() != nil {
			t.Fatalf("%d connections in the server, want %d", h.srv.ConnCount(), len(silent))
		}
		time.Sleep(time.Millisecond)
	}
	j := h.mustWSLogin(url, "juliet", "web")
	got := ""
	for !strings.Contains(got, "</stream:error>") && !strings.Contains(got, "<close") {
		_, msg, err := silent[0].Read(ctx)
		if err != nil {
			t.Fatalf("oldest silent WebSocket: %v after %q, want a stream error", err, got)
		}
		got += string(msg)
	}
	if !strings.Contains(got, "policy-violation") {
		t.Errorf("oldest silent WebSocket got %q, want a policy-violation stream error", got)
	}
	if err := j.Send(xmlstream.New(xmlstream.NSClient, "presence")); err != nil {
		t.Errorf("the session that logged in: %v", err)
	}
}

// TestResumeAcrossTransports: a session begun over TCP is resumed over
// WebSocket, and the other way round (XEP-0198 §5): what was not
// acknowledged and what queued meanwhile arrive on the new transport, and
// the session goes on both ways.
func TestResumeAcrossTransports(t *testing.T) {
	for _, tc := range []struct {
		name       string
		first, now string // "tcp" or "ws"
	}{{"TCP to WebSocket", "tcp", "ws"}, {"WebSocket to TCP", "ws", "tcp"}, {"WebSocket to WebSocket", "ws", "ws"}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			url := h.webSocket(true, WebSocketOptions{})
			login := func(transport, resource string, o client.Options) *client.Conn {
				t.Helper()
				var c *client.Conn
				var err error
				if transport == "ws" {
					c, err = h.wsLogin(url, "juliet", "balcony!", resource, o, client.WebSocketOptions{})
				} else {
					c, err = h.login("juliet", "balcony!", resource, o)
				}
				if err != nil {
					t.Fatal(err)
				}
				return c
			}
			const juliet = "juliet@example.com/phone"
			j := login(tc.first, "phone", client.Options{})
			r := h.mustLogin("romeo", "orchard")
			id := enableResume(t, j, "300")
			sendChat(t, r, juliet, "one", "two")
			recvWithin(t, j)
			recvWithin(t, j)
			unackedOf(t, h, juliet, 2)
			_ = j.NetConn().Close() // the network is gone
			hibernating(t, h, juliet)
			sendChat(t, r, juliet, "three")

			j2 := login(tc.now, "", client.Options{NoBind: true})
			if err := j2.Send(xmlstream.New(nsSM, "resume").SetAttr("previd", id).SetAttr("h", "1")); err != nil {
				t.Fatal(err)
			}
			if el := recvWithin(t, j2); !el.Is(nsSM, "resumed") || el.Get("previd") != id {
				t.Fatalf("got %s; want <resumed previd=%q/>", el, id)
			}
			for _, want := range []string{"two", "three"} {
				if el := recvWithin(t, j2); el.ChildText(xmlstream.NSClient, "body") != want {
					t.Fatalf("got %s; want the message %q on the new transport", el, want)
				}
			}
			sendChat(t, j2, "romeo@example.com/orchard", "back")
			if el := recvWithin(t, r); el.ChildText(xmlstream.NSClient, "body") != "back" || el.Get("from") != juliet {
				t.Fatalf("romeo got %s; want juliet's message from %s", el, juliet)
			}
			h.router.mu.Lock()
			st, _ := h.router.sessions[juliet].(*session)
			h.router.mu.Unlock()
			st.mu.Lock()
			_, isWS := st.t.(*wsStream)
			st.mu.Unlock()
			if isWS != (tc.now == "ws") {
				t.Errorf("the resumed session's transport is a WebSocket: %v, want %v", isWS, tc.now == "ws")
			}
		})
	}
}

// TestWebSocketStanzaError: a stanza error over WebSocket leaves the
// stream open, as over TCP.
func TestWebSocketStanzaError(t *testing.T) {
	h := newHarness(t, nil)
	url := h.webSocket(true, WebSocketOptions{})
	c := h.mustWSLogin(url, "juliet", "web")
	if err := c.SendRaw([]byte(`<iq xmlns='jabber:client' type='set' id='b2'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`)); err != nil {
		t.Fatal(err)
	}
	el := recvWithin(t, c)
	if st, err := stanza.Parse(el); err != nil || el.Get("type") != "error" || st.ID != "b2" {
		t.Fatalf("got %s; want an error reply to the second bind", el)
	}
	if err := c.SendRaw([]byte(`<iq xmlns='jabber:client' type='set' id='s'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>`)); err != nil {
		t.Fatal(err)
	}
	if el := recvWithin(t, c); el.Get("type") != "result" || el.Get("id") != "s" {
		t.Fatalf("got %s; want the session result, the stream still open", el)
	}
}

// TestSASL2OverWebSocket: SASL2 (XEP-0388) works over WebSocket as over
// TCP, each of its elements and the features prepared for both framings
// a message of its own: with legacy binding after it, with Bind 2
// (XEP-0386), with a FAST token (XEP-0484), and with a session resumed
// inline (XEP-0198) from TCP to WebSocket and back.
func TestSASL2OverWebSocket(t *testing.T) {
	h, _, _ := fastHarness(t, nil)
	url := h.webSocket(true, WebSocketOptions{})
	const ua = "5b9f7b8e-0c0e-4a6e-9f7e-3d1a2c4b5e6f"

	// SASL2 alone: the success, the features to bind with, then binding.
	desk, err := h.wsLogin(url, "juliet", "balcony!", "desk", client.Options{SASL2: true, SSDP: true, Mechanism: sasl.SCRAMSHA256Plus}, client.WebSocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := desk.JID.String(); got != "juliet@example.com/desk" {
		t.Errorf("SASL2 then legacy binding bound %s, want juliet@example.com/desk", got)
	}

	// Bind 2 with resumable stream management, and a token.
	c, err := h.wsLogin(url, "juliet", "balcony!", "", client.Options{SASL2: true, SSDP: true, Bind2: true, UserAgent: ua,
		RequestToken: sasl.HTSHA256Expr, Inline: []*xmlstream.Element{xmlstream.New(nsSM, "enable").SetAttr("resume", "true")}},
		client.WebSocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	enabled := c.Success.Child(nsBind2, "bound").Child(nsSM, "enabled")
	if enabled == nil || c.Token == "" {
		t.Fatalf("success %s: want <bound/> with <enabled/>, and a token", c.Success)
	}
	if c.Features.Child(nsSM, "sm") != nil || c.Features.Child(nsCSI, "csi") == nil {
		t.Errorf("features after Bind 2 %s: want csi and no sm (it is on)", c.Features)
	}
	full, id := c.JID.String(), enabled.Get("id")
	r := h.mustLogin("romeo", "orchard")

	// Each time the connection is lost, a message comes meanwhile and the
	// device comes back with its token, over the other transport.
	token := c.Token
	for i, now := range []string{"tcp", "ws", "ws"} {
		_ = c.NetConn().Close()
		hibernating(t, h, full)
		body := fmt.Sprintf("missed %d", i)
		sendChat(t, r, full, body)
		o := client.Options{SASL2: true, Bind2: true, UserAgent: ua, Mechanism: sasl.HTSHA256Expr, Token: token, Count: uint64(i + 1),
			Resume: xmlstream.New(nsSM, "resume").SetAttr("previd", id).SetAttr("h", strconv.Itoa(i))}
		if now == "ws" {
			c, err = h.wsLogin(url, "juliet", "", "", o, client.WebSocketOptions{})
		} else {
			c, err = h.login("juliet", "", "", o)
		}
		if err != nil {
			t.Fatalf("FAST resumption over %s: %v", now, err)
		}
		if res := c.Success.Child(nsSM, "resumed"); res == nil || res.Get("previd") != id || c.JID.String() != full {
			t.Fatalf("FAST resumption over %s: success %s; want <resumed previd=%q/> for %s", now, c.Success, id, full)
		}
		if c.Features.Child(nsCSI, "csi") == nil {
			t.Errorf("features after resuming over %s: %s, want a bound session's", now, c.Features)
		}
		if el := recvWithin(t, c); el.ChildText(xmlstream.NSClient, "body") != body {
			t.Fatalf("over %s got %s; want the message %q", now, el, body)
		}
		// The session goes on both ways; the client has handled one more
		// stanza (h above).
		sendChat(t, c, "romeo@example.com/orchard", "back "+now)
		if el := recvWithin(t, r); el.ChildText(xmlstream.NSClient, "body") != "back "+now || el.Get("from") != full {
			t.Fatalf("romeo got %s; want juliet's message from %s", el, full)
		}
		if c.Token != "" {
			token = c.Token
		}
	}
}
