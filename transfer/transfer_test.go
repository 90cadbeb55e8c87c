package transfer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"roost/archive"
	"roost/im"
	"roost/module/muc"
	"roost/module/pep"
	"roost/portable"
	"roost/store"
	"roost/xmlstream"
)

var t0 = time.Date(2025, 6, 1, 10, 0, 0, 123456000, time.UTC)

func openStore(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "roost.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	})
	return st
}

// canonical returns s as the features store XML: parsed and written by
// xmlstream.
func canonical(t testing.TB, s string) []byte {
	t.Helper()
	el, err := xmlstream.Parse([]byte(s), xmlstream.Limits{})
	if err != nil {
		t.Fatalf("parse %s: %v", s, err)
	}
	return xmlstream.AppendElement(nil, el, "")
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func item(t testing.TB, it im.StoredItem) func([]byte) ([]byte, error) {
	b, err := it.Encode()
	must(t, err)
	return func([]byte) ([]byte, error) { return b, nil }
}

// fill gives user everything an account can have, written as the
// features write it.
func fill(t testing.TB, st *store.Store, user string, archived int) {
	t.Helper()
	must(t, st.CreateAccount(store.Account{Username: user, Created: t0, SCRAM: map[string]store.SCRAMKeys{
		"SHA-1":   {Salt: []byte("salt1"), Iterations: 4096, StoredKey: bytes.Repeat([]byte{1}, 20), ServerKey: bytes.Repeat([]byte{2}, 20)},
		"SHA-256": {Salt: []byte("salt2"), Iterations: 10000, StoredKey: bytes.Repeat([]byte{3}, 32), ServerKey: bytes.Repeat([]byte{4}, 32)},
	}}))
	req := canonical(t, `<presence xmlns="jabber:client" from="dave@example.net" to="`+user+`" type="subscribe"><status>it's me</status></presence>`)
	for c, it := range map[string]im.StoredItem{
		"bob@example.org":     {Name: "Bob", Groups: []string{"Family", "Chess"}, Subscription: "both", InRoster: true},
		"carol@example.org":   {Subscription: "to", Ask: false, Approved: true, InRoster: true},
		"dave@example.net":    {Subscription: "none", PendingIn: true, Request: req},
		"erin@example.net":    {Subscription: "none", Ask: true, InRoster: true, PendingIn: true, Request: canonical(t, `<presence xmlns="jabber:client" from="erin@example.net" to="`+user+`" type="subscribe"/>`)},
		"stranger@example.nl": {Subscription: "from"},
	} {
		_, _, err := st.UpdateRosterItem(user, c, item(t, it))
		must(t, err)
	}
	must(t, st.PutVCard(user, canonical(t, `<vCard xmlns="vcard-temp"><FN>`+user+`</FN><PHOTO><TYPE>image/png</TYPE><BINVAL>iVBORw0KGgo=</BINVAL></PHOTO></vCard>`)))
	must(t, st.PutPrivateXML(user, "{urn:example:notes}notes", canonical(t, `<notes xmlns="urn:example:notes"><text>milk &amp; eggs</text></notes>`)))
	must(t, st.PutPrivateXML(user, "{storage:bookmarks}storage", canonical(t, `<storage xmlns="storage:bookmarks"><url name="x" url="https://example.org/"/></storage>`)))
	must(t, st.SetLastActivity(user, t0, "gone fishing"))
	must(t, st.PutArchivePrefs(user, canonical(t, `<prefs xmlns="urn:xmpp:mam:2" default="roster"><always><jid>bob@example.org</jid></always></prefs>`)))
	must(t, st.Block(user, "spam@example.com", "example.biz", "troll@example.com/bot"))
	rec, _, err := pep.NodeRecord(nil, map[string]string{"bob@example.org": "member"}, []string{"bob@example.org"})
	must(t, err)
	for i := range 3 {
		_, err := st.PublishPEPItem(user, "urn:example:list", fmt.Sprintf("i%d", i), t0.Add(time.Duration(i)*time.Second),
			canonical(t, fmt.Sprintf(`<entry xmlns="urn:example:list">%d</entry>`, i)), func([]byte, bool, int) ([]byte, int, error) { return rec, 10, nil })
		must(t, err)
	}
	plain, _, err := pep.NodeRecord(nil, nil, nil)
	must(t, err)
	_, err = st.PublishPEPItem(user, "http://jabber.org/protocol/tune", "current", t0, nil, func([]byte, bool, int) ([]byte, int, error) { return plain, 1, nil })
	must(t, err)
	for i := range 2 {
		_, err := st.AppendOffline(user, canonical(t, fmt.Sprintf(`<message xmlns="jabber:client" from="bob@example.org/phone" to="%s" type="chat"><body>offline %d</body></message>`, user, i)),
			t0.Add(time.Duration(i)*time.Millisecond), 100)
		must(t, err)
	}
	for i := range archived {
		msg := fmt.Sprintf(`<message xmlns="jabber:client" from="bob@example.org/phone" to="%s" type="chat"><body>archived %d</body></message>`, user, i)
		with, res := "bob@example.org", "phone"
		if i%3 == 2 {
			msg = fmt.Sprintf(`<message xmlns="jabber:client" to="carol@example.org" type="chat"><body>sent %d</body></message>`, i)
			with, res = "carol@example.org", ""
		}
		_, err := st.AppendArchive(store.ArchiveRecord{Owner: user, Account: true, With: with, Resource: res, Stanza: canonical(t, msg)},
			t0.Add(time.Duration(i)*time.Second))
		must(t, err)
	}
	must(t, st.SyncArchive(context.Background()))
}

func diff(t testing.TB, a, b *store.Store) {
	t.Helper()
	d, err := store.Diff(a, b, 40)
	must(t, err)
	if len(d) > 0 {
		t.Errorf("the stores differ:\n%s", strings.Join(d, "\n"))
	}
}

func importAll(t testing.TB, st *store.Store, src Source, opts ImportOptions) ([]AccountReport, Summary, error) {
	t.Helper()
	var reps []AccountReport
	opts.Account = func(r AccountReport) { reps = append(reps, r) }
	if opts.Domains == nil {
		opts.Domains = []string{"example.org", "ex.test"}
	}
	if opts.RoomServices == nil {
		opts.RoomServices = []string{"conference.example.org", "conference.ex.test"}
	}
	sum, err := Import(st, src, opts)
	return reps, sum, err
}

// TestRoundTrip: roost → export → import into an empty roost gives the
// same data, record by record, through one document and through a
// directory of one file per account.
func TestRoundTrip(t *testing.T) {
	src := openStore(t)
	fill(t, src, "alice@example.org", 30)
	fill(t, src, "bob@example.org", 0)
	fillRooms(t, src)
	t.Run("one document", func(t *testing.T) {
		var doc bytes.Buffer
		sum, err := Export(src, NewWriterSink(&doc), ExportOptions{})
		if err != nil || sum.Accounts[Moved] != 2 || sum.Rooms != 2 || len(sum.Notes) != 0 {
			t.Fatalf("export: %v, %v, %q", sum, err, sum.Notes)
		}
		dst := openStore(t)
		reps, sum, err := importAll(t, dst, ReaderSource(&doc, portable.Options{}), ImportOptions{})
		if err != nil || sum.Accounts[Moved] != 2 || sum.Rooms != 2 || len(sum.Notes) != 0 {
			t.Fatalf("import: %v, %v, %v, %q", sum, err, reps, sum.Notes)
		}
		for _, r := range reps {
			if len(r.Notes) > 0 || r.LoginDisabled {
				t.Errorf("report with notes: %s", r)
			}
		}
		want := Counts{Credentials: 2, Contacts: 3, Requests: 2, VCards: 1, Private: 2, Blocked: 3, PEPNodes: 2, PEPItems: 4, Offline: 2, Archived: 30, Other: 2}
		if diff := cmp.Diff(want, reps[0].Moved); diff != "" {
			t.Errorf("alice's counts (-want +got):\n%s", diff)
		}
		diff(t, src, dst)
	})
	t.Run("a file per account", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "export")
		sink, err := NewDirSink(dir)
		must(t, err)
		if _, err := Export(src, sink, ExportOptions{}); err != nil {
			t.Fatal(err)
		}
		files, _ := filepath.Glob(filepath.Join(dir, "*"))
		wantFiles := []string{filepath.Join(dir, "alice@example.org.xml"), filepath.Join(dir, "bob@example.org.xml"),
			filepath.Join(dir, "family@conference.example.org.xml"), filepath.Join(dir, "quiet@conference.example.org.xml")}
		if diff := cmp.Diff(wantFiles, files); diff != "" {
			t.Errorf("files (-want +got):\n%s", diff)
		}
		if fi, err := os.Stat(files[0]); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("file mode %v, %v; want 0600", fi.Mode(), err)
		}
		dst := openStore(t)
		if _, sum, err := importAll(t, dst, DirSource(dir, portable.Options{}), ImportOptions{}); err != nil || sum.Accounts[Moved] != 2 || sum.Rooms != 2 {
			t.Fatalf("import: %v, %v", sum, err)
		}
		diff(t, src, dst)
	})
}

