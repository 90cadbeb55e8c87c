package store

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var fastNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func fastToken(key byte, expires time.Time) FastToken {
	return FastToken{Mechanism: "HT-SHA-256-NONE", Key: bytes.Repeat([]byte{key}, 32), Expires: expires}
}

// byKey matches the token whose key starts with b, as a proof check does.
func byKey(b byte) func(FastToken) bool {
	return func(t FastToken) bool { return t.Key[0] == b }
}

func TestFastTokenLifecycle(t *testing.T) {
	s, _ := openTest(t, testOptions())
	mustCreate(t, s, "alice", "bob")
	later := fastNow.Add(time.Hour)
	steps := []struct {
		name       string
		do         func() (FastToken, FastResult, error)
		wantResult FastResult
		wantCount  uint64
		wantErr    error
		tokens     int // alice's tokens afterwards
	}{
		{"issue first", put(s, "alice", "phone", fastToken(1, later)), FastUnknown, 0, nil, 1},
		{"unknown key", use(s, "alice", "phone", 0, fastNow, byKey(9)), FastUnknown, 0, nil, 1},
		{"another client", use(s, "alice", "laptop", 0, fastNow, byKey(1)), FastUnknown, 0, nil, 1},
		{"another account", use(s, "bob", "phone", 0, fastNow, byKey(1)), FastUnknown, 0, nil, 1},
		{"first use moves it to current", use(s, "alice", "phone", 0, fastNow, byKey(1)), FastAccepted, 0, nil, 1},
		{"use again", use(s, "alice", "phone", 0, fastNow, byKey(1)), FastAccepted, 0, nil, 1},
		{"count 5", use(s, "alice", "phone", 5, fastNow, byKey(1)), FastAccepted, 5, nil, 1},
		{"count 5 replayed", use(s, "alice", "phone", 5, fastNow, byKey(1)), FastReplayed, 5, nil, 1},
		{"count 4 replayed", use(s, "alice", "phone", 4, fastNow, byKey(1)), FastReplayed, 5, nil, 1},
		{"count 6", use(s, "alice", "phone", 6, fastNow, byKey(1)), FastAccepted, 6, nil, 1},
		{"rotate: new token issued", put(s, "alice", "phone", fastToken(2, later.Add(time.Hour))), FastUnknown, 0, nil, 2},
		{"old token still works until the new one is used", use(s, "alice", "phone", 7, fastNow, byKey(1)), FastAccepted, 7, nil, 2},
		{"a newer unused token replaces the unused one", put(s, "alice", "phone", fastToken(3, later.Add(time.Hour))), FastUnknown, 0, nil, 2},
		{"the replaced one is gone", use(s, "alice", "phone", 0, fastNow, byKey(2)), FastUnknown, 0, nil, 2},
		{"new token used", use(s, "alice", "phone", 1, fastNow, byKey(3)), FastAccepted, 1, nil, 1},
		{"old token gone once the new one is used", use(s, "alice", "phone", 8, fastNow, byKey(1)), FastUnknown, 0, nil, 1},
		{"expired", use(s, "alice", "phone", 0, later.Add(2*time.Hour), byKey(3)), FastExpired, 0, nil, 0},
		{"expired token is gone", use(s, "alice", "phone", 0, fastNow, byKey(3)), FastUnknown, 0, nil, 0},
		{"no account", put(s, "carol", "phone", fastToken(1, later)), FastUnknown, 0, ErrNotFound, 0},
		{"bad client", put(s, "alice", "ph\x00one", fastToken(1, later)), FastUnknown, 0, ErrInvalid, 0},
		{"empty key", put(s, "alice", "phone", FastToken{Mechanism: "HT-SHA-256-NONE", Expires: later}), FastUnknown, 0, ErrInvalid, 0},
	}
	for _, st := range steps {
		tok, res, err := st.do()
		if !errors.Is(err, st.wantErr) {
			t.Fatalf("%s: error %v, want %v", st.name, err, st.wantErr)
		}
		if res != st.wantResult {
			t.Errorf("%s: result %d, want %d", st.name, res, st.wantResult)
		}
		if res == FastAccepted && tok.Count != st.wantCount {
			t.Errorf("%s: count %d, want %d", st.name, tok.Count, st.wantCount)
		}
		n, err := s.FastTokenCount("alice")
		if err != nil || n != st.tokens {
			t.Errorf("%s: alice has %d tokens (%v), want %d", st.name, n, err, st.tokens)
		}
	}
}

func put(s *Store, user, client string, tok FastToken) func() (FastToken, FastResult, error) {
	return func() (FastToken, FastResult, error) {
		return FastToken{}, FastUnknown, s.PutFastToken(user, client, tok, fastNow)
	}
}

