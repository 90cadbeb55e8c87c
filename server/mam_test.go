package server

import (
	"slices"
	"strings"
	"testing"

	"roost/archive"
	"roost/config"
	"roost/internal/client"
	"roost/module/carbons"
	"roost/xmlstream"
)

// chat is a chat message to to with body, and optional extra children.
func chat(to, body string, extra ...*xmlstream.Element) *xmlstream.Element {
	el := xmlstream.New(xmlstream.NSClient, "message").SetAttr("type", "chat").SetAttr("to", to)
	if body != "" {
		el.Append(xmlstream.New(xmlstream.NSClient, "body").AppendText(body))
	}
	return el.Append(extra...)
}

func send(t *testing.T, c *client.Conn, el *xmlstream.Element) {
	t.Helper()
	if err := c.Send(el); err != nil {
		t.Fatal(err)
	}
}

// available sends initial presence and enables carbons.
func available(t *testing.T, c *client.Conn) {
	t.Helper()
	send(t, c, xmlstream.New(xmlstream.NSClient, "presence"))
	if res := iq(t, c, "set", "", xmlstream.New(carbons.NS, "enable")); res.Get("type") != "result" {
		t.Fatalf("enable carbons: %s", res)
	}
}

func bodyOf(el *xmlstream.Element) string { return el.ChildText(xmlstream.NSClient, "body") }

// stanzaIDs lists the stanza-ids of el as by=id.
func stanzaIDs(el *xmlstream.Element) []string {
	var out []string
	for c := range el.Elements() {
		if c.Is(archive.NSStanzaID, "stanza-id") {
			out = append(out, c.Get("by")+"="+c.Get("id"))
		}
	}
	return out
}

// queryArchive runs a MAM query and returns the forwarded messages and
// their result ids, and the IQ result.
func queryArchive(t *testing.T, c *client.Conn, q archive.Query) (msgs []*xmlstream.Element, ids []string, res *xmlstream.Element) {
	t.Helper()
	q.QueryID = "q" + strings.Repeat("x", len(ids))
	el := xmlstream.New(xmlstream.NSClient, "iq").SetAttr("type", "set").SetAttr("id", "mamq").Append(q.Element())
	send(t, c, el)
	for {
		got := recvMatching(t, c, func(el *xmlstream.Element) bool {
			return el.Child(archive.NS, "result") != nil || (el.Is(xmlstream.NSClient, "iq") && el.Get("id") == "mamq")
		})
		if got.Is(xmlstream.NSClient, "iq") {
			return msgs, ids, got
		}
		r := got.Child(archive.NS, "result")
		if r.Get("queryid") != q.QueryID {
			t.Errorf("result for query %q, want %q", r.Get("queryid"), q.QueryID)
		}
		ids = append(ids, r.Get("id"))
		msgs = append(msgs, r.Child(archive.NSForward, "forwarded").Child(xmlstream.NSClient, "message"))
	}
}