// TestProsody imports what Prosody 0.12's prosody-migrator wrote
// (testdata, unchanged): SCRAM-SHA-1 keys, the roster with its groups and
// a pending request, the vCard, private XML, PEP nodes and items, the
// archive.
func TestProsody(t *testing.T) {
	st := openStore(t)
	stamp := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	reps, sum, err := importAll(t, st, DirSource("testdata", portable.Options{}), ImportOptions{Now: func() time.Time { return stamp }})
	if err != nil || sum.Accounts[Moved] != 2 {
		t.Fatalf("import: %v, %v, %v", sum, err, reps)
	}
	alice := reps[0]
	want := Counts{Credentials: 1, Contacts: 1, Requests: 1, VCards: 1, Private: 1, PEPNodes: 2, PEPItems: 4, Archived: 4}
	if diff := cmp.Diff(want, alice.Moved); diff != "" || alice.LoginDisabled || len(alice.Notes) > 0 {
		t.Errorf("alice: %s\n(-want +got):\n%s", alice, diff)
	}
	a, found, err := st.Account("alice@ex.test")
	if err != nil || !found {
		t.Fatal(found, err)
	}
	if k := a.SCRAM["SHA-1"]; k.Iterations != 10000 || string(k.Salt) != "b7481ec9-c922-4be3-bb81-50cc27b39345" || len(a.SCRAM) != 1 {
		t.Errorf("credentials %+v", a.SCRAM)
	}
	b, _, _ := st.RosterItem("alice@ex.test", "bob@ex.test")
	bob, err := im.DecodeStoredItem(b)
	if err != nil || bob.Name != "Bob" || bob.Subscription != "both" || !cmp.Equal(bob.Groups, []string{"Family"}) || !bob.InRoster {
		t.Errorf("bob = %+v, %v", bob, err)
	}
	c, _, _ := st.RosterItem("alice@ex.test", "carol@ex.test")
	carol, err := im.DecodeStoredItem(c)
	if err != nil || !carol.PendingIn || carol.InRoster ||
		string(carol.Request) != `<presence xmlns="jabber:client" from="carol@ex.test" to="alice@ex.test" type="subscribe"/>` {
		t.Errorf("carol = %+v %s, %v", carol, carol.Request, err)
	}
	if v, _, _ := st.VCard("alice@ex.test"); string(v) != `<vCard xmlns="vcard-temp"><FN>Alice Liddell</FN><NICKNAME>Alice</NICKNAME></vCard>` {
		t.Errorf("vcard %s", v)
	}
	if v, _, _ := st.PrivateXML("alice@ex.test", "{urn:example:notes}notes"); string(v) != `<notes xmlns="urn:example:notes"><text>buy milk</text></notes>` {
		t.Errorf("private %s", v)
	}
	rec, _, _ := st.PEPNode("alice@ex.test", "urn:example:family-list")
	conf, _, _, err := pep.NodeForm(rec)
	must(t, err)
	if got := formValue(conf, "pubsub#max_items") + " " + formValue(conf, "pubsub#access_model"); got != "10 open" {
		t.Errorf("family-list config: %s", got)
	}
	var items []string
	_, err = st.PEPItems("alice@ex.test", "urn:example:family-list", nil, 0, func(id string, at time.Time, it []byte) error {
		items = append(items, id+"="+string(it)+"@"+at.Format(time.RFC3339))
		return nil
	})
	must(t, err)
	wantItems := []string{`e0=<entry xmlns="urn:example:family-list">item 0</entry>@2030-01-01T00:00:00Z`,
		`e1=<entry xmlns="urn:example:family-list">item 1</entry>@2030-01-01T00:00:00Z`,
		`e2=<entry xmlns="urn:example:family-list">item 2</entry>@2030-01-01T00:00:00Z`}
	if diff := cmp.Diff(wantItems, items); diff != "" {
		t.Errorf("items (-want +got):\n%s", diff)
	}
	page, _, err := st.ArchivePage("alice@ex.test", store.ArchiveQuery{Max: 100})
	must(t, err)
	if len(page) != 4 {
		t.Fatalf("archive has %d messages", len(page))
	}
	sent := time.Date(2026, 12, 6, 16, 17, 22, 0, time.UTC)
	for i, it := range page[:3] {
		// Three messages in one second keep their order, a microsecond
		// apart.
		if it.With != "bob@ex.test" || it.Resource != "" || !it.Time().Equal(sent.Add(time.Duration(i)*time.Microsecond)) ||
			!strings.Contains(string(it.Stanza), fmt.Sprintf("<body>archived %d</body>", i)) {
			t.Errorf("archived %d: %s %s/%s %s", i, it.Time(), it.With, it.Resource, it.Stanza)
		}
	}
	if page[3].With != "carol@ex.test" {
		t.Errorf("the fourth message is with %q", page[3].With)
	}
}

