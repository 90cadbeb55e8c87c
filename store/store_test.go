package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// testOptions are fast options for tests: no fsync, a short lock wait.
func testOptions() Options {
	return Options{NoSync: true, Timeout: 100 * time.Millisecond}
}

// openTest opens a store in a fresh temporary directory. Its cleanup closes
// the store and then checks the file: bbolt's page-level tx.Check, and the
// store's own invariants (checkInvariants).
func openTest(t testing.TB, opts Options) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "roost.db")
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open(%s) = %v", path, err)
	}
	history := opts.withDefaults().RosterHistory
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
		checkFile(t, path, history)
	})
	return s, path
}

// checkFile opens the bbolt file at path read-only and fails t on any
// tx.Check error or broken store invariant.
func checkFile(t testing.TB, path string, rosterHistory int) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Errorf("open %s for checking: %v", path, err)
		return
	}
	defer db.Close()
	err = db.View(func(tx *bbolt.Tx) error {
		for err := range tx.Check() {
			t.Errorf("tx.Check: %v", err)
		}
		checkInvariants(t, tx, rosterHistory)
		return nil
	})
	if err != nil {
		t.Errorf("check %s: %v", path, err)
	}
}

// checkInvariants verifies what the store's methods promise to keep true
// across buckets: the schema is current, account records decode, no
// per-user data exists without an account, offline counters match the
// messages, and roster versions bound item and tombstone versions.
func checkInvariants(t testing.TB, tx *bbolt.Tx, rosterHistory int) {
	t.Helper()
	if v, err := schemaVersion(tx); err != nil || v != SchemaVersion {
		t.Errorf("schema version = %d, %v; want %d", v, err, SchemaVersion)
	}
	accounts := tx.Bucket([]byte(bucketAccounts))
	_ = accounts.ForEach(func(k, v []byte) error {
		if _, err := decodeAccount(string(k), v); err != nil {
			t.Errorf("account %q: %v", k, err)
		}
		return nil
	})
	type userData struct {
		offline, tombstones int
		maxItemVer          uint64
		maxTombVer          uint64
	}
	users := make(map[string]*userData)
	get := func(u string) *userData {
		if users[u] == nil {
			users[u] = &userData{}
		}
		return users[u]
	}
	for _, name := range userBuckets() {
		_ = tx.Bucket([]byte(name)).ForEach(func(k, v []byte) error {
			user, rest, ok := bytes.Cut(k, []byte{0})
			if !ok {
				t.Errorf("bucket %s: key %q has no user prefix", name, k)
				return nil
			}
			if accounts.Get(user) == nil {
				t.Errorf("bucket %s: key %q belongs to no account", name, k)
			}
			d := get(string(user))
			switch name {
			case bucketOffline:
				d.offline++
			case bucketRosterLog:
				d.tombstones++
				d.maxTombVer = max(d.maxTombVer, binary.BigEndian.Uint64(rest))
			case bucketRoster:
				d.maxItemVer = max(d.maxItemVer, binary.BigEndian.Uint64(v))
			}
			return nil
		})
	}
	checkArchiveInvariants(t, tx)
	checkPEPInvariants(t, tx)
	for user, d := range users {
		n, err := loadOfflineCount(tx, user)
		if err != nil || n != uint64(d.offline) {
			t.Errorf("user %q: offline count = %d, %v; messages stored = %d", user, n, err, d.offline)
		}
		st, err := loadRosterState(tx, user)
		if err != nil {
			t.Errorf("user %q: roster state: %v", user, err)
		}
		if (d.maxItemVer > 0 || d.tombstones > 0) && !st.exists {
			t.Errorf("user %q: roster items without a roster state", user)
		}
		if d.maxItemVer > st.ver || d.maxTombVer > st.ver || st.floor > st.ver {
			t.Errorf("user %q: roster ver %d floor %d, newest item %d, newest tombstone %d",
				user, st.ver, st.floor, d.maxItemVer, d.maxTombVer)
		}
		if d.tombstones > rosterHistory {
			t.Errorf("user %q: %d tombstones, want at most %d", user, d.tombstones, rosterHistory)
		}
	}
	checkUploadInvariants(t, tx)
}

