package certs

import (
	"crypto/tls"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"roost/internal/acmetest"
	"roost/internal/dnstest"
)

// These tests obtain real certificates from Pebble (internal/acmetest) over
// loopback. Pebble's validation authority resolves the test names with a
// dnstest server that points them at 127.0.0.1, where the test serves the
// Manager's TLS config and HTTP handler on ports chosen at run time.

var acmeNames = []string{"a.example", "conference.a.example"}

type acmeEnv struct {
	pebble   *acmetest.Server
	tlsAddr  string
	httpHits atomic.Int64
	cache    *memCache
	tlsLn    net.Listener
	httpLn   net.Listener
}

type acmeEnvOptions struct {
	tlsALPN  bool // point Pebble's tls-alpn-01 port at the TLS listener
	http     bool // point Pebble's http-01 port at an HTTP listener
	validity time.Duration
}

func newACMEEnv(t *testing.T, o acmeEnvOptions) *acmeEnv {
	t.Helper()
	env := &acmeEnv{cache: newMemCache()}
	dns := dnstest.NewServer(t, "127.0.0.1:0")
	for _, n := range acmeNames {
		dns.AddA(n, 60, "127.0.0.1")
	}
	var err error
	env.tlsLn, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.tlsLn.Close() })
	env.tlsAddr = env.tlsLn.Addr().String()
	env.httpLn, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.httpLn.Close() })

	// A challenge that is off is pointed at a closed port, so it cannot
	// succeed by accident.
	closed := closedPort(t)
	opts := acmetest.Options{DNSServer: dns.Addr, TLSPort: closed, HTTPPort: closed, Validity: o.validity}
	if o.tlsALPN {
		opts.TLSPort = portOf(t, env.tlsLn)
	}
	if o.http {
		opts.HTTPPort = portOf(t, env.httpLn)
	}
	env.pebble = acmetest.Start(t, opts)
	return env
}

// manager creates the Manager for env and serves it on env's listeners.
func (env *acmeEnv) manager(t *testing.T, ao ACMEOptions, now func() time.Time) *Manager {
	t.Helper()
	ao.DirectoryURL = env.pebble.DirectoryURL
	ao.CAFile = env.pebble.CAFile
	m, err := New(Options{
		Domains: acmeNames[:1], Subdomains: acmeNames[1:],
		Source: SourceACME, ACME: ao, Cache: env.cache, Logger: testLogger(t), Now: now,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	m.backoffBase, m.backoffMax = 50*time.Millisecond, 500*time.Millisecond

	var wg sync.WaitGroup
	cfg := m.ServerTLSConfig("xmpp-client")
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := env.tlsLn.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				_ = tls.Server(c, cfg).Handshake()
			}()
		}
	}()
	h := m.HTTPHandler(nil)
	srv := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			env.httpHits.Add(1)
			h.ServeHTTP(w, r)
		}),
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = srv.Serve(env.httpLn)
	}()
	t.Cleanup(func() {
		env.tlsLn.Close()
		srv.Close()
		wg.Wait()
	})
	return m
}