func use(s *Store, user, client string, count uint64, now time.Time, match func(FastToken) bool) func() (FastToken, FastResult, error) {
	return func() (FastToken, FastResult, error) { return s.UseFastToken(user, client, count, now, match) }
}

// TestFastTokensInvalidated: a password change, an account deletion and
// a client's own request take tokens away; other accounts keep theirs.
func TestFastTokensInvalidated(t *testing.T) {
	s, _ := openTest(t, testOptions())
	mustCreate(t, s, "alice", "bob")
	later := fastNow.Add(time.Hour)
	for _, u := range []string{"alice", "bob"} {
		must(t, s.PutFastToken(u, "phone", fastToken(1, later), fastNow))
		must(t, s.PutFastToken(u, "laptop", fastToken(2, later), fastNow))
	}
	count := func(user string) int {
		n, err := s.FastTokenCount(user)
		must(t, err)
		return n
	}
	must(t, s.DeleteFastTokens("alice", "laptop"))
	if got := count("alice"); got != 1 {
		t.Errorf("after invalidating the laptop's token alice has %d, want 1", got)
	}
	if _, res, _ := s.UseFastToken("alice", "laptop", 0, fastNow, byKey(2)); res != FastUnknown {
		t.Errorf("the invalidated token still gives %d", res)
	}
	a, _, err := s.Account("alice")
	must(t, err)
	must(t, s.SetCredentials("alice", a.SCRAM))
	if got := count("alice"); got != 0 {
		t.Errorf("after a password change alice has %d tokens, want 0", got)
	}
	if _, res, _ := s.UseFastToken("alice", "phone", 0, fastNow, byKey(1)); res != FastUnknown {
		t.Errorf("a token from before the password change gives %d", res)
	}
	if got := count("bob"); got != 2 {
		t.Errorf("bob has %d tokens, want his 2", got)
	}
	if _, err := s.DeleteAccount("bob"); err != nil {
		t.Fatal(err)
	}
	if got := count("bob"); got != 0 {
		t.Errorf("a deleted account keeps %d tokens", got)
	}
}

// TestFastTokensExpiredDropped: issuing a token clears the account's
// expired ones, so clients that never come back leave nothing behind.
func TestFastTokensExpiredDropped(t *testing.T) {
	s, _ := openTest(t, testOptions())
	mustCreate(t, s, "alice")
	must(t, s.PutFastToken("alice", "old", fastToken(1, fastNow.Add(-time.Minute)), fastNow.Add(-time.Hour)))
	must(t, s.PutFastToken("alice", "phone", fastToken(2, fastNow.Add(time.Hour)), fastNow))
	if n, _ := s.FastTokenCount("alice"); n != 1 {
		t.Errorf("alice has %d tokens, want the phone's alone", n)
	}
}

// TestFastTokenCountsConcurrent: logins racing with the same count (a
// replayed 0-RTT request) are accepted once.
func TestFastTokenCountsConcurrent(t *testing.T) {
	s, _ := openTest(t, testOptions())
	mustCreate(t, s, "alice")
	must(t, s.PutFastToken("alice", "phone", fastToken(1, fastNow.Add(time.Hour)), fastNow))
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		accepted int
	)
	for range 8 {
		wg.Go(func() {
			_, res, err := s.UseFastToken("alice", "phone", 1, fastNow, byKey(1))
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			if res == FastAccepted {
				accepted++
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	if accepted != 1 {
		t.Errorf("count 1 accepted %d times, want once", accepted)
	}
}

func TestFastTokenRecord(t *testing.T) {
	tok := FastToken{Mechanism: "HT-SHA-256-EXPR", Key: bytes.Repeat([]byte{4}, 32), Expires: fastNow, Count: 300}
	got, err := decodeFastToken(encodeFastToken(tok))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(tok, got); d != "" {
		t.Errorf("round trip (-want +got):\n%s", d)
	}
	rec := encodeFastToken(tok)
	for _, bad := range [][]byte{nil, {2}, rec[:len(rec)-1], append(bytes.Clone(rec), 0)} {
		if _, err := decodeFastToken(bad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("decode %x: %v, want ErrCorrupt", bad, err)
		}
	}
}

func FuzzFastTokenRecord(f *testing.F) {
	f.Add(encodeFastToken(FastToken{Mechanism: "HT-SHA-256-NONE", Key: []byte{1}, Expires: fastNow, Count: 1}))
	f.Add([]byte{1, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		tok, err := decodeFastToken(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decode %x: %v, want ErrCorrupt", b, err)
			}
			return
		}
		if again := encodeFastToken(tok); !bytes.Equal(again, b) {
			t.Fatalf("decode, encode of %x gives %x", b, again)
		}
	})
}
