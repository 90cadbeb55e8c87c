//go:build interop

package interop

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"roost/internal/client"
	"roost/internal/xmpptest"
	"roost/jid"
	"roost/stream"
	"roost/xmlstream"
)

// TestInteropSlixmppChat logs two slixmpp clients in with each SCRAM
// mechanism, over STARTTLS and direct TLS, has them exchange chat messages
// both ways and ping the server.
func TestInteropSlixmppChat(t *testing.T) {
	ca := xmpptest.NewCA(t)
	r := startRoost(t, "127.0.0.2", "a.example", ca)
	r.AddUser(t, "alice", "alice-secret")
	r.AddUser(t, "bob@a.example", "bob-secret")

	tests := []struct {
		name      string
		port      string
		directTLS bool
		mech1     string
		mech2     string
		wantMech1 string
		wantMech2 string
	}{
		{"SCRAM-SHA-256 and SCRAM-SHA-1 over STARTTLS", "5222", false, "SCRAM-SHA-256", "SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-1"},
		{"default mechanism choice", "5222", false, "", "", "SCRAM-SHA-256", "SCRAM-SHA-256"},
		{"direct TLS on 5223", "5223", true, "SCRAM-SHA-256", "SCRAM-SHA-256", "SCRAM-SHA-256", "SCRAM-SHA-256"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"chat", "--host", r.IP, "--port", tc.port, "--ca", ca.File,
				"--jid", "alice@a.example/laptop", "--password", "alice-secret", "--mech", tc.mech1,
				"--jid2", "bob@a.example/phone", "--password2", "bob-secret", "--mech2", tc.mech2}
			if tc.directTLS {
				args = append(args, "--direct-tls")
			}
			if tc.mech1 == "" {
				args = dropFlag(args, "--mech")
				args = dropFlag(args, "--mech2")
			}
			ev := slix(t, args...)
			want := []map[string]any{
				{"event": "login", "jid": "alice@a.example/laptop", "mechanism": tc.wantMech1},
				{"event": "login", "jid": "bob@a.example/phone", "mechanism": tc.wantMech2},
				{"event": "message", "to": "bob@a.example", "frm": "alice@a.example/laptop", "body": "hello from alice", "type": "chat"},
				{"event": "message", "to": "alice@a.example/laptop", "frm": "bob@a.example/phone", "body": "hello back", "type": "chat"},
				{"event": "ping", "ok": true},
			}
			assertEvents(t, ev, want)
		})
	}
}

// TestInteropSlixmppBadPassword: a wrong password and an unknown user are
// both refused.
func TestInteropSlixmppBadPassword(t *testing.T) {
	ca := xmpptest.NewCA(t)
	r := startRoost(t, "127.0.0.2", "a.example", ca)
	r.AddUser(t, "alice", "alice-secret")
	for _, tc := range []struct{ name, jid, pw string }{
		{"wrong password", "alice@a.example/x", "not-her-password"},
		{"unknown user", "mallory@a.example/x", "whatever1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := slix(t, "login", "--host", r.IP, "--ca", ca.File, "--jid", tc.jid, "--password", tc.pw, "--mech", "SCRAM-SHA-256")
			assertEvents(t, ev, []map[string]any{{"event": "auth-failed"}})
		})
	}
}

// TestInteropBadInput sends what a broken or hostile client might, checks
// the exact stream or stanza error, then that slixmpp clients still log in
// and chat.
func TestInteropBadInput(t *testing.T) {
	ca := xmpptest.NewCA(t)
	r := startRoost(t, "127.0.0.2", "a.example", ca, func(c *roostConfig) { c.Limits = "max_stanza_bytes = 16384" })
	r.AddUser(t, "alice", "alice-secret")
	r.AddUser(t, "bob", "bob-secret")
	r.AddUser(t, "mallory", "mallory-secret")

	login := func(t *testing.T) *client.Conn {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := client.Dial(ctx, net.JoinHostPort(r.IP, "5222"), client.Options{
			JID: jid.MustParse("mallory@a.example/x"), Password: "mallory-secret", TLS: ca.ClientTLS("a.example"),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	tests := []struct {
		name string
		send string
		cond stream.Condition
	}{
		{"XML comment", `<message to='bob@a.example'><!-- hi --></message>`, stream.RestrictedXML},
		{"processing instruction", `<?xml-stylesheet href='x'?>`, stream.RestrictedXML},
		{"DTD", `<!DOCTYPE lol [<!ENTITY lol 'lol'>]>`, stream.RestrictedXML},
		{"oversized stanza", `<message to='bob@a.example'><body>` + strings.Repeat("A", 40000) + `</body></message>`, stream.PolicyViolation},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := login(t)
			go func() { _ = c.SendRaw([]byte(tc.send)) }()
			xmpptest.ExpectStreamError(t, c, tc.cond)
			chatStillWorks(t, r, ca)
		})
	}

	t.Run("stanza before authentication", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var d net.Dialer
		nc, err := d.DialContext(ctx, "tcp", net.JoinHostPort(r.IP, "5222"))
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
		dec := xmlstream.NewDecoder(nc, xmlstream.Limits{})
		if _, err := nc.Write(stream.AppendHeader(nil, stream.Header{To: "a.example", Version: "1.0", ContentNS: xmlstream.NSClient})); err != nil {
			t.Fatal(err)
		}
		if _, err := dec.ReadHeader(); err != nil {
			t.Fatal(err)
		}
		if f, err := dec.ReadElement(); err != nil || f.Child(stream.NSTLS, "starttls") == nil {
			t.Fatalf("features: %v, %v", f, err)
		}
		if _, err := nc.Write([]byte(`<message to='bob@a.example'><body>unauthenticated</body></message>`)); err != nil {
			t.Fatal(err)
		}
		el, err := dec.ReadElement()
		if err != nil || !el.Is(xmlstream.NSStream, "error") {
			t.Fatalf("got %v, %v; want a stream error", el, err)
		}
		if got := stream.ParseError(el).Condition; got != stream.PolicyViolation {
			t.Errorf("before TLS: stream error %s, want policy-violation (STARTTLS required)", got)
		}
		chatStillWorks(t, r, ca)
	})

	t.Run("stanza after TLS before SASL", func(t *testing.T) {
		raw := rawAfterTLS(t, r, ca)
		if err := raw.send(`<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>`); err != nil {
			t.Fatal(err)
		}
		raw.expectStreamError(t, stream.NotAuthorized)
		chatStillWorks(t, r, ca)
	})

	t.Run("malformed JID in to", func(t *testing.T) {
		c := login(t)
		if err := c.SendRaw([]byte(`<message to='bob@@a.example' id='bad1' type='chat'><body>x</body></message>`)); err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		el, err := c.Recv()
		if err != nil {
			t.Fatal(err)
		}
		e := el.Child(xmlstream.NSClient, "error")
		if el.Get("type") != "error" || el.Get("id") != "bad1" || e.Get("type") != "modify" || e.Child("urn:ietf:params:xml:ns:xmpp-stanzas", "jid-malformed") == nil {
			t.Fatalf("got %s, want a modify/jid-malformed message error with id bad1", el)
		}
		chatStillWorks(t, r, ca)
	})
}

