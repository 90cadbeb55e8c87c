package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestCompact fills a store, deletes most of it, compacts it and finds a
// smaller file with what was left, and refuses to compact an open store.
func TestCompact(t *testing.T) {
	path := filepath.Join(t.TempDir(), "roost.db")
	s, err := Open(path, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, "a@example.org", "b@example.org")
	body := []byte(fmt.Sprintf("<message><body>%0500d</body></message>", 0))
	for i := range 5000 {
		for _, u := range []string{"a@example.org", "b@example.org"} {
			if _, err := s.AppendArchive(ArchiveRecord{Owner: u, Account: true, With: "c@example.org", Stanza: body}, t0.Add(time.Duration(i)*time.Second)); err != nil {
				t.Fatal(err)
			}
		}
	}
	must(t, s.SyncArchive(t.Context()))
	if _, err := s.DeleteAccount("a@example.org"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Compact(path, testOptions()); !errors.Is(err, ErrLocked) {
		t.Errorf("Compact of an open store = %v, want ErrLocked", err)
	}
	must(t, s.Close())

	before, after, err := Compact(path, testOptions())
	if err != nil {
		t.Fatalf("Compact = %v", err)
	}
	if fi, _ := os.Stat(path); fi.Size() != after || after >= before*3/4 {
		t.Errorf("compacted %d → %d bytes (file %d), want well under the original", before, after, fi.Size())
	}
	if _, err := os.Stat(path + ".compact"); !os.IsNotExist(err) {
		t.Errorf("temporary file left behind: %v", err)
	}
	checkFile(t, path, DefaultRosterHistory)
	s, err = Open(path, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sum, err := s.ArchiveSummary("b@example.org")
	if err != nil || sum.Count != 5000 {
		t.Errorf("b's archive after compaction: %+v, %v; want 5000 messages", sum, err)
	}
	if _, found, _ := s.Account("a@example.org"); found {
		t.Errorf("the deleted account came back")
	}
}
