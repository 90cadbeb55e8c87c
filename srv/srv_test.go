package srv

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"

	"roost/internal/dnstest"
)

// TestMain fails the run if goroutines outlive the tests.
func TestMain(m *testing.M) {
	before := runtime.NumGoroutine()
	code := m.Run()
	// The fuzzing engine leaves its own goroutines (os/signal) behind.
	if fuzz := flag.Lookup("test.fuzz"); code == 0 && (fuzz == nil || fuzz.Value.String() == "") {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<20)
			fmt.Fprintf(os.Stderr, "%d goroutines leaked:\n%s\n", n-before, buf[:runtime.Stack(buf, true)])
			code = 1
		}
	}
	os.Exit(code)
}

// clock is a manual clock for Options.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// zero is a rand that always draws 0: within a priority, weight-0 records
// and then the input order win.
func zero(int) int { return 0 }

func newResolver(t *testing.T, server string, clk *clock) *Resolver {
	t.Helper()
	opts := Options{Server: server, Rand: zero, Timeout: 5 * time.Second}
	if clk != nil {
		opts.Now = clk.Now
	}
	r, err := New(opts)
	if err != nil {
		t.Fatalf("New(%+v): %v", opts, err)
	}
	return r
}

func TestLookupServer(t *testing.T) {
	tests := []struct {
		name        string
		setup       func(s *dnstest.Server)
		domain      string
		want        []Target
		wantErr     error
		wantQueries int
	}{
		{
			name: "xmpps and xmpp merged",
			setup: func(s *dnstest.Server) {
				s.AddSRV("_xmpps-server._tcp.a.example", 300, 5, 0, 443, "tls.a.example")
				s.AddSRV("_xmpp-server._tcp.a.example", 300, 0, 0, 5269, "xmpp.a.example")
				s.AddSRV("_xmpp-server._tcp.a.example", 300, 10, 0, 5269, "backup.a.example")
			},
			domain: "a.example",
			want: []Target{
				{Host: "xmpp.a.example", Port: 5269},
				{Host: "tls.a.example", Port: 443, DirectTLS: true},
				{Host: "backup.a.example", Port: 5269},
			},
			wantQueries: 2,
		},
		{
			name: "single dot on xmpp-server aborts",
			setup: func(s *dnstest.Server) {
				s.AddSRV("_xmpp-server._tcp.a.example", 300, 0, 0, 0, ".")
			},
			domain:      "a.example",
			wantErr:     ErrNoService,
			wantQueries: 2,
		},
		{
			name: "single dot on xmpps-server leaves xmpp-server records",
			setup: func(s *dnstest.Server) {
				s.AddSRV("_xmpps-server._tcp.a.example", 300, 0, 0, 0, ".")
				s.AddSRV("_xmpp-server._tcp.a.example", 300, 0, 0, 5269, "xmpp.a.example")
			},
			domain:      "a.example",
			want:        []Target{{Host: "xmpp.a.example", Port: 5269}},
			wantQueries: 2,
		},
		{
			name: "single dot on xmpps-server forbids the fallback",
			setup: func(s *dnstest.Server) {
				s.AddSRV("_xmpps-server._tcp.a.example", 300, 0, 0, 0, ".")
			},
			domain:      "a.example",
			wantErr:     ErrNoService,
			wantQueries: 2,
		},
		{
			name: "single dot on xmpp-server leaves xmpps-server records",
			setup: func(s *dnstest.Server) {
				s.AddSRV("_xmpps-server._tcp.a.example", 300, 0, 0, 5270, "tls.a.example")
				s.AddSRV("_xmpp-server._tcp.a.example", 300, 0, 0, 0, ".")
			},
			domain:      "a.example",
			want:        []Target{{Host: "tls.a.example", Port: 5270, DirectTLS: true}},
			wantQueries: 2,
		},
		{
			name: "dot among other records is dropped",
			setup: func(s *dnstest.Server) {
				s.AddSRV("_xmpp-server._tcp.a.example", 300, 0, 0, 0, ".")
				s.AddSRV("_xmpp-server._tcp.a.example", 300, 1, 0, 5269, "xmpp.a.example")
			},
			domain:      "a.example",
			want:        []Target{{Host: "xmpp.a.example", Port: 5269}},
			wantQueries: 2,
		},
		{
			name:        "no srv records falls back to the domain",
			setup:       func(*dnstest.Server) {},
			domain:      "a.example",
			want:        []Target{{Host: "a.example", Port: 5269}},
			wantQueries: 2,
		},
		{
			name: "srv names exist without srv records: fallback",
			setup: func(s *dnstest.Server) {
				s.AddA("_xmpp-server._tcp.a.example", 300, "192.0.2.1")
				s.AddA("_xmpps-server._tcp.a.example", 300, "192.0.2.1")
			},
			domain:      "a.example",
			want:        []Target{{Host: "a.example", Port: 5269}},
			wantQueries: 2,
		},
		{
			name: "servfail without records is an error, not a fallback",
			setup: func(s *dnstest.Server) {
				s.SetRcode("_xmpp-server._tcp.a.example", dns.TypeSRV, dns.RcodeServerFailure)
			},
			domain:      "a.example",
			wantErr:     ErrServerFailure,
			wantQueries: 2,
		},
		{
			name: "servfail on xmpps-server, xmpp-server records used",
			setup: func(s *dnstest.Server) {
				s.SetRcode("_xmpps-server._tcp.a.example", dns.TypeSRV, dns.RcodeServerFailure)
				s.AddSRV("_xmpp-server._tcp.a.example", 300, 0, 0, 5269, "xmpp.a.example")
			},
			domain:      "a.example",
			want:        []Target{{Host: "xmpp.a.example", Port: 5269}},
			wantQueries: 2,
		},
		{
			name: "servfail beats a dot",
			setup: func(s *dnstest.Server) {
				s.AddSRV("_xmpps-server._tcp.a.example", 300, 0, 0, 0, ".")
				s.SetRcode("_xmpp-server._tcp.a.example", dns.TypeSRV, dns.RcodeRefused)
			},
			domain:      "a.example",
			wantErr:     ErrServerFailure,
			wantQueries: 2,
		},
		{
			name: "idna domain queried by its a-labels",
			setup: func(s *dnstest.Server) {
				s.AddSRV("_xmpp-server._tcp.xn--bcher-kva.example", 300, 0, 0, 5269, "xmpp.xn--bcher-kva.example")
			},
			domain:      "Bücher.example",
			want:        []Target{{Host: "xmpp.xn--bcher-kva.example", Port: 5269}},
			wantQueries: 2,
		},
		{
			name:        "idna fallback uses the a-labels",
			setup:       func(*dnstest.Server) {},
			domain:      "bücher.example.",
			want:        []Target{{Host: "xn--bcher-kva.example", Port: 5269}},
			wantQueries: 2,
		},
		{
			name: "cname to the srv records followed",
			setup: func(s *dnstest.Server) {
				s.AddCNAME("_xmpp-server._tcp.a.example", 300, "_xmpp-server._tcp.b.example")
				s.AddSRV("_xmpp-server._tcp.b.example", 300, 0, 0, 5269, "XMPP.B.Example")
			},
			domain:      "a.example",
			want:        []Target{{Host: "xmpp.b.example", Port: 5269}},
			wantQueries: 2,
		},
		{
			name: "cname loop is a bad response",
			setup: func(s *dnstest.Server) {
				s.AddCNAME("_xmpp-server._tcp.a.example", 300, "loop.a.example")
				s.AddCNAME("loop.a.example", 300, "_xmpp-server._tcp.a.example")
			},
			domain:      "a.example",
			wantErr:     ErrBadResponse,
			wantQueries: 2,
		},
		{
			name: "many records come over tcp",
			setup: func(s *dnstest.Server) {
				for i := range 60 {
					s.AddSRV("_xmpp-server._tcp.a.example", 300, uint16(i), 0, 5269, fmt.Sprintf("host-with-a-long-name-%02d.a.example", i))
				}
			},
			domain:      "a.example",
			want:        manyTargets(60),
			wantQueries: 3,
		},
		{name: "ipv4 literal not queried", setup: func(*dnstest.Server) {}, domain: "192.0.2.7",
			want: []Target{{Host: "192.0.2.7", Port: 5269}}},
		{name: "ipv6 literal not queried", setup: func(*dnstest.Server) {}, domain: "[2001:DB8::7]",
			want: []Target{{Host: "2001:db8::7", Port: 5269}}},
		{name: "localhost not queried", setup: func(*dnstest.Server) {}, domain: "LocalHost",
			want: []Target{{Host: "localhost", Port: 5269}}},
		{name: "empty label", setup: func(*dnstest.Server) {}, domain: "a..example", wantErr: ErrInvalidDomain},
		{name: "empty domain", setup: func(*dnstest.Server) {}, domain: "", wantErr: ErrInvalidDomain},
		{name: "bad ipv6 literal", setup: func(*dnstest.Server) {}, domain: "[192.0.2.1]", wantErr: ErrInvalidDomain},
		{name: "colon in a name", setup: func(*dnstest.Server) {}, domain: "a:b.example", wantErr: ErrInvalidDomain},
		{name: "space", setup: func(*dnstest.Server) {}, domain: "a example", wantErr: ErrInvalidDomain},
		{name: "label too long", setup: func(*dnstest.Server) {}, domain: strings.Repeat("a", 64) + ".example", wantErr: ErrInvalidDomain},
		{name: "invalid idna", setup: func(*dnstest.Server) {}, domain: "xn--ü.example", wantErr: ErrInvalidDomain},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := dnstest.NewServer(t, "127.0.0.1:0")
			tt.setup(s)
			r := newResolver(t, s.Addr, nil)
			got, err := r.LookupServer(t.Context(), tt.domain)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("LookupServer(%q) error = %v, want %v", tt.domain, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("LookupServer(%q) mismatch (-want +got):\n%s", tt.domain, diff)
			}
			if got := s.Queries(); got != tt.wantQueries {
				t.Errorf("server got %d queries, want %d", got, tt.wantQueries)
			}
		})
	}
}

