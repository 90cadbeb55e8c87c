package loadtool

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"
)

// ipSoak is the soak's loopback address, beside the suite's.
const ipSoak = "127.0.73.16"

// SoakOptions configure RunSoak.
type SoakOptions struct {
	// PeersDir holds the configuration templates (bench/peers); roost is
	// configured as in the suite.
	PeersDir string
	// RoostBin is the roost binary; RoostCLI runs `user add` (RoostBin
	// when empty).
	RoostBin, RoostCLI string
	// WorkDir is where roost keeps its data; a fresh temporary directory
	// when empty, removed at the end unless Keep.
	WorkDir string
	Keep    bool
	// Sessions come and go in waves of Wave: each wave logs Wave accounts
	// in (idle, available), then closes them (5000 in waves of 1000).
	Sessions, Wave int
	// Plan sizes the message load measured before and after the churn
	// (Pairs, Window, Warmup, Duration, Repeat), the password and the
	// login rate (ConnRate); DefaultPlan when Users is 0.
	Plan Plan
	// Settle is how long roost is left alone while its memory is read,
	// twice a second, the lowest reading counting (20s): a garbage
	// collected runtime holds garbage until its next collection and
	// returns freed memory to the system gradually, so one reading says
	// more about when it was taken than about what is kept.
	Settle time.Duration
	// MaxSlowdown is the largest drop in messages per CPU-second allowed
	// after the churn (0.15); MaxRSSGrowth the largest growth of the
	// process's own resident memory, RssAnon (0.20). Not VmRSS: that
	// counts the pages of the database file bbolt maps, which grow with
	// the messages the loads archive and which the kernel may drop at
	// will, so VmRSS grows across the soak without anything kept.
	MaxSlowdown, MaxRSSGrowth float64
	Logger                    *slog.Logger
}

// SoakPoint is what the soak measured at one point: messages delivered
// per second and per roost CPU-second (the median of Plan.Repeat runs),
// and roost's resident memory, the lowest during Settle, all of it (RSS)
// and its own (Anon, without mapped files).
type SoakPoint struct {
	Rate, PerCPU float64
	RSS, Anon    int64
}

// SoakReport is the outcome of RunSoak.
type SoakReport struct {
	Started time.Time
	Elapsed time.Duration
	Machine Machine
	// Sessions logged in and out during the churn; PeakRSS is the
	// largest resident memory seen with a wave logged in.
	Sessions int
	PeakRSS  int64
	// Before and After the churn.
	Before, After SoakPoint
	// Failures says what went past MaxSlowdown or MaxRSSGrowth; empty
	// when the soak passed.
	Failures []string
}

