package c2s

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"

	"roost/stanza"
	"roost/xmlstream"
)

// XEP-0386 Bind 2. A client binds within its SASL2 <authenticate/>:
// <bind xmlns='urn:xmpp:bind:0'> with an optional <tag/> naming its
// software, and the session features it wants on from the start: client
// state indication (<active/> or <inactive/>, XEP-0352), stream management
// (<enable/>, XEP-0198) and those modules offer ([Options.BindFeatures],
// such as carbons). The answer is <bound/> in the <success/>, with what
// each feature says (stream management's <enabled/>).
//
// The resource is "tag/id" (§3.1), where id is derived from the client's
// user-agent id with a keyed hash: the same device gets the same resource
// every time, so that its new session replaces the one it lost (§3:
// earlier sessions of a client end when it binds again), and the
// user-agent id itself is never shown to anyone. A client without a
// user-agent id gets a random id.

// resourceIDLen is the bytes of the keyed hash in a Bind 2 resource: 9
// bytes, 12 characters.
const resourceIDLen = 9

// bind2Resource returns the resource for a Bind 2 request of bare's
// client with user-agent id ua and software tag.
func (n *negotiation) bind2Resource(ua, tag string) string {
	var id string
	if ua == "" {
		id = newResource()
	} else {
		m := hmac.New(sha256.New, n.srv.opts.SASLSecret)
		m.Write([]byte("roost bind2 resource\x00"))
		m.Write([]byte(n.bare.String()))
		m.Write([]byte{0})
		m.Write([]byte(ua))
		id = base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:resourceIDLen])
	}
	if tag == "" {
		return id
	}
	return tag + "/" + id
}

// bind2 binds the resource a Bind 2 request asks for and enables the
// features it lists. It returns <bound/> and true, or the <failed/> to
// put into the success and false.
func (n *negotiation) bind2(ctx context.Context, req *authRequest) (*xmlstream.Element, bool) {
	tag := req.bind.ChildText(nsBind2, "tag")
	full, err := n.bare.WithResource(n.bind2Resource(req.userAgent, tag))
	if err != nil {
		// A tag no resource may hold (RFC 7622 §3.4) is left out.
		full, err = n.bare.WithResource(n.bind2Resource(req.userAgent, ""))
	}
	if err == nil {
		n.full = full
		err = n.srv.router.Bind(ctx, full, n.session)
	}
	if err != nil {
		var se *stanza.Error
		if !errors.As(err, &se) {
			n.logger().Error("binding resource", "err", err)
			se = stanza.NewError(stanza.InternalServerError, "")
		}
		return xmlstream.New(nsBind2, "failed").Append(se.Element()), false
	}
	bound := xmlstream.New(nsBind2, "bound")
	for el := range req.bind.Elements() {
		switch el.Name.Space {
		case nsCSI:
			// XEP-0386 §3: the session begins in that state.
			if el.Name.Local == "active" || el.Name.Local == "inactive" {
				n.setActive(el.Name.Local == "active")
			}
		case nsSM:
			if el.Name.Local == "enable" && !n.count.on {
				bound.Append(n.enableSM(isTrue(el.Get("resume"))))
			}
		default:
			if h := n.srv.bindVars[el.Name.Space]; h != nil {
				bound.Append(h.EnableInline(ctx, full, el))
			}
		}
	}
	return bound, true
}