func formValue(x *xmlstream.Element, v string) string {
	for f := range x.Elements() {
		if f.Get("var") == v {
			return f.ChildText("jabber:x:data", "value")
		}
	}
	return ""
}

func doc(users ...string) string {
	return `<server-data xmlns='urn:xmpp:pie:0'>` + strings.Join(users, "") + `</server-data>`
}

const scramSHA1 = `<scram-credentials xmlns='urn:xmpp:pie:0#scram' mechanism='SCRAM-SHA-1'><iter-count>4096</iter-count><salt>c2FsdA==</salt>` +
	`<server-key>AgICAgICAgICAgICAgICAgICAgI=</server-key><stored-key>AQEBAQEBAQEBAQEBAQEBAQEBAQE=</stored-key></scram-credentials>`

func TestCredentials(t *testing.T) {
	for _, tc := range []struct {
		name     string
		user     string
		disabled bool
		hashes   []string
		note     string
	}{
		{"scram", `<user name='a'>` + scramSHA1 + `</user>`, false, []string{"SHA-1"}, ""},
		{"plaintext only", `<user name='a' password='s3cret'/>`, true, nil, "only in plaintext"},
		{"plaintext and scram", `<user name='a' password='s3cret'>` + scramSHA1 + `</user>`, false, []string{"SHA-1"}, ""},
		{"none", `<user name='a'/>`, true, nil, "no credentials"},
		{"ejabberd's old form", `<user name='a' password='scram:AQEBAQEBAQEBAQEBAQEBAQEBAQE=,AgICAgICAgICAgICAgICAgICAgI=,c2FsdA==,4096'/>`, false, []string{"SHA-1"}, ""},
		{"ejabberd's old form, SHA-256", `<user name='a' password='scram:sha256,` + strings.Repeat("A", 43) + `=,` + strings.Repeat("B", 43) + `=,c2FsdA==,4096'/>`, false, []string{"SHA-256"}, ""},
		{"SHA-512 only", `<user name='a'><scram-credentials xmlns='urn:xmpp:pie:0#scram' mechanism='SCRAM-SHA-512'><iter-count>4096</iter-count><salt>c2FsdA==</salt><server-key>` +
			strings.Repeat("A", 86) + `==</server-key><stored-key>` + strings.Repeat("B", 86) + `==</stored-key></scram-credentials></user>`, true, []string{"SHA-512"}, "kept but unusable"},
		{"too few iterations", `<user name='a'>` + strings.Replace(scramSHA1, "4096", "100", 1) + `</user>`, true, []string{"SHA-1"}, "does not accept"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := openStore(t)
			reps, _, err := importAll(t, st, ReaderSource(strings.NewReader(doc(`<host jid='example.org'>`+tc.user+`</host>`)), portable.Options{}), ImportOptions{})
			must(t, err)
			r := reps[0]
			if r.Status != Moved || r.LoginDisabled != tc.disabled || (tc.note != "" && !strings.Contains(strings.Join(r.Notes, "\n"), tc.note)) {
				t.Errorf("report: %s", r)
			}
			if tc.disabled && !strings.Contains(strings.Join(r.Notes, "\n"), "roost user passwd a@example.org") && tc.hashes == nil {
				t.Errorf("the report does not say how to set a password: %s", r)
			}
			a, found, err := st.Account("a@example.org")
			if err != nil || !found {
				t.Fatalf("account: %t, %v", found, err)
			}
			var hashes []string
			for h := range a.SCRAM {
				hashes = append(hashes, h)
			}
			if !cmp.Equal(hashes, tc.hashes) {
				t.Errorf("hashes %v, want %v", hashes, tc.hashes)
			}
		})
	}
}

