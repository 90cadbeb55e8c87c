package server

import (
	"context"
	"crypto/sha1" //nolint:gosec // XEP-0084 names the image by its SHA-1
	"encoding/base64"
	"encoding/hex"
	"slices"
	"strings"
	"testing"
	"time"

	"roost/admin"
	"roost/archive"
	"roost/discoinfo"
	"roost/internal/client"
	"roost/internal/dnstest"
	"roost/internal/xmpptest"
	"roost/jid"
	"roost/module/pep"
	"roost/module/push"
	"roost/xmlstream"
)

// TestPEPDiscovery: the account's disco#info is what Conversations reads
// to call PEP supported, not "partial": the pubsub/pep identity and
// pubsub#publish-options among every pubsub feature (XEP-0163 §6.1); the
// server lists publish-options too, where profanity looks for it.
func TestPEPDiscovery(t *testing.T) {
	r := start(t, t.TempDir())
	c := online(t, r, "alice@example.org/laptop")[0]
	defer c.Close()
	res := iq(t, c, "get", "alice@example.org", xmlstream.New(discoinfo.NSInfo, "query"))
	info, err := discoinfo.Parse(res.FirstChild())
	if err != nil {
		t.Fatal(err)
	}
	wantIDs := []discoinfo.Identity{{Category: "account", Type: "registered"}, {Category: "pubsub", Type: "pep"}}
	if !slices.Equal(info.Identities, wantIDs) {
		t.Errorf("identities %v, want %v", info.Identities, wantIDs)
	}
	want := append([]string{discoinfo.NSInfo, discoinfo.NSItems, "jabber:iq:last", "vcard-temp",
		archive.NS, archive.NSExtended, archive.NSStanzaID, push.NS}, pep.Features()...)
	slices.Sort(want)
	if !slices.Equal(info.Features, want) {
		t.Errorf("account features\n%q\nwant\n%q", info.Features, want)
	}
	if !info.Has("http://jabber.org/protocol/pubsub#publish-options") {
		t.Error("no pubsub#publish-options on the account: Conversations would show PEP as partial")
	}
	server := iq(t, c, "get", "example.org", xmlstream.New(discoinfo.NSInfo, "query"))
	sInfo, _ := discoinfo.Parse(server.FirstChild())
	if !sInfo.Has("http://jabber.org/protocol/pubsub#publish-options") {
		t.Errorf("server features %q lack publish-options", sInfo.Features)
	}
}

func pubsubIQ(ns string, children ...*xmlstream.Element) *xmlstream.Element {
	return xmlstream.New(ns, "pubsub").Append(children...)
}

func publishEl(node, id string, payload *xmlstream.Element) *xmlstream.Element {
	return pubsubIQ(pep.NS, xmlstream.New(pep.NS, "publish").SetAttr("node", node).
		Append(xmlstream.New(pep.NS, "item").SetAttr("id", id).Append(payload)))
}

func itemsEl(node string) *xmlstream.Element {
	return pubsubIQ(pep.NS, xmlstream.New(pep.NS, "items").SetAttr("node", node))
}

func mustResult(t *testing.T, res *xmlstream.Element) *xmlstream.Element {
	t.Helper()
	if res.Get("type") != "result" {
		t.Fatalf("got %s", res)
	}
	return res.FirstChild()
}

