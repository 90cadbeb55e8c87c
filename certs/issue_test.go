package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"testing"
	"time"
)

func TestNewCertificate(t *testing.T) {
	ca := newTestCA(t)
	leafTmpl := func(serial *big.Int) *x509.Certificate {
		return &x509.Certificate{
			SerialNumber: serial,
			DNSNames:     []string{"a.example"},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}
	}
	tests := []struct {
		name       string
		tmpl       *x509.Certificate
		parent     *tls.Certificate
		wantErr    bool
		wantSerial *big.Int // nil: random
		verifyWith *x509.CertPool
	}{
		{name: "issued by a CA", tmpl: leafTmpl(nil), parent: ca.tls, verifyWith: ca.pool},
		{name: "explicit serial", tmpl: leafTmpl(big.NewInt(42)), parent: ca.tls, wantSerial: big.NewInt(42), verifyWith: ca.pool},
		{name: "self-signed", tmpl: leafTmpl(nil)},
		{name: "parent without a leaf", tmpl: leafTmpl(nil), parent: &tls.Certificate{Certificate: ca.tls.Certificate, PrivateKey: ca.tls.PrivateKey}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewCertificate(tc.tmpl, tc.parent)
			if (err != nil) != tc.wantErr {
				t.Fatalf("NewCertificate error = %v, want error %t", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if c.Leaf == nil || len(c.Certificate) != 1 || string(c.Leaf.Raw) != string(c.Certificate[0]) {
				t.Fatalf("result has no leaf, or a leaf that is not its certificate")
			}
			if pub, ok := c.Leaf.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
				t.Errorf("public key %T, want ECDSA P-256", c.Leaf.PublicKey)
			}
			if priv, ok := c.PrivateKey.(*ecdsa.PrivateKey); !ok || !priv.PublicKey.Equal(c.Leaf.PublicKey) {
				t.Errorf("private key does not match the certificate")
			}
			serial := c.Leaf.SerialNumber
			switch {
			case tc.wantSerial != nil && serial.Cmp(tc.wantSerial) != 0:
				t.Errorf("serial %v, want %v", serial, tc.wantSerial)
			case tc.wantSerial == nil && (serial.Sign() <= 0 || serial.BitLen() > 127):
				t.Errorf("random serial %v, want 1 to 127 bits", serial)
			}
			if tc.wantSerial == nil && tc.tmpl.SerialNumber != nil {
				t.Errorf("NewCertificate wrote the serial into the caller's template")
			}
			roots := tc.verifyWith
			if roots == nil {
				roots = x509.NewCertPool()
				roots.AddCert(c.Leaf)
			}
			if _, err := c.Leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "a.example"}); err != nil {
				t.Errorf("verify: %v", err)
			}
		})
	}
}

// TestSignCertificate: a certificate for a key the caller made (RSA-2048,
// as the load tool's second login load uses) carries that key and chains
// to its parent.
func TestSignCertificate(t *testing.T) {
	ca := newTestCA(t)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	c, err := SignCertificate(&x509.Certificate{
		DNSNames:    []string{"rsa.example"},
		NotBefore:   time.Now().Add(-time.Hour),
		NotAfter:    time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, key, ca.tls)
	if err != nil {
		t.Fatal(err)
	}
	if pub, ok := c.Leaf.PublicKey.(*rsa.PublicKey); !ok || !key.PublicKey.Equal(pub) {
		t.Errorf("public key %T, want the RSA key given", c.Leaf.PublicKey)
	}
	if c.PrivateKey != crypto.PrivateKey(key) {
		t.Errorf("private key %T is not the key given", c.PrivateKey)
	}
	if _, err := c.Leaf.Verify(x509.VerifyOptions{Roots: ca.pool, DNSName: "rsa.example"}); err != nil {
		t.Errorf("verify: %v", err)
	}
	b := pemOf(t, c)
	if _, err := tls.X509KeyPair(b, b); err != nil {
		t.Errorf("certificate and key do not pair: %v", err)
	}
}
