package sasl

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
)

// Channel-binding type names (cb-name in RFC 5802 §7), as registered with
// IANA and advertised by XEP-0440. "tls-unique" (RFC 5929 §3) is not
// supported: it is undefined for TLS 1.3 (RFC 8446 §C.5) and weak for 1.2
// without the extended master secret.
const (
	BindingTLSExporter       = "tls-exporter"         // RFC 9266
	BindingTLSServerEndPoint = "tls-server-end-point" // RFC 5929 §4
)

// ExporterLabel is the TLS exporter label of the "tls-exporter" channel
// binding (RFC 9266 §2); the context is empty and the output ExporterLen
// bytes long.
const (
	ExporterLabel = "EXPORTER-Channel-Binding"
	ExporterLen   = 32
)

// ChannelBinding holds the channel-binding data (RFC 5056) of one TLS
// connection, for the types this connection can bind to. A nil (or empty)
// field means that type is unavailable. A server and a client fill it from the same
// connection; a mismatch is how SCRAM-PLUS detects a man in the middle.
type ChannelBinding struct {
	// TLSExporter is the RFC 9266 value: 32 bytes exported with
	// ExporterLabel and no context. It is only defined for TLS 1.3, or TLS
	// 1.2 with the extended master secret and no renegotiation.
	TLSExporter []byte
	// TLSServerEndPoint is the RFC 5929 §4 value: a hash of the server's
	// certificate, as [TLSServerEndPoint] computes it.
	TLSServerEndPoint []byte
}

// Available reports whether any channel-binding type is available, that is
// whether the -PLUS mechanisms can be offered.
func (b ChannelBinding) Available() bool {
	return len(b.TLSExporter) > 0 || len(b.TLSServerEndPoint) > 0
}

// Types returns the names of the available channel-binding types, best
// first, for the XEP-0440 <sasl-channel-binding/> stream feature.
func (b ChannelBinding) Types() []string {
	var t []string
	if len(b.TLSExporter) > 0 {
		t = append(t, BindingTLSExporter)
	}
	if len(b.TLSServerEndPoint) > 0 {
		t = append(t, BindingTLSServerEndPoint)
	}
	return t
}

// data returns the binding data for the cb-name, nil if unknown or unavailable.
func (b ChannelBinding) data(name string) []byte {
	var d []byte
	switch name {
	case BindingTLSExporter:
		d = b.TLSExporter
	case BindingTLSServerEndPoint:
		d = b.TLSServerEndPoint
	}
	if len(d) == 0 {
		return nil
	}
	return d
}

// TLSServerEndPoint returns the "tls-server-end-point" channel-binding
// data for the server certificate cert: its DER hashed with the hash of its
// signature algorithm, where MD5 and SHA-1 are replaced by SHA-256 (RFC 5929
// §4.1). For a signature with no single hash (Ed25519) or an unknown one the
// RFC leaves the binding undefined, and nil is returned.
func TLSServerEndPoint(cert *x509.Certificate) []byte {
	if cert == nil || len(cert.Raw) == 0 {
		return nil
	}
	switch cert.SignatureAlgorithm {
	case x509.MD2WithRSA, x509.MD5WithRSA, x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1,
		x509.SHA256WithRSA, x509.DSAWithSHA256, x509.ECDSAWithSHA256, x509.SHA256WithRSAPSS:
		s := sha256.Sum256(cert.Raw)
		return s[:]
	case x509.SHA384WithRSA, x509.ECDSAWithSHA384, x509.SHA384WithRSAPSS:
		s := sha512.Sum384(cert.Raw)
		return s[:]
	case x509.SHA512WithRSA, x509.ECDSAWithSHA512, x509.SHA512WithRSAPSS:
		s := sha512.Sum512(cert.Raw)
		return s[:]
	}
	return nil
}

// TLSBinding returns the channel bindings of a completed TLS connection.
// serverCert is the certificate the server presented: on the client side
// cs.PeerCertificates[0]; on the server side the leaf of the certificate
// the server chose, which tls.ConnectionState does not record (the caller
// keeps it from its GetCertificate). A nil serverCert leaves
// tls-server-end-point unavailable. tls-exporter is unavailable when the
// TLS stack refuses to export (TLS 1.2 without extended master secret,
// renegotiation enabled: RFC 9266 §3).
func TLSBinding(cs *tls.ConnectionState, serverCert *x509.Certificate) ChannelBinding {
	var b ChannelBinding
	if cs == nil || !cs.HandshakeComplete {
		return b
	}
	if ekm, err := cs.ExportKeyingMaterial(ExporterLabel, nil, ExporterLen); err == nil {
		b.TLSExporter = ekm
	}
	b.TLSServerEndPoint = TLSServerEndPoint(serverCert)
	return b
}