// TestArchiveFlow follows messages between two local accounts through
// the archive: stanza-ids as delivered and as carbon-copied, what the
// recipient never sees, the sender's and the recipient's archives, and
// what is not archived.
func TestArchiveFlow(t *testing.T) {
	r := start(t, t.TempDir())
	addUsers(t, r, "alice", "bob")
	laptop, err := r.login(t, "alice@example.org/laptop", "alice-secret")
	if err != nil {
		t.Fatal(err)
	}
	defer laptop.Close()
	phone, err := r.login(t, "alice@example.org/phone", "alice-secret")
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	bob, err := r.login(t, "bob@example.org/pc", "bob-secret")
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	for _, c := range []*client.Conn{laptop, phone, bob} {
		available(t, c)
	}
	isBody := func(b string) func(*xmlstream.Element) bool {
		return func(el *xmlstream.Element) bool { return bodyOf(el) == b }
	}

	// bob → alice's laptop: a spoofed stanza-id by alice is replaced by
	// hers.
	send(t, bob, chat("alice@example.org/laptop", "hello alice",
		xmlstream.New(archive.NSStanzaID, "stanza-id").SetAttr("by", "alice@example.org").SetAttr("id", "forged")))
	got := recvMatching(t, laptop, isBody("hello alice"))
	inIDs := stanzaIDs(got)
	if len(inIDs) != 1 || !strings.HasPrefix(inIDs[0], "alice@example.org=") || strings.HasSuffix(inIDs[0], "=forged") {
		t.Fatalf("delivered to alice with stanza-ids %v, want one by alice, not the forged one", inIDs)
	}
	// The phone got the same id in its <received/> carbon (a message to
	// the bare JID would have reached it directly).
	carbon := recvMatching(t, phone, func(el *xmlstream.Element) bool { return el.Child(carbons.NS, "received") != nil })
	fwd := carbon.Child(carbons.NS, "received").Child("urn:xmpp:forward:0", "forwarded").Child(xmlstream.NSClient, "message")
	if ids := stanzaIDs(fwd); !slices.Equal(ids, inIDs) {
		t.Errorf("received carbon stanza-ids %v, want %v", ids, inIDs)
	}

	// alice (laptop) → bob: bob sees only his own archive's id; the
	// phone's <sent/> carbon has alice's.
	send(t, laptop, chat("bob@example.org", "hello bob"))
	atBob := recvMatching(t, bob, isBody("hello bob"))
	bobIDs := stanzaIDs(atBob)
	if len(bobIDs) != 1 || !strings.HasPrefix(bobIDs[0], "bob@example.org=") {
		t.Errorf("delivered to bob with stanza-ids %v, want only bob's", bobIDs)
	}
	sent := recvMatching(t, phone, func(el *xmlstream.Element) bool { return el.Child(carbons.NS, "sent") != nil })
	sentMsg := sent.Child(carbons.NS, "sent").Child("urn:xmpp:forward:0", "forwarded").Child(xmlstream.NSClient, "message")
	outIDs := stanzaIDs(sentMsg)
	if len(outIDs) != 1 || !strings.HasPrefix(outIDs[0], "alice@example.org=") {
		t.Errorf("sent carbon stanza-ids %v, want one by alice", outIDs)
	}

	// Not archived: chat states alone, no-store.
	send(t, bob, chat("alice@example.org", "", xmlstream.New("http://jabber.org/protocol/chatstates", "composing")))
	send(t, bob, chat("alice@example.org", "ephemeral", xmlstream.New("urn:xmpp:hints", "no-store")))
	// Archived: an OMEMO message without a body.
	send(t, bob, chat("alice@example.org", "", xmlstream.New("eu.siacs.conversations.axolotl", "encrypted")))
	recvMatching(t, laptop, func(el *xmlstream.Element) bool {
		return el.Child("eu.siacs.conversations.axolotl", "encrypted") != nil
	})

	// The phone reads alice's archive: both directions, ids as delivered.
	msgs, ids, res := queryArchive(t, phone, archive.Query{Max: 10})
	if res.Get("type") != "result" || res.Child(archive.NS, "fin").Get("complete") != "true" {
		t.Fatalf("query result %s", res)
	}
	var bodies []string
	for _, m := range msgs {
		bodies = append(bodies, bodyOf(m))
	}
	if !slices.Equal(bodies, []string{"hello alice", "hello bob", ""}) {
		t.Errorf("alice's archive holds %q, want hello alice, hello bob and the encrypted one", bodies)
	}
	if len(ids) == 3 && ("alice@example.org="+ids[0] != inIDs[0] || len(outIDs) == 1 && "alice@example.org="+ids[1] != outIDs[0]) {
		t.Errorf("archive ids %v, stanza-ids delivered %v and carbon-copied %v", ids, inIDs, outIDs)
	}
	for _, m := range msgs {
		if len(stanzaIDs(m)) != 0 && slices.ContainsFunc(stanzaIDs(m), func(s string) bool { return strings.HasPrefix(s, "alice@") }) {
			t.Errorf("archived copy carries alice's stanza-id: %s", m)
		}
		if m.Child("http://jabber.org/protocol/chatstates", "composing") != nil {
			t.Errorf("archived a chat state: %s", m)
		}
	}
	// The laptop sees the same history.
	_, laptopIDs, _ := queryArchive(t, laptop, archive.Query{Max: 10})
	if !slices.Equal(laptopIDs, ids) {
		t.Errorf("laptop's history %v, phone's %v", laptopIDs, ids)
	}
	// bob's archive has the one message each way.
	msgs, _, _ = queryArchive(t, bob, archive.Query{Max: 10, Last: true})
	bodies = nil
	for _, m := range msgs {
		bodies = append(bodies, bodyOf(m))
	}
	if !slices.Equal(bodies, []string{"hello alice", "hello bob", ""}) {
		t.Errorf("bob's archive holds %q", bodies)
	}

	// Another account's archive is not alice's to read.
	el := xmlstream.New(xmlstream.NSClient, "iq").SetAttr("type", "set").SetAttr("id", "peek").SetAttr("to", "bob@example.org").
		Append(xmlstream.New(archive.NS, "query"))
	send(t, laptop, el)
	peek := recvMatching(t, laptop, func(el *xmlstream.Element) bool { return el.Get("id") == "peek" })
	if peek.Get("type") != "error" || peek.Child(xmlstream.NSClient, "error").Child("urn:ietf:params:xml:ns:xmpp-stanzas", "forbidden") == nil {
		t.Errorf("query of bob's archive by alice: %s, want forbidden", peek)
	}
}

