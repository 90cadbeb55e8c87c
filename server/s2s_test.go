package server

import (
	"context"
	"crypto/tls"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"roost/config"
	"roost/internal/client"
	"roost/internal/dnstest"
	"roost/jid"
	"roost/stream"
	"roost/xmlstream"
)

// startFederated runs a server for domain with federation on a loopback
// port published in dns, using dns as its resolver; mods change its
// configuration.
func startFederated(t *testing.T, dns *dnstest.Server, domain string, mods ...func(*config.Config)) *running {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Domains = []string{domain}
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.Admin.Socket = filepath.Join(dir, "admin.sock")
	cfg.C2S.Listen, cfg.C2S.ListenTLS = []string{"127.0.0.1:0"}, nil
	cfg.S2S.Listen, cfg.S2S.ListenTLS = []string{"127.0.0.1:0"}, []string{"127.0.0.1:0"}
	cfg.S2S.Resolver = dns.Addr
	cfg.S2S.ConnectTimeout = 5 * time.Second
	cfg.S2S.AllowPrivateAddresses = true // the servers listen on loopback
	cfg.HTTPS.Listen = []string{"127.0.0.1:0"}
	for _, m := range mods {
		m(&cfg)
	}
	srv, err := New(Options{Config: cfg, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	for name, service := range map[string]string{ListenS2S: "_xmpp-server._tcp.", ListenS2STLS: "_xmpps-server._tcp."} {
		addr := srv.Addrs()[name][0].(*net.TCPAddr)
		dns.AddSRV(service+domain, 60, 0, 0, uint16(addr.Port), "xmpp."+domain)
	}
	dns.AddA("xmpp."+domain, 60, "127.0.0.1")
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{srv: srv, cfg: cfg, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- srv.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// await reads from c until an element satisfies match.
func await(t *testing.T, c *client.Conn, what string, match func(*xmlstream.Element) bool) *xmlstream.Element {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	for {
		el, err := c.Recv()
		if err != nil {
			t.Fatalf("%s: waiting for %s: %v", c.JID, what, err)
		}
		if match(el) {
			return el
		}
	}
}

// sendTo sends el on c.
func sendTo(t *testing.T, c *client.Conn, el *xmlstream.Element) {
	t.Helper()
	if err := c.Send(el); err != nil {
		t.Fatal(err)
	}
}

// presence is a presence stanza to to ("": broadcast) of type typ ("":
// available).
func presence(to, typ string) *xmlstream.Element {
	el := xmlstream.New(xmlstream.NSClient, "presence")
	if to != "" {
		el.SetAttr("to", to)
	}
	if typ != "" {
		el.SetAttr("type", typ)
	}
	return el
}

func presenceFrom(from, typ string) func(*xmlstream.Element) bool {
	return func(el *xmlstream.Element) bool {
		return el.Name.Local == "presence" && el.Get("type") == typ && jid.MustParse(el.Get("from")).Bare().String() == from
	}
}

// TestFederationEndToEnd: alice on a.example and bob on b.example, two
// complete servers with their self-signed certificates (so dialback),
// become contacts, see each other's presence and chat, through SRV
// records.
func TestFederationEndToEnd(t *testing.T) {
	dns := dnstest.NewServer(t, "")
	a := startFederated(t, dns, "a.example")
	b := startFederated(t, dns, "b.example")
	ctx := context.Background()
	if err := a.srv.accounts.AddUser(ctx, "alice", "alice-secret"); err != nil {
		t.Fatal(err)
	}
	if err := b.srv.accounts.AddUser(ctx, "bob", "bob-secret"); err != nil {
		t.Fatal(err)
	}
	login := func(r *running, full, pw string) *client.Conn {
		c, err := client.Dial(ctx, r.addr(ListenC2S), client.Options{
			JID: jid.MustParse(full), Password: pw,
			TLS: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}, //nolint:gosec // the server's own self-signed certificate
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	alice := login(a, "alice@a.example/laptop", "alice-secret")
	bob := login(b, "bob@b.example/phone", "bob-secret")
	send := func(c *client.Conn, el *xmlstream.Element) { sendTo(t, c, el) }
	send(alice, presence("", ""))
	send(bob, presence("", ""))

	// The subscription handshake, both ways (RFC 6121 §3.1).
	send(alice, presence("bob@b.example", "subscribe"))
	await(t, bob, "alice's subscription request", presenceFrom("alice@a.example", "subscribe"))
	send(bob, presence("alice@a.example", "subscribed"))
	await(t, alice, "bob's approval", presenceFrom("bob@b.example", "subscribed"))
	await(t, alice, "bob's presence", presenceFrom("bob@b.example", ""))
	send(bob, presence("alice@a.example", "subscribe"))
	await(t, alice, "bob's subscription request", presenceFrom("bob@b.example", "subscribe"))
	send(alice, presence("bob@b.example", "subscribed"))
	await(t, bob, "alice's presence", presenceFrom("alice@a.example", ""))

	// Chat both ways.
	chat := func(from *client.Conn, to, body string) {
		send(from, xmlstream.New(xmlstream.NSClient, "message").SetAttr("to", to).SetAttr("type", "chat").
			Append(xmlstream.New(xmlstream.NSClient, "body").AppendText(body)))
	}
	isBody := func(body string) func(*xmlstream.Element) bool {
		return func(el *xmlstream.Element) bool {
			return el.Name.Local == "message" && el.ChildText(el.Name.Space, "body") == body
		}
	}
	chat(alice, "bob@b.example", "hello bob")
	if m := await(t, bob, "alice's message", isBody("hello bob")); m.Get("from") != "alice@a.example/laptop" {
		t.Errorf("bob got a message from %s", m.Get("from"))
	}
	chat(bob, "alice@a.example/laptop", "hello alice")
	if m := await(t, alice, "bob's message", isBody("hello alice")); m.Get("from") != "bob@b.example/phone" {
		t.Errorf("alice got a message from %s", m.Get("from"))
	}

	// Going offline is seen on the other side.
	send(bob, presence("", "unavailable"))
	await(t, alice, "bob going offline", presenceFrom("bob@b.example", "unavailable"))

	// A domain that does not exist: the message bounces.
	chat(alice, "carol@nowhere.example", "anyone?")
	bounce := await(t, alice, "the bounce", func(el *xmlstream.Element) bool { return el.Get("type") == "error" })
	if bounce.Get("from") != "carol@nowhere.example" {
		t.Errorf("bounce %s", bounce)
	}
	if in, out := a.srv.s2s.Stats(); in != 1 || out != 1 {
		t.Errorf("a.example has %d inbound and %d outbound streams, want 1 and 1", in, out)
	}
}

// TestS2SLimitsFromConfig: incoming server connections count against
// [limits] max_connections_per_ip and are read at read_rate_bytes, as
// clients are (issue 18, item 2): the s2s server gets both from the
// configuration.
func TestS2SLimitsFromConfig(t *testing.T) {
	const rate = 1 << 10
	r := startFederated(t, dnstest.NewServer(t, ""), "a.example", func(c *config.Config) {
		c.Limits.MaxConnectionsPerIP = 2
		c.Limits.ReadRateBytes, c.Limits.ReadBurstBytes = rate, rate
	})
	addr := r.addr(ListenS2S)
	open := func() (net.Conn, *xmlstream.Decoder, error) {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
		if _, err := nc.Write(stream.AppendHeader(nil, stream.Header{From: "b.example", To: "a.example", Version: "1.0", ContentNS: xmlstream.NSServer, Dialback: true})); err != nil {
			t.Fatal(err)
		}
		dec := xmlstream.NewDecoder(nc, xmlstream.Limits{})
		if _, err := dec.ReadHeader(); err != nil {
			return nc, dec, err
		}
		_, err = dec.ReadElement() // features
		return nc, dec, err
	}
	first, dec, err := open()
	if err != nil {
		t.Fatalf("first stream: %v", err)
	}
	if _, _, err := open(); err != nil {
		t.Fatalf("second stream: %v", err)
	}
	if _, _, err := open(); err == nil {
		t.Fatal("a third stream from one address was served, want it refused at max_connections_per_ip = 2")
	}

	// 3 KiB of whitespace, then a request answered before TLS: at 1 KiB/s
	// after a 1 KiB burst (the header took some), about two seconds.
	payload := strings.Repeat(" ", 3<<10) + "<db:verify xmlns:db='jabber:server:dialback' from='b.example' to='a.example' id='s1'>0123abcd</db:verify>"
	start := time.Now()
	if _, err := first.Write([]byte(payload)); err != nil {
		t.Fatal(err)
	}
	el, err := dec.ReadElement()
	if err != nil || el.Name.Local != "verify" {
		t.Fatalf("got %v, %v; want the answer to <db:verify/>", el, err)
	}
	if took, want := time.Since(start), time.Duration(float64(len(payload)-rate)/rate*float64(time.Second)); took < want*9/10 {
		t.Errorf("%d bytes read in %v, want at least %v at read_rate_bytes = %d", len(payload), took, want, rate)
	}
}
