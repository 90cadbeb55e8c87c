package pep

import (
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
	"testing"

	"roost/form"
	"roost/internal/xmpptest"
	"roost/stanza"
	"roost/xmlstream"
)

const (
	room1 = "room1@conference.example.com"
	room2 = "room2@conference.example.com"
)

// conferences summarises XEP-0048 storage as "jid name autojoin nick".
func conferences(storage *xmlstream.Element) []string {
	var out []string
	for c := range storage.Elements() {
		if c.Is(nsLegacyBookmarks, "conference") {
			out = append(out, strings.Join([]string{c.Get("jid"), c.Get("name"), c.Get("autojoin"), c.ChildText(nsLegacyBookmarks, "nick")}, " "))
		}
	}
	return out
}

// TestBookmarksCompat: XEP-0402 §5.3. Private XML bookmarks become PEP
// items and the other way round; so does the storage:bookmarks node.
func TestBookmarksCompat(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	modern := newClient(nsBookmarks + "+notify")
	legacy := newClient(nsLegacyBookmarks + "+notify")
	w.online(jb, modern)
	w.online("juliet@example.com/old", legacy)
	jul := jidOf(juliet)

	// A XEP-0048 client stores two rooms and a URL in private XML.
	set := xmpptest.Element(t, `<storage xmlns='storage:bookmarks'>`+
		`<conference jid='`+room1+`' name='One' autojoin='true'><nick>jul</nick><password>pw</password></conference>`+
		`<conference jid='`+room2+`' autojoin='0'/><conference jid='not a jid@@'/>`+
		`<url name='Roost' url='https://roost.example'/></storage>`)
	rest, err := w.pep.PrivateSet(ctx, jul, set)
	if err != nil {
		t.Fatal(err)
	}
	if rest == nil || rest.Child(nsLegacyBookmarks, "url") == nil || rest.Child(nsLegacyBookmarks, "conference") != nil {
		t.Errorf("left to the private store: %v", rest)
	}
	expect(t, "XEP-0402 client notified", w.events(jb), nsBookmarks+"/"+room1+"[conference]", nsBookmarks+"/"+room2+"[conference]")
	expect(t, "XEP-0048 client notified", w.events("juliet@example.com/old"), nsLegacyBookmarks+"/current[storage]")
	res := w.ok(jb, items("", nsBookmarks, "/>"))
	want := `<conference xmlns="urn:xmpp:bookmarks:1" name="One" autojoin="true"><nick>jul</nick><password>pw</password></conference>`
	if got := res.Child(NS, "items").FirstChild().FirstChild().String(); got != want {
		t.Errorf("first XEP-0402 item %s\nwant %s", got, want)
	}
	cfg, err := form.Parse(w.ok(jb, owner("get", "<configure node='"+nsBookmarks+"'/>")).Child(NSOwner, "configure").Child(form.NS, "x"))
	if err != nil {
		t.Fatal(err)
	}
	for f, v := range map[string]string{"pubsub#access_model": "whitelist", "pubsub#max_items": "max", "pubsub#send_last_published_item": "never"} {
		if got := cfg.Value(f); got != v {
			t.Errorf("bookmarks node's %s is %q, want %q", f, got, v)
		}
	}

	// A XEP-0402 client adds a room with the publish-options Conversations sends,
	// with an extension.
	w.ok(jb, publish(nsBookmarks, "room3@conference.example.com", `<conference xmlns='urn:xmpp:bookmarks:1' name='Three'><extensions><x xmlns='urn:example'/></extensions></conference>`,
		"pubsub#persist_items", "true", "pubsub#max_items", "max", "pubsub#send_last_published_item", "never", "pubsub#access_model", "whitelist"))
	got, err := w.pep.PrivateGet(ctx, jul, rest)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "private XML view", conferences(got), room1+" One true jul", room2+"   ", "room3@conference.example.com Three  ")
	if got.Child(nsLegacyBookmarks, "url") == nil {
		t.Errorf("the URL bookmark is lost: %s", got)
	}

	// The same through the storage:bookmarks node (XEP-0048 over PEP).
	leg := w.ok("juliet@example.com/old", items("", nsLegacyBookmarks, "/>"))
	item := leg.Child(NS, "items").Child(NS, "item")
	if item.Get("id") != "current" || len(conferences(item.FirstChild())) != 3 {
		t.Errorf("storage:bookmarks items: %s", leg)
	}
	// Publishing there keeps only room3, renamed: the rest is retracted,
	// room3's extension kept.
	w.events(jb)
	w.ok("juliet@example.com/old", publish(nsLegacyBookmarks, "current", `<storage xmlns='storage:bookmarks'><conference jid='room3@conference.example.com' name='Third'/></storage>`))
	expect(t, "retractions and the change", w.events(jb), nsBookmarks+"/-"+room1, nsBookmarks+"/-"+room2, nsBookmarks+"/room3@conference.example.com[conference]")
	res = w.ok(jb, items("", nsBookmarks, "/>"))
	if got := res.String(); !strings.Contains(got, `name="Third"`) || !strings.Contains(got, `<x xmlns="urn:example"/>`) || strings.Count(got, "<item ") != 1 {
		t.Errorf("after the legacy publish: %s", got)
	}
	w.fails("juliet@example.com/old", publish(nsLegacyBookmarks, "current", `<nope xmlns='urn:x'/>`), stanza.BadRequest, "invalid-payload")
	w.Connect(ro)
	w.fails(ro, items(juliet, nsLegacyBookmarks, "/>"), stanza.NotAllowed, "closed-node")
	w.fails(ro, items(juliet, nsBookmarks, "/>"), stanza.NotAllowed, "closed-node")
}

