package loadtool

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// LoginsOptions configure a login load: Workers goroutines each doing full
// logins (TCP, STARTTLS, SASL, bind, closing the stream) back to back. The
// server's closing tag is awaited in the background (RFC 6120 §4.4).
type LoginsOptions struct {
	Target Target
	// Users are taken in turn; a few dozen are plenty.
	Users    []string
	Password string
	Workers  int // 4
	// Warmup runs unmeasured (it also fills the client's SCRAM key cache);
	// Duration is the measured window.
	Warmup, Duration time.Duration
	// MaxLogins bounds the whole run (1 million).
	MaxLogins int64
	// Login says how to log in: SASL or SASL2, a FAST token or not. With
	// FAST every account logs in once with its password before the
	// warmup, to get its token.
	Login  LoginOptions
	Dialer *Dialer
	Proc   Proc
}

// LoginsResult is what a login load measured.
type LoginsResult struct {
	Workers int
	Seconds float64
	// Logins completed within the window; Failed counts failures of the
	// whole run.
	Logins, Failed int64
	Rate           float64 // logins per second
	CPU            time.Duration
	PerCPU         float64 // logins per server CPU-second
	Latency        Latency // of one full login, until the closing tag is sent
	FirstError     string
}

// Logins runs the login load.
func Logins(ctx context.Context, o LoginsOptions) (LoginsResult, error) {
	if len(o.Users) == 0 {
		return LoginsResult{}, fmt.Errorf("logins: no users: %w", ErrOptions)
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
	}
	if o.MaxLogins <= 0 {
		o.MaxLogins = 1_000_000
	}
	if o.Dialer == nil {
		o.Dialer = &Dialer{}
	}
	if o.Login.Resource == "" {
		o.Login.Resource = "login"
	}
	res := LoginsResult{Workers: o.Workers}
	if o.Login.FAST {
		for _, user := range o.Users {
			s, err := o.Dialer.Login(ctx, o.Target, user, o.Password, o.Login)
			if err != nil {
				return res, fmt.Errorf("logins: get a FAST token: %w", err)
			}
			s.Logout()
		}
	}
	var (
		phase          atomic.Int32
		next, total    atomic.Int64
		logins, failed atomic.Int64
		errOnce        sync.Once
		firstErr       string
		mu             sync.Mutex
		all            hist
		workers        sync.WaitGroup
		closing        sync.WaitGroup
		stop           = make(chan struct{})
		maxFail        = int64(20)
	)
	// waitCtx ends the warmup or the measurement early when the logins
	// fail too often; the workers keep ctx.
	waitCtx, failedTooOften := context.WithCancel(ctx)
	defer failedTooOften()
	for range o.Workers {
		workers.Go(func() {
			var h hist
			defer func() {
				mu.Lock()
				all.merge(&h)
				mu.Unlock()
			}()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if total.Add(1) > o.MaxLogins {
					return
				}
				user := o.Users[int(next.Add(1)-1)%len(o.Users)]
				t0 := time.Now()
				var (
					s   *Session
					err error
				)
				if o.Login.TLSOnly {
					err = o.Dialer.Handshake(ctx, o.Target)
				} else {
					s, err = o.Dialer.Login(ctx, o.Target, user, o.Password, o.Login)
				}
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					errOnce.Do(func() { firstErr = err.Error() })
					if failed.Add(1) >= maxFail {
						failedTooOften()
						return
					}
					continue
				}
				// The stream is closed politely, but the worker does not
				// wait for the server's closing tag: some servers take
				// their time to send it (ejabberd about 100 ms), which
				// would measure their timers, not their capacity.
				if s != nil {
					s.CloseStream()
					closing.Go(s.AwaitClose)
				}
				if phase.Load() == phaseMeasure {
					logins.Add(1)
					h.record(time.Since(t0))
				}
			}
		})
	}
	finish := func() { close(stop); workers.Wait(); waitTimeout(&closing, 2*closeWait) }
	if !sleepCtx(waitCtx, o.Warmup) {
		finish()
		return res, loginsErr(ctx, failed.Load(), firstErr)
	}
	before, err := cpuOf(o.Proc, []Target{o.Target})
	if err != nil {
		finish()
		return res, err
	}
	t0 := time.Now()
	phase.Store(phaseMeasure)
	ok := sleepCtx(waitCtx, o.Duration)
	phase.Store(phaseDrain)
	t1 := time.Now()
	after, err := cpuOf(o.Proc, []Target{o.Target})
	finish()
	if !ok {
		return res, loginsErr(ctx, failed.Load(), firstErr)
	}
	if err != nil {
		return res, err
	}
	res.Seconds = t1.Sub(t0).Seconds()
	res.Logins, res.Failed, res.FirstError = logins.Load(), failed.Load(), firstErr
	res.Rate = float64(res.Logins) / res.Seconds
	res.CPU = after[o.Target.Name] - before[o.Target.Name]
	if res.CPU > 0 {
		res.PerCPU = float64(res.Logins) / res.CPU.Seconds()
	}
	res.Latency = all.summary()
	return res, nil
}

func loginsErr(ctx context.Context, failed int64, first string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return fmt.Errorf("logins: %d failed, first: %s: %w", failed, first, ErrTooManyErrors)
}
