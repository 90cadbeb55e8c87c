package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"roost/admin"
	"roost/config"
	"roost/internal/client"
	"roost/jid"
)

// TestHTTPSPortSharedByALPN runs a server with both web ports on loopback:
// an XMPP client and HTTPS share the TLS port, the plain port redirects,
// and the admin socket reports the certificates.
func TestHTTPSPortSharedByALPN(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Domains = []string{"example.org"}
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.Admin.Socket = filepath.Join(dir, "admin.sock")
	cfg.C2S.Listen = []string{"127.0.0.1:0"}
	cfg.C2S.ListenTLS = []string{"127.0.0.1:0"}
	cfg.S2S.Listen = []string{"127.0.0.1:0"}
	cfg.S2S.ListenTLS = []string{"127.0.0.1:0"}
	cfg.HTTPS.Listen = []string{"127.0.0.1:0"}
	cfg.HTTPS.HTTPListen = []string{"127.0.0.1:0"}
	srv, err := New(Options{Config: cfg, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{srv: srv, cfg: cfg, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- srv.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	if err := srv.accounts.AddUser(ctx, "alice", "alice-secret"); err != nil {
		t.Fatal(err)
	}
	secure, plain := r.addr(ListenHTTPS), r.addr(ListenHTTP)

	// The server's own self-signed certificate: trusted by pinning it.
	leaf, ok := srv.certs.Leaf("example.org")
	if !ok {
		t.Fatal("no certificate for example.org")
	}
	roots := x509Pool(leaf.Raw)

	dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
	defer dcancel()
	alice, err := client.Dial(dctx, secure, client.Options{
		JID: jid.MustParse("alice@example.org/web"), Password: "alice-secret", DirectTLS: true,
		TLS: &tls.Config{RootCAs: roots, ServerName: "example.org", NextProtos: []string{"xmpp-client"}, MinVersion: tls.VersionTLS12},
	})
	if err != nil {
		t.Fatalf("XMPP login on the shared port: %v", err)
	}
	defer alice.Close()

	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, secure)
		},
	}}
	resp, err := hc.Get("https://example.org/health")
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Status       string
		Sessions     int
		Certificates []struct{ Name, Source string }
	}
	err = json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if err != nil || resp.Proto != "HTTP/2.0" {
		t.Fatalf("health over %s: %v", resp.Proto, err)
	}
	var names []string
	for _, c := range h.Certificates {
		names = append(names, c.Name+" "+c.Source)
	}
	want := []string{"example.org self-signed", "conference.example.org self-signed", "upload.example.org self-signed"}
	if h.Sessions != 1 || !slices.Equal(names, want) {
		t.Errorf("health = %+v, want alice's session and %v", h, want)
	}
	resp, err = hc.Get("https://example.org/.well-known/host-meta.json")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	wantLinks := "{\n  \"links\": [\n    {\n      \"rel\": \"urn:xmpp:alt-connections:websocket\",\n" +
		"      \"href\": \"wss://example.org/xmpp-websocket\"\n    }\n  ]\n}\n"
	if resp.StatusCode != 200 || string(body) != wantLinks {
		t.Errorf("host-meta.json: %s %q, want %q", resp.Status, body, wantLinks)
	}

	// The chat page with the defaults: converse.js from its release,
	// this domain, this endpoint.
	resp, err = hc.Get("https://example.org/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, w := range []string{`src="` + config.DefaultChatApp + `converse.min.js"`, `default_domain: "example.org"`, `+ "/xmpp-websocket"`} {
		if resp.StatusCode != 200 || !strings.Contains(string(body), w) {
			t.Errorf("chat page: %s, lacks %s:\n%s", resp.Status, w, body)
		}
	}

	// XMPP over WebSocket on the same port, through the real router.
	if err := srv.accounts.AddUser(ctx, "bob", "bob-secret"); err != nil {
		t.Fatal(err)
	}
	bob, err := client.DialWebSocket(dctx, "wss://"+secure+"/xmpp-websocket", client.Options{
		JID: jid.MustParse("bob@example.org/browser"), Password: "bob-secret",
		TLS: &tls.Config{RootCAs: roots, ServerName: "example.org", MinVersion: tls.VersionTLS12},
	}, client.WebSocketOptions{Origin: "https://example.org"})
	if err != nil {
		t.Fatalf("XMPP over WebSocket on the shared port: %v", err)
	}
	defer bob.Close()
	if err := alice.SendRaw([]byte(`<message to='bob@example.org/browser' type='chat'><body>over the web</body></message>`)); err != nil {
		t.Fatal(err)
	}
	_ = bob.SetDeadline(time.Now().Add(10 * time.Second))
	for {
		el, err := bob.Recv()
		if err != nil {
			t.Fatalf("bob over WebSocket: %v", err)
		}
		if el.Name.Local == "message" {
			if el.Get("from") != "alice@example.org/web" || el.ChildText("jabber:client", "body") != "over the web" {
				t.Errorf("bob got %s, want alice's message", el)
			}
			break
		}
	}

	noFollow := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", "http://"+plain+"/x", nil)
	req.Host = "upload.example.org"
	resp, err = noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != "https://upload.example.org/x" {
		t.Errorf("port 80: %s Location %q, want 308 to https://upload.example.org/x", resp.Status, resp.Header.Get("Location"))
	}

	// A peer server's direct TLS stream reaches s2s on the same port, and
	// its handshake was asked for a client certificate (SASL EXTERNAL).
	asked := false
	peer, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", secure, &tls.Config{
		RootCAs: roots, ServerName: "example.org", NextProtos: []string{"xmpp-server"}, MinVersion: tls.VersionTLS12,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			asked = true
			return &tls.Certificate{}, nil
		},
	})
	if err != nil {
		t.Fatalf("xmpp-server on the shared port: %v", err)
	}
	defer peer.Close()
	if !asked {
		t.Errorf("the xmpp-server handshake did not ask for a client certificate")
	}
	peer.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(peer, "<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' "+
		"xmlns:db='jabber:server:dialback' from='peer.example' to='example.org' version='1.0'>")
	buf := make([]byte, 4096)
	var got []byte
	for !bytes.Contains(got, []byte("features")) {
		n, err := peer.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			break
		}
	}
	if !bytes.Contains(got, []byte("jabber:server")) || !bytes.Contains(got, []byte("features")) {
		t.Errorf("s2s over the shared port answered %q, want a jabber:server stream with features", got)
	}

	list, err := admin.Client{Path: cfg.Admin.Socket}.CertStatus(ctx)
	if err != nil || len(list) != 3 || list[0].Name != "example.org" || list[0].Source != "self-signed" || list[0].Fingerprint == "" {
		t.Errorf("admin CertStatus = %+v, %v", list, err)
	}
	r.stop(t)
}

func x509Pool(der []byte) *x509.CertPool {
	p := x509.NewCertPool()
	c, err := x509.ParseCertificate(der)
	if err == nil {
		p.AddCert(c)
	}
	return p
}