// TestAccountsRefused: other domains, bad names, a name twice in one
// document, an existing account without -overwrite.
func TestAccountsRefused(t *testing.T) {
	st := openStore(t)
	fill(t, st, "dora@example.org", 0)
	in := doc(`<host jid='example.org'><user name='alice'>`+scramSHA1+`</user><user name='Alice'>`+scramSHA1+`</user><user name='dora'>`+scramSHA1+`</user><user name='a b@c'/></host>`,
		`<host jid='elsewhere.example'><user name='zed'/></host>`)
	reps, sum, err := importAll(t, st, ReaderSource(strings.NewReader(in), portable.Options{}), ImportOptions{})
	must(t, err)
	var got []string
	for _, r := range reps {
		got = append(got, r.JID+" "+string(r.Status))
	}
	want := []string{"alice@example.org moved", "alice@example.org skipped", "dora@example.org exists", "a b@c@example.org skipped", "zed@elsewhere.example skipped"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if sum.String() != "1 moved, 1 exists, 3 skipped" {
		t.Errorf("summary %q", sum)
	}
	if v, _, _ := st.VCard("dora@example.org"); !strings.Contains(string(v), "dora@example.org") {
		t.Errorf("the refused import changed dora: %s", v)
	}
	// With Overwrite, dora is replaced: nothing of her old data stays.
	reps, _, err = importAll(t, st, ReaderSource(strings.NewReader(doc(`<host jid='example.org'><user name='dora'>`+scramSHA1+`</user></host>`)), portable.Options{}), ImportOptions{Overwrite: true})
	must(t, err)
	if reps[0].Status != Moved {
		t.Errorf("overwrite: %s", reps[0])
	}
	if _, found, _ := st.VCard("dora@example.org"); found {
		t.Error("dora's old vCard survived the overwrite")
	}
}

// TestBadDocument: a document that stops early leaves the accounts read
// before it, and nothing of the one it stops in; unknown elements are
// reported.
func TestBadDocument(t *testing.T) {
	st := openStore(t)
	in := doc(`<host jid='example.org'><user name='alice'>` + scramSHA1 + `<strange xmlns='urn:example:x'/><vCard xmlns='vcard-temp'><FN>A</FN></vCard></user><user name='bob'>` + scramSHA1 + `<vCard xmlns='vcard-temp'><FN>B`)
	in = in[:len(in)-len(`</server-data>`)]
	reps, _, err := importAll(t, st, ReaderSource(strings.NewReader(in), portable.Options{}), ImportOptions{})
	var se *portable.SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want a *portable.SyntaxError", err)
	}
	if len(reps) != 2 || reps[0].Status != Moved || reps[1].Status != Failed {
		t.Fatalf("reports: %v", reps)
	}
	if !strings.Contains(reps[0].Notes[0], "<strange xmlns='urn:example:x'/> in user (line 1), which roost does not know") {
		t.Errorf("alice's notes: %v", reps[0].Notes)
	}
	if _, found, _ := st.Account("bob@example.org"); found {
		t.Error("bob was created from half an account")
	}
	if _, found, _ := st.VCard("bob@example.org"); found {
		t.Error("bob's vCard was written")
	}
}

