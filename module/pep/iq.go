package pep

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"roost/form"
	"roost/jid"
	"roost/stanza"
	"roost/xmlstream"
)

// maxName bounds a node name or item id, well within what the store
// accepts as part of a key.
const maxName = 1024

// request is one pubsub IQ being answered.
type request struct {
	st    *stanza.Stanza
	owner jid.JID // the account whose service is addressed
	self  bool    // the account asks itself
	ps    *xmlstream.Element
	op    *xmlstream.Element // the pubsub element's first child
	node  string
}

// handle answers an IQ in the pubsub or pubsub#owner namespace addressed
// to an account's bare JID or to no one (XEP-0163 §2.1).
func (m *Module) handle(ctx context.Context, st *stanza.Stanza) (*xmlstream.Element, error) {
	owner := st.To.Bare()
	if st.To.IsZero() {
		owner = st.From.Bare()
	}
	if owner.Local() == "" {
		return nil, stanza.NewError(stanza.ServiceUnavailable, "there is no pubsub service at the domain; each account has its own at its address (XEP-0163)")
	}
	ps := st.El.FirstChild()
	op := ps.FirstChild()
	if op == nil || op.Name.Space != ps.Name.Space {
		return nil, stanza.NewError(stanza.BadRequest, "the pubsub element names no action")
	}
	rq := &request{st: st, owner: owner, self: st.From.Bare().Equal(owner), ps: ps, op: op, node: op.Get("node")}
	if len(rq.node) > maxName {
		return nil, stanza.NewError(stanza.NotAcceptable, fmt.Sprintf("node names are at most %d bytes", maxName))
	}
	type handler func(context.Context, *request) (*xmlstream.Element, error)
	var h handler
	if ps.Name.Space == NSOwner {
		h = map[string]handler{
			"get configure": m.getConfigure, "set configure": m.setConfigure, "get default": m.getDefault,
			"set delete": m.deleteNode, "set purge": m.purge,
			"get subscriptions": m.ownerSubscriptions, "set subscriptions": m.setSubscriptions,
			"get affiliations": m.ownerAffiliations, "set affiliations": m.setAffiliations,
		}[st.Type+" "+op.Name.Local]
	} else {
		h = map[string]handler{
			"set publish": m.publishIQ, "set retract": m.retract, "set create": m.create,
			"set subscribe": m.subscribe, "set unsubscribe": m.unsubscribe, "get items": m.items,
			"get subscriptions": m.subscriptions, "get affiliations": m.affiliations,
		}[st.Type+" "+op.Name.Local]
		if op.Name.Local == "options" || op.Name.Local == "default" {
			return nil, unsupported("subscription-options", "subscriptions have no options here")
		}
	}
	if h == nil {
		return nil, stanza.NewError(stanza.FeatureNotImplemented, fmt.Sprintf("%s of <%s/> is not a pubsub request this server serves", st.Type, op.Name.Local))
	}
	return h(ctx, rq)
}

// result answers rq with a pubsub element of namespace ns holding children.
func result(rq *request, ns string, children ...*xmlstream.Element) *xmlstream.Element {
	return stanza.ResultIQ(rq.st, xmlstream.New(ns, "pubsub").Append(children...))
}

// needNode checks that rq names a node.
func (rq *request) needNode() error {
	if rq.node == "" {
		return errNodeRequired()
	}
	return nil
}

// ownerOnly checks that rq names a node and comes from the owner.
func (rq *request) ownerOnly() error {
	if !rq.self {
		return errNotOwner()
	}
	return rq.needNode()
}

// loadNode reads a node; found is false when it does not exist.
func (m *Module) loadNode(owner jid.JID, name string) (*node, bool, error) {
	rec, found, err := m.st.PEPNode(owner.String(), name)
	if err != nil || !found {
		return nil, false, err
	}
	n, err := decodeNode(rec)
	if err != nil {
		return nil, false, err
	}
	return n, true, nil
}

// existing reads a node that must exist.
func (m *Module) existing(owner jid.JID, name string) (*node, error) {
	n, found, err := m.loadNode(owner, name)
	if err == nil && !found {
		err = errNoNode(name)
	}
	return n, err
}

