package pep

import (
	"slices"
	"strings"
	"testing"

	"roost/form"
	"roost/stanza"
)

const (
	juliet = "juliet@example.com"
	jb     = "juliet@example.com/balcony"
	romeo  = "romeo@example.com"
	ro     = "romeo@example.com/orchard"
	nurse  = "nurse@example.com"
	nk     = "nurse@example.com/kitchen"
	benv   = "benvolio@example.com"
	bs     = "benvolio@example.com/street"
	tune   = "http://jabber.org/protocol/tune"
)

func tuneItem(title string) string {
	return "<tune xmlns='" + tune + "'><title>" + title + "</title></tune>"
}

// TestPublishAndRetrieve: publish with and without ids, auto-create,
// items by id, all and newest, and retract (XEP-0060 §6.5, §7.1, §7.2).
func TestPublishAndRetrieve(t *testing.T) {
	w := newWorld(t)
	w.Connect(jb)
	res := w.ok(jb, publish(tune, "", tuneItem("one")))
	gen := res.Child(NS, "publish").Child(NS, "item").Get("id")
	if len(gen) != 32 {
		t.Fatalf("server-generated id %q, want 128 random bits in hex", gen)
	}
	// The node was created with the defaults: one item kept.
	w.ok(jb, publish(tune, "two", tuneItem("two")))
	if got := itemIDs(w.ok(jb, items("", tune, "/>"))); !slices.Equal(got, []string{"two=two"}) {
		t.Errorf("items after two publishes with max_items 1: %q", got)
	}
	w.ok(jb, owner("set", "<configure node='"+tune+"'>"+configForm("pubsub#max_items", "3")+"</configure>"))
	for _, id := range []string{"a", "b", "c", "a"} {
		if got := w.ok(jb, publish(tune, id, tuneItem(id))).Child(NS, "publish").Child(NS, "item").Get("id"); got != id {
			t.Errorf("publish returned id %q, want %q", got, id)
		}
	}
	tests := []struct {
		name, extra string
		want        []string
	}{
		{"all, oldest first; a republished id is the newest", "/>", []string{"b=b", "c=c", "a=a"}},
		{"max_items 2 gives the newest two", " max_items='2'/>", []string{"c=c", "a=a"}},
		{"by id", "><item id='c'/><item id='nope'/><item id='b'/></items>", []string{"c=c", "b=b"}},
	}
	for _, tc := range tests {
		if got := itemIDs(w.ok(jb, items("", tune, tc.extra))); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	w.ok(jb, "<iq type='set' id='r'><pubsub xmlns='"+NS+"'><retract node='"+tune+"' notify='true'><item id='c'/></retract></pubsub></iq>")
	if got := itemIDs(w.ok(jb, items("", tune, "/>"))); !slices.Equal(got, []string{"b=b", "a=a"}) {
		t.Errorf("after retract: %q", got)
	}
	w.fails(jb, "<iq type='set' id='r'><pubsub xmlns='"+NS+"'><retract node='"+tune+"'><item id='c'/></retract></pubsub></iq>", stanza.ItemNotFound, "")
}

func TestPubsubErrors(t *testing.T) {
	w := newWorld(t)
	w.Connect(jb)
	w.Connect(ro)
	w.ok(jb, publish(tune, "x", tuneItem("x")))
	big := "<data xmlns='urn:big'>" + strings.Repeat("y", 700) + "</data>"
	tests := []struct {
		name, from, xml string
		cond            stanza.Condition
		app             string
	}{
		{"publish to someone else", ro, strings.Replace(publish(tune, "", tuneItem("r")), "id='pub'", "id='pub' to='juliet@example.com'", 1), stanza.Forbidden, ""},
		{"publish without node", jb, "<iq type='set' id='p'><pubsub xmlns='" + NS + "'><publish><item>" + tuneItem("r") + "</item></publish></pubsub></iq>", stanza.BadRequest, "nodeid-required"},
		{"publish without item", jb, "<iq type='set' id='p'><pubsub xmlns='" + NS + "'><publish node='n'/></pubsub></iq>", stanza.BadRequest, "item-required"},
		{"publish two items", jb, "<iq type='set' id='p'><pubsub xmlns='" + NS + "'><publish node='n'><item>" + tuneItem("a") + "</item><item>" + tuneItem("b") + "</item></publish></pubsub></iq>", stanza.BadRequest, "invalid-payload"},
		{"item without payload", jb, publish("n", "i", ""), stanza.BadRequest, "payload-required"},
		{"item with two payloads", jb, publish("n", "i", tuneItem("a")+tuneItem("b")), stanza.BadRequest, "invalid-payload"},
		{"payload too big", jb, publish("n", "i", big), stanza.NotAcceptable, "payload-too-big"},
		{"items of a missing node", jb, items("", "missing", "/>"), stanza.ItemNotFound, ""},
		{"items without node", jb, "<iq type='get' id='i'><pubsub xmlns='" + NS + "'><items/></pubsub></iq>", stanza.BadRequest, "nodeid-required"},
		{"bad max_items", jb, items("", tune, " max_items='0'/>"), stanza.BadRequest, ""},
		{"retract without item", jb, "<iq type='set' id='r'><pubsub xmlns='" + NS + "'><retract node='" + tune + "'/></pubsub></iq>", stanza.BadRequest, "item-required"},
		{"retract by someone else", ro, "<iq type='set' id='r' to='juliet@example.com'><pubsub xmlns='" + NS + "'><retract node='" + tune + "'><item id='x'/></retract></pubsub></iq>", stanza.Forbidden, ""},
		{"configure someone else's", ro, strings.Replace(owner("get", "<configure node='"+tune+"'/>"), "id='own'", "id='own' to='juliet@example.com'", 1), stanza.Forbidden, ""},
		{"create existing", jb, "<iq type='set' id='c'><pubsub xmlns='" + NS + "'><create node='" + tune + "'/></pubsub></iq>", stanza.Conflict, ""},
		{"delete missing", jb, owner("set", "<delete node='missing'/>"), stanza.ItemNotFound, ""},
		{"subscription options", jb, "<iq type='get' id='o'><pubsub xmlns='" + NS + "'><options node='" + tune + "' jid='" + jb + "'/></pubsub></iq>", stanza.FeatureNotImplemented, "unsupported"},
		{"unknown action", jb, "<iq type='get' id='o'><pubsub xmlns='" + NS + "'><frobnicate/></pubsub></iq>", stanza.FeatureNotImplemented, ""},
		{"empty pubsub", jb, "<iq type='get' id='o'><pubsub xmlns='" + NS + "'/></iq>", stanza.BadRequest, ""},
		{"the domain has no service", jb, "<iq type='get' id='o' to='example.com'><pubsub xmlns='" + NS + "'><items node='x'/></pubsub></iq>", stanza.ServiceUnavailable, ""},
		{"a bad form in publish-options", jb, strings.Replace(publish(tune, "z", tuneItem("z"), "pubsub#persist_items", "maybe"), "</publish-options>", "</publish-options>", 1), stanza.BadRequest, ""},
	}
	for _, tc := range tests {
		if text := w.fails(tc.from, tc.xml, tc.cond, tc.app); text == "" {
			t.Errorf("%s: no text explains %s", tc.name, tc.cond)
		}
	}
}

// TestPublishOptions: XEP-0060 §7.1.5. On a new node they configure it;
// on an existing one they are preconditions.
func TestPublishOptions(t *testing.T) {
	w := newWorld(t)
	w.Connect(jb)
	const dl = "eu.siacs.conversations.axolotl.devicelist"
	w.ok(jb, publish(dl, "current", "<list xmlns='eu.siacs.conversations.axolotl'/>", "pubsub#access_model", "open", "pubsub#persist_items", "true"))
	cfg := w.ok(jb, owner("get", "<configure node='"+dl+"'/>"))
	f, err := form.Parse(cfg.Child(NSOwner, "configure").Child(form.NS, "x"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Value("pubsub#access_model") != "open" || f.Value("pubsub#max_items") != "1" || f.Value("pubsub#send_last_published_item") != "on_sub_and_presence" {
		t.Errorf("configuration of the new node: %s", cfg)
	}
	tests := []struct {
		name string
		opts []string
		cond stanza.Condition
		app  string
	}{
		{"same values", []string{"pubsub#access_model", "open", "pubsub#persist_items", "1"}, "", ""},
		{"unknown fields are ignored", []string{"pubsub#access_model", "open", "pubsub#frobnicate", "x"}, "", ""},
		{"max_items compared as a number", []string{"pubsub#max_items", "1"}, "", ""},
		{"other access model", []string{"pubsub#access_model", "presence"}, stanza.Conflict, "precondition-not-met"},
		{"other max_items", []string{"pubsub#max_items", "max"}, stanza.Conflict, "precondition-not-met"},
		{"unsupported access model", []string{"pubsub#access_model", "authorize"}, stanza.NotAcceptable, ""},
		{"malformed boolean", []string{"pubsub#persist_items", "maybe"}, stanza.BadRequest, ""},
	}
	for _, tc := range tests {
		xml := publish(dl, "current", "<list xmlns='eu.siacs.conversations.axolotl'/>", tc.opts...)
		if tc.cond == "" {
			w.ok(jb, xml)
			continue
		}
		text := w.fails(jb, xml, tc.cond, tc.app)
		if tc.app == "precondition-not-met" && !strings.Contains(text, tc.opts[0]) {
			t.Errorf("%s: the text %q does not name the field", tc.name, text)
		}
	}
	// A new node with options the server refuses is not created.
	w.fails(jb, publish("fresh", "", tuneItem("x"), "pubsub#max_items", "500"), stanza.NotAcceptable, "")
	w.fails(jb, items("", "fresh", "/>"), stanza.ItemNotFound, "")
}

// TestAccessModels: who may retrieve items under each model (XEP-0060
// §4.5) with the errors of §6.5.9.
func TestAccessModels(t *testing.T) {
	w := newWorld(t)
	w.befriend(juliet, romeo) // both
	// nurse is subscribed to juliet's presence only (juliet: from).
	w.Connect(nk)
	w.Connect(jb)
	w.Send(nk, `<presence to='juliet@example.com' type='subscribe'/>`)
	w.Send(jb, `<presence to='nurse@example.com' type='subscribed'/>`)
	w.ok(jb, `<iq type='set' id='g'><query xmlns='jabber:iq:roster'><item jid='romeo@example.com'><group>Friends</group></item></query></iq>`)
	w.ok(jb, `<iq type='set' id='g'><query xmlns='jabber:iq:roster'><item jid='nurse@example.com'><group>Family</group></item></query></iq>`)
	w.Connect(ro)
	w.Connect(bs)
	for _, n := range []struct{ node, access string }{{"open", "open"}, {"presence", "presence"}, {"roster", "roster"}, {"whitelist", "whitelist"}} {
		opts := []string{"pubsub#access_model", n.access}
		if n.access == "roster" {
			opts = append(opts, "pubsub#roster_groups_allowed", "Friends")
		}
		w.ok(jb, publish(n.node, "1", tuneItem(n.node), opts...))
	}
	w.ok(jb, owner("set", "<affiliations node='whitelist'><affiliation jid='benvolio@example.com' affiliation='member'/></affiliations>"))
	w.ok(jb, owner("set", "<affiliations node='open'><affiliation jid='benvolio@example.com' affiliation='outcast'/></affiliations>"))
	tests := []struct {
		who, node string
		cond      stanza.Condition
		app       string
	}{
		{ro, "open", "", ""},
		{ro, "presence", "", ""},
		{ro, "roster", "", ""},
		{ro, "whitelist", stanza.NotAllowed, "closed-node"},
		{nk, "presence", "", ""},
		{nk, "roster", stanza.NotAuthorized, "not-in-roster-group"},
		{bs, "open", stanza.Forbidden, ""}, // outcast
		{bs, "presence", stanza.NotAuthorized, "presence-subscription-required"},
		{bs, "whitelist", "", ""}, // member
		{jb, "whitelist", "", ""},
	}
	for _, tc := range tests {
		xml := items(juliet, tc.node, "/>")
		if tc.cond != "" {
			w.fails(tc.who, xml, tc.cond, tc.app)
		} else if got := itemIDs(w.ok(tc.who, xml)); !slices.Equal(got, []string{"1=" + tc.node}) {
			t.Errorf("%s %s: items %q", tc.who, tc.node, got)
		}
	}
	// A remote entity: open only.
	w.Inbound(`<iq type='get' id='rem' from='paris@remote.example/x' to='juliet@example.com'><pubsub xmlns='` + NS + `'><items node='open'/></pubsub></iq>`)
	w.Inbound(`<iq type='get' id='rem2' from='paris@remote.example/x' to='juliet@example.com'><pubsub xmlns='` + NS + `'><items node='presence'/></pubsub></iq>`)
	got := map[string]string{}
	for _, st := range w.takeRemote() {
		got[st.ID] = st.Type
	}
	if got["rem"] != "result" || got["rem2"] != "error" {
		t.Errorf("remote answers %v, want rem result and rem2 error", got)
	}
}

// TestConfigure: XEP-0060 §8.2 and §8.3.
func TestConfigure(t *testing.T) {
	w := newWorld(t)
	w.Connect(jb)
	for _, id := range []string{"1", "2", "3"} {
		w.ok(jb, publish("n", id, tuneItem(id), "pubsub#max_items", "max"))
	}
	if got := itemIDs(w.ok(jb, items("", "n", "/>"))); len(got) != 3 {
		t.Fatalf("items %q with max_items max", got)
	}
	def := w.ok(jb, owner("get", "<default/>"))
	f, err := form.Parse(def.Child(NSOwner, "default").Child(form.NS, "x"))
	if err != nil || f.Type != form.TypeForm || f.FormType() != FormNodeConfig || f.Value("pubsub#access_model") != "presence" {
		t.Fatalf("default configuration: %s (%v)", def, err)
	}
	w.ok(jb, owner("set", "<configure node='n'>"+configForm("pubsub#max_items", "2", "pubsub#title", "Tunes")+"</configure>"))
	if got := itemIDs(w.ok(jb, items("", "n", "/>"))); !slices.Equal(got, []string{"2=2", "3=3"}) {
		t.Errorf("after lowering max_items: %q", got)
	}
	// Cancel changes nothing.
	w.ok(jb, owner("set", "<configure node='n'><x xmlns='jabber:x:data' type='cancel'/></configure>"))
	w.fails(jb, owner("set", "<configure node='n'/>"), stanza.BadRequest, "")
	w.fails(jb, owner("set", "<configure node='n'>"+configForm("pubsub#max_items", "6")+"</configure>"), stanza.NotAcceptable, "")
	w.fails(jb, owner("set", "<configure node='n'>"+configForm("pubsub#access_model", "roster")+"</configure>"), stanza.NotAcceptable, "")
	w.fails(jb, owner("set", "<configure node='missing'>"+configForm("pubsub#title", "x")+"</configure>"), stanza.ItemNotFound, "")
	w.ok(jb, owner("set", "<configure node='n'>"+configForm("pubsub#persist_items", "0")+"</configure>"))
	w.fails(jb, items("", "n", "/>"), stanza.FeatureNotImplemented, "unsupported")
	cfg := w.ok(jb, owner("get", "<configure node='n'/>"))
	f, _ = form.Parse(cfg.Child(NSOwner, "configure").Child(form.NS, "x"))
	if f.Value("pubsub#title") != "Tunes" || f.Value("pubsub#persist_items") != "0" || f.Value("pubsub#max_items") != "2" {
		t.Errorf("configuration: %s", cfg)
	}
}

// TestCreateDeletePurgeLimits: node creation (§8.1), deletion (§8.4),
// purge (§8.5) and the per-account node limit.
func TestCreateDeletePurgeLimits(t *testing.T) {
	w := newWorld(t)
	w.Connect(jb)
	w.ok(jb, "<iq type='set' id='c'><pubsub xmlns='"+NS+"'><create node='made'/><configure>"+configForm("pubsub#access_model", "open")+"</configure></pubsub></iq>")
	inst := w.ok(jb, "<iq type='set' id='c'><pubsub xmlns='"+NS+"'><create/></pubsub></iq>")
	if inst.Child(NS, "create").Get("node") == "" {
		t.Errorf("instant node: %s", inst)
	}
	w.ok(jb, publish("made", "1", tuneItem("1")))
	w.ok(jb, owner("set", "<purge node='made'/>"))
	if got := itemIDs(w.ok(jb, items("", "made", "/>"))); len(got) != 0 {
		t.Errorf("items after purge: %q", got)
	}
	for i := range testLimits.MaxNodes - 2 {
		w.ok(jb, publish("n"+string(rune('a'+i)), "", tuneItem("x")))
	}
	text := w.fails(jb, publish("one-too-many", "", tuneItem("x")), stanza.PolicyViolation, "max-nodes-exceeded")
	if !strings.Contains(text, "6 nodes") {
		t.Errorf("limit text %q does not say the limit", text)
	}
	w.fails(jb, "<iq type='set' id='c'><pubsub xmlns='"+NS+"'><create node='also-too-many'/></pubsub></iq>", stanza.PolicyViolation, "max-nodes-exceeded")
	w.ok(jb, owner("set", "<delete node='made'/>"))
	w.ok(jb, publish("now-fits", "", tuneItem("x")))
	w.fails(jb, items("", "made", "/>"), stanza.ItemNotFound, "")
}

// TestAffiliationsAndSubscriptions: the owner's lists (§8.8, §8.9), the
// entity's (§5.6, §5.7), and explicit subscriptions (§6.1, §6.2).
func TestAffiliationsAndSubscriptions(t *testing.T) {
	w := newWorld(t)
	w.Connect(jb)
	w.Connect(bs)
	w.ok(jb, publish("wl", "1", tuneItem("wl"), "pubsub#access_model", "whitelist"))
	w.fails(bs, "<iq type='set' id='s' to='juliet@example.com'><pubsub xmlns='"+NS+"'><subscribe node='wl' jid='"+bs+"'/></pubsub></iq>", stanza.NotAllowed, "closed-node")
	w.ok(jb, owner("set", "<affiliations node='wl'><affiliation jid='benvolio@example.com/street' affiliation='member'/></affiliations>"))
	affs := w.ok(jb, owner("get", "<affiliations node='wl'/>"))
	if got := affs.String(); !strings.Contains(got, `jid="juliet@example.com" affiliation="owner"`) || !strings.Contains(got, `jid="benvolio@example.com" affiliation="member"`) {
		t.Errorf("affiliations: %s", got)
	}
	w.fails(bs, "<iq type='set' id='s' to='juliet@example.com'><pubsub xmlns='"+NS+"'><subscribe node='wl' jid='romeo@example.com'/></pubsub></iq>", stanza.BadRequest, "invalid-jid")
	// Subscribing answers, then sends the last item.
	w.Send(bs, "<iq type='set' id='s' to='juliet@example.com'><pubsub xmlns='"+NS+"'><subscribe node='wl' jid='"+bs+"'/></pubsub></iq>")
	got := w.Sessions[bs].Take()
	if len(got) != 2 || got[0].Get("type") != "result" || got[0].FirstChild().Child(NS, "subscription").Get("subscription") != "subscribed" {
		t.Fatalf("subscribe got %v", got)
	}
	expect(t, "last item on subscription", eventSummary(got[1]), "wl/1[tune] (delayed)")
	w.ok(jb, publish("wl", "2", tuneItem("two")))
	expect(t, "notification to the explicit subscriber", w.events(bs), "wl/2[tune]")
	mine := w.ok(bs, "<iq type='get' id='s' to='juliet@example.com'><pubsub xmlns='"+NS+"'><subscriptions/></pubsub></iq>")
	if !strings.Contains(mine.String(), `node="wl" jid="`+bs+`" subscription="subscribed"`) {
		t.Errorf("entity subscriptions: %s", mine)
	}
	ownAffs := w.ok(bs, "<iq type='get' id='a' to='juliet@example.com'><pubsub xmlns='"+NS+"'><affiliations/></pubsub></iq>")
	if !strings.Contains(ownAffs.String(), `node="wl" affiliation="member"`) {
		t.Errorf("entity affiliations: %s", ownAffs)
	}
	subs := w.ok(jb, owner("get", "<subscriptions node='wl'/>"))
	if !strings.Contains(subs.String(), `jid="`+bs+`" subscription="subscribed"`) {
		t.Errorf("owner's subscriptions: %s", subs)
	}
	// Banning removes the subscription.
	w.ok(jb, owner("set", "<affiliations node='wl'><affiliation jid='benvolio@example.com' affiliation='outcast'/></affiliations>"))
	w.ok(jb, publish("wl", "3", tuneItem("three")))
	expect(t, "notification after the ban", w.events(bs))
	w.fails(bs, "<iq type='set' id='u' to='juliet@example.com'><pubsub xmlns='"+NS+"'><unsubscribe node='wl' jid='"+bs+"'/></pubsub></iq>", stanza.UnexpectedRequest, "not-subscribed")
	w.fails(jb, owner("set", "<affiliations node='wl'><affiliation jid='romeo@example.com' affiliation='owner'/></affiliations>"), stanza.NotAcceptable, "")
	// The owner manages subscriptions, within the limit.
	w.ok(jb, owner("set", "<subscriptions node='wl'><subscription jid='a@x.example' subscription='subscribed'/><subscription jid='b@x.example' subscription='subscribed'/><subscription jid='c@x.example' subscription='subscribed'/></subscriptions>"))
	w.fails(jb, owner("set", "<subscriptions node='wl'><subscription jid='d@x.example' subscription='subscribed'/></subscriptions>"), stanza.PolicyViolation, "too-many-subscriptions")
	w.ok(jb, owner("set", "<subscriptions node='wl'><subscription jid='a@x.example' subscription='none'/></subscriptions>"))
	subs = w.ok(jb, owner("get", "<subscriptions node='wl'/>"))
	if n := strings.Count(subs.String(), "<subscription "); n != 2 {
		t.Errorf("after removing one of three: %s", subs)
	}
}
