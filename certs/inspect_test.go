package certs

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// writeCounter is a BlobCache that counts writes.
type writeCounter struct {
	*memCache
	writes atomic.Int64
}

func (c *writeCounter) PutBlob(k string, v []byte) error {
	c.writes.Add(1)
	return c.memCache.PutBlob(k, v)
}

func (c *writeCounter) DeleteBlob(k string) error {
	c.writes.Add(1)
	return c.memCache.DeleteBlob(k)
}

func TestInspect(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	goodCert, goodKey := filepath.Join(dir, "good.pem"), filepath.Join(dir, "good.key")
	certPEM, keyPEM, _ := ca.issue(t, time.Now().Add(24*time.Hour), "a.example")
	if err := os.WriteFile(goodCert, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(goodKey, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	names := Options{Domains: []string{"a.example"}, Subdomains: []string{"conference.a.example"}}

	tests := []struct {
		name string
		// prepare fills the cache (through a real Manager where needed) and
		// returns the options to inspect.
		prepare func(t *testing.T, cache *memCache) Options
		check   func(t *testing.T, st []Status)
	}{
		{
			name: "self-signed before the first start",
			prepare: func(t *testing.T, cache *memCache) Options {
				o := names
				return o
			},
			check: func(t *testing.T, st []Status) {
				for _, s := range st {
					if s.Source != SourceSelfSigned || s.Issuer != "" || !strings.Contains(s.Advice, "no certificate stored yet") {
						t.Errorf("%s: %+v, want self-signed, nothing stored", s.Name, s)
					}
				}
			},
		},
		{
			name: "self-signed stored by a server",
			prepare: func(t *testing.T, cache *memCache) Options {
				o := names
				o.Cache = cache
				if _, err := New(o); err != nil {
					t.Fatal(err)
				}
				return o
			},
			check: func(t *testing.T, st []Status) {
				if st[0].Issuer != "a.example" || st[0].Fingerprint == "" || st[0].Fingerprint != st[1].Fingerprint {
					t.Errorf("got %+v, want the one stored self-signed certificate for both names", st)
				}
			},
		},
		{
			name: "files, one missing, reported per name instead of failing",
			prepare: func(t *testing.T, cache *memCache) Options {
				o := names
				o.Source = SourceFiles
				o.Files = []KeyPair{{CertFile: goodCert, KeyFile: goodKey}, {CertFile: filepath.Join(dir, "gone.pem"), KeyFile: filepath.Join(dir, "gone.key")}}
				return o
			},
			check: func(t *testing.T, st []Status) {
				if st[0].Source != SourceFiles || st[0].Issuer != "roost test CA" || st[0].LastError != "" {
					t.Errorf("a.example: %+v, want the good file, no error", st[0])
				}
				if st[1].Source != SourceSelfSigned || !st[1].Fallback || !strings.Contains(st[1].LastError, "gone.pem") {
					t.Errorf("conference.a.example: %+v, want the fallback and the missing file's error", st[1])
				}
			},
		},
		{
			name: "acme failure of the last run",
			prepare: func(t *testing.T, cache *memCache) Options {
				o := names
				o.Source = SourceACME
				o.ACME = ACMEOptions{HTTPChallenge: true}
				o.Cache = cache
				m, err := New(o)
				if err != nil {
					t.Fatal(err)
				}
				m.mu.Lock()
				st := m.acmeState["conference.a.example"]
				st.lastErr, st.advice, st.lastErrAt = "obtain certificate: refused", "open port 80", time.Unix(1e9, 0)
				m.storeFailure("conference.a.example", st)
				m.mu.Unlock()
				return o
			},
			check: func(t *testing.T, st []Status) {
				if st[0].LastError != "" || !st[0].NextAttempt.IsZero() {
					t.Errorf("a.example: %+v, want no error and no schedule", st[0])
				}
				s := st[1]
				if s.LastError != "obtain certificate: refused" || !strings.HasPrefix(s.Advice, "open port 80") ||
					!s.LastErrorAt.Equal(time.Unix(1e9, 0)) || !s.Fallback {
					t.Errorf("conference.a.example: %+v, want the stored failure on the fallback", s)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cache := newMemCache()
			opts := tc.prepare(t, cache)
			wc := &writeCounter{memCache: cache}
			opts.Cache = wc
			before := slices.Sorted(slices.Values(cache.keys()))
			st, err := Inspect(opts)
			if err != nil {
				t.Fatalf("Inspect: %v", err)
			}
			if len(st) != 2 || st[0].Name != "a.example" || st[1].Name != "conference.a.example" {
				t.Fatalf("Inspect = %+v, want a.example and conference.a.example", st)
			}
			tc.check(t, st)
			if n := wc.writes.Load(); n != 0 {
				t.Errorf("Inspect wrote to the cache %d times", n)
			}
			if after := slices.Sorted(slices.Values(cache.keys())); !slices.Equal(before, after) {
				t.Errorf("cache keys changed from %q to %q", before, after)
			}
		})
	}
}

func TestInspectRejectsBadOptions(t *testing.T) {
	if _, err := Inspect(Options{Cache: newMemCache()}); err == nil {
		t.Error("Inspect without domains succeeded")
	}
}

// TestACMEFailureSurvivesRestart: a failed attempt is stored, shown by the
// next Manager on the same cache, and cleared by a success.
func TestACMEFailureSurvivesRestart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dirURL := "https://" + ln.Addr().String() + "/dir"
	ln.Close()
	cache := newMemCache()
	opts := Options{Domains: []string{"a.example"}, Source: SourceACME,
		ACME: ACMEOptions{DirectoryURL: dirURL, HTTPChallenge: true}, Cache: cache, Logger: testLogger(t)}
	m, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	m.backoffBase, m.backoffMax = time.Hour, time.Hour
	runManager(t, m)
	waitFor(t, 20*time.Second, "the failure", func() bool { return statusOf(t, m, "a.example").LastError != "" })
	first := statusOf(t, m, "a.example")
	if first.LastErrorAt.IsZero() {
		t.Errorf("LastErrorAt is zero after a failure")
	}

	m2, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	got := statusOf(t, m2, "a.example")
	if got.LastError != first.LastError || !got.LastErrorAt.Equal(first.LastErrorAt) || !strings.Contains(got.Advice, "cannot be reached") {
		t.Errorf("after restart: LastError %q at %v, Advice %q; want %q at %v", got.LastError, got.LastErrorAt, got.Advice, first.LastError, first.LastErrorAt)
	}

	m2.mu.Lock()
	st := m2.acmeState["a.example"]
	st.lastErr, st.advice, st.lastErrAt = "", "", time.Time{}
	m2.storeFailure("a.example", st)
	m2.mu.Unlock()
	if _, ok, _ := cache.Blob(failurePrefix + "a.example"); ok {
		t.Errorf("a success left the stored failure in the cache")
	}
}
