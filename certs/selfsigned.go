package certs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"slices"
	"time"
)

const (
	// selfSignedKey is the cache key of the self-signed certificate and key.
	selfSignedKey = "selfsigned/cert"
	// selfSignedLifetime is long because users who accepted the certificate
	// in their client (Gajim, Conversations, Profanity pin it) are asked
	// again whenever it changes.
	selfSignedLifetime = 5 * 365 * 24 * time.Hour
	// selfSignedRenew is how long before expiry it is regenerated.
	selfSignedRenew = 30 * 24 * time.Hour
	// clockSkew backdates NotBefore: a Raspberry Pi has no real-time clock
	// and peers' clocks drift.
	clockSkew = time.Hour
)

// ensureSelfSigned loads the persisted self-signed certificate, or generates
// and persists a new one when there is none, it does not cover exactly the
// configured names, or it is close to expiry. In read-only mode (Inspect)
// it only loads. The caller holds m.mu.
func (m *Manager) ensureSelfSigned() error {
	now := m.now()
	if m.selfSigned == nil {
		data, ok, err := m.cache.Blob(selfSignedKey)
		if err != nil {
			return fmt.Errorf("read self-signed certificate: %w", err)
		}
		if ok {
			c, err := parseKeyPair(data, data)
			if err != nil {
				m.log.Warn("stored self-signed certificate is unusable, generating a new one", "err", err)
			} else {
				m.selfSigned = c
			}
		}
	}
	if m.readOnly || m.selfSigned != nil && m.selfSignedFits(m.selfSigned.Leaf, now) {
		// Inspect reports what is stored, fitting or not.
		return nil
	}
	c, pemData, err := generateSelfSigned(m.names, now)
	if err != nil {
		return err
	}
	m.selfSigned = c
	m.selfErr = ""
	if err := m.cache.PutBlob(selfSignedKey, pemData); err != nil {
		// Serve it anyway; Status says why it will change on restart.
		err = fmt.Errorf("store self-signed certificate: %w", err)
		m.selfErr = err.Error()
		m.log.Error("cannot persist the self-signed certificate", "err", err)
		return nil
	}
	m.log.Info("generated self-signed certificate", "names", m.names, "not_after", c.Leaf.NotAfter)
	return nil
}

// selfSignedFits reports whether leaf covers exactly the configured names and
// is not due for regeneration at now.
func (m *Manager) selfSignedFits(leaf *x509.Certificate, now time.Time) bool {
	have := slices.Clone(leaf.DNSNames)
	want := slices.Clone(m.names)
	slices.Sort(have)
	slices.Sort(want)
	return slices.Equal(have, want) && now.Before(leaf.NotAfter.Add(-selfSignedRenew))
}

// selfSignedDue returns when the self-signed certificate must be regenerated.
func (m *Manager) selfSignedDue() time.Time {
	return m.selfSigned.Leaf.NotAfter.Add(-selfSignedRenew)
}

// generateSelfSigned creates an ECDSA P-256 certificate for names, valid from
// now, and returns it with its PEM encoding (key, then certificate).
func generateSelfSigned(names []string, now time.Time) (*tls.Certificate, []byte, error) {
	c, err := NewCertificate(&x509.Certificate{
		Subject:   pkix.Name{CommonName: names[0], Organization: []string{"roost self-signed"}},
		DNSNames:  slices.Clone(names),
		NotBefore: now.Add(-clockSkew),
		NotAfter:  now.Add(selfSignedLifetime),
		KeyUsage:  x509.KeyUsageDigitalSignature,
		// clientAuth as well: the same certificate authenticates outgoing
		// server-to-server streams (RFC 6120 §13.7.1).
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("make self-signed certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(c.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		return nil, nil, fmt.Errorf("encode self-signed key: %w", err)
	}
	var buf bytes.Buffer
	_ = pem.Encode(&buf, &pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]})
	return c, buf.Bytes(), nil
}
