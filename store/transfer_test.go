package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.etcd.io/bbolt"
)

// fillAccount gives user one of every kind of record, through the
// Store's own methods, as the server writes them.
func fillAccount(t testing.TB, s *Store, user string, archive int) {
	t.Helper()
	mustCreate(t, s, user)
	for _, c := range []string{"bob@example.org", "carol@example.org"} {
		if _, _, err := s.UpdateRosterItem(user, c, func([]byte) ([]byte, error) { return []byte(`{"s":3,"r":true,"n":"` + c + `"}`), nil }); err != nil {
			t.Fatal(err)
		}
	}
	// A removal, which leaves history an export does not carry.
	if _, _, err := s.UpdateRosterItem(user, "dave@example.org", func([]byte) ([]byte, error) { return []byte(`{}`), nil }); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.UpdateRosterItem(user, "dave@example.org", func([]byte) ([]byte, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	check(s.PutVCard(user, []byte(`<vCard xmlns="vcard-temp"><FN>`+user+`</FN></vCard>`)))
	check(s.PutPrivateXML(user, "{urn:a}notes", []byte(`<notes xmlns="urn:a"/>`)))
	check(s.PutPrivateXML(user, "{urn:b}more", []byte(`<more xmlns="urn:b"/>`)))
	check(s.SetLastActivity(user, t0, "away"))
	check(s.PutArchivePrefs(user, []byte(`<prefs xmlns="urn:xmpp:mam:2" default="always"/>`)))
	check(s.Block(user, "spam@example.com", "example.net"))
	for i := range 3 {
		_, err := s.PublishPEPItem(user, "urn:example:list", fmt.Sprintf("i%d", i), t0.Add(time.Duration(i)*time.Minute),
			[]byte(fmt.Sprintf("<e>%d</e>", i)), keepN("list-node", 10))
		check(err)
	}
	// Republished: i0 becomes the newest.
	_, err := s.PublishPEPItem(user, "urn:example:list", "i0", t0.Add(time.Hour), []byte("<e>0b</e>"), keepN("list-node", 10))
	check(err)
	_, err = s.PublishPEPItem(user, "tune", "current", t0, []byte("<tune/>"), keepN("tune-node", 1))
	check(err)
	for i := range 2 {
		_, err := s.AppendOffline(user, []byte(fmt.Sprintf("<message>offline %d</message>", i)), t0.Add(time.Duration(i)), 10)
		check(err)
	}
	for i := range archive {
		archived(t, s, user, "bob@example.org", "phone", i)
	}
	check(s.SyncArchive(context.Background()))
}

// exported returns user's account and records.
func exported(t testing.TB, src *Store, user string) (Account, []Record) {
	t.Helper()
	var recs []Record
	var acct Account
	found, err := src.ExportAccount(user, func(a Account) error { acct = a; return nil }, func(r Record) error {
		r.Value = bytes.Clone(r.Value)
		recs = append(recs, r)
		return nil
	})
	if err != nil || !found {
		t.Fatalf("ExportAccount(%s) = %t, %v", user, found, err)
	}
	return acct, recs
}

// copyAccount exports user from src and imports it into dst.
func copyAccount(t testing.TB, src, dst *Store, user string, opts ImportOptions) error {
	t.Helper()
	acct, recs := exported(t, src, user)
	w, err := dst.BeginImport(acct.Username, opts)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if err := w.Put(r); err != nil {
			return err
		}
	}
	return w.Commit(acct)
}

func diff(t testing.TB, a, b *Store) []string {
	t.Helper()
	d, err := Diff(a, b, 50)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestExportImportRoundTrip(t *testing.T) {
	for _, batch := range []int{0, 200} {
		t.Run(fmt.Sprintf("batch %d", batch), func(t *testing.T) {
			src, _ := openTest(t, testOptions())
			dst, _ := openTest(t, testOptions())
			fillAccount(t, src, "alice@example.org", 20)
			fillAccount(t, src, "bob@example.org", 0)
			// A document this version does not know still moves.
			if err := src.db.Update(func(tx *bbolt.Tx) error {
				return tx.Bucket([]byte(bucketDocs)).Put(userKey("bob@example.org", "future"), []byte("x"))
			}); err != nil {
				t.Fatal(err)
			}
			for _, u := range []string{"alice@example.org", "bob@example.org"} {
				if err := copyAccount(t, src, dst, u, ImportOptions{BatchBytes: batch}); err != nil {
					t.Fatalf("import %s: %v", u, err)
				}
			}
			if d := diff(t, src, dst); len(d) > 0 {
				t.Errorf("stores differ:\n%s", strings.Join(d, "\n"))
			}
			// The imported account works: its roster versions go on, its
			// archive takes new messages after the imported ones.
			ver, _, err := dst.UpdateRosterItem("alice@example.org", "erin@example.org", func([]byte) ([]byte, error) { return []byte("{}"), nil })
			if err != nil || ver == 0 {
				t.Fatalf("roster update after import: %d, %v", ver, err)
			}
			sum, err := dst.ArchiveSummary("alice@example.org")
			if err != nil || sum.Count != 20 {
				t.Fatalf("summary = %+v, %v", sum, err)
			}
			ref, err := dst.AppendArchive(ArchiveRecord{Owner: "alice@example.org", Account: true, Stanza: []byte("<m/>")}, t0)
			if err != nil || ref.ID <= sum.Last.ID {
				t.Errorf("appended %d after importing up to %d: %v", ref.ID, sum.Last.ID, err)
			}
		})
	}
}

func TestImportExisting(t *testing.T) {
	src, _ := openTest(t, testOptions())
	dst, _ := openTest(t, testOptions())
	fillAccount(t, src, "alice@example.org", 3)
	mustCreate(t, dst, "alice@example.org")
	if err := dst.PutVCard("alice@example.org", []byte("<old/>")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := dst.UpdateRosterItem("alice@example.org", "old@example.org", func([]byte) ([]byte, error) { return []byte("{}"), nil }); err != nil {
		t.Fatal(err)
	}
	if err := copyAccount(t, src, dst, "alice@example.org", ImportOptions{}); !errors.Is(err, ErrExists) {
		t.Fatalf("import over an existing account: %v, want ErrExists", err)
	}
	if v, _, _ := dst.VCard("alice@example.org"); string(v) != "<old/>" {
		t.Errorf("refused import changed the vCard to %q", v)
	}
	if err := copyAccount(t, src, dst, "alice@example.org", ImportOptions{Overwrite: true}); err != nil {
		t.Fatal(err)
	}
	if d := diff(t, src, dst); len(d) > 0 {
		t.Errorf("after overwriting, stores differ:\n%s", strings.Join(d, "\n"))
	}
}

// TestImportAbort: a failed import leaves nothing, in one transaction or
// several; an overwrite that fails in one transaction keeps the old
// account. The store's invariants (no data without an account) are
// checked when the test's stores close.
func TestImportAbort(t *testing.T) {
	for _, tc := range []struct {
		name     string
		batch    int
		existing bool
		wantOld  bool
	}{
		{"one transaction", 0, false, false},
		{"batches", 100, false, false},
		{"overwrite in one transaction", 0, true, true},
		{"overwrite in batches", 100, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, _ := openTest(t, testOptions())
			dst, _ := openTest(t, testOptions())
			fillAccount(t, src, "alice@example.org", 10)
			if tc.existing {
				mustCreate(t, dst, "alice@example.org")
			}
			acct, recs := exported(t, src, "alice@example.org")
			w, err := dst.BeginImport(acct.Username, ImportOptions{BatchBytes: tc.batch, Overwrite: tc.existing})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				if err := w.Put(r); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Abort(); err != nil {
				t.Fatal(err)
			}
			_, found, err := dst.Account("alice@example.org")
			if err != nil || found != tc.wantOld {
				t.Errorf("account found = %t, %v; want %t", found, err, tc.wantOld)
			}
			if n, _ := dst.OfflineCount("alice@example.org"); n != 0 {
				t.Errorf("offline messages left: %d", n)
			}
			if sum, _ := dst.ArchiveSummary("alice@example.org"); sum.Count != 0 {
				t.Errorf("archive left: %+v", sum)
			}
		})
	}
}

// TestImportAfterCrash: batches committed by an import that never
// finished are removed by the next import of the name.
func TestImportAfterCrash(t *testing.T) {
	src, _ := openTest(t, testOptions())
	dst, _ := openTest(t, testOptions())
	fillAccount(t, src, "alice@example.org", 10)
	acct, recs := exported(t, src, "alice@example.org")
	w, err := dst.BeginImport(acct.Username, ImportOptions{BatchBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs[:len(recs)-3] {
		if err := w.Put(r); err != nil {
			t.Fatal(err)
		}
	}
	if !w.spilled {
		t.Fatal("the import did not spill into batches")
	}
	_ = w.tx.Rollback() // the process dies here
	if sum, _ := dst.ArchiveSummary("alice@example.org"); sum.Count != 0 {
		t.Fatalf("the committed batches counted messages: %+v", sum)
	}
	if err := copyAccount(t, src, dst, "alice@example.org", ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if d := diff(t, src, dst); len(d) > 0 {
		t.Errorf("stores differ:\n%s", strings.Join(d, "\n"))
	}
}

func TestImportBadRecords(t *testing.T) {
	dst, _ := openTest(t, testOptions())
	for _, tc := range []struct {
		name string
		recs []Record
	}{
		{"unknown kind", []Record{{Kind: 99}}},
		{"empty contact", []Record{{Kind: RecordRoster, Value: []byte("{}")}}},
		{"empty vcard", []Record{{Kind: RecordVCard}}},
		{"NUL in node", []Record{{Kind: RecordPEPNode, Key: "a\x00b", Value: []byte("r")}}},
		{"archive id twice", []Record{{Kind: RecordArchive, Ref: ArchiveRef{ID: 5}}, {Kind: RecordArchive, Ref: ArchiveRef{ID: 5}}}},
		{"archive id zero", []Record{{Kind: RecordArchive}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := dst.BeginImport("x@example.org", ImportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var last error
			for _, r := range tc.recs {
				if last = w.Put(r); last != nil {
					break
				}
			}
			if !errors.Is(last, ErrInvalid) {
				t.Errorf("Put = %v, want ErrInvalid", last)
			}
			if err := w.Abort(); err != nil {
				t.Fatal(err)
			}
		})
	}
	if _, err := dst.BeginImport("a\x00b", ImportOptions{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("BeginImport with a NUL name: %v", err)
	}
	for _, a := range []Account{{Username: "other@example.org"}, {Username: "x@example.org", SCRAM: map[string]SCRAMKeys{"SHA-1": {}}}} {
		w, err := dst.BeginImport("x@example.org", ImportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Commit(a); !errors.Is(err, ErrInvalid) {
			t.Errorf("Commit(%+v) = %v, want ErrInvalid", a, err)
		}
		if _, found, _ := dst.Account("x@example.org"); found {
			t.Errorf("Commit(%+v) failed but made the account", a)
		}
	}
}

func TestDiff(t *testing.T) {
	a, _ := openTest(t, testOptions())
	b, _ := openTest(t, testOptions())
	fillAccount(t, a, "alice@example.org", 2)
	fillAccount(t, b, "alice@example.org", 0)
	if err := b.PutVCard("alice@example.org", []byte("<changed/>")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.AppendOffline("alice@example.org", []byte("<extra/>"), t0, 10); err != nil {
		t.Fatal(err)
	}
	got := diff(t, a, b)
	var buckets []string
	for _, d := range got {
		buckets = append(buckets, strings.SplitN(d, " ", 2)[0])
	}
	// Two archived messages, their index entries and the archive state
	// only in a; the vCard; b's extra offline message and its count.
	want := []string{"archive", "archive", "archivestate", "archivewith", "archivewith", "docs", "offline", "userstate"}
	if diff := cmp.Diff(want, buckets); diff != "" {
		t.Errorf("differences (-want +got):\n%s\n%s", diff, strings.Join(got, "\n"))
	}
	if d := diff(t, a, a); len(d) != 0 {
		t.Errorf("a store differs from itself: %v", d)
	}
}

func BenchmarkImportArchive(b *testing.B) {
	dst, _ := openTest(b, testOptions())
	stanza := []byte(`<message xmlns="jabber:client" to="bob@example.org" type="chat"><body>a message of ordinary length, as people write them</body></message>`)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n++
		a := testAccount(fmt.Sprintf("u%d@example.org", n))
		w, err := dst.BeginImport(a.Username, ImportOptions{})
		if err != nil {
			b.Fatal(err)
		}
		for i := range 1000 {
			if err := w.Put(Record{Kind: RecordArchive, Ref: ArchiveRef{ID: uint64(i + 1), Tag: 7}, With: "bob@example.org", Value: stanza}); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Commit(a); err != nil {
			b.Fatal(err)
		}
	}
}
