package certs

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/acme"
)

func TestNewValidation(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t)
	good, _ := ca.writePair(t, dir, "good", "a.example")
	badCert := filepath.Join(dir, "bad.crt")
	writeFile(t, badCert, []byte("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"))
	caFile := filepath.Join(dir, "notpem.txt")
	writeFile(t, caFile, []byte("hello"))

	tests := []struct {
		name string
		opts Options
		want error
	}{
		{"self-signed default", Options{Domains: []string{"a.example"}}, nil},
		{"no cache", Options{Domains: []string{"a.example"}, Cache: nil}, ErrNoCache},
		{"no domains", Options{}, ErrNoDomains},
		{"empty name", Options{Domains: []string{""}}, ErrBadName},
		{"wildcard", Options{Domains: []string{"*.a.example"}}, ErrBadName},
		{"ip literal", Options{Domains: []string{"192.0.2.1"}}, ErrBadName},
		{"name with port", Options{Domains: []string{"a.example:5222"}}, ErrBadName},
		{"bad idna", Options{Domains: []string{"a..example"}}, ErrBadName},
		{"single label is fine self-signed", Options{Domains: []string{"localhost"}}, nil},
		{"single label not for acme", Options{Domains: []string{"localhost"}, Source: SourceACME,
			ACME: ACMEOptions{HTTPChallenge: true}}, ErrBadName},
		{"unknown source", Options{Domains: []string{"a.example"}, Source: "letsencrypt"}, ErrBadSource},
		{"files without files", Options{Domains: []string{"a.example"}, Source: SourceFiles}, ErrNoFiles},
		{"files good", Options{Domains: []string{"a.example"}, Source: SourceFiles, Files: []KeyPair{good}}, nil},
		{"files missing", Options{Domains: []string{"a.example"}, Source: SourceFiles,
			Files: []KeyPair{{CertFile: filepath.Join(dir, "nope.crt"), KeyFile: good.KeyFile}}}, fs.ErrNotExist},
		{"files bad pem", Options{Domains: []string{"a.example"}, Source: SourceFiles,
			Files: []KeyPair{{CertFile: badCert, KeyFile: good.KeyFile}}}, ErrBadKeyPair},
		{"acme no challenge", Options{Domains: []string{"a.example"}, Source: SourceACME}, ErrNoChallenge},
		{"acme bad CA file", Options{Domains: []string{"a.example"}, Source: SourceACME,
			ACME: ACMEOptions{TLSALPNChallenge: true, CAFile: caFile}}, ErrCAFile},
		{"acme missing CA file", Options{Domains: []string{"a.example"}, Source: SourceACME,
			ACME: ACMEOptions{TLSALPNChallenge: true, CAFile: filepath.Join(dir, "none.pem")}}, fs.ErrNotExist},
		{"acme ok", Options{Domains: []string{"a.example"}, Source: SourceACME,
			ACME: ACMEOptions{TLSALPNChallenge: true}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name != "no cache" {
				tc.opts.Cache = newMemCache()
			}
			m, err := New(tc.opts)
			if !errorsIs(err, tc.want) {
				t.Fatalf("New: got error %v, want %v", err, tc.want)
			}
			if err == nil && m == nil {
				t.Fatal("New returned nil Manager and nil error")
			}
		})
	}
}

