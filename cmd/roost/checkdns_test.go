package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"roost/certs"
	"roost/config"
	"roost/internal/dnstest"
	"roost/internal/xmpptest"
	"roost/server"
)

// TestCheckDNS runs `roost check dns` against a test DNS zone and a
// running server whose certificate covers the domain and conference. but
// not upload., which has no DNS record either.
func TestCheckDNS(t *testing.T) {
	dns := dnstest.NewServer(t, "")
	ca := xmpptest.NewCA(t)
	dir := t.TempDir()
	certFile, keyFile := ca.IssueFiles(t, dir, "a.example", "conference.a.example")

	cfg := config.Default()
	cfg.Domains = []string{"a.example"}
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.Admin.Socket = filepath.Join(dir, "admin.sock")
	cfg.TLS.Source = config.SourceFiles
	cfg.TLS.Certificates = []config.Certificate{{CertFile: certFile, KeyFile: keyFile}}
	cfg.C2S.Listen, cfg.C2S.ListenTLS = []string{"127.0.0.1:0"}, []string{"127.0.0.1:0"}
	cfg.S2S.Listen, cfg.S2S.ListenTLS = []string{"127.0.0.1:0"}, nil
	cfg.HTTPS.Listen = []string{"127.0.0.1:0"}
	cfg.S2S.Resolver = dns.Addr
	srv, err := server.New(server.Options{Config: cfg, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	port := func(name string) uint16 { return uint16(srv.Addrs()[name][0].(*net.TCPAddr).Port) }
	dns.AddSRV("_xmpp-client._tcp.a.example", 300, 0, 5, port(server.ListenC2S), "xmpp.a.example")
	dns.AddSRV("_xmpps-client._tcp.a.example", 300, 10, 5, port(server.ListenC2STLS), "xmpp.a.example")
	dns.AddSRV("_xmpp-server._tcp.a.example", 300, 0, 5, port(server.ListenS2S), "xmpp.a.example")
	dns.AddSRV("_xmpps-server._tcp.a.example", 300, 0, 0, 0, ".")
	dns.AddA("xmpp.a.example", 300, "127.0.0.1")
	dns.AddCNAME("conference.a.example", 300, "xmpp.a.example")
	// A domain whose server is down.
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := uint16(closed.Addr().(*net.TCPAddr).Port)
	closed.Close()
	dns.AddSRV("_xmpp-client._tcp.down.example", 300, 0, 5, closedPort, "xmpp.down.example")
	dns.AddA("xmpp.down.example", 300, "127.0.0.1")

	path := writeConfig(t, fmt.Sprintf(`domains = ["a.example"]
data_dir = %q
subdomains = ["upload"]
[s2s]
enabled = false
resolver = %q
ca_file = %q
`, filepath.Join(dir, "check"), dns.Addr, ca.File))

	tests := []struct {
		name    string
		args    []string
		want    []string // lines (without leading space) the report must contain
		problem int
	}{
		{
			name: "configured domain",
			args: []string{"check", "dns", "-config", path},
			want: []string{
				"Checking a.example",
				fmt.Sprintf("ok       _xmpp-client._tcp.a.example sends clients to xmpp.a.example, port %d (STARTTLS, priority 0, weight 5).", port(server.ListenC2S)),
				fmt.Sprintf("ok       _xmpps-client._tcp.a.example sends clients to xmpp.a.example, port %d (direct TLS, priority 10, weight 5).", port(server.ListenC2STLS)),
				"note     _xmpps-server._tcp.a.example says this domain offers no service for other servers with direct TLS (target \".\").",
				"ok       xmpp.a.example has the IPv4 address 127.0.0.1.",
				"note     xmpp.a.example points to a private address: only devices in the same network can reach it, not the rest of the internet.",
				fmt.Sprintf("ok       Port %d of xmpp.a.example (other servers, STARTTLS) answers at 127.0.0.1:%d.", port(server.ListenS2S), port(server.ListenS2S)),
				"ok       conference.a.example resolves (to 127.0.0.1).",
				"PROBLEM  upload.a.example has no DNS record, so other servers and clients cannot reach this service. Add a CNAME record for upload.a.example pointing to a.example (or an A record with your address).",
				fmt.Sprintf("ok       The certificate on port %d of xmpp.a.example is valid for a.example (issued by roost test CA).", port(server.ListenC2S)),
				"ok       It also covers conference.a.example.",
				"PROBLEM  It does not cover upload.a.example, so the upload service cannot be reached securely from other servers.",
				fmt.Sprintf("ok       Port %d of xmpp.a.example serves the same certificate.", port(server.ListenS2S)),
				"2 problems found.",
			},
			problem: 2,
		},
		{
			name: "a domain whose server is down",
			args: []string{"check", "dns", "down.example", "-config", path},
			want: []string{
				"Checking down.example",
				fmt.Sprintf("PROBLEM  Port %d of xmpp.down.example (clients, STARTTLS) does not answer (127.0.0.1:%d: connection refused: nothing listens there). Is roost running, and does your router forward port %d to this machine?", closedPort, closedPort, closedPort),
				"note     There is no SRV record for other servers (_xmpp-server._tcp.down.example): they will connect to down.example itself on port 5269. That works if down.example points at this server.",
				"PROBLEM  down.example has no address (no A or AAAA record): the name does not exist in DNS. Nobody can connect to it.",
				"PROBLEM  No port answered, so the certificate could not be checked.",
			},
			problem: 5,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			out, _, err := roost(t, "", tc.args...)
			lines := map[string]bool{}
			for _, l := range strings.Split(out, "\n") {
				lines[strings.TrimSpace(l)] = true
			}
			for _, w := range tc.want {
				if !lines[w] {
					t.Errorf("missing line:\n%s\nin the report:\n%s", w, out)
				}
			}
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%d problems", tc.problem)) {
				t.Errorf("error %v, want %d problems", err, tc.problem)
			}
			if testing.Verbose() {
				t.Log(out)
			}
			if d := time.Since(start); d > 30*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

// TestCheckDNSRejectsEmptyCAFile: a ca_file with no certificate in it is
// refused, as `roost serve` refuses it, instead of checking peers against
// fewer roots than the server would.
func TestCheckDNSRejectsEmptyCAFile(t *testing.T) {
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := writeConfig(t, fmt.Sprintf(`domains = ["a.example"]
data_dir = %q
[s2s]
ca_file = %q
`, filepath.Join(dir, "data"), caFile))
	out, _, err := roost(t, "", "check", "dns", "-config", path)
	if !errors.Is(err, certs.ErrCAFile) || !strings.HasPrefix(err.Error(), "s2s.ca_file: ") {
		t.Errorf("roost check dns = %v, want an s2s.ca_file error wrapping certs.ErrCAFile", err)
	}
	if out != "" {
		t.Errorf("printed a report with unusable roots:\n%s", out)
	}
}
