package pep

import (
	"context"
	"log/slog"
	"time"

	"roost/jid"
	"roost/stanza"
	"roost/xmlstream"
)

// Bookmarks (XEP-0402) live in PEP, one item per room. Clients of the
// older protocol (XEP-0048) see and change the same bookmarks, converted,
// through private XML storage (XEP-0049, "#compat", §5.3) and through a
// storage:bookmarks PEP node ("#compat-pep", XEP-0048 §3.3 over PEP).
const (
	nsBookmarks       = "urn:xmpp:bookmarks:1"
	nsLegacyBookmarks = "storage:bookmarks"
)

// bookmarksConfig is the node configuration XEP-0402 §3 asks for, the
// publish-options clients send: only the account sees its bookmarks, all
// of them kept, none pushed on presence.
func bookmarksConfig() config {
	c := defaultConfig()
	c.Access, c.MaxItems, c.SendLast = accessWhitelist, 0, sendNever
	return c
}

// Owns implements private.Delegate: PEP keeps the private XML fragment of
// bookmarks, <storage xmlns='storage:bookmarks'/> (XEP-0048 §3.2).
func (m *Module) Owns(n xmlstream.Name) bool {
	return n.Space == nsLegacyBookmarks && n.Local == "storage"
}

// PrivateGet implements private.Delegate: the bookmarks as XEP-0048
// storage, made of the XEP-0402 items and what else the private store
// kept of the fragment (URL bookmarks, which XEP-0402 has no place for).
// Bookmarks stored the old way before PEP had any are migrated first.
func (m *Module) PrivateGet(ctx context.Context, user jid.JID, stored *xmlstream.Element) (*xmlstream.Element, error) {
	m.migrateFrom(ctx, user, stored)
	confs, found, err := m.legacyConferences(user)
	if err != nil || !found {
		return stored, err
	}
	out := xmlstream.New(nsLegacyBookmarks, "storage").Append(confs...)
	for el := range stored.Elements() {
		if !el.Is(nsLegacyBookmarks, "conference") {
			out.Append(el)
		}
	}
	return out, nil
}

// PrivateSet implements private.Delegate: the conferences become the
// XEP-0402 items (changed ones republished, missing ones retracted, with
// notifications); the rest is left to the private store.
func (m *Module) PrivateSet(ctx context.Context, user jid.JID, el *xmlstream.Element) (*xmlstream.Element, error) {
	if err := m.syncBookmarks(ctx, user, el, true); err != nil {
		return nil, err
	}
	rest := xmlstream.New(nsLegacyBookmarks, "storage")
	for ch := range el.Elements() {
		if !ch.Is(nsLegacyBookmarks, "conference") {
			rest.Append(ch)
		}
	}
	if rest.FirstChild() == nil {
		return nil, nil
	}
	return rest, nil
}

// migrateBookmarks moves bookmarks an account stored in private XML
// before it had any in PEP, when its bookmarks are first read there.
func (m *Module) migrateBookmarks(ctx context.Context, owner jid.JID) {
	if m.legacy == nil {
		return
	}
	if _, found, err := m.loadNode(owner, nsBookmarks); found || err != nil {
		return
	}
	stored, err := m.legacy(ctx, owner)
	if err != nil {
		m.log.LogAttrs(ctx, slog.LevelWarn, "reading bookmarks from private storage", slog.String("owner", owner.String()), slog.Any("err", err))
		return
	}
	m.migrateFrom(ctx, owner, stored)
}

// migrateFrom publishes the conferences of stored, XEP-0048 storage, when
// the account has no XEP-0402 node yet.
func (m *Module) migrateFrom(ctx context.Context, owner jid.JID, stored *xmlstream.Element) {
	if stored.Child(nsLegacyBookmarks, "conference") == nil {
		return
	}
	if _, found, err := m.loadNode(owner, nsBookmarks); found || err != nil {
		return
	}
	if err := m.syncBookmarks(ctx, owner, stored, false); err != nil {
		m.log.LogAttrs(ctx, slog.LevelWarn, "migrating bookmarks to PEP", slog.String("owner", owner.String()), slog.Any("err", err))
	}
}

// syncBookmarks makes the XEP-0402 items match storage, XEP-0048
// bookmarks: new and changed conferences are published, and, with
// remove, those storage lacks are retracted. Unchanged items are left
// alone, keeping their extensions (XEP-0402 §3.2); a changed one keeps
// them too.
func (m *Module) syncBookmarks(ctx context.Context, owner jid.JID, storage *xmlstream.Element, remove bool) error {
	current := map[string]*xmlstream.Element{}
	err := m.eachItem(owner, nsBookmarks, nil, 0, func(id string, _ time.Time, p *xmlstream.Element) { current[id] = p })
	if err != nil {
		return err
	}
	want := map[string]bool{}
	cfg := bookmarksConfig()
	changed := false
	for c := range storage.Elements() {
		if !c.Is(nsLegacyBookmarks, "conference") {
			continue
		}
		room, err := jid.Parse(c.Get("jid"))
		if err != nil || room.Local() == "" || room.Resource() != "" {
			continue // XEP-0402 items are named by a room's bare JID
		}
		id := room.String()
		want[id] = true
		conf := toBookmark(c, current[id])
		if xmlstream.Equal(conf, current[id]) {
			continue
		}
		if _, err := m.publish(ctx, owner, nsBookmarks, id, conf, nil, &cfg, true); err != nil {
			return err
		}
		changed = true
	}
	if remove {
		var gone []string
		for id := range current {
			if !want[id] {
				gone = append(gone, id)
			}
		}
		if len(gone) > 0 {
			if err := m.retractItems(ctx, owner, nsBookmarks, gone, true, true); err != nil {
				return err
			}
			changed = true
		}
	}
	if changed {
		m.bookmarksChanged(ctx, owner)
	}
	return nil
}