func TestGetCertificateNames(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t)
	apex, apexSerial := ca.writePair(t, dir, "apex", "a.example")
	wild, wildSerial := ca.writePair(t, dir, "wild", "*.a.example")
	m, err := New(Options{
		Domains:    []string{"a.example", "B.Example."},
		Subdomains: []string{"conference.a.example", "upload.b.example"},
		Source:     SourceFiles,
		Files:      []KeyPair{apex, wild},
		Cache:      newMemCache(),
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	self := m.selfSigned.Leaf.SerialNumber

	tests := []struct {
		name string
		sni  string
		want string // "apex", "wild" or "self"
	}{
		{"no SNI gets the first domain", "", "apex"},
		{"exact domain", "a.example", "apex"},
		{"subdomain via wildcard", "conference.a.example", "wild"},
		{"upper case SNI", "CONFERENCE.A.EXAMPLE", "wild"},
		{"trailing dot", "a.example.", "apex"},
		{"second domain not covered: fallback", "b.example", "self"},
		{"uncovered subdomain: fallback", "upload.b.example", "self"},
		{"unknown name gets the default", "other.example", "apex"},
		{"IP literal gets the default", "192.0.2.1", "apex"},
	}
	serials := map[string]string{"apex": apexSerial.String(), "wild": wildSerial.String(), "self": self.String()}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := servedSerial(t, m, tc.sni).String()
			if got != serials[tc.want] {
				t.Errorf("GetCertificate(%q) served serial %s, want the %s certificate %s", tc.sni, got, tc.want, serials[tc.want])
			}
		})
	}

	// Over a real handshake: a client that sends no SNI gets the first
	// domain's certificate and can verify it for that domain.
	chain, err := handshake(t, m.ServerTLSConfig("xmpp-client"), "", "a.example", ca.pool)
	if err != nil {
		t.Fatalf("handshake without SNI: %v", err)
	}
	if got := chain[0].SerialNumber; got.Cmp(apexSerial) != 0 {
		t.Errorf("no-SNI handshake served serial %v, want %v", got, apexSerial)
	}
	chain, err = handshake(t, m.ServerTLSConfig(), "conference.a.example", "conference.a.example", ca.pool)
	if err != nil {
		t.Fatalf("handshake with subdomain SNI: %v", err)
	}
	if got := chain[0].SerialNumber; got.Cmp(wildSerial) != 0 {
		t.Errorf("subdomain handshake served serial %v, want %v", got, wildSerial)
	}

	st := statusOf(t, m, "upload.b.example")
	if !st.Fallback || st.Source != SourceSelfSigned || !strings.Contains(st.LastError, ErrNotCovered.Error()) || st.Advice == "" {
		t.Errorf("Status(upload.b.example) = %+v; want self-signed fallback with LastError %q and advice", st, ErrNotCovered)
	}
	if leaf, ok := m.Leaf("CONFERENCE.a.example"); !ok || leaf.SerialNumber.Cmp(wildSerial) != 0 {
		t.Errorf("Leaf(CONFERENCE.a.example) = %v, %v; want serial %v", leaf, ok, wildSerial)
	}
	if _, ok := m.Leaf("other.example"); ok {
		t.Errorf("Leaf(other.example) ok = true, want false for a name not configured")
	}
	var names []string
	for _, s := range m.Status() {
		names = append(names, s.Name)
	}
	if diff := cmp.Diff([]string{"a.example", "b.example", "conference.a.example", "upload.b.example"}, names); diff != "" {
		t.Errorf("Status names (-want +got):\n%s", diff)
	}
}

func TestGetCertificateDoesNotAllocate(t *testing.T) {
	m, err := New(Options{Domains: []string{"a.example"}, Subdomains: []string{"conference.a.example"}, Cache: newMemCache()})
	if err != nil {
		t.Fatal(err)
	}
	for _, sni := range []string{"", "a.example", "conference.a.example", "unknown.example"} {
		hello := &tls.ClientHelloInfo{ServerName: sni}
		if n := testing.AllocsPerRun(100, func() { _, _ = m.GetCertificate(hello) }); n != 0 {
			t.Errorf("GetCertificate(%q) allocates %v times per call, want 0", sni, n)
		}
	}
}