// update changes an existing node's record with fn, which runs inside
// the store's transaction; keep is passed through (see Store).
func (m *Module) update(owner jid.JID, name string, fn func(n *node) (keep int, err error)) error {
	_, err := m.st.UpdatePEPNode(owner.String(), name, func(rec []byte, found bool, _ int) ([]byte, int, error) {
		if !found {
			return nil, -1, errNoNode(name)
		}
		n, err := decodeNode(rec)
		if err != nil {
			return nil, -1, err
		}
		keep, err := fn(n)
		if err != nil {
			return nil, -1, err
		}
		return n.encode(), keep, nil
	})
	return err
}

// newID returns a server-generated item id (XEP-0060 §7.1.1), or an
// instant node's name: 128 random bits.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// reply sends the result of an IQ before what must follow it, such as
// the last item after a subscription (XEP-0060 §6.1.7).
func (m *Module) reply(ctx context.Context, st *stanza.Stanza, el *xmlstream.Element) {
	m.send(ctx, stanza.IQ, stanza.TypeResult, st.To, st.From, st.ID, el)
}

// formIn returns the data form inside el (publish-options, configure),
// nil when there is none.
func formIn(el *xmlstream.Element, what string) (*form.Form, error) {
	if el == nil {
		return nil, nil
	}
	f, err := form.Find(el, "")
	if err != nil {
		return nil, stanza.NewError(stanza.BadRequest, what+": "+err.Error())
	}
	return f, nil
}

// publishIQ is XEP-0060 §7.1: the owner publishes one item, with
// publish-options as preconditions (§7.1.5), creating the node if needed
// (auto-create, XEP-0163 §3).
func (m *Module) publishIQ(ctx context.Context, rq *request) (*xmlstream.Element, error) {
	if err := rq.ownerOnly(); err != nil {
		return nil, err
	}
	var items []*xmlstream.Element
	for ch := range rq.op.Elements() {
		if ch.Is(NS, "item") {
			items = append(items, ch)
		}
	}
	switch len(items) {
	case 0:
		return nil, pubsubError(stanza.BadRequest, "item-required", "publish an item: PEP nodes keep items")
	case 1:
	default:
		return nil, pubsubError(stanza.BadRequest, "invalid-payload", "publish one item at a time")
	}
	id := items[0].Get("id")
	if len(id) > maxName {
		return nil, stanza.NewError(stanza.NotAcceptable, fmt.Sprintf("item ids are at most %d bytes", maxName))
	}
	var payload *xmlstream.Element
	for ch := range items[0].Elements() {
		if payload != nil {
			return nil, pubsubError(stanza.BadRequest, "invalid-payload", "an item carries one payload element")
		}
		payload = ch
	}
	if payload == nil {
		return nil, pubsubError(stanza.BadRequest, "payload-required", "the item carries no payload")
	}
	opts, err := formIn(rq.ps.Child(NS, "publish-options"), "publish-options")
	if err != nil {
		return nil, err
	}
	if rq.node == nsLegacyBookmarks {
		return m.publishLegacyBookmarks(ctx, rq, payload)
	}
	id, err = m.publish(ctx, rq.owner, rq.node, id, payload, opts, nil, false)
	if err != nil {
		return nil, err
	}
	return result(rq, NS, xmlstream.New(NS, "publish").SetAttr("node", rq.node).Append(xmlstream.New(NS, "item").SetAttr("id", id))), nil
}

