package sasl_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"roost/sasl"
)

func TestTLSServerEndPoint(t *testing.T) {
	raw := []byte("not really DER, but only hashed")
	s256 := sha256.Sum256(raw)
	s384 := sha512.Sum384(raw)
	s512 := sha512.Sum512(raw)
	tests := []struct {
		name string
		cert *x509.Certificate
		want []byte
	}{
		{"nil", nil, nil},
		{"no DER", &x509.Certificate{SignatureAlgorithm: x509.SHA256WithRSA}, nil},
		{"MD5 becomes SHA-256", &x509.Certificate{Raw: raw, SignatureAlgorithm: x509.MD5WithRSA}, s256[:]},
		{"SHA-1 becomes SHA-256", &x509.Certificate{Raw: raw, SignatureAlgorithm: x509.SHA1WithRSA}, s256[:]},
		{"ECDSA SHA-1 becomes SHA-256", &x509.Certificate{Raw: raw, SignatureAlgorithm: x509.ECDSAWithSHA1}, s256[:]},
		{"SHA-256", &x509.Certificate{Raw: raw, SignatureAlgorithm: x509.ECDSAWithSHA256}, s256[:]},
		{"RSA-PSS SHA-256", &x509.Certificate{Raw: raw, SignatureAlgorithm: x509.SHA256WithRSAPSS}, s256[:]},
		{"SHA-384", &x509.Certificate{Raw: raw, SignatureAlgorithm: x509.ECDSAWithSHA384}, s384[:]},
		{"RSA SHA-384", &x509.Certificate{Raw: raw, SignatureAlgorithm: x509.SHA384WithRSA}, s384[:]},
		{"SHA-512", &x509.Certificate{Raw: raw, SignatureAlgorithm: x509.SHA512WithRSAPSS}, s512[:]},
		{"Ed25519 is undefined", &x509.Certificate{Raw: raw, SignatureAlgorithm: x509.PureEd25519}, nil},
		{"unknown is undefined", &x509.Certificate{Raw: raw, SignatureAlgorithm: x509.UnknownSignatureAlgorithm}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := sasl.TLSServerEndPoint(tc.cert); !bytes.Equal(got, tc.want) {
				t.Errorf("TLSServerEndPoint = %x, want %x", got, tc.want)
			}
		})
	}
}

func TestChannelBindingTypes(t *testing.T) {
	tests := []struct {
		name string
		b    sasl.ChannelBinding
		want []string
	}{
		{"none", sasl.ChannelBinding{}, nil},
		{"exporter", exporter, []string{"tls-exporter"}},
		{"end point", endPoint, []string{"tls-server-end-point"}},
		{"both, exporter first", both, []string{"tls-exporter", "tls-server-end-point"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if d := cmp.Diff(tc.want, tc.b.Types()); d != "" {
				t.Errorf("Types() mismatch (-want +got):\n%s", d)
			}
			if got, want := tc.b.Available(), tc.want != nil; got != want {
				t.Errorf("Available() = %v, want %v", got, want)
			}
		})
	}
}

