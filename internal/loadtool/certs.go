package loadtool

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"roost/certs"
)

// benchCA issues the certificates of one suite run. Every server gets the
// same kind of key, so that the TLS handshake costs the same work on each
// and the login figures compare servers, not key types: ECDSA P-256 (what
// Let's Encrypt issues by default today, and what certs.NewCertificate
// makes) for every load, and RSA-2048 (still what many hosts and older
// setups use) for a second login load, whose handshakes cost an RSA
// signature each.
type benchCA struct {
	cert *tls.Certificate
	pem  []byte
}

func newBenchCA() (*benchCA, error) {
	c, err := certs.NewCertificate(&x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "roost bench CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(7 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("make ca: %w", err)
	}
	return &benchCA{cert: c, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]})}, nil
}

// certFiles are the PEM files of one server's certificate.
type certFiles struct {
	Cert, Key, Both, CA string // Both: certificate then key, for ejabberd
}

// Key types of the certificates the suite issues.
const (
	KeyECDSA = "ECDSA P-256"
	KeyRSA   = "RSA-2048"
)

// issue writes a certificate for names with a key of type keyType into
// dir, replacing the files of an earlier one.
func (ca *benchCA) issue(dir, keyType string, names ...string) (certFiles, error) {
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: names[0]},
		DNSNames:    names,
		NotBefore:   time.Now().Add(-time.Hour),
		NotAfter:    time.Now().Add(7 * 24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	var (
		c   *tls.Certificate
		err error
	)
	if keyType == KeyRSA {
		var key *rsa.PrivateKey
		if key, err = rsa.GenerateKey(rand.Reader, 2048); err == nil {
			c, err = certs.SignCertificate(tmpl, key, ca.cert)
		}
	} else {
		c, err = certs.NewCertificate(tmpl, ca.cert)
	}
	if err != nil {
		return certFiles{}, fmt.Errorf("issue certificate: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		return certFiles{}, fmt.Errorf("marshal key: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
	f := certFiles{
		Cert: filepath.Join(dir, "cert.pem"),
		Key:  filepath.Join(dir, "key.pem"),
		Both: filepath.Join(dir, "both.pem"),
		CA:   filepath.Join(dir, "ca.pem"),
	}
	for path, data := range map[string][]byte{
		f.Cert: certPEM,
		f.Key:  keyPEM,
		f.Both: append(append([]byte{}, certPEM...), keyPEM...),
		f.CA:   ca.pem,
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return certFiles{}, fmt.Errorf("write certificate: %w", err)
		}
	}
	return f, nil
}

// clientTLS trusts only the bench CA, for the server called domain. No
// session cache: every login pays for a full handshake.
func (ca *benchCA) clientTLS(domain string) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert.Leaf)
	return &tls.Config{RootCAs: pool, ServerName: domain, MinVersion: tls.VersionTLS12, CurvePreferences: ClientCurves()}
}

// ClientCurves are the key exchanges the tool offers: X25519 (and P-256),
// not Go's default hybrid X25519MLKEM768, which the OpenSSL of Prosody's
// and ejabberd's Debian packages does not have. Offering it would make a
// Go server pay for a post-quantum key exchange that its peers never do,
// and the clients people use today do not offer it either.
func ClientCurves() []tls.CurveID { return []tls.CurveID{tls.X25519, tls.CurveP256} }
