package mam

import (
	"context"
	"log/slog"
	"strings"
	"time"
)

// Retention sweeps: how much one transaction deletes, and the pause
// between transactions that lets message commits through.
const (
	sweepBudget = 500
	sweepPause  = 20 * time.Millisecond
	// firstSweep waits for start-up to settle before the first sweep.
	firstSweep = time.Minute
)

// sweep applies retention every SweepEvery until ctx is done.
func (m *MAM) sweep(ctx context.Context) error {
	wait := min(firstSweep, m.opts.SweepEvery)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = m.opts.SweepEvery
		n, err := m.trim(ctx)
		if err != nil {
			m.log.LogAttrs(ctx, slog.LevelError, "applying archive retention", slog.Any("err", err))
			continue
		}
		if n > 0 {
			m.log.LogAttrs(ctx, slog.LevelInfo, "archive retention", slog.Int("deleted", n))
		}
	}
}

// trim goes once through every archive, a bounded number of deletions per
// transaction, and returns how many messages it deleted.
func (m *MAM) trim(ctx context.Context) (int, error) {
	keepAfter := time.Time{}
	if m.opts.KeepFor > 0 {
		keepAfter = m.opts.Now().Add(-m.opts.KeepFor)
	}
	policy := func(owner string) (time.Time, int64) {
		if !m.isAccount(owner) {
			return time.Time{}, 0 // a room's archive: not ours to trim
		}
		return keepAfter, m.opts.MaxSize
	}
	total, from := 0, ""
	for {
		n, next, err := m.opts.Trimmer.TrimArchives(from, sweepBudget, policy)
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

// isAccount reports whether an archive's owner is an account: a bare JID
// at one of the account domains.
func (m *MAM) isAccount(owner string) bool {
	at := strings.LastIndexByte(owner, '@')
	return at > 0 && m.opts.Router.IsLocal(owner[at+1:])
}
