package disco

import (
	"context"
	"fmt"
	"log/slog"

	"roost/discoinfo"
	"roost/jid"
	"roost/module"
	"roost/stanza"
	"roost/xmlstream"
)

// Namespaces.
const (
	NSInfo  = discoinfo.NSInfo
	NSItems = discoinfo.NSItems
	NSCaps  = "http://jabber.org/protocol/caps"
)

// DefaultCapsNode identifies roost as the software behind a caps
// verification string (XEP-0115 §4: a URI naming the application).
const DefaultCapsNode = "https://roost.im/caps"

// serverIdentity is the identity every account domain has (XEP-0030 §3.1
// and the registry's "server" category).
var serverIdentity = discoinfo.Identity{Category: "server", Type: "im", Name: "roost"}

// accountIdentity is the identity of every account's bare JID.
var accountIdentity = discoinfo.Identity{Category: "account", Type: "registered"}

// Subscription returns the subscription state ("none", "to", "from" or
// "both", RFC 6121 §2.1.2.5) of contact in user's roster. "from" and "both"
// mean contact may see user's presence.
type Subscription func(ctx context.Context, user, contact jid.JID) (string, error)

// Options configure a Handler.
type Options struct {
	// Catalog is what the modules before disco declare: the features of
	// the server and of accounts, and the hosted services.
	Catalog module.Catalog
	// CapsNode is the caps node (default DefaultCapsNode).
	CapsNode string
	// Subscription decides who may discover an account; nil lets only the
	// account itself.
	Subscription Subscription
	Logger       *slog.Logger
}

// Handler answers disco#info and disco#items. It is a router Handler.
type Handler struct {
	subs        Subscription
	log         *slog.Logger
	node        string
	ver         string
	server      *xmlstream.Element            // disco#info query of the server
	caps        *xmlstream.Element            // the same with node="<node>#<ver>"
	account     *xmlstream.Element            // disco#info query of an account
	items       map[string]*xmlstream.Element // disco#items query of each domain with services
	empty       *xmlstream.Element            // empty disco#items query
	nodes       module.AccountNodes           // the nodes of accounts, or nil
	capsNode    string                        // node + "#" + ver
	serverNodes module.ServerNodes            // nodes of the account domains, or nil
}

// New builds the replies and the caps verification string.
func New(opts Options) (*Handler, error) {
	h := &Handler{subs: opts.Subscription, log: opts.Logger, node: opts.CapsNode, nodes: opts.Catalog.Nodes, serverNodes: opts.Catalog.ServerNodes}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.node == "" {
		h.node = DefaultCapsNode
	}
	server := opts.Catalog.Server
	server.Identities = append([]discoinfo.Identity{serverIdentity}, server.Identities...)
	server = server.Normalized()
	ver, err := server.Ver()
	if err != nil {
		return nil, fmt.Errorf("build disco info: %w", err)
	}
	h.ver = ver
	h.capsNode = h.node + "#" + h.ver
	h.server = server.Query("")
	h.caps = server.Query(h.capsNode)
	account := opts.Catalog.Account
	account.Identities = append([]discoinfo.Identity{accountIdentity}, account.Identities...)
	h.account = account.Normalized().Query("")
	h.items = make(map[string]*xmlstream.Element)
	for _, svc := range opts.Catalog.Services {
		if svc.Parent == "" {
			continue
		}
		q := h.items[svc.Parent]
		if q == nil {
			q = xmlstream.New(NSItems, "query")
			h.items[svc.Parent] = q
		}
		el := xmlstream.New(NSItems, "item").SetAttr("jid", svc.Domain)
		if svc.Name != "" {
			el.SetAttr("name", svc.Name)
		}
		q.Append(el)
	}
	h.empty = xmlstream.New(NSItems, "query")
	return h, nil
}

// Name implements module.Module.
func (h *Handler) Name() string { return "disco" }

// Register implements module.Module. disco comes last in the module list:
// it lists what the modules before it serve.
func (h *Handler) Register(r *module.Registry) {
	r.IQ("", NSInfo, "query", h)
	r.IQ("", NSItems, "query", h)
	r.StreamFeatures(module.AfterAuth, h.Caps())
}

// Ver returns the server's verification string.
func (h *Handler) Ver() string { return h.ver }

// Caps returns a new stream feature element advertising the server's
// capabilities (XEP-0115 §6.3).
func (h *Handler) Caps() *xmlstream.Element {
	return xmlstream.New(NSCaps, "c").SetAttr("hash", "sha-1").SetAttr("node", h.node).SetAttr("ver", h.ver)
}