func TestServerTLSConfig(t *testing.T) {
	tests := []struct {
		name   string
		opts   Options
		protos []string
		want   []string
	}{
		{"self-signed", Options{}, []string{"xmpp-client"}, []string{"xmpp-client"}},
		{"acme http-01 only", Options{Source: SourceACME, ACME: ACMEOptions{HTTPChallenge: true}}, []string{"h2"}, []string{"h2"}},
		{"acme tls-alpn-01", Options{Source: SourceACME, ACME: ACMEOptions{TLSALPNChallenge: true}}, []string{"xmpp-server"}, []string{"xmpp-server", acme.ALPNProto}},
		{"acme tls-alpn-01 no protos", Options{Source: SourceACME, ACME: ACMEOptions{TLSALPNChallenge: true}}, nil, []string{acme.ALPNProto}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Domains = []string{"a.example"}
			tc.opts.Cache = newMemCache()
			m, err := New(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			cfg := m.ServerTLSConfig(tc.protos...)
			if diff := cmp.Diff(tc.want, cfg.NextProtos); diff != "" {
				t.Errorf("NextProtos (-want +got):\n%s", diff)
			}
			if cfg.MinVersion != tls.VersionTLS12 {
				t.Errorf("MinVersion = %x, want TLS 1.2", cfg.MinVersion)
			}
			for _, id := range cfg.CipherSuites {
				name := tls.CipherSuiteName(id)
				if !strings.HasPrefix(name, "TLS_ECDHE_") || !(strings.Contains(name, "GCM") || strings.Contains(name, "CHACHA20")) {
					t.Errorf("cipher suite %s is not ECDHE with AEAD", name)
				}
			}
			if cfg.GetCertificate == nil {
				t.Fatal("GetCertificate is nil")
			}
		})
	}

	m, err := New(Options{Domains: []string{"a.example"}, Cache: newMemCache()})
	if err != nil {
		t.Fatal(err)
	}
	old := clientConfig("a.example", "", nil)
	old.MinVersion, old.MaxVersion = tls.VersionTLS11, tls.VersionTLS11
	cc, sc := pipeTLS(m.ServerTLSConfig(), old)
	if err := cc.Handshake(); err == nil {
		t.Error("TLS 1.1 handshake succeeded, want failure")
	}
	<-sc
}

// pipeTLS starts a server handshake in the background and returns the client.
func pipeTLS(server, client *tls.Config) (*tls.Conn, <-chan struct{}) {
	c1, c2 := netPipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = tls.Server(c2, server).Handshake()
		c2.Close()
	}()
	return tls.Client(c1, client), done
}

func TestHTTPHandler(t *testing.T) {
	fallback := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	})
	tests := []struct {
		name     string
		opts     Options
		fallback http.Handler
		host     string
		path     string
		want     int
	}{
		{"self-signed uses fallback", Options{}, fallback, "a.example", "/.well-known/acme-challenge/x", http.StatusTeapot},
		{"nil fallback is 404", Options{}, nil, "a.example", "/", http.StatusNotFound},
		{"http-01 disabled uses fallback", Options{Source: SourceACME, ACME: ACMEOptions{TLSALPNChallenge: true}}, fallback,
			"a.example", "/.well-known/acme-challenge/x", http.StatusTeapot},
		{"other path goes to fallback", Options{Source: SourceACME, ACME: ACMEOptions{HTTPChallenge: true}}, fallback,
			"a.example", "/index.html", http.StatusTeapot},
		{"unknown token is 404", Options{Source: SourceACME, ACME: ACMEOptions{HTTPChallenge: true}}, fallback,
			"a.example:80", "/.well-known/acme-challenge/x", http.StatusNotFound},
		{"unknown host is refused", Options{Source: SourceACME, ACME: ACMEOptions{HTTPChallenge: true}}, fallback,
			"evil.example", "/.well-known/acme-challenge/x", http.StatusForbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Domains = []string{"a.example"}
			tc.opts.Cache = newMemCache()
			m, err := New(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest(http.MethodGet, "http://"+tc.host+tc.path, nil)
			rec := httptest.NewRecorder()
			m.HTTPHandler(tc.fallback).ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Errorf("status = %d, want %d", rec.Code, tc.want)
			}
		})
	}
}

