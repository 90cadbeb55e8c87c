package pep

import (
	"slices"
	"strings"
	"testing"
	"time"

	"roost/discoinfo"
	"roost/stanza"
	"roost/xmlstream"
)

const geoloc = "http://jabber.org/protocol/geoloc"

// TestNotificationsFollowCaps: the owner's and contacts' resources get
// what their clients asked for with +notify (XEP-0163 §4), learnt with
// one disco#info request per client version; the last item goes to
// newly available resources (§4.3.4).
func TestNotificationsFollowCaps(t *testing.T) {
	w := newWorld(t)
	w.befriend(juliet, romeo)
	w.befriend(juliet, nurse)
	tuneFan := newClient(tune+"+notify", tune)
	geoFan := newClient(geoloc + "+notify")

	w.Connect(jb)
	w.ok(jb, publish(tune, "t1", tuneItem("first")))
	w.online(jb, tuneFan)
	expect(t, "own resource's last item on presence", w.events(jb), tune+"/t1[tune] (delayed)")

	// Romeo's client is the same version: nobody asks it again.
	w.Connect(ro)
	w.Send(ro, `<presence>`+tuneFan.caps()+`</presence>`)
	if n := discoAsked(w.Sessions[ro].Take()); n != 0 {
		t.Errorf("romeo was asked %d times about a known version", n)
	}
	// His presence reached juliet: he got her last item.
	w.online(ro, tuneFan) // (nothing new: already online with these caps)
	w.online(nk, geoFan)

	w.ok(jb, publish(tune, "t2", tuneItem("second")))
	expect(t, "juliet", w.events(jb), tune+"/t2[tune]")
	expect(t, "romeo", w.events(ro), tune+"/t2[tune]")
	expect(t, "nurse (geoloc only)", w.events(nk))

	w.ok(jb, publish(geoloc, "g", "<geoloc xmlns='"+geoloc+"'/>"))
	expect(t, "nurse gets geoloc", w.events(nk), geoloc+"/g[geoloc]")
	expect(t, "romeo does not", w.events(ro))

	// A second resource of romeo's comes online and gets the last item.
	rp := "romeo@example.com/phone"
	w.online(rp, tuneFan)
	expect(t, "romeo's new resource", w.events(rp), tune+"/t2[tune] (delayed)")

	// Gone resources get nothing.
	w.Send(ro, `<presence type='unavailable'/>`)
	w.Disconnect(rp) // without unavailable presence
	w.ok(jb, publish(tune, "t3", tuneItem("third")))
	expect(t, "romeo after unavailable", w.events(ro))
	expect(t, "juliet still", w.events(jb), tune+"/t3[tune]")

	// Blocked contacts get nothing (XEP-0163 §4.3.3).
	w.online(nk, newClient(tune+"+notify"))
	w.events(nk)
	w.blocks[juliet+"|"+nurse] = true
	w.ok(jb, publish(tune, "t4", tuneItem("fourth")))
	expect(t, "blocked nurse", w.events(nk))
	delete(w.blocks, juliet+"|"+nurse)

	// A contact whose client changed its mind stops getting them.
	w.online(nk, geoFan)
	expect(t, "nurse's geoloc client gets the last geoloc again", w.events(nk), geoloc+"/g[geoloc] (delayed)")
	w.ok(jb, publish(tune, "t5", tuneItem("fifth")))
	expect(t, "nurse with the geoloc client again", w.events(nk))

	// Without a presence subscription, presence with caps is not followed.
	w.Connect(bs)
	w.Send(bs, `<presence to='juliet@example.com'>`+tuneFan.caps()+`</presence>`)
	w.ok(jb, publish(tune, "t6", tuneItem("sixth")))
	expect(t, "benvolio (no subscription)", w.events(bs))
}

