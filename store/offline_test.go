package store

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.etcd.io/bbolt"
)

type offlineMsg struct {
	Seq    uint64
	Stamp  time.Time
	Stanza string
}

func listOffline(t testing.TB, s *Store, user string) []offlineMsg {
	t.Helper()
	out := []offlineMsg{}
	if err := s.Offline(user, func(seq uint64, stamp time.Time, stanza []byte) error {
		out = append(out, offlineMsg{seq, stamp, string(stanza)})
		return nil
	}); err != nil {
		t.Fatalf("Offline(%q) = %v", user, err)
	}
	return out
}

func seqsOf(msgs []offlineMsg) []uint64 {
	seqs := make([]uint64, len(msgs))
	for i, m := range msgs {
		seqs[i] = m.Seq
	}
	return seqs
}

func TestOffline(t *testing.T) {
	s, _ := openTest(t, testOptions())
	mustCreate(t, s, "alice", "alice2")
	t0 := time.Date(2025, 5, 1, 8, 0, 0, 123, time.UTC)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }

	steps := []struct {
		name       string
		do         func() (bool, error)
		wantStored bool
		wantErr    error
		want       []string // alice's stanzas afterwards, oldest first
	}{
		{"first", appendOff(s, "alice", "m1", at(1), 3), true, nil, []string{"m1"}},
		{"other user between", appendOff(s, "alice2", "x1", at(2), 3), true, nil, []string{"m1"}},
		{"second", appendOff(s, "alice", "m2", at(3), 3), true, nil, []string{"m1", "m2"}},
		{"third reaches the cap", appendOff(s, "alice", "m3", at(4), 3), true, nil, []string{"m1", "m2", "m3"}},
		{"over the cap", appendOff(s, "alice", "m4", at(5), 3), false, nil, []string{"m1", "m2", "m3"}},
		{"lower cap", appendOff(s, "alice", "m4", at(5), 1), false, nil, []string{"m1", "m2", "m3"}},
		{"zero cap", appendOff(s, "alice2", "x2", at(5), 0), false, nil, []string{"m1", "m2", "m3"}},
		{"no account", appendOff(s, "nobody", "n1", at(6), 3), false, ErrNotFound, []string{"m1", "m2", "m3"}},
		{"delete up to the second", func() (bool, error) {
			msgs := listOffline(t, s, "alice")
			return false, s.DeleteOfflineSeqs("alice", []uint64{msgs[0].Seq, msgs[1].Seq})
		}, false, nil, []string{"m3"}},
		{"room again", appendOff(s, "alice", "m5", at(7), 3), true, nil, []string{"m3", "m5"}},
		{"delete nothing", func() (bool, error) { return false, s.DeleteOfflineSeqs("alice", nil) }, false, nil, []string{"m3", "m5"}},
		{"delete all", func() (bool, error) { return false, s.DeleteOfflineSeqs("alice", seqsOf(listOffline(t, s, "alice"))) }, false, nil, []string{}},
	}
	for _, st := range steps {
		stored, err := st.do()
		if stored != st.wantStored || !errors.Is(err, st.wantErr) {
			t.Errorf("%s: got %t, %v; want %t, %v", st.name, stored, err, st.wantStored, st.wantErr)
		}
		msgs := listOffline(t, s, "alice")
		got := []string{}
		for i, m := range msgs {
			got = append(got, m.Stanza)
			if i > 0 && m.Seq <= msgs[i-1].Seq {
				t.Errorf("%s: seq %d after %d", st.name, m.Seq, msgs[i-1].Seq)
			}
		}
		if diff := cmp.Diff(st.want, got); diff != "" {
			t.Errorf("%s: stanzas mismatch (-want +got):\n%s", st.name, diff)
		}
		if n, err := s.OfflineCount("alice"); err != nil || n != len(st.want) {
			t.Errorf("%s: OfflineCount = %d, %v; want %d", st.name, n, err, len(st.want))
		}
	}
	// Stamps survive with nanoseconds, in UTC.
	msgs := listOffline(t, s, "alice2")
	if len(msgs) != 1 || !msgs[0].Stamp.Equal(at(2)) || msgs[0].Stamp.Location() != time.UTC {
		t.Errorf("alice2's messages = %+v, want x1 stamped %v UTC", msgs, at(2))
	}
}

