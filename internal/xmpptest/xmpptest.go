package xmpptest

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"roost/certs"
	"roost/internal/client"
	"roost/stanza"
	"roost/stream"
	"roost/xmlstream"
)

// CA is a throwaway certificate authority.
type CA struct {
	cert *tls.Certificate
	// File is the CA certificate in PEM, for peers that read a file.
	File string
	Pool *x509.CertPool
}

// NewCA makes a CA valid for a day.
func NewCA(t testing.TB) *CA {
	t.Helper()
	c, err := certs.NewCertificate(&x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "roost test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ca := &CA{cert: c, File: filepath.Join(t.TempDir(), "ca.pem"), Pool: x509.NewCertPool()}
	ca.Pool.AddCert(c.Leaf)
	writePEM(t, ca.File, "CERTIFICATE", c.Certificate[0])
	return ca
}

// Issue makes a server certificate for names with the serverAuth usage only
// (as Let's Encrypt issues them since 2026).
func (ca *CA) Issue(t testing.TB, names ...string) tls.Certificate {
	t.Helper()
	c, err := certs.NewCertificate(&x509.Certificate{
		Subject:     pkix.Name{CommonName: names[0]},
		DNSNames:    names,
		NotBefore:   time.Now().Add(-time.Hour),
		NotAfter:    time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca.cert)
	if err != nil {
		t.Fatal(err)
	}
	return *c
}

// IssueFiles is Issue writing PEM files into dir.
func (ca *CA) IssueFiles(t testing.TB, dir string, names ...string) (certFile, keyFile string) {
	t.Helper()
	c := ca.Issue(t, names...)
	kder, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, names[0]+".crt"), filepath.Join(dir, names[0]+".key")
	writePEM(t, certFile, "CERTIFICATE", c.Certificate[0])
	writePEM(t, keyFile, "PRIVATE KEY", kder)
	return certFile, keyFile
}

// ClientTLS returns a client configuration that trusts the CA.
func (ca *CA) ClientTLS(serverName string) *tls.Config {
	return &tls.Config{RootCAs: ca.Pool, ServerName: serverName, MinVersion: tls.VersionTLS12}
}

// TLS returns a server configuration with a fresh certificate for names,
// and a client configuration that trusts it.
func TLS(t testing.TB, names ...string) (server, client *tls.Config) {
	t.Helper()
	ca := NewCA(t)
	server = &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, names...)}, MinVersion: tls.VersionTLS12, NextProtos: []string{"xmpp-client"}}
	client = ca.ClientTLS(names[0])
	client.NextProtos = []string{"xmpp-client"}
	return server, client
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Element parses one element written in a jabber:client stream.
func Element(t testing.TB, s string) *xmlstream.Element {
	t.Helper()
	d := xmlstream.NewDecoder(strings.NewReader(`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>`+s), xmlstream.Limits{})
	if _, err := d.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	el, err := d.ReadElement()
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return el
}

// Stanza parses one stanza written in a jabber:client stream.
func Stanza(t testing.TB, s string) *stanza.Stanza {
	t.Helper()
	st, err := stanza.Parse(Element(t, s))
	if err != nil {
		t.Fatalf("parse stanza %q: %v", s, err)
	}
	return &st
}

// ExpectStreamError reads from c until the server's stream error, checks
// its condition, then that the server closed the stream.
func ExpectStreamError(t testing.TB, c *client.Conn, cond stream.Condition) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	for {
		_, err := c.Recv()
		var se *client.StreamError
		if errors.As(err, &se) {
			if se.Err.Condition != cond {
				t.Fatalf("stream error %s (%s), want %s", se.Err.Condition, se.Err.Text, cond)
			}
			if _, err := c.Recv(); !errors.Is(err, xmlstream.ErrStreamEnd) && !errors.Is(err, io.EOF) {
				t.Errorf("after the stream error: %v, want the stream closed", err)
			}
			return
		}
		if err != nil {
			t.Fatalf("read: %v, want stream error %s", err, cond)
		}
	}
}