// TestRemoteContactCaps: a contact on another server is asked over
// federation, and a wrong answer is not cached.
func TestRemoteContactCaps(t *testing.T) {
	w := newWorld(t)
	const paris = "paris@remote.example"
	w.follow(juliet, paris)
	w.Connect(jb)
	w.ok(jb, publish(tune, "t1", tuneItem("first")))
	fan := newClient(tune + "+notify")
	w.Inbound(`<presence from='paris@remote.example/phone' to='juliet@example.com'>` + fan.caps() + `</presence>`)
	var ask *stanza.Stanza
	for _, st := range w.takeRemote() {
		if st.Kind == stanza.IQ && st.El.Child(discoinfo.NSInfo, "query") != nil {
			ask = st
		}
	}
	if ask == nil || ask.From.String() != juliet || ask.To.String() != paris+"/phone" {
		t.Fatalf("disco#info request %v, want one from juliet's bare JID to paris's phone", ask)
	}
	answer := func(to string, id string, c client) {
		res := xmlstream.New(xmlstream.NSClient, "iq").SetAttr("type", "result").SetAttr("id", id).
			SetAttr("from", to).SetAttr("to", juliet).Append(c.info.Query(c.node + "#" + c.ver))
		w.Inbound(res.String())
	}
	answer(paris+"/phone", ask.ID, fan)
	got := w.takeRemote()
	if len(got) != 1 || !slices.Equal(eventSummary(got[0].El), []string{tune + "/t1[tune] (delayed)"}) || got[0].To.String() != paris+"/phone" {
		t.Fatalf("after the answer: %v", got)
	}
	if got[0].El.Get("type") != "headline" || got[0].From.String() != juliet {
		t.Errorf("notification %s: want a headline from juliet's bare JID", got[0].El)
	}
	w.ok(jb, publish(tune, "t2", tuneItem("second")))
	if got := w.takeRemote(); len(got) != 1 || got[0].To.String() != paris+"/phone" {
		t.Errorf("publish reached %v", got)
	}
	// The notification bounces: paris's phone is gone for PEP.
	w.ok(jb, publish(tune, "t3", tuneItem("third")))
	n := w.takeRemote()[0]
	w.Inbound(`<message type='error' id='` + n.ID + `' from='paris@remote.example/phone' to='juliet@example.com'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`)
	w.ok(jb, publish(tune, "t4", tuneItem("fourth")))
	if got := w.takeRemote(); len(got) != 0 {
		t.Errorf("after the bounce: %v", got)
	}

	// A client whose answer does not match its hash is believed for
	// itself only: the next resource with that version is asked again.
	liar := newClient(geoloc + "+notify")
	liar.info.Features = append(liar.info.Features, tune+"+notify") // not what its ver says
	w.Inbound(`<presence from='paris@remote.example/laptop' to='juliet@example.com'>` + liar.caps() + `</presence>`)
	ask = w.takeRemote()[0]
	answer(paris+"/laptop", ask.ID, liar)
	expectRemote := func(what string, want ...string) {
		t.Helper()
		var got []string
		for _, st := range w.takeRemote() {
			got = append(got, st.Kind.String()+" "+st.To.String())
		}
		expect(t, what, got, want...)
	}
	expectRemote("the liar's own interests are served", "message "+paris+"/laptop")
	w.Inbound(`<presence from='paris@remote.example/tablet' to='juliet@example.com'>` + liar.caps() + `</presence>`)
	expectRemote("asked again", "iq "+paris+"/tablet")
	// An answer from someone else than asked is ignored.
	w.Inbound(`<iq type='result' id='` + ask.ID + `' from='paris@remote.example/other' to='juliet@example.com'/>`)
	expectRemote("nothing")

	// A request that is never answered is made again, to the same
	// resource, once it is old.
	quiet := newClient("urn:example:quiet+notify")
	pres := `<presence from='paris@remote.example/desk' to='juliet@example.com'>` + quiet.caps() + `</presence>`
	w.Inbound(pres)
	expectRemote("first request", "iq "+paris+"/desk")
	w.Inbound(pres)
	expectRemote("not again at once")
	w.now = w.now.Add(askAgain + time.Second)
	w.Inbound(pres)
	again := w.takeRemote()
	if len(again) != 1 || again[0].Kind != stanza.IQ || again[0].To.String() != paris+"/desk" {
		t.Fatalf("again later: %v", again)
	}
	// An error answer lets the next presence ask again at once.
	w.Inbound(`<iq type='error' id='` + again[0].ID + `' from='paris@remote.example/desk' to='juliet@example.com'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`)
	w.Inbound(pres)
	expectRemote("after an error", "iq "+paris+"/desk")
}

// TestCapsQueriedOncePerVersion: many resources announcing one unknown
// version cause one request; they are all served when it is answered.
func TestCapsQueriedOncePerVersion(t *testing.T) {
	w := newWorld(t)
	w.Connect(jb)
	w.ok(jb, publish(tune, "t1", tuneItem("x")))
	fan := newClient(tune + "+notify")
	for _, r := range []string{"a", "b", "c"} {
		w.Connect(juliet + "/" + r)
		w.Send(juliet+"/"+r, "<presence>"+fan.caps()+"</presence>")
	}
	asked := 0
	var answerer string
	for _, r := range []string{"a", "b", "c"} {
		if n := discoAsked(w.Sessions[juliet+"/"+r].Peek()); n > 0 {
			asked += n
			answerer = juliet + "/" + r
		}
	}
	if asked != 1 {
		t.Fatalf("%d disco#info requests for one version", asked)
	}
	w.answerDisco(answerer, fan)
	for _, r := range []string{"a", "b", "c"} {
		if got := w.events(juliet + "/" + r); !slices.Contains(got, tune+"/t1[tune] (delayed)") {
			t.Errorf("resource %s got %q", r, got)
		}
	}
}

