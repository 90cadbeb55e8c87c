package module

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"roost/discoinfo"
	"roost/form"
	"roost/jid"
	"roost/router"
	"roost/stanza"
	"roost/xmlstream"
)

// Module is one feature of the server.
type Module interface {
	// Name names the module in logs and in wiring errors.
	Name() string
	// Register declares what the module serves. It is called once, when
	// the module is added to a Set.
	Register(r *Registry)
}

// Stage is a point of stream negotiation at which stream features are
// offered (RFC 6120 §4.3).
type Stage int

// Stages.
const (
	// BeforeAuth features are offered with the SASL mechanisms.
	BeforeAuth Stage = iota
	// AfterAuth features are offered after authentication, with bind.
	AfterAuth
)

// PreAuthHandler answers IQs received on an encrypted but not yet
// authenticated client stream (in-band registration, XEP-0077).
// PreAuthStream is called at a stream's first such IQ and returns the
// function that answers the IQs of that stream, so that what one IQ
// establishes (an invitation token accepted, XEP-0445) is kept for the
// next and forgotten with the stream.
type PreAuthHandler interface {
	PreAuthStream() PreAuthFunc
}

// BindHandler enables a session feature a client asks for within its
// Bind 2 request (XEP-0386 §3), such as carbons, so that the session
// starts with it on instead of enabling it by a request of its own.
type BindHandler interface {
	// EnableInline enables the feature for the session full, which is
	// bound by the time it is called, as el asks: el is the child of the
	// client's <bind xmlns='urn:xmpp:bind:0'/> in the feature's namespace.
	// It returns what goes into the <bound/> answer, or nil.
	EnableInline(ctx context.Context, full jid.JID, el *xmlstream.Element) *xmlstream.Element
}

// BindFeature is a feature offered inline in Bind 2: Var is listed as
// <feature var='...'/> in the Bind 2 stream feature, and the client's
// request elements in that namespace go to Handler.
type BindFeature struct {
	Var     string
	Handler BindHandler
}

// PreAuthFunc answers one IQ sent before authentication on a stream to
// domain: it returns the reply, or nil for an IQ it does not serve.
type PreAuthFunc = func(ctx context.Context, domain string, iq *xmlstream.Element) *xmlstream.Element

// AccountObserver learns that an account was deleted, to forget what it
// keeps about it in memory. Persistent data goes with the account in the
// store's own deletion.
type AccountObserver interface {
	AccountDeleted(ctx context.Context, bare jid.JID)
}

// Service is a JID domain the server hosts besides its account domains,
// such as conference.example.org.
type Service struct {
	// Domain is the service's JID domain.
	Domain string
	// Parent is the account domain whose disco#items lists the service;
	// "" lists it nowhere.
	Parent string
	// Name is the human-readable name in disco#items.
	Name string
	// Info is the disco#info answer for the bare domain without a node.
	// With no identities the Handler answers disco#info itself.
	Info discoinfo.Info
	// Handler gets every other stanza addressed to the domain or to a JID
	// at it, IQ results and errors included. See router.Handler for the
	// contract.
	Handler router.Handler
}

// Job is a background task, started when the server runs; Run must return
// when ctx is done.
type Job struct {
	Name string
	Run  func(ctx context.Context) error
}

// Route is an HTTP handler for a pattern of net/http's ServeMux, served on
// the server's HTTPS listener.
type Route struct {
	Pattern string
	Handler http.Handler
}

// NodeItem is one item of a disco#items answer about a node: a node the
// server holds on an account's behalf (XEP-0030 §4.2, XEP-0060 §5.2) or
// on the account domain itself, such as an ad-hoc command (XEP-0050 §2.2).
type NodeItem struct {
	Node, Name string
}

// AccountNodes answers service discovery about the nodes the server holds
// on an account's behalf, such as its personal eventing nodes (XEP-0163
// §5, XEP-0060 §5.2 and §5.3).
type AccountNodes interface {
	// Nodes lists the nodes of account that requester may discover.
	Nodes(ctx context.Context, account, requester jid.JID) ([]NodeItem, error)
	// NodeInfo returns the disco#info of account's node for requester,
	// or a *stanza.Error (item-not-found, ...).
	NodeInfo(ctx context.Context, account, requester jid.JID, node string) (discoinfo.Info, error)
}

// ServerNodes answers service discovery about the nodes of the account
// domains themselves, such as the list of ad-hoc commands (XEP-0050 §2.2,
// node "http://jabber.org/protocol/commands") and each command's node.
type ServerNodes interface {
	// NodeItems returns the disco#items of node for requester, items of
	// the domain itself; ok is false for a node it does not serve.
	NodeItems(ctx context.Context, requester jid.JID, node string) (items []NodeItem, ok bool)
	// NodeInfo returns the disco#info of node for requester; ok is false
	// for a node it does not serve.
	NodeInfo(ctx context.Context, requester jid.JID, node string) (info discoinfo.Info, ok bool)
}

