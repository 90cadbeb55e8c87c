package srv

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// scripted returns a rand func that returns values in turn and records the
// n it was called with. Past the end of values it returns 0.
func scripted(values ...int) (func(int) int, *[]int) {
	var calls []int
	return func(n int) int {
		calls = append(calls, n)
		if len(values) == 0 {
			return 0
		}
		v := values[0]
		values = values[1:]
		return v
	}, &calls
}

func TestOrder(t *testing.T) {
	tests := []struct {
		name      string
		records   []SRV
		rand      []int
		want      []Target
		wantCalls []int // the n passed to rand, when checked
	}{
		{
			name: "priority strictly first, whatever the weights",
			records: []SRV{
				{Target: "c.example.", Port: 1, Priority: 20, Weight: 65535},
				{Target: "a.example.", Port: 2, Priority: 5, Weight: 0},
				{Target: "b.example.", Port: 3, Priority: 10, Weight: 65535},
			},
			want: []Target{
				{Host: "a.example", Port: 2},
				{Host: "b.example", Port: 3},
				{Host: "c.example", Port: 1},
			},
			wantCalls: []int{},
		},
		{
			name: "weighted pick by running sum",
			// Running sums 1, 3, 6: a draw of 2 picks b; then a (1), c (4): a
			// draw of 4 picks c; a is left alone.
			records: []SRV{
				{Target: "a.example.", Port: 1, Weight: 1},
				{Target: "b.example.", Port: 2, Weight: 2},
				{Target: "c.example.", Port: 3, Weight: 3},
			},
			rand: []int{2, 4},
			want: []Target{
				{Host: "b.example", Port: 2},
				{Host: "c.example", Port: 3},
				{Host: "a.example", Port: 1},
			},
			wantCalls: []int{7, 5},
		},
		{
			name: "draw equal to a running sum picks that record",
			records: []SRV{
				{Target: "a.example.", Port: 1, Weight: 1},
				{Target: "b.example.", Port: 2, Weight: 2},
			},
			rand: []int{1},
			want: []Target{
				{Host: "a.example", Port: 1},
				{Host: "b.example", Port: 2},
			},
			wantCalls: []int{4},
		},
		{
			name: "weight 0 placed first and chosen only by a zero draw",
			records: []SRV{
				{Target: "heavy.example.", Port: 1, Weight: 10},
				{Target: "zero.example.", Port: 2, Weight: 0},
			},
			rand: []int{0},
			want: []Target{
				{Host: "zero.example", Port: 2},
				{Host: "heavy.example", Port: 1},
			},
			wantCalls: []int{11},
		},
		{
			name: "weight 0 loses to any non-zero draw",
			records: []SRV{
				{Target: "heavy.example.", Port: 1, Weight: 10},
				{Target: "zero.example.", Port: 2, Weight: 0},
			},
			rand: []int{1},
			want: []Target{
				{Host: "heavy.example", Port: 1},
				{Host: "zero.example", Port: 2},
			},
			wantCalls: []int{11},
		},
		{
			name: "all weights 0 keep their order",
			records: []SRV{
				{Target: "a.example.", Port: 1},
				{Target: "b.example.", Port: 2},
				{Target: "c.example.", Port: 3},
			},
			want: []Target{
				{Host: "a.example", Port: 1},
				{Host: "b.example", Port: 2},
				{Host: "c.example", Port: 3},
			},
			wantCalls: []int{1, 1},
		},
		{
			name: "xmpps and xmpp interleaved by priority then weight",
			records: []SRV{
				{Target: "tls1.example.", Port: 5223, Priority: 0, Weight: 5, DirectTLS: true},
				{Target: "tls2.example.", Port: 5223, Priority: 10, Weight: 5, DirectTLS: true},
				{Target: "plain1.example.", Port: 5269, Priority: 0, Weight: 15},
				{Target: "plain2.example.", Port: 5269, Priority: 5, Weight: 0},
			},
			// Priority 0: sums tls1 5, plain1 20; draw 6 picks plain1.
			rand: []int{6},
			want: []Target{
				{Host: "plain1.example", Port: 5269},
				{Host: "tls1.example", Port: 5223, DirectTLS: true},
				{Host: "plain2.example", Port: 5269},
				{Host: "tls2.example", Port: 5223, DirectTLS: true},
			},
			wantCalls: []int{21},
		},
		{
			name: "dot targets dropped",
			records: []SRV{
				{Target: ".", Port: 0},
				{Target: "a.example.", Port: 5269, Priority: 1},
				{Target: "", Port: 0},
			},
			want:      []Target{{Host: "a.example", Port: 5269}},
			wantCalls: []int{},
		},
		{
			name:      "only a dot",
			records:   []SRV{{Target: "."}},
			want:      []Target{},
			wantCalls: []int{},
		},
		{
			name:      "empty",
			want:      []Target{},
			wantCalls: []int{},
		},
		{
			name: "out of range rand is clamped",
			records: []SRV{
				{Target: "a.example.", Port: 1, Weight: 1},
				{Target: "b.example.", Port: 2, Weight: 1},
				{Target: "c.example.", Port: 3, Weight: 1},
			},
			rand: []int{1 << 30, -7},
			want: []Target{
				{Host: "c.example", Port: 3},
				{Host: "a.example", Port: 1},
				{Host: "b.example", Port: 2},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			input := slices.Clone(tt.records)
			rnd, calls := scripted(tt.rand...)
			got := Order(tt.records, rnd)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Order() mismatch (-want +got):\n%s", diff)
			}
			if tt.wantCalls != nil {
				if diff := cmp.Diff(tt.wantCalls, *calls, cmp.Comparer(func(a, b []int) bool { return slices.Equal(a, b) })); diff != "" {
					t.Errorf("rand calls mismatch (-want +got):\n%s", diff)
				}
			}
			if diff := cmp.Diff(input, tt.records); diff != "" {
				t.Errorf("Order modified its input (-before +after):\n%s", diff)
			}
		})
	}
}

