package router

import (
	"context"
	"fmt"

	"roost/stanza"
	"roost/xmlstream"
)

// Mux dispatches server-answered stanzas to handlers: IQs by their type
// and the name of their payload, messages and presence to one handler
// each. It is itself a [Handler]; register handlers before serving.
type Mux struct {
	iq       map[muxKey]Handler
	message  Handler
	presence Handler
}

type muxKey struct {
	typ  string // stanza.TypeGet, stanza.TypeSet, or "" for both
	name xmlstream.Name
}

// NewMux returns an empty mux.
func NewMux() *Mux { return &Mux{iq: make(map[muxKey]Handler)} }

// IQ registers h for IQs of type typ (get, set, or "" for both) whose
// payload is name. A second registration for a key already served is a
// wiring mistake and panics, as net/http's ServeMux does; module.Set
// checks first and reports which modules clash.
func (m *Mux) IQ(typ string, name xmlstream.Name, h Handler) {
	k := muxKey{typ, name}
	_, dup := m.iq[k]
	if !dup && typ != "" {
		_, dup = m.iq[muxKey{"", name}]
	}
	if !dup && typ == "" {
		_, get := m.iq[muxKey{stanza.TypeGet, name}]
		_, set := m.iq[muxKey{stanza.TypeSet, name}]
		dup = get || set
	}
	if dup {
		panic(fmt.Sprintf("router: a second handler for IQ %q {%s}%s", typ, name.Space, name.Local))
	}
	m.iq[k] = h
}

// Message registers h for messages addressed to the server.
func (m *Mux) Message(h Handler) { m.message = h }

// Presence registers h for presence addressed to the server.
func (m *Mux) Presence(h Handler) { m.presence = h }

// HandleStanza dispatches st; with no handler it returns ErrNoHandler.
func (m *Mux) HandleStanza(ctx context.Context, st *stanza.Stanza) (*xmlstream.Element, error) {
	var h Handler
	switch st.Kind {
	case stanza.IQ:
		if p := st.El.FirstChild(); p != nil {
			if h = m.iq[muxKey{st.Type, p.Name}]; h == nil {
				h = m.iq[muxKey{"", p.Name}]
			}
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