// TestBookmarksMigration: bookmarks stored in private XML before PEP had
// any move to PEP when they are first read there.
func TestBookmarksMigration(t *testing.T) {
	w := newWorld(t)
	old := `<storage xmlns="storage:bookmarks"><conference jid="` + room1 + `" autojoin="1"><nick>j</nick></conference></storage>`
	if err := w.st.PutPrivateXML(juliet, "{storage:bookmarks}storage", []byte(old)); err != nil {
		t.Fatal(err)
	}
	w.Connect(jb)
	res := w.ok(jb, items("", nsBookmarks, "/>"))
	if got := res.String(); !strings.Contains(got, `id="`+room1+`"`) || !strings.Contains(got, `autojoin="true"`) {
		t.Errorf("migrated: %s", got)
	}
	// A private XML get of the stored copy now reads PEP.
	got, err := w.pep.PrivateGet(t.Context(), jidOf(juliet), xmpptest.Element(t, `<storage xmlns='storage:bookmarks'><conference jid='stale@conference.example.com'/></storage>`))
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "after migration", conferences(got), room1+"  true j")
}

func testPNG(t *testing.T) []byte {
	t.Helper()
	// A 1x1 PNG.
	b, err := base64.StdEncoding.DecodeString("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAvatarConversion: XEP-0398 both ways, and the hash in presence.
func TestAvatarConversion(t *testing.T) {
	w := newWorld(t)
	w.befriend(juliet, romeo)
	png := testPNG(t)
	id := sha1Hex(png)
	b64 := base64.StdEncoding.EncodeToString(png)
	w.Connect(ro)
	w.Send(ro, `<presence/>`)
	w.Connect(jb)
	if err := w.st.PutVCard(juliet, []byte(`<vCard xmlns="vcard-temp"><FN>Juliet</FN></vCard>`)); err != nil {
		t.Fatal(err)
	}

	// XEP-0084 publication: data, then metadata.
	w.ok(jb, publish(nsAvatarData, id, `<data xmlns='urn:xmpp:avatar:data'>`+b64+`</data>`))
	w.ok(jb, publish(nsAvatarMeta, id, `<metadata xmlns='urn:xmpp:avatar:metadata'><info bytes='`+strconv.Itoa(len(png))+`' id='`+id+`' type='image/png'/></metadata>`))
	vc, _, err := w.st.VCard(juliet)
	if err != nil {
		t.Fatal(err)
	}
	if want := `<vCard xmlns="vcard-temp"><FN>Juliet</FN><PHOTO><TYPE>image/png</TYPE><BINVAL>` + b64 + `</BINVAL></PHOTO></vCard>`; string(vc) != want {
		t.Errorf("vCard %s\nwant %s", vc, want)
	}

	// Presence carries the hash, to contacts and in probe answers.
	w.Sessions[ro].Take()
	w.Send(jb, `<presence><show>away</show></presence>`)
	var seen string
	for _, el := range w.Sessions[ro].Take() {
		if el.Name.Local == "presence" && el.Get("from") == jb {
			seen = el.Child(nsVCardUpdate, "x").ChildText(nsVCardUpdate, "photo")
		}
	}
	if seen != id {
		t.Errorf("romeo saw photo %q, want %s", seen, id)
	}
	for _, tc := range []struct{ name, in, want string }{
		{"client's own photo kept", `<presence><x xmlns='vcard-temp:x:update'><photo>abc</photo></x></presence>`, "abc"},
		{"empty photo kept", `<presence><x xmlns='vcard-temp:x:update'><photo/></x></presence>`, ""},
		{"empty x overwritten", `<presence><x xmlns='vcard-temp:x:update'/></presence>`, id},
	} {
		w.Send(jb, tc.in)
		got := "none"
		for _, el := range w.Sessions[ro].Take() {
			if x := el.Child(nsVCardUpdate, "x"); el.Name.Local == "presence" && x != nil {
				got = x.ChildText(nsVCardUpdate, "photo")
				if n := strings.Count(el.String(), "vcard-temp:x:update"); n != 1 {
					t.Errorf("%s: %d update elements in %s", tc.name, n, el)
				}
			}
		}
		if got != tc.want {
			t.Errorf("%s: photo %q, want %q", tc.name, got, tc.want)
		}
	}

	// Removing the avatar (empty metadata) removes the photo.
	w.ok(jb, publish(nsAvatarMeta, "none", `<metadata xmlns='urn:xmpp:avatar:metadata'/>`))
	if vc, _, _ := w.st.VCard(juliet); strings.Contains(string(vc), "PHOTO") {
		t.Errorf("vCard after the avatar was removed: %s", vc)
	}
	w.Send(jb, `<presence/>`)
	for _, el := range w.Sessions[ro].Take() {
		if el.Child(nsVCardUpdate, "x") != nil {
			t.Errorf("presence without an avatar carries %s", el)
		}
	}

	// XEP-0153 vCard publication with a photo becomes the avatar, open.
	w.online(ro, newClient(nsAvatarMeta+"+notify"))
	w.events(ro)
	vcard := xmpptest.Element(t, `<vCard xmlns='vcard-temp'><PHOTO><TYPE>image/png</TYPE><BINVAL>`+b64[:20]+"\n  "+b64[20:]+`</BINVAL></PHOTO></vCard>`)
	w.pep.VCardSet(t.Context(), jidOf(juliet), vcard)
	expect(t, "romeo notified of the new avatar", w.events(ro), nsAvatarMeta+"/"+id+"[metadata]")
	data := w.ok(ro, items(juliet, nsAvatarData, "/>"))
	if got := data.Child(NS, "items").Child(NS, "item"); got.Get("id") != id || got.FirstChild().Text() != b64 {
		t.Errorf("avatar data: %s", data)
	}
	meta := w.ok(ro, items(juliet, nsAvatarMeta, "/>")).String()
	if !strings.Contains(meta, `bytes="`+strconv.Itoa(len(png))+`"`) || !strings.Contains(meta, `type="image/png"`) {
		t.Errorf("avatar metadata: %s", meta)
	}
	// Juliet's nodes keep the presence model they were made with; an
	// avatar that comes first from a vCard is as public as the vCard.
	w.Connect(bs)
	w.fails(bs, items(juliet, nsAvatarMeta, "/>"), stanza.NotAuthorized, "presence-subscription-required")
	w.pep.VCardSet(t.Context(), jidOf(nurse), vcard)
	if got := itemIDs(w.ok(bs, items(nurse, nsAvatarMeta, "/>"))); !slices.Equal(got, []string{id + "="}) {
		t.Errorf("a stranger reads the vCard-made avatar: %q", got)
	}
	// The same photo again changes nothing.
	w.pep.VCardSet(t.Context(), jidOf(juliet), vcard)
	expect(t, "unchanged photo", w.events(ro))
	// A vCard without a photo leaves the avatar alone.
	w.pep.VCardSet(t.Context(), jidOf(juliet), xmpptest.Element(t, `<vCard xmlns='vcard-temp'><FN>J</FN></vCard>`))
	if got := w.pep.avatarOf(t.Context(), jidOf(juliet)); got != id {
		t.Errorf("avatar after a vCard without photo: %q", got)
	}
}

// TestAccountDeletedForgets: the in-memory state of a deleted account
// goes (its nodes go with the account in the store).
func TestAccountDeletedForgets(t *testing.T) {
	w := newWorld(t)
	w.online(jb, newClient(tune+"+notify"))
	w.pep.avatarOf(t.Context(), jidOf(juliet))
	w.pep.AccountDeleted(t.Context(), jidOf(juliet))
	w.pep.mu.Lock()
	defer w.pep.mu.Unlock()
	if len(w.pep.watchers[juliet]) != 0 {
		t.Errorf("watchers kept: %v", w.pep.watchers[juliet])
	}
	if _, ok := w.pep.avatars[juliet]; ok {
		t.Error("avatar kept")
	}
}
