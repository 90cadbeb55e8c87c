// Package ping answers XMPP pings (XEP-0199) addressed to the server, or
// to an account's bare JID, which the server answers on the account's
// behalf (RFC 6120 §10.3.3). The c2s layer sends its own pings to idle
// clients; this package only answers.
package ping

import (
	"context"

	"roost/module"
	"roost/stanza"
	"roost/xmlstream"
)

// NS is the ping namespace.
const NS = "urn:xmpp:ping"

// Handler answers pings with an empty result.
type Handler struct{}

// Name implements module.Module.
func (Handler) Name() string { return "ping" }

// Register implements module.Module.
func (h Handler) Register(r *module.Registry) {
	r.IQ("", NS, "ping", h)
	r.ServerFeatures(NS)
}

// HandleStanza answers a ping get; a set is not defined (XEP-0199 §3).
func (Handler) HandleStanza(_ context.Context, st *stanza.Stanza) (*xmlstream.Element, error) {
	if st.Type != stanza.TypeGet {
		return nil, stanza.NewError(stanza.BadRequest, "a ping is an IQ get")
	}
	return stanza.ResultIQ(st, nil), nil
}
