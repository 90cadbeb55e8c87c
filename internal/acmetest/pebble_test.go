package acmetest_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"testing"
	"time"

	"roost/internal/acmetest"
	"roost/internal/dnstest"
)

func TestStartServesDirectoryAndRoots(t *testing.T) {
	dns := dnstest.NewServer(t, "127.0.0.1:0")
	s := acmetest.Start(t, acmetest.Options{DNSServer: dns.Addr, Validity: time.Hour})

	caPEM, err := os.ReadFile(s.CAFile)
	if err != nil {
		t.Fatalf("read CAFile: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("CAFile %s holds no PEM certificate", s.CAFile)
	}
	client := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true},
	}
	resp, err := client.Get(s.DirectoryURL)
	if err != nil {
		t.Fatalf("GET %s with CAFile trusted: %v", s.DirectoryURL, err)
	}
	var dir map[string]any
	err = json.NewDecoder(resp.Body).Decode(&dir)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("decode directory: %v", err)
	}
	for _, k := range []string{"newNonce", "newAccount", "newOrder"} {
		if _, ok := dir[k]; !ok {
			t.Errorf("directory lacks %q; got %v", k, dir)
		}
	}

	if s.Roots == nil || len(s.RootsPEM) == 0 {
		t.Fatalf("Roots = %v, RootsPEM = %q; want Pebble's root", s.Roots, s.RootsPEM)
	}
	// The root must not be the HTTPS certificate: they are different CAs.
	if string(s.RootsPEM) == string(caPEM) {
		t.Errorf("RootsPEM equals the HTTPS CAFile; want Pebble's issuing root")
	}

	s.Stop()
	s.Stop() // idempotent
	if resp, err := client.Get(s.DirectoryURL); err == nil {
		resp.Body.Close()
		t.Fatalf("GET %s after Stop: status %s, want a connection error", s.DirectoryURL, resp.Status)
	}
}
