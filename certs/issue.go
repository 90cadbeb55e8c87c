package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
)

// NewCertificate makes an ECDSA P-256 key and a certificate for it from
// tmpl, signed by parent, or by itself when parent is nil. It is the one
// place roost makes certificates: the self-signed fallback here, and the
// throwaway CAs of the load tool and the tests, so that all of them get
// the same kind of key (P-256, what Let's Encrypt issues by default) and
// TLS costs the same work whichever made the certificate. A nil
// tmpl.SerialNumber gets a random 127-bit one (RFC 5280 §4.1.2.2 allows up
// to 20 octets). parent must have Leaf set, as results of NewCertificate
// do; the result has Leaf set.
func NewCertificate(tmpl *x509.Certificate, parent *tls.Certificate) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return SignCertificate(tmpl, key, parent)
}

// SignCertificate is NewCertificate for a key the caller made: the load
// tool measures logins with an RSA-2048 certificate too, as many hosts
// still have.
func SignCertificate(tmpl *x509.Certificate, key crypto.Signer, parent *tls.Certificate) (*tls.Certificate, error) {
	var err error
	t := *tmpl
	if t.SerialNumber == nil {
		if t.SerialNumber, err = rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127)); err != nil {
			return nil, fmt.Errorf("generate serial: %w", err)
		}
	}
	issuer, signer := &t, key
	if parent != nil {
		s, ok := parent.PrivateKey.(crypto.Signer)
		if parent.Leaf == nil || !ok {
			return nil, errors.New("create certificate: the parent has no parsed leaf or no signing key")
		}
		issuer, signer = parent.Leaf, s
	}
	der, err := x509.CreateCertificate(rand.Reader, &t, issuer, key.Public(), signer)
	if err != nil {
		return nil, fmt.Errorf("create certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}
