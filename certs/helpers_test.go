package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// memCache is an in-memory BlobCache.
type memCache struct {
	mu      sync.Mutex
	m       map[string][]byte
	failPut error // returned by PutBlob when set
}

func newMemCache() *memCache { return &memCache{m: make(map[string][]byte)} }

func (c *memCache) Blob(key string) ([]byte, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[key]
	return append([]byte(nil), v...), ok, nil
}

func (c *memCache) PutBlob(key string, v []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failPut != nil {
		return c.failPut
	}
	c.m[key] = append([]byte(nil), v...)
	return nil
}

func (c *memCache) DeleteBlob(key string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, key)
	return nil
}

func (c *memCache) keys() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ks []string
	for k := range c.m {
		ks = append(ks, k)
	}
	return ks
}

// fakeClock is a clock tests move forward.
type fakeClock struct{ offset atomic.Int64 }

func (c *fakeClock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *fakeClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// testLogger logs through t.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// testCA issues certificates for tests.
type testCA struct {
	tls  *tls.Certificate
	cert *x509.Certificate
	pool *x509.CertPool
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	c, err := NewCertificate(&x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "roost test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(c.Leaf)
	return &testCA{tls: c, cert: c.Leaf, pool: pool}
}

// issue returns PEM chain and key for names, valid until notAfter.
func (ca *testCA) issue(t testing.TB, notAfter time.Time, names ...string) (certPEM, keyPEM []byte, serial *big.Int) {
	t.Helper()
	c, err := NewCertificate(&x509.Certificate{
		Subject:     pkix.Name{CommonName: names[0]},
		DNSNames:    names,
		NotBefore:   time.Now().Add(-time.Hour),
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca.tls)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]})
	certPEM = append(certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})...)
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return certPEM, keyPEM, c.Leaf.SerialNumber
}

// writePair issues a certificate for names into dir/base.{crt,key}.
func (ca *testCA) writePair(t testing.TB, dir, base string, names ...string) (KeyPair, *big.Int) {
	t.Helper()
	certPEM, keyPEM, serial := ca.issue(t, time.Now().Add(24*time.Hour), names...)
	p := KeyPair{CertFile: filepath.Join(dir, base+".crt"), KeyFile: filepath.Join(dir, base+".key")}
	writeFile(t, p.CertFile, certPEM)
	writeFile(t, p.KeyFile, keyPEM)
	return p, serial
}

// writeFile writes data and moves the mtime forward, so that a rewrite within
// the file system's timestamp granularity is still seen as a change.
func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	old, statErr := os.Stat(path)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if statErr == nil {
		mt := old.ModTime().Add(time.Second)
		if err := os.Chtimes(path, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
}

// handshake runs a TLS handshake between a client sending serverName as SNI
// (none when empty) and a server using cfg, and returns the server's chain.
// If roots is non-nil the chain is verified for verifyName.
func handshake(t testing.TB, cfg *tls.Config, serverName, verifyName string, roots *x509.CertPool) ([]*x509.Certificate, error) {
	t.Helper()
	cc, sc := net.Pipe()
	defer cc.Close()
	defer sc.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s := tls.Server(sc, cfg)
		_ = s.Handshake()
		sc.Close()
	}()
	defer wg.Wait()
	c := tls.Client(cc, clientConfig(serverName, verifyName, roots))
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := c.Handshake(); err != nil {
		cc.Close()
		return nil, err
	}
	return c.ConnectionState().PeerCertificates, nil
}

// clientConfig returns a client config that sends serverName as SNI and,
// if roots is set, verifies the chain for verifyName.
func clientConfig(serverName, verifyName string, roots *x509.CertPool) *tls.Config {
	return &tls.Config{
		ServerName:         serverName,
		InsecureSkipVerify: true, // verification done below, to allow no SNI
		MinVersion:         tls.VersionTLS12,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if roots == nil {
				return nil
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{DNSName: verifyName, Roots: roots, Intermediates: inter})
			return err
		},
	}
}

// runManager runs m.Run until the test ends, then checks Run returned and
// left no goroutine behind.
func runManager(t *testing.T, m *Manager) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run returned %v, want nil", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("Run did not return 30s after its context was cancelled")
			}
			checkNoLeak(t)
		})
	}
	t.Cleanup(stop)
	return stop
}

// checkNoLeak fails if goroutines of this package's Manager, autocert, the
// acme client or an HTTP client connection are still alive after a grace
// period (autocert's short clean-up goroutines may still be finishing).
func checkNoLeak(t *testing.T) {
	t.Helper()
	markers := []string{"roost/certs.(*Manager)", "golang.org/x/crypto/acme", "net/http.(*persistConn)", "net/http.(*http2ClientConn)", "net/http.(*http2Transport)"}
	var leaked []string
	for deadline := time.Now().Add(5 * time.Second); ; {
		leaked = leaked[:0]
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		for _, g := range strings.Split(string(buf), "\n\n") {
			for _, mk := range markers {
				if strings.Contains(g, mk) {
					leaked = append(leaked, g)
					break
				}
			}
		}
		if len(leaked) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(leaked) > 0 {
		t.Errorf("%d goroutines outlived Run:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
	}
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// statusOf returns the Status for name.
func statusOf(t testing.TB, m *Manager, name string) Status {
	t.Helper()
	for _, s := range m.Status() {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("Status has no entry for %q", name)
	return Status{}
}

// servedSerial returns the serial of the certificate GetCertificate returns
// for serverName.
func servedSerial(t testing.TB, m *Manager, serverName string) *big.Int {
	t.Helper()
	c, err := m.GetCertificate(&tls.ClientHelloInfo{ServerName: serverName})
	if err != nil {
		t.Fatalf("GetCertificate(%q): %v", serverName, err)
	}
	return c.Leaf.SerialNumber
}

// errorsIs is errors.Is with a nil want meaning "no error".
func errorsIs(err, want error) bool {
	if want == nil {
		return err == nil
	}
	return errors.Is(err, want)
}

func netPipe() (net.Conn, net.Conn) { return net.Pipe() }

// pemOf encodes c the way the caches hold it: key, then chain.
func pemOf(t testing.TB, c *tls.Certificate) []byte {
	t.Helper()
	keyDER, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	for _, der := range c.Certificate {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	return out
}
