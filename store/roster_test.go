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
)

// rosterChange is what RosterChanges reports; a nil Item is a removal.
type rosterChange struct {
	Contact string
	Item    []byte
}

// rosterModel replays the same operations as the store in memory and
// predicts versions, the history floor and deltas.
type rosterModel struct {
	history    int
	items      map[string][]byte
	last       map[string]uint64 // contact → version of its last change
	tombstones []uint64          // versions of retained removals, oldest first
	ver, floor uint64
}

func (m *rosterModel) apply(contact string, item []byte, ver uint64) {
	if m.ver == 0 {
		m.floor = ver - 1
	}
	m.ver = ver
	m.last[contact] = ver
	if item == nil {
		delete(m.items, contact)
		m.tombstones = append(m.tombstones, ver)
		if len(m.tombstones) > m.history {
			m.floor = max(m.floor, m.tombstones[0])
			m.tombstones = m.tombstones[1:]
		}
		return
	}
	m.items[contact] = item
}

// changes predicts RosterChanges(since).
func (m *rosterModel) changes(since uint64) ([]rosterChange, bool) {
	if since > m.ver || since < m.floor {
		return nil, false
	}
	var contacts []string
	for c, v := range m.last {
		if v > since {
			contacts = append(contacts, c)
		}
	}
	slices.SortFunc(contacts, func(a, b string) int { return int(m.last[a]) - int(m.last[b]) })
	out := []rosterChange{}
	for _, c := range contacts {
		out = append(out, rosterChange{c, m.items[c]})
	}
	return out, true
}

func TestRosterVersioning(t *testing.T) {
	tests := []struct {
		name    string
		history int
		evicts  bool // whether the steps remove more contacts than history
	}{
		{"all removals remembered", 100, false},
		{"oldest removals forgotten", 3, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { testRosterVersioning(t, tt.history, tt.evicts) })
	}
}

