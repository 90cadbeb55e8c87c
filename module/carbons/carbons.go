// Package carbons keeps a user's devices in step (XEP-0280 Message
// Carbons): a session that enables carbons gets a copy of each chat
// message its account sends from another session (<sent/>) or receives
// on another session (<received/>).
//
// Copies are made from two router hooks: an outbound interceptor that
// never consumes (sent copies) and a delivery observer that learns which
// sessions got a message (received copies go to the other enabled ones).
// Which messages qualify follows XEP-0280 §6: chat messages, normal
// messages with a body, MUC private messages, and chat states, receipts
// and markers of those kinds; never groupchat, never anything carrying
// <private/> or a no-copy hint (XEP-0334). The <private/> element is
// removed before the message leaves (§7).
//
// A session enables carbons with an IQ (§4) or within its Bind 2 request
// (XEP-0386), through the module's BindFeature. The enabled set is per
// session, in memory, forgotten when the session ends.
package carbons

import (
	"context"
	"sync"

	"roost/jid"
	"roost/module"
	"roost/stanza"
	"roost/xmlstream"
)

// Namespaces.
const (
	NS        = "urn:xmpp:carbons:2"
	nsForward = "urn:xmpp:forward:0"
	nsHints   = "urn:xmpp:hints"
	nsMUCUser = "http://jabber.org/protocol/muc#user"
)

// Router is what carbons needs from the session table; *router.Router
// satisfies it.
type Router interface {
	Connected(bare jid.JID) []jid.JID
	Deliver(full jid.JID, el *xmlstream.Element) bool
}

// Carbons tracks who enabled carbons and makes the copies.
type Carbons struct {
	r Router

	mu      sync.Mutex
	enabled map[string]struct{} // full JIDs
	// accounts counts the enabled sessions per bare JID, so that the
	// common case (no session of the account enabled carbons) costs one
	// map lookup per message instead of a walk of the session table.
	accounts map[string]int
}

// New returns a Carbons.
func New(r Router) *Carbons {
	return &Carbons{r: r, enabled: make(map[string]struct{}), accounts: make(map[string]int)}
}

// Name implements module.Module.
func (c *Carbons) Name() string { return "carbons" }

// Register implements module.Module. Carbons come after im in the module
// list: a sent copy is made of what im let through.
func (c *Carbons) Register(r *module.Registry) {
	r.IQ("", NS, "enable", c)
	r.IQ("", NS, "disable", c)
	r.Outbound(module.InterceptorFunc(c.InterceptOutbound))
	r.ObserveDeliveries(c)
	r.ObserveSessions(c)
	r.ServerFeatures(NS)
	r.BindFeature(NS, c)
}

// EnableInline enables carbons for a session that asks for them in its
// Bind 2 request (XEP-0386 §3, XEP-0280 §4): the session starts with them
// on, and nothing needs saying in <bound/>, as enabling cannot fail.
func (c *Carbons) EnableInline(_ context.Context, full jid.JID, el *xmlstream.Element) *xmlstream.Element {
	if el.Name.Local == "enable" && full.Resource() != "" {
		c.mu.Lock()
		c.enableLocked(full)
		c.mu.Unlock()
	}
	return nil
}