// publish stores payload as item id ("": a new id) of the owner's node,
// creating the node with create's configuration (nil: the defaults) and
// opts applied, or checking opts as preconditions if it exists; then it
// notifies, and, unless quiet, updates what depends on the node
// (avatars, bookmarks). It returns the item's id.
func (m *Module) publish(ctx context.Context, owner jid.JID, name, id string, payload *xmlstream.Element, opts *form.Form, create *config, quiet bool) (string, error) {
	if id == "" {
		id = newID()
	}
	data := xmlstream.AppendElement(nil, payload, "")
	if len(data) > m.lim.MaxItemBytes {
		return "", pubsubError(stanza.NotAcceptable, "payload-too-big",
			fmt.Sprintf("the item is %d bytes; this server keeps items of up to %d bytes", len(data), m.lim.MaxItemBytes))
	}
	limit := m.lim.MaxItems
	var n *node
	_, err := m.st.PublishPEPItem(owner.String(), name, id, m.now(), data, func(rec []byte, found bool, nodes int) ([]byte, int, error) {
		if found {
			cur, err := decodeNode(rec)
			if err != nil {
				return nil, 0, err
			}
			if opts != nil {
				if err := m.fields.preconditions(&cur.Config, opts, limit); err != nil {
					return nil, 0, err
				}
			}
			n = cur
			return nil, cur.Config.keep(limit), nil
		}
		c := defaultConfig()
		if create != nil {
			c = *create
		}
		if opts != nil {
			if err := m.fields.apply(&c, opts, limit); err != nil {
				return nil, 0, err
			}
		}
		if err := m.tooManyNodes(nodes); err != nil {
			return nil, 0, err
		}
		n = newNode(c)
		return n.encode(), c.keep(limit), nil
	})
	if err != nil {
		return "", err
	}
	m.notifyItem(ctx, owner, name, n, id, payload)
	if !quiet {
		m.published(ctx, owner, name, payload)
	}
	return id, nil
}

func (m *Module) tooManyNodes(nodes int) error {
	if nodes < m.lim.MaxNodes {
		return nil
	}
	return pubsubError(stanza.PolicyViolation, "max-nodes-exceeded",
		fmt.Sprintf("this account has %d nodes, the most this server keeps for one account; delete one first", nodes))
}

// items is XEP-0060 §6.5: all items, those named, or the newest
// max_items, oldest first.
func (m *Module) items(ctx context.Context, rq *request) (*xmlstream.Element, error) {
	if err := rq.needNode(); err != nil {
		return nil, err
	}
	if rq.node == nsLegacyBookmarks {
		return m.legacyBookmarksItems(ctx, rq)
	}
	if rq.node == nsBookmarks && rq.self {
		m.migrateBookmarks(ctx, rq.owner)
	}
	n, err := m.existing(rq.owner, rq.node)
	if err != nil {
		return nil, err
	}
	if !rq.self {
		if err := m.access(ctx, rq.owner, n, rq.st.From); err != nil {
			return nil, err
		}
	}
	if !n.Config.Persist {
		return nil, unsupported("persistent-items", "this node keeps no items")
	}
	var ids []string
	for ch := range rq.op.Elements() {
		if ch.Is(NS, "item") && ch.Get("id") != "" {
			ids = append(ids, ch.Get("id"))
		}
	}
	max := 0
	if v := rq.op.Get("max_items"); v != "" && len(ids) == 0 {
		if max, err = strconv.Atoi(v); err != nil || max < 1 {
			return nil, stanza.NewError(stanza.BadRequest, fmt.Sprintf("max_items %q is not a positive number", v))
		}
	}
	out := xmlstream.New(NS, "items").SetAttr("node", rq.node)
	err = m.eachItem(rq.owner, rq.node, ids, max, func(id string, _ time.Time, payload *xmlstream.Element) {
		out.Append(xmlstream.New(NS, "item").SetAttr("id", id).Append(payload))
	})
	if err != nil {
		return nil, err
	}
	return result(rq, NS, out), nil
}

// eachItem calls fn with the node's items (as Store.PEPItems chooses
// them), their payloads parsed.
func (m *Module) eachItem(owner jid.JID, name string, ids []string, max int, fn func(id string, at time.Time, payload *xmlstream.Element)) error {
	_, err := m.st.PEPItems(owner.String(), name, ids, max, func(id string, at time.Time, data []byte) error {
		payload, err := decodePayload(data)
		if err != nil {
			return err
		}
		fn(id, at, payload)
		return nil
	})
	return err
}

// decodePayload parses a stored payload. It passed the limits when it
// arrived; the generous bounds keep it readable if they are lowered.
func decodePayload(b []byte) (*xmlstream.Element, error) {
	if len(b) == 0 {
		return nil, nil
	}
	el, err := xmlstream.ParseStored(b)
	if err != nil {
		return nil, fmt.Errorf("%w: item: %w", ErrCorrupt, err)
	}
	return el, nil
}