// selfSigned returns an ECDSA P-256 certificate signed with SHA-256.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "example.org"},
		DNSNames:     []string{"example.org"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// handshake runs a TLS handshake over an in-memory pipe and returns both
// sides' connection states.
func handshake(t *testing.T, cert tls.Certificate, version uint16, renegotiation tls.RenegotiationSupport) (client, server tls.ConnectionState) {
	t.Helper()
	cc, sc := net.Pipe()
	t.Cleanup(func() { cc.Close(); sc.Close() })
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	tc := tls.Client(cc, &tls.Config{ServerName: "example.org", RootCAs: pool, MaxVersion: version, Renegotiation: renegotiation})
	ts := tls.Server(sc, &tls.Config{Certificates: []tls.Certificate{cert}, MaxVersion: version})
	errc := make(chan error, 1)
	go func() { errc <- ts.HandshakeContext(t.Context()) }()
	if err := tc.HandshakeContext(t.Context()); err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	return tc.ConnectionState(), ts.ConnectionState()
}

func TestTLSBinding(t *testing.T) {
	cert := selfSigned(t)
	for _, v := range []struct {
		name    string
		version uint16
	}{{"TLS 1.3", tls.VersionTLS13}, {"TLS 1.2", tls.VersionTLS12}} {
		t.Run(v.name, func(t *testing.T) {
			ccs, scs := handshake(t, cert, v.version, tls.RenegotiateNever)
			cb := sasl.TLSBinding(&ccs, ccs.PeerCertificates[0])
			sb := sasl.TLSBinding(&scs, cert.Leaf)
			if len(cb.TLSExporter) != sasl.ExporterLen {
				t.Fatalf("client tls-exporter is %d bytes, want %d", len(cb.TLSExporter), sasl.ExporterLen)
			}
			if d := cmp.Diff(cb, sb); d != "" {
				t.Fatalf("client and server bindings differ (-client +server):\n%s", d)
			}
			want := sha256.Sum256(cert.Leaf.Raw)
			if !bytes.Equal(sb.TLSServerEndPoint, want[:]) {
				t.Errorf("tls-server-end-point = %x, want %x", sb.TLSServerEndPoint, want)
			}

			// A second connection has another exporter value.
			ccs2, _ := handshake(t, cert, v.version, tls.RenegotiateNever)
			if bytes.Equal(sasl.TLSBinding(&ccs2, nil).TLSExporter, cb.TLSExporter) {
				t.Error("two connections share a tls-exporter value")
			}

			for _, typ := range []struct {
				name   string
				client sasl.ChannelBinding
			}{
				{"tls-exporter", sasl.ChannelBinding{TLSExporter: cb.TLSExporter}},
				{"tls-server-end-point", sasl.ChannelBinding{TLSServerEndPoint: cb.TLSServerEndPoint}},
			} {
				t.Run(typ.name, func(t *testing.T) {
					s, err := sasl.NewServer(sasl.SCRAMSHA256Plus, serverOptions(newStore(t), sb, true))
					if err != nil {
						t.Fatal(err)
					}
					c, err := sasl.NewClient(sasl.SCRAMSHA256Plus, "juliet", "r0m30myr0m30", typ.client)
					if err != nil {
						t.Fatal(err)
					}
					if serr, cerr := exchange(t.Context(), c, s); serr != nil || cerr != nil || !c.Verified() {
						t.Fatalf("exchange: server %v, client %v, verified %v", serr, cerr, c.Verified())
					}
				})
			}

			// A man in the middle terminates TLS separately with each
			// side: the exporter values differ and the server refuses.
			t.Run("relayed to another connection", func(t *testing.T) {
				s, err := sasl.NewServer(sasl.SCRAMSHA256Plus, serverOptions(newStore(t), sb, true))
				if err != nil {
					t.Fatal(err)
				}
				c, err := sasl.NewClient(sasl.SCRAMSHA256Plus, "juliet", "r0m30myr0m30", sasl.ChannelBinding{TLSExporter: ccs2Exporter(ccs2)})
				if err != nil {
					t.Fatal(err)
				}
				serr, _ := exchange(t.Context(), c, s)
				wantCondition(t, serr, sasl.NotAuthorized)
			})
		})
	}
}

func ccs2Exporter(cs tls.ConnectionState) []byte { return sasl.TLSBinding(&cs, nil).TLSExporter }

func TestTLSBindingUnavailable(t *testing.T) {
	cert := selfSigned(t)
	// RFC 9266 §3: no tls-exporter where renegotiation is enabled.
	ccs, _ := handshake(t, cert, tls.VersionTLS12, tls.RenegotiateOnceAsClient)
	if b := sasl.TLSBinding(&ccs, ccs.PeerCertificates[0]); b.TLSExporter != nil || b.TLSServerEndPoint == nil {
		t.Errorf("with renegotiation: exporter %x, end point %x; want none, some", b.TLSExporter, b.TLSServerEndPoint)
	}
	if b := sasl.TLSBinding(&tls.ConnectionState{}, cert.Leaf); b.Available() {
		t.Errorf("before the handshake: %+v, want nothing", b)
	}
	if b := sasl.TLSBinding(nil, cert.Leaf); b.Available() {
		t.Errorf("nil state: %+v, want nothing", b)
	}
}