func testRosterVersioning(t *testing.T, history int, evicts bool) {
	s, _ := openTest(t, Options{NoSync: true, Timeout: 100 * time.Millisecond, RosterHistory: history})
	mustCreate(t, s, "alice", "other")
	m := &rosterModel{history: history, items: map[string][]byte{}, last: map[string]uint64{}}

	if ver, ok, err := s.RosterChanges("alice", 0, nil); ver != 0 || !ok || err != nil {
		t.Errorf("RosterChanges(fresh, 0) = %d, %t, %v; want 0, true", ver, ok, err)
	}
	if ver, ok, err := s.RosterChanges("alice", 5, nil); ver != 0 || ok || err != nil {
		t.Errorf("RosterChanges(fresh, 5) = %d, %t, %v; want 0, false", ver, ok, err)
	}

	steps := []struct {
		name        string
		contact     string
		item        []byte // nil removes
		wantChanged bool
	}{
		{"add bob", "bob@example.org", []byte("b1"), true},
		{"add carol", "carol@example.org", []byte("c1"), true},
		{"same bob", "bob@example.org", []byte("b1"), false},
		{"change bob", "bob@example.org", []byte("b2"), true},
		{"remove absent", "dave@example.org", nil, false},
		{"add dave with empty item", "dave@example.org", []byte{}, true},
		{"same empty item", "dave@example.org", []byte{}, false},
		{"remove dave", "dave@example.org", nil, true},
		{"add dave again", "dave@example.org", []byte("d2"), true},
		{"remove carol", "carol@example.org", nil, true},
		{"add grace between dave's removals", "grace@example.org", []byte("g1"), true},
		{"remove dave again", "dave@example.org", nil, true},
		{"add erin", "erin@example.org", []byte("e1"), true},
		{"remove erin", "erin@example.org", nil, true},
		{"remove bob, dropping the oldest tombstone", "bob@example.org", nil, true},
		{"add frank", "frank@example.org", []byte("f1"), true},
		{"add carol again", "carol@example.org", []byte("c2"), true},
		{"add an item RosterCount's predicate matches", "xavier@example.org", []byte("x1"), true},
		{"add a second one", "yves@example.org", []byte("x2"), true},
		{"change the first to one it does not match", "xavier@example.org", []byte("v1"), true},
	}
	versions := []uint64{0}
	var prev uint64
	for i, st := range steps {
		// Another user's changes in between make the version sequence
		// sparse for alice, as it is in a real server.
		if _, _, err := s.UpdateRosterItem("other", "x@example.org", func([]byte) ([]byte, error) {
			return fmt.Appendf(nil, "%d", i), nil
		}); err != nil {
			t.Fatal(err)
		}
		var gotOld []byte
		ver, changed, err := s.UpdateRosterItem("alice", st.contact, func(old []byte) ([]byte, error) {
			gotOld = old
			return st.item, nil
		})
		if err != nil {
			t.Fatalf("%s: UpdateRosterItem = %v", st.name, err)
		}
		if want, ok := m.items[st.contact]; !bytes.Equal(gotOld, want) || (gotOld == nil) != !ok {
			t.Errorf("%s: fn got old %q, want %q (present %t)", st.name, gotOld, want, ok)
		}
		if changed != st.wantChanged {
			t.Errorf("%s: changed = %t, want %t", st.name, changed, st.wantChanged)
		}
		switch {
		case changed && ver <= prev:
			t.Errorf("%s: version %d after %d, want it to grow", st.name, ver, prev)
		case !changed && ver != prev:
			t.Errorf("%s: version %d after %d, want it kept", st.name, ver, prev)
		}
		if changed {
			m.apply(st.contact, st.item, ver)
			versions = append(versions, ver)
		}
		prev = ver

		got := map[string][]byte{}
		listVer, err := s.RosterItems("alice", func(c string, item []byte) error {
			got[c] = item
			return nil
		})
		if err != nil || listVer != ver {
			t.Errorf("%s: RosterItems version = %d, %v; want %d", st.name, listVer, err, ver)
		}
		if diff := cmp.Diff(m.items, got); diff != "" {
			t.Errorf("%s: RosterItems mismatch (-want +got):\n%s", st.name, diff)
		}
		if n, _, err := s.RosterCount("alice", nil); err != nil || n != len(m.items) {
			t.Errorf("%s: RosterCount = %d, %v; want %d", st.name, n, err, len(m.items))
		}
		wantMatched := 0
		for _, it := range m.items {
			if len(it) > 0 && it[0] == 'x' {
				wantMatched++
			}
		}
		isX := func(item []byte) bool { return len(item) > 0 && item[0] == 'x' }
		if n, matched, err := s.RosterCount("alice", isX); err != nil || n != len(m.items) || matched != wantMatched {
			t.Errorf("%s: RosterCount(isX) = %d, %d, %v; want %d, %d", st.name, n, matched, err, len(m.items), wantMatched)
		}
	}

	// Every version ever handed out, the ones just around them, and one
	// from the future.
	var sinces []uint64
	for _, v := range versions {
		sinces = append(sinces, v, v+1)
		if v > 0 {
			sinces = append(sinces, v-1)
		}
	}
	okCount, refused := 0, 0
	for _, since := range sinces {
		want, wantOK := m.changes(since)
		got := []rosterChange{}
		ver, ok, err := s.RosterChanges("alice", since, func(c string, item []byte) error {
			got = append(got, rosterChange{c, item})
			return nil
		})
		if err != nil || ver != m.ver || ok != wantOK {
			t.Errorf("RosterChanges(%d) = %d, %t, %v; want %d, %t", since, ver, ok, err, m.ver, wantOK)
			continue
		}
		if !ok {
			refused++
			if len(got) != 0 {
				t.Errorf("RosterChanges(%d) refused but called fn with %v", since, got)
			}
			continue
		}
		okCount++
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("RosterChanges(%d) mismatch (-want +got):\n%s", since, diff)
		}
	}
	// The table must exercise both answers, or it proves little.
	if okCount == 0 || refused < 2 {
		t.Errorf("RosterChanges answered ok %d times and refused %d times; the steps do not cover both", okCount, refused)
	}
	if rose := m.floor > versions[1]-1; rose != evicts {
		t.Errorf("model floor rose = %t, want %t; the steps do not match the case", rose, evicts)
	}
}

func TestUpdateRosterItemErrors(t *testing.T) {
	s, _ := openTest(t, testOptions())
	mustCreate(t, s, "alice")
	set := func(v string) func([]byte) ([]byte, error) {
		return func([]byte) ([]byte, error) { return []byte(v), nil }
	}
	if _, _, err := s.UpdateRosterItem("alice", "bob@example.org", set("b1")); err != nil {
		t.Fatal(err)
	}
	abort := errors.New("abort")
	tests := []struct {
		name    string
		user    string
		fn      func([]byte) ([]byte, error)
		wantErr error
	}{
		{"no account", "nobody", set("x"), ErrNotFound},
		{"fn fails after scribbling on old", "alice", func(old []byte) ([]byte, error) {
			copy(old, "XX")
			return []byte("b2"), abort
		}, abort},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ver, changed, err := s.UpdateRosterItem(tt.user, "bob@example.org", tt.fn)
			if !errors.Is(err, tt.wantErr) || changed || ver != 0 {
				t.Errorf("UpdateRosterItem = %d, %t, %v; want 0, false, %v", ver, changed, err, tt.wantErr)
			}
			item, found, err := s.RosterItem("alice", "bob@example.org")
			if err != nil || !found || string(item) != "b1" {
				t.Errorf("RosterItem after failure = %q, %t, %v; want b1", item, found, err)
			}
		})
	}
	if _, found, err := s.RosterItem("nobody", "bob@example.org"); found || err != nil {
		t.Errorf("RosterItem(nobody) found = %t, %v; want false", found, err)
	}
}