func manyTargets(n int) []Target {
	var ts []Target
	for i := range n {
		ts = append(ts, Target{Host: fmt.Sprintf("host-with-a-long-name-%02d.a.example", i), Port: 5269})
	}
	return ts
}

func TestLookupClient(t *testing.T) {
	tests := []struct {
		name  string
		setup func(s *dnstest.Server)
		want  []Target
	}{
		{
			name: "merged",
			setup: func(s *dnstest.Server) {
				s.AddSRV("_xmpps-client._tcp.a.example", 300, 0, 0, 443, "tls.a.example")
				s.AddSRV("_xmpp-client._tcp.a.example", 300, 1, 0, 5222, "xmpp.a.example")
				// Server records must not leak into client answers.
				s.AddSRV("_xmpp-server._tcp.a.example", 300, 0, 0, 5269, "s2s.a.example")
			},
			want: []Target{
				{Host: "tls.a.example", Port: 443, DirectTLS: true},
				{Host: "xmpp.a.example", Port: 5222},
			},
		},
		{
			name:  "fallback to 5222",
			setup: func(*dnstest.Server) {},
			want:  []Target{{Host: "a.example", Port: 5222}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := dnstest.NewServer(t, "127.0.0.1:0")
			tt.setup(s)
			r := newResolver(t, s.Addr, nil)
			got, err := r.LookupClient(t.Context(), "a.example")
			if err != nil {
				t.Fatalf("LookupClient: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("LookupClient mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLookupHost(t *testing.T) {
	addrs := func(ss ...string) []netip.Addr {
		var as []netip.Addr
		for _, s := range ss {
			as = append(as, netip.MustParseAddr(s))
		}
		return as
	}
	var many []string
	for i := range 150 {
		many = append(many, fmt.Sprintf("10.1.%d.%d", i/200, i%200+1))
	}
	tests := []struct {
		name        string
		setup       func(s *dnstest.Server)
		host        string
		want        []netip.Addr
		wantErr     error
		wantQueries int
	}{
		{
			name: "both families interleaved ipv6 first",
			setup: func(s *dnstest.Server) {
				s.AddA("xmpp.a.example", 60, "192.0.2.1", "192.0.2.2", "192.0.2.3")
				s.AddAAAA("xmpp.a.example", 60, "2001:db8::1")
			},
			host:        "xmpp.a.example",
			want:        addrs("2001:db8::1", "192.0.2.1", "192.0.2.2", "192.0.2.3"),
			wantQueries: 2,
		},
		{
			name:        "ipv4 only",
			setup:       func(s *dnstest.Server) { s.AddA("xmpp.a.example", 60, "192.0.2.1") },
			host:        "XMPP.a.example.",
			want:        addrs("192.0.2.1"),
			wantQueries: 2,
		},
		{
			name:        "nxdomain",
			setup:       func(*dnstest.Server) {},
			host:        "nothing.a.example",
			wantErr:     ErrNotFound,
			wantQueries: 2,
		},
		{
			name:        "no address records",
			setup:       func(s *dnstest.Server) { s.AddSRV("xmpp.a.example", 60, 0, 0, 1, "x.a.example") },
			host:        "xmpp.a.example",
			wantErr:     ErrNoData,
			wantQueries: 2,
		},
		{
			name: "servfail on one family, addresses from the other",
			setup: func(s *dnstest.Server) {
				s.SetRcode("xmpp.a.example", dns.TypeAAAA, dns.RcodeServerFailure)
				s.AddA("xmpp.a.example", 60, "192.0.2.1")
			},
			host:        "xmpp.a.example",
			want:        addrs("192.0.2.1"),
			wantQueries: 2,
		},
		{
			name: "servfail beats nxdomain",
			setup: func(s *dnstest.Server) {
				s.SetRcode("xmpp.a.example", dns.TypeAAAA, dns.RcodeServerFailure)
			},
			host:        "xmpp.a.example",
			wantErr:     ErrServerFailure,
			wantQueries: 2,
		},
		{
			name: "cname followed",
			setup: func(s *dnstest.Server) {
				s.AddCNAME("alias.a.example", 60, "xmpp.b.example")
				s.AddAAAA("xmpp.b.example", 60, "2001:db8::2")
			},
			host:        "alias.a.example",
			want:        addrs("2001:db8::2"),
			wantQueries: 2,
		},
		{
			name:        "truncated answer retried over tcp",
			setup:       func(s *dnstest.Server) { s.AddA("big.a.example", 60, many...) },
			host:        "big.a.example",
			want:        addrs(many...),
			wantQueries: 3,
		},
		{name: "ipv4 literal", setup: func(*dnstest.Server) {}, host: "192.0.2.9", want: addrs("192.0.2.9")},
		{name: "ipv6 literal", setup: func(*dnstest.Server) {}, host: "2001:db8::9", want: addrs("2001:db8::9")},
		{name: "ipv6 literal with zone", setup: func(*dnstest.Server) {}, host: "fe80::1%eth0", want: addrs("fe80::1%eth0")},
		{name: "digits only is a name", setup: func(s *dnstest.Server) { s.AddA("1.2.3", 60, "192.0.2.3") }, host: "1.2.3",
			want: addrs("192.0.2.3"), wantQueries: 2},
		{name: "localhost", setup: func(*dnstest.Server) {}, host: "localhost", want: addrs("127.0.0.1", "::1")},
		{name: "under localhost", setup: func(*dnstest.Server) {}, host: "xmpp.localhost.", want: addrs("127.0.0.1", "::1")},
		{name: "invalid", setup: func(*dnstest.Server) {}, host: "a/b.example", wantErr: ErrInvalidDomain},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := dnstest.NewServer(t, "127.0.0.1:0")
			tt.setup(s)
			r := newResolver(t, s.Addr, nil)
			got, err := r.LookupHost(t.Context(), tt.host)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("LookupHost(%q) error = %v, want %v", tt.host, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("LookupHost(%q) mismatch (-want +got):\n%s", tt.host, diff)
			}
			if got := s.Queries(); got != tt.wantQueries {
				t.Errorf("server got %d queries, want %d", got, tt.wantQueries)
			}
		})
	}
}

// TestCache checks, by counting the server's queries, that answers are cached
// for their TTL, negative answers for min(SOA TTL, SOA minimum, 5m), and
// failures not at all.
func TestCache(t *testing.T) {
	type step struct {
		advance     time.Duration // before the lookup
		wantQueries int           // total after it
	}
	tests := []struct {
		name  string
		setup func(s *dnstest.Server)
		steps []step
	}{
		{
			name: "smallest ttl of the rrset and the chain",
			setup: func(s *dnstest.Server) {
				s.AddCNAME("_xmpps-server._tcp.a.example", 600, "_xmpps-server._tcp.b.example")
				s.AddSRV("_xmpps-server._tcp.b.example", 900, 0, 0, 5270, "xmpp.b.example")
				s.AddSRV("_xmpp-server._tcp.a.example", 300, 0, 0, 5269, "xmpp.a.example")
				s.AddSRV("_xmpp-server._tcp.a.example", 120, 0, 0, 5269, "xmpp2.a.example")
			},
			steps: []step{
				{0, 2},
				{119 * time.Second, 2},
				{1 * time.Second, 3},   // _xmpp-server expired at 120s, cached until 240s
				{479 * time.Second, 4}, // 599s: _xmpp-server again, cached until 719s
				{1 * time.Second, 5},   // 600s: the CNAME's TTL ends _xmpps-server
			},
		},
		{
			name:  "nxdomain cached for the soa minimum",
			setup: func(s *dnstest.Server) { s.SetNegativeTTL(30) },
			steps: []step{{0, 2}, {29 * time.Second, 2}, {time.Second, 4}},
		},
		{
			name:  "negative ttl capped at five minutes",
			setup: func(s *dnstest.Server) { s.SetNegativeTTL(86400) },
			steps: []step{{0, 2}, {299 * time.Second, 2}, {time.Second, 4}},
		},
		{
			name: "no data cached like nxdomain",
			setup: func(s *dnstest.Server) {
				s.SetNegativeTTL(60)
				s.AddA("_xmpp-server._tcp.a.example", 300, "192.0.2.1")
				s.AddSRV("_xmpps-server._tcp.a.example", 3600, 0, 0, 5270, "xmpp.a.example")
			},
			steps: []step{{0, 2}, {59 * time.Second, 2}, {time.Second, 3}},
		},
		{
			name: "servfail not cached",
			setup: func(s *dnstest.Server) {
				s.SetRcode("_xmpp-server._tcp.a.example", dns.TypeSRV, dns.RcodeServerFailure)
				s.AddSRV("_xmpps-server._tcp.a.example", 3600, 0, 0, 5270, "xmpp.a.example")
			},
			steps: []step{{0, 2}, {0, 3}, {time.Second, 4}},
		},
		{
			name: "ttl zero not cached",
			setup: func(s *dnstest.Server) {
				s.AddSRV("_xmpp-server._tcp.a.example", 0, 0, 0, 5269, "xmpp.a.example")
				s.AddSRV("_xmpps-server._tcp.a.example", 3600, 0, 0, 5270, "xmpp.a.example")
			},
			steps: []step{{0, 2}, {0, 3}},
		},
		{
			name: "ttl with the top bit set counts as zero",
			setup: func(s *dnstest.Server) {
				s.AddSRV("_xmpp-server._tcp.a.example", 1<<31, 0, 0, 5269, "xmpp.a.example")
				s.AddSRV("_xmpps-server._tcp.a.example", 3600, 0, 0, 5270, "xmpp.a.example")
			},
			steps: []step{{0, 2}, {0, 3}},
		},
		{
			name: "positive ttl capped at one day",
			setup: func(s *dnstest.Server) {
				s.AddSRV("_xmpp-server._tcp.a.example", 1<<30, 0, 0, 5269, "xmpp.a.example")
				s.AddSRV("_xmpps-server._tcp.a.example", 1<<30, 0, 0, 5270, "xmpp.a.example")
			},
			steps: []step{{0, 2}, {24*time.Hour - time.Second, 2}, {time.Second, 4}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := dnstest.NewServer(t, "127.0.0.1:0")
			tt.setup(s)
			clk := newClock()
			r := newResolver(t, s.Addr, clk)
			var elapsed time.Duration
			for i, st := range tt.steps {
				clk.Advance(st.advance)
				elapsed += st.advance
				// Errors are part of what is cached; the count is the test.
				_, _ = r.LookupServer(t.Context(), "a.example")
				if got := s.Queries(); got != st.wantQueries {
					t.Fatalf("step %d (after %v): server got %d queries, want %d", i, elapsed, got, st.wantQueries)
				}
			}
		})
	}
}

func TestCacheDisabled(t *testing.T) {
	s := dnstest.NewServer(t, "127.0.0.1:0")
	s.AddA("xmpp.a.example", 3600, "192.0.2.1")
	r, err := New(Options{Server: s.Addr, CacheSize: -1})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for range 3 {
		if _, err := r.LookupHost(t.Context(), "xmpp.a.example"); err != nil {
			t.Fatalf("LookupHost: %v", err)
		}
	}
	if got := s.Queries(); got != 6 {
		t.Errorf("server got %d queries, want 6 (no cache)", got)
	}
}

func TestCacheEviction(t *testing.T) {
	s := dnstest.NewServer(t, "127.0.0.1:0")
	for _, h := range []string{"a", "b", "c"} {
		s.AddA(h+".a.example", 3600, "192.0.2.1")
		s.AddAAAA(h+".a.example", 3600, "2001:db8::1")
	}
	r, err := New(Options{Server: s.Addr, CacheSize: 4})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	lookup := func(h string) {
		t.Helper()
		if _, err := r.LookupHost(t.Context(), h+".a.example"); err != nil {
			t.Fatalf("LookupHost(%s): %v", h, err)
		}
	}
	lookup("a")
	lookup("b")
	lookup("a") // a is now the most recently used
	lookup("c") // evicts b
	if got, want := r.cache.len(), 4; got != want {
		t.Errorf("cache holds %d entries, want %d", got, want)
	}
	before := s.Queries()
	lookup("a")
	if got := s.Queries(); got != before {
		t.Errorf("a re-queried after eviction of b: %d queries, want %d", got, before)
	}
	lookup("b")
	if got := s.Queries(); got != before+2 {
		t.Errorf("b: %d queries, want %d (evicted)", got, before+2)
	}
}

// blackhole returns the address of a UDP socket that reads queries and never
// answers.
func blackhole(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		pc.Close()
		<-done
	})
	return pc.LocalAddr().String()
}

func TestUnansweredQuery(t *testing.T) {
	addr := blackhole(t)
	tests := []struct {
		name    string
		timeout time.Duration
		ctx     func(t *testing.T) context.Context
		wantErr error
	}{
		{
			name:    "resolver timeout",
			timeout: 100 * time.Millisecond,
			ctx:     func(t *testing.T) context.Context { return t.Context() },
			wantErr: context.DeadlineExceeded,
		},
		{
			name:    "caller deadline",
			timeout: time.Hour,
			ctx: func(t *testing.T) context.Context {
				ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
				t.Cleanup(cancel)
				return ctx
			},
			wantErr: context.DeadlineExceeded,
		},
		{
			name:    "caller cancels",
			timeout: time.Hour,
			ctx: func(t *testing.T) context.Context {
				ctx, cancel := context.WithCancel(t.Context())
				timer := time.AfterFunc(100*time.Millisecond, cancel)
				t.Cleanup(func() { timer.Stop(); cancel() })
				return ctx
			},
			wantErr: context.Canceled,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := New(Options{Server: addr, Timeout: tt.timeout})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			for _, lookup := range []struct {
				name string
				f    func(ctx context.Context) (any, error)
			}{
				{"LookupServer", func(ctx context.Context) (any, error) { return r.LookupServer(ctx, "a.example") }},
				{"LookupHost", func(ctx context.Context) (any, error) { return r.LookupHost(ctx, "a.example") }},
			} {
				got, err := lookup.f(tt.ctx(t))
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("%s = %v, %v; want error %v", lookup.name, got, err, tt.wantErr)
				}
			}
		})
	}
}

