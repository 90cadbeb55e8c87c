package certs

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"path/filepath"
	"testing"
	"time"
)

func TestRoots(t *testing.T) {
	ca := newTestCA(t)
	certPEM, _, _ := ca.issue(t, time.Now().Add(time.Hour), "a.example")
	block, _ := pem.Decode(certPEM)
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	writeFile(t, caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}))
	junk := filepath.Join(dir, "junk.pem")
	writeFile(t, junk, []byte("no certificate here\n"))

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
