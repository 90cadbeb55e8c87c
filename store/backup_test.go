package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.etcd.io/bbolt"
)

// TestBackupWhileWriting takes backups while writers append offline
// messages and change rosters, then checks that each backup opens as a
// store and holds a consistent state: the invariants across buckets hold
// (message counters, roster versions) and every writer's messages are a
// gapless prefix of what it wrote.
func TestBackupWhileWriting(t *testing.T) {
	s, _ := openTest(t, testOptions())
	users := []string{"w0", "w1", "w2", "w3"}
	mustCreate(t, s, users...)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, len(users))
	for _, u := range users {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.AppendOffline(u, fmt.Appendf(nil, "%d", i), time.Unix(int64(i), 0), 1<<30); err != nil {
					errs <- err
					return
				}
				contact := fmt.Sprintf("c%d@example.org", i%7)
				if _, _, err := s.UpdateRosterItem(u, contact, func(old []byte) ([]byte, error) {
					if i%3 == 0 {
						return nil, nil
					}
					return fmt.Appendf(nil, "%d", i), nil
				}); err != nil {
					errs <- err
					return
				}
			}
		})
	}

	dir := t.TempDir()
	var backups []string
	for b := range 3 {
		// Wait for progress so each backup lands among running writes.
		waitFor(t, func() bool {
			n, err := s.OfflineCount("w0")
			return err == nil && n > 20*(b+1)
		})
		path := filepath.Join(dir, fmt.Sprintf("backup%d.db", b))
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		n, err := s.Backup(f)
		if err != nil {
			t.Fatalf("Backup() = %v", err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(path); err != nil || fi.Size() != n {
			t.Errorf("Backup() = %d bytes, file has %v (%v)", n, fi.Size(), err)
		}
		backups = append(backups, path)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	for _, path := range backups {
		b, err := Open(path, testOptions())
		if err != nil {
			t.Fatalf("Open(backup) = %v", err)
		}
		for _, u := range users {
			want := 0
			if err := b.Offline(u, func(_ uint64, _ time.Time, stanza []byte) error {
				if got := string(stanza); got != fmt.Sprint(want) {
					return fmt.Errorf("%s: message %q where %d was next", u, got, want)
				}
				want++
				return nil
			}); err != nil {
				t.Error(err)
			}
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		checkFile(t, path, DefaultRosterHistory)
	}
}

// waitFor polls cond; it is a progress wait, not a timing assertion.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestRestore(t *testing.T) {
	// A good backup with one account and a message.
	src, _ := openTest(t, testOptions())
	mustCreate(t, src, "restored")
	if _, err := src.AppendOffline("restored", []byte("<message/>"), time.Unix(1, 0), 10); err != nil {
		t.Fatal(err)
	}
	var good bytes.Buffer
	if _, err := src.Backup(&good); err != nil {
		t.Fatal(err)
	}

	rawFile := func(fn func(tx *bbolt.Tx) error) []byte {
		path := filepath.Join(t.TempDir(), "raw.db")
		rawBolt(t, path, fn)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	noMeta := rawFile(func(tx *bbolt.Tx) error { _, err := tx.CreateBucket([]byte(bucketAccounts)); return err })
	newer := rawFile(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucket([]byte(bucketMeta))
		if err != nil {
			return err
		}
		return b.Put([]byte(metaSchemaKey), binary.BigEndian.AppendUint32(nil, SchemaVersion+1))
	})

	page := os.Getpagesize()
	scrambled := bytes.Clone(good.Bytes())
	for i := 2 * page; i < len(scrambled); i++ {
		scrambled[i] = byte(i * 7)
	}

	tests := []struct {
		name    string
		backup  []byte
		target  string // "existing" (a store holding account "old"), "missing", "locked"
		wantErr error
	}{
		{"over an existing store", good.Bytes(), "existing", nil},
		{"to a new path", good.Bytes(), "missing", nil},
		{"garbage", bytes.Repeat([]byte("not bolt"), 1024), "existing", ErrNotStore},
		{"empty", nil, "existing", ErrNotStore},
		{"truncated", good.Bytes()[:good.Len()/2], "existing", ErrCorrupt},
		{"first page only", good.Bytes()[:page], "existing", ErrNotStore},
		{"scrambled pages", scrambled, "existing", ErrCorrupt},
		{"bbolt file without schema", noMeta, "existing", ErrNotStore},
		{"newer schema", newer, "existing", ErrSchema},
		{"locked target", good.Bytes(), "locked", ErrLocked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "roost.db")
			if tt.target != "missing" {
				s, err := Open(path, testOptions())
				if err != nil {
					t.Fatal(err)
				}
				mustCreate(t, s, "old")
				if tt.target == "locked" {
					defer s.Close()
				} else if err := s.Close(); err != nil {
					t.Fatal(err)
				}
			}
			before, _ := os.ReadFile(path)

			err := Restore(bytes.NewReader(tt.backup), path, Options{Timeout: 50 * time.Millisecond})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Restore() = %v, want %v", err, tt.wantErr)
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 1 || entries[0].Name() != "roost.db" {
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				t.Errorf("directory holds %q, want only roost.db", names)
			}
			if tt.wantErr != nil {
				if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
					t.Errorf("failed Restore changed the target")
				}
				return
			}
			if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("restored file mode = %v, %v; want 0600", fi.Mode().Perm(), err)
			}
			s, err := Open(path, testOptions())
			if err != nil {
				t.Fatalf("Open(restored) = %v", err)
			}
			defer s.Close()
			for user, want := range map[string]bool{"restored": true, "old": false} {
				if _, found, err := s.Account(user); found != want || err != nil {
					t.Errorf("restored Account(%s) found = %t, %v; want %t", user, found, err, want)
				}
			}
			if n, err := s.OfflineCount("restored"); n != 1 || err != nil {
				t.Errorf("restored OfflineCount = %d, %v; want 1", n, err)
			}
		})
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