// HandleStanza answers enable and disable requests (§4, §5).
func (c *Carbons) HandleStanza(_ context.Context, st *stanza.Stanza) (*xmlstream.Element, error) {
	if !st.To.IsZero() && !st.To.Equal(st.From.Bare()) {
		return nil, stanza.NewError(stanza.Forbidden, "carbons are set for your own sessions")
	}
	if st.Type != stanza.TypeSet || st.From.Resource() == "" {
		return nil, stanza.NewError(stanza.BadRequest, "")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch st.El.FirstChild().Name.Local {
	case "enable":
		c.enableLocked(st.From)
	case "disable":
		c.disableLocked(st.From)
	default:
		return nil, stanza.NewError(stanza.BadRequest, "")
	}
	return nil, nil
}

// SessionEnded forgets a session's setting.
func (c *Carbons) SessionEnded(_ context.Context, full jid.JID, _ bool) {
	c.mu.Lock()
	c.disableLocked(full)
	c.mu.Unlock()
}

func (c *Carbons) enableLocked(full jid.JID) {
	if _, on := c.enabled[full.String()]; !on {
		c.enabled[full.String()] = struct{}{}
		c.accounts[full.Bare().String()]++
	}
}

func (c *Carbons) disableLocked(full jid.JID) {
	if _, on := c.enabled[full.String()]; !on {
		return
	}
	delete(c.enabled, full.String())
	bare := full.Bare().String()
	if c.accounts[bare] <= 1 {
		delete(c.accounts, bare)
	} else {
		c.accounts[bare]--
	}
}

// Watching reports whether some session of the account bare enabled
// carbons: only then does the router tell of deliveries to it.
func (c *Carbons) Watching(bare jid.JID) bool { return c.anyEnabled(bare) }

// anyEnabled reports whether some session of user enabled carbons.
func (c *Carbons) anyEnabled(user jid.JID) bool {
	c.mu.Lock()
	n := c.accounts[user.String()]
	c.mu.Unlock()
	return n > 0
}

// InterceptOutbound sends <sent/> copies of an eligible message a session
// sends to the account's other enabled sessions. It never consumes.
func (c *Carbons) InterceptOutbound(_ context.Context, st *stanza.Stanza) (bool, error) {
	if st.Kind != stanza.Message {
		return false, nil
	}
	if p := st.El.Child(NS, "private"); p != nil {
		// §7: a private message is not copied, and the marker goes no
		// further than this server.
		st.El = without(st.El, p)
		return false, nil
	}
	user := st.From.Bare()
	if !c.anyEnabled(user) || !eligible(st) {
		return false, nil
	}
	for _, full := range c.targets(user, func(f jid.JID) bool { return f.Equal(st.From) || f.Equal(st.To) }) {
		c.r.Deliver(full, wrap("sent", user, full, st))
	}
	return false, nil
}

// MessageDelivered sends <received/> copies of an eligible message
// delivered to some of an account's sessions to its other enabled ones.
func (c *Carbons) MessageDelivered(_ context.Context, st *stanza.Stanza, to []jid.JID) {
	// The router asked Watching first; eligible refuses <private/>.
	user := st.To.Bare()
	if !eligible(st) {
		return
	}
	if st.From.Bare().Equal(user) {
		return // the sender's own sessions got a <sent/> copy already
	}
	for _, full := range c.targets(user, func(f jid.JID) bool {
		for _, d := range to {
			if d.Equal(f) {
				return true
			}
		}
		return false
	}) {
		c.r.Deliver(full, wrap("received", user, full, st))
	}
}

// targets returns the enabled sessions of user, less those skip excludes.
func (c *Carbons) targets(user jid.JID, skip func(jid.JID) bool) []jid.JID {
	connected := c.r.Connected(user)
	var out []jid.JID
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, full := range connected {
		if _, on := c.enabled[full.String()]; on && !skip(full) {
			out = append(out, full)
		}
	}
	return out
}

// eligible applies XEP-0280 §6.
func eligible(st *stanza.Stanza) bool {
	el := st.El
	for ch := range el.Elements() {
		switch {
		case ch.Name.Space == nsHints && ch.Name.Local == "no-copy":
			return false
		case ch.Name.Space == NS:
			return false // already a carbon, or private
		}
	}
	switch st.Type {
	case stanza.TypeChat:
		return true
	case stanza.TypeNormal:
		return el.Child(el.Name.Space, "body") != nil || hasChatPayload(el)
	}
	// Groupchat never; errors neither: the server cannot tell which of
	// them answer an eligible message, and a stray error on every device
	// is worse than a missing one.
	return false
}

// hasChatPayload reports chat states, receipts or markers, which belong to
// a one-to-one conversation.
func hasChatPayload(el *xmlstream.Element) bool {
	for ch := range el.Elements() {
		switch ch.Name.Space {
		case "http://jabber.org/protocol/chatstates", "urn:xmpp:receipts", "urn:xmpp:chat-markers:0":
			return true
		case nsMUCUser:
			return true // a MUC private message
		}
	}
	return false
}

// wrap builds the carbon copy of st for the session to (§4.2, §4.3). The
// forwarded message is written in jabber:client whatever stream it came
// from (XEP-0297).
func wrap(kind string, user, to jid.JID, st *stanza.Stanza) *xmlstream.Element {
	inner := st.Element()
	inner = &xmlstream.Element{Name: xmlstream.Name{Space: xmlstream.NSClient, Local: "message"}, Attrs: inner.Attrs, Children: inner.Children}
	out := xmlstream.New(xmlstream.NSClient, "message")
	out.Attrs = make([]xmlstream.Attr, 0, 3)
	out.SetAttr("from", user.String()).SetAttr("to", to.String()).SetAttr("type", st.Type)
	return out.Append(xmlstream.New(NS, kind).Append(xmlstream.New(nsForward, "forwarded").Append(inner)))
}

// without returns a copy of el lacking the child c.
func without(el, c *xmlstream.Element) *xmlstream.Element {
	children := make([]xmlstream.Node, 0, len(el.Children))
	for _, n := range el.Children {
		if n.Elem != c {
			children = append(children, n)
		}
	}
	return el.WithChildren(children)
}