// toBookmark converts a XEP-0048 conference to a XEP-0402 one, keeping
// the extensions of old, the item it replaces.
func toBookmark(c, old *xmlstream.Element) *xmlstream.Element {
	out := copyConference(xmlstream.New(nsBookmarks, "conference"), c)
	return out.Append(old.Child(nsBookmarks, "extensions"))
}

// toLegacy converts a XEP-0402 item to a XEP-0048 conference.
func toLegacy(room string, c *xmlstream.Element) *xmlstream.Element {
	return copyConference(xmlstream.New(nsLegacyBookmarks, "conference").SetAttr("jid", room), c)
}

// copyConference gives dst, a conference of one protocol, what src, a
// conference of the other, says: the same fields in both (XEP-0402 §3.2,
// XEP-0048 §3.2), in dst's namespace, with autojoin written "true".
func copyConference(dst, src *xmlstream.Element) *xmlstream.Element {
	if name := src.Get("name"); name != "" {
		dst.SetAttr("name", name)
	}
	if a := src.Get("autojoin"); a == "true" || a == "1" {
		dst.SetAttr("autojoin", "true")
	}
	for _, f := range []string{"nick", "password"} {
		if v := src.ChildText(src.Name.Space, f); v != "" {
			dst.Append(xmlstream.New(dst.Name.Space, f).AppendText(v))
		}
	}
	return dst
}

// legacyConferences returns the XEP-0402 items as XEP-0048 conferences;
// found is false when the account has no XEP-0402 node.
func (m *Module) legacyConferences(owner jid.JID) ([]*xmlstream.Element, bool, error) {
	var out []*xmlstream.Element
	found, err := m.st.PEPItems(owner.String(), nsBookmarks, nil, 0, func(id string, _ time.Time, data []byte) error {
		p, err := decodePayload(data)
		if err != nil {
			return err
		}
		if p.Is(nsBookmarks, "conference") {
			out = append(out, toLegacy(id, p))
		}
		return nil
	})
	return out, found, err
}

// legacyItem is the one item of the storage:bookmarks node: all the
// bookmarks as XEP-0048 storage (XEP-0048 §3.3).
func (m *Module) legacyItem(owner jid.JID, ns string) (*xmlstream.Element, bool, error) {
	confs, found, err := m.legacyConferences(owner)
	if err != nil || !found {
		return nil, found, err
	}
	storage := xmlstream.New(nsLegacyBookmarks, "storage").Append(confs...)
	return xmlstream.New(ns, "item").SetAttr("id", "current").Append(storage), true, nil
}

// legacyBookmarksItems answers items of storage:bookmarks from the
// XEP-0402 items; only the account may read them.
func (m *Module) legacyBookmarksItems(ctx context.Context, rq *request) (*xmlstream.Element, error) {
	if !rq.self {
		return nil, pubsubError(stanza.NotAllowed, "closed-node", "only the account may see its bookmarks")
	}
	m.migrateBookmarks(ctx, rq.owner)
	item, found, err := m.legacyItem(rq.owner, NS)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, errNoNode(nsLegacyBookmarks)
	}
	return result(rq, NS, xmlstream.New(NS, "items").SetAttr("node", nsLegacyBookmarks).Append(item)), nil
}

// publishLegacyBookmarks takes XEP-0048 storage published to PEP: the
// conferences become the XEP-0402 items.
func (m *Module) publishLegacyBookmarks(ctx context.Context, rq *request, payload *xmlstream.Element) (*xmlstream.Element, error) {
	if !payload.Is(nsLegacyBookmarks, "storage") {
		return nil, pubsubError(stanza.BadRequest, "invalid-payload", "the storage:bookmarks node takes <storage xmlns='storage:bookmarks'/>")
	}
	if err := m.syncBookmarks(ctx, rq.owner, payload, true); err != nil {
		return nil, err
	}
	return result(rq, NS, xmlstream.New(NS, "publish").SetAttr("node", nsLegacyBookmarks).Append(xmlstream.New(NS, "item").SetAttr("id", "current"))), nil
}

// bookmarksChanged tells the account's resources that follow
// storage:bookmarks (XEP-0048 clients over PEP) of the new bookmarks.
func (m *Module) bookmarksChanged(ctx context.Context, owner jid.JID) {
	for _, to := range m.interested(owner, nsLegacyBookmarks) {
		if to.Bare().Equal(owner) {
			m.sendLegacyBookmarks(ctx, owner, to)
		}
	}
}

// sendLegacyBookmarks sends one resource the storage:bookmarks item.
func (m *Module) sendLegacyBookmarks(ctx context.Context, owner, to jid.JID) {
	item, found, err := m.legacyItem(owner, NSEvent)
	if err != nil {
		m.log.LogAttrs(ctx, slog.LevelWarn, "reading bookmarks", slog.String("owner", owner.String()), slog.Any("err", err))
		return
	}
	if !found {
		return
	}
	c := bookmarksConfig()
	ev := xmlstream.New(NSEvent, "event").Append(xmlstream.New(NSEvent, "items").SetAttr("node", nsLegacyBookmarks).Append(item))
	m.notify(ctx, owner, &node{Config: c}, to, ev, time.Time{})
}