func TestDryRun(t *testing.T) {
	st := openStore(t)
	fill(t, st, "dora@example.org", 0)
	in := doc(`<host jid='example.org'><user name='alice'>` + scramSHA1 + `<vCard xmlns='vcard-temp'><FN>A</FN></vCard></user><user name='dora'/></host>`)
	for _, s := range []*store.Store{st, nil} {
		reps, _, err := importAll(t, s, ReaderSource(strings.NewReader(in), portable.Options{}), ImportOptions{DryRun: true})
		must(t, err)
		want := Exists
		if s == nil {
			want = Moved
		}
		if len(reps) != 2 || reps[0].Status != Moved || reps[0].Moved.VCards != 1 || reps[1].Status != want {
			t.Errorf("dry run reports: %v", reps)
		}
	}
	if _, found, _ := st.Account("alice@example.org"); found {
		t.Error("a dry run created alice")
	}
}

// TestMessages: offline messages keep the time they were stored and lose
// the delay the export added and the old archive's stanza-ids; archived
// messages get their party from their addresses.
func TestMessages(t *testing.T) {
	st := openStore(t)
	in := doc(`<host jid='example.org'><user name='alice'>` + scramSHA1 + `<offline-messages>` +
		`<message xmlns='jabber:client' from='bob@example.org/x' to='alice@example.org' type='chat'><body>one</body><stanza-id xmlns='urn:xmpp:sid:0' by='alice@example.org' id='old'/><delay xmlns='urn:xmpp:delay' from='example.org' stamp='2024-01-02T03:04:05Z'>Offline Storage</delay></message>` +
		`<message from='carol@example.net' type='normal'><body>two</body><delay xmlns='urn:xmpp:delay' from='example.net' stamp='2024-01-01T00:00:00Z'/></message>` +
		`</offline-messages><archive xmlns='urn:xmpp:pie:0#mam'>` +
		`<result xmlns='urn:xmpp:mam:2' id='x1'><forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='2024-01-01T00:00:00Z'/><message xmlns='jabber:client' from='alice@example.org/phone' to='bob@example.org/laptop' type='chat'><body>out</body></message></forwarded></result>` +
		`<result xmlns='urn:xmpp:mam:2' id='x2'><forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='2023-12-31T00:00:00Z'/><message xmlns='jabber:client' from='bob@example.org/laptop' to='alice@example.org' type='chat'><body>in</body></message></forwarded></result>` +
		`</archive></user></host>`)
	reps, _, err := importAll(t, st, ReaderSource(strings.NewReader(in), portable.Options{}), ImportOptions{})
	must(t, err)
	if reps[0].Moved.Offline != 2 || reps[0].Moved.Archived != 2 {
		t.Fatalf("report %s", reps[0])
	}
	var got []string
	must(t, st.Offline("alice@example.org", func(_ uint64, at time.Time, b []byte) error {
		got = append(got, at.Format(time.RFC3339)+" "+string(b))
		return nil
	}))
	want := []string{
		`2024-01-02T03:04:05Z <message xmlns="jabber:client" from="bob@example.org/x" to="alice@example.org" type="chat"><body>one</body></message>`,
		`2024-01-01T00:00:00Z <message xmlns="jabber:client" from="carol@example.net" type="normal"><body>two</body><delay xmlns="urn:xmpp:delay" from="example.net" stamp="2024-01-01T00:00:00Z"/></message>`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("offline (-want +got):\n%s", diff)
	}
	page, _, err := st.ArchivePage("alice@example.org", store.ArchiveQuery{Max: 100})
	must(t, err)
	if len(page) != 2 || page[0].With != "bob@example.org" || page[0].Resource != "laptop" || page[1].Resource != "laptop" {
		t.Fatalf("archive %+v", page)
	}
	// The second message is older than the first, but the archive keeps
	// the document's order: identifiers only increase.
	if !(page[1].ID > page[0].ID) || !page[0].Time().Equal(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("ids %d then %d", page[0].ID, page[1].ID)
	}
	if id := (archive.ID{Seq: page[0].ID, Tag: page[0].Tag}); id.Tag == 0 && page[1].Tag == 0 {
		t.Error("imported messages got no random tags")
	}
}