func TestHTTPHandlerServesTokenFromCache(t *testing.T) {
	cache := newMemCache()
	m, err := New(Options{Domains: []string{"a.example"}, Source: SourceACME, ACME: ACMEOptions{HTTPChallenge: true}, Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	// What an issuer's autocert.Manager stores for http-01.
	if err := cache.PutBlob("acme/tok123+http-01", []byte("tok123.thumb")); err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "http://A.example/.well-known/acme-challenge/tok123", nil)
	rec := httptest.NewRecorder()
	m.HTTPHandler(nil).ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || rec.Body.String() != "tok123.thumb" {
		t.Errorf("got %d %q, want 200 %q", rec.Code, rec.Body.String(), "tok123.thumb")
	}
}

func TestHostPolicy(t *testing.T) {
	m, err := New(Options{Domains: []string{"a.example"}, Subdomains: []string{"conference.a.example"},
		Source: SourceACME, ACME: ACMEOptions{TLSALPNChallenge: true}, Cache: newMemCache()})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host string
		want error
	}{
		{"a.example", nil},
		{"conference.a.example", nil},
		{"Conference.A.Example", nil},
		{"a.example:5002", nil},
		{"a.example.", nil},
		{"upload.a.example", ErrUnknownHost},
		{"example", ErrUnknownHost},
		{"", ErrUnknownHost},
		{"[::1]:80", ErrUnknownHost},
	}
	for _, tc := range tests {
		t.Run(tc.host, func(t *testing.T) {
			if err := m.hostPolicy(context.Background(), tc.host); !errorsIs(err, tc.want) {
				t.Errorf("hostPolicy(%q) = %v, want %v", tc.host, err, tc.want)
			}
		})
	}
}

func TestSelfSignedPersists(t *testing.T) {
	cache := newMemCache()
	clock := &fakeClock{}
	opts := Options{Domains: []string{"a.example"}, Subdomains: []string{"conference.a.example"}, Cache: cache, Now: clock.Now}
	m1, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	leaf := m1.selfSigned.Leaf
	if diff := cmp.Diff([]string{"a.example", "conference.a.example"}, leaf.DNSNames); diff != "" {
		t.Errorf("self-signed SANs (-want +got):\n%s", diff)
	}
	if pub, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("self-signed key is %T, want ECDSA P-256", leaf.PublicKey)
	}
	st := statusOf(t, m1, "conference.a.example")
	if st.Source != SourceSelfSigned || st.Fallback || st.Advice == "" || st.Fingerprint == "" {
		t.Errorf("Status = %+v; want self-signed, not a fallback, with advice and fingerprint", st)
	}
	// The fingerprints are the ones clients show for this certificate.
	sum256, sum1 := sha256.Sum256(leaf.Raw), sha1.Sum(leaf.Raw) //nolint:gosec // fingerprints
	if got, want := st.Fingerprint+" "+st.FingerprintSHA1, hex.EncodeToString(sum256[:])+" "+hex.EncodeToString(sum1[:]); got != want {
		t.Errorf("fingerprints %s, want %s", got, want)
	}

	tests := []struct {
		name    string
		opts    func() Options
		advance time.Duration
		same    bool
	}{
		{"restart keeps it", func() Options { return opts }, 0, true},
		{"restart a year later keeps it", func() Options { return opts }, 365 * 24 * time.Hour, true},
		{"names reordered keep it", func() Options {
			o := opts
			o.Domains, o.Subdomains = nil, nil
			o.Domains = []string{"conference.a.example", "a.example"}
			return o
		}, 0, true},
		{"new subdomain regenerates", func() Options {
			o := opts
			o.Subdomains = []string{"conference.a.example", "upload.a.example"}
			return o
		}, 0, false},
		{"near expiry regenerates", func() Options { return opts }, selfSignedLifetime - 10*24*time.Hour, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Each case starts from m1's certificate.
			if err := cache.PutBlob(selfSignedKey, pemOf(t, m1.selfSigned)); err != nil {
				t.Fatal(err)
			}
			clock.offset.Store(int64(tc.advance))
			defer clock.offset.Store(0)
			m2, err := New(tc.opts())
			if err != nil {
				t.Fatal(err)
			}
			got := m2.selfSigned.Leaf
			if same := got.SerialNumber.Cmp(leaf.SerialNumber) == 0; same != tc.same {
				t.Errorf("same certificate after New = %v, want %v (serial %v, first %v)", same, tc.same, got.SerialNumber, leaf.SerialNumber)
			}
			want := m2.names
			have := slices.Clone(got.DNSNames)
			slices.Sort(have)
			want = slices.Clone(want)
			slices.Sort(want)
			if diff := cmp.Diff(want, have); diff != "" {
				t.Errorf("SANs (-want +got):\n%s", diff)
			}
			stored, ok, _ := cache.Blob(selfSignedKey)
			if c, err := parseKeyPair(stored, stored); !ok || err != nil || c.Leaf.SerialNumber.Cmp(got.SerialNumber) != 0 {
				t.Errorf("cache holds %v (err %v), want the served certificate %v", c, err, got.SerialNumber)
			}
		})
	}
}

