package store

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDocuments(t *testing.T) {
	s, _ := openTest(t, testOptions())
	mustCreate(t, s, "alice")
	type got struct {
		V     string
		Found bool
	}
	vcard := func() (got, error) { v, f, err := s.VCard("alice"); return got{string(v), f}, err }
	private := func(key string) func() (got, error) {
		return func() (got, error) { v, f, err := s.PrivateXML("alice", key); return got{string(v), f}, err }
	}
	steps := []struct {
		name    string
		do      func() error
		wantErr error
		read    func() (got, error)
		want    got
	}{
		{"no vcard", func() error { return nil }, nil, vcard, got{}},
		{"put vcard", func() error { return s.PutVCard("alice", []byte("<vCard><FN>A</FN></vCard>")) }, nil, vcard, got{"<vCard><FN>A</FN></vCard>", true}},
		{"replace vcard", func() error { return s.PutVCard("alice", []byte("<vCard/>")) }, nil, vcard, got{"<vCard/>", true}},
		{"empty deletes vcard", func() error { return s.PutVCard("alice", []byte{}) }, nil, vcard, got{}},
		{"nil delete of absent vcard", func() error { return s.PutVCard("alice", nil) }, nil, vcard, got{}},
		{"vcard without account", func() error { return s.PutVCard("nobody", []byte("<vCard/>")) }, ErrNotFound,
			func() (got, error) { v, f, err := s.VCard("nobody"); return got{string(v), f}, err }, got{}},
		{"put private", func() error { return s.PutPrivateXML("alice", "storage\x00storage:bookmarks", []byte("<storage/>")) }, nil,
			private("storage\x00storage:bookmarks"), got{"<storage/>", true}},
		{"other private key", func() error { return nil }, nil, private("storage\x00storage:rosternotes"), got{}},
		{"private key that looks like the vcard key", func() error { return nil }, nil, private("vcard"), got{}},
		{"delete private", func() error { return s.PutPrivateXML("alice", "storage\x00storage:bookmarks", nil) }, nil,
			private("storage\x00storage:bookmarks"), got{}},
	}
	for _, st := range steps {
		if err := st.do(); !errors.Is(err, st.wantErr) {
			t.Errorf("%s: got %v, want %v", st.name, err, st.wantErr)
		}
		g, err := st.read()
		if err != nil {
			t.Fatalf("%s: read: %v", st.name, err)
		}
		if g != st.want {
			t.Errorf("%s: read %+v, want %+v", st.name, g, st.want)
		}
	}
}

func TestLastActivity(t *testing.T) {
	s, _ := openTest(t, testOptions())
	mustCreate(t, s, "alice")
	if _, _, found, err := s.LastActivity("alice"); found || err != nil {
		t.Errorf("LastActivity before any = found %t, %v; want not found", found, err)
	}
	tests := []struct {
		name   string
		at     time.Time
		status string
	}{
		{"plain", time.Date(2025, 2, 3, 4, 5, 6, 7, time.UTC), "Gone fishing"},
		{"empty status", time.Date(2025, 2, 3, 4, 5, 6, 0, time.UTC), ""},
		{"unicode status, other zone", time.Date(2025, 2, 3, 4, 5, 6, 0, time.FixedZone("CET", 3600)), "Schlafen 😴"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			must(t, s.SetLastActivity("alice", tt.at, tt.status))
			at, status, found, err := s.LastActivity("alice")
			if err != nil || !found || !at.Equal(tt.at) || status != tt.status {
				t.Errorf("LastActivity = %v, %q, %t, %v; want %v, %q, true", at, status, found, err, tt.at, tt.status)
			}
		})
	}
	if err := s.SetLastActivity("nobody", time.Now(), ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetLastActivity(nobody) = %v, want ErrNotFound", err)
	}
}

