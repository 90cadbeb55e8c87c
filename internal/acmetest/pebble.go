package acmetest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

// pebblePkg is the package built from tools/go.mod.
const pebblePkg = "github.com/letsencrypt/pebble/v2/cmd/pebble"

// Defaults of Options.
const (
	DefaultHTTPPort = 5002 // Pebble's own default
	DefaultTLSPort  = 5001
	DefaultValidity = 90 * 24 * time.Hour
)

const (
	startAttempts = 3                // with fresh ports, if Pebble loses a port race
	startTimeout  = 30 * time.Second // until the directory answers
)

// Options configures a Pebble instance.
type Options struct {
	// DNSServer is the "host:port" of the DNS server Pebble's validation
	// authority resolves identifiers with (required): tests point the names
	// they request at 127.0.0.1 there.
	DNSServer string
	// HTTPPort is the port Pebble connects to for http-01. Default
	// DefaultHTTPPort.
	HTTPPort int
	// TLSPort is the port Pebble connects to for tls-alpn-01. Default
	// DefaultTLSPort.
	TLSPort int
	// Validity is the lifetime of issued certificates, at least a second.
	// Default DefaultValidity.
	Validity time.Duration
}

// Server is a running Pebble.
type Server struct {
	// DirectoryURL is the ACME directory (RFC 8555 §7.1.1).
	DirectoryURL string
	// ManagementURL is the base URL of Pebble's management interface.
	ManagementURL string
	// CAFile is a PEM file that trusts Pebble's HTTPS endpoints (both).
	CAFile string
	// RootsPEM and Roots hold the roots that issued certificates chain to.
	RootsPEM []byte
	Roots    *x509.CertPool

	t      testing.TB
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has been waited for
	output *lockedBuffer
	once   sync.Once
}

// Start builds (once per cache) and starts Pebble, waits until it serves its
// directory and fetches its roots. It skips the test if Pebble cannot be
// built, and fails it if Pebble does not start. The server is stopped by
// t.Cleanup.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.DNSServer == "" {
		t.Fatal("acmetest: Options.DNSServer is required")
	}
	if opts.HTTPPort == 0 {
		opts.HTTPPort = DefaultHTTPPort
	}
	if opts.TLSPort == 0 {
		opts.TLSPort = DefaultTLSPort
	}
	if opts.Validity == 0 {
		opts.Validity = DefaultValidity
	}
	if opts.Validity < time.Second {
		t.Fatalf("acmetest: Validity %v is under a second", opts.Validity)
	}
	bin, err := pebbleBinary()
	if errors.Is(err, exec.ErrNotFound) {
		t.Skipf("acmetest: no Go toolchain to build pebble with, skipping: %v", err)
	}
	if err != nil {
		// Not a skip: `make test` must not pass without the ACME tests
		// because the module proxy was unreachable.
		t.Fatalf("acmetest: %v", err)
	}
	dir := t.TempDir()
	certFile, keyFile, err := writeServerCert(dir)
	if err != nil {
		t.Fatalf("acmetest: %v", err)
	}
	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(certFile)
	if err != nil || !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("acmetest: read %s: %v", certFile, err)
	}
	client := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true},
	}

	var lastErr error
	for range startAttempts {
		s, err := start(t, bin, dir, certFile, keyFile, opts, client)
		if err == nil {
			s.CAFile = certFile
			return s
		}
		lastErr = err
	}
	t.Fatalf("acmetest: start pebble: %v", lastErr)
	return nil
}

// start runs one Pebble process on fresh ports.
func start(t testing.TB, bin, dir, certFile, keyFile string, opts Options, client *http.Client) (*Server, error) {
	wfePort, err := freePort()
	if err != nil {
		return nil, err
	}
	mgmtPort, err := freePort()
	if err != nil {
		return nil, err
	}
	wfeAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(wfePort))
	mgmtAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(mgmtPort))
	cfg := map[string]any{
		"pebble": map[string]any{
			"listenAddress":           wfeAddr,
			"managementListenAddress": mgmtAddr,
			"certificate":             certFile,
			"privateKey":              keyFile,
			"httpPort":                opts.HTTPPort,
			"tlsPort":                 opts.TLSPort,
			"ocspResponderURL":        "",
			"keyAlgorithm":            "ecdsa",
			"retryAfter":              map[string]int{"authz": 1, "order": 1},
			// One profile, so Pebble cannot pick another one at random for
			// orders that name none.
			"profiles": map[string]any{
				"default": map[string]any{
					"description":    "acmetest",
					"validityPeriod": uint64(opts.Validity / time.Second),
				},
			},
		},
	}
	data, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	cfgFile := filepath.Join(dir, "pebble-config.json")
	if err := os.WriteFile(cfgFile, data, 0o600); err != nil {
		return nil, fmt.Errorf("write config: %w", err)
	}

	s := &Server{
		DirectoryURL:  "https://" + wfeAddr + "/dir",
		ManagementURL: "https://" + mgmtAddr,
		t:             t,
		exited:        make(chan struct{}),
		output:        &lockedBuffer{},
	}
	s.cmd = exec.Command(bin, "-config", cfgFile, "-dnsserver", opts.DNSServer)
	s.cmd.Dir = dir
	s.cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0")
	s.cmd.Stdout = s.output
	s.cmd.Stderr = s.output
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("run %s: %w", bin, err)
	}
	go func() {
		_ = s.cmd.Wait()
		close(s.exited)
	}()

	if err := s.waitReady(client); err != nil {
		s.Stop()
		return nil, fmt.Errorf("%w; pebble output:\n%s", err, s.output.String())
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("acmetest: pebble output:\n%s", s.output.String())
		}
	})
	return s, nil
}

