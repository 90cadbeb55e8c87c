package store

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// keepN is a PEP change that creates or keeps a node with record rec and
// keeps its newest n items.
func keepN(rec string, n int) func([]byte, bool, int) ([]byte, int, error) {
	return func([]byte, bool, int) ([]byte, int, error) { return []byte(rec), n, nil }
}

func pepIDs(t *testing.T, s *Store, user, node string, ids []string, max int) []string {
	t.Helper()
	var got []string
	found, err := s.PEPItems(user, node, ids, max, func(id string, _ time.Time, item []byte) error {
		got = append(got, id+"="+string(item))
		return nil
	})
	if err != nil || !found {
		t.Fatalf("PEPItems(%s, %s) = %t, %v", user, node, found, err)
	}
	return got
}

func TestPEPPublishOrderAndTrim(t *testing.T) {
	s, _ := openTest(t, testOptions())
	mustCreate(t, s, "alice", "alice2")
	stamp := time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC)
	const node = "urn:xmpp:microblog:0"
	steps := []struct {
		name     string
		id, item string
		keep     int
		want     []string // every item, oldest first
	}{
		{"first", "a", "1", 3, []string{"a=1"}},
		{"second", "b", "2", 3, []string{"a=1", "b=2"}},
		{"republished id moves to newest", "a", "3", 3, []string{"b=2", "a=3"}},
		{"third", "c", "4", 3, []string{"b=2", "a=3", "c=4"}},
		{"beyond keep drops the oldest", "d", "5", 3, []string{"a=3", "c=4", "d=5"}},
		{"keep shrinks", "e", "6", 1, []string{"e=6"}},
		{"keep 0 stores nothing and empties", "f", "7", 0, nil},
		{"keep all", "g", "8", -1, []string{"g=8"}},
	}
	for i, st := range steps {
		created, err := s.PublishPEPItem("alice", node, st.id, stamp.Add(time.Duration(i)*time.Second), []byte(st.item), keepN("rec", st.keep))
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if created != (i == 0) {
			t.Errorf("%s: created = %t", st.name, created)
		}
		if got := pepIDs(t, s, "alice", node, nil, 0); !slices.Equal(got, st.want) {
			t.Errorf("%s: items %q, want %q", st.name, got, st.want)
		}
	}
	// Another user whose name shares the prefix is untouched.
	if _, err := s.PublishPEPItem("alice2", node, "x", stamp, []byte("other"), keepN("rec", 5)); err != nil {
		t.Fatal(err)
	}
	if got := pepIDs(t, s, "alice", node, nil, 0); !slices.Equal(got, []string{"g=8"}) {
		t.Errorf("alice's items after alice2 published: %q", got)
	}
}

