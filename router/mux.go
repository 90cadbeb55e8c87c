package router

import (
	"context"

	"roost/stanza"
	"roost/xmlstream"
)

// Mux dispatches server-answered stanzas to handlers: IQs by the name of
// their payload, messages and presence to one handler each. It is itself a
// [Handler]; register handlers before serving.
type Mux struct {
	iq       map[xmlstream.Name]Handler
	message  Handler
	presence Handler
}

// NewMux returns an empty mux.
func NewMux() *Mux { return &Mux{iq: make(map[xmlstream.Name]Handler)} }

// IQ registers h for IQ gets and sets whose payload is {space}local.
func (m *Mux) IQ(space, local string, h Handler) {
	m.iq[xmlstream.Name{Space: space, Local: local}] = h
}

// Message registers h for messages addressed to the server.
func (m *Mux) Message(h Handler) { m.message = h }

// Presence registers h for presence addressed to the server.
func (m *Mux) Presence(h Handler) { m.presence = h }

// Features returns the payload names that have an IQ handler, for service
// discovery.
func (m *Mux) Features() []xmlstream.Name {
	out := make([]xmlstream.Name, 0, len(m.iq))
	for n := range m.iq {
		out = append(out, n)
	}
	return out
}

// HandleStanza dispatches st; with no handler it returns ErrNoHandler.
func (m *Mux) HandleStanza(ctx context.Context, st *stanza.Stanza) (*xmlstream.Element, error) {
	var h Handler
	switch st.Kind {
	case stanza.IQ:
		if p := st.El.FirstChild(); p != nil {
			h = m.iq[p.Name]
		}
	case stanza.Message:
		h = m.message
	case stanza.Presence:
		h = m.presence
	}
	if h == nil {
		return nil, ErrNoHandler
	}
	return h.HandleStanza(ctx, st)
}