// HandleStanza answers a disco#info or disco#items get addressed to the
// server, to an account's bare JID, or to no one (the sender's account).
func (h *Handler) HandleStanza(ctx context.Context, st *stanza.Stanza) (*xmlstream.Element, error) {
	q := st.El.FirstChild()
	if q == nil || (!q.Is(NSInfo, "query") && !q.Is(NSItems, "query")) {
		return nil, stanza.NewError(stanza.ServiceUnavailable, "")
	}
	if st.Type != stanza.TypeGet {
		return nil, stanza.NewError(stanza.BadRequest, "service discovery is queried with an IQ get")
	}
	node := q.Get("node")
	account := st.To
	if account.IsZero() {
		account = st.From.Bare() // RFC 6120 §10.3.3: on behalf of the sender's account
	}
	if account.Local() == "" {
		return h.serverReply(ctx, st, q, account.Domain(), node)
	}
	return h.accountReply(ctx, st, q, account.Bare(), node)
}

func (h *Handler) serverReply(ctx context.Context, st *stanza.Stanza, q *xmlstream.Element, domain, node string) (*xmlstream.Element, error) {
	switch {
	case q.Name.Space == NSInfo && node == "":
		return stanza.ResultIQ(st, h.server), nil
	case q.Name.Space == NSInfo && node == h.capsNode:
		return stanza.ResultIQ(st, h.caps), nil
	case q.Name.Space == NSItems && node == "":
		if items, ok := h.items[domain]; ok {
			return stanza.ResultIQ(st, items), nil
		}
		return stanza.ResultIQ(st, h.empty), nil
	case h.serverNodes != nil && q.Name.Space == NSInfo:
		if info, ok := h.serverNodes.NodeInfo(ctx, st.From, node); ok {
			return stanza.ResultIQ(st, info.Normalized().Query(node)), nil
		}
	case h.serverNodes != nil && q.Name.Space == NSItems:
		if items, ok := h.serverNodes.NodeItems(ctx, st.From, node); ok {
			res := xmlstream.New(NSItems, "query").SetAttr("node", node)
			for _, it := range items {
				el := xmlstream.New(NSItems, "item").SetAttr("jid", domain).SetAttr("node", it.Node)
				if it.Name != "" {
					el.SetAttr("name", it.Name)
				}
				res.Append(el)
			}
			return stanza.ResultIQ(st, res), nil
		}
	}
	return nil, stanza.NewError(stanza.ItemNotFound, "no such node")
}

// accountReply applies XEP-0030 §8: no information about an account to
// whoever may not see its presence. The account's nodes are described by
// the module that holds them, which applies their access models
// (XEP-0060 §5.2, §5.3).
func (h *Handler) accountReply(ctx context.Context, st *stanza.Stanza, q *xmlstream.Element, account jid.JID, node string) (*xmlstream.Element, error) {
	if q.Name.Space == NSItems {
		if node != "" {
			return nil, stanza.NewError(stanza.ItemNotFound, "no such node")
		}
		if h.nodes == nil {
			return stanza.ResultIQ(st, h.empty), nil
		}
		list, err := h.nodes.Nodes(ctx, account, st.From)
		if err != nil {
			return nil, err
		}
		items := xmlstream.New(NSItems, "query")
		for _, n := range list {
			el := xmlstream.New(NSItems, "item").SetAttr("jid", account.String()).SetAttr("node", n.Node)
			if n.Name != "" {
				el.SetAttr("name", n.Name)
			}
			items.Append(el)
		}
		return stanza.ResultIQ(st, items), nil
	}
	if node != "" && h.nodes != nil {
		info, err := h.nodes.NodeInfo(ctx, account, st.From, node)
		if err != nil {
			return nil, err
		}
		return stanza.ResultIQ(st, info.Normalized().Query(node)), nil
	}
	ok, err := h.trusted(ctx, account, st.From)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, stanza.NewError(stanza.ServiceUnavailable, "")
	}
	if node != "" {
		return nil, stanza.NewError(stanza.ItemNotFound, "no such node")
	}
	return stanza.ResultIQ(st, h.account), nil
}

func (h *Handler) trusted(ctx context.Context, account, requester jid.JID) (bool, error) {
	if requester.Bare().Equal(account) {
		return true, nil
	}
	if h.subs == nil || requester.IsZero() {
		return false, nil
	}
	sub, err := h.subs(ctx, account, requester.Bare())
	if err != nil {
		return false, fmt.Errorf("look up subscription: %w", err)
	}
	return sub == "from" || sub == "both", nil
}
