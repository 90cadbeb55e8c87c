package loadtool

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Plan sizes a suite run. DefaultPlan fits a full run on a 2-core machine
// in about ten minutes.
type Plan struct {
	// Users is the number of accounts created on each server (u1, u2, ...),
	// all with Password.
	Users    int
	Password string
	// Conns idle sessions are opened at ConnRate per second.
	Conns    int
	ConnRate float64
	// The throughput load: Pairs pairs with Window messages in flight per
	// direction, as fast as the server answers.
	Pairs, Window int
	// The latency load: LatencyPairs pairs offered LatencyRate messages per
	// second in total (with LatencyWindow in flight at most), a load every
	// server sustains, so that latencies compare at the same offered load.
	LatencyPairs  int
	LatencyRate   float64
	LatencyWindow int
	// The login load: LoginWorkers logging in back to back as LoginUsers
	// different users in turn.
	LoginWorkers, LoginUsers int
	// Each timed load runs Warmup unmeasured, then Duration measured, and
	// is repeated Repeat times; the table shows the median run (by the
	// figure the targets are about) and the report the spread.
	Warmup, Duration time.Duration
	Repeat           int
	// The archive load: MAMFill messages archived for one account, then
	// pages of MAMPage read back through XEP-0313.
	MAMFill, MAMPage int
	// Federation: S2SPairs pairs across two servers.
	S2SPairs, S2SWindow int
	// Group chat: MUCOccupants in one room, MUCSenders of them sending
	// with MUCWindow messages in flight each.
	MUCOccupants, MUCSenders, MUCWindow int
	// Pause between loads lets a server finish closing the previous one's
	// sessions.
	Pause time.Duration
}

// DefaultPlan is what `make bench-peers` runs.
func DefaultPlan() Plan {
	return Plan{
		Users: 1000, Password: "bench-secret-1",
		Conns: 1000, ConnRate: 250,
		Pairs: 50, Window: 16,
		LatencyPairs: 50, LatencyRate: 1000, LatencyWindow: 64,
		LoginWorkers: 4, LoginUsers: 50,
		MAMFill: 100_000, MAMPage: 50,
		Warmup: time.Second, Duration: 5 * time.Second, Repeat: 3,
		S2SPairs: 20, S2SWindow: 16,
		MUCOccupants: 50, MUCSenders: 5, MUCWindow: 4,
		Pause: time.Second,
	}
}

// Loopback addresses of the suite, in a block of 127/8 that the test
// suites (which use 127.0.0.x) leave alone, so that a benchmark can run
// while they do.
const (
	ipRoost    = "127.0.73.10"
	ipProsody  = "127.0.73.11"
	ipEjabberd = "127.0.73.12"
	ipFloor    = "127.0.73.13"
	ipRoost2   = "127.0.73.14"
	dnsAddr    = "127.0.73.15:5300"
)

// SuiteOptions configure RunSuite.
type SuiteOptions struct {
	// PeersDir holds the configuration templates (bench/peers).
	PeersDir string
	// WorkDir is where servers keep their data; a fresh temporary
	// directory when empty. It is removed at the end unless Keep.
	WorkDir string
	Keep    bool
	// RoostBin is the roost binary; BenchBin this tool's (for the relay).
	RoostBin, BenchBin string
	// RoostCLI runs `user add` (RoostBin when empty; with profiling,
	// RoostBin is bench/roostprof, which only serves).
	RoostCLI string
	// Version is roost's version for the report.
	Version string
	// Servers lists the kinds to run, in order (nil: roost,
	// roost-websocket, prosody, ejabberd, floor; empty: none, for a
	// federation-only run).
	Servers []string
	// S2S runs the federation loads (roost↔roost, roost↔Prosody).
	S2S  bool
	Plan Plan
	// PprofAddr, if set, is where RoostBin serves net/http/pprof (it is
	// then bench/roostprof, given -pprof); CPU and heap profiles of each
	// load are written to ProfileDir.
	PprofAddr, ProfileDir string
	Logger                *slog.Logger
}