// TestProfileFromPEP: an account whose profile is only a vCard4 in PEP,
// as Prosody's vcard_legacy keeps it, gets a vCard made from it.
func TestProfileFromPEP(t *testing.T) {
	st := openStore(t)
	in := doc(`<host jid='example.org'><user name='alice'>` + scramSHA1 + `<pubsub xmlns='http://jabber.org/protocol/pubsub'>` +
		`<items node='urn:xmpp:vcard4'><item id='current'><vcard xmlns='urn:ietf:params:xml:ns:vcard-4.0'><fn><text>Alice Liddell</text></fn><nickname><text>Al</text></nickname></vcard></item></items>` +
		`<items node='urn:xmpp:avatar:data'><item id='abc'><data xmlns='urn:xmpp:avatar:data'>iVBORw0KGgo=</data></item></items>` +
		`<items node='urn:xmpp:avatar:metadata'><item id='abc'><metadata xmlns='urn:xmpp:avatar:metadata'><info id='abc' type='image/png' bytes='8'/></metadata></item></items>` +
		`</pubsub></user></host>`)
	reps, _, err := importAll(t, st, ReaderSource(strings.NewReader(in), portable.Options{}), ImportOptions{})
	must(t, err)
	if reps[0].Moved.VCards != 1 || reps[0].Moved.PEPNodes != 3 {
		t.Errorf("report %s", reps[0])
	}
	v, _, _ := st.VCard("alice@example.org")
	want := `<vCard xmlns="vcard-temp"><FN>Alice Liddell</FN><NICKNAME>Al</NICKNAME><PHOTO><TYPE>image/png</TYPE><BINVAL>iVBORw0KGgo=</BINVAL></PHOTO></vCard>`
	if string(v) != want {
		t.Errorf("vCard\n got %s\nwant %s", v, want)
	}
}