func TestPEPItemsSelection(t *testing.T) {
	s, _ := openTest(t, testOptions())
	mustCreate(t, s, "bob")
	stamp := time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC)
	for i, id := range []string{"one", "two", "three", "four"} {
		if _, err := s.PublishPEPItem("bob", "n", id, stamp.Add(time.Duration(i)*time.Minute), []byte(fmt.Sprint(i)), keepN("r", -1)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		ids  []string
		max  int
		want []string
	}{
		{"all, oldest first", nil, 0, []string{"one=0", "two=1", "three=2", "four=3"}},
		{"newest two", nil, 2, []string{"three=2", "four=3"}},
		{"newest one", nil, 1, []string{"four=3"}},
		{"more than there are", nil, 10, []string{"one=0", "two=1", "three=2", "four=3"}},
		{"by id in the order asked", []string{"three", "one"}, 0, []string{"three=2", "one=0"}},
		{"missing ids skipped", []string{"nope", "two", "bad\x00id"}, 0, []string{"two=1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := pepIDs(t, s, "bob", "n", tc.ids, tc.max); !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	var stamps []time.Time
	if _, err := s.PEPItems("bob", "n", []string{"two"}, 0, func(_ string, at time.Time, _ []byte) error { stamps = append(stamps, at); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(stamps) != 1 || !stamps[0].Equal(stamp.Add(time.Minute)) {
		t.Errorf("published = %v, want %v", stamps, stamp.Add(time.Minute))
	}
	found, err := s.PEPItems("bob", "absent", nil, 0, func(string, time.Time, []byte) error { t.Error("called for an absent node"); return nil })
	if err != nil || found {
		t.Errorf("PEPItems(absent) = %t, %v; want false", found, err)
	}
}

func TestPEPNodesUpdateDelete(t *testing.T) {
	s, _ := openTest(t, testOptions())
	mustCreate(t, s, "carol")
	stamp := time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC)
	// fn sees what is stored and how many nodes there are.
	var seen []string
	spy := func(rec string, keep int) func([]byte, bool, int) ([]byte, int, error) {
		return func(old []byte, found bool, nodes int) ([]byte, int, error) {
			seen = append(seen, fmt.Sprintf("%s/%t/%d", old, found, nodes))
			if rec == "" {
				return nil, keep, nil
			}
			return []byte(rec), keep, nil
		}
	}
	steps := []struct {
		name        string
		node        string
		fn          func([]byte, bool, int) ([]byte, int, error)
		wantCreated bool
		wantSeen    string
	}{
		{"absent node left absent", "a", spy("", 5), false, "/false/0"},
		{"create", "a", spy("r1", -1), true, "/false/0"},
		{"create another", "b", spy("r2", -1), true, "/false/1"},
		{"change", "a", spy("r3", -1), false, "r1/true/2"},
		{"purge keeps the record", "a", spy("", 0), false, "r3/true/2"},
	}
	if _, err := s.PublishPEPItem("carol", "a", "i", stamp, []byte("x"), keepN("r0", -1)); err == nil {
		// Published before the steps: "a" exists from here on; undo it.
		if _, err := s.DeletePEPNode("carol", "a"); err != nil {
			t.Fatal(err)
		}
	}
	for _, st := range steps {
		seen = nil
		created, err := s.UpdatePEPNode("carol", st.node, st.fn)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if created != st.wantCreated || len(seen) != 1 || seen[0] != st.wantSeen {
			t.Errorf("%s: created %t, fn saw %q; want %t, %q", st.name, created, seen, st.wantCreated, st.wantSeen)
		}
	}
	if _, err := s.PublishPEPItem("carol", "b", "i1", stamp, []byte("x"), keepN("r2", -1)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdatePEPNode("carol", "b", keepN("r2", 0)); err != nil {
		t.Fatal(err)
	}
	if got := pepIDs(t, s, "carol", "b", nil, 0); got != nil {
		t.Errorf("purged node still has %q", got)
	}
	var nodes []string
	if err := s.PEPNodes("carol", func(n string, rec []byte) error { nodes = append(nodes, n+"="+string(rec)); return nil }); err != nil {
		t.Fatal(err)
	}
	if want := []string{"a=r3", "b=r2"}; !slices.Equal(nodes, want) {
		t.Errorf("PEPNodes = %q, want %q", nodes, want)
	}
	if _, err := s.PublishPEPItem("carol", "a", "i", stamp, []byte("x"), keepN("r3", -1)); err != nil {
		t.Fatal(err)
	}
	existed, err := s.DeletePEPNode("carol", "a")
	if err != nil || !existed {
		t.Fatalf("DeletePEPNode = %t, %v", existed, err)
	}
	if _, found, err := s.PEPNode("carol", "a"); found || err != nil {
		t.Errorf("deleted node found = %t, %v", found, err)
	}
	if existed, err := s.DeletePEPNode("carol", "a"); existed || err != nil {
		t.Errorf("second delete = %t, %v", existed, err)
	}
}

func TestPEPRetract(t *testing.T) {
	s, _ := openTest(t, testOptions())
	mustCreate(t, s, "dave")
	stamp := time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC)
	for _, id := range []string{"a", "b", "c"} {
		if _, err := s.PublishPEPItem("dave", "n", id, stamp, []byte(id), keepN("r", -1)); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := s.RetractPEPItems("dave", "n", []string{"b", "zz", "c"})
	if err != nil || !slices.Equal(removed, []string{"b", "c"}) {
		t.Errorf("RetractPEPItems = %q, %v; want [b c]", removed, err)
	}
	if got := pepIDs(t, s, "dave", "n", nil, 0); !slices.Equal(got, []string{"a=a"}) {
		t.Errorf("after retract: %q", got)
	}
}

func TestPEPErrors(t *testing.T) {
	s, _ := openTest(t, testOptions())
	mustCreate(t, s, "erin")
	stamp := time.Now()
	boom := errors.New("boom")
	refuse := func([]byte, bool, int) ([]byte, int, error) { return nil, 0, boom }
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"no account", func() error { _, err := s.PublishPEPItem("ghost", "n", "i", stamp, nil, keepN("r", 1)); return err }(), ErrNotFound},
		{"no account update", func() error { _, err := s.UpdatePEPNode("ghost", "n", keepN("r", 1)); return err }(), ErrNotFound},
		{"empty node", func() error { _, err := s.PublishPEPItem("erin", "", "i", stamp, nil, keepN("r", 1)); return err }(), ErrInvalid},
		{"NUL in node", func() error { _, _, err := s.PEPNode("erin", "a\x00b"); return err }(), ErrInvalid},
		{"NUL in id", func() error { _, err := s.PublishPEPItem("erin", "n", "i\x00", stamp, nil, keepN("r", 1)); return err }(), ErrInvalid},
		{"fn's error is returned", func() error { _, err := s.PublishPEPItem("erin", "n", "i", stamp, nil, refuse); return err }(), boom},
	}
	for _, tc := range tests {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	if _, found, _ := s.PEPNode("erin", "n"); found {
		t.Error("a refused publish created the node")
	}
}

func BenchmarkPEPLastItem(b *testing.B) {
	s, _ := openTest(b, testOptions())
	mustCreate(b, s, "alice")
	stamp := time.Now()
	for i := range 50 {
		if _, err := s.PublishPEPItem("alice", "n", fmt.Sprint(i), stamp, make([]byte, 200), keepN("r", -1)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.PEPItems("alice", "n", nil, 1, func(string, time.Time, []byte) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}