// TestReturnedValuesOutliveTransaction keeps values from every reading
// method, then grows the file enough to force bbolt to remap it. Values
// that still pointed into the old map would fault or change.
func TestReturnedValuesOutliveTransaction(t *testing.T) {
	s, _ := openTest(t, Options{NoSync: true, Timeout: 100 * time.Millisecond, InitialMmapSize: -1})
	mustCreate(t, s, "alice")
	stamp := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	// 40 items: enough that the roster bucket has pages of its own in the
	// map rather than living inline in its parent.
	for i := range 40 {
		c := fmt.Sprintf("c%02d@example.org", i)
		if _, _, err := s.UpdateRosterItem("alice", c, func([]byte) ([]byte, error) { return []byte("item-" + c), nil }); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AppendOffline("alice", []byte("msg-"+c), stamp, 100); err != nil {
			t.Fatal(err)
		}
		must(t, s.PutBlob("blob/"+c, []byte("blob-"+c)))
	}
	must(t, s.PutVCard("alice", []byte("<vCard/>")))

	var kept [][]byte
	var want []string
	if _, err := s.RosterItems("alice", func(c string, item []byte) error {
		kept, want = append(kept, item), append(want, "item-"+c)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Blobs("blob/", func(k string, v []byte) error {
		kept, want = append(kept, v), append(want, "blob-"+k[len("blob/"):])
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Offline("alice", func(_ uint64, _ time.Time, v []byte) error {
		kept = append(kept, v)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		want = append(want, fmt.Sprintf("msg-c%02d@example.org", i))
	}
	v, _, err := s.VCard("alice")
	must(t, err)
	kept, want = append(kept, v), append(want, "<vCard/>")
	a, _, err := s.Account("alice")
	must(t, err)
	salt := a.SCRAM["SHA-256"].Salt
	kept, want = append(kept, salt), append(want, "salt-alice")
	if _, _, err := s.UpdateRosterItem("alice", "c07@example.org", func(old []byte) ([]byte, error) {
		kept, want = append(kept, old), append(want, "item-c07@example.org")
		return []byte("changed"), nil
	}); err != nil {
		t.Fatal(err)
	}
	// A caller may append to what it got without clobbering other values.
	for _, v := range kept {
		_ = append(v, "CLOBBER"...)
	}

	big := bytes.Repeat([]byte{'x'}, 64<<10)
	for i := range 200 { // About 13 MB: several remaps from an unsized map.
		must(t, s.PutBlob(fmt.Sprintf("big/%03d", i), big))
	}
	for i := range kept {
		if string(kept[i]) != want[i] {
			t.Errorf("value %d = %q after appends and a remap, want %q", i, kept[i], want[i])
		}
	}
}

func BenchmarkRosterItems200(b *testing.B) {
	s, _ := openTest(b, testOptions())
	mustCreate(b, s, "alice")
	item := bytes.Repeat([]byte{'i'}, 120) // A typical encoded item: name, subscription, a group.
	for i := range 200 {
		if _, _, err := s.UpdateRosterItem("alice", fmt.Sprintf("contact%03d@example.org", i), func([]byte) ([]byte, error) {
			return item, nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		if _, err := s.RosterItems("alice", func(string, []byte) error { n++; return nil }); err != nil || n != 200 {
			b.Fatalf("RosterItems = %d items, %v", n, err)
		}
	}
}

// TestRosterItemsPaged: a roster larger than a page is listed whole, in
// order, each item once, with the version it had when the pass began;
// items larger than a page come one to a page; another user's items never
// show.
func TestRosterItemsPaged(t *testing.T) {
	s, _ := openTest(t, testOptions())
	mustCreate(t, s, "alice", "alicf")
	sizes := []int{10, rosterPage / 2, rosterPage / 2, rosterPage + 10, 10, 10, rosterPage - 100, 20}
	var want []string
	var ver uint64
	for i, n := range sizes {
		c := fmt.Sprintf("c%02d@example.org", i)
		item := fmt.Sprintf("%s:%s", c, strings.Repeat("x", n))
		v, _, err := s.UpdateRosterItem("alice", c, func([]byte) ([]byte, error) { return []byte(item), nil })
		must(t, err)
		ver = v
		want = append(want, item)
	}
	if _, _, err := s.UpdateRosterItem("alicf", "c00@example.org", func([]byte) ([]byte, error) { return []byte("other"), nil }); err != nil {
		t.Fatal(err)
	}
	var got []string
	gotVer, err := s.RosterItems("alice", func(c string, item []byte) error {
		if !strings.HasPrefix(string(item), c+":") {
			t.Errorf("item of %s is %.30q", c, item)
		}
		got = append(got, string(item))
		return nil
	})
	must(t, err)
	if gotVer != ver {
		t.Errorf("version %d, want %d", gotVer, ver)
	}
	if len(got) != len(want) {
		t.Fatalf("listed %d items, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("item %d: %.40q, want %.40q", i, got[i], want[i])
		}
	}
}
