package backoff

import (
	"slices"
	"sync"
	"time"
)

// Fixed parts of the policy (see the package documentation).
const (
	// Free is the number of failures, per address and per account, that
	// cost no delay: typing mistakes.
	Free = 2
	// Base is the delay after the first failure beyond Free; it doubles
	// with each further one.
	Base = time.Second
	// KnownFor is how long a successful login makes its address known for
	// the account: exempt from the account's delay.
	KnownFor = 30 * 24 * time.Hour
)

// Defaults for Options.
const (
	DefaultMax        = 10 * time.Second
	DefaultWindow     = 15 * time.Minute
	DefaultMaxEntries = 10000
)

// Options configure a Table.
type Options struct {
	// Max caps the delay (DefaultMax). Keep it well below the time a
	// connection has to log in.
	Max time.Duration
	// Window: failures are forgotten this long after the last one
	// (DefaultWindow).
	Window time.Duration
	// MaxEntries bounds the addresses, accounts and known pairs
	// remembered (DefaultMaxEntries).
	MaxEntries int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Table remembers failed logins. See the package documentation.
type Table struct {
	max, window time.Duration
	maxEntries  int
	now         func() time.Time

	mu      sync.Mutex
	entries map[string]*entry
}

// entry is what is known of one key: failures for an address or an
// account, the last success for a known (account, address) pair.
type entry struct {
	fails int
	last  time.Time // of the last failure
	known time.Time // of the last success, for a pair
}

// New returns an empty Table.
func New(opts Options) *Table {
	t := &Table{max: opts.Max, window: opts.Window, maxEntries: opts.MaxEntries, now: opts.Now,
		entries: make(map[string]*entry)}
	if t.max <= 0 {
		t.max = DefaultMax
	}
	if t.window <= 0 {
		t.window = DefaultWindow
	}
	if t.maxEntries <= 0 {
		t.maxEntries = DefaultMaxEntries
	}
	if t.now == nil {
		t.now = time.Now
	}
	return t
}

// Keys of the three kinds of entries; NUL cannot occur in an account or
// an address.
func addrKey(addr string) string          { return "a\x00" + addr }
func accountKey(account string) string    { return "u\x00" + account }
func pairKey(account, addr string) string { return "k\x00" + account + "\x00" + addr }

// Delay returns how long an attempt to log in to account from addr should
// wait before its credentials are checked; account is "" when it is not
// known (yet). Zero means at once.
func (t *Table) Delay(account, addr string) time.Duration {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	d := t.wait(addrKey(addr), now)
	if account != "" {
		if p := t.entries[pairKey(account, addr)]; p == nil || now.Sub(p.known) > KnownFor {
			d = max(d, t.wait(accountKey(account), now))
		}
	}
	return d
}

// wait is the delay key's failures ask for at now.
func (t *Table) wait(key string, now time.Time) time.Duration {
	e := t.entries[key]
	if e == nil || e.fails <= Free || now.Sub(e.last) > t.window {
		return 0
	}
	return max(0, e.last.Add(t.delay(e.fails)).Sub(now))
}

// delay is the delay after n failures, n > Free.
func (t *Table) delay(n int) time.Duration {
	shift := n - Free - 1
	if shift >= 30 || Base<<shift > t.max {
		return t.max
	}
	return Base << shift
}

// Failed records a failed login from addr, to account ("" when the
// attempt named none, or none that could be read).
func (t *Table) Failed(account, addr string) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.fail(addrKey(addr), now)
	if account != "" {
		t.fail(accountKey(account), now)
	}
}

func (t *Table) fail(key string, now time.Time) {
	e := t.entry(key, now)
	if now.Sub(e.last) > t.window {
		e.fails = 0 // forgotten
	}
	e.fails++
	e.last = now
}

// Succeeded records a successful login to account from addr: the address
// is known for the account from now on (KnownFor). Failures are not
// forgotten: a guesser who owns an account must not wipe its address's
// record by logging in to it.
func (t *Table) Succeeded(account, addr string) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.entry(pairKey(account, addr), now).known = now
}

// entry returns key's entry, making room for a new one if needed.
func (t *Table) entry(key string, now time.Time) *entry {
	if e := t.entries[key]; e != nil {
		return e
	}
	if len(t.entries) >= t.maxEntries {
		t.sweep(now)
	}
	e := &entry{}
	t.entries[key] = e
	return e
}

// sweep drops expired entries, then, if the table is still more than
// three quarters full, the least recently active ones down to that: a
// full table is swept once per quarter of its size, not at every
// insertion, and a flood of new keys pushes out old ones rather than the
// guesser's own.
func (t *Table) sweep(now time.Time) {
	for k, e := range t.entries {
		if now.Sub(e.last) > t.window && now.Sub(e.known) > KnownFor {
			delete(t.entries, k)
		}
	}
	keep := t.maxEntries * 3 / 4
	if len(t.entries) <= keep {
		return
	}
	type aged struct {
		key    string
		active time.Time
	}
	all := make([]aged, 0, len(t.entries))
	for k, e := range t.entries {
		all = append(all, aged{k, maxTime(e.last, e.known)})
	}
	slices.SortFunc(all, func(a, b aged) int { return a.active.Compare(b.active) })
	for _, a := range all[:len(all)-keep] {
		delete(t.entries, a.key)
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Len returns the number of keys remembered.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries)
}