// Report is the outcome of a suite run.
type Report struct {
	Started time.Time
	Elapsed time.Duration
	Machine Machine
	Plan    Plan
	Mech    string
	Servers []*ServerResult
	S2S     []*S2SResult
}

// ServerResult is what the suite measured on one server.
type ServerResult struct {
	Name, Version string
	// Ready is the time from starting the process to its first answer on
	// the client port, when restarted with its accounts in place;
	// FirstReady the same for the very first start, on empty data.
	// RSSStart is the resident size two seconds after the restart, and
	// AnonStart its anonymous part (RssAnon: without the pages of the
	// binary and libraries).
	Ready, FirstReady   time.Duration
	RSSStart, AnonStart int64
	// UsersTime is how long creating the accounts took.
	UsersTime time.Duration
	// OtherCPU is the CPU time per second of the loads (in cores) that
	// went neither to this server nor to the load tool: other work on the
	// machine, which the figures of this server share the cores with.
	OtherCPU float64
	Conns    *ConnsResult
	Msgs     *MsgsResult // throughput
	Latency  *MsgsResult // fixed offered load
	// Logins is the login load with the ECDSA certificate, LoginsRSA the
	// same after a restart with the RSA one. For roost only: LoginsSASL2
	// logs in with SASL2 and Bind 2 (SCRAM), LoginsFAST with a FAST token,
	// both with the ECDSA certificate.
	Logins, LoginsRSA, LoginsSASL2, LoginsFAST *LoginsResult
	MUC                                        *MUCResult // group chat fan-out
	MAM                                        *MAMResult // one account's archive
	// Runs holds the headline figure of every repetition of a load, by
	// load ("msgs", "latency", "logins", "logins-rsa", "logins-sasl2",
	// "logins-fast", "muc"), to show how repeatable it was.
	Runs   map[string][]float64
	Errors []string
}

// S2SResult is a federation load between two servers.
type S2SResult struct {
	A, B string
	Msgs *MsgsResult
	Err  string
}

type suite struct {
	o    *SuiteOptions
	log  *slog.Logger
	ca   *benchCA
	work string
	proc Proc
}

