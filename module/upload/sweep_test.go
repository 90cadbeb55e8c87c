package upload

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"roost/jid"
)

// TestExpire: lapsed slots and expired files go, record and body; others
// stay, and a slot whose PUT runs is left to it.
func TestExpire(t *testing.T) {
	e := newEnv(t, nil)
	s := newServer(t, e)
	done := func(name string) string {
		put, auth, _ := e.slot(t, name, 3, "")
		if resp, _ := s.do(t, "PUT", s.local(put), []byte("abc"), "Authorization", auth); resp.StatusCode != http.StatusCreated {
			t.Fatal(resp.Status)
		}
		return idOf(put)
	}
	old := done("old")
	e.clock.Add(time.Hour)
	young := done("young")
	lapsed, _, _ := e.slot(t, "lapsed", 3, "")
	running, runAuth, _ := e.slot(t, "running", 1000, "")
	rawPut(t, s, running, runAuth, 1000, make([]byte, 10))
	waitFor(t, "the PUT to start", func() bool { return e.m.active.busy(idOf(running)) })

	e.clock.Add(DefaultExpireAfter - 30*time.Minute) // old is due, young not
	if err := e.m.expire(context.Background()); err != nil {
		t.Fatal(err)
	}
	var records []string
	for id := range e.store.files {
		records = append(records, id)
	}
	slices.Sort(records)
	want := []string{idOf(running), young}
	slices.Sort(want)
	if !slices.Equal(records, want) {
		t.Errorf("records %q, want %q (old %s and lapsed %s gone)", records, want, old, idOf(lapsed))
	}
	if _, err := os.Stat(filepath.Join(e.dir, old)); !os.IsNotExist(err) {
		t.Errorf("the expired body is still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(e.dir, young)); err != nil {
		t.Errorf("the young body is gone: %v", err)
	}
}

// TestTidy: at start and after an account deletion, bodies without a
// complete record and stale temporary files go; complete bodies, running
// PUTs and files that are not roost's stay.
func TestTidy(t *testing.T) {
	e := newEnv(t, nil)
	s := newServer(t, e)
	put, auth, _ := e.slot(t, "kept", 3, "")
	if resp, _ := s.do(t, "PUT", s.local(put), []byte("abc"), "Authorization", auth); resp.StatusCode != http.StatusCreated {
		t.Fatal(resp.Status)
	}
	kept := idOf(put)
	running, runAuth, _ := e.slot(t, "running", 1000, "")
	rawPut(t, s, running, runAuth, 1000, make([]byte, 10))
	waitFor(t, "the PUT to start", func() bool { return e.m.active.busy(idOf(running)) })
	pending, _, _ := e.slot(t, "pending", 3, "")
	for name, content := range map[string]string{
		"BBBBBBBBBBBBBBBBBBBBBB":   "no record",
		idOf(pending):              "a record not complete (a crash before it was)",
		tempPrefix + idOf(pending): "a crashed PUT",
		"README":                   "not ours",
	} {
		if err := os.WriteFile(filepath.Join(e.dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.m.tidy(); err != nil {
		t.Fatal(err)
	}
	names := e.dirNames(t)
	slices.Sort(names)
	want := []string{tempPrefix + idOf(running), "README", kept}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("after tidy: %q, want %q", names, want)
	}

	// An account deletion: its records go with the account (the store),
	// the sweeper job removes the bodies.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.m.runSweeper(ctx) }()
	e.store.deleteOwner("alice@example.org")
	e.m.AccountDeleted(ctx, jid.MustParse("alice@example.org"))
	waitFor(t, "the deleted account's body to go", func() bool {
		_, err := os.Stat(filepath.Join(e.dir, kept))
		return os.IsNotExist(err)
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("runSweeper = %v", err)
	}
}

// TestHoldFiles: while a backup holds the files, the sweeper deletes
// nothing.
func TestHoldFiles(t *testing.T) {
	e := newEnv(t, nil)
	_, _, _ = e.slot(t, "a", 3, "")
	release := e.m.HoldFiles()
	e.clock.Add(time.Hour)
	finished := make(chan struct{})
	go func() {
		_ = e.m.expire(context.Background())
		close(finished)
	}()
	select {
	case <-finished:
		t.Fatal("the sweeper ran while the files were held")
	case <-time.After(100 * time.Millisecond):
	}
	release()
	<-finished
	if len(e.store.files) != 0 {
		t.Errorf("records left after the hold: %v", e.store.files)
	}
}