// TestAppendOfflineRerun runs the function AppendOffline hands to Batch the
// way Batch retries it: once in a transaction that is rolled back, then
// again after the state changed. The second run must report its own
// outcome, not the first one's.
func TestAppendOfflineRerun(t *testing.T) {
	s, _ := openTest(t, testOptions())
	mustCreate(t, s, "alice")
	var stored bool
	fn := s.appendOfflineTx("alice", []byte("rec-retried"), 1, &stored)
	rollback := errors.New("rollback")
	err := s.db.Update(func(tx *bbolt.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return rollback
	})
	if !errors.Is(err, rollback) || !stored {
		t.Fatalf("first run = %v, stored %t; want rollback, true", err, stored)
	}
	// Another append takes the last place before the retry.
	if ok, err := s.AppendOffline("alice", []byte("other"), time.Unix(0, 0), 1); !ok || err != nil {
		t.Fatalf("AppendOffline = %t, %v", ok, err)
	}
	if err := s.db.Update(fn); err != nil || stored {
		t.Errorf("retry = %v, stored %t; want nil, false", err, stored)
	}
	if n, err := s.OfflineCount("alice"); n != 1 || err != nil {
		t.Errorf("OfflineCount = %d, %v; want 1", n, err)
	}
}

func appendOff(s *Store, user, stanza string, stamp time.Time, limit int) func() (bool, error) {
	return func() (bool, error) { return s.AppendOffline(user, []byte(stanza), stamp, limit) }
}