// RunSuite starts each server in turn on its own loopback address, runs
// the same loads against it, and stops it. Failures of one server or load
// are recorded in the report and the run goes on; only a cancelled ctx or
// a broken setup returns an error. Every process it started is stopped
// before it returns.
func RunSuite(ctx context.Context, o SuiteOptions) (*Report, error) {
	if o.Servers == nil {
		o.Servers = []string{KindRoost, KindRoostWS, KindProsody, KindEjabberd, KindFloor}
	}
	if o.Plan.Users == 0 {
		o.Plan = DefaultPlan()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	// The servers run in their own directories.
	if o.RoostCLI == "" {
		o.RoostCLI = o.RoostBin
	}
	for _, p := range []*string{&o.PeersDir, &o.RoostBin, &o.RoostCLI, &o.BenchBin, &o.ProfileDir} {
		if *p == "" {
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return nil, fmt.Errorf("resolve path: %w", err)
		}
		*p = abs
	}
	s := &suite{o: &o, log: o.Logger}
	cleanup, err := s.setup("roost-bench-")
	if err != nil {
		return nil, err
	}
	defer cleanup()
	if o.ProfileDir != "" {
		if err := os.MkdirAll(o.ProfileDir, 0o755); err != nil {
			return nil, fmt.Errorf("create profile directory: %w", err)
		}
	}
	stopDNS, err := startDNS(dnsAddr, map[string]string{
		"roost.test": ipRoost, "roost2.test": ipRoost2, "prosody.test": ipProsody, "ejabberd.test": ipEjabberd,
	})
	if err != nil {
		return nil, err
	}
	defer stopDNS()

	rep := &Report{Started: time.Now(), Machine: ReadMachine(), Plan: o.Plan, Mech: MechSCRAMSHA1}
	for _, kind := range o.Servers {
		if specFor(kind) == nil {
			return nil, fmt.Errorf("server kind %q: %w", kind, ErrOptions)
		}
		s.log.Info("benchmarking", "server", kind)
		rep.Servers = append(rep.Servers, s.runServer(ctx, kind))
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
	}
	if o.S2S {
		rep.S2S = s.runS2S(ctx)
	}
	rep.Elapsed = time.Since(rep.Started)
	return rep, ctx.Err()
}

// setup makes the work directory (o.WorkDir, or a temporary one named
// after prefix) and the throwaway CA; cleanup removes the directory
// unless o.Keep.
func (s *suite) setup(prefix string) (cleanup func(), err error) {
	cleanup = func() {}
	if s.work = s.o.WorkDir; s.work == "" {
		if s.work, err = os.MkdirTemp("", prefix); err != nil {
			return cleanup, fmt.Errorf("create work directory: %w", err)
		}
	}
	if !s.o.Keep {
		work := s.work
		cleanup = func() { _ = os.RemoveAll(work) }
	}
	if s.ca, err = newBenchCA(); err != nil {
		cleanup()
		return func() {}, err
	}
	return cleanup, nil
}

func userNames(n int) []string {
	u := make([]string, n)
	for i := range u {
		u[i] = fmt.Sprintf("u%d", i+1)
	}
	return u
}

// launch prepares one server in the directory called name (its
// certificate and configuration), starts it and waits until it is ready.
func (s *suite) launch(ctx context.Context, kind, name, domain, ip string) (*proc, error) {
	spec := specFor(kind)
	p := &proc{spec: spec, name: name, ip: ip, domain: domain, dir: filepath.Join(s.work, name)}
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return nil, fmt.Errorf("create server directory: %w", err)
	}
	var err error
	// The group chat service is named in the certificate too.
	if p.certs, err = s.ca.issue(p.dir, KeyECDSA, p.domain, "conference."+p.domain); err != nil {
		return nil, err
	}
	hosts := fmt.Sprintf("%s roost.test\n%s roost2.test\n%s prosody.test\n%s ejabberd.test\n", ipRoost, ipRoost2, ipProsody, ipEjabberd)
	if err := os.WriteFile(filepath.Join(p.dir, "hosts"), []byte(hosts), 0o600); err != nil {
		return nil, fmt.Errorf("write hosts file: %w", err)
	}
	if spec.template != "" {
		host, port, _ := strings.Cut(dnsAddr, ":")
		err := render(s.o.PeersDir, p, configData{
			IP: ip, Domain: p.domain, Dir: p.dir,
			Cert: p.certs.Cert, Key: p.certs.Key, Both: p.certs.Both, CA: p.certs.CA,
			DNS: dnsAddr, DNSAt: host + "@" + port, Port: 5222,
		})
		if err != nil {
			return nil, err
		}
	}
	p.target = Target{Name: strings.TrimPrefix(name, "s2s-"), Addr: ip + ":5222", Domain: p.domain, TLS: s.ca.clientTLS(p.domain)}
	if kind == KindRoostWS {
		// The HTTPS port bench/peers/roost.toml opens.
		p.target.Addr, p.target.WebSocket = ip+":5443", "/xmpp-websocket"
	}
	return p, s.run(ctx, p)
}

// run starts p and waits until it answers on its client port.
func (s *suite) run(ctx context.Context, p *proc) error {
	// A server of somebody else's on our address would be measured in
	// our place: refuse to start.
	if nc, err := net.DialTimeout("tcp", p.target.Addr, time.Second); err == nil {
		_ = nc.Close()
		return fmt.Errorf("%s: %w", p.target.Addr, ErrAddrInUse)
	}
	if err := p.start(s.o); err != nil {
		return err
	}
	// Stop waiting as soon as the process dies.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-p.exited:
			cancel()
		case <-wctx.Done():
		}
	}()
	at, err := WaitReady(wctx, p.target, p.spec.kind == KindFloor, time.Millisecond, 60*time.Second)
	if err != nil {
		p.stop(5 * time.Second)
		return fmt.Errorf("%w\n%s", err, p.tail())
	}
	p.ready = at.Sub(p.started)
	if p.target.PID, err = s.proc.ListeningPID(p.target.Addr); err != nil {
		p.stop(5 * time.Second)
		return err
	}
	return nil
}

