package loadtool

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/miekg/dns"

	"roost/config"
)

func TestRelayFloor(t *testing.T) {
	ca, err := newBenchCA()
	if err != nil {
		t.Fatal(err)
	}
	files, err := ca.issue(t.TempDir(), KeyECDSA, "floor.test")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(files.Cert, files.Key)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	r := &Relay{TLS: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	go func() { done <- r.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	target := Target{Name: "floor", Addr: ln.Addr().String(), Domain: "floor.test", TLS: ca.clientTLS("floor.test"), PID: os.Getpid()}
	if _, err := WaitReady(testCtx(t), target, true, time.Millisecond, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, rate := range []float64{0, 300} {
		users := userNames(4)
		res, err := Msgs(testCtx(t), MsgsOptions{
			A: target, B: target, AUsers: users[:2], BUsers: users[2:], Pairs: 2, Window: 4, Rate: rate,
			Run: Run{Warmup: 100 * time.Millisecond, Duration: 500 * time.Millisecond}, Relay: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		checkMsgs(t, res)
		if _, ok := res.CPU["floor"]; !ok {
			t.Errorf("no CPU measured for the relay: %v", res.CPU)
		}
	}
	// The floor of a login: TLS handshakes alone.
	lr, err := Logins(testCtx(t), LoginsOptions{
		Target: target, Users: []string{"-"}, Workers: 2, Login: LoginOptions{TLSOnly: true},
		Warmup: 100 * time.Millisecond, Duration: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if lr.Logins == 0 || lr.Failed != 0 || lr.PerCPU <= 0 {
		t.Errorf("handshakes %d, failed %d, per CPU %v: want all measured", lr.Logins, lr.Failed, lr.PerCPU)
	}
}

func TestDNS(t *testing.T) {
	// The server takes one port for UDP and TCP alike: a free UDP port may
	// be a busy TCP one, so a few ports are tried.
	var addr string
	var stop func()
	for try := 0; stop == nil; try++ {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = pc.LocalAddr().String()
		_ = pc.Close()
		if stop, err = startDNS(addr, map[string]string{"roost.test": "127.0.73.10"}); err != nil && (try == 9 || !errors.Is(err, syscall.EADDRINUSE)) {
			t.Fatal(err)
		}
	}
	defer stop()
	tests := []struct {
		name   string
		qtype  uint16
		rcode  int
		answer string
	}{
		{"roost.test.", dns.TypeA, dns.RcodeSuccess, "127.0.73.10"},
		{"ROOST.test.", dns.TypeA, dns.RcodeSuccess, "127.0.73.10"},
		{"roost.test.", dns.TypeAAAA, dns.RcodeSuccess, ""},
		{"_xmpp-server._tcp.roost.test.", dns.TypeSRV, dns.RcodeNameError, ""},
		{"example.org.", dns.TypeA, dns.RcodeNameError, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name+dns.TypeToString[tc.qtype], func(t *testing.T) {
			m := new(dns.Msg)
			m.SetQuestion(tc.name, tc.qtype)
			in, err := dns.Exchange(m, addr)
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if len(in.Answer) == 1 {
				got = in.Answer[0].(*dns.A).A.String()
			}
			if in.Rcode != tc.rcode || got != tc.answer {
				t.Errorf("rcode %d, answer %q; want %d, %q", in.Rcode, got, tc.rcode, tc.answer)
			}
		})
	}
}

// TestPeerConfigs renders the configurations in bench/peers: roost's must
// be valid for roost's own parser, so that the suite keeps working as the
// configuration grows.
func TestPeerConfigs(t *testing.T) {
	ca, err := newBenchCA()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files, err := ca.issue(dir, KeyECDSA, "roost.test")
	if err != nil {
		t.Fatal(err)
	}
	data := configData{
		IP: "127.0.73.10", Domain: "roost.test", Dir: dir,
		Cert: files.Cert, Key: files.Key, Both: files.Both, CA: files.CA,
		DNS: "127.0.73.15:5300", DNSAt: "127.0.73.15@5300", Port: 5222,
	}
	for _, kind := range []string{KindRoost, KindProsody, KindEjabberd} {
		t.Run(kind, func(t *testing.T) {
			spec := specFor(kind)
			text, err := os.ReadFile(filepath.Join("..", "..", "bench", "peers", spec.template))
			if err != nil {
				t.Fatal(err)
			}
			tmpl, err := template.New(kind).Option("missingkey=error").Parse(string(text))
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := tmpl.Execute(&out, data); err != nil {
				t.Fatal(err)
			}
			s := out.String()
			if !strings.Contains(s, "127.0.73.10") || !strings.Contains(s, "roost.test") {
				t.Errorf("rendered %s lacks the address or domain:\n%s", kind, s)
			}
			if kind != KindRoost {
				return
			}
			cfg, err := config.Parse(filepath.Join(data.Dir, "roost.toml"), out.Bytes())
			if err != nil {
				t.Fatalf("roost rejects its bench configuration: %v", err)
			}
			if cfg.Limits.ReadRateBytes != 1<<30 || cfg.Limits.MaxConnectionsPerIP != 65535 {
				t.Errorf("rate limits not off: %+v", cfg.Limits)
			}
		})
	}
}

func sampleReport() *Report {
	msgs := func(rate, perCPU float64, p99 time.Duration) *MsgsResult {
		return &MsgsResult{Rate: rate, PerCPU: perCPU, Latency: Latency{P50: p99 / 4, P90: p99 / 2, P99: p99}, TLS: "TLS 1.3 TLS_AES_128_GCM_SHA256"}
	}
	return &Report{
		Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Elapsed: 9 * time.Minute,
		Plan: DefaultPlan(), Mech: MechSCRAMSHA1,
		Machine: Machine{CPU: "Test CPU", Cores: 2, MemoryMB: 1024, Kernel: "6.1", OS: "Debian", Go: "go1.26"},
		Servers: []*ServerResult{
			{Name: KindRoost, Ready: 20 * time.Millisecond, RSSStart: 6 << 20, Conns: &ConnsResult{PerSession: 20 << 10, Rate: 250},
				Msgs: msgs(60000, 40000, 8*time.Millisecond), Latency: msgs(2000, 12000, time.Millisecond), Logins: &LoginsResult{Rate: 900, PerCPU: 1000}},
			{Name: KindProsody, Ready: 60 * time.Millisecond, RSSStart: 16 << 20, Conns: &ConnsResult{PerSession: 50 << 10, Rate: 110},
				Msgs: msgs(5000, 8000, 300*time.Millisecond), Latency: msgs(2000, 2500, 20*time.Millisecond), Logins: &LoginsResult{Rate: 70, PerCPU: 220}},
			{Name: KindEjabberd, Ready: time.Second, RSSStart: 90 << 20, Conns: &ConnsResult{PerSession: 70 << 10, Rate: 230},
				Msgs: msgs(20000, 9000, 60*time.Millisecond), Latency: msgs(1500, 4000, 8*time.Millisecond), Logins: &LoginsResult{Rate: 300, PerCPU: 450, Failed: 2, FirstError: "boom"}},
			{Name: KindFloor, Msgs: msgs(70000, 100000, 5*time.Millisecond), Latency: msgs(2000, 25000, 500*time.Microsecond), OtherCPU: 0.5},
		},
		S2S: []*S2SResult{{A: "roost", B: "prosody", Err: "no message crossed between the servers"}},
	}
}

func TestReportRows(t *testing.T) {
	rows := sampleReport().rows()
	find := func(prefix string) row {
		for _, r := range rows {
			if strings.HasPrefix(r.f.name, prefix) {
				return r
			}
		}
		t.Fatalf("no row %q", prefix)
		return row{}
	}
	tests := []struct {
		prefix, vsBest, vsFloor, met string
	}{
		{"resident memory after start", "0.38×", "", "yes"},                         // 6 ≤ 16/2
		{"start to ready (restart", "0.33×", "", "yes"},                             // 20 ms < 100 ms
		{"memory per idle TLS session", "0.40×", "", "yes"},                         // 20 ≤ 50/2
		{"messages per server CPU-second, ", "4.44×", "40 %", "NO (needs ≥ 50000)"}, // 40000 ≥ 3×9000 but < 50 % of 100000
		{"latency p99 at", "0.12×", "50 %", "yes"},                                  // 1 ms ≤ 8/4 ms; floor 0.5 ms
		{"logins per server CPU-second", "2.22×", "", "yes"},                        // 1000 ≥ 2×450
		{"idle sessions opened per second", "1.09×", "", ""},                        // no target
		{"messages per second, ", "3.00×", "86 %", ""},                              // no target
		{"start to ready, first start", "", "", ""},                                 // not measured
		{"latency p50, ", "0.13×", "62 %", ""},
	}
	for _, tc := range tests {
		t.Run(tc.prefix, func(t *testing.T) {
			r := find(tc.prefix)
			if r.vsBest != tc.vsBest || r.vsFloor != tc.vsFloor || r.met != tc.met {
				t.Errorf("vsBest %q, vsFloor %q, met %q; want %q, %q, %q", r.vsBest, r.vsFloor, r.met, tc.vsBest, tc.vsFloor, tc.met)
			}
		})
	}
}

func TestReportRendering(t *testing.T) {
	r := sampleReport()
	table := r.Table()
	for _, want := range []string{"roost ÷ best peer", "prosody", "ejabberd", "floor", "federation roost↔prosody: no message crossed", "ejabberd: logins: 2 failed, first: boom", "floor: other processes kept 0.50 cores busy"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	var md string
	r.Servers[0].Runs = map[string][]float64{"msgs": {1, 2, 3}}
	md = r.Markdown("")
	if !strings.Contains(md, "| roost | 1.00 / 2.00 / 3.00 | – | – |") {
		t.Errorf("markdown lacks the runs of roost:\n%s", md)
	}
	md = r.Markdown("## What moved each figure\n\nNothing yet.")
	for _, want := range []string{"# Benchmarks", "Do not edit by hand", "| CPU | Test CPU, 2 cores |", "## Results", "| figure | unit | roost | prosody | ejabberd | floor |", "## Federation", "## Problems in this run", "## How it was measured", "Nothing yet."} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestRepeat(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name     string
		results  []float64 // NaN: the run fails
		want     float64
		wantRuns int
		wantErr  error
	}{
		{"median of three", []float64{5, 1, 3}, 3, 3, nil},
		{"one run", []float64{7}, 7, 1, nil},
		{"a failed run", []float64{2, math.NaN(), 4}, 4, 2, boom},
		{"all failed", []float64{math.NaN(), math.NaN()}, 0, 0, boom},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			i := 0
			got, runs, err := repeat(context.Background(), len(tc.results), func() (float64, error) {
				v := tc.results[i]
				i++
				if math.IsNaN(v) {
					return 0, boom
				}
				return v, nil
			}, func(v float64) float64 { return v })
			if got != tc.want || len(runs) != tc.wantRuns || !errors.Is(err, tc.wantErr) {
				t.Errorf("repeat = %v, %v runs, %v; want %v, %d, %v", got, len(runs), err, tc.want, tc.wantRuns, tc.wantErr)
			}
		})
	}
}

// TestIssueKeyTypes: the suite's certificates come with the key type asked
// for, replace the files of the earlier one, and chain to the bench CA.
func TestIssueKeyTypes(t *testing.T) {
	ca, err := newBenchCA()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		keyType string
		algo    x509.PublicKeyAlgorithm
	}{{KeyECDSA, x509.ECDSA}, {KeyRSA, x509.RSA}} {
		files, err := ca.issue(dir, tc.keyType, "roost.test")
		if err != nil {
			t.Fatal(err)
		}
		c, err := tls.LoadX509KeyPair(files.Cert, files.Key)
		if err != nil {
			t.Fatalf("%s: %v", tc.keyType, err)
		}
		if c.Leaf.PublicKeyAlgorithm != tc.algo {
			t.Errorf("%s: key %v, want %v", tc.keyType, c.Leaf.PublicKeyAlgorithm, tc.algo)
		}
		if _, err := c.Leaf.Verify(x509.VerifyOptions{Roots: ca.clientTLS("roost.test").RootCAs, DNSName: "roost.test"}); err != nil {
			t.Errorf("%s: %v", tc.keyType, err)
		}
	}
}
