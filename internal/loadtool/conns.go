package loadtool

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// ConnsOptions configure an idle-session load: one authenticated,
// available TLS session per user, opened at a bounded rate and then left
// idle.
type ConnsOptions struct {
	Target   Target
	Users    []string // one session each
	Password string
	// Rate bounds how many sessions are started per second (200).
	Rate float64
	// Concurrency bounds logins in progress (8).
	Concurrency int
	// Settle is how long the sessions stay idle before the server's memory
	// is read (2s): long enough for a collector to have run.
	Settle time.Duration
	// OnIdle, if set, is called after the memory was read, while the
	// sessions are still open (to take a heap profile, say).
	OnIdle func()
	// MaxFailures stops the load early (10).
	MaxFailures int
	Dialer      *Dialer
	Proc        Proc
}

// ConnsResult is what an idle-session load measured.
type ConnsResult struct {
	Sessions, Failed int
	// Elapsed is the time from the first login's start to the last's end;
	// Rate is Sessions divided by it.
	Elapsed time.Duration
	Rate    float64
	// RSSBefore and RSSAfter are the server's resident bytes before the
	// first session and after Settle; PerSession is their difference per
	// session, in bytes.
	RSSBefore, RSSAfter int64
	PerSession          float64
	// CPU is the server's CPU time from the first login until the memory
	// was read.
	CPU        time.Duration
	Login      Latency
	TLS        string
	FirstError string
}

// Conns opens the sessions, measures, and closes them.
func Conns(ctx context.Context, o ConnsOptions) (ConnsResult, error) {
	if len(o.Users) == 0 {
		return ConnsResult{}, fmt.Errorf("conns: no users: %w", ErrOptions)
	}
	if o.Rate <= 0 {
		o.Rate = 200
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.Settle <= 0 {
		o.Settle = 2 * time.Second
	}
	if o.MaxFailures <= 0 {
		o.MaxFailures = 10
	}
	if o.Dialer == nil {
		o.Dialer = &Dialer{}
	}
	var res ConnsResult
	var before Usage
	if o.Target.PID != 0 {
		u, err := o.Proc.Usage(o.Target.PID)
		if err != nil {
			return res, err
		}
		before = u
		res.RSSBefore = u.RSS
	}

	sessions := make([]*Session, len(o.Users))
	var (
		readers  sync.WaitGroup
		logins   sync.WaitGroup
		failed   atomic.Int32
		errOnce  sync.Once
		mu       sync.Mutex
		h        hist
		firstErr string
	)
	defer closeAll(sessions, &readers)
	sem := make(chan struct{}, o.Concurrency)
	interval := time.Duration(float64(time.Second) / o.Rate)
	start := time.Now()
	for i, user := range o.Users {
		if !sleepCtx(ctx, time.Until(start.Add(time.Duration(i)*interval))) {
			break
		}
		if int(failed.Load()) >= o.MaxFailures {
			break
		}
		sem <- struct{}{}
		logins.Go(func() {
			defer func() { <-sem }()
			t0 := time.Now()
			s, err := o.Dialer.Login(ctx, o.Target, user, o.Password, LoginOptions{Resource: "idle", Presence: true})
			if err != nil {
				failed.Add(1)
				errOnce.Do(func() { firstErr = err.Error() })
				return
			}
			mu.Lock()
			h.record(time.Since(t0))
			mu.Unlock()
			sessions[i] = s
			readers.Go(func() { _ = s.Serve(nil) })
		})
	}
	logins.Wait()
	res.Elapsed = time.Since(start)
	for _, s := range sessions {
		if s != nil {
			res.Sessions++
			if res.TLS == "" {
				res.TLS = s.TLSDescription()
			}
		}
	}
	res.Failed = int(failed.Load())
	res.FirstError = firstErr
	res.Rate = float64(res.Sessions) / res.Elapsed.Seconds()
	res.Login = h.summary()
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if res.Failed > 0 {
		return res, fmt.Errorf("conns: %d of %d logins failed, first: %s: %w", res.Failed, len(o.Users), firstErr, ErrTooManyErrors)
	}
	if !sleepCtx(ctx, o.Settle) {
		return res, ctx.Err()
	}
	if o.Target.PID != 0 {
		u, err := o.Proc.Usage(o.Target.PID)
		if err != nil {
			return res, err
		}
		res.RSSAfter = u.RSS
		res.CPU = u.CPU - before.CPU
		res.PerSession = float64(res.RSSAfter-res.RSSBefore) / float64(res.Sessions)
	}
	if o.OnIdle != nil {
		o.OnIdle()
	}
	return res, nil
}