// checkUploadInvariants checks that every upload record has its owner's
// index entry (with its size) and its expiry entry, that no index entry is
// left without a record, and that the running total is the sum of sizes.
func checkUploadInvariants(t testing.TB, tx *bbolt.Tx) {
	t.Helper()
	users := tx.Bucket([]byte(bucketUploadUsers))
	expiry := tx.Bucket([]byte(bucketUploadExpiry))
	var sum int64
	records := 0
	_ = tx.Bucket([]byte(bucketUploads)).ForEach(func(k, v []byte) error {
		records++
		u, err := decodeUpload(string(k), v)
		if err != nil {
			t.Errorf("upload %q: %v", k, err)
			return nil
		}
		sum += u.Size
		if got := users.Get(userKey(u.Owner, u.ID)); len(got) != 8 || int64(binary.BigEndian.Uint64(got)) != u.Size {
			t.Errorf("upload %q: owner index entry %x, want size %d", k, got, u.Size)
		}
		if expiry.Get(expiryKey(u.Expires, u.ID)) == nil {
			t.Errorf("upload %q: no expiry index entry", k)
		}
		return nil
	})
	if n := users.Stats().KeyN; n != records {
		t.Errorf("%d owner index entries for %d upload records", n, records)
	}
	if n := expiry.Stats().KeyN; n != records {
		t.Errorf("%d expiry index entries for %d upload records", n, records)
	}
	if total, err := loadUploadBytes(tx); err != nil || total != sum {
		t.Errorf("upload total = %d, %v; records sum to %d", total, err, sum)
	}
}

// checkPEPInvariants checks that every PEP item has its place in its
// node's order and the other way round, and that items belong to a node.
func checkPEPInvariants(t testing.TB, tx *bbolt.Tx) {
	t.Helper()
	nodes := tx.Bucket([]byte(bucketPEPNodes))
	items := tx.Bucket([]byte(bucketPEPItems))
	_ = items.ForEach(func(k, v []byte) error {
		user, rest, _ := bytes.Cut(k, []byte{0})
		node, rest, ok := bytes.Cut(rest, []byte{0})
		if !ok || len(rest) == 0 {
			t.Errorf("pep item key %q: no node", k)
			return nil
		}
		if nodes.Get(userKey(string(user), string(node))) == nil {
			t.Errorf("pep item %q: its node does not exist", k)
		}
		prefix := pepItemsPrefix(string(user), string(node))
		switch rest[0] {
		case 'i':
			if len(v) < pepItemHead {
				t.Errorf("pep item %q: short record", k)
				return nil
			}
			if got := items.Get(pepSeqKey(prefix, binary.BigEndian.Uint64(v))); string(got) != string(rest[1:]) {
				t.Errorf("pep item %q: order entry names %q", k, got)
			}
		case 's':
			rec := items.Get(pepIDKey(prefix, string(v)))
			if len(rec) < 8 || !bytes.Equal(rec[:8], rest[1:]) {
				t.Errorf("pep order entry %q: item %q has record %x", k, v, rec)
			}
		default:
			t.Errorf("pep item key %q: unknown kind", k)
		}
		return nil
	})
}