// TestArchivePrefsAndOffline: preferences stop archiving; a message for
// an account that is offline is archived, stored offline stamped, and
// delivered at login with the id the archive has.
func TestArchivePrefsAndOffline(t *testing.T) {
	r := start(t, t.TempDir())
	addUsers(t, r, "alice", "bob")
	bob, err := r.login(t, "bob@example.org/pc", "bob-secret")
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	send(t, bob, chat("alice@example.org", "while you were out"))

	alice, err := r.login(t, "alice@example.org/phone", "alice-secret")
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	send(t, alice, xmlstream.New(xmlstream.NSClient, "presence"))
	off := recvMatching(t, alice, func(el *xmlstream.Element) bool { return bodyOf(el) == "while you were out" })
	offIDs := stanzaIDs(off)
	_, ids, _ := queryArchive(t, alice, archive.Query{Max: 10})
	if len(ids) != 1 || len(offIDs) != 1 || offIDs[0] != "alice@example.org="+ids[0] {
		t.Errorf("offline message stanza-ids %v, archive ids %v", offIDs, ids)
	}

	// Preferences: never archive bob; the default stays.
	prefs := xmlstream.New(archive.NS, "prefs").SetAttr("default", "always").
		Append(xmlstream.New(archive.NS, "never").Append(xmlstream.New(archive.NS, "jid").AppendText("bob@example.org/pc")))
	res := iq(t, alice, "set", "", prefs)
	if res.Get("type") != "result" || !strings.Contains(res.String(), "<never><jid>bob@example.org</jid></never>") {
		t.Fatalf("set prefs: %s", res)
	}
	send(t, bob, chat("alice@example.org", "not for the record"))
	recvMatching(t, alice, func(el *xmlstream.Element) bool { return bodyOf(el) == "not for the record" })
	_, ids2, _ := queryArchive(t, alice, archive.Query{Max: 10})
	if !slices.Equal(ids2, ids) {
		t.Errorf("after never for bob: archive ids %v, want still %v", ids2, ids)
	}
	if got := iq(t, alice, "get", "", xmlstream.New(archive.NS, "prefs")); !strings.Contains(got.String(), `default="always"`) {
		t.Errorf("get prefs: %s", got)
	}
	// Metadata names the one message.
	md := iq(t, alice, "get", "", xmlstream.New(archive.NS, "metadata")).Child(archive.NS, "metadata")
	if md.Child(archive.NS, "start").Get("id") != ids[0] || md.Child(archive.NS, "end").Get("id") != ids[0] {
		t.Errorf("metadata %s, want start and end %s", md, ids[0])
	}
	// Bad input: an unknown id is item-not-found, an unknown field
	// feature-not-implemented.
	for _, tc := range []struct {
		q    string
		cond string
	}{
		{`<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><after>AAAAAAAAAAAAAAAA</after></set></query>`, "item-not-found"},
		{`<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:xmpp:mam:2</value></field><field var='fulltext'><value>x</value></field></x></query>`, "feature-not-implemented"},
	} {
		q, err := xmlstream.Parse([]byte(tc.q), xmlstream.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		res := iq(t, alice, "set", "", q)
		if res.Get("type") != "error" || res.Child(xmlstream.NSClient, "error").Child("urn:ietf:params:xml:ns:xmpp-stanzas", tc.cond) == nil {
			t.Errorf("%s: %s, want %s", tc.q, res, tc.cond)
		}
	}
}

// TestArchiveRetentionJobs: each archive's owner runs its own retention
// job, accounts' (mam) and rooms' (muc), as configured; an archive kept
// forever and without a size cap has none.
func TestArchiveRetentionJobs(t *testing.T) {
	tests := []struct {
		name    string
		mamDays int
		mamSize config.Size
		mucDays int
		mucOn   bool
		want    []string
	}{
		{"defaults", 365, 100 << 20, 365, true, []string{"mam/retention", "muc/retention"}},
		{"rooms kept forever", 365, 100 << 20, 0, true, []string{"mam/retention"}},
		{"accounts capped by size only", 0, 1 << 20, 30, true, []string{"mam/retention", "muc/retention"}},
		{"everything kept", 0, 0, 0, true, nil},
		{"no group chat", 365, 0, 365, false, []string{"mam/retention"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := startWith(t, t.TempDir(), func(o *Options) {
				o.Config.MAM.KeepDays, o.Config.MAM.MaxAccountSize = tt.mamDays, tt.mamSize
				o.Config.MUC.KeepDays, o.Config.MUC.Enabled = tt.mucDays, tt.mucOn
			})
			var got []string
			for _, j := range r.srv.jobs {
				if strings.HasSuffix(j.name, "/retention") {
					got = append(got, j.name)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("retention jobs %q, want %q", got, tt.want)
			}
		})
	}
}
