package store

import (
	"encoding/binary"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.etcd.io/bbolt"
)

func TestRooms(t *testing.T) {
	s, _ := openTest(t, testOptions())
	for room, rec := range map[string]string{
		"family@conference.example.org":  `{"name":"Family"}`,
		"holiday@conference.example.org": `{"name":"Holiday"}`,
		"chess@conference.example.net":   `{}`,
	} {
		if err := s.PutRoom(room, []byte(rec)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutRoom("family@conference.example.org", []byte(`{"name":"The family"}`)); err != nil {
		t.Fatal(err)
	}
	list := func(domain string) []string {
		var out []string
		if err := s.Rooms(domain, func(room string, rec []byte) error {
			out = append(out, room+" "+string(rec))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	tests := []struct {
		domain string
		want   []string
	}{
		{"conference.example.org", []string{`family@conference.example.org {"name":"The family"}`, `holiday@conference.example.org {"name":"Holiday"}`}},
		{"conference.example.net", []string{`chess@conference.example.net {}`}},
		{"example.org", nil},
		{"", []string{`chess@conference.example.net {}`, `family@conference.example.org {"name":"The family"}`, `holiday@conference.example.org {"name":"Holiday"}`}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, list(tt.domain)); diff != "" {
			t.Errorf("Rooms(%q) (-want +got):\n%s", tt.domain, diff)
		}
	}
	rec, found, err := s.Room("holiday@conference.example.org")
	if err != nil || !found || string(rec) != `{"name":"Holiday"}` {
		t.Errorf("Room(holiday) = %q, %t, %v", rec, found, err)
	}
	if _, found, err := s.Room("nowhere@conference.example.org"); err != nil || found {
		t.Errorf("Room(nowhere) found = %t, %v; want false, nil", found, err)
	}
	if found, err := s.DeleteRoom("holiday@conference.example.org"); err != nil || !found {
		t.Errorf("DeleteRoom(holiday) = %t, %v; want true, nil", found, err)
	}
	if found, err := s.DeleteRoom("holiday@conference.example.org"); err != nil || found {
		t.Errorf("second DeleteRoom(holiday) = %t, %v; want false, nil", found, err)
	}
	for _, bad := range []string{"", "a\x00b@c", string(make([]byte, MaxKeyLen+1))} {
		if err := s.PutRoom(bad, nil); !errors.Is(err, ErrInvalid) {
			t.Errorf("PutRoom(%.10q) = %v, want ErrInvalid", bad, err)
		}
	}
}

// TestDeleteRoomArchive: a destroyed room's archive goes with it, queued
// messages included; another room's stays.
func TestDeleteRoomArchive(t *testing.T) {
	s, _ := openTest(t, testOptions())
	const room, other = "family@conference.example.org", "family@conference.example.org.uk"
	t0 := time.Date(2026, 12, 24, 18, 0, 0, 0, time.UTC)
	for i, r := range []string{room, other, room} {
		if err := s.PutRoom(r, []byte("{}")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AppendArchive(ArchiveRecord{Owner: r, With: r, Resource: "Mum", Stanza: []byte("<message/>")}, t0.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if found, err := s.DeleteRoom(room); err != nil || !found {
		t.Fatalf("DeleteRoom = %t, %v", found, err)
	}
	for _, tc := range []struct {
		room string
		want int
	}{{room, 0}, {other, 1}} {
		items, _, err := s.ArchivePage(tc.room, ArchiveQuery{Max: 10})
		if err != nil || len(items) != tc.want {
			t.Errorf("archive of %s after deleting %s: %d messages, %v; want %d", tc.room, room, len(items), err, tc.want)
		}
	}
}

// TestMigrateV1 opens a file of schema version 1, as wave 1 wrote it: it
// gains the wave-2 buckets, group chat's among them.
func TestMigrateV1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "roost.db")
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, name := range v1Buckets() {
			if _, err := tx.CreateBucket([]byte(name)); err != nil {
				return err
			}
		}
		return tx.Bucket([]byte(bucketMeta)).Put([]byte(metaSchemaKey), binary.BigEndian.AppendUint32(nil, 1))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, testOptions())
	if err != nil {
		t.Fatalf("Open(v1 file) = %v", err)
	}
	if err := s.PutRoom("family@conference.example.org", []byte("{}")); err != nil {
		t.Errorf("PutRoom after migration: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	checkFile(t, path, DefaultRosterHistory)
}
