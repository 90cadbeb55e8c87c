package archive

import (
	"context"
	"log/slog"
	"time"
)

// Trimmer deletes what a retention policy no longer keeps, from the
// archives of every owner in a store; *store.Store satisfies it. One call
// deletes at most budget messages in one transaction and returns the
// owner to go on from ("" when the pass is done).
type Trimmer interface {
	TrimArchives(from string, budget int, policy func(owner string) (keepAfter time.Time, maxSize int64)) (deleted int, next string, err error)
}

// Policy says what one owner's archive keeps: messages archived after
// keepAfter (zero: any age) and, newest first, at most maxSize bytes (0:
// any size). An owner whose archive is someone else's to trim gets zero
// values: everything is kept.
type Policy func(owner string) (keepAfter time.Time, maxSize int64)

// Retention sweeps: how much one transaction deletes, and the pause
// between transactions that lets message commits through.
const (
	SweepBudget = 500
	sweepPause  = 20 * time.Millisecond
	// firstSweep waits for start-up to settle before the first sweep.
	firstSweep = time.Minute
)

// Sweep goes once through every archive t holds, applying policy at most
// [SweepBudget] deletions per transaction with a pause between, so that
// a sweep never holds up message commits, and returns how many messages
// it deleted. It stops early, without error, when ctx is done.
func Sweep(ctx context.Context, t Trimmer, policy Policy) (int, error) {
	total, from := 0, ""
	for {
		n, next, err := t.TrimArchives(from, SweepBudget, policy)
		total += n
		if err != nil || next == "" {
			return total, err
		}
		from = next
		select {
		case <-ctx.Done():
			return total, nil
		case <-time.After(sweepPause):
		}
	}
}

// Retain runs sweep every interval until ctx is done (a module's
// background job), the first time a minute after start (or after one
// interval, if shorter), logging what each sweep deleted or its error.
// A failed sweep is tried again at the next interval.
func Retain(ctx context.Context, every time.Duration, sweep func(context.Context) (int, error), log *slog.Logger) error {
	wait := min(firstSweep, every)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = every
		n, err := sweep(ctx)
		if err != nil {
			log.LogAttrs(ctx, slog.LevelError, "applying archive retention", slog.Any("err", err))
			continue
		}
		if n > 0 {
			log.LogAttrs(ctx, slog.LevelInfo, "archive retention", slog.Int("deleted", n))
		}
	}
}