// TestPEPConversionsEndToEnd: through the wired server, bookmarks stored
// in private XML are PEP bookmarks and back, a vCard photo is the avatar
// and back; deleting the account deletes its nodes.
func TestPEPConversionsEndToEnd(t *testing.T) {
	r := start(t, t.TempDir())
	laptop := online(t, r, "alice@example.org/laptop")[0]
	defer laptop.Close()
	phone, err := r.login(t, "alice@example.org/phone", "alice-secret")
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()

	private := func(children ...*xmlstream.Element) *xmlstream.Element {
		return xmlstream.New("jabber:iq:private", "query").Append(children...)
	}
	legacy := xmpptest.Element(t, `<storage xmlns='storage:bookmarks'><conference jid='den@conference.example.org' name='Den' autojoin='true'><nick>al</nick></conference></storage>`)
	mustResult(t, iq(t, laptop, "set", "", private(legacy)))
	got := mustResult(t, iq(t, phone, "get", "", itemsEl("urn:xmpp:bookmarks:1")))
	if s := got.String(); !strings.Contains(s, `id="den@conference.example.org"`) || !strings.Contains(s, `<nick>al</nick>`) {
		t.Errorf("XEP-0402 view of the private XML bookmarks: %s", s)
	}
	mustResult(t, iq(t, phone, "set", "", publishEl("urn:xmpp:bookmarks:1", "attic@conference.example.org",
		xmpptest.Element(t, `<conference xmlns='urn:xmpp:bookmarks:1' name='Attic'/>`))))
	got = mustResult(t, iq(t, laptop, "get", "", private(xmlstream.New("storage:bookmarks", "storage"))))
	if s := got.String(); !strings.Contains(s, `jid="den@conference.example.org"`) || !strings.Contains(s, `jid="attic@conference.example.org" name="Attic"`) {
		t.Errorf("private XML view of the PEP bookmarks: %s", s)
	}

	// A vCard photo becomes the avatar.
	img := []byte("\x89PNG\r\n\x1a\nnot really an image, but bytes")
	sum := sha1.Sum(img) //nolint:gosec // see the import
	id := hex.EncodeToString(sum[:])
	vcard := xmpptest.Element(t, `<vCard xmlns='vcard-temp'><FN>Alice</FN><PHOTO><TYPE>image/png</TYPE><BINVAL>`+base64.StdEncoding.EncodeToString(img)+`</BINVAL></PHOTO></vCard>`)
	mustResult(t, iq(t, laptop, "set", "", vcard))
	meta := mustResult(t, iq(t, phone, "get", "", itemsEl("urn:xmpp:avatar:metadata")))
	if s := meta.String(); !strings.Contains(s, `id="`+id+`"`) || !strings.Contains(s, `type="image/png"`) {
		t.Errorf("avatar metadata from the vCard: %s", s)
	}
	// An avatar published in PEP becomes the vCard photo.
	img2 := []byte("GIF89a another image")
	sum = sha1.Sum(img2) //nolint:gosec // see the import
	id2 := hex.EncodeToString(sum[:])
	b64 := base64.StdEncoding.EncodeToString(img2)
	mustResult(t, iq(t, phone, "set", "", publishEl("urn:xmpp:avatar:data", id2, xmpptest.Element(t, `<data xmlns='urn:xmpp:avatar:data'>`+b64+`</data>`))))
	mustResult(t, iq(t, phone, "set", "", publishEl("urn:xmpp:avatar:metadata", id2,
		xmpptest.Element(t, `<metadata xmlns='urn:xmpp:avatar:metadata'><info id='`+id2+`' bytes='20' type='image/gif'/></metadata>`))))
	vc := mustResult(t, iq(t, laptop, "get", "alice@example.org", xmlstream.New("vcard-temp", "vCard")))
	if vc.Child("vcard-temp", "PHOTO").ChildText("vcard-temp", "BINVAL") != b64 || vc.ChildText("vcard-temp", "FN") != "Alice" {
		t.Errorf("vCard after the PEP avatar: %s", vc)
	}

	// Deleting the account deletes its nodes.
	laptop.Close()
	phone.Close()
	again := recreate(t, r, "alice@example.org/laptop")
	defer again.Close()
	if res := iq(t, again, "get", "", itemsEl("urn:xmpp:bookmarks:1")); res.Get("type") != "error" {
		t.Errorf("the new alice has the old one's bookmarks: %s", res)
	}
	n := 0
	if err := r.srv.store.PEPNodes("alice@example.org", func(string, []byte) error { n++; return nil }); err != nil || n != 0 {
		t.Errorf("%d nodes left after deletion (%v)", n, err)
	}
}

