package certs

import (
	"context"
	"math/rand/v2"
	"time"
)

// Run does the Manager's background work until ctx is done, then returns
// nil: the first ACME issuance and renewals with capped exponential backoff,
// polling the certificate files' modification times, and regenerating the
// self-signed certificate before it expires. It starts no goroutine of its
// own. ACME requests in flight when ctx ends are cancelled, so the short
// clean-up goroutines autocert starts during a pass end with it, and idle
// connections are closed. Only one Run may be active at a time; a second
// concurrent call returns [ErrRunning].
func (m *Manager) Run(ctx context.Context) error {
	if !m.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer m.running.Store(false)
	if m.acmeBase != nil {
		// Idle keep-alive connections own goroutines; none may outlive Run.
		defer m.acmeBase.CloseIdleConnections()
	}
	nextPoll := m.now().Add(m.pollInterval)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-m.kick:
		}
		wake := m.step(ctx, &nextPoll)
		// Sleep at most maxSleep so that a clock that jumps (a Pi setting its
		// time by NTP after boot) is noticed.
		timer.Reset(min(max(wake.Sub(m.now()), 0), m.maxSleep))
	}
}

// step does the work that is due and returns when it should run next.
func (m *Manager) step(ctx context.Context, nextPoll *time.Time) time.Time {
	now := m.now()
	wake := now.Add(m.maxSleep)

	m.mu.Lock()
	if !now.Before(m.selfSignedDue()) {
		if err := m.ensureSelfSigned(); err != nil {
			m.log.Error("cannot regenerate the self-signed certificate", "err", err)
		}
	}
	wake = earliest(wake, m.selfSignedDue())
	if m.src == SourceFiles {
		if !now.Before(*nextPoll) {
			// Errors are logged and shown in Status; the old certificates stay.
			_ = m.reloadFilesLocked(false)
			*nextPoll = now.Add(m.pollInterval)
		}
		wake = earliest(wake, *nextPoll)
	}
	m.publishLocked()
	m.mu.Unlock()

	if m.src == SourceACME {
		m.acmePass(ctx)
		m.mu.Lock()
		for _, st := range m.acmeState {
			wake = earliest(wake, st.next)
		}
		m.mu.Unlock()
	}
	return wake
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// acmePass attempts every name whose renewal or retry is due, one after the
// other, with one issuer. The certificate served for a name changes only
// when a new one was obtained; a failure keeps the current one (or the
// self-signed fallback) and schedules a retry.
func (m *Manager) acmePass(ctx context.Context) {
	now := m.now()
	var due []string
	m.mu.Lock()
	for _, name := range m.names {
		if !now.Before(m.acmeState[name].next) {
			due = append(due, name)
		}
	}
	m.mu.Unlock()
	if len(due) == 0 {
		return
	}

	passCtx, cancel := context.WithCancel(ctx)
	is := m.newIssuer(passCtx)
	defer func() {
		cancel()
		is.close()
		m.acmeBase.CloseIdleConnections()
	}()
	for _, name := range due {
		if ctx.Err() != nil {
			return
		}
		c, problems, err := is.obtain(name)
		if ctx.Err() != nil {
			// Interrupted by shutdown: not the CA's fault, nothing to record.
			return
		}
		m.mu.Lock()
		st := m.acmeState[name]
		now := m.now()
		if err != nil {
			st.failures++
			delay := m.backoff(st.failures)
			st.next = now.Add(delay)
			st.lastErr, st.advice = describeFailure(name, m.acmeOpts.DirectoryURL, err, problems)
			st.lastErrAt = now
			serving := "previous ACME certificate"
			if st.cert == nil {
				serving = "self-signed certificate"
			}
			m.log.Warn("ACME certificate request failed", "name", name, "err", st.lastErr,
				"advice", st.advice, "serving", serving, "retry_in", delay.Seconds())
		} else {
			st.cert = c
			st.failures = 0
			st.next = m.renewAt(c.Leaf)
			st.lastErr, st.advice, st.lastErrAt = "", "", time.Time{}
			m.log.Info("obtained ACME certificate", "name", name, "issuer", c.Leaf.Issuer.CommonName,
				"not_after", c.Leaf.NotAfter, "renew_at", st.next)
		}
		m.storeFailure(name, st)
		m.publishLocked()
		m.mu.Unlock()
	}
}

// backoff returns the delay before attempt number failures+1: backoffBase
// doubling per failure, capped at backoffMax, with ±10% jitter so that many
// servers behind one CA outage do not retry in step.
func (m *Manager) backoff(failures int) time.Duration {
	d := m.backoffMax
	if failures < 30 {
		d = min(m.backoffBase<<(failures-1), m.backoffMax)
	}
	if j := int64(d / 5); j > 0 {
		d = d - d/10 + time.Duration(rand.Int64N(j))
	}
	return d
}