func (s *suite) pause(ctx context.Context) bool { return sleepCtx(ctx, s.o.Plan.Pause) }

func (s *suite) runServer(ctx context.Context, kind string) *ServerResult {
	spec := specFor(kind)
	res := &ServerResult{Name: kind, Version: spec.version(s.o), Runs: map[string][]float64{}}
	fail := func(what string, err error) {
		s.log.Error("load failed", "server", kind, "load", what, "err", err)
		res.Errors = append(res.Errors, what+": "+err.Error())
	}
	ip := map[string]string{KindRoost: ipRoost, KindRoostWS: ipRoost, KindProsody: ipProsody, KindEjabberd: ipEjabberd, KindFloor: ipFloor}[kind]
	p, err := s.launch(ctx, kind, kind, kind+".test", ip)
	if err != nil {
		fail("start", err)
		return res
	}
	defer func() { p.stop(15 * time.Second) }()
	res.FirstReady = p.ready
	plan := s.o.Plan
	d := &Dialer{Mechanism: MechSCRAMSHA1}
	users := userNames(max(plan.Users, plan.Conns, 2*plan.Pairs, 2*plan.LatencyPairs, plan.LoginUsers, plan.MUCOccupants))
	if kind != KindFloor {
		t0 := time.Now()
		if err := spec.addUsers(ctx, s.o, p, users); err != nil {
			fail("create users", err)
			return res
		}
		res.UsersTime = time.Since(t0)
		// Measure a restart, as on every boot: the accounts exist and the
		// first start's one-off work (creating the database, keys) is done.
		p.stop(15 * time.Second)
		if err := s.run(ctx, p); err != nil {
			fail("restart", err)
			return res
		}
	}
	res.Ready = p.ready
	profiling := kind == KindRoost && s.o.PprofAddr != ""
	if !sleepCtx(ctx, 2*time.Second) {
		return res
	}
	if m, err := s.proc.Memory(p.target.PID); err != nil {
		fail("memory", err)
	} else {
		res.RSSStart, res.AnonStart = m.RSS, m.Anon
	}
	if profiling {
		s.fetchProfile(ctx, "heap", 0, "start.heap.pprof")
	}

	// Other work on the machine is watched for the ECDSA loads, then
	// apart for the RSA logins after the restart (the process changes).
	var otherECDSA, otherRSA float64
	stopWatch := s.watchOthers(p.target.PID, &otherECDSA)
	defer func() {
		stopWatch()
		res.OtherCPU = max(otherECDSA, otherRSA)
	}()
	if kind == KindFloor {
		for _, fixed := range []bool{false, true} {
			s.runMsgs(ctx, res, p, fixed, true, d, false, fail)
		}
		// The floor of a login: the TLS handshake alone.
		tlsOnly := LoginOptions{TLSOnly: true}
		res.Logins = s.runLogins(ctx, res, p, "logins", tlsOnly, d, false, fail)
		if s.restartRSA(ctx, p, &stopWatch, &otherRSA, fail) {
			res.LoginsRSA = s.runLogins(ctx, res, p, "logins-rsa", tlsOnly, d, false, fail)
		}
		return res
	}
	if !s.pause(ctx) {
		return res
	}

	co := ConnsOptions{Target: p.target, Users: users[:plan.Conns], Password: plan.Password, Rate: plan.ConnRate, Dialer: d, Proc: s.proc}
	if profiling {
		co.OnIdle = func() {
			s.fetchProfile(ctx, "heap", 0, "conns.heap.pprof")
			// The text form ends with runtime.MemStats: stacks and
			// fragmentation, which the heap profile does not show.
			s.fetchProfile(ctx, "heap?debug=1&gc=1", 0, "conns.heap.txt")
			s.fetchProfile(ctx, "goroutine?debug=1", 0, "conns.goroutines.txt")
		}
	}
	if r, err := Conns(ctx, co); err != nil {
		fail("conns", err)
	} else {
		res.Conns = &r
	}
	if !s.pause(ctx) {
		return res
	}
	for _, fixed := range []bool{false, true} {
		s.runMsgs(ctx, res, p, fixed, false, d, profiling, fail)
		if !s.pause(ctx) {
			return res
		}
	}
	res.Logins = s.runLogins(ctx, res, p, "logins", LoginOptions{}, d, profiling, fail)
	if kind == KindRoost {
		// What current clients do (XEP-0388, XEP-0386), and their
		// reconnection with a token (XEP-0484), beside each other.
		if !s.pause(ctx) {
			return res
		}
		res.LoginsSASL2 = s.runLogins(ctx, res, p, "logins-sasl2", LoginOptions{SASL2: true}, d, profiling, fail)
		if !s.pause(ctx) {
			return res
		}
		res.LoginsFAST = s.runLogins(ctx, res, p, "logins-fast", LoginOptions{FAST: true}, d, profiling, fail)
	}
	if plan.MUCOccupants > 0 && s.pause(ctx) {
		s.runMUC(ctx, res, p, d, profiling, fail)
	}
	if plan.MAMFill > 0 && s.pause(ctx) {
		// Two accounts no other load uses: the archive holds only what
		// this load put there.
		done := s.profileDuring(ctx, profiling, "mam")
		m, err := MAM(ctx, MAMOptions{
			Target: p.target, User: users[len(users)-1], Sender: users[len(users)-2], Password: plan.Password,
			Fill: plan.MAMFill, Page: plan.MAMPage, Warmup: plan.Warmup, Duration: plan.Duration, Dialer: d, Proc: s.proc,
		})
		done()
		if err != nil {
			fail("mam", err)
		}
		if m.FillSeconds > 0 {
			res.MAM = &m
		}
	}
	if s.restartRSA(ctx, p, &stopWatch, &otherRSA, fail) {
		res.LoginsRSA = s.runLogins(ctx, res, p, "logins-rsa", LoginOptions{}, d, profiling, fail)
	}
	return res
}