// TestPrivacyLists: ejabberd keeps block lists as privacy lists.
func TestPrivacyLists(t *testing.T) {
	st := openStore(t)
	in := doc(`<host jid='example.org'><user name='alice'>` + scramSHA1 + `<query xmlns='jabber:iq:privacy'>` +
		`<list name='Blocked contacts'><item type='jid' value='spam@example.com' action='deny' order='1'/><item type='jid' value='x@example.com' action='deny' order='2'><message/></item></list>` +
		`<list name='work'><item type='group' value='Boss' action='deny' order='1'/></list></query></user></host>`)
	reps, _, err := importAll(t, st, ReaderSource(strings.NewReader(in), portable.Options{}), ImportOptions{})
	must(t, err)
	var blocked []string
	must(t, st.BlockList("alice@example.org", func(j string) error { blocked = append(blocked, j); return nil }))
	if !cmp.Equal(blocked, []string{"spam@example.com"}) || len(reps[0].Notes) != 2 {
		t.Errorf("blocked %v; report %s", blocked, reps[0])
	}
}

// room makes a stored room record as the muc module writes it.
func room(t testing.TB, name string, owner string) []byte {
	t.Helper()
	cfg := muc.Config{Name: name, MembersOnly: true, Password: "pie & <cake>", Logging: true, MaxHistory: 20, AllowPM: muc.PMModerators}
	rec, skipped, err := muc.ImportRoom(muc.Exported{Subject: "Sunday lunch", SubjectBy: "x@conference.example.org/" + owner,
		SubjectAt: t0, Created: t0, Salt: []byte(name), Affiliations: []muc.ExportedAffiliation{
			{JID: owner + "@example.org", Affiliation: "owner", Nick: owner},
			{JID: "gran@example.net", Affiliation: "member", Nick: "Gran", Reason: "family"},
			{JID: "spam@example.com", Affiliation: "outcast", Reason: "spam"}}}, cfg)
	if err != nil || len(skipped) > 0 {
		t.Fatalf("room record: %v, %q", err, skipped)
	}
	return rec
}