// checkArchiveInvariants verifies the archive buckets: every record
// decodes, each owner's state counts its records and their size, and the
// with index has exactly one entry per record with a With, carrying its
// resource.
func checkArchiveInvariants(t testing.TB, tx *bbolt.Tx) {
	t.Helper()
	states := make(map[string]archiveState)
	index := make(map[string]string) // with index key → resource
	_ = tx.Bucket([]byte(bucketArchiveWith)).ForEach(func(k, v []byte) error {
		index[string(k)] = string(v)
		return nil
	})
	_ = tx.Bucket([]byte(bucketArchive)).ForEach(func(k, v []byte) error {
		owner, rest, ok := bytes.Cut(k, []byte{0})
		if !ok || len(rest) != 8 {
			t.Errorf("archive key %q is not owner \\0 id", k)
			return nil
		}
		_, with, res, _, err := decodeArchiveValue(v)
		if err != nil {
			t.Errorf("archive record %q: %v", k, err)
			return nil
		}
		st := states[string(owner)]
		st.n++
		st.size += recordSize(k, v)
		states[string(owner)] = st
		if len(with) > 0 {
			wk := string(owner) + "\x00" + string(with) + "\x00" + string(rest)
			if got, ok := index[wk]; !ok || got != string(res) {
				t.Errorf("archive record %q: with index entry = %q, %t; want %q", k, got, ok, res)
			}
			delete(index, wk)
		}
		return nil
	})
	for k := range index {
		t.Errorf("with index entry %q has no record", k)
	}
	_ = tx.Bucket([]byte(bucketArchiveState)).ForEach(func(k, _ []byte) error {
		owner := string(bytes.TrimSuffix(k, []byte{0}))
		if _, ok := states[owner]; !ok {
			t.Errorf("archive state for %q, which has no records", owner)
		}
		return nil
	})
	for owner, want := range states {
		got, err := loadArchiveState(tx, owner)
		if err != nil || got != want {
			t.Errorf("archive state of %q = %+v, %v; records say %+v", owner, got, err, want)
		}
	}
}

// mustCreate creates an account with one SCRAM-SHA-256 credential.
func mustCreate(t testing.TB, s *Store, users ...string) {
	t.Helper()
	for _, u := range users {
		if err := s.CreateAccount(testAccount(u)); err != nil {
			t.Fatalf("CreateAccount(%q) = %v", u, err)
		}
	}
}

func testAccount(user string) Account {
	return Account{
		Username: user,
		Created:  time.Date(2025, 3, 1, 12, 0, 0, 5, time.UTC),
		SCRAM: map[string]SCRAMKeys{
			"SHA-256": {Salt: []byte("salt-" + user), Iterations: 4096,
				StoredKey: bytes.Repeat([]byte{1}, 32), ServerKey: bytes.Repeat([]byte{2}, 32)},
		},
	}
}

// rawBolt creates a bbolt file at path and runs fn in a write transaction,
// to build files the store did not write.
func rawBolt(t testing.TB, path string, fn func(tx *bbolt.Tx) error) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second, NoSync: true})
	if err != nil {
		t.Fatalf("bbolt.Open(%s) = %v", path, err)
	}
	if err := db.Update(fn); err != nil {
		t.Fatalf("write raw file: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("close raw file: %v", err)
	}
}

func TestOpenCreatesPrivateFile(t *testing.T) {
	_, path := openTest(t, testOptions())
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fi.Mode().Perm(), os.FileMode(0o600); got != want {
		t.Errorf("mode = %v, want %v", got, want)
	}
}

