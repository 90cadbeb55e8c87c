package pep

import (
	"context"
	"crypto/sha1" //nolint:gosec // XEP-0084 §4.2 and XEP-0153 name SHA-1 as the image's id, not for security
	"encoding/base64"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"roost/jid"
	"roost/stanza"
	"roost/xmlstream"
)

// Avatars: XEP-0084 nodes, XEP-0153 vCard photos and the hash in
// presence, and XEP-0398's conversion between them.
const (
	nsAvatarData      = "urn:xmpp:avatar:data"
	nsAvatarMeta      = "urn:xmpp:avatar:metadata"
	nsVCard           = "vcard-temp"
	nsVCardUpdate     = "vcard-temp:x:update"
	nsVCardConversion = "urn:xmpp:pep-vcard-conversion:0"
)

// published runs after an item was stored and notified: what else
// depends on the node.
func (m *Module) published(ctx context.Context, owner jid.JID, name string, payload *xmlstream.Element) {
	switch name {
	case nsAvatarMeta:
		m.avatarChanged(ctx, owner, payload)
	case nsBookmarks:
		m.bookmarksChanged(ctx, owner)
	}
}

// changed runs after items were retracted or purged, or a node deleted.
func (m *Module) changed(ctx context.Context, owner jid.JID, name string) {
	switch name {
	case nsAvatarMeta:
		_, _, meta, err := m.lastItem(owner, nsAvatarMeta)
		if err != nil {
			m.log.LogAttrs(ctx, slog.LevelWarn, "reading the avatar metadata", slog.String("owner", owner.String()), slog.Any("err", err))
			return
		}
		m.avatarChanged(ctx, owner, meta)
	case nsBookmarks:
		m.bookmarksChanged(ctx, owner)
	}
}

// avatarInfo picks the <info/> of a metadata payload that describes an
// image stored in the data node, not at a URL (XEP-0398 §3.1); nil for
// none, which is also how XEP-0084 §4.5 says "no avatar".
func avatarInfo(meta *xmlstream.Element) *xmlstream.Element {
	if !meta.Is(nsAvatarMeta, "metadata") {
		return nil
	}
	for info := range meta.Elements() {
		if info.Is(nsAvatarMeta, "info") && info.Get("url") == "" && info.Get("id") != "" {
			return info
		}
	}
	return nil
}

// avatarChanged records the owner's new avatar for presence and puts it
// in the vCard (XEP-0398 §3.1).
func (m *Module) avatarChanged(ctx context.Context, owner jid.JID, meta *xmlstream.Element) {
	info := avatarInfo(meta)
	id := ""
	if info != nil {
		id = info.Get("id")
	}
	m.setAvatar(owner, id)
	if m.vcards != nil {
		if err := m.photoToVCard(owner, info); err != nil {
			m.log.LogAttrs(ctx, slog.LevelWarn, "copying the avatar to the vCard", slog.String("owner", owner.String()), slog.Any("err", err))
		}
	}
}

func (m *Module) setAvatar(owner jid.JID, id string) {
	m.mu.Lock()
	m.avatars[owner.String()] = id
	m.mu.Unlock()
}

// avatarOf returns the id of the owner's avatar, "" for none, reading
// the metadata node the first time only.
func (m *Module) avatarOf(ctx context.Context, owner jid.JID) string {
	m.mu.Lock()
	id, ok := m.avatars[owner.String()]
	m.mu.Unlock()
	if ok {
		return id
	}
	_, _, meta, err := m.lastItem(owner, nsAvatarMeta)
	if err != nil {
		m.log.LogAttrs(ctx, slog.LevelWarn, "reading the avatar metadata", slog.String("owner", owner.String()), slog.Any("err", err))
		return ""
	}
	if info := avatarInfo(meta); info != nil {
		id = info.Get("id")
	}
	m.setAvatar(owner, id)
	return id
}

