package loadtool

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"roost/xmlstream"
)

func mustParse(t *testing.T, s string) *xmlstream.Element {
	t.Helper()
	el, err := xmlstream.Parse([]byte(s), xmlstream.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return el
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

func TestParseStat(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    int64
		wantErr bool
	}{
		{"plain", "4242 (roost) S 1 4242 4242 0 -1 4194560 6011 0 0 0 150 25 0 0 20 0 9 0 12345 1 2 3", 175, false},
		{"name with spaces and parens", "7 (beam.smp (x) y) S 1 7 7 0 -1 0 0 0 0 0 3 4 0 0 20 0 1 0", 7, false},
		{"too short", "7 (x) S 1 2", 0, true},
		{"no parenthesis", "7 x S 1 2 3 4 5 6 7 8 9 10 11 12 13", 0, true},
		{"not a number", "7 (x) S 1 7 7 0 -1 0 0 0 0 0 a 4 0 0", 0, true},
		{"negative", "7 (x) S 1 7 7 0 -1 0 0 0 0 0 -3 4 0 0", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStat([]byte(tc.in))
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("parseStat = %d, %v; want %d, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestParseStatusRSS(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    int64
		wantErr bool
	}{
		{"present", "Name:\troost\nVmPeak:\t  1000 kB\nVmRSS:\t    9688 kB\nThreads:\t9\n", 9688, false},
		{"kernel thread", "Name:\tkthreadd\nThreads:\t1\n", 0, true},
		{"odd unit", "VmRSS:\t 12 MB\n", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStatusRSS([]byte(tc.in))
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("parseStatusRSS = %d, %v; want %d, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestParseSystemBusy(t *testing.T) {
	got, err := parseSystemBusy([]byte("cpu  100 5 50 1000 20 3 2 1 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n"))
	if err != nil || got != 100+5+50+1 {
		t.Errorf("parseSystemBusy = %d, %v; want 156", got, err)
	}
	if _, err := parseSystemBusy([]byte("intr 1 2 3\n")); err == nil {
		t.Error("parseSystemBusy accepted a file without a cpu line")
	}
}

func TestListeningInode(t *testing.T) {
	// 127.0.73.10:5222 listening (inode 111), 0.0.0.0:5269 listening (222),
	// and an established connection on 5222 (333).
	table := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: ` + procHex(t, "127.0.73.10") + `:1466 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1 0 100 0 0 10 0
   1: 00000000:1495 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 222 1 0 100 0 0 10 0
   2: ` + procHex(t, "127.0.0.1") + `:1466 ` + procHex(t, "127.0.0.1") + `:9C40 01 00000000:00000000 00:00000000 00000000     0        0 333 1 0 100 0 0 10 0
`
	tests := []struct{ addr, want string }{
		{"127.0.73.10:5222", "111"},
		{"127.0.0.9:5269", "222"}, // the wildcard listener
		{"127.0.0.1:5222", ""},    // only a connection, no listener
		{"127.0.73.10:5223", ""},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			if got := listeningInode([]byte(table), netip.MustParseAddrPort(tc.addr)); got != tc.want {
				t.Errorf("listeningInode(%s) = %q, want %q", tc.addr, got, tc.want)
			}
		})
	}
}

// procHex prints an IPv4 address as /proc/net/tcp does on this machine.
func procHex(t *testing.T, ip string) string {
	t.Helper()
	a := netip.MustParseAddr(ip).As4()
	for _, order := range []string{"%02X%02X%02X%02X"} {
		for _, s := range []string{
			fmt.Sprintf(order, a[3], a[2], a[1], a[0]),
			fmt.Sprintf(order, a[0], a[1], a[2], a[3]),
		} {
			if got, ok := parseProcAddr(s + ":0000"); ok && got.Addr() == netip.AddrFrom4(a) {
				return s
			}
		}
	}
	t.Fatalf("no /proc encoding of %s round-trips", ip)
	return ""
}

func TestProcOnThisProcess(t *testing.T) {
	var p Proc
	u, err := p.Usage(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if u.RSS <= 0 {
		t.Errorf("RSS = %d, want > 0", u.RSS)
	}
	busy, err := p.Busy()
	if err != nil || busy <= 0 {
		t.Errorf("Busy = %v, %v; want > 0", busy, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pid, err := p.ListeningPID(ln.Addr().String())
	if err != nil || pid != os.Getpid() {
		t.Errorf("ListeningPID = %d, %v; want %d", pid, err, os.Getpid())
	}
	if _, err := p.Usage(-5); err == nil {
		t.Error("Usage of a missing process succeeded")
	}
}

func TestProcFixtures(t *testing.T) {
	root := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "42"), 0o755))
	must(os.WriteFile(filepath.Join(root, "42", "stat"), []byte("42 (srv) S 1 42 42 0 -1 0 0 0 0 0 250 50 0 0 20 0 1 0"), 0o644))
	must(os.WriteFile(filepath.Join(root, "42", "status"), []byte("VmRSS:\t2048 kB\nRssAnon:\t1024 kB\nRssFile:\t1000 kB\nRssShmem:\t24 kB\n"), 0o644))
	u, err := Proc{Root: root}.Usage(42)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Usage{CPU: 3 * time.Second, RSS: 2 << 20}); u != want {
		t.Errorf("Usage = %+v, want %+v", u, want)
	}
	m, err := Proc{Root: root}.Memory(42)
	if want := (Memory{RSS: 2 << 20, Anon: 1 << 20, File: 1000 << 10}); err != nil || m != want {
		t.Errorf("Memory = %+v, %v; want %+v", m, err, want)
	}
}

func TestMarkerRoundTrip(t *testing.T) {
	tests := []marker{
		{run: "0123456789abcdef", pair: 0, side: 'a', seq: 1, stamp: 0},
		{run: "r", pair: 999, side: 'b', seq: 1 << 40, stamp: 90 * time.Second},
	}
	for _, m := range tests {
		b := appendMarker([]byte("text "), m.run, m.pair, m.side, m.seq, m.stamp)
		got, ok := findMarker(string(b) + " more")
		if !ok || got != m {
			t.Errorf("findMarker(%s) = %+v, %v; want %+v", b, got, ok, m)
		}
	}
	for _, bad := range []string{"{rb:", "{rb:r:1:c:1:1}", "{rb:r:x:a:1:1}", "{rb::1:a:1:1}", "{rb:r:1:a:1:-1}", "{rb:r:1:a:1}"} {
		if m, ok := parseMarker(bad); ok {
			t.Errorf("parseMarker(%q) = %+v, want no marker", bad, m)
		}
	}
}

func TestScanMarkersAcrossReads(t *testing.T) {
	// A stream of stanzas with markers, cut into reads of random sizes,
	// must yield every marker exactly once.
	var stream []byte
	const n = 500
	for i := range n {
		stream = append(stream, "<message to='u2@x' type='chat'><body>hi "...)
		stream = appendMarker(stream, "run1", i%7, "ab"[i%2], uint64(i), time.Duration(i))
		stream = append(stream, "</body></message>"...)
		if i%50 == 0 {
			stream = append(stream, "{rb:not a marker at all, but long enough to be skipped"...)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	seen := make(map[uint64]int)
	buf := make([]byte, 0, 4096)
	for rest := stream; len(rest) > 0; {
		k := min(len(rest), 1+rng.IntN(300))
		buf = append(buf, rest[:k]...)
		rest = rest[k:]
		used := scanMarkers(buf, func(m marker) { seen[m.seq]++ })
		buf = append(buf[:0], buf[used:]...)
	}
	for i := range uint64(n) {
		if seen[i] != 1 {
			t.Fatalf("marker %d seen %d times, want once", i, seen[i])
		}
	}
}

func TestHist(t *testing.T) {
	var h hist
	for i := 1; i <= 10000; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	tests := []struct {
		q    float64
		want time.Duration
	}{{0.5, 5000 * time.Microsecond}, {0.9, 9000 * time.Microsecond}, {0.99, 9900 * time.Microsecond}}
	for _, tc := range tests {
		got := h.quantile(tc.q)
		if d := float64(got-tc.want) / float64(tc.want); d < -0.02 || d > 0.02 {
			t.Errorf("quantile(%v) = %v, want %v ± 2 %%", tc.q, got, tc.want)
		}
	}
	if s := h.summary(); s.N != 10000 || s.Max != 10*time.Millisecond {
		t.Errorf("summary = %+v", s)
	}
	var other hist
	other.record(time.Hour)
	h.merge(&other)
	if h.n != 10001 || h.summary().Max != time.Hour {
		t.Errorf("after merge: n %d, max %v", h.n, h.summary().Max)
	}
	var empty hist
	if q := empty.quantile(0.5); q != 0 {
		t.Errorf("empty quantile = %v, want 0", q)
	}
}

func TestHistIndexMonotonic(t *testing.T) {
	prev := -1
	for us := uint64(0); us < 1<<24; us = us*17/16 + 1 {
		i := histIndex(us)
		if i < prev {
			t.Fatalf("histIndex(%d) = %d < previous %d", us, i, prev)
		}
		if v := histValue(i); v+v/30+1 < us || v > us+us/30+1 {
			t.Fatalf("histValue(histIndex(%d)) = %d: more than 3 %% off", us, v)
		}
		prev = i
	}
}

func TestHistRecordAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under -race")
	}
	var h hist
	if n := testing.AllocsPerRun(100, func() { h.record(123 * time.Microsecond) }); n != 0 {
		t.Errorf("hist.record allocates %v times, want 0", n)
	}
}

func TestScanMarkersAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under -race")
	}
	data := appendMarker([]byte("<body>"), "run", 1, 'a', 2, 3)
	// One allocation per marker: the string handed to parseMarker.
	if n := testing.AllocsPerRun(100, func() { scanMarkers(data, func(marker) {}) }); n > 1 {
		t.Errorf("scanMarkers allocates %v times per marker, want at most 1", n)
	}
}

func FuzzParseMarker(f *testing.F) {
	f.Add(string(appendMarker(nil, "abc", 1, 'a', 2, 3)))
	f.Add("{rb:x:1:b:2:3")
	f.Add("{rb:::::}")
	f.Fuzz(func(t *testing.T, s string) {
		m, ok := parseMarker(s)
		if !ok {
			return
		}
		// A marker that parses re-encodes to one that parses the same.
		back, ok := parseMarker(string(appendMarker(nil, m.run, m.pair, m.side, m.seq, m.stamp)))
		if !ok || back != m {
			t.Fatalf("round trip of %q: %+v, %v; want %+v", s, back, ok, m)
		}
	})
}

func FuzzScanMarkers(f *testing.F) {
	f.Add(appendMarker([]byte("<body>"), "r", 1, 'a', 2, 3), 5)
	f.Add([]byte("{rb:{rb:{rb:}}"), 1)
	f.Fuzz(func(t *testing.T, data []byte, cut int) {
		// Whole or in two reads, the same markers come out.
		var whole, split []marker
		used := scanMarkers(data, func(m marker) { whole = append(whole, m) })
		if used < 0 || used > len(data) {
			t.Fatalf("used %d of %d bytes", used, len(data))
		}
		if cut < 0 || cut > len(data) {
			return
		}
		first := scanMarkers(data[:cut], func(m marker) { split = append(split, m) })
		rest := append(append([]byte(nil), data[first:cut]...), data[cut:]...)
		scanMarkers(rest, func(m marker) { split = append(split, m) })
		if len(split) != len(whole) {
			t.Fatalf("split at %d found %d markers, whole %d", cut, len(split), len(whole))
		}
	})
}

func FuzzProcParsers(f *testing.F) {
	f.Add([]byte("42 (srv) S 1 42 42 0 -1 0 0 0 0 0 250 50 0 0 20 0 1 0"))
	f.Add([]byte("VmRSS:\t2048 kB\n"))
	f.Add([]byte("cpu  1 2 3 4 5 6 7 8 9 10\n"))
	f.Add([]byte("0100007F:1466"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if n, err := parseStat(b); err == nil && n < 0 {
			t.Fatalf("parseStat = %d", n)
		}
		if n, err := parseStatusRSS(b); err == nil && n < 0 {
			t.Fatalf("parseStatusRSS = %d", n)
		}
		if n, err := parseSystemBusy(b); err == nil && n < 0 {
			t.Fatalf("parseSystemBusy = %d", n)
		}
		parseProcAddr(string(b))
		listeningInode(b, netip.MustParseAddrPort("127.0.0.1:5222"))
	})
}

// BenchmarkReceiveOverhead is what the tool spends per message it
// receives besides TLS: parsing the stanza, finding the marker and
// recording the latency. It bounds how much of a shared machine the tool
// takes from the server it measures.
func BenchmarkReceiveOverhead(b *testing.B) {
	msg := appendMarker([]byte(`<message xmlns='jabber:client' from='u1@x/bench' to='u2@x/bench' type='chat' id='1'><body>`+filler), "0123456789abcdef", 3, 'a', 12345, 987654321)
	msg = append(msg, "</body><active xmlns='"+nsChatStates+"'/></message>"...)
	var h hist
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		el, err := xmlstream.Parse(msg, xmlstream.Limits{})
		if err != nil {
			b.Fatal(err)
		}
		m, ok := findMarker(el.ChildText(xmlstream.NSClient, "body"))
		if !ok {
			b.Fatal("no marker")
		}
		h.record(m.stamp)
	}
}

// BenchmarkScanMarkers is the floor's receive path: markers found in raw
// bytes.
func BenchmarkScanMarkers(b *testing.B) {
	var data []byte
	for i := range 50 {
		data = append(data, "<message><body>"+filler...)
		data = appendMarker(data, "0123456789abcdef", i, 'b', uint64(i), time.Duration(i))
		data = append(data, "</body></message>"...)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		scanMarkers(data, func(marker) {})
	}
}