// TestSpoofedAnswersIgnored answers every query first with a wrong ID, then
// with a wrong question, then correctly: only the last may be used.
func TestSpoofedAnswersIgnored(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			req := new(dns.Msg)
			if err := req.Unpack(buf[:n]); err != nil {
				continue
			}
			reply := func(mod func(m *dns.Msg)) {
				m := new(dns.Msg)
				m.SetReply(req)
				rr, _ := dns.NewRR(req.Question[0].Name + " 60 IN A 192.0.2.66")
				if req.Question[0].Qtype == dns.TypeA {
					m.Answer = []dns.RR{rr}
				}
				mod(m)
				b, _ := m.Pack()
				_, _ = pc.WriteTo(b, from)
			}
			reply(func(m *dns.Msg) { m.Id++ })
			reply(func(m *dns.Msg) {
				m.Question[0].Name = "evil.example."
				rr, _ := dns.NewRR("evil.example. 60 IN A 203.0.113.1")
				m.Answer = []dns.RR{rr}
			})
			reply(func(m *dns.Msg) { m.Response = false })
			reply(func(m *dns.Msg) {
				if req.Question[0].Qtype == dns.TypeA {
					m.Answer = []dns.RR{m.Answer[0]}
				}
			})
		}
	}()
	t.Cleanup(func() {
		pc.Close()
		<-done
	})
	r := newResolver(t, pc.LocalAddr().String(), nil)
	got, err := r.LookupHost(t.Context(), "xmpp.a.example")
	if err != nil {
		t.Fatalf("LookupHost: %v", err)
	}
	want := []netip.Addr{netip.MustParseAddr("192.0.2.66")}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("LookupHost mismatch (-want +got):\n%s", diff)
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		server  string
		want    string
		wantErr error
	}{
		{"ipv4 with port", "192.0.2.53:5353", "192.0.2.53:5353", nil},
		{"ipv4 without port", "192.0.2.53", "192.0.2.53:53", nil},
		{"ipv6 with port", "[2001:db8::53]:53", "[2001:db8::53]:53", nil},
		{"ipv6 without port", "2001:db8::53", "[2001:db8::53]:53", nil},
		{"bracketed ipv6 without port", "[2001:db8::53]", "[2001:db8::53]:53", nil},
		{"host name", "dns.example:53", "", ErrInvalidServer},
		{"port zero", "192.0.2.53:0", "", ErrInvalidServer},
		{"garbage", "::::", "", ErrInvalidServer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := New(Options{Server: tt.server})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("New(%q) error = %v, want %v", tt.server, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if r.server != tt.want {
				t.Errorf("New(%q) server = %q, want %q", tt.server, r.server, tt.want)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	r, err := New(Options{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if _, err := netip.ParseAddrPort(r.server); err != nil {
		t.Errorf("default server %q is not ip:port: %v", r.server, err)
	}
	if r.timeout != DefaultTimeout {
		t.Errorf("timeout = %v, want %v", r.timeout, DefaultTimeout)
	}
	if r.cache == nil || r.cache.max != DefaultCacheSize {
		t.Errorf("cache = %+v, want size %d", r.cache, DefaultCacheSize)
	}
}

func TestServerFromResolvConf(t *testing.T) {
	tests := []struct {
		name    string
		content string // "" means no file
		want    string
	}{
		{"first nameserver", "search a.example\nnameserver 192.0.2.53\nnameserver 192.0.2.54\n", "192.0.2.53:53"},
		{"ipv6 nameserver", "nameserver 2001:db8::53\n", "[2001:db8::53]:53"},
		{"no nameserver", "search a.example\n", fallbackServer},
		{"no file", "", fallbackServer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "resolv.conf")
			if tt.content != "" {
				if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if got := serverFromResolvConf(path); got != tt.want {
				t.Errorf("serverFromResolvConf() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestConcurrentLookups runs lookups in parallel under -race.
func TestConcurrentLookups(t *testing.T) {
	s := dnstest.NewServer(t, "127.0.0.1:0")
	s.AddSRV("_xmpp-server._tcp.a.example", 300, 0, 0, 5269, "xmpp.a.example")
	s.AddA("xmpp.a.example", 300, "192.0.2.1")
	r, err := New(Options{Server: s.Addr})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			targets, err := r.LookupServer(t.Context(), "a.example")
			if err != nil || len(targets) != 1 {
				t.Errorf("LookupServer = %v, %v", targets, err)
			}
			if _, err := r.LookupHost(t.Context(), "xmpp.a.example"); err != nil {
				t.Errorf("LookupHost: %v", err)
			}
		})
	}
	wg.Wait()
}

// TestLookupServerCachedAllocs pins the allocations of a cached lookup (the
// two query names, the merged records and the result) so that a regression
// shows up in go test, not only in benchmarks.
func TestLookupServerCachedAllocs(t *testing.T) {
	s := dnstest.NewServer(t, "127.0.0.1:0")
	s.AddSRV("_xmpps-server._tcp.a.example", 3600, 0, 5, 5270, "tls.a.example")
	s.AddSRV("_xmpp-server._tcp.a.example", 3600, 0, 10, 5269, "xmpp.a.example")
	r := newResolver(t, s.Addr, nil)
	ctx := t.Context()
	if _, err := r.LookupServer(ctx, "a.example"); err != nil {
		t.Fatalf("LookupServer: %v", err)
	}
	const want = 4
	if got := testing.AllocsPerRun(100, func() { _, _ = r.LookupServer(ctx, "a.example") }); got > want {
		t.Errorf("cached LookupServer: %v allocations, want at most %d", got, want)
	}
}

func BenchmarkLookupServerCached(b *testing.B) {
	s := dnstest.NewServer(b, "127.0.0.1:0")
	s.AddSRV("_xmpps-server._tcp.a.example", 3600, 0, 5, 5270, "tls.a.example")
	s.AddSRV("_xmpp-server._tcp.a.example", 3600, 0, 10, 5269, "xmpp1.a.example")
	s.AddSRV("_xmpp-server._tcp.a.example", 3600, 10, 0, 5269, "xmpp2.a.example")
	r, err := New(Options{Server: s.Addr})
	if err != nil {
		b.Fatalf("New: %v", err)
	}
	ctx := context.Background()
	if _, err := r.LookupServer(ctx, "a.example"); err != nil {
		b.Fatalf("LookupServer: %v", err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.LookupServer(ctx, "a.example"); err != nil {
			b.Fatalf("LookupServer: %v", err)
		}
	}
	if q := s.Queries(); q != 2 {
		b.Fatalf("server got %d queries, want 2 (cached)", q)
	}
}

// FuzzNormalizeHost checks the domain parsing: errors are ErrInvalidDomain,
// results are ASCII names we would query (or IP literals and localhost
// names, flagged special), and normalising again changes nothing.
func FuzzNormalizeHost(f *testing.F) {
	for _, s := range []string{"a.example", "Bücher.example.", "[2001:db8::1]", "192.0.2.1",
		"localhost", "xn--bcher-kva.example", "a..example", "fe80::1%eth0", "1.2.3", "_xmpp-server._tcp.a.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		host, special, err := normalizeHost(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidDomain) {
				t.Fatalf("normalizeHost(%q) error %v is not ErrInvalidDomain", s, err)
			}
			return
		}
		if _, ipErr := netip.ParseAddr(host); !special && (ipErr == nil || !validName(host)) {
			t.Fatalf("normalizeHost(%q) = %q, not special, but not a valid name", s, host)
		}
		again, special2, err := normalizeHost(host)
		if err != nil || again != host || special2 != special {
			t.Fatalf("normalizeHost(%q) = %q, %v; again = %q, %v, %v", s, host, special, again, special2, err)
		}
	})
}
