package store

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

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
