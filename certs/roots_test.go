package certs

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestRoots(t *testing.T) {
	leaf, dir, caFile, junk := rootsFiles(t)

	tests := []struct {
		name     string
		caFile   string
		wantErr  []error
		trustsCA bool
	}{
		{"system roots only", "", nil, false},
		{"plus a CA file", caFile, nil, true},
		{"missing file", filepath.Join(dir, "none.pem"), []error{ErrCAFile, fs.ErrNotExist}, false},
		{"file without a certificate", junk, []error{ErrCAFile}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pool, err := Roots(tc.caFile)
			if tc.wantErr != nil {
				for _, want := range tc.wantErr {
					if !errors.Is(err, want) {
						t.Errorf("Roots(%q) error = %v, want %v", tc.caFile, err, want)
					}
				}
				if pool != nil {
					t.Errorf("Roots(%q) returned a pool with its error", tc.caFile)
				}
				return
			}
			if err != nil {
				t.Fatalf("Roots(%q): %v", tc.caFile, err)
			}
			_, verr := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "a.example"})
			if got := verr == nil; got != tc.trustsCA {
				t.Errorf("a leaf of the test CA verifies: %t (%v), want %t", got, verr, tc.trustsCA)
			}
		})
	}
}

// TestLazyRoots: the CA file is read and checked when LazyRoots is called
// (a bad file stops the start), the pool is built on first use, once.
func TestLazyRoots(t *testing.T) {
	leaf, dir, caFile, junk := rootsFiles(t)

	if _, err := LazyRoots(junk); !errors.Is(err, ErrCAFile) {
		t.Errorf("LazyRoots(junk) error = %v, want %v", err, ErrCAFile)
	}
	if _, err := LazyRoots(filepath.Join(dir, "none.pem")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LazyRoots(missing) error = %v, want %v", err, fs.ErrNotExist)
	}

	pool, err := LazyRoots(caFile)
	if err != nil {
		t.Fatal(err)
	}
	// The file was read by LazyRoots: removing it now changes nothing.
	if err := os.Remove(caFile); err != nil {
		t.Fatal(err)
	}
	first := pool()
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: first, DNSName: "a.example"}); err != nil {
		t.Errorf("a leaf of the CA file does not verify with the lazy pool: %v", err)
	}
	if again := pool(); again != first {
		t.Errorf("second call built another pool (%p, first %p), want the same", again, first)
	}
}

// rootsFiles issues a leaf for a.example from a test CA and writes, in a
// new directory, the CA's certificate (caFile) and a file without any
// certificate (junk).
func rootsFiles(t *testing.T) (leaf *x509.Certificate, dir, caFile, junk string) {
	t.Helper()
	ca := newTestCA(t)
	certPEM, _, _ := ca.issue(t, time.Now().Add(time.Hour), "a.example")
	block, _ := pem.Decode(certPEM)
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	caFile = filepath.Join(dir, "ca.pem")
	writeFile(t, caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}))
	junk = filepath.Join(dir, "junk.pem")
	writeFile(t, junk, []byte("no certificate here\n"))
	return leaf, dir, caFile, junk
}
