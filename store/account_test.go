package store

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.etcd.io/bbolt"
)

func TestAccounts(t *testing.T) {
	s, _ := openTest(t, testOptions())
	alice := testAccount("alice")
	alice.SCRAM["SHA-1"] = SCRAMKeys{Salt: []byte{9}, Iterations: 1, StoredKey: []byte{3}, ServerKey: []byte{4}}
	newKeys := map[string]SCRAMKeys{"SHA-256": {Salt: []byte("new"), Iterations: 10000, StoredKey: []byte{5}, ServerKey: []byte{6}}}

	steps := []struct {
		name    string
		do      func() error
		wantErr error
		user    string
		want    *Account // nil: want not found
	}{
		{name: "absent", do: func() error { return nil }, user: "alice"},
		{name: "create", do: func() error { return s.CreateAccount(alice) }, user: "alice", want: &alice},
		{name: "create again", do: func() error { return s.CreateAccount(testAccount("alice")) }, wantErr: ErrExists, user: "alice", want: &alice},
		{name: "create without credentials", do: func() error { return s.CreateAccount(Account{Username: "nocreds"}) },
			user: "nocreds", want: &Account{Username: "nocreds"}},
		{name: "set credentials", do: func() error { return s.SetCredentials("alice", newKeys) }, user: "alice",
			want: &Account{Username: "alice", Created: alice.Created, SCRAM: newKeys}},
		{name: "set credentials of nobody", do: func() error { return s.SetCredentials("nobody", newKeys) }, wantErr: ErrNotFound, user: "nobody"},
	}
	for _, st := range steps {
		if err := st.do(); !errors.Is(err, st.wantErr) {
			t.Errorf("%s: got %v, want %v", st.name, err, st.wantErr)
		}
		got, found, err := s.Account(st.user)
		if err != nil {
			t.Fatalf("%s: Account(%q) = %v", st.name, st.user, err)
		}
		if st.want == nil {
			if found {
				t.Errorf("%s: Account(%q) found %+v, want none", st.name, st.user, got)
			}
			continue
		}
		if !found {
			t.Errorf("%s: Account(%q) not found", st.name, st.user)
		}
		if diff := cmp.Diff(*st.want, got); diff != "" {
			t.Errorf("%s: Account(%q) mismatch (-want +got):\n%s", st.name, st.user, diff)
		}
	}

	mustCreate(t, s, "zed", "bob", "al")
	var names []string
	if err := s.Accounts(func(u string) error { names = append(names, u); return nil }); err != nil {
		t.Fatal(err)
	}
	if want := []string{"al", "alice", "bob", "nocreds", "zed"}; !slices.Equal(names, want) {
		t.Errorf("Accounts() = %q, want %q", names, want)
	}
	stop := errors.New("stop")
	n := 0
	if err := s.Accounts(func(string) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Errorf("Accounts(stop) = %v after %d calls, want stop after 1", err, n)
	}
}

// TestDeleteAccountRemovesEverything fills every kind of per-user data for
// alice and for users whose names share her prefix, deletes alice and scans
// every bucket in the file for her keys.
func TestDeleteAccountRemovesEverything(t *testing.T) {
	s, path := openTest(t, Options{NoSync: true, Timeout: 100 * time.Millisecond, RosterHistory: 3})
	users := []string{"alice", "alic", "alice2", "alice.x"}
	mustCreate(t, s, users...)
	stamp := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, u := range users {
		for _, c := range []string{"bob@example.org", "carol@example.org", "dave@example.org"} {
			if _, _, err := s.UpdateRosterItem(u, c, func([]byte) ([]byte, error) { return []byte("item"), nil }); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := s.UpdateRosterItem(u, "dave@example.org", func([]byte) ([]byte, error) { return nil, nil }); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if _, err := s.AppendOffline(u, []byte("<message/>"), stamp, 10); err != nil {
				t.Fatal(err)
			}
		}
		must(t, s.PutVCard(u, []byte("<vCard/>")))
		must(t, s.PutPrivateXML(u, "storage\x00storage:bookmarks", []byte("<storage/>")))
		must(t, s.SetLastActivity(u, stamp, "gone"))
		must(t, s.Block(u, "spam@example.net", "more@example.net"))
		must(t, s.PutArchivePrefs(u, []byte("always")))
		must(t, s.PutFastToken(u, "phone", FastToken{Mechanism: "HT-SHA-256-NONE", Key: []byte("key"), Expires: stamp.Add(time.Hour)}, stamp))
		for _, w := range []string{"bob@example.org", ""} {
			if _, err := s.AppendArchive(ArchiveRecord{Owner: u, Account: true, With: w, Stanza: []byte("<message/>")}, stamp); err != nil {
				t.Fatal(err)
			}
		}
		keep := func([]byte, bool, int) ([]byte, int, error) { return []byte("node"), 5, nil }
		if _, err := s.PublishPEPItem(u, "urn:xmpp:avatar:data", "abc", stamp, []byte("<item/>"), keep); err != nil {
			t.Fatal(err)
		}
		must(t, s.ReserveUpload(Upload{ID: "up-" + u, Owner: u, Size: 10, Created: stamp, Expires: stamp}, UploadQuota{}))
		must(t, s.SetAdmin(u, true))
		must(t, s.CreateInvite(Invite{Hash: inviteHash("inv-" + u), MaxUses: 1, Inviter: u, Register: true, Created: stamp, Expires: stamp}))
	}
	must(t, s.SyncArchive(t.Context()))
	must(t, s.PutBlob("alice", []byte("a server blob that happens to share the name")))
	before := keysByBucket(t, s)

	existed, err := s.DeleteAccount("alice")
	if err != nil || !existed {
		t.Fatalf("DeleteAccount(alice) = %t, %v; want true", existed, err)
	}
	existed, err = s.DeleteAccount("alice")
	if err != nil || existed {
		t.Errorf("second DeleteAccount(alice) = %t, %v; want false", existed, err)
	}

	// Upload records are keyed by ID (and expiry), not user: alice's end
	// in her ID. Invitations are keyed by the token's hash, not user:
	// alice's is the one she made.
	alices := func(bucket, k string) bool {
		return bucket != bucketBlobs && (k == "alice" || strings.HasPrefix(k, "alice\x00") || strings.HasSuffix(k, "up-alice") || k == string(inviteHash("inv-alice")))
	}
	after := keysByBucket(t, s)
	for bucket, keys := range after {
		for _, k := range keys {
			if alices(bucket, k) {
				t.Errorf("bucket %s still holds %q", bucket, k)
			}
		}
	}
	// Everything else survives: the other users' data and the blob.
	for bucket, keys := range before {
		var want []string
		for _, k := range keys {
			if !alices(bucket, k) {
				want = append(want, k)
			}
		}
		if diff := cmp.Diff(want, after[bucket], cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("bucket %s lost other keys (-want +got):\n%s", bucket, diff)
		}
	}
	_ = path
}

