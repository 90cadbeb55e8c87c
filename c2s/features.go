package c2s

import (
	"roost/sasl"
	"roost/stream"
	"roost/xmlstream"
)

// Namespaces of the stream features and negotiation elements beyond
// those of package stream.
const (
	nsSASLCB = "urn:xmpp:sasl-cb:0" // XEP-0440
	nsSASL2  = "urn:xmpp:sasl:2"    // XEP-0388
	nsBind2  = "urn:xmpp:bind:0"    // XEP-0386
	nsFAST   = "urn:xmpp:fast:0"    // XEP-0484
)

// featureSet is what a server offers at each stage of a stream, built
// once by New: the features depend only on the stage, the server's
// options and, before authentication, on which channel bindings the TLS
// connection has. A login thus serialises no features, and the elements
// are shared read-only by every stream.
type featureSet struct {
	preTLS *prepared
	// Before authentication, by bindingMask: the serialised features, the
	// mechanisms offered and what XEP-0474 hashes of them.
	preAuth   [4]*prepared
	mechs     [4][]string
	fastMechs [4][]string
	downgrade [4]*sasl.Downgrade
	// After authentication, with no resource bound: legacy binding and
	// everything else. The element is queued when a Bind 2 login goes on
	// without binding; the bytes follow a SASL1 stream restart.
	postAuth   *prepared
	postAuthEl *xmlstream.Element
	// After Bind 2 or a resumption: what a bound session may still
	// negotiate, by whether stream management is on.
	bound [2]*xmlstream.Element
}

// bindingMask numbers the channel bindings a connection has: bit 0 for
// tls-exporter, bit 1 for tls-server-end-point.
func bindingMask(cb sasl.ChannelBinding) int {
	m := 0
	if len(cb.TLSExporter) > 0 {
		m |= 1
	}
	if len(cb.TLSServerEndPoint) > 0 {
		m |= 2
	}
	return m
}

// maskBinding is a stand-in ChannelBinding with the types of mask m.
func maskBinding(m int) sasl.ChannelBinding {
	var cb sasl.ChannelBinding
	if m&1 != 0 {
		cb.TLSExporter = []byte{1}
	}
	if m&2 != 0 {
		cb.TLSServerEndPoint = []byte{1}
	}
	return cb
}

func newFeatureSet(o *Options) *featureSet {
	fs := &featureSet{}
	fs.preTLS = prepare(stream.Features(xmlstream.New(stream.NSTLS, "starttls").Append(xmlstream.New(stream.NSTLS, "required"))))
	for m := range fs.preAuth {
		cb := maskBinding(m)
		fs.mechs[m] = sasl.Mechanisms(cb, o.AllowPlain)
		if o.Tokens != nil {
			fs.fastMechs[m] = sasl.HTMechanisms(cb)
		}
		d := &sasl.Downgrade{Mechanisms: fs.mechs[m], ChannelBindings: cb.Types()}
		fs.downgrade[m] = d
		fs.preAuth[m] = prepare(preAuthFeatures(o, d, fs.fastMechs[m]))
	}
	fs.postAuthEl = stream.Features(
		xmlstream.New(stream.NSBind, "bind"),
		xmlstream.New(stream.NSSession, "session").Append(xmlstream.New(stream.NSSession, "optional")),
		xmlstream.New(nsCSI, "csi"),
		xmlstream.New(nsSM, "sm"),
	).Append(o.Features...)
	fs.postAuth = prepare(fs.postAuthEl)
	fs.bound[0] = stream.Features(xmlstream.New(nsCSI, "csi"), xmlstream.New(nsSM, "sm")).Append(o.Features...)
	fs.bound[1] = stream.Features(xmlstream.New(nsCSI, "csi")).Append(o.Features...)
	return fs
}

// preAuthFeatures are the features offered with TLS up and no one
// authenticated: SASL (RFC 6120 §6) with the XEP-0440 channel-binding
// types, and SASL2 (XEP-0388) with the same mechanisms and, inline, Bind 2
// and what it may enable (XEP-0386), stream resumption (XEP-0198) and
// FAST tokens (XEP-0484).
func preAuthFeatures(o *Options, d *sasl.Downgrade, fast []string) *xmlstream.Element {
	mechs := xmlstream.New(stream.NSSASL, "mechanisms")
	auth := xmlstream.New(nsSASL2, "authentication")
	for _, m := range d.Mechanisms {
		mechs.Append(xmlstream.New(stream.NSSASL, "mechanism").AppendText(m))
		auth.Append(xmlstream.New(nsSASL2, "mechanism").AppendText(m))
	}
	f := stream.Features(mechs)
	if len(d.ChannelBindings) > 0 {
		cb := xmlstream.New(nsSASLCB, "sasl-channel-binding")
		for _, t := range d.ChannelBindings {
			cb.Append(xmlstream.New(nsSASLCB, "channel-binding").SetAttr("type", t))
		}
		f.Append(cb)
	}
	inline := xmlstream.New(nsBind2, "inline")
	for _, v := range []string{nsCSI, nsSM} {
		inline.Append(xmlstream.New(nsBind2, "feature").SetAttr("var", v))
	}
	for _, bf := range o.BindFeatures {
		inline.Append(xmlstream.New(nsBind2, "feature").SetAttr("var", bf.Var))
	}
	sasl2Inline := xmlstream.New(nsSASL2, "inline").Append(xmlstream.New(nsBind2, "bind").Append(inline))
	if o.ResumeTimeout > 0 {
		sasl2Inline.Append(xmlstream.New(nsSM, "sm"))
	}
	if len(fast) > 0 {
		fe := xmlstream.New(nsFAST, "fast")
		for _, m := range fast {
			fe.Append(xmlstream.New(nsFAST, "mechanism").AppendText(m))
		}
		sasl2Inline.Append(fe)
	}
	f.Append(auth.Append(sasl2Inline))
	return f.Append(o.PreAuthFeatures...)
}

// prepared is a top-level element serialised once for each framing a
// client stream may have: within a TCP stream, whose header declares the
// stream prefix, and standalone, as a WebSocket message carries it with
// every namespace declared (RFC 7395 §3.3.3). A transport appends the
// one it needs (transport.appendPrepared).
type prepared struct {
	inStream   []byte
	standalone []byte
}

func prepare(el *xmlstream.Element) *prepared {
	return &prepared{
		inStream:   xmlstream.AppendElement(nil, el, xmlstream.NSClient),
		standalone: xmlstream.AppendFrame(nil, el, xmlstream.NSClient),
	}
}