// TestAppendOfflineConcurrent appends from many goroutines at once, which
// is what makes bbolt batch them. Each goroutine's messages must keep their
// order per user, and the cap must hold exactly under contention.
func TestAppendOfflineConcurrent(t *testing.T) {
	const (
		goroutines = 16
		perG       = 25
		capped     = 100 // below goroutines*perG for "capped"
	)
	s, _ := openTest(t, testOptions())
	users := []string{"capped", "open1", "open2"}
	mustCreate(t, s, users...)
	limits := map[string]int{"capped": capped, "open1": goroutines * perG, "open2": goroutines * perG}

	var storedCapped atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*len(users))
	for g := range goroutines {
		for _, u := range users {
			wg.Go(func() {
				for i := range perG {
					stored, err := s.AppendOffline(u, fmt.Appendf(nil, "%d/%d", g, i), time.Unix(int64(i), 0), limits[u])
					if err != nil {
						errs <- err
						return
					}
					if u == "capped" && stored {
						storedCapped.Add(1)
					}
					if u != "capped" && !stored {
						errs <- fmt.Errorf("%s: message %d/%d not stored below the cap", u, g, i)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	for _, u := range users {
		msgs := listOffline(t, s, u)
		want := limits[u]
		if len(msgs) != want {
			t.Errorf("%s holds %d messages, want %d", u, len(msgs), want)
		}
		if n, err := s.OfflineCount(u); err != nil || n != want {
			t.Errorf("OfflineCount(%s) = %d, %v; want %d", u, n, err, want)
		}
		next := make(map[int]int) // goroutine → next expected index
		for _, m := range msgs {
			var g, i int
			if _, err := fmt.Sscanf(m.Stanza, "%d/%d", &g, &i); err != nil {
				t.Fatalf("%s: bad stanza %q", u, m.Stanza)
			}
			// Goroutines append one at a time, so a user's messages from
			// one goroutine are a gapless, ordered prefix of its sequence.
			if i != next[g] {
				t.Errorf("%s: goroutine %d's message %d follows %d", u, g, i, next[g]-1)
			}
			next[g] = i + 1
		}
	}
	if got := storedCapped.Load(); got != capped {
		t.Errorf("AppendOffline reported %d stored for the capped user, want %d", got, capped)
	}
}

func BenchmarkAppendOfflineParallel(b *testing.B) {
	for _, bc := range []struct {
		name   string
		noSync bool
	}{{"fsync", false}, {"nosync", true}} {
		b.Run(bc.name, func(b *testing.B) {
			s, _ := openTest(b, Options{NoSync: bc.noSync, Timeout: 100 * time.Millisecond})
			users := []string{"u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7"}
			mustCreate(b, s, users...)
			stanza := []byte(`<message xmlns="jabber:client" from="bob@example.org/phone" to="u0@example.org" type="chat" id="abc123"><body>see you at eight</body></message>`)
			stamp := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
			var next atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(8) // Many senders per core: that is when Batch pays.
			b.RunParallel(func(pb *testing.PB) {
				u := users[next.Add(1)%int64(len(users))]
				for pb.Next() {
					if stored, err := s.AppendOffline(u, stanza, stamp, math.MaxInt); !stored || err != nil {
						b.Errorf("AppendOffline = %t, %v", stored, err)
						return
					}
				}
			})
		})
	}
}

// TestOfflineAfterAndDeleteSeqs: stored messages are read back in bounded
// pages that resume after the last one read, a message larger than the
// page still comes (alone), and delivered ones are deleted by seq with
// the count kept true.
func TestOfflineAfterAndDeleteSeqs(t *testing.T) {
	s, _ := openTest(t, testOptions())
	mustCreate(t, s, "alice", "bob")
	for _, m := range []string{"aaaa", "bbbb", "cccccccccccc", "dd", "ee"} {
		if ok, err := s.AppendOffline("alice", []byte(m), time.Unix(1, 0), 10); !ok || err != nil {
			t.Fatalf("AppendOffline(%s) = %v, %v", m, ok, err)
		}
	}
	if ok, err := s.AppendOffline("bob", []byte("bob's"), time.Unix(1, 0), 10); !ok || err != nil {
		t.Fatalf("AppendOffline = %v, %v", ok, err)
	}
	pages := func(maxBytes int) [][]string {
		var out [][]string
		var after uint64
		for {
			var got []string
			err := s.OfflineAfter("alice", after, maxBytes, func(seq uint64, _ time.Time, stanza []byte) error {
				got = append(got, string(stanza))
				after = seq
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) == 0 {
				return out
			}
			out = append(out, got)
		}
	}
	tests := []struct {
		maxBytes int
		want     [][]string
	}{
		{0, [][]string{{"aaaa", "bbbb", "cccccccccccc", "dd", "ee"}}},
		{8, [][]string{{"aaaa", "bbbb"}, {"cccccccccccc"}, {"dd", "ee"}}},
		{5, [][]string{{"aaaa"}, {"bbbb"}, {"cccccccccccc"}, {"dd", "ee"}}},
		{1, [][]string{{"aaaa"}, {"bbbb"}, {"cccccccccccc"}, {"dd"}, {"ee"}}},
	}
	for _, tc := range tests {
		if diff := cmp.Diff(tc.want, pages(tc.maxBytes)); diff != "" {
			t.Errorf("pages of %d bytes (-want +got):\n%s", tc.maxBytes, diff)
		}
	}
	all := listOffline(t, s, "alice")
	if err := s.DeleteOfflineSeqs("alice", []uint64{all[0].Seq, all[2].Seq, all[2].Seq, 1 << 40}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range listOffline(t, s, "alice") {
		got = append(got, m.Stanza)
	}
	if diff := cmp.Diff([]string{"bbbb", "dd", "ee"}, got); diff != "" {
		t.Errorf("after deleting by seq (-want +got):\n%s", diff)
	}
	if n, err := s.OfflineCount("alice"); n != 3 || err != nil {
		t.Errorf("OfflineCount = %d, %v; want 3", n, err)
	}
	if n, err := s.OfflineCount("bob"); n != 1 || err != nil {
		t.Errorf("bob's OfflineCount = %d, %v; want 1 (untouched)", n, err)
	}
}