// lastItem returns the node's newest item, nil payload and "" id when it
// has none.
func (m *Module) lastItem(owner jid.JID, name string) (id string, at time.Time, payload *xmlstream.Element, err error) {
	err = m.eachItem(owner, name, nil, 1, func(i string, a time.Time, p *xmlstream.Element) { id, at, payload = i, a, p })
	return id, at, payload, err
}

// retract is XEP-0060 §7.2, with notifications when asked (notify='true')
// or when the node is so configured (pubsub#notify_retract).
func (m *Module) retract(ctx context.Context, rq *request) (*xmlstream.Element, error) {
	if err := rq.ownerOnly(); err != nil {
		return nil, err
	}
	var ids []string
	for ch := range rq.op.Elements() {
		if ch.Is(NS, "item") && ch.Get("id") != "" {
			ids = append(ids, ch.Get("id"))
		}
	}
	if len(ids) == 0 {
		return nil, pubsubError(stanza.BadRequest, "item-required", "name the item to retract")
	}
	notify := rq.op.Get("notify") == "true" || rq.op.Get("notify") == "1"
	return nil, m.retractItems(ctx, rq.owner, rq.node, ids, notify, false)
}

// retractItems deletes items of the owner's node and notifies, and,
// unless quiet, updates what depends on the node.
func (m *Module) retractItems(ctx context.Context, owner jid.JID, name string, ids []string, notify, quiet bool) error {
	n, err := m.existing(owner, name)
	if err != nil {
		return err
	}
	removed, err := m.st.RetractPEPItems(owner.String(), name, ids)
	if err != nil {
		return err
	}
	if len(removed) == 0 {
		return stanza.NewError(stanza.ItemNotFound, "the node has no such item")
	}
	if (notify || n.Config.NotifyRetract) && n.Config.Notify {
		items := xmlstream.New(NSEvent, "items").SetAttr("node", name)
		for _, id := range removed {
			items.Append(xmlstream.New(NSEvent, "retract").SetAttr("id", id))
		}
		m.broadcast(ctx, owner, name, n, items)
	}
	if !quiet {
		m.changed(ctx, owner, name)
	}
	return nil
}

// create is XEP-0060 §8.1: a node named or instant (§8.1.2), with a
// configuration (§8.1.3).
func (m *Module) create(ctx context.Context, rq *request) (*xmlstream.Element, error) {
	if !rq.self {
		return nil, errNotOwner()
	}
	c := defaultConfig()
	f, err := formIn(rq.ps.Child(NS, "configure"), "configure")
	if err != nil {
		return nil, err
	}
	if f != nil {
		if err := m.fields.apply(&c, f, m.lim.MaxItems); err != nil {
			return nil, err
		}
	}
	name := rq.node
	if name == "" {
		name = newID()
	}
	_, err = m.st.UpdatePEPNode(rq.owner.String(), name, func(_ []byte, found bool, nodes int) ([]byte, int, error) {
		if found {
			return nil, -1, stanza.NewError(stanza.Conflict, "the node "+name+" exists")
		}
		if err := m.tooManyNodes(nodes); err != nil {
			return nil, -1, err
		}
		return newNode(c).encode(), -1, nil
	})
	if err != nil {
		return nil, err
	}
	if rq.node == "" {
		return result(rq, NS, xmlstream.New(NS, "create").SetAttr("node", name)), nil
	}
	return nil, nil
}

// subscription parses the jid attribute of a subscribe or unsubscribe
// request (XEP-0060 §6.1.3.1, §6.2.3).
func subscription(rq *request) (jid.JID, error) {
	v := rq.op.Get("jid")
	if v == "" {
		return jid.JID{}, pubsubError(stanza.BadRequest, "jid-required", "name the subscriber with a jid attribute")
	}
	j, err := jid.Parse(v)
	if err != nil {
		return jid.JID{}, pubsubError(stanza.BadRequest, "invalid-jid", "the jid attribute is not a valid address")
	}
	return j, nil
}

