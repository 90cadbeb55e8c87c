package prosody

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"roost/portable"
	"roost/store"
	"roost/transfer"
	"roost/xmlstream"
)

// testdata/data is a Prosody 0.12 data directory made by a real Prosody
// (prosodyctl adduser, then slixmpp clients: contacts, a pending request,
// vCards, private XML, a block list, PEP nodes, an archived chat, offline
// messages), plus a store Prosody does not have (x_custom), its own
// bookkeeping (lastlog), a deleted account's archive (dave) and a
// group chat host.
var fixture = Dir{Path: "testdata/data"}

func TestHostsAndUsers(t *testing.T) {
	hosts, err := fixture.Hosts()
	if err != nil || !cmp.Equal(hosts, []string{"ex.test"}) {
		t.Errorf("hosts %v, %v", hosts, err)
	}
	users, err := fixture.Users("ex.test")
	if err != nil || !cmp.Equal(users, []string{"alice", "bob", "carol"}) {
		t.Errorf("users %v, %v", users, err)
	}
}

func describe(e portable.Entry) string {
	show := func(el *xmlstream.Element) string {
		if el == nil {
			return "<nil>"
		}
		return string(xmlstream.AppendElement(nil, el, ""))
	}
	switch v := e.(type) {
	case *portable.User:
		return fmt.Sprintf("user %s@%s password=%t", v.Name, v.Host, v.HasPassword)
	case *portable.Credential:
		return fmt.Sprintf("credential %s %d salt=%q keys=%d", v.Mechanism, v.Iterations, v.Salt, len(v.StoredKey))
	case *portable.RosterItem:
		return fmt.Sprintf("roster %s %q %s ask=%q %v", v.JID, v.Name, v.Subscription, v.Ask, v.Groups)
	case *portable.Request:
		return "request " + v.From
	case *portable.VCard:
		return "vcard " + show(v.Element)
	case *portable.Private:
		return "private " + show(v.Element)
	case *portable.Blocked:
		return "blocked " + v.JID
	case *portable.PEPNode:
		return fmt.Sprintf("node %s %s %v %v", v.Node, show(v.Config), v.Affiliations, v.Subscriptions)
	case *portable.PEPItem:
		return fmt.Sprintf("item %s %s %s %s", v.Node, v.ID, v.Published.Format(time.RFC3339), show(v.Payload))
	case *portable.Offline:
		return "offline " + show(v.Message)
	case *portable.Archived:
		return fmt.Sprintf("archived %s %s %s", v.ID, v.Stamp.Format(time.RFC3339), v.Message.ChildText(portable.NSClient, "body"))
	case *portable.Unknown:
		return fmt.Sprintf("unknown %s (%s)", v.Name.Local, v.Reason)
	case *portable.UserEnd:
		return "end"
	case *portable.Room:
		return fmt.Sprintf("room %s@%s %d affiliations", v.Name, v.Service, len(v.Affiliations))
	}
	return fmt.Sprintf("%T", e)
}