// check fills Failures: after must be within maxSlowdown of before in
// messages per CPU-second and within maxGrowth in the process's own
// resident memory.
func (r *SoakReport) check(maxSlowdown, maxGrowth float64) {
	r.Failures = nil
	if r.Before.PerCPU > 0 && r.After.PerCPU < r.Before.PerCPU*(1-maxSlowdown) {
		r.Failures = append(r.Failures, fmt.Sprintf("messages per CPU-second fell from %.0f to %.0f (%.0f %%, more than %.0f %%)",
			r.Before.PerCPU, r.After.PerCPU, 100*(1-r.After.PerCPU/r.Before.PerCPU), 100*maxSlowdown))
	}
	if r.Before.Anon > 0 && float64(r.After.Anon) > float64(r.Before.Anon)*(1+maxGrowth) {
		r.Failures = append(r.Failures, fmt.Sprintf("resident memory of its own grew from %.1f to %.1f MiB (%.0f %%, more than %.0f %%)",
			mib(r.Before.Anon), mib(r.After.Anon), 100*(float64(r.After.Anon)/float64(r.Before.Anon)-1), 100*maxGrowth))
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// Text is the report for a terminal.
func (r *SoakReport) Text() string {
	verdict := "PASS"
	if len(r.Failures) > 0 {
		verdict = "FAIL"
	}
	s := fmt.Sprintf("soak: %d sessions came and went in %s on %s\n", r.Sessions, r.Elapsed.Round(time.Second), r.Machine.CPU)
	s += fmt.Sprintf("  %-22s %12s %12s %10s %10s\n", "", "msg/s", "msg/CPU-s", "RSS MiB", "anon MiB")
	for _, p := range []struct {
		name string
		pt   SoakPoint
	}{{"before the churn", r.Before}, {"after the churn", r.After}} {
		s += fmt.Sprintf("  %-22s %12.0f %12.0f %10.1f %10.1f\n", p.name, p.pt.Rate, p.pt.PerCPU, mib(p.pt.RSS), mib(p.pt.Anon))
	}
	s += fmt.Sprintf("  peak RSS with a wave logged in: %.1f MiB\n", mib(r.PeakRSS))
	for _, f := range r.Failures {
		s += "  " + f + "\n"
	}
	return s + verdict + "\n"
}

// RunSoak starts roost on its own loopback address, measures the message
// load and roost's memory, lets Sessions sessions come and go, and
// measures again. It returns an error for a broken run; a run that
// completes returns its report, whose Failures say whether roost slowed
// down or kept memory. roost is stopped on every path out.
func RunSoak(ctx context.Context, o SoakOptions) (*SoakReport, error) {
	if o.Plan.Users == 0 {
		o.Plan = DefaultPlan()
	}
	if o.Sessions <= 0 {
		o.Sessions = 5000
	}
	if o.Wave <= 0 {
		o.Wave = 1000
	}
	if o.Settle <= 0 {
		o.Settle = 20 * time.Second
	}
	if o.MaxSlowdown <= 0 {
		o.MaxSlowdown = 0.15
	}
	if o.MaxRSSGrowth <= 0 {
		o.MaxRSSGrowth = 0.20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.RoostCLI == "" {
		o.RoostCLI = o.RoostBin
	}
	so := &SuiteOptions{PeersDir: o.PeersDir, RoostBin: o.RoostBin, RoostCLI: o.RoostCLI, Plan: o.Plan, Logger: o.Logger,
		WorkDir: o.WorkDir, Keep: o.Keep}
	for _, p := range []*string{&so.PeersDir, &so.RoostBin, &so.RoostCLI} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return nil, fmt.Errorf("resolve path: %w", err)
		}
		*p = abs
	}
	s := &suite{o: so, log: o.Logger}
	cleanup, err := s.setup("roost-soak-")
	if err != nil {
		return nil, err
	}
	defer cleanup()
	rep := &SoakReport{Started: time.Now(), Machine: ReadMachine()}
	p, err := s.launch(ctx, KindRoost, "soak", "roost.test", ipSoak)
	if err != nil {
		return nil, fmt.Errorf("start roost: %w", err)
	}
	defer p.stop(15 * time.Second)
	users := userNames(max(o.Wave, 2*o.Plan.Pairs))
	s.log.Info("creating accounts", "n", len(users))
	if err := addRoostUsers(ctx, so, p, users); err != nil {
		return nil, err
	}
	d := &Dialer{Mechanism: MechSCRAMSHA1}
	measure := func(what string) (SoakPoint, error) {
		s.log.Info("measuring", "when", what)
		r, _, err := repeat(ctx, o.Plan.Repeat, func() (MsgsResult, error) {
			return Msgs(ctx, s.msgsOptions(p.target, p.target, false, false, d))
		}, func(r MsgsResult) float64 { return r.PerCPU })
		if err != nil {
			return SoakPoint{}, fmt.Errorf("messages %s: %w", what, err)
		}
		pt := SoakPoint{Rate: r.Rate, PerCPU: r.PerCPU}
		for end := time.Now().Add(o.Settle); time.Now().Before(end); {
			if !sleepCtx(ctx, 500*time.Millisecond) {
				return SoakPoint{}, ctx.Err()
			}
			m, err := s.proc.Memory(p.target.PID)
			if err != nil {
				return SoakPoint{}, err
			}
			if pt.RSS == 0 || m.RSS < pt.RSS {
				pt.RSS = m.RSS
			}
			if pt.Anon == 0 || m.Anon < pt.Anon {
				pt.Anon = m.Anon
			}
		}
		return pt, nil
	}
	if rep.Before, err = measure("before the churn"); err != nil {
		return nil, err
	}
	for rep.Sessions < o.Sessions {
		n := min(o.Wave, o.Sessions-rep.Sessions)
		s.log.Info("churn", "wave", n, "done", rep.Sessions)
		r, err := Conns(ctx, ConnsOptions{Target: p.target, Users: users[:n], Password: o.Plan.Password,
			Rate: o.Plan.ConnRate, Settle: time.Second, Dialer: d, Proc: s.proc})
		if err != nil {
			return nil, fmt.Errorf("churn after %d sessions: %w", rep.Sessions, err)
		}
		rep.Sessions += r.Sessions
		rep.PeakRSS = max(rep.PeakRSS, r.RSSAfter)
		if !s.pause(ctx) {
			return nil, ctx.Err()
		}
	}
	if rep.After, err = measure("after the churn"); err != nil {
		return nil, err
	}
	rep.Elapsed = time.Since(rep.Started)
	rep.check(o.MaxSlowdown, o.MaxRSSGrowth)
	return rep, nil
}
