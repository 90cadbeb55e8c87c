package version

import (
	"context"

	"roost/module"
	"roost/stanza"
	"roost/xmlstream"
)

// NS is the software version namespace.
const NS = "jabber:iq:version"

// Options configure a Handler.
type Options struct {
	// Name is the software name (default "roost").
	Name string
	// Version is the build's version (default "dev").
	Version string
	// OS, when set, is revealed as the operating system.
	OS string
}

// Handler answers version queries. It is a router Handler.
type Handler struct {
	query *xmlstream.Element
}

// New returns a handler.
func New(opts Options) *Handler {
	if opts.Name == "" {
		opts.Name = "roost"
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	q := xmlstream.New(NS, "query").Append(
		xmlstream.New(NS, "name").AppendText(opts.Name),
		xmlstream.New(NS, "version").AppendText(opts.Version))
	if opts.OS != "" {
		q.Append(xmlstream.New(NS, "os").AppendText(opts.OS))
	}
	return &Handler{query: q}
}

// Name implements module.Module.
func (h *Handler) Name() string { return "version" }

// Register implements module.Module.
func (h *Handler) Register(r *module.Registry) {
	r.IQ("", NS, "query", h)
	r.ServerFeatures(NS)
}

// HandleStanza answers a version get addressed to a hosted domain.
func (h *Handler) HandleStanza(_ context.Context, st *stanza.Stanza) (*xmlstream.Element, error) {
	if st.To.IsZero() || st.To.Local() != "" {
		return nil, stanza.NewError(stanza.ServiceUnavailable, "")
	}
	if st.Type != stanza.TypeGet {
		return nil, stanza.NewError(stanza.BadRequest, "a version query is an IQ get")
	}
	return stanza.ResultIQ(st, h.query), nil
}