func chatStillWorks(t *testing.T, r *Roost, ca *xmpptest.CA) {
	t.Helper()
	ev := slix(t, "chat", "--host", r.IP, "--ca", ca.File,
		"--jid", "alice@a.example/a", "--password", "alice-secret",
		"--jid2", "bob@a.example/b", "--password2", "bob-secret")
	if n := countEvents(ev, "message"); n != 2 {
		t.Fatalf("after the bad input, slixmpp exchanged %d messages, want 2: %v", n, ev)
	}
}

func assertEvents(t *testing.T, got, want []map[string]any) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d events %v, want %d: %v", len(got), got, len(want), want)
	}
	for i := range want {
		for k, v := range want[i] {
			if got[i][k] != v {
				t.Errorf("event %d %s = %v, want %v (event %v)", i, k, got[i][k], v, got[i])
			}
		}
	}
}

func countEvents(ev []map[string]any, kind string) int {
	n := 0
	for _, e := range ev {
		if e["event"] == kind {
			n++
		}
	}
	return n
}

func dropFlag(args []string, flag string) []string {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == flag {
			return append(append([]string{}, args[:i]...), args[i+2:]...)
		}
	}
	return args
}

// raw is a hand-driven stream for negotiation tests.
type raw struct {
	nc  net.Conn
	dec *xmlstream.Decoder
}

// rawAfterTLS negotiates STARTTLS by hand and stops before SASL.
func rawAfterTLS(t *testing.T, r *Roost, ca *xmpptest.CA) *raw {
	t.Helper()
	nc, err := net.DialTimeout("tcp", net.JoinHostPort(r.IP, "5222"), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	c := &raw{nc: nc, dec: xmlstream.NewDecoder(nc, xmlstream.Limits{})}
	c.open(t)
	if err := c.send(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`); err != nil {
		t.Fatal(err)
	}
	if el, err := c.dec.ReadElement(); err != nil || !el.Is(stream.NSTLS, "proceed") {
		t.Fatalf("starttls: %v, %v", el, err)
	}
	tc := tls.Client(nc, ca.ClientTLS(r.Domain))
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c.nc, c.dec = tc, xmlstream.NewDecoder(tc, xmlstream.Limits{})
	c.open(t)
	return c
}

func (c *raw) open(t *testing.T) {
	t.Helper()
	if _, err := c.nc.Write(stream.AppendHeader(nil, stream.Header{To: "a.example", Version: "1.0", ContentNS: xmlstream.NSClient})); err != nil {
		t.Fatal(err)
	}
	if _, err := c.dec.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	if f, err := c.dec.ReadElement(); err != nil || !f.Is(xmlstream.NSStream, "features") {
		t.Fatalf("features: %v, %v", f, err)
	}
}

func (c *raw) send(s string) error {
	_, err := c.nc.Write([]byte(s))
	return err
}

func (c *raw) expectStreamError(t *testing.T, cond stream.Condition) {
	t.Helper()
	for {
		el, err := c.dec.ReadElement()
		if err != nil {
			t.Fatalf("read: %v, want stream error %s", err, cond)
		}
		if el.Is(xmlstream.NSStream, "error") {
			if got := stream.ParseError(el).Condition; got != cond {
				t.Fatalf("stream error %s, want %s", got, cond)
			}
			return
		}
	}
}
