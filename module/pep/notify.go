package pep

import (
	"context"
	"log/slog"
	"time"

	"roost/jid"
	"roost/stanza"
	"roost/xmlstream"
)

// broadcast sends an event about the owner's node (what: <items/>,
// <delete/>, <purge/>) to whoever should hear of it (XEP-0163 §4): the
// available resources, the owner's own and its contacts', whose clients
// asked for the node with +notify and whom the access model allows, and
// the node's explicit subscribers (XEP-0060 §7.1.2.1). Each gets one
// message; a bare-JID subscriber none of whose resources got one gets it
// at the bare JID (XEP-0163 §4.3.2).
func (m *Module) broadcast(ctx context.Context, owner jid.JID, name string, n *node, what *xmlstream.Element) {
	ev := xmlstream.New(NSEvent, "event").Append(what)
	ok := map[string]bool{} // bare JID → allowed, asked once per broadcast
	may := func(to jid.JID) bool {
		b := to.Bare().String()
		v, seen := ok[b]
		if !seen {
			v = m.allowed(ctx, owner, n, to)
			ok[b] = v
		}
		return v
	}
	sent := map[string]bool{}
	for _, to := range m.interested(owner, name) {
		if may(to) {
			m.notify(ctx, owner, n, to, ev, time.Time{})
			sent[to.String()], sent[to.Bare().String()] = true, true
		}
	}
	for _, s := range n.Subs {
		to, err := jid.Parse(s)
		if err != nil || sent[s] || !may(to) {
			continue
		}
		m.notify(ctx, owner, n, to, ev, time.Time{})
		sent[s] = true
	}
}

// notifyItem announces a published item (XEP-0060 §7.1.2).
func (m *Module) notifyItem(ctx context.Context, owner jid.JID, name string, n *node, id string, payload *xmlstream.Element) {
	if !n.Config.Notify {
		return
	}
	m.broadcast(ctx, owner, name, n, itemsEvent(name, n, id, payload))
}

// itemsEvent is the <items/> of an item notification, with the payload
// when the node delivers payloads.
func itemsEvent(name string, n *node, id string, payload *xmlstream.Element) *xmlstream.Element {
	item := xmlstream.New(NSEvent, "item").SetAttr("id", id)
	if n.Config.Payloads {
		item.Append(payload)
	}
	return xmlstream.New(NSEvent, "items").SetAttr("node", name).Append(item)
}

// notify sends one notification from the owner's bare JID (XEP-0163
// §4.3.1), stamped with when the item was published when it is sent
// later than that (XEP-0163 §4.3.4, XEP-0203).
func (m *Module) notify(ctx context.Context, owner jid.JID, n *node, to jid.JID, ev *xmlstream.Element, published time.Time) {
	typ := stanza.TypeHeadline
	if n.Config.Normal {
		typ = stanza.TypeNormal
	}
	id := m.nextID('n')
	el := xmlstream.New(xmlstream.NSClient, "message")
	el.Attrs = make([]xmlstream.Attr, 0, 4)
	el.SetAttr("from", owner.String()).SetAttr("to", to.String()).SetAttr("type", typ).SetAttr("id", id)
	el.Append(ev)
	if !published.IsZero() {
		el.Append(xmlstream.New(nsDelay, "delay").SetAttr("from", owner.String()).SetAttr("stamp", published.UTC().Format(time.RFC3339)))
	}
	m.send(ctx, stanza.Message, typ, owner, to, id, el)
}

// sendLast sends the node's last item to one entity: a new subscriber
// (XEP-0060 §6.1.7) or a newly available resource (XEP-0163 §4.3.4).
func (m *Module) sendLast(ctx context.Context, owner jid.JID, name string, n *node, to jid.JID) {
	if !n.Config.Persist || !n.Config.Notify {
		return
	}
	id, at, payload, err := m.lastItem(owner, name)
	if err != nil {
		m.log.LogAttrs(ctx, slog.LevelWarn, "reading the last item", slog.String("owner", owner.String()), slog.String("node", name), slog.Any("err", err))
		return
	}
	if id == "" {
		return
	}
	ev := xmlstream.New(NSEvent, "event").Append(itemsEvent(name, n, id, payload))
	m.notify(ctx, owner, n, to, ev, at)
}

// sendLastOnPresence sends a newly available resource the last item of
// each of the owner's nodes its client asked for, that it may see and
// that sends its last item on presence (XEP-0163 §4.3.4).
func (m *Module) sendLastOnPresence(ctx context.Context, owner, to jid.JID, c *caps) {
	if !to.Bare().Equal(owner) && m.blocked(owner, to) {
		return
	}
	type found struct {
		name string
		n    *node
	}
	var nodes []found
	err := m.st.PEPNodes(owner.String(), func(name string, rec []byte) error {
		if !c.wants(name) {
			return nil
		}
		n, err := decodeNode(rec)
		if err != nil {
			return err
		}
		nodes = append(nodes, found{name, n})
		return nil
	})
	if err != nil {
		m.log.LogAttrs(ctx, slog.LevelWarn, "reading nodes for a new resource", slog.String("owner", owner.String()), slog.Any("err", err))
		return
	}
	for _, f := range nodes {
		if f.n.Config.SendLast == sendOnPresence && m.allowed(ctx, owner, f.n, to) {
			m.sendLast(ctx, owner, f.name, f.n, to)
		}
	}
	if to.Bare().Equal(owner) && c.wants(nsLegacyBookmarks) {
		m.sendLegacyBookmarks(ctx, owner, to)
	}
}
