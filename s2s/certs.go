package s2s

import (
	"crypto/tls"
	"crypto/x509"

	"golang.org/x/net/idna"
)

// peerCert is what a TLS handshake proved about the peer: a certificate
// chain that validates against our roots, and the names it covers.
type peerCert struct {
	leaf    *x509.Certificate // nil: no certificate, or one that does not validate
	chainOK bool
}

// checkPeer validates the peer's certificate chain against roots. usages
// are the extended key usages accepted: serverAuth for a server we
// connected to; serverAuth or clientAuth for a server that connected to
// us, because public CAs now issue server certificates with serverAuth
// only (RFC 6120 §13.7.2.1 predates that; XEP-0178 does not require
// clientAuth).
func checkPeer(cs tls.ConnectionState, roots *x509.CertPool, usages ...x509.ExtKeyUsage) peerCert {
	if len(cs.PeerCertificates) == 0 {
		return peerCert{}
	}
	leaf := cs.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: usages})
	return peerCert{leaf: leaf, chainOK: err == nil}
}

// validFor reports whether the certificate is valid for domain: a chain
// we trust and a DNS-ID matching the domain (RFC 6125 §6.4, wildcards in
// the left-most label included), compared by A-labels.
func (p peerCert) validFor(domain string) bool {
	if !p.chainOK || p.leaf == nil || domain == "" {
		return false
	}
	name, err := idna.Lookup.ToASCII(domain)
	if err != nil {
		return false
	}
	return p.leaf.VerifyHostname(name) == nil
}

// clientCertificate returns the certificate to present as domain, from the
// server-side TLS configuration.
func clientCertificate(cfg *tls.Config, domain string) (*tls.Certificate, error) {
	switch {
	case cfg == nil:
	case cfg.GetCertificate != nil:
		c, err := cfg.GetCertificate(&tls.ClientHelloInfo{ServerName: domain})
		if err != nil || c == nil {
			return &tls.Certificate{}, nil //nolint:nilerr // no certificate: the peer may still accept dialback
		}
		return c, nil
	case len(cfg.Certificates) > 0:
		return &cfg.Certificates[0], nil
	}
	return &tls.Certificate{}, nil
}
