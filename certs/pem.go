package certs

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
)

// parseKeyPair parses a PEM certificate chain (leaf first; blocks of other
// types are skipped) and a PEM private key, checks that the key matches the
// leaf, and returns the pair with Leaf set. The same bytes may be passed for
// both, which is the layout autocert and the self-signed cache entry use.
//
// The input is untrusted (a file an admin edits, a cache entry), so every
// failure wraps [ErrBadKeyPair].
func parseKeyPair(certPEM, keyPEM []byte) (*tls.Certificate, error) {
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadKeyPair, err)
	}
	if c.Leaf == nil {
		// X509KeyPair fills Leaf since Go 1.23 unless GODEBUG says otherwise.
		leaf, err := x509.ParseCertificate(c.Certificate[0])
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadKeyPair, err)
		}
		c.Leaf = leaf
	}
	return &c, nil
}