// subscribe is XEP-0060 §6.1 for an entity that wants notifications
// without sharing presence (XEP-0163 §1.2, note on open nodes).
func (m *Module) subscribe(ctx context.Context, rq *request) (*xmlstream.Element, error) {
	if err := rq.needNode(); err != nil {
		return nil, err
	}
	j, err := subscription(rq)
	if err != nil {
		return nil, err
	}
	if !j.Bare().Equal(rq.st.From.Bare()) {
		return nil, pubsubError(stanza.BadRequest, "invalid-jid", "subscribe your own address only")
	}
	n, err := m.existing(rq.owner, rq.node)
	if err != nil {
		return nil, err
	}
	if !rq.self {
		if err := m.access(ctx, rq.owner, n, j); err != nil {
			return nil, err
		}
	}
	err = m.update(rq.owner, rq.node, func(n *node) (int, error) { return -1, m.addSub(n, j.String()) })
	if err != nil {
		return nil, err
	}
	m.reply(ctx, rq.st, result(rq, NS, xmlstream.New(NS, "subscription").
		SetAttr("node", rq.node).SetAttr("jid", j.String()).SetAttr("subscription", "subscribed")))
	if n.Config.SendLast != sendNever {
		m.sendLast(ctx, rq.owner, rq.node, n, j)
	}
	return nil, stanza.ErrReplied
}

// addSub subscribes j to n, within the limit.
func (m *Module) addSub(n *node, j string) error {
	if slices.Contains(n.Subs, j) {
		return nil
	}
	if len(n.Subs) >= m.lim.MaxSubscribers {
		return pubsubError(stanza.PolicyViolation, "too-many-subscriptions",
			fmt.Sprintf("the node has %d subscribers, the most this server keeps", len(n.Subs)))
	}
	n.Subs = append(n.Subs, j)
	return nil
}

// unsubscribe is XEP-0060 §6.2.
func (m *Module) unsubscribe(_ context.Context, rq *request) (*xmlstream.Element, error) {
	if err := rq.needNode(); err != nil {
		return nil, err
	}
	j, err := subscription(rq)
	if err != nil {
		return nil, err
	}
	if !rq.self && !j.Bare().Equal(rq.st.From.Bare()) {
		return nil, stanza.NewError(stanza.Forbidden, "unsubscribe your own address only")
	}
	return nil, m.update(rq.owner, rq.node, func(n *node) (int, error) {
		i := slices.Index(n.Subs, j.String())
		if i < 0 {
			return -1, pubsubError(stanza.UnexpectedRequest, "not-subscribed", j.String()+" is not subscribed to "+rq.node)
		}
		n.Subs = slices.Delete(n.Subs, i, i+1)
		return -1, nil
	})
}

// eachNode calls fn with the owner's nodes, or the one rq names.
func (m *Module) eachNode(rq *request, fn func(name string, n *node)) error {
	if rq.node != "" {
		n, err := m.existing(rq.owner, rq.node)
		if err == nil {
			fn(rq.node, n)
		}
		return err
	}
	return m.st.PEPNodes(rq.owner.String(), func(name string, rec []byte) error {
		n, err := decodeNode(rec)
		if err != nil {
			return err
		}
		fn(name, n)
		return nil
	})
}

