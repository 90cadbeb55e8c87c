package certs

import (
	"crypto/x509"
	"fmt"
	"os"
	"sync"
)

// Roots returns the certificate authorities roost trusts as a TLS client
// (an ACME server, `roost check dns`): the system's roots plus, when caFile
// is not empty, the PEM certificates in caFile, such as a private CA or a
// test CA. A caFile that cannot be read or holds no PEM certificate is an
// error wrapping [ErrCAFile]: a file that adds nothing is a mistake the
// admin should hear about, not a silently weaker trust store.
func Roots(caFile string) (*x509.CertPool, error) {
	pool, err := LazyRoots(caFile)
	if err != nil {
		return nil, err
	}
	return pool(), nil
}

// LazyRoots is [Roots] for a long-running server that may never check a
// certificate (federation with no peer yet): caFile is read and checked
// now, so that a bad file still stops the start with [ErrCAFile], but the
// system's roots, a few hundred certificates parsed into some 300 KB of
// heap, are loaded on the first call of the returned function. The
// function is safe for concurrent use and builds the pool once.
func LazyRoots(caFile string) (func() *x509.CertPool, error) {
	var extra []byte
	if caFile != "" {
		data, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w: %w", caFile, ErrCAFile, err)
		}
		if !x509.NewCertPool().AppendCertsFromPEM(data) {
			return nil, fmt.Errorf("read %s: no PEM certificate: %w", caFile, ErrCAFile)
		}
		extra = data
	}
	return sync.OnceValue(func() *x509.CertPool {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			// No system roots (a minimal container): caFile alone decides.
			pool = x509.NewCertPool()
		}
		if extra != nil {
			// Checked above: the file holds at least one certificate.
			pool.AppendCertsFromPEM(extra)
		}
		return pool
	}), nil
}