func TestSelfSignedRegeneratedByRun(t *testing.T) {
	clock := &fakeClock{}
	m, err := New(Options{Domains: []string{"a.example"}, Cache: newMemCache(), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	first := servedSerial(t, m, "")
	runManager(t, m)
	clock.Advance(selfSignedLifetime - 24*time.Hour)
	if err := m.Reload(); err != nil { // wakes Run
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "a regenerated self-signed certificate", func() bool {
		return servedSerial(t, m, "").Cmp(first) != 0
	})
	if got := statusOf(t, m, "a.example").NotAfter; !got.After(clock.Now().Add(365 * 24 * time.Hour)) {
		t.Errorf("regenerated NotAfter = %v, want years after %v", got, clock.Now())
	}
}

func TestSelfSignedCacheFailure(t *testing.T) {
	cache := newMemCache()
	cache.failPut = errors.New("disk full")
	m, err := New(Options{Domains: []string{"a.example"}, Cache: cache})
	if err != nil {
		t.Fatalf("New with a failing cache: %v, want it to serve an unpersisted certificate", err)
	}
	st := statusOf(t, m, "a.example")
	if !strings.Contains(st.LastError, "disk full") || st.Advice == "" {
		t.Errorf("Status = %+v; want LastError about the cache and advice", st)
	}
	if _, err := m.GetCertificate(&tls.ClientHelloInfo{}); err != nil {
		t.Errorf("GetCertificate: %v", err)
	}
}

func TestRunTwice(t *testing.T) {
	m, err := New(Options{Domains: []string{"a.example"}, Cache: newMemCache()})
	if err != nil {
		t.Fatal(err)
	}
	runManager(t, m)
	waitFor(t, 5*time.Second, "Run to start", m.running.Load)
	if err := m.Run(context.Background()); !errors.Is(err, ErrRunning) {
		t.Errorf("second Run = %v, want ErrRunning", err)
	}
}

func TestBackoff(t *testing.T) {
	m := &Manager{backoffBase: time.Minute, backoffMax: time.Hour}
	tests := []struct {
		failures int
		want     time.Duration
	}{
		{1, time.Minute},
		{2, 2 * time.Minute},
		{3, 4 * time.Minute},
		{7, time.Hour},
		{100, time.Hour},
	}
	for _, tc := range tests {
		for range 20 {
			got := m.backoff(tc.failures)
			if got < tc.want*9/10 || got > tc.want*11/10 {
				t.Errorf("backoff(%d) = %v, want %v ±10%%", tc.failures, got, tc.want)
			}
		}
	}
}