// waitReady polls the directory and then fetches the roots.
func (s *Server) waitReady(client *http.Client) error {
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-s.exited:
			return errors.New("pebble exited during start")
		default:
		}
		rootsPEM, err := s.fetchReady(client)
		if err == nil {
			s.RootsPEM = rootsPEM
			s.Roots = x509.NewCertPool()
			if !s.Roots.AppendCertsFromPEM(rootsPEM) {
				return fmt.Errorf("parse roots: no PEM certificate in %q", rootsPEM)
			}
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("wait for pebble: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fetchReady checks that the directory answers and returns the root.
func (s *Server) fetchReady(client *http.Client) ([]byte, error) {
	if _, err := get(client, s.DirectoryURL); err != nil {
		return nil, err
	}
	return get(client, s.ManagementURL+"/roots/0")
}

func get(client *http.Client, url string) ([]byte, error) {
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("get %s: %s", url, resp.Status)
	}
	return body, nil
}

// Stop kills Pebble and waits for it to exit; afterwards its ports refuse
// connections, which is how tests make the CA unreachable. It is safe to call
// more than once.
func (s *Server) Stop() {
	s.once.Do(func() {
		_ = s.cmd.Process.Kill()
		<-s.exited
	})
}

// Output returns what Pebble has logged so far.
func (s *Server) Output() string {
	return s.output.String()
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// writeServerCert writes a self-signed ECDSA certificate for 127.0.0.1 and
// localhost, usable as its own root, and its key.
func writeServerCert(dir string) (certFile, keyFile string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("generate key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(now.UnixNano()),
		Subject:               pkix.Name{CommonName: "acmetest pebble"},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", fmt.Errorf("create certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", fmt.Errorf("encode key: %w", err)
	}
	certFile = filepath.Join(dir, "pebble-cert.pem")
	keyFile = filepath.Join(dir, "pebble-key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return "", "", fmt.Errorf("write certificate: %w", err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return "", "", fmt.Errorf("write key: %w", err)
	}
	return certFile, keyFile, nil
}

// pebbleBinary returns the path of a Pebble binary built from the
// repository's tools/go.mod, building it if the cache has none.
func pebbleBinary() (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	modFile := filepath.Join(root, "tools", "go.mod")
	h := sha256.New()
	for _, f := range []string{modFile, filepath.Join(root, "tools", "go.sum")} {
		data, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("read %s: %w", f, err)
		}
		h.Write(data)
	}
	h.Write([]byte(runtime.Version()))
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "roost-acmetest")
	bin := filepath.Join(dir, "pebble-"+hex.EncodeToString(h.Sum(nil))[:16])
	if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create cache: %w", err)
	}
	// Test binaries of several packages start at once under `go test
	// ./...`: one builds, the others wait for it rather than each building
	// the same thing on a small CI machine.
	unlock, err := lockFile(filepath.Join(dir, "build.lock"))
	if err != nil {
		return "", fmt.Errorf("lock cache: %w", err)
	}
	defer unlock()
	if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() {
		return bin, nil
	}
	tmp, err := os.CreateTemp(dir, "pebble-build-*")
	if err != nil {
		return "", fmt.Errorf("create cache: %w", err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	gobin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("find go: %w", err)
	}
	// -trimpath and no debug information: a smaller binary, linked faster.
	cmd := exec.Command(gobin, "build", "-modfile="+modFile, "-trimpath", "-ldflags=-s -w", "-o", tmp.Name(), pebblePkg)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pebblePkg, err, out)
	}
	// Atomic, so concurrent test binaries each install a complete binary.
	if err := os.Rename(tmp.Name(), bin); err != nil {
		return "", fmt.Errorf("install pebble: %w", err)
	}
	return bin, nil
}

// repoRoot walks up from the working directory (a package directory under
// go test) to the directory holding tools/go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "tools", "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find repository root: no tools/go.mod above the working directory")
		}
		dir = parent
	}
}

// lockedBuffer collects the process output; exec copies into it from its own
// goroutine while tests read it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