func TestRead(t *testing.T) {
	var got []string
	for _, u := range []string{"alice", "carol"} {
		err := fixture.Read("ex.test", u, func(e portable.Entry) error {
			got = append(got, describe(e))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	want := []string{
		"user alice@ex.test password=false",
		`credential SCRAM-SHA-1 10000 salt="b7481ec9-c922-4be3-bb81-50cc27b39345" keys=20`,
		`roster bob@ex.test "Bob" both ask="" [Family]`,
		"request carol@ex.test",
		`vcard <vCard xmlns="vcard-temp"><FN>Alice Liddell</FN><NICKNAME>Alice</NICKNAME></vCard>`,
		`private <notes xmlns="urn:example:notes"><text>buy milk</text></notes>`,
		"blocked spam@spam.example",
		`node urn:example:family-list <x xmlns="jabber:x:data" type="submit"><field var="FORM_TYPE"><value>http://jabber.org/protocol/pubsub#node_config</value></field><field var="pubsub#max_items"><value>10</value></field><field var="pubsub#access_model"><value>open</value></field></x> [] []`,
		`item urn:example:family-list e0 2026-12-06T16:17:22Z <entry xmlns="urn:example:family-list">item 0</entry>`,
		`item urn:example:family-list e1 2026-12-06T16:17:22Z <entry xmlns="urn:example:family-list">item 1</entry>`,
		`item urn:example:family-list e2 2026-12-06T16:17:22Z <entry xmlns="urn:example:family-list">item 2</entry>`,
		"node http://jabber.org/protocol/tune <nil> [] []",
		`item http://jabber.org/protocol/tune current 2026-12-06T16:17:22Z <tune xmlns="http://jabber.org/protocol/tune"><title>Yellow Submarine</title></tune>`,
		"archived QneXw7OMGaILTxhqHeMhD5lX 2026-12-06T16:17:22Z archived 0",
		"archived 6YqrRMRqva0dnEvyYuu63-zK 2026-12-06T16:17:22Z archived 1",
		"archived qY4H6Cnl7xy_cLasbS--UX_q 2026-12-06T16:17:22Z archived 2",
		"archived BcqBXbh_7A4yz3imj14__maa 2026-12-06T16:17:23Z dinner at 7",
		"unknown x_custom (a store roost has nothing for)",
		"end",
		"user carol@ex.test password=false",
		`credential SCRAM-SHA-1 10000 salt="02e7f2d5-2416-4d1b-a858-976a5f3639e4" keys=20`,
		`roster alice@ex.test "" none ask="subscribe" []`,
		"request bob@ex.test",
	}
	if len(got) < len(want) {
		t.Fatalf("got %d entries:\n%s", len(got), strings.Join(got, "\n"))
	}
	if diff := cmp.Diff(want, got[:len(want)]); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	// carol's offline messages carry the time they were stored.
	var offline []string
	for _, g := range got[len(want):] {
		if strings.HasPrefix(g, "offline ") {
			offline = append(offline, g)
		}
	}
	if len(offline) != 2 || !strings.Contains(offline[0], `<body>bring the cake</body>`) ||
		!strings.Contains(offline[0], `<delay xmlns="urn:xmpp:delay" from="ex.test" stamp="2026-12-06T16:17:23Z">Offline Storage</delay>`) {
		t.Errorf("offline: %v", offline)
	}
}

func TestPlainPassword(t *testing.T) {
	d := Dir{Path: t.TempDir()}
	acc := filepath.Join(d.Path, "example%2eorg", "accounts")
	if err := os.MkdirAll(acc, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(acc, "dora.dat"), []byte("return {\n\t[\"password\"] = \"s3cret\";\n};\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var got []portable.Entry
	if err := d.Source(nil)(func(e portable.Entry) error { got = append(got, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if u := got[0].(*portable.User); !u.HasPassword || u.Password != "s3cret" || len(got) != 2 {
		t.Errorf("entries %v", got)
	}
}

// exported imports src into a new store and exports it again, as the
// entries a test can compare: the import and export are roost's, so
// what differs is what the two roads read.
func exported(t *testing.T, src func(func(portable.Entry) error) error) []string {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "roost.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var reps []string
	_, err = transfer.Import(st, src, transfer.ImportOptions{Domains: []string{"ex.test"},
		Now:     func() time.Time { return time.Unix(1796573842, 0) },
		Rand:    rand.NewChaCha8([32]byte{1}),
		Account: func(r transfer.AccountReport) { reps = append(reps, r.String()) }})
	if err != nil {
		t.Fatal(err)
	}
	var doc bytes.Buffer
	if _, err := transfer.Export(st, transfer.NewWriterSink(&doc), transfer.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	var out []string
	err = portable.Decode(&doc, portable.Options{}, func(e portable.Entry) error {
		out = append(out, normalized(e))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return append(reps, out...)
}

// normalized describes an entry with its elements' attributes sorted:
// Prosody writes a stanza's attributes in its hash tables' order, which
// differs between its files and prosody-migrator's output.
func normalized(e portable.Entry) string {
	var sortAttrs func(el *xmlstream.Element)
	sortAttrs = func(el *xmlstream.Element) {
		if el == nil {
			return
		}
		slices.SortFunc(el.Attrs, func(a, b xmlstream.Attr) int {
			return strings.Compare(a.Name.Space+"\x00"+a.Name.Local, b.Name.Space+"\x00"+b.Name.Local)
		})
		for c := range el.Elements() {
			sortAttrs(c)
		}
	}
	switch v := e.(type) {
	case *portable.VCard:
		sortAttrs(v.Element)
	case *portable.Private:
		sortAttrs(v.Element)
	case *portable.Offline:
		sortAttrs(v.Message)
	case *portable.Archived:
		sortAttrs(v.Message)
		return describe(e) + " " + string(xmlstream.AppendElement(nil, v.Message, "")) + " " + v.With + "/" + v.Resource
	case *portable.PEPItem:
		sortAttrs(v.Payload)
	case *portable.Request:
		sortAttrs(v.Presence)
		return describe(e) + " " + string(xmlstream.AppendElement(nil, v.Presence, ""))
	}
	return describe(e)
}

// TestMigratorAgrees runs the real prosody-migrator on the fixture and
// checks that its road (its XEP-0227 export, supplemented) and the
// direct road give roost the same accounts.
func TestMigratorAgrees(t *testing.T) {
	migrator, err := FindMigrator()
	if err != nil {
		t.Skip("prosody-migrator is not installed (apt-get install prosody)")
	}
	out := t.TempDir()
	if err := fixture.Migrate(context.Background(), migrator, out, []string{"ex.test"}); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(out, "*.xml"))
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	// dave's leftover archive is not exported: the xep0227 driver only
	// adds to the files of accounts.
	if diff := cmp.Diff([]string{"alice@ex.test.xml", "bob@ex.test.xml", "carol@ex.test.xml"}, names); diff != "" {
		t.Errorf("migrator output (-want +got):\n%s", diff)
	}
	viaMigrator := exported(t, fixture.Supplement(transfer.DirSource(out, portable.Options{}), nil))
	direct := exported(t, fixture.Source(nil))
	if diff := cmp.Diff(direct, viaMigrator); diff != "" {
		t.Errorf("the two roads differ (-direct +migrator):\n%s", diff)
	}
	if len(direct) < 40 {
		t.Errorf("suspiciously little: %s", strings.Join(direct, "\n"))
	}
}

// TestSupplement: accounts from the migrator get their block lists,
// offline messages and unknown stores from the files; data of users
// without an account is left out and named.
func TestSupplement(t *testing.T) {
	src := func(fn func(portable.Entry) error) error {
		for _, u := range []string{"carol", "dave", "alice"} {
			for _, e := range []portable.Entry{&portable.User{Host: "ex.test", Name: u}, &portable.VCard{Element: xmlstream.New(portable.NSVCard, "vCard")}, &portable.UserEnd{}} {
				if err := fn(e); err != nil {
					return err
				}
			}
		}
		return nil
	}
	var got, skipped []string
	err := fixture.Supplement(src, func(j string) { skipped = append(skipped, j) })(func(e portable.Entry) error {
		d := describe(e)
		if i := strings.Index(d, "<body>"); i > 0 {
			d = d[:i]
		}
		got = append(got, d)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"user carol@ex.test password=false", `vcard <vCard xmlns="vcard-temp"/>`, "offline <message xmlns=\"jabber:client\" from=\"bob@ex.test/phone\" id=\"89b9fa32c2a244a9af1740385b012f99\" type=\"normal\" xml:lang=\"en\" to=\"carol@ex.test\">",
		"offline <message xmlns=\"jabber:client\" from=\"alice@ex.test/phone\" id=\"24dc70434f0a4ff2b19b3bd706b9d5b0\" type=\"chat\" xml:lang=\"en\" to=\"carol@ex.test\">", "end",
		"user alice@ex.test password=false", `vcard <vCard xmlns="vcard-temp"/>`, "blocked spam@spam.example", "unknown x_custom (a store roost has nothing for)", "end",
		"room family@conference.ex.test 3 affiliations"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	if !cmp.Equal(skipped, []string{"dave@ex.test"}) {
		t.Errorf("skipped %v", skipped)
	}
}

// TestRooms reads a room as Prosody 0.12's mod_muc freezes it (new
// storage format), and imports it without a note: every setting read is
// one roost takes.
func TestRooms(t *testing.T) {
	d := Dir{Path: "testdata/data"}
	var got []portable.Entry
	if err := d.Rooms(func(e portable.Entry) error { got = append(got, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("got %d rooms, want 1", len(got))
	}
	r := got[0].(*portable.Room)
	fields := map[string]string{}
	for f := range r.Config.Elements() {
		fields[f.Get("var")] = f.Child(portable.NSData, "value").Text()
	}
	r.Config = nil
	want := &portable.Room{Service: "conference.ex.test", Name: "family", Subject: "Sunday lunch",
		SubjectBy: "family@conference.ex.test/alice", SubjectAt: time.Unix(1714564800, 0).UTC(),
		Affiliations: []portable.RoomAffiliation{{JID: "alice@ex.test", Affiliation: "owner", Nick: "alice"},
			{JID: "bob@ex.test", Affiliation: "member"}, {JID: "spam@example.com", Affiliation: "outcast"}}}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("room (-want +got):\n%s", diff)
	}
	wantFields := map[string]string{"FORM_TYPE": "http://jabber.org/protocol/muc#roomconfig",
		"muc#roomconfig_roomname": "Family", "muc#roomconfig_roomdesc": "All of us", "muc#roomconfig_persistentroom": "true",
		"muc#roomconfig_membersonly": "true", "muc#roomconfig_whois": "anyone", "muc#maxhistoryfetch": "30",
		"muc#roomconfig_publicroom": "false", "muc#roomconfig_passwordprotectedroom": "true", "muc#roomconfig_roomsecret": "pie"}
	if diff := cmp.Diff(wantFields, fields); diff != "" {
		t.Errorf("configuration (-want +got):\n%s", diff)
	}

	st, err := store.Open(filepath.Join(t.TempDir(), "roost.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sum, err := transfer.Import(st, d.Rooms, transfer.ImportOptions{RoomServices: []string{"conference.ex.test"}})
	if err != nil || sum.Rooms != 1 || len(sum.Notes) != 0 {
		t.Fatalf("import: %v, %s, %q", err, sum, sum.Notes)
	}
	if _, found, err := st.Room("family@conference.ex.test"); !found || err != nil {
		t.Errorf("room stored: %v, %v", found, err)
	}
}

// TestRoomPresenceBroadcast: mod_muc's presence_broadcast set becomes the
// muc#roomconfig_presencebroadcast field, none left out; a room without
// it has no such field (the default).
func TestRoomPresenceBroadcast(t *testing.T) {
	tests := []struct {
		name string
		set  *Table
		want []string // nil: no field
	}{
		{"default", nil, nil},
		{"moderators", &Table{Map: map[any]any{"moderator": true, "none": true, "participant": false}}, []string{"moderator"}},
		{"nobody", &Table{Map: map[any]any{"none": true}}, []string{}},
		{"everyone", &Table{Map: map[any]any{"visitor": true, "participant": true, "moderator": true, "none": true}},
			[]string{"moderator", "participant", "visitor"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := &Table{Map: map[any]any{"name": "Family"}}
			if tt.set != nil {
				data.Map["presence_broadcast"] = tt.set
			}
			r := room("conference.ex.test", "family", &Table{Map: map[any]any{"_data": data}})
			var got []string
			for f := range r.Config.Elements() {
				if f.Get("var") != "muc#roomconfig_presencebroadcast" {
					continue
				}
				got = []string{}
				for v := range f.Elements() {
					got = append(got, v.Text())
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("presencebroadcast values (-want +got):\n%s", diff)
			}
		})
	}
}