func fillRooms(t testing.TB, st *store.Store) {
	t.Helper()
	must(t, st.PutRoom("family@conference.example.org", room(t, "Family", "alice")))
	must(t, st.PutRoom("quiet@conference.example.org", room(t, "Quiet", "bob")))
}

// TestRooms: rooms move with their configuration, subject and
// affiliations; those that cannot are reported, and the summary says that
// room archives stay behind.
func TestRooms(t *testing.T) {
	src := openStore(t)
	fillRooms(t, src)
	must(t, src.PutRoom("broken@conference.example.org", []byte(`{"v":99}`)))
	_, err := src.AppendArchive(store.ArchiveRecord{Owner: "family@conference.example.org", With: "family@conference.example.org",
		Stanza: canonical(t, `<message xmlns="jabber:client" type="groupchat"><body>hi</body></message>`)}, t0)
	must(t, err)
	var buf bytes.Buffer
	sum, err := Export(src, NewWriterSink(&buf), ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantNotes := []string{
		"not exported: room broken@conference.example.org, which does not read back (muc: invalid room record: version 99)",
		"not exported: the message archives of 1 group chat rooms (XEP-0227 carries an account's archive, not a room's; roost backup keeps them)",
	}
	if diff := cmp.Diff(wantNotes, sum.Notes); diff != "" || sum.Rooms != 2 || sum.String() != "no accounts, 2 group chat rooms" {
		t.Errorf("export %s; notes (-want +got):\n%s", sum, diff)
	}
	doc := buf.String()
	for _, tc := range []struct {
		name    string
		opts    ImportOptions
		prepare func(*store.Store)
		rooms   int
		notes   []string
		// stored: the rooms in the store after the import.
		stored []string
	}{
		{name: "new", rooms: 2, stored: []string{"family@conference.example.org", "quiet@conference.example.org"}},
		{name: "other service", opts: ImportOptions{RoomServices: []string{"rooms.example.org"}},
			notes: []string{"not imported: room family@conference.example.org: this roost has no group chat service at conference.example.org (it has rooms.example.org)",
				"not imported: room quiet@conference.example.org: this roost has no group chat service at conference.example.org (it has rooms.example.org)"}},
		{name: "exists", prepare: func(st *store.Store) { must(t, st.PutRoom("quiet@conference.example.org", []byte("old"))) }, rooms: 1,
			notes:  []string{"not imported: room quiet@conference.example.org exists here; import with -overwrite to replace it"},
			stored: []string{"family@conference.example.org", "quiet@conference.example.org"}},
		{name: "overwrite", opts: ImportOptions{Overwrite: true}, prepare: func(st *store.Store) { must(t, st.PutRoom("quiet@conference.example.org", []byte("old"))) },
			rooms: 2, stored: []string{"family@conference.example.org", "quiet@conference.example.org"}},
		{name: "dry run", opts: ImportOptions{DryRun: true}, rooms: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := openStore(t)
			if tc.prepare != nil {
				tc.prepare(dst)
			}
			_, sum, err := importAll(t, dst, ReaderSource(strings.NewReader(doc), portable.Options{}), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.notes, sum.Notes); diff != "" || sum.Rooms != tc.rooms {
				t.Errorf("rooms %d, want %d; notes (-want +got):\n%s", sum.Rooms, tc.rooms, diff)
			}
			var stored []string
			must(t, dst.Rooms("", func(r string, rec []byte) error {
				stored = append(stored, r)
				if want, _, _ := src.Room(r); tc.name != "exists" && !bytes.Equal(rec, want) {
					t.Errorf("room %s: stored %s, want %s", r, rec, want)
				}
				return nil
			}))
			if diff := cmp.Diff(tc.stored, stored); diff != "" {
				t.Errorf("stored rooms (-want +got):\n%s", diff)
			}
		})
	}
}