// Catalog is what the modules of a set declare for service discovery.
type Catalog struct {
	// Server is the disco#info of the account domains themselves.
	Server discoinfo.Info
	// Account is what the server serves on an account's bare JID (RFC 6120
	// §10.3.3, RFC 6121 §8.5.2.1.3).
	Account discoinfo.Info
	// Nodes, when a module declared them, describes the nodes of each
	// account.
	Nodes    AccountNodes
	Services []Service
	// ServerNodes, when a module declared them, describes nodes of the
	// account domains.
	ServerNodes ServerNodes
}

// ServicesOf returns the services listed in the disco#items of domain.
func (c *Catalog) ServicesOf(domain string) []Service {
	var out []Service
	for _, s := range c.Services {
		if s.Parent == domain {
			out = append(out, s)
		}
	}
	return out
}

// iqKey identifies an IQ handler: the IQ type ("" for get and set) and the
// payload's name.
type iqKey struct {
	typ  string
	name xmlstream.Name
}

func (k iqKey) String() string {
	t := k.typ
	if t == "" {
		t = "get/set"
	}
	return fmt.Sprintf("IQ %s {%s}%s", t, k.name.Space, k.name.Local)
}

type owned[T any] struct {
	owner string
	v     T
}

// Set assembles modules. The zero value is an empty set.
type Set struct {
	names     []string
	iqs       []owned[iqKey]
	handlers  []router.Handler // parallel to iqs
	message   *owned[router.Handler]
	presence  *owned[router.Handler]
	inbound   []router.Interceptor
	outbound  []router.Interceptor
	offline   *owned[router.Interceptor]
	sessions  []router.SessionObserver
	delivered []router.DeliveryObserver
	accounts  []AccountObserver
	features  [2][]*xmlstream.Element
	inline    []BindFeature
	preAuth   *owned[PreAuthHandler]
	catalog   Catalog
	owners    map[string]string // service domain or HTTP pattern → module
	jobs      []Job
	stops     []Job
	routes    []Route
	commands  []Command
	errs      []error
}

// Add registers m. Modules see stanzas in the order they are added.
func (s *Set) Add(m Module) {
	s.names = append(s.names, m.Name())
	m.Register(&Registry{set: s, owner: m.Name()})
}

// Names returns the names of the modules, in order.
func (s *Set) Names() []string { return slices.Clone(s.names) }

// Err returns the wiring errors of the modules added so far: claims on
// something another module already has.
func (s *Set) Err() error { return errors.Join(s.errs...) }

// Catalog returns what the modules added so far declare for service
// discovery.
func (s *Set) Catalog() Catalog {
	c := s.catalog
	c.Server = c.Server.Normalized()
	c.Account = c.Account.Normalized()
	c.Services = slices.Clone(c.Services)
	return c
}

// StreamFeatures returns the stream features offered at stage.
func (s *Set) StreamFeatures(stage Stage) []*xmlstream.Element {
	return slices.Clone(s.features[stage])
}

// BindFeatures returns the features clients may enable inline in Bind 2,
// in the order modules registered them.
func (s *Set) BindFeatures() []BindFeature { return slices.Clone(s.inline) }

// PreAuth returns the pre-authentication handler, or nil.
func (s *Set) PreAuth() PreAuthHandler {
	if s.preAuth == nil {
		return nil
	}
	return s.preAuth.v
}

// AccountObservers returns who learns of deleted accounts.
func (s *Set) AccountObservers() []AccountObserver { return slices.Clone(s.accounts) }

// Jobs returns the background jobs.
func (s *Set) Jobs() []Job { return slices.Clone(s.jobs) }

// Stops returns the shutdown steps, in module order.
func (s *Set) Stops() []Job { return slices.Clone(s.stops) }

// Commands returns the ad-hoc commands, in registration order.
func (s *Set) Commands() []Command { return slices.Clone(s.commands) }

// Routes returns the HTTP routes.
func (s *Set) Routes() []Route { return slices.Clone(s.routes) }

// Services returns the hosted services.
func (s *Set) Services() []Service { return slices.Clone(s.catalog.Services) }

// Router is what a set installs itself on; *router.Router satisfies it.
type Router interface {
	SetHandler(h router.Handler)
	Host(domain string, h router.Handler)
	UseInbound(ics ...router.Interceptor)
	UseOutbound(ics ...router.Interceptor)
	UseOffline(ic router.Interceptor)
	Observe(o router.SessionObserver)
	ObserveDeliveries(o router.DeliveryObserver)
}

