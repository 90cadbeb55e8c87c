package archive

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// passTrimmer deletes budget messages per call until it has deleted
// total, naming the owner to go on from, and records the calls.
type passTrimmer struct {
	total, deleted int
	froms          []string
	err            error
}

func (p *passTrimmer) TrimArchives(from string, budget int, policy func(string) (time.Time, int64)) (int, string, error) {
	p.froms = append(p.froms, from)
	if p.err != nil {
		return 0, "", p.err
	}
	n := min(budget, p.total-p.deleted)
	p.deleted += n
	if p.deleted < p.total {
		return n, "owner" + string(rune('a'+len(p.froms))), nil
	}
	return n, "", nil
}

func TestSweep(t *testing.T) {
	boom := errors.New("disk on fire")
	tests := []struct {
		name      string
		total     int
		err       error
		cancelled bool
		want      int
		wantFroms []string
		wantErr   error
	}{
		{"nothing to do", 0, nil, false, 0, []string{""}, nil},
		{"one transaction", 3, nil, false, 3, []string{""}, nil},
		{"three transactions", 2*SweepBudget + 1, nil, false, 2*SweepBudget + 1, []string{"", "ownerb", "ownerc"}, nil},
		{"stopped after the first", 2*SweepBudget + 1, nil, true, SweepBudget, []string{""}, nil},
		{"an error", 10, boom, false, 0, []string{""}, boom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := &passTrimmer{total: tt.total, err: tt.err}
			ctx, cancel := context.WithCancel(context.Background())
			if tt.cancelled {
				cancel()
			}
			defer cancel()
			n, err := Sweep(ctx, tr, func(string) (time.Time, int64) { return time.Time{}, 0 })
			if n != tt.want || !errors.Is(err, tt.wantErr) || !slices.Equal(tr.froms, tt.wantFroms) {
				t.Errorf("Sweep = %d, %v after calls from %q; want %d, %v after %q", n, err, tr.froms, tt.want, tt.wantErr, tt.wantFroms)
			}
		})
	}
}

// TestRetain: sweeps run every interval, a failed one is tried again,
// and the job returns once its context is done.
func TestRetain(t *testing.T) {
	var calls atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	sweep := func(context.Context) (int, error) {
		switch calls.Add(1) {
		case 1:
			return 0, errors.New("busy")
		case 3:
			cancel()
		}
		return 1, nil
	}
	done := make(chan error, 1)
	go func() { done <- Retain(ctx, time.Millisecond, sweep, slog.New(slog.DiscardHandler)) }()
	select {
	case err := <-done:
		if err != nil || calls.Load() != 3 {
			t.Errorf("Retain = %v after %d sweeps, want nil after 3", err, calls.Load())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Retain did not return after its context was cancelled")
	}
}
