package disco

import (
	"cmp"
	"context"
	"crypto/sha1" //nolint:gosec // XEP-0115 §5.1 names SHA-1; it is an identifier, not a security boundary
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"roost/jid"
	"roost/stanza"
	"roost/xmlstream"
)

// Namespaces.
const (
	NSInfo  = "http://jabber.org/protocol/disco#info"
	NSItems = "http://jabber.org/protocol/disco#items"
	NSCaps  = "http://jabber.org/protocol/caps"
)

// DefaultCapsNode identifies roost as the software behind a caps
// verification string (XEP-0115 §4: a URI naming the application).
const DefaultCapsNode = "https://roost.im/caps"

// Errors.
var (
	// ErrDuplicateIdentity refuses identities that XEP-0115 §5.4 would make
	// invalid for caps (the same category/type/lang/name twice).
	ErrDuplicateIdentity = errors.New("disco: duplicate identity")
)

// Identity is one <identity/> of a disco#info result.
type Identity struct {
	Category, Type, Lang, Name string
}

// Item is one <item/> of a disco#items result.
type Item struct {
	JID        jid.JID
	Node, Name string
}

// Subscription returns the subscription state ("none", "to", "from" or
// "both", RFC 6121 §2.1.2.5) of contact in user's roster. "from" and "both"
// mean contact may see user's presence.
type Subscription func(ctx context.Context, user, contact jid.JID) (string, error)

// Options configure a Handler.
type Options struct {
	// Identities of the server; default one server/im named "roost".
	Identities []Identity
	// Features the server serves, besides disco's own.
	Features []string
	// AccountFeatures the server serves on behalf of an account's bare JID,
	// besides disco's own.
	AccountFeatures []string
	// Items of the server (services such as conference.<domain>).
	Items []Item
	// CapsNode is the caps node (default DefaultCapsNode).
	CapsNode string
	// Subscription decides who may discover an account; nil lets only the
	// account itself.
	Subscription Subscription
	Logger       *slog.Logger
}

// Handler answers disco#info and disco#items. It is a router Handler.
type Handler struct {
	subs     Subscription
	log      *slog.Logger
	node     string
	ver      string
	server   *xmlstream.Element // disco#info query of the server
	caps     *xmlstream.Element // the same with node="<node>#<ver>"
	account  *xmlstream.Element // disco#info query of an account
	items    *xmlstream.Element // disco#items query of the server
	empty    *xmlstream.Element // empty disco#items query
	capsNode string             // node + "#" + ver
}

// New builds the replies and the caps verification string.
func New(opts Options) (*Handler, error) {
	ids := slices.Clone(opts.Identities)
	if len(ids) == 0 {
		ids = []Identity{{Category: "server", Type: "im", Name: "roost"}}
	}
	slices.SortFunc(ids, compareIdentity)
	for i := 1; i < len(ids); i++ {
		if ids[i] == ids[i-1] {
			return nil, fmt.Errorf("build disco info: %w: %+v", ErrDuplicateIdentity, ids[i])
		}
	}
	h := &Handler{subs: opts.Subscription, log: opts.Logger, node: opts.CapsNode}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.node == "" {
		h.node = DefaultCapsNode
	}
	features := normalise(opts.Features)
	h.ver = Ver(ids, features)
	h.capsNode = h.node + "#" + h.ver
	h.server = infoQuery("", ids, features)
	h.caps = infoQuery(h.capsNode, ids, features)
	h.account = infoQuery("", []Identity{{Category: "account", Type: "registered"}}, normalise(opts.AccountFeatures))
	h.items = xmlstream.New(NSItems, "query")
	for _, it := range opts.Items {
		el := xmlstream.New(NSItems, "item").SetAttr("jid", it.JID.String())
		if it.Node != "" {
			el.SetAttr("node", it.Node)
		}
		if it.Name != "" {
			el.SetAttr("name", it.Name)
		}
		h.items.Append(el)
	}
	h.empty = xmlstream.New(NSItems, "query")
	return h, nil
}

// normalise adds disco's own features, sorts and deduplicates.
func normalise(features []string) []string {
	out := append([]string{NSInfo, NSItems}, features...)
	slices.Sort(out)
	return slices.Compact(out)
}

func compareIdentity(a, b Identity) int {
	return cmp.Or(cmp.Compare(a.Category, b.Category), cmp.Compare(a.Type, b.Type),
		cmp.Compare(a.Lang, b.Lang), cmp.Compare(a.Name, b.Name))
}

func infoQuery(node string, ids []Identity, features []string) *xmlstream.Element {
	q := xmlstream.New(NSInfo, "query")
	if node != "" {
		q.SetAttr("node", node)
	}
	q.Children = make([]xmlstream.Node, 0, len(ids)+len(features))
	for _, id := range ids {
		el := xmlstream.New(NSInfo, "identity").SetAttr("category", id.Category).SetAttr("type", id.Type)
		if id.Lang != "" {
			el.SetAttrNS(xmlstream.NSXML, "lang", id.Lang)
		}
		if id.Name != "" {
			el.SetAttr("name", id.Name)
		}
		q.Append(el)
	}
	for _, f := range features {
		q.Append(xmlstream.New(NSInfo, "feature").SetAttr("var", f))
	}
	return q
}

// Ver computes the XEP-0115 §5.1 verification string of identities and
// features, which must already be sorted (identities by category, type,
// lang, name; features by octet) and free of duplicates.
func Ver(ids []Identity, features []string) string {
	var s []byte
	for _, id := range ids {
		s = append(s, id.Category...)
		s = append(s, '/')
		s = append(s, id.Type...)
		s = append(s, '/')
		s = append(s, id.Lang...)
		s = append(s, '/')
		s = append(s, id.Name...)
		s = append(s, '<')
	}
	for _, f := range features {
		s = append(s, f...)
		s = append(s, '<')
	}
	sum := sha1.Sum(s) //nolint:gosec // see the import
	return base64.StdEncoding.EncodeToString(sum[:])
}

// Ver returns the server's verification string.
func (h *Handler) Ver() string { return h.ver }

// Caps returns a new stream feature element advertising the server's
// capabilities (XEP-0115 §6.3).
func (h *Handler) Caps() *xmlstream.Element {
	return xmlstream.New(NSCaps, "c").SetAttr("hash", "sha-1").SetAttr("node", h.node).SetAttr("ver", h.ver)
}

// Features returns the namespaces this package serves.
func (h *Handler) Features() []string { return []string{NSInfo, NSItems} }

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
		return h.serverReply(st, q, node)
	}
	return h.accountReply(ctx, st, q, account.Bare(), node)
}

func (h *Handler) serverReply(st *stanza.Stanza, q *xmlstream.Element, node string) (*xmlstream.Element, error) {
	switch {
	case q.Name.Space == NSInfo && node == "":
		return stanza.ResultIQ(st, h.server), nil
	case q.Name.Space == NSInfo && node == h.capsNode:
		return stanza.ResultIQ(st, h.caps), nil
	case q.Name.Space == NSItems && node == "":
		return stanza.ResultIQ(st, h.items), nil
	}
	return nil, stanza.NewError(stanza.ItemNotFound, "no such node")
}

// accountReply applies XEP-0030 §8: no information about an account to
// whoever may not see its presence.
func (h *Handler) accountReply(ctx context.Context, st *stanza.Stanza, q *xmlstream.Element, account jid.JID, node string) (*xmlstream.Element, error) {
	if q.Name.Space == NSItems {
		if node != "" {
			return nil, stanza.NewError(stanza.ItemNotFound, "no such node")
		}
		return stanza.ResultIQ(st, h.empty), nil
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