// Install puts the handlers, interceptors, observers and services on r.
// Call it once, after the last Add, when Err is nil.
func (s *Set) Install(r Router) {
	mux := router.NewMux()
	for i, k := range s.iqs {
		mux.IQ(k.v.typ, k.v.name, s.handlers[i])
	}
	if s.message != nil {
		mux.Message(s.message.v)
	}
	if s.presence != nil {
		mux.Presence(s.presence.v)
	}
	r.SetHandler(mux)
	r.UseInbound(s.inbound...)
	r.UseOutbound(s.outbound...)
	if s.offline != nil {
		r.UseOffline(s.offline.v)
	}
	for _, o := range s.sessions {
		r.Observe(o)
	}
	for _, o := range s.delivered {
		r.ObserveDeliveries(o)
	}
	for _, svc := range s.catalog.Services {
		r.Host(svc.Domain, serviceHandler(svc))
	}
}

// claim records owner as the holder of a unique thing; it reports false
// (and records the error) when another module holds it.
func (s *Set) claim(what, owner string) bool {
	if s.owners == nil {
		s.owners = make(map[string]string)
	}
	if prev, ok := s.owners[what]; ok {
		s.errs = append(s.errs, fmt.Errorf("module: %q and %q both register %s", prev, owner, what))
		return false
	}
	s.owners[what] = owner
	return true
}

// Registry is a module's view of a set while it registers; it records the
// module as the owner of what it declares.
type Registry struct {
	set   *Set
	owner string
}

// IQ serves IQs of type typ (stanza.TypeGet, stanza.TypeSet, or "" for
// both) whose payload is {space}local, addressed to an account domain, to
// an account's bare JID, or to no one (RFC 6120 §10.3.3).
func (r *Registry) IQ(typ, space, local string, h router.Handler) {
	k := iqKey{typ, xmlstream.Name{Space: space, Local: local}}
	if typ != "" && typ != stanza.TypeGet && typ != stanza.TypeSet {
		r.set.errs = append(r.set.errs, fmt.Errorf("module: %q registers %s: IQ handlers serve get or set", r.owner, k))
		return
	}
	for _, o := range r.set.iqs {
		if o.v.name == k.name && (o.v.typ == "" || typ == "" || o.v.typ == typ) {
			r.set.errs = append(r.set.errs, fmt.Errorf("module: %q and %q both register %s", o.owner, r.owner, k))
			return
		}
	}
	r.set.iqs = append(r.set.iqs, owned[iqKey]{r.owner, k})
	r.set.handlers = append(r.set.handlers, h)
}

// Message serves messages addressed to an account domain itself.
func (r *Registry) Message(h router.Handler) {
	if r.set.claim("messages to the server", r.owner) {
		r.set.message = &owned[router.Handler]{r.owner, h}
	}
}

// Presence serves presence addressed to an account domain itself.
func (r *Registry) Presence(h router.Handler) {
	if r.set.claim("presence to the server", r.owner) {
		r.set.presence = &owned[router.Handler]{r.owner, h}
	}
}

// Inbound intercepts stanzas addressed to existing local accounts.
func (r *Registry) Inbound(ic router.Interceptor) { r.set.inbound = append(r.set.inbound, ic) }

// Outbound intercepts stanzas sent by local sessions.
func (r *Registry) Outbound(ic router.Interceptor) { r.set.outbound = append(r.set.outbound, ic) }

// Offline takes messages that found no available resource.
func (r *Registry) Offline(ic router.Interceptor) {
	if r.set.claim("offline messages", r.owner) {
		r.set.offline = &owned[router.Interceptor]{r.owner, ic}
	}
}

// ObserveSessions learns of sessions that end.
func (r *Registry) ObserveSessions(o router.SessionObserver) {
	r.set.sessions = append(r.set.sessions, o)
}

// ObserveDeliveries learns where messages to local accounts were delivered.
func (r *Registry) ObserveDeliveries(o router.DeliveryObserver) {
	r.set.delivered = append(r.set.delivered, o)
}

// ObserveAccounts learns of deleted accounts.
func (r *Registry) ObserveAccounts(o AccountObserver) { r.set.accounts = append(r.set.accounts, o) }

// ServerIdentity adds an identity to the account domains' disco#info.
func (r *Registry) ServerIdentity(ids ...discoinfo.Identity) {
	r.set.catalog.Server.Identities = append(r.set.catalog.Server.Identities, ids...)
}

// ServerFeatures adds features to the account domains' disco#info.
func (r *Registry) ServerFeatures(features ...string) {
	r.set.catalog.Server.Features = append(r.set.catalog.Server.Features, features...)
}

// ServerForm adds an extension form (XEP-0128) to the account domains'
// disco#info; one per FORM_TYPE.
func (r *Registry) ServerForm(f *form.Form) {
	if r.set.claim("server disco form "+f.FormType(), r.owner) {
		r.set.catalog.Server.Forms = append(r.set.catalog.Server.Forms, f)
	}
}

