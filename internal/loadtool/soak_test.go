package loadtool

import (
	"strings"
	"testing"
)

// TestSoakCheck: the soak fails when messages per CPU-second drop by more
// than the allowed slowdown or the process's own memory grows by more
// than the allowed growth, and passes within both; mapped files (RSS
// beyond Anon) do not count.
func TestSoakCheck(t *testing.T) {
	const mb = 1 << 20
	tests := []struct {
		name          string
		before, after SoakPoint
		want          []string // substrings of the failures, in order
	}{
		{"same", SoakPoint{PerCPU: 10000, Anon: 50 * mb}, SoakPoint{PerCPU: 10000, Anon: 50 * mb}, nil},
		{"within noise", SoakPoint{PerCPU: 10000, Anon: 50 * mb}, SoakPoint{PerCPU: 8600, Anon: 59 * mb}, nil},
		{"faster and smaller", SoakPoint{PerCPU: 10000, Anon: 50 * mb}, SoakPoint{PerCPU: 12000, Anon: 40 * mb}, nil},
		{"slower", SoakPoint{PerCPU: 10000, Anon: 50 * mb}, SoakPoint{PerCPU: 8400, Anon: 50 * mb}, []string{"fell from 10000 to 8400 (16 %"}},
		{"memory kept", SoakPoint{PerCPU: 10000, Anon: 50 * mb}, SoakPoint{PerCPU: 10000, Anon: 61 * mb}, []string{"own grew from 50.0 to 61.0 MiB (22 %"}},
		{"mapped file pages do not count", SoakPoint{PerCPU: 10000, RSS: 100 * mb, Anon: 50 * mb}, SoakPoint{PerCPU: 10000, RSS: 150 * mb, Anon: 50 * mb}, nil},
		{"both", SoakPoint{PerCPU: 10000, Anon: 50 * mb}, SoakPoint{PerCPU: 5000, Anon: 100 * mb}, []string{"fell", "grew"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &SoakReport{Before: tc.before, After: tc.after}
			r.check(0.15, 0.20)
			if len(r.Failures) != len(tc.want) {
				t.Fatalf("failures = %q, want %d", r.Failures, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.Contains(r.Failures[i], w) {
					t.Errorf("failure %d = %q, want it to contain %q", i, r.Failures[i], w)
				}
			}
			if verdict := r.Text(); strings.HasSuffix(verdict, "PASS\n") != (len(tc.want) == 0) {
				t.Errorf("text ends %q with %d failures", verdict[len(verdict)-5:], len(tc.want))
			}
		})
	}
}