// restartRSA restarts p with an RSA-2048 certificate in place of its
// ECDSA one, for the second login load, and moves the watch of other work
// on the machine to the new process. It reports whether the server runs.
func (s *suite) restartRSA(ctx context.Context, p *proc, stopWatch *func(), other *float64, fail func(string, error)) bool {
	(*stopWatch)()
	*stopWatch = func() {}
	p.stop(15 * time.Second)
	var err error
	if p.certs, err = s.ca.issue(p.dir, KeyRSA, p.domain, "conference."+p.domain); err != nil {
		fail("RSA certificate", err)
		return false
	}
	if err := s.run(ctx, p); err != nil {
		fail("restart with the RSA certificate", err)
		return false
	}
	if !s.pause(ctx) {
		return false
	}
	*stopWatch = s.watchOthers(p.target.PID, other)
	return true
}

// runLogins runs a login load Repeat times and returns the median run, or
// nil when none succeeded.
func (s *suite) runLogins(ctx context.Context, res *ServerResult, p *proc, name string, lo LoginOptions, d *Dialer, profiling bool, fail func(string, error)) *LoginsResult {
	plan := s.o.Plan
	first := true
	r, runs, err := repeat(ctx, plan.Repeat, func() (LoginsResult, error) {
		done := s.profileDuring(ctx, profiling && first, name)
		defer done()
		first = false
		return Logins(ctx, LoginsOptions{
			Target: p.target, Users: userNames(plan.LoginUsers), Password: plan.Password, Login: lo,
			Workers: plan.LoginWorkers, Warmup: plan.Warmup, Duration: plan.Duration, Dialer: d, Proc: s.proc,
		})
	}, func(r LoginsResult) float64 { return r.PerCPU })
	res.Runs[name] = runs
	if err != nil {
		fail(name, err)
	}
	if len(runs) == 0 {
		return nil
	}
	return &r
}