// TestPEPFederationEndToEnd: two roost servers. bob, on the other one,
// announces a client that wants tunes; alice's server asks his client
// what that means over federation and notifies him; he reads alice's open
// node across servers.
func TestPEPFederationEndToEnd(t *testing.T) {
	dns := dnstest.NewServer(t, "")
	a := startFederated(t, dns, "a.example")
	b := startFederated(t, dns, "b.example")
	alice := online(t, a, "alice@a.example/laptop")[0]
	bob := online(t, b, "bob@b.example/phone")[0]
	t.Cleanup(func() { alice.Close(); bob.Close() })
	const tune = "http://jabber.org/protocol/tune"
	bobInfo := discoinfo.Info{Identities: []discoinfo.Identity{{Category: "client", Type: "phone"}}, Features: []string{tune + "+notify"}}.Normalized()
	ver, err := bobInfo.Ver()
	if err != nil {
		t.Fatal(err)
	}
	// bob's client answers disco#info requests, as clients do.
	answering := func(c *client.Conn, info discoinfo.Info, match func(*xmlstream.Element) bool) func(*xmlstream.Element) bool {
		return func(el *xmlstream.Element) bool {
			if q := el.Child(discoinfo.NSInfo, "query"); el.Name.Local == "iq" && el.Get("type") == "get" && q != nil {
				res := xmlstream.New(xmlstream.NSClient, "iq").SetAttr("type", "result").SetAttr("id", el.Get("id")).
					SetAttr("to", el.Get("from")).Append(info.Query(q.Get("node")))
				if err := c.Send(res); err != nil {
					t.Error(err)
				}
				return false
			}
			return match(el)
		}
	}
	send := func(c *client.Conn, el *xmlstream.Element) { sendTo(t, c, el) }
	caps := xmlstream.New(pep.NSCaps, "c").SetAttr("hash", "sha-1").SetAttr("node", "https://bob.example").SetAttr("ver", ver)
	send(alice, presence("", ""))
	send(bob, presence("", "").Append(caps))
	send(alice, presence("bob@b.example", "subscribe"))
	await(t, bob, "alice's request", answering(bob, bobInfo, presenceFrom("alice@a.example", "subscribe")))
	send(bob, presence("alice@a.example", "subscribed"))
	send(bob, presence("alice@a.example", "subscribe"))
	await(t, alice, "bob's request", presenceFrom("bob@b.example", "subscribe"))
	send(alice, presence("bob@b.example", "subscribed"))
	await(t, bob, "alice's presence", answering(bob, bobInfo, presenceFrom("alice@a.example", "")))
	// bob announces his client again now that alice sees his presence.
	send(bob, presence("", "").Append(caps))

	isTune := func(title string) func(*xmlstream.Element) bool {
		return func(el *xmlstream.Element) bool {
			return el.Name.Local == "message" && strings.Contains(el.String(), "<title>"+title+"</title>")
		}
	}
	tuneItem := func(title string) *xmlstream.Element {
		return xmlstream.New(tune, "tune").Append(xmlstream.New(tune, "title").AppendText(title))
	}
	// Published until bob's client is known to want it: the caps request
	// crosses servers asynchronously.
	deadline := time.Now().Add(15 * time.Second)
	for i := 0; ; i++ {
		title := "song " + string(rune('a'+i%26))
		res := iq(t, alice, "set", "", publishEl(tune, "current", tuneItem(title)))
		if res.Get("type") != "result" {
			t.Fatalf("publish: %s", res)
		}
		_ = bob.SetDeadline(time.Now().Add(time.Second))
		got := false
		for {
			el, err := bob.Recv()
			if err != nil {
				break
			}
			if answering(bob, bobInfo, isTune(title))(el) {
				got = el.Get("from") == "alice@a.example" && el.Get("type") == "headline"
				break
			}
		}
		if got {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("bob never got alice's tune")
		}
	}
	// Reading an open node across servers.
	mustResult(t, iq(t, alice, "set", "", pubsubIQ(pep.NS,
		xmlstream.New(pep.NS, "publish").SetAttr("node", "urn:example:open").Append(xmlstream.New(pep.NS, "item").SetAttr("id", "1").Append(tuneItem("open"))),
		xmlstream.New(pep.NS, "publish-options").Append(xmpptest.Element(t, `<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='pubsub#access_model'><value>open</value></field></x>`)))))
	res := iq(t, bob, "get", "alice@a.example", itemsEl("urn:example:open"))
	if res.Get("type") != "result" || !strings.Contains(res.String(), "<title>open</title>") {
		t.Errorf("bob reading alice's open node: %s", res)
	}
}

// recreate deletes the account of full, makes it again and logs full in.
func recreate(t *testing.T, r *running, full string) *client.Conn {
	t.Helper()
	local := jid.MustParse(full).Local()
	adm := admin.Client{Path: r.cfg.Admin.Socket}
	if err := adm.DeleteUser(context.Background(), local); err != nil {
		t.Fatal(err)
	}
	return online(t, r, full)[0]
}
