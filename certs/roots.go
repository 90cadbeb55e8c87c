package certs

import (
	"crypto/x509"
	"fmt"
	"os"
)

// Roots returns the certificate authorities roost trusts as a TLS client
// (federation peers, an ACME server, `roost check dns`): the system's roots
// plus, when caFile is not empty, the PEM certificates in caFile, such as
// a private CA or a test CA. A caFile that cannot be read or holds no PEM
// certificate is an error wrapping [ErrCAFile]: a file that adds nothing is
// a mistake the admin should hear about, not a silently weaker trust store.
func Roots(caFile string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		// No system roots (a minimal container): caFile alone decides.
		pool = x509.NewCertPool()
	}
	if caFile == "" {
		return pool, nil
	}
	data, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w: %w", caFile, ErrCAFile, err)
	}
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("read %s: no PEM certificate: %w", caFile, ErrCAFile)
	}
	return pool, nil
}