// subscriptions is XEP-0060 §5.6: the requester's explicit subscriptions.
func (m *Module) subscriptions(_ context.Context, rq *request) (*xmlstream.Element, error) {
	out := xmlstream.New(NS, "subscriptions")
	if rq.node != "" {
		out.SetAttr("node", rq.node)
	}
	err := m.eachNode(rq, func(name string, n *node) {
		for _, s := range n.Subs {
			if j, err := jid.Parse(s); err == nil && j.Bare().Equal(rq.st.From.Bare()) {
				out.Append(xmlstream.New(NS, "subscription").SetAttr("node", name).SetAttr("jid", s).SetAttr("subscription", "subscribed"))
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return result(rq, NS, out), nil
}

// affiliations is XEP-0060 §5.7: the requester's affiliations.
func (m *Module) affiliations(_ context.Context, rq *request) (*xmlstream.Element, error) {
	out := xmlstream.New(NS, "affiliations")
	if rq.node != "" {
		out.SetAttr("node", rq.node)
	}
	err := m.eachNode(rq, func(name string, n *node) {
		aff := n.Affs[rq.st.From.Bare().String()]
		if rq.self {
			aff = affOwner
		}
		if aff != "" {
			out.Append(xmlstream.New(NS, "affiliation").SetAttr("node", name).SetAttr("affiliation", aff))
		}
	})
	if err != nil {
		return nil, err
	}
	return result(rq, NS, out), nil
}

// getConfigure is XEP-0060 §8.2.1.
func (m *Module) getConfigure(_ context.Context, rq *request) (*xmlstream.Element, error) {
	if err := rq.ownerOnly(); err != nil {
		return nil, err
	}
	n, err := m.existing(rq.owner, rq.node)
	if err != nil {
		return nil, err
	}
	return result(rq, NSOwner, xmlstream.New(NSOwner, "configure").SetAttr("node", rq.node).Append(m.fields.form(&n.Config).Element())), nil
}

// setConfigure is XEP-0060 §8.2.4. Explicit subscribers the new access
// model excludes lose their subscription (§8.2.5.4 leaves it open;
// Prosody does so).
func (m *Module) setConfigure(ctx context.Context, rq *request) (*xmlstream.Element, error) {
	if err := rq.ownerOnly(); err != nil {
		return nil, err
	}
	f, err := formIn(rq.op, "configure")
	if err != nil {
		return nil, err
	}
	if f == nil {
		return nil, stanza.NewError(stanza.BadRequest, "submit a node_config data form")
	}
	switch f.Type {
	case form.TypeCancel:
		return nil, nil
	case form.TypeSubmit:
	default:
		return nil, stanza.NewError(stanza.BadRequest, "the configuration form's type must be submit or cancel")
	}
	cur, err := m.existing(rq.owner, rq.node)
	if err != nil {
		return nil, err
	}
	c := cur.Config
	if err := m.fields.apply(&c, f, m.lim.MaxItems); err != nil {
		return nil, err
	}
	next := *cur
	next.Config = c
	gone := m.excluded(ctx, rq.owner, &next)
	return nil, m.update(rq.owner, rq.node, func(n *node) (int, error) {
		n.Config = c
		n.Subs = slices.DeleteFunc(n.Subs, func(s string) bool { return slices.Contains(gone, s) })
		return c.keep(m.lim.MaxItems), nil
	})
}

// excluded returns the explicit subscribers of n that its access model
// and affiliations do not allow.
func (m *Module) excluded(ctx context.Context, owner jid.JID, n *node) []string {
	var out []string
	for _, s := range n.Subs {
		j, err := jid.Parse(s)
		if err != nil || (!j.Bare().Equal(owner) && m.access(ctx, owner, n, j) != nil) {
			out = append(out, s)
		}
	}
	return out
}

// getDefault is XEP-0060 §8.3.
func (m *Module) getDefault(_ context.Context, rq *request) (*xmlstream.Element, error) {
	c := defaultConfig()
	return result(rq, NSOwner, xmlstream.New(NSOwner, "default").Append(m.fields.form(&c).Element())), nil
}

// deleteNode is XEP-0060 §8.4.
func (m *Module) deleteNode(ctx context.Context, rq *request) (*xmlstream.Element, error) {
	if err := rq.ownerOnly(); err != nil {
		return nil, err
	}
	return nil, m.removeNode(ctx, rq.owner, rq.node)
}

// removeNode deletes the owner's node and notifies.
func (m *Module) removeNode(ctx context.Context, owner jid.JID, name string) error {
	n, err := m.existing(owner, name)
	if err != nil {
		return err
	}
	existed, err := m.st.DeletePEPNode(owner.String(), name)
	if err != nil {
		return err
	}
	if !existed {
		return errNoNode(name)
	}
	if n.Config.NotifyDelete && n.Config.Notify {
		m.broadcast(ctx, owner, name, n, xmlstream.New(NSEvent, "delete").SetAttr("node", name))
	}
	m.changed(ctx, owner, name)
	return nil
}

// purge is XEP-0060 §8.5.
func (m *Module) purge(ctx context.Context, rq *request) (*xmlstream.Element, error) {
	if err := rq.ownerOnly(); err != nil {
		return nil, err
	}
	var n *node
	err := m.update(rq.owner, rq.node, func(cur *node) (int, error) {
		n = cur
		return 0, nil
	})
	if err != nil {
		return nil, err
	}
	if n.Config.Notify {
		m.broadcast(ctx, rq.owner, rq.node, n, xmlstream.New(NSEvent, "purge").SetAttr("node", rq.node))
	}
	m.changed(ctx, rq.owner, rq.node)
	return nil, nil
}

// ownerSubscriptions is XEP-0060 §8.8.1.
func (m *Module) ownerSubscriptions(_ context.Context, rq *request) (*xmlstream.Element, error) {
	if err := rq.ownerOnly(); err != nil {
		return nil, err
	}
	n, err := m.existing(rq.owner, rq.node)
	if err != nil {
		return nil, err
	}
	out := xmlstream.New(NSOwner, "subscriptions").SetAttr("node", rq.node)
	for _, s := range n.Subs {
		out.Append(xmlstream.New(NSOwner, "subscription").SetAttr("jid", s).SetAttr("subscription", "subscribed"))
	}
	return result(rq, NSOwner, out), nil
}

// setSubscriptions is XEP-0060 §8.8.2: subscribed adds, none removes.
func (m *Module) setSubscriptions(_ context.Context, rq *request) (*xmlstream.Element, error) {
	if err := rq.ownerOnly(); err != nil {
		return nil, err
	}
	type change struct {
		j   string
		add bool
	}
	var changes []change
	for ch := range rq.op.Elements() {
		if !ch.Is(NSOwner, "subscription") {
			continue
		}
		j, err := jid.Parse(ch.Get("jid"))
		if err != nil {
			return nil, pubsubError(stanza.BadRequest, "invalid-jid", fmt.Sprintf("%q is not a valid address", ch.Get("jid")))
		}
		switch ch.Get("subscription") {
		case "subscribed":
			changes = append(changes, change{j.String(), true})
		case "none":
			changes = append(changes, change{j.String(), false})
		default:
			return nil, stanza.NewError(stanza.NotAcceptable, fmt.Sprintf("subscription %q: only subscribed and none are kept here", ch.Get("subscription")))
		}
	}
	return nil, m.update(rq.owner, rq.node, func(n *node) (int, error) {
		for _, c := range changes {
			i := slices.Index(n.Subs, c.j)
			switch {
			case c.add:
				if err := m.addSub(n, c.j); err != nil {
					return -1, err
				}
			case i >= 0:
				n.Subs = slices.Delete(n.Subs, i, i+1)
			}
		}
		return -1, nil
	})
}

// ownerAffiliations is XEP-0060 §8.9.1: the owner, then the others.
func (m *Module) ownerAffiliations(_ context.Context, rq *request) (*xmlstream.Element, error) {
	if err := rq.ownerOnly(); err != nil {
		return nil, err
	}
	n, err := m.existing(rq.owner, rq.node)
	if err != nil {
		return nil, err
	}
	out := xmlstream.New(NSOwner, "affiliations").SetAttr("node", rq.node)
	out.Append(xmlstream.New(NSOwner, "affiliation").SetAttr("jid", rq.owner.String()).SetAttr("affiliation", affOwner))
	others := make([]string, 0, len(n.Affs))
	for j := range n.Affs {
		others = append(others, j)
	}
	slices.Sort(others)
	for _, j := range others {
		out.Append(xmlstream.New(NSOwner, "affiliation").SetAttr("jid", j).SetAttr("affiliation", n.Affs[j]))
	}
	return result(rq, NSOwner, out), nil
}

// setAffiliations is XEP-0060 §8.9.2, which the whitelist model needs:
// member (or publisher) allows, outcast bans, none forgets. A PEP node
// has one owner, the account.
func (m *Module) setAffiliations(ctx context.Context, rq *request) (*xmlstream.Element, error) {
	if err := rq.ownerOnly(); err != nil {
		return nil, err
	}
	changes := map[string]string{}
	for ch := range rq.op.Elements() {
		if !ch.Is(NSOwner, "affiliation") {
			continue
		}
		j, err := jid.Parse(ch.Get("jid"))
		if err != nil {
			return nil, pubsubError(stanza.BadRequest, "invalid-jid", fmt.Sprintf("%q is not a valid address", ch.Get("jid")))
		}
		bare, aff := j.Bare(), ch.Get("affiliation")
		switch {
		case bare.Equal(rq.owner):
			if aff != affOwner {
				return nil, stanza.NewError(stanza.NotAcceptable, "the account always owns its nodes")
			}
		case aff == affMember || aff == affPublisher || aff == affOutcast || aff == affNone:
			changes[bare.String()] = aff
		default:
			return nil, stanza.NewError(stanza.NotAcceptable, fmt.Sprintf("affiliation %q: the account is the one owner; others may be member, publisher, outcast or none", aff))
		}
	}
	err := m.update(rq.owner, rq.node, func(n *node) (int, error) {
		for j, aff := range changes {
			if aff == affNone {
				delete(n.Affs, j)
				continue
			}
			if n.Affs == nil {
				n.Affs = map[string]string{}
			}
			if _, ok := n.Affs[j]; !ok && len(n.Affs) >= m.lim.MaxSubscribers {
				return -1, stanza.NewError(stanza.PolicyViolation, fmt.Sprintf("the node lists %d people, the most this server keeps", len(n.Affs)))
			}
			n.Affs[j] = aff
		}
		return -1, nil
	})
	if err != nil {
		return nil, err
	}
	// Explicit subscribers no longer allowed lose their subscription.
	n, err := m.existing(rq.owner, rq.node)
	if err != nil {
		return nil, err
	}
	if gone := m.excluded(ctx, rq.owner, n); len(gone) > 0 {
		err = m.update(rq.owner, rq.node, func(n *node) (int, error) {
			n.Subs = slices.DeleteFunc(n.Subs, func(s string) bool { return slices.Contains(gone, s) })
			return -1, nil
		})
	}
	return nil, err
}

// access applies the node's access model to who, who is not the owner
// (XEP-0060 §4.5, §6.1.3 and §6.5.9 for the errors): affiliations
// first, then the model.
func (m *Module) access(ctx context.Context, owner jid.JID, n *node, who jid.JID) error {
	bare := who.Bare()
	switch n.Affs[bare.String()] {
	case affOutcast:
		return stanza.NewError(stanza.Forbidden, "the account does not let you see this node")
	case affMember, affPublisher:
		return nil
	}
	switch n.Config.Access {
	case accessOpen:
		return nil
	case accessPresence:
		sub, err := m.rosters.Subscription(ctx, owner, bare)
		if err != nil {
			return fmt.Errorf("read subscription: %w", err)
		}
		if sub == "from" || sub == "both" {
			return nil
		}
		return pubsubError(stanza.NotAuthorized, "presence-subscription-required", "only contacts who see the account's presence may see this node")
	case accessRoster:
		groups, err := m.rosters.Groups(ctx, owner, bare)
		if err != nil {
			return fmt.Errorf("read roster groups: %w", err)
		}
		for _, g := range groups {
			if slices.Contains(n.Config.Groups, g) {
				return nil
			}
		}
		return pubsubError(stanza.NotAuthorized, "not-in-roster-group", "only contacts in certain roster groups may see this node")
	}
	return pubsubError(stanza.NotAllowed, "closed-node", "only people the account lists may see this node")
}

// allowed is access as a yes or no, for notifications: an error reading
// the roster counts as no.
func (m *Module) allowed(ctx context.Context, owner jid.JID, n *node, who jid.JID) bool {
	if who.Bare().Equal(owner) {
		return true
	}
	if m.blocked(owner, who) {
		return false
	}
	err := m.access(ctx, owner, n, who)
	var se *stanza.Error
	if err != nil && !errors.As(err, &se) {
		m.log.LogAttrs(ctx, slog.LevelWarn, "checking access for a notification", slog.String("owner", owner.String()), slog.Any("err", err))
	}
	return err == nil
}