// runMUC runs the group chat load Repeat times, each in a new room, and
// keeps the median run.
func (s *suite) runMUC(ctx context.Context, res *ServerResult, p *proc, d *Dialer, profiling bool, fail func(string, error)) {
	plan := s.o.Plan
	first := true
	r, runs, err := repeat(ctx, plan.Repeat, func() (MUCResult, error) {
		done := s.profileDuring(ctx, profiling && first, "muc")
		defer done()
		first = false
		return MUC(ctx, MUCOptions{
			Target: p.target, Service: "conference." + p.domain, Users: userNames(plan.MUCOccupants), Password: plan.Password,
			Occupants: plan.MUCOccupants, Senders: plan.MUCSenders, Window: plan.MUCWindow,
			Run: Run{Warmup: plan.Warmup, Duration: plan.Duration, Dialer: d, Proc: s.proc},
		})
	}, func(r MUCResult) float64 { return r.PerCPU })
	res.Runs["muc"] = runs
	if err != nil {
		fail("muc", err)
	}
	if len(runs) > 0 {
		res.MUC = &r
	}
}

// runMsgs runs the throughput (fixed false) or latency load Repeat times
// and keeps the median run.
func (s *suite) runMsgs(ctx context.Context, res *ServerResult, p *proc, fixed, relay bool, d *Dialer, profiling bool, fail func(string, error)) {
	name, key := "msgs", func(r MsgsResult) float64 { return r.PerCPU }
	if fixed {
		name, key = "latency", func(r MsgsResult) float64 { return ms(r.Latency.P99) }
	}
	first := true
	r, runs, err := repeat(ctx, s.o.Plan.Repeat, func() (MsgsResult, error) {
		done := s.profileDuring(ctx, profiling && first, name)
		defer done()
		first = false
		return Msgs(ctx, s.msgsOptions(p.target, p.target, fixed, relay, d))
	}, key)
	res.Runs[name] = runs
	if err != nil {
		fail(name, err)
	}
	if len(runs) == 0 {
		return
	}
	if fixed {
		res.Latency = &r
	} else {
		res.Msgs = &r
	}
}

// repeat runs a load n times (at least once) and returns the run with the
// median key, the keys of all successful runs in order, and the first
// error.
func repeat[T any](ctx context.Context, n int, run func() (T, error), key func(T) float64) (T, []float64, error) {
	var (
		ok    []T
		keys  []float64
		first error
	)
	for range max(n, 1) {
		r, err := run()
		if err != nil {
			first = cmpErr(first, err)
		} else {
			ok = append(ok, r)
			keys = append(keys, key(r))
		}
		if ctx.Err() != nil {
			break
		}
	}
	var zero T
	if len(ok) == 0 {
		return zero, nil, first
	}
	idx := make([]int, len(ok))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(keys[a], keys[b]) })
	return ok[idx[len(idx)/2]], keys, first
}

func (s *suite) msgsOptions(a, b Target, fixed, relay bool, d *Dialer) MsgsOptions {
	plan := s.o.Plan
	o := MsgsOptions{
		A: a, B: b, Password: plan.Password,
		Pairs: plan.Pairs, Window: plan.Window,
		Relay: relay, Run: Run{Warmup: plan.Warmup, Duration: plan.Duration, Dialer: d, Proc: s.proc},
	}
	if fixed {
		o.Pairs, o.Window, o.Rate = plan.LatencyPairs, plan.LatencyWindow, plan.LatencyRate
	}
	users := userNames(2 * o.Pairs)
	if a.Name == b.Name {
		o.AUsers, o.BUsers = users[:o.Pairs], users[o.Pairs:]
	} else {
		o.AUsers, o.BUsers = users[:o.Pairs], users[:o.Pairs]
	}
	return o
}

