package loadtool

import (
	"math/bits"
	"time"
)

// hist is a latency histogram in microseconds with bounded memory and
// about 1.6 % relative error: values below 128 µs have a bucket each,
// larger ones 64 buckets per power of two. Each goroutine records into its
// own hist; merge combines them at the end.
type hist struct {
	counts [histBuckets]uint32
	n      uint64
	max    uint64
}

const (
	histLinear  = 128
	histSub     = 64
	histPowers  = 36 // up to 2^43 µs: far beyond any run
	histBuckets = histLinear + histPowers*histSub
)

func histIndex(us uint64) int {
	if us < histLinear {
		return int(us)
	}
	e := bits.Len64(us) - 7 // us>>e is in [64, 128)
	i := histLinear + (e-1)*histSub + int(us>>e) - histSub
	return min(i, histBuckets-1)
}

// histValue is the middle of bucket i.
func histValue(i int) uint64 {
	if i < histLinear {
		return uint64(i)
	}
	e := (i-histLinear)/histSub + 1
	lo := uint64(histSub+(i-histLinear)%histSub) << e
	return lo + (uint64(1)<<e)/2
}

func (h *hist) record(d time.Duration) {
	us := uint64(max(d, 0) / time.Microsecond)
	h.counts[histIndex(us)]++
	h.n++
	h.max = max(h.max, us)
}

func (h *hist) merge(o *hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile returns the value below which a fraction q of the samples lie.
func (h *hist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.5)
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += uint64(c)
		if seen >= rank {
			return time.Duration(min(histValue(i), h.max)) * time.Microsecond
		}
	}
	return time.Duration(h.max) * time.Microsecond
}

// Latency summarises a histogram.
type Latency struct {
	N                  uint64
	P50, P90, P99, Max time.Duration
}

func (h *hist) summary() Latency {
	return Latency{N: h.n, P50: h.quantile(0.50), P90: h.quantile(0.90), P99: h.quantile(0.99), Max: time.Duration(h.max) * time.Microsecond}
}