// photoToVCard makes the vCard's PHOTO the image info describes, or
// removes it when info is nil.
func (m *Module) photoToVCard(owner jid.JID, info *xmlstream.Element) error {
	var photo *xmlstream.Element
	if info != nil {
		id := info.Get("id")
		var data string
		err := m.eachItem(owner, nsAvatarData, []string{id}, 0, func(_ string, _ time.Time, p *xmlstream.Element) {
			if p.Is(nsAvatarData, "data") {
				data = p.Text()
			}
		})
		if err != nil {
			return err
		}
		if data == "" {
			return nil // the data is published after the metadata, or not here
		}
		raw, err := decodeBase64(data)
		if err != nil {
			return err
		}
		if sha1Hex(raw) != id {
			m.log.Debug("avatar data does not match its id; not copied to the vCard", "owner", owner.String(), "id", id)
			return nil
		}
		photo = xmlstream.New(nsVCard, "PHOTO")
		if t := info.Get("type"); t != "" {
			photo.Append(xmlstream.New(nsVCard, "TYPE").AppendText(t))
		}
		photo.Append(xmlstream.New(nsVCard, "BINVAL").AppendText(base64.StdEncoding.EncodeToString(raw)))
	}
	b, found, err := m.vcards.VCard(owner.String())
	if err != nil {
		return err
	}
	if !found && photo == nil {
		return nil
	}
	vc := xmlstream.New(nsVCard, "vCard")
	if found {
		if vc, err = decodePayload(b); err != nil {
			return err
		}
	}
	kids := make([]xmlstream.Node, 0, len(vc.Children)+1)
	for _, n := range vc.Children {
		if !n.Elem.Is(nsVCard, "PHOTO") {
			kids = append(kids, n)
		}
	}
	if photo != nil {
		kids = append(kids, xmlstream.Node{Elem: photo})
	}
	vc = vc.WithChildren(kids)
	var v []byte
	if vc.FirstChild() != nil {
		v = xmlstream.AppendElement(nil, vc, "")
	}
	return m.vcards.PutVCard(owner.String(), v)
}

// VCardSet learns of a vCard the account stored (vcard.Options.OnSet):
// a photo in it becomes the account's avatar, published to the data and
// metadata nodes and notified (XEP-0398 §3.2). A vCard without a photo
// leaves the avatar alone: a client may store its vCard without knowing
// of the avatar.
func (m *Module) VCardSet(ctx context.Context, account jid.JID, vcard *xmlstream.Element) {
	photo := vcard.Child(nsVCard, "PHOTO")
	bin := photo.ChildText(nsVCard, "BINVAL")
	if bin == "" {
		return
	}
	raw, err := decodeBase64(bin)
	if err != nil || len(raw) == 0 {
		m.log.LogAttrs(ctx, slog.LevelDebug, "vCard photo is not base64", slog.String("owner", account.String()))
		return
	}
	id := sha1Hex(raw)
	if m.avatarOf(ctx, account) == id {
		return
	}
	typ := photo.ChildText(nsVCard, "TYPE")
	if typ == "" {
		typ = http.DetectContentType(raw)
	}
	// vCards are public (XEP-0398 §6): so are avatars that come from one.
	c := defaultConfig()
	c.Access = accessOpen
	b64 := base64.StdEncoding.EncodeToString(raw)
	data := xmlstream.New(nsAvatarData, "data").AppendText(b64)
	meta := xmlstream.New(nsAvatarMeta, "metadata").Append(xmlstream.New(nsAvatarMeta, "info").
		SetAttr("bytes", strconv.Itoa(len(raw))).SetAttr("id", id).SetAttr("type", typ))
	// Quietly: the vCard already holds the photo.
	for _, it := range []struct {
		node    string
		payload *xmlstream.Element
	}{{nsAvatarData, data}, {nsAvatarMeta, meta}} {
		if _, err := m.publish(ctx, account, it.node, id, it.payload, nil, &c, true); err != nil {
			m.log.LogAttrs(ctx, slog.LevelInfo, "vCard photo not published as the avatar", slog.String("owner", account.String()), slog.Any("err", err))
			return
		}
	}
	m.setAvatar(account, id)
}

// injectAvatar puts the hash of the account's avatar in available
// presence that does not carry a photo element of its own
// (XEP-0398 §4, XEP-0153 §4.1): broadcast and directed alike, so that
// group chats see it. The stored presence that answers probes gets it
// too. Accounts without an avatar pay a map lookup.
func (m *Module) injectAvatar(ctx context.Context, st *stanza.Stanza) {
	el := st.El
	x := el.Child(nsVCardUpdate, "x")
	if x.Child(nsVCardUpdate, "photo") != nil {
		return // the client's own say, even an empty one
	}
	id := m.avatarOf(ctx, st.From.Bare())
	if id == "" {
		return
	}
	kids := make([]xmlstream.Node, 0, len(el.Children)+1)
	for _, n := range el.Children {
		if x == nil || n.Elem != x {
			kids = append(kids, n)
		}
	}
	update := xmlstream.New(nsVCardUpdate, "x").Append(xmlstream.New(nsVCardUpdate, "photo").AppendText(id))
	st.El = el.WithChildren(append(kids, xmlstream.Node{Elem: update}))
	if st.To.IsZero() {
		m.r.SetPresence(st.From, true, stanza.Priority(st.El), st.Element())
	}
}

func sha1Hex(b []byte) string {
	sum := sha1.Sum(b) //nolint:gosec // see the import
	return hex.EncodeToString(sum[:])
}

// decodeBase64 reads base64 as vCards and avatars carry it, with line
// breaks and spaces (XEP-0153 §3.1 allows them).
func decodeBase64(s string) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, s)
	return base64.StdEncoding.DecodeString(s)
}