func TestOpenLocked(t *testing.T) {
	_, path := openTest(t, testOptions())
	done := make(chan error, 1)
	go func() {
		s2, err := Open(path, Options{Timeout: 50 * time.Millisecond, NoSync: true})
		if err == nil {
			_ = s2.Close()
		}
		done <- err
	}()
	// A guard against a hang, not a timing assertion: the lock wait is 50ms.
	select {
	case err := <-done:
		if !errors.Is(err, ErrLocked) || !errors.Is(err, berrors.ErrTimeout) {
			t.Errorf("second Open = %v, want ErrLocked wrapping berrors.ErrTimeout", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("second Open did not return")
	}
}

func TestOpenExistingFiles(t *testing.T) {
	old := testAccount("old")
	tests := []struct {
		name    string
		prepare func(t *testing.T, path string)
		wantErr error // nil: opens, and account "old" is found when it was written
		wantOld bool
	}{
		{
			name:    "empty file",
			prepare: func(t *testing.T, path string) { writeFile(t, path, nil) },
		},
		{
			name: "v0 file without meta is upgraded",
			prepare: func(t *testing.T, path string) {
				rawBolt(t, path, func(tx *bbolt.Tx) error {
					b, err := tx.CreateBucket([]byte(bucketAccounts))
					if err != nil {
						return err
					}
					return b.Put([]byte("old"), encodeAccount(old))
				})
			},
			wantOld: true,
		},
		{
			name: "v0 file of another program",
			prepare: func(t *testing.T, path string) {
				rawBolt(t, path, func(tx *bbolt.Tx) error {
					_, err := tx.CreateBucket([]byte("widgets"))
					return err
				})
			},
			wantErr: ErrNotStore,
		},
		{
			name: "file from a newer roost",
			prepare: func(t *testing.T, path string) {
				rawBolt(t, path, func(tx *bbolt.Tx) error {
					b, err := tx.CreateBucket([]byte(bucketMeta))
					if err != nil {
						return err
					}
					return b.Put([]byte(metaSchemaKey), binary.BigEndian.AppendUint32(nil, SchemaVersion+1))
				})
			},
			wantErr: ErrSchema,
		},
		{
			name: "malformed schema version",
			prepare: func(t *testing.T, path string) {
				rawBolt(t, path, func(tx *bbolt.Tx) error {
					b, err := tx.CreateBucket([]byte(bucketMeta))
					if err != nil {
						return err
					}
					return b.Put([]byte(metaSchemaKey), []byte{1})
				})
			},
			wantErr: ErrCorrupt,
		},
		{
			name: "current file missing a bucket",
			prepare: func(t *testing.T, path string) {
				rawBolt(t, path, func(tx *bbolt.Tx) error {
					b, err := tx.CreateBucket([]byte(bucketMeta))
					if err != nil {
						return err
					}
					return b.Put([]byte(metaSchemaKey), binary.BigEndian.AppendUint32(nil, SchemaVersion))
				})
			},
			wantErr: ErrCorrupt,
		},
		{
			name: "truncated store",
			prepare: func(t *testing.T, path string) {
				s, err := Open(path, testOptions())
				if err != nil {
					t.Fatal(err)
				}
				mustCreate(t, s, "old")
				must(t, s.PutBlob("big", bytes.Repeat([]byte{'x'}, 256<<10)))
				// bbolt grows the file ahead of its pages; cut into the pages.
				st, err := s.Stats()
				if err != nil {
					t.Fatal(err)
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				if err := os.Truncate(path, st.Size/2); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: ErrCorrupt,
		},
		{
			name:    "not a bbolt file",
			prepare: func(t *testing.T, path string) { writeFile(t, path, bytes.Repeat([]byte("garbage!"), 2048)) },
			wantErr: berrors.ErrInvalid,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "roost.db")
			tt.prepare(t, path)
			s, err := Open(path, testOptions())
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Open() = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			_, found, err := s.Account("old")
			if err != nil || found != tt.wantOld {
				t.Errorf("Account(old) found = %t, %v; want %t", found, err, tt.wantOld)
			}
			st, err := s.Stats()
			if err != nil || st.Schema != SchemaVersion {
				t.Errorf("Stats().Schema = %d, %v; want %d", st.Schema, err, SchemaVersion)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			checkFile(t, path, DefaultRosterHistory)
		})
	}
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestMigrationsNumbered(t *testing.T) {
	migs := migrations()
	if got := uint32(len(migs)); got != SchemaVersion {
		t.Errorf("len(migrations()) = %d, want SchemaVersion %d", got, SchemaVersion)
	}
	for i, m := range migs {
		if m.to != uint32(i+1) {
			t.Errorf("migrations()[%d].to = %d, want %d", i, m.to, i+1)
		}
	}
}

// TestMigrate runs the mechanism with one more, test-only migration: it
// runs once, failures leave the old version, and the older code then refuses
// the newer file.
func TestMigrate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "roost.db")
	s, err := Open(path, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, "alice")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	var runs int
	fail := true
	cur, next := SchemaVersion, SchemaVersion+1
	v2 := append(migrations(), migration{to: next, what: "test", up: func(tx *bbolt.Tx) error {
		runs++
		b, err := tx.CreateBucket([]byte("extra"))
		if err != nil {
			return err
		}
		if err := b.Put([]byte("k"), []byte("v")); err != nil {
			return err
		}
		if fail {
			return errors.New("boom")
		}
		return nil
	}})

	steps := []struct {
		name       string
		migs       []migration
		fail       bool
		wantErr    error
		wantRuns   int
		wantSchema uint32
		wantExtra  bool
	}{
		{name: "failing migration", migs: v2, fail: true, wantErr: nil, wantRuns: 1, wantSchema: cur},
		{name: "upgrade", migs: v2, wantRuns: 2, wantSchema: next, wantExtra: true},
		{name: "reopen runs nothing", migs: v2, wantRuns: 2, wantSchema: next, wantExtra: true},
		{name: "older code refuses", migs: migrations(), wantRuns: 2, wantErr: ErrSchema, wantSchema: next, wantExtra: true},
	}
	for _, st := range steps {
		fail = st.fail
		s, err := open(path, testOptions(), st.migs)
		switch {
		case st.fail:
			if err == nil {
				t.Errorf("%s: open succeeded, want the migration error", st.name)
				_ = s.Close()
			}
		case !errors.Is(err, st.wantErr):
			t.Errorf("%s: open = %v, want %v", st.name, err, st.wantErr)
		case err == nil:
			if _, found, err := s.Account("alice"); !found || err != nil {
				t.Errorf("%s: Account(alice) found = %t, %v; want true", st.name, found, err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		}
		if runs != st.wantRuns {
			t.Errorf("%s: migration ran %d times, want %d", st.name, runs, st.wantRuns)
		}
		var gotSchema uint32
		var gotExtra bool
		rawBolt(t, path, func(tx *bbolt.Tx) error {
			gotSchema, err = schemaVersion(tx)
			gotExtra = tx.Bucket([]byte("extra")) != nil
			return err
		})
		if gotSchema != st.wantSchema || gotExtra != st.wantExtra {
			t.Errorf("%s: schema = %d, extra bucket = %t; want %d, %t", st.name, gotSchema, gotExtra, st.wantSchema, st.wantExtra)
		}
	}
}

func TestTimeRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		t    time.Time
	}{
		{"zero", time.Time{}},
		{"epoch", time.Unix(0, 0)},
		{"nanoseconds", time.Date(2025, 6, 1, 10, 11, 12, 999_999_999, time.UTC)},
		{"other zone", time.Date(2024, 2, 29, 23, 0, 0, 1, time.FixedZone("X", 5*3600))},
		{"before 1678", time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"after 2262", time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := appendTime(nil, tt.t)
			got, err := readTime(b)
			if err != nil || !got.Equal(tt.t) || got.IsZero() != tt.t.IsZero() {
				t.Errorf("readTime(appendTime(%v)) = %v, %v", tt.t, got, err)
			}
		})
	}
	if _, err := readTime([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("readTime(nanoseconds 2^32-1) = %v, want ErrCorrupt", err)
	}
}

func TestNameValidation(t *testing.T) {
	s, _ := openTest(t, testOptions())
	long := string(bytes.Repeat([]byte{'a'}, MaxKeyLen+1))
	tests := []struct {
		name string
		call func() error
	}{
		{"empty user", func() error { _, _, err := s.Account(""); return err }},
		{"user with NUL", func() error { return s.CreateAccount(testAccount("a\x00b")) }},
		{"long user", func() error { _, err := s.OfflineCount(long); return err }},
		{"empty contact", func() error { _, _, err := s.RosterItem("alice", ""); return err }},
		{"empty blob key", func() error { return s.PutBlob("", []byte("v")) }},
		{"long private key", func() error { return s.PutPrivateXML("alice", long, []byte("v")) }},
		{"empty jid", func() error { return s.Block("alice", "ok@example.org", "") }},
		{"zero iterations", func() error {
			a := testAccount("bob")
			k := a.SCRAM["SHA-256"]
			k.Iterations = 0
			a.SCRAM["SHA-256"] = k
			return s.CreateAccount(a)
		}},
		{"empty salt", func() error {
			return s.SetCredentials("alice", map[string]SCRAMKeys{"SHA-1": {Iterations: 1, StoredKey: []byte{1}, ServerKey: []byte{1}}})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, ErrInvalid) {
				t.Errorf("got %v, want ErrInvalid", err)
			}
		})
	}
}

// Opening a file already at the current schema reads it and writes
// nothing, so read-only commands leave it untouched.
func TestOpenCurrentSchemaWritesNothing(t *testing.T) {
	s, path := openTest(t, Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("opening and closing a current store changed the file")
	}
}