// keysByBucket lists the keys of every top-level bucket in the file, so a
// test sees buckets it does not know about.
func keysByBucket(t *testing.T, s *Store) map[string][]string {
	t.Helper()
	out := make(map[string][]string)
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
			out[string(name)] = []string{}
			return b.ForEach(func(k, _ []byte) error {
				out[string(name)] = append(out[string(name)], string(k))
				return nil
			})
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestAccountCodec(t *testing.T) {
	tests := []struct {
		name string
		a    Account
	}{
		{"no credentials", Account{Username: "a", Created: time.Unix(1700000000, 42).UTC()}},
		{"zero time", Account{Username: "a"}},
		{"two hashes", testAccountTwoHashes()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeAccount(tt.a.Username, encodeAccount(tt.a))
			if err != nil {
				t.Fatalf("decodeAccount() = %v", err)
			}
			if diff := cmp.Diff(tt.a, got); diff != "" {
				t.Errorf("round trip mismatch (-want +got):\n%s", diff)
			}
			// Appending to one decoded value must not clobber the next.
			for _, k := range got.SCRAM {
				_ = append(k.Salt, "CLOBBER"...)
			}
			if diff := cmp.Diff(tt.a, got); diff != "" {
				t.Errorf("after appending to salts (-want +got):\n%s", diff)
			}
		})
	}

	good := encodeAccount(testAccountTwoHashes())
	bad := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"unknown format", append([]byte{2}, good[1:]...)},
		{"truncated", good[:len(good)-1]},
		{"trailing byte", append(slices.Clone(good), 0)},
		{"huge count", append(slices.Clone(good[:13]), 0xff, 0xff, 0xff, 0xff, 0x0f)},
		{"overlong varint", append(slices.Clone(good[:13]), 0x80, 0x00)},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := decodeAccount("a", tt.b); !errors.Is(err, ErrCorrupt) {
				t.Errorf("decodeAccount(%x) = %+v, %v; want ErrCorrupt", tt.b, got, err)
			}
		})
	}
}

func testAccountTwoHashes() Account {
	return Account{
		Username: "alice",
		Created:  time.Date(2025, 3, 1, 12, 0, 0, 5, time.UTC),
		SCRAM: map[string]SCRAMKeys{
			"SHA-256": {Salt: []byte("0123456789abcdef"), Iterations: 4096, StoredKey: bytes.Repeat([]byte{1}, 32), ServerKey: bytes.Repeat([]byte{2}, 32)},
			"SHA-1":   {Salt: []byte("salt"), Iterations: 10000, StoredKey: bytes.Repeat([]byte{3}, 20), ServerKey: bytes.Repeat([]byte{4}, 20)},
		},
	}
}

// FuzzDecodeAccount checks that the account decoder never panics, fails
// only with ErrCorrupt, and accepts only canonical records: re-encoding a
// decoded record gives back the same bytes.
func FuzzDecodeAccount(f *testing.F) {
	f.Add(encodeAccount(testAccountTwoHashes()))
	f.Add(encodeAccount(Account{}))
	f.Add(encodeAccount(testAccount("bob")))
	f.Add([]byte{1})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := decodeAccount("u", b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decodeAccount(%x) = %v, want ErrCorrupt", b, err)
			}
			return
		}
		again := encodeAccount(a)
		if !bytes.Equal(again, b) {
			t.Fatalf("encode(decode(%x)) = %x", b, again)
		}
		a2, err := decodeAccount("u", again)
		if err != nil {
			t.Fatalf("decode(encode(decode(%x))) = %v", b, err)
		}
		if diff := cmp.Diff(a, a2); diff != "" {
			t.Fatalf("second decode differs (-first +second):\n%s", diff)
		}
	})
}

func BenchmarkAccount(b *testing.B) {
	s, _ := openTest(b, testOptions())
	for i := range 1000 {
		mustCreate(b, s, fmt.Sprintf("user%04d", i))
	}
	mustCreate(b, s, "alice")
	b.ReportAllocs()
	for b.Loop() {
		if _, found, err := s.Account("alice"); !found || err != nil {
			b.Fatalf("Account(alice) = %t, %v", found, err)
		}
	}
}
