package component

import (
	"context"

	"roost/discoinfo"
	"roost/module"
	"roost/stanza"
	"roost/xmlstream"
)

// Link delivers stanzas to connected components; *component.Server (the
// listener package) satisfies it.
type Link interface {
	// Send queues el for the component serving domain without blocking;
	// it reports false when none is connected or it cannot take more.
	Send(domain string, el *xmlstream.Element) bool
}

// Component is one configured component.
type Component struct {
	// Domain is the component's JID domain.
	Domain string
	// Parent is the account domain whose disco#items lists it ("": none).
	Parent string
	// Name is its name in disco#items, and in the disco#info answered
	// while it is not connected.
	Name string
}

// Options configure a Module.
type Options struct {
	Components []Component
	Link       Link
}

// Module hosts the components' domains.
type Module struct {
	opts Options
}

// New returns the module for opts.
func New(opts Options) *Module { return &Module{opts: opts} }

// Name implements module.Module.
func (m *Module) Name() string { return "component" }

// Register implements module.Module: one hosted service per component.
func (m *Module) Register(r *module.Registry) {
	for _, c := range m.opts.Components {
		r.Service(module.Service{
			Domain:  c.Domain,
			Parent:  c.Parent,
			Name:    c.Name,
			Handler: handler{c: c, link: m.opts.Link},
		})
	}
}

// errUnavailable answers stanzas for a component that is not connected,
// as Prosody's mod_component does.
var errUnavailable = &stanza.Error{Type: stanza.Wait, Condition: stanza.RemoteServerTimeout, Text: "Component unavailable"}

// handler serves one component's domain.
type handler struct {
	c    Component
	link Link
}

// HandleStanza hands st to the component. stanza.ErrReplied tells the
// router that the answer, if any, is the component's to send.
func (h handler) HandleStanza(_ context.Context, st *stanza.Stanza) (*xmlstream.Element, error) {
	if h.link.Send(h.c.Domain, st.Element()) {
		return nil, stanza.ErrReplied
	}
	if h.c.Name != "" && isDiscoInfo(st) {
		info := discoinfo.Info{
			Identities: []discoinfo.Identity{{Category: "component", Type: "generic", Name: h.c.Name}},
			Features:   []string{discoinfo.NSInfo},
		}
		return stanza.ResultIQ(st, info.Query("")), nil
	}
	return nil, errUnavailable
}

// isDiscoInfo reports whether st asks the component's bare domain for its
// disco#info without a node.
func isDiscoInfo(st *stanza.Stanza) bool {
	if st.Kind != stanza.IQ || st.Type != stanza.TypeGet || st.To.Local() != "" || st.To.Resource() != "" {
		return false
	}
	q := st.El.FirstChild()
	return q.Is(discoinfo.NSInfo, "query") && q.Get("node") == ""
}