// TestOrderDistribution checks, with a seeded generator, that the first pick
// within one priority follows the weights (RFC 2782), and that a weight-0
// record is almost never first.
func TestOrderDistribution(t *testing.T) {
	records := []SRV{
		{Target: "zero.example.", Weight: 0},
		{Target: "ten.example.", Weight: 10},
		{Target: "thirty.example.", Weight: 30},
		{Target: "sixty.example.", Weight: 60},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const runs = 20000
	first := make(map[string]int)
	for range runs {
		first[Order(records, rng.IntN)[0].Host]++
	}
	tests := []struct {
		host     string
		min, max int // accepted range of first picks
	}{
		{"zero.example", 0, runs / 50}, // expected 1/101
		{"ten.example", runs * 8 / 100, runs * 12 / 100},
		{"thirty.example", runs * 27 / 100, runs * 33 / 100},
		{"sixty.example", runs * 56 / 100, runs * 64 / 100},
	}
	for _, tt := range tests {
		if got := first[tt.host]; got < tt.min || got > tt.max {
			t.Errorf("%s first %d times of %d, want between %d and %d", tt.host, got, runs, tt.min, tt.max)
		}
	}
}

// FuzzOrder checks that Order returns a permutation of its input without the
// "." targets, with non-decreasing priorities, whatever rand returns.
func FuzzOrder(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0}, uint64(1))
	f.Add([]byte{5, 1, 0, 10, 1, 1, 5, 2, 0, 20, 0, 2, 0, 3, 0, 0, 1, 0}, uint64(42))
	f.Add([]byte{1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0}, uint64(7))
	f.Add([]byte{2, 255, 255, 0, 3, 0, 2, 255, 255, 1, 4, 1, 2, 0, 0, 2, 5, 1}, uint64(0))
	targets := []string{".", "a.example.", "b.example.", "c.example", "", "d.example."}
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		// Order is quadratic within a priority; a DNS message holds at most
		// a few thousand SRV records, so larger inputs only slow the fuzzer.
		if len(data) > 6*maxFuzzRecords {
			data = data[:6*maxFuzzRecords]
		}
		var records []SRV
		for len(data) >= 6 {
			records = append(records, SRV{
				Priority:  uint16(data[0] % 4),
				Weight:    uint16(data[1])<<8 | uint16(data[2]),
				Port:      uint16(data[3]),
				Target:    targets[int(data[4])%len(targets)],
				DirectTLS: data[5]&1 == 1,
			})
			data = data[6:]
		}
		rng := rand.New(rand.NewPCG(seed, seed>>1))
		rnd := func(n int) int {
			if n <= 0 {
				t.Fatalf("rand called with n = %d", n)
			}
			if seed%7 == 0 {
				return int(rng.Int64()) // out of range on purpose
			}
			return rng.IntN(n)
		}
		got := Order(records, rnd)

		var want []Target
		for _, r := range records {
			if r.Target != "." && r.Target != "" {
				want = append(want, Target{Host: trimDot(r.Target), Port: r.Port, DirectTLS: r.DirectTLS})
			}
		}
		if !sameMultiset(got, want) {
			t.Fatalf("Order(%v) = %v, not a permutation of %v", records, got, want)
		}
		prio := make(map[Target][]uint16)
		for _, r := range records {
			tg := Target{Host: trimDot(r.Target), Port: r.Port, DirectTLS: r.DirectTLS}
			prio[tg] = append(prio[tg], r.Priority)
		}
		// Priorities, mapped back through the records, never decrease. Equal
		// targets with different priorities are ambiguous; take the lowest
		// one not yet used.
		last := uint16(0)
		for _, tg := range got {
			ps := prio[tg]
			i := slices.Index(ps, slices.Min(ps))
			p := ps[i]
			prio[tg] = slices.Delete(ps, i, i+1)
			if p < last {
				t.Fatalf("Order(%v) = %v: priority %d after %d", records, got, p, last)
			}
			last = p
		}
	})
}

// maxFuzzRecords bounds the records FuzzOrder builds from one input.
const maxFuzzRecords = 512

func trimDot(s string) string {
	if len(s) > 0 && s[len(s)-1] == '.' {
		return s[:len(s)-1]
	}
	return s
}

func sameMultiset(a, b []Target) bool {
	if len(a) != len(b) {
		return false
	}
	count := make(map[Target]int)
	for _, t := range a {
		count[t]++
	}
	for _, t := range b {
		count[t]--
		if count[t] < 0 {
			return false
		}
	}
	return true
}

func BenchmarkOrder(b *testing.B) {
	records := []SRV{
		{Target: "tls.a.example.", Port: 5270, Priority: 0, Weight: 5, DirectTLS: true},
		{Target: "xmpp1.a.example.", Port: 5269, Priority: 0, Weight: 10},
		{Target: "xmpp2.a.example.", Port: 5269, Priority: 0, Weight: 0},
		{Target: "backup.a.example.", Port: 5269, Priority: 10, Weight: 0},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	for b.Loop() {
		Order(records, rng.IntN)
	}
}
