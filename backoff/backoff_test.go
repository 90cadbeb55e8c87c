package backoff

import (
	"fmt"
	"testing"
	"time"
)

// clock is a fake clock the tests move by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTable(opts Options) (*Table, *clock) {
	c := &clock{t: time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)}
	opts.Now = c.now
	return New(opts), c
}

// TestDelays follows one guesser from one address: free failures, then
// delays that double from the last failure up to the cap, and nothing
// once the window has passed.
func TestDelays(t *testing.T) {
	tb, c := newTable(Options{Max: 10 * time.Second, Window: 15 * time.Minute})
	const guesser = "203.0.113.7"
	steps := []struct {
		name    string
		advance time.Duration
		fail    bool // record a failure after checking the delay
		want    time.Duration
	}{
		{"first try", 0, true, 0},
		{"second try: one typo is free", 0, true, 0},
		{"third try: two typos are free", 0, true, 0},
		{"after 3 failures", 0, true, time.Second},
		{"after 4 failures", 0, true, 2 * time.Second},
		{"after 5 failures", 0, true, 4 * time.Second},
		{"after 6 failures", 0, true, 8 * time.Second},
		{"after 7 failures: capped", 0, true, 10 * time.Second},
		{"after 8 failures, 3s later", 3 * time.Second, false, 7 * time.Second},
		{"10s after the last failure", 7 * time.Second, false, 0},
		{"after 20 failures: still the cap", 0, false, 10 * time.Second},
		{"just within the window", 15*time.Minute - 1, false, 0},
	}
	for i, st := range steps {
		c.advance(st.advance)
		if st.name == "after 20 failures: still the cap" {
			for range 12 {
				tb.Failed("", guesser)
			}
		}
		if got := tb.Delay("", guesser); got != st.want {
			t.Errorf("step %d, %s: Delay = %v, want %v", i, st.name, got, st.want)
		}
		if st.fail {
			tb.Failed("", guesser)
		}
	}
	// After the window the count starts again: three free failures.
	c.advance(2 * time.Second)
	for i := range 3 {
		if got := tb.Delay("", guesser); got != 0 {
			t.Errorf("failure %d after the window: Delay = %v, want 0", i+1, got)
		}
		tb.Failed("", guesser)
	}
	if got := tb.Delay("", guesser); got != time.Second {
		t.Errorf("fourth failure after the window: Delay = %v, want 1s", got)
	}
}

// TestStrangerDoesNotLockOutTheFamily: guesses at alice's password from
// many addresses slow down the guessers and new addresses, but alice from
// an address she logged in from before waits for nothing, and nobody
// waits more than the cap.
func TestStrangerDoesNotLockOutTheFamily(t *testing.T) {
	tb, c := newTable(Options{Max: 10 * time.Second})
	const (
		alice = "alice@example.com"
		home  = "198.51.100.1"
		other = "198.51.100.99" // alice on a friend's Wi-Fi
	)
	tb.Succeeded(alice, home)
	c.advance(time.Hour)
	// A botnet: 50 addresses, two guesses each (free per address).
	for i := range 50 {
		addr := fmt.Sprintf("192.0.2.%d", i)
		tb.Failed(alice, addr)
		tb.Failed(alice, addr)
	}
	tests := []struct {
		name, account, addr string
		want                time.Duration
	}{
		{"alice from home", alice, home, 0},
		{"alice from a new address: the cap, no lockout", alice, other, 10 * time.Second},
		{"a new guesser", alice, "192.0.2.200", 10 * time.Second},
		{"a guesser for bob: bob is not attacked", "bob@example.com", "192.0.2.201", 0},
		{"one of the botnet, for bob: its own two failures are free", "bob@example.com", "192.0.2.3", 0},
	}
	for _, tc := range tests {
		if got := tb.Delay(tc.account, tc.addr); got != tc.want {
			t.Errorf("%s: Delay(%q, %q) = %v, want %v", tc.name, tc.account, tc.addr, got, tc.want)
		}
	}
	// Alice logs in from the friend's Wi-Fi (after the wait): known from
	// then on.
	tb.Succeeded(alice, other)
	if got := tb.Delay(alice, other); got != 0 {
		t.Errorf("alice from the friend's Wi-Fi after logging in there: Delay = %v, want 0", got)
	}
	// Known addresses are forgotten after KnownFor.
	c.advance(KnownFor + time.Second)
	tb.Failed(alice, "192.0.2.250")
	tb.Failed(alice, "192.0.2.251")
	tb.Failed(alice, "192.0.2.252")
	if got := tb.Delay(alice, home); got != time.Second {
		t.Errorf("alice from home, known too long ago, 3 new failures: Delay = %v, want 1s", got)
	}
}

// TestSuccessKeepsFailures: logging in to an account of one's own does
// not wipe the failures one's address made guessing another.
func TestSuccessKeepsFailures(t *testing.T) {
	tb, _ := newTable(Options{})
	const addr = "203.0.113.9"
	for range 4 {
		tb.Failed("alice@example.com", addr)
	}
	tb.Succeeded("mallory@example.com", addr)
	if got := tb.Delay("mallory@example.com", addr); got != 2*time.Second {
		t.Errorf("Delay after a success elsewhere = %v, want 2s", got)
	}
}

// TestBoundedMemory: a flood of new keys never grows the table past
// MaxEntries, and expired keys go first.
func TestBoundedMemory(t *testing.T) {
	tb, c := newTable(Options{MaxEntries: 100, Window: time.Minute})
	for i := range 60 {
		tb.Failed("", fmt.Sprintf("10.0.0.%d", i))
	}
	c.advance(2 * time.Minute)
	for i := range 1000 {
		c.advance(time.Millisecond)
		tb.Failed(fmt.Sprintf("u%d@example.com", i), "203.0.113.1")
		if n := tb.Len(); n > 100 {
			t.Fatalf("after %d failures: %d entries, want at most 100", i+1, n)
		}
	}
	// The flooding address, active all along, is still remembered with
	// its 1000 failures; the first accounts it named are not.
	if got := tb.Delay("", "203.0.113.1"); got != DefaultMax {
		t.Errorf("Delay for the flooding address = %v, want %v", got, DefaultMax)
	}
	tb.mu.Lock()
	_, first := tb.entries[accountKey("u0@example.com")]
	_, last := tb.entries[accountKey("u999@example.com")]
	tb.mu.Unlock()
	if first || !last {
		t.Errorf("remembered: the first account %t, the last %t; want false, true", first, last)
	}
}

func BenchmarkDelay(b *testing.B) {
	tb := New(Options{})
	tb.Succeeded("alice@example.com", "198.51.100.1")
	b.ReportAllocs()
	for b.Loop() {
		tb.Delay("alice@example.com", "198.51.100.1")
	}
}