func TestBlockList(t *testing.T) {
	s, _ := openTest(t, testOptions())
	mustCreate(t, s, "alice", "alice2")
	must(t, s.Block("alice2", "keep@example.org"))
	steps := []struct {
		name    string
		do      func() error
		wantErr error
		want    []string
	}{
		{"empty", func() error { return nil }, nil, []string{}},
		{"block two", func() error { return s.Block("alice", "spam@example.net", "example.com") }, nil, []string{"example.com", "spam@example.net"}},
		{"block again", func() error { return s.Block("alice", "spam@example.net") }, nil, []string{"example.com", "spam@example.net"}},
		{"block one more", func() error { return s.Block("alice", "a@b/c") }, nil, []string{"a@b/c", "example.com", "spam@example.net"}},
		{"unblock one", func() error { return s.Unblock("alice", "example.com") }, nil, []string{"a@b/c", "spam@example.net"}},
		{"unblock unknown", func() error { return s.Unblock("alice", "never@example.org") }, nil, []string{"a@b/c", "spam@example.net"}},
		{"block without account", func() error { return s.Block("nobody", "x@example.org") }, ErrNotFound, []string{"a@b/c", "spam@example.net"}},
		{"unblock all", func() error { return s.Unblock("alice") }, nil, []string{}},
	}
	for _, st := range steps {
		if err := st.do(); !errors.Is(err, st.wantErr) {
			t.Errorf("%s: got %v, want %v", st.name, err, st.wantErr)
		}
		got := []string{}
		must(t, s.BlockList("alice", func(j string) error { got = append(got, j); return nil }))
		if diff := cmp.Diff(st.want, got); diff != "" {
			t.Errorf("%s: BlockList mismatch (-want +got):\n%s", st.name, diff)
		}
	}
	var other []string
	must(t, s.BlockList("alice2", func(j string) error { other = append(other, j); return nil }))
	if diff := cmp.Diff([]string{"keep@example.org"}, other); diff != "" {
		t.Errorf("alice2's block list changed (-want +got):\n%s", diff)
	}
}

func TestBlobs(t *testing.T) {
	s, _ := openTest(t, testOptions())
	type kv struct{ K, V string }
	list := func(prefix string) []kv {
		out := []kv{}
		must(t, s.Blobs(prefix, func(k string, v []byte) error { out = append(out, kv{k, string(v)}); return nil }))
		return out
	}
	must(t, s.PutBlob("acme/example.org", []byte("cert")))
	must(t, s.PutBlob("acme/account+key", []byte("key")))
	must(t, s.PutBlob("secret/dialback", []byte("s3cret")))
	must(t, s.PutBlob("acme/empty", nil))
	tests := []struct {
		name   string
		prefix string
		want   []kv
	}{
		{"all", "", []kv{{"acme/account+key", "key"}, {"acme/empty", ""}, {"acme/example.org", "cert"}, {"secret/dialback", "s3cret"}}},
		{"prefix", "acme/", []kv{{"acme/account+key", "key"}, {"acme/empty", ""}, {"acme/example.org", "cert"}}},
		{"exact key as prefix", "secret/dialback", []kv{{"secret/dialback", "s3cret"}}},
		{"no match", "zzz", []kv{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, list(tt.prefix)); diff != "" {
				t.Errorf("Blobs(%q) mismatch (-want +got):\n%s", tt.prefix, diff)
			}
		})
	}
	v, found, err := s.Blob("acme/empty")
	if err != nil || !found || v == nil || len(v) != 0 {
		t.Errorf("Blob(acme/empty) = %q (nil %t), %t, %v; want empty and found", v, v == nil, found, err)
	}
	must(t, s.DeleteBlob("acme/example.org"))
	must(t, s.DeleteBlob("acme/example.org"))
	if v, found, err := s.Blob("acme/example.org"); found || err != nil {
		t.Errorf("Blob after delete = %q, %t, %v; want not found", v, found, err)
	}
}

func TestStats(t *testing.T) {
	s, _ := openTest(t, testOptions())
	mustCreate(t, s, "alice", "bob")
	for _, c := range []string{"x@example.org", "y@example.org"} {
		if _, _, err := s.UpdateRosterItem("alice", c, func([]byte) ([]byte, error) { return []byte("i"), nil }); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.AppendOffline("bob", []byte("<message/>"), time.Now(), 10); err != nil {
		t.Fatal(err)
	}
	must(t, s.PutBlob("k", []byte("v")))
	got, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if got.Size <= 0 {
		t.Errorf("Stats().Size = %d, want > 0", got.Size)
	}
	got.Size = 0
	want := Stats{Schema: SchemaVersion, Accounts: 2, RosterItems: 2, OfflineMessages: 1, Blobs: 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Stats() mismatch (-want +got):\n%s", diff)
	}
}