// AccountIdentity adds an identity to every account's disco#info.
func (r *Registry) AccountIdentity(ids ...discoinfo.Identity) {
	r.set.catalog.Account.Identities = append(r.set.catalog.Account.Identities, ids...)
}

// AccountFeatures adds features the server serves on an account's behalf.
func (r *Registry) AccountFeatures(features ...string) {
	r.set.catalog.Account.Features = append(r.set.catalog.Account.Features, features...)
}

// AccountNodes answers disco#items of accounts and disco#info of their
// nodes; one module may.
func (r *Registry) AccountNodes(n AccountNodes) {
	if r.set.claim("account nodes", r.owner) {
		r.set.catalog.Nodes = n
	}
}

// ServerNodes answers disco#items and disco#info about nodes of the
// account domains; one module may.
func (r *Registry) ServerNodes(n ServerNodes) {
	if r.set.claim("server nodes", r.owner) {
		r.set.catalog.ServerNodes = n
	}
}

// Command offers an ad-hoc command (XEP-0050) on the account domains;
// the module that serves ad-hoc commands runs it.
func (r *Registry) Command(c Command) {
	if c.Node == "" || c.Run == nil {
		r.set.errs = append(r.set.errs, fmt.Errorf("module: %q registers a command without a node or a function", r.owner))
		return
	}
	if r.set.claim("command "+c.Node, r.owner) {
		r.set.commands = append(r.set.commands, c)
	}
}

// StreamFeatures adds stream features offered to clients at stage.
func (r *Registry) StreamFeatures(stage Stage, els ...*xmlstream.Element) {
	r.set.features[stage] = append(r.set.features[stage], els...)
}

// BindFeature offers a session feature, named by its namespace ns, for
// clients to enable within their Bind 2 request (XEP-0386 §3); h gets the
// request's elements in ns once the session is bound. One module per
// namespace.
func (r *Registry) BindFeature(ns string, h BindHandler) {
	if ns == "" || h == nil {
		r.set.errs = append(r.set.errs, fmt.Errorf("module: %q registers a Bind 2 feature without a namespace or handler", r.owner))
		return
	}
	if r.set.claim("Bind 2 feature "+ns, r.owner) {
		r.set.inline = append(r.set.inline, BindFeature{Var: ns, Handler: h})
	}
}

// PreAuth answers IQs before authentication.
func (r *Registry) PreAuth(h PreAuthHandler) {
	if r.set.claim("pre-authentication IQs", r.owner) {
		r.set.preAuth = &owned[PreAuthHandler]{r.owner, h}
	}
}

// Service hosts a service domain.
func (r *Registry) Service(svc Service) {
	if svc.Domain == "" || svc.Handler == nil {
		r.set.errs = append(r.set.errs, fmt.Errorf("module: %q registers a service without a domain or handler", r.owner))
		return
	}
	if r.set.claim("service "+svc.Domain, r.owner) {
		svc.Info = svc.Info.Normalized()
		r.set.catalog.Services = append(r.set.catalog.Services, svc)
	}
}

// Job runs a background task while the server runs.
func (r *Registry) Job(name string, run func(ctx context.Context) error) {
	r.set.jobs = append(r.set.jobs, Job{Name: r.owner + "/" + name, Run: run})
}

// Stop runs fn when the server shuts down, before the protocol servers
// close their streams, so that a feature can still tell its users (a group
// chat sends its occupants status 332, XEP-0045 §7.2.20). Stops run one
// after the other in module order; fn must return when ctx is done.
func (r *Registry) Stop(name string, fn func(ctx context.Context) error) {
	r.set.stops = append(r.set.stops, Job{Name: r.owner + "/" + name, Run: fn})
}

// HTTP serves h for pattern on the HTTPS listener.
func (r *Registry) HTTP(pattern string, h http.Handler) {
	if r.set.claim("HTTP "+pattern, r.owner) {
		r.set.routes = append(r.set.routes, Route{Pattern: pattern, Handler: h})
	}
}

// PageHeaders sets the headers of a page a module renders on the server
// (the console, an invitation's landing page): a Content-Security-Policy
// that allows no script, only inline styles, same-origin images and
// forms, and no framing; no MIME sniffing; no referrer, so that a token
// in the address goes nowhere; and no caching, as such pages show
// tokens and personal data.
func PageHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

// HandlerFunc and InterceptorFunc adapt functions, so that a module
// depends on this package alone.
type (
	HandlerFunc     = router.HandlerFunc
	InterceptorFunc = router.InterceptorFunc
)

// IQs returns the payload names IQ handlers serve, in registration order.
func (s *Set) IQs() []xmlstream.Name {
	out := make([]xmlstream.Name, len(s.iqs))
	for i, k := range s.iqs {
		out[i] = k.v.name
	}
	return out
}