// TestNotificationKinds: retract, delete and purge notifications, and
// the configuration that turns them off.
func TestNotificationKinds(t *testing.T) {
	w := newWorld(t)
	w.online(jb, newClient(tune+"+notify"))
	w.ok(jb, publish(tune, "a", tuneItem("a"), "pubsub#max_items", "3"))
	w.ok(jb, publish(tune, "b", tuneItem("b")))
	w.events(jb)
	w.ok(jb, "<iq type='set' id='r'><pubsub xmlns='"+NS+"'><retract node='"+tune+"' notify='1'><item id='a'/></retract></pubsub></iq>")
	expect(t, "retract", w.events(jb), tune+"/-a")
	w.ok(jb, owner("set", "<configure node='"+tune+"'>"+configForm("pubsub#notify_retract", "false", "pubsub#deliver_payloads", "0", "pubsub#notification_type", "normal")+"</configure>"))
	w.ok(jb, "<iq type='set' id='r'><pubsub xmlns='"+NS+"'><retract node='"+tune+"'><item id='b'/></retract></pubsub></iq>")
	expect(t, "retract without notify_retract", w.events(jb))
	w.ok(jb, publish(tune, "c", tuneItem("c")))
	got := w.Sessions[jb].Take()
	if len(got) != 1 || got[0].Get("type") != "normal" {
		t.Fatalf("notification %v, want one of type normal", got)
	}
	expect(t, "without payloads", eventSummary(got[0]), tune+"/c")
	w.ok(jb, owner("set", "<purge node='"+tune+"'/>"))
	expect(t, "purge", w.events(jb), "purge "+tune)
	w.ok(jb, owner("set", "<delete node='"+tune+"'/>"))
	expect(t, "delete", w.events(jb), "delete "+tune)
	w.ok(jb, publish(tune, "q", tuneItem("quiet"), "pubsub#deliver_notifications", "false"))
	expect(t, "deliver_notifications off", w.events(jb))
}

// TestAccountDiscovery: the account's disco#info names PEP and each
// pubsub feature (XEP-0163 §6.1), and its nodes are discoverable.
func TestAccountDiscovery(t *testing.T) {
	fs := Features()
	for _, want := range []string{NS + "#publish-options", NS + "#access-whitelist", NS + "#auto-create", NS + "#last-published",
		NS + "#presence-notifications", NS + "#retrieve-items", NS + "#multi-items", nsBookmarks + "#compat", nsVCardConversion} {
		if !slices.Contains(fs, want) {
			t.Errorf("features lack %s", want)
		}
	}
	w := newWorld(t)
	w.befriend(juliet, romeo)
	w.Connect(jb)
	w.ok(jb, publish("pres", "1", tuneItem("p")))
	w.ok(jb, publish("wl", "1", tuneItem("w"), "pubsub#access_model", "whitelist", "pubsub#title", "Secret"))
	list := func(who string) []string {
		items, err := w.pep.Nodes(t.Context(), jidOf(juliet), jidOf(who))
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, it := range items {
			out = append(out, it.Node+":"+it.Name)
		}
		return out
	}
	expect(t, "owner's list", list(jb), "pres:", "wl:Secret")
	expect(t, "contact's list", list(ro), "pres:")
	expect(t, "stranger's list", list("paris@remote.example/x"))
	info, err := w.pep.NodeInfo(t.Context(), jidOf(juliet), jidOf(jb), "wl")
	if err != nil || len(info.Forms) != 1 || info.Forms[0].Value("pubsub#access_model") != "whitelist" || info.Forms[0].Value("pubsub#title") != "Secret" {
		t.Errorf("node info %+v, %v", info, err)
	}
	if _, err := w.pep.NodeInfo(t.Context(), jidOf(juliet), jidOf(ro), "wl"); err == nil || !strings.Contains(err.Error(), "closed-node") && !strings.Contains(err.Error(), "not-allowed") {
		t.Errorf("romeo's node info of wl: %v", err)
	}
}