// dial connects to the Manager's TLS listener like a client would.
func (env *acmeEnv) dial(t *testing.T, sni, verifyName string) (*big.Int, error) {
	t.Helper()
	d := &net.Dialer{Timeout: 10 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", env.tlsAddr, clientConfig(sni, verifyName, env.pebble.Roots))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber, nil
}

// waitIssued waits until every name is served an ACME certificate.
func waitIssued(t *testing.T, m *Manager) {
	t.Helper()
	waitFor(t, 90*time.Second, "ACME certificates for all names", func() bool {
		for _, st := range m.Status() {
			if st.Source != SourceACME {
				return false
			}
		}
		return true
	})
}

// checkServed verifies, over real TLS handshakes against Pebble's roots, that
// every name and a client without SNI get a valid chain.
func (env *acmeEnv) checkServed(t *testing.T, m *Manager) {
	t.Helper()
	for _, name := range acmeNames {
		serial, err := env.dial(t, name, name)
		if err != nil {
			t.Errorf("TLS to %s verified against Pebble's roots: %v", name, err)
			continue
		}
		if leaf, _ := m.Leaf(name); leaf.SerialNumber.Cmp(serial) != 0 {
			t.Errorf("%s: handshake served serial %v, Leaf says %v", name, serial, leaf.SerialNumber)
		}
		st := statusOf(t, m, name)
		if st.Fallback || st.LastError != "" || st.Issuer == "" || !st.NextAttempt.After(time.Now()) {
			t.Errorf("%s: Status = %+v; want a healthy ACME certificate with a future renewal", name, st)
		}
	}
	// XMPP peers often send no SNI: they get the first domain's certificate.
	serial, err := env.dial(t, "", acmeNames[0])
	if err != nil {
		t.Errorf("TLS without SNI verified for %s: %v", acmeNames[0], err)
	} else if leaf, _ := m.Leaf(acmeNames[0]); leaf.SerialNumber.Cmp(serial) != 0 {
		t.Errorf("no SNI: served serial %v, want %s's %v", serial, acmeNames[0], leaf.SerialNumber)
	}
	// Keys and certificates are in the cache; challenge responses are not.
	keys := strings.Join(env.cache.keys(), " ")
	for _, want := range []string{"acme/acme_account+key", "acme/a.example", "acme/conference.a.example"} {
		if !strings.Contains(keys, want) {
			t.Errorf("cache keys %q lack %q", keys, want)
		}
	}
	if strings.Contains(keys, "+token") || strings.Contains(keys, "+http-01") {
		t.Errorf("cache keys %q still hold challenge responses", keys)
	}
}

func TestACMETLSALPN01(t *testing.T) {
	env := newACMEEnv(t, acmeEnvOptions{tlsALPN: true})
	m := env.manager(t, ACMEOptions{TLSALPNChallenge: true}, nil)
	stop := runManager(t, m)
	waitIssued(t, m)
	env.checkServed(t, m)
	if n := env.httpHits.Load(); n != 0 {
		t.Errorf("HTTP listener got %d requests, want none with http-01 disabled", n)
	}
	stop()
	// Served without Run, and after it.
	env.checkServed(t, m)
}

func TestACMEHTTP01(t *testing.T) {
	env := newACMEEnv(t, acmeEnvOptions{http: true})
	m := env.manager(t, ACMEOptions{HTTPChallenge: true}, nil)
	runManager(t, m)
	waitIssued(t, m)
	env.checkServed(t, m)
	if n := env.httpHits.Load(); n < int64(len(acmeNames)) {
		t.Errorf("HTTP listener got %d requests, want at least one validation per name", n)
	}
	// autocert tries tls-alpn-01 first; with it disabled the challenge must
	// be hidden, or Pebble records a failed validation on the closed port.
	if out := env.pebble.Output(); strings.Contains(out, "set INVALID") {
		t.Errorf("Pebble recorded a failed validation although only http-01 is enabled:\n%s", out)
	}
}

func TestACMERenewal(t *testing.T) {
	// 20-second certificates renewed 9 seconds before expiry.
	env := newACMEEnv(t, acmeEnvOptions{tlsALPN: true, validity: 20 * time.Second})
	m := env.manager(t, ACMEOptions{TLSALPNChallenge: true, RenewBefore: 9 * time.Second}, nil)
	runManager(t, m)
	waitIssued(t, m)
	first, err := env.dial(t, "a.example", "a.example")
	if err != nil {
		t.Fatalf("first certificate: %v", err)
	}
	st := statusOf(t, m, "a.example")
	if want := st.NotAfter.Add(-9 * time.Second); st.NextAttempt.Sub(want).Abs() > time.Second {
		t.Errorf("NextAttempt = %v, want NotAfter - RenewBefore = %v", st.NextAttempt, want)
	}

	waitFor(t, 60*time.Second, "the renewed certificate to be served", func() bool {
		return servedSerial(t, m, "a.example").Cmp(first) != 0
	})
	renewed, err := env.dial(t, "a.example", "a.example")
	if err != nil {
		t.Fatalf("renewed certificate does not verify: %v", err)
	}
	if renewed.Cmp(first) == 0 {
		t.Fatalf("handshake still serves serial %v after renewal", first)
	}
	if st := statusOf(t, m, "a.example"); st.LastError != "" || st.Source != SourceACME {
		t.Errorf("after renewal Status = %+v, want a healthy ACME certificate", st)
	}

	// The renewed certificate was persisted: a restart serves it at once.
	m2, err := New(Options{Domains: acmeNames[:1], Subdomains: acmeNames[1:], Source: SourceACME,
		ACME: ACMEOptions{DirectoryURL: env.pebble.DirectoryURL, CAFile: env.pebble.CAFile, TLSALPNChallenge: true}, Cache: env.cache})
	if err != nil {
		t.Fatal(err)
	}
	if st := statusOf(t, m2, "a.example"); st.Source != SourceACME || st.Fallback {
		t.Errorf("after restart Status = %+v, want the stored ACME certificate", st)
	}
	if got := servedSerial(t, m2, "a.example"); got.Cmp(first) == 0 {
		t.Errorf("after restart serves the first serial %v, want a renewed one", got)
	}
}

func TestACMEUnreachableKeepsCertificate(t *testing.T) {
	env := newACMEEnv(t, acmeEnvOptions{tlsALPN: true})
	clock := &fakeClock{}
	m := env.manager(t, ACMEOptions{TLSALPNChallenge: true}, clock.Now)
	runManager(t, m)
	waitIssued(t, m)
	before := servedSerial(t, m, "a.example")

	// The CA goes away, and the renewal falls due.
	env.pebble.Stop()
	clock.Advance(80 * 24 * time.Hour)
	if err := m.Reload(); err != nil { // wakes Run
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the failed renewal to be reported", func() bool {
		return statusOf(t, m, "a.example").LastError != ""
	})
	st := statusOf(t, m, "a.example")
	if st.Source != SourceACME || st.Fallback {
		t.Errorf("Status = %+v; want the existing ACME certificate still served", st)
	}
	if !strings.Contains(st.Advice, "cannot be reached") || !strings.Contains(st.LastError, "refused") {
		t.Errorf("LastError %q Advice %q; want the refused connection and reachability advice", st.LastError, st.Advice)
	}
	if !st.NextAttempt.After(clock.Now().Add(-time.Second)) {
		t.Errorf("NextAttempt %v, want a retry after %v", st.NextAttempt, clock.Now())
	}
	if got := servedSerial(t, m, "a.example"); got.Cmp(before) != 0 {
		t.Errorf("served serial %v after the failure, want the existing %v", got, before)
	}
	if _, err := env.dial(t, "a.example", "a.example"); err != nil {
		t.Errorf("existing certificate no longer verifies: %v", err)
	}
}

func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := portOf(t, ln)
	ln.Close()
	return p
}

func portOf(t *testing.T, ln net.Listener) int {
	t.Helper()
	_, p, err := net.SplitHostPort(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