// runS2S measures federation: roost↔roost, then roost↔Prosody.
func (s *suite) runS2S(ctx context.Context) []*S2SResult {
	plan := s.o.Plan
	users := userNames(plan.S2SPairs)
	d := &Dialer{Mechanism: MechSCRAMSHA1}
	a, err := s.launch(ctx, KindRoost, "s2s-roost", "roost.test", ipRoost)
	if err != nil {
		return []*S2SResult{{A: "roost", B: "roost", Err: err.Error()}}
	}
	defer a.stop(15 * time.Second)
	if err := a.spec.addUsers(ctx, s.o, a, users); err != nil {
		return []*S2SResult{{A: "roost", B: "roost", Err: err.Error()}}
	}
	var out []*S2SResult
	for _, peer := range []struct{ kind, name, ip string }{{KindRoost, "roost2", ipRoost2}, {KindProsody, "prosody", ipProsody}} {
		if ctx.Err() != nil {
			break
		}
		r := &S2SResult{A: "roost", B: peer.kind}
		out = append(out, r)
		s.log.Info("benchmarking federation", "a", "roost", "b", peer.kind)
		b, err := s.launch(ctx, peer.kind, "s2s-"+peer.name, peer.name+".test", peer.ip)
		if err != nil {
			r.Err = err.Error()
			continue
		}
		if err := b.spec.addUsers(ctx, s.o, b, users); err != nil {
			r.Err = err.Error()
			b.stop(15 * time.Second)
			continue
		}
		o := s.msgsOptions(a.target, b.target, false, false, d)
		o.Pairs, o.Window = plan.S2SPairs, plan.S2SWindow
		o.AUsers, o.BUsers = users, users
		o.Drain = 5 * time.Second
		m, err := Msgs(ctx, o)
		b.stop(15 * time.Second)
		if err != nil {
			r.Err = err.Error()
			continue
		}
		r.Msgs = &m
		if m.Delivered == 0 {
			r.Err = "no message crossed between the servers"
			if m.FirstError != "" {
				r.Err += ": " + m.FirstError
			}
		}
	}
	return out
}

// watchOthers starts measuring the machine's CPU use that is neither the
// server's nor this process's; the returned function stores it, in cores,
// into out.
func (s *suite) watchOthers(pid int, out *float64) func() {
	type sample struct {
		at                 time.Time
		busy, server, self time.Duration
	}
	read := func() (sample, bool) {
		busy, err1 := s.proc.Busy()
		server, err2 := s.proc.CPU(pid)
		self, err3 := s.proc.CPU(os.Getpid())
		return sample{time.Now(), busy, server, self}, err1 == nil && err2 == nil && err3 == nil
	}
	before, ok := read()
	return func() {
		after, ok2 := read()
		if !ok || !ok2 {
			return
		}
		other := (after.busy - before.busy) - (after.server - before.server) - (after.self - before.self)
		*out = max(0, other.Seconds()/after.at.Sub(before.at).Seconds())
	}
}

// profileDuring fetches a CPU profile of roost for the length of the next
// timed load; the returned function waits for it.
func (s *suite) profileDuring(ctx context.Context, on bool, name string) func() {
	if !on {
		return func() {}
	}
	secs := int((s.o.Plan.Warmup + s.o.Plan.Duration).Seconds())
	var wg sync.WaitGroup
	wg.Go(func() { s.fetchProfile(ctx, "profile", secs, name+".cpu.pprof") })
	// What the load allocated (a delta profile over the same time).
	wg.Go(func() { s.fetchProfile(ctx, "allocs", secs, name+".allocs.pprof") })
	return wg.Wait
}

func (s *suite) fetchProfile(ctx context.Context, kind string, secs int, file string) {
	url := "http://" + s.o.PprofAddr + "/debug/pprof/" + kind
	switch {
	case secs > 0:
		url += fmt.Sprintf("?seconds=%d", secs)
	case !strings.Contains(kind, "?"):
		url += "?gc=1"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.log.Warn("fetching profile", "url", url, "err", err)
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(filepath.Join(s.o.ProfileDir, file))
	if err != nil {
		s.log.Warn("writing profile", "err", err)
		return
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		s.log.Warn("writing profile", "err", err)
	}
}
