// Command roostbench loads XMPP servers and measures them: roost, or any
// other server on this machine, since it speaks c2s itself and reads the
// server's CPU time and memory from /proc.
//
// Usage:
//
//	roostbench conns  [flags]   N idle authenticated TLS sessions: KiB per session
//	roostbench msgs   [flags]   P pairs exchanging messages: msg/s, latency, msg per CPU-s
//	roostbench logins [flags]   C workers doing full logins: logins/s, per CPU-s
//	roostbench muc    [flags]   N occupants of one room, S of them sending: deliveries/s, per CPU-s
//	roostbench s2s    [flags]   msgs between users of two servers (-addr2, -domain2)
//	roostbench relay  [flags]   serve the TLS relay floor (-listen, -cert, -key)
//	roostbench register [flags] create accounts with in-band registration (XEP-0077)
//	roostbench suite  [flags]   what `make bench-peers` runs: roost, Prosody,
//	                            ejabberd and the floor side by side
//	roostbench soak   [flags]   what `make soak` runs: roost before and after
//	                            5,000 sessions came and went
//
// `roostbench msgs -relay` loads a running relay exactly like a server.
// Every load is bounded in time and count and meant for loopback only.
// Run `roostbench <command> -h` for the flags; the design is described in
// package loadtool.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"roost/internal/loadtool"
)

var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, errUsage), errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "roostbench:", err)
		os.Exit(1)
	}
}

const usage = `usage: roostbench conns|msgs|logins|muc|s2s|relay|register|suite|soak [flags]
(roostbench <command> -h lists the flags)
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	cmds := map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"conns": cmdConns, "msgs": cmdMsgs, "logins": cmdLogins, "muc": cmdMUC, "s2s": cmdS2S,
		"relay": cmdRelay, "register": cmdRegister, "suite": cmdSuite, "soak": cmdSoak,
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	return cmd(ctx, args[1:], stdout, stderr)
}

// common are the flags every load shares.
type common struct {
	addr, domain, ca, password, users, mech, websocket string
	directTLS, jsonOut                                 bool
	pid, first                                         int
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.addr, "addr", "127.0.0.1:5222", "the server's client port")
	fs.StringVar(&c.domain, "domain", "localhost", "the server's XMPP domain")
	fs.BoolVar(&c.directTLS, "direct-tls", false, "TLS from the first byte (XEP-0368) instead of STARTTLS")
	fs.StringVar(&c.websocket, "websocket", "", "path of the XMPP over WebSocket endpoint (RFC 7395), such as /xmpp-websocket: connect to wss://<addr><path>, -addr being the HTTPS port")
	fs.StringVar(&c.ca, "ca", "", "PEM file of the CA to trust; empty accepts any certificate")
	fs.IntVar(&c.pid, "pid", 0, "server process to measure; 0 finds the one listening on -addr, -1 measures nothing")
	fs.StringVar(&c.users, "users", "u%d", "account names, a format for the account number")
	fs.IntVar(&c.first, "first", 1, "number of the first account")
	fs.StringVar(&c.password, "password", "bench-secret-1", "password of every account")
	fs.StringVar(&c.mech, "mech", loadtool.MechSCRAMSHA1, "SASL mechanism: SCRAM-SHA-1, SCRAM-SHA-256 or PLAIN")
	fs.BoolVar(&c.jsonOut, "json", false, "print the result as JSON")
}

func (c *common) target(name, addr, domain string, pid int) (loadtool.Target, error) {
	t := loadtool.Target{Name: name, Addr: addr, Domain: domain, DirectTLS: c.directTLS, WebSocket: c.websocket}
	if c.ca != "" {
		pem, err := os.ReadFile(c.ca)
		if err != nil {
			return t, fmt.Errorf("read -ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return t, fmt.Errorf("-ca %s: no certificates", c.ca)
		}
		t.TLS = &tls.Config{RootCAs: pool, ServerName: domain, MinVersion: tls.VersionTLS12, CurvePreferences: loadtool.ClientCurves()}
	}
	switch {
	case pid > 0:
		t.PID = pid
	case pid == 0:
		found, err := (loadtool.Proc{}).ListeningPID(addr)
		if err != nil {
			return t, fmt.Errorf("%w (give -pid, or -pid -1 to measure nothing)", err)
		}
		t.PID = found
	}
	return t, nil
}

func (c *common) names(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf(c.users, c.first+i)
	}
	return out
}

func (c *common) dialer() *loadtool.Dialer { return &loadtool.Dialer{Mechanism: c.mech} }

// newFlags returns a subcommand's flag set, which reports to stderr.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// loadFlags returns the flag set of a load, with the flags every load
// shares registered on it.
func loadFlags(name string, stderr io.Writer) (*flag.FlagSet, *common) {
	fs, c := newFlags(name, stderr), new(common)
	c.register(fs)
	return fs, c
}

// server parses args and returns the server (-addr, -domain, -pid) that
// a single-server load runs against.
func (c *common) server(fs *flag.FlagSet, args []string) (loadtool.Target, error) {
	if err := parse(fs, args); err != nil {
		return loadtool.Target{}, err
	}
	return c.target("server", c.addr, c.domain, c.pid)
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: %w", fs.Arg(0), errUsage)
	}
	return nil
}

func output(w io.Writer, jsonOut bool, v any, text string) error {
	if !jsonOut {
		_, err := fmt.Fprint(w, text)
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func cmdConns(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := loadFlags("conns", stderr)
	n := fs.Int("n", 500, "sessions")
	rate := fs.Float64("rate", 200, "sessions started per second")
	settle := fs.Duration("settle", 2*time.Second, "idle time before memory is read")
	t, err := c.server(fs, args)
	if err != nil {
		return err
	}
	r, err := loadtool.Conns(ctx, loadtool.ConnsOptions{
		Target: t, Users: c.names(*n), Password: c.password, Rate: *rate, Settle: *settle, Dialer: c.dialer(),
	})
	text := fmt.Sprintf("%d sessions in %.2f s (%.0f/s), login p50 %v p99 %v\nserver RSS %.1f → %.1f MiB: %.1f KiB per session, %.2f CPU-s\n",
		r.Sessions, r.Elapsed.Seconds(), r.Rate, r.Login.P50, r.Login.P99,
		float64(r.RSSBefore)/(1<<20), float64(r.RSSAfter)/(1<<20), r.PerSession/1024, r.CPU.Seconds())
	if oerr := output(stdout, c.jsonOut, r, text); oerr != nil {
		return oerr
	}
	return err
}

func msgsText(r loadtool.MsgsResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d pairs, window %d", r.Pairs, r.Window)
	if r.Offered > 0 {
		fmt.Fprintf(&b, ", offered %.0f msg/s", r.Offered)
	}
	fmt.Fprintf(&b, ": %d delivered in %.1f s = %.0f msg/s; lost %d\n", r.Delivered, r.Seconds, r.Rate, r.Lost)
	fmt.Fprintf(&b, "latency p50 %v p90 %v p99 %v max %v\n", r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.Max)
	for name, cpu := range r.CPU {
		fmt.Fprintf(&b, "%s: %.2f CPU-s\n", name, cpu.Seconds())
	}
	fmt.Fprintf(&b, "%.0f msg per server CPU-second (%s)\n", r.PerCPU, r.TLS)
	if r.Errors > 0 {
		fmt.Fprintf(&b, "%d session errors, first: %s\n", r.Errors, r.FirstError)
	}
	return b.String()
}

// msgsFlags are shared by msgs and s2s.
type msgsFlags struct {
	pairs, window    *int
	rate             *float64
	warmup, duration *time.Duration
}

func (m *msgsFlags) register(fs *flag.FlagSet) {
	m.pairs = fs.Int("pairs", 50, "pairs of sessions")
	m.window = fs.Int("window", 16, "messages in flight per direction")
	m.rate = fs.Float64("rate", 0, "total offered messages per second; 0 sends as fast as the window allows")
	m.warmup = fs.Duration("warmup", 2*time.Second, "unmeasured time first")
	m.duration = fs.Duration("duration", 10*time.Second, "measured time")
}

// run runs the msgs load o with the message flags and prints the result.
func (m *msgsFlags) run(ctx context.Context, stdout io.Writer, c *common, o loadtool.MsgsOptions) error {
	o.Password, o.Dialer = c.password, c.dialer()
	o.Pairs, o.Window, o.Rate, o.Warmup, o.Duration = *m.pairs, *m.window, *m.rate, *m.warmup, *m.duration
	r, err := loadtool.Msgs(ctx, o)
	if err != nil {
		return err
	}
	return output(stdout, c.jsonOut, r, msgsText(r))
}

func cmdMsgs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := loadFlags("msgs", stderr)
	var m msgsFlags
	m.register(fs)
	relay := fs.Bool("relay", false, "-addr is a `roostbench relay`, not an XMPP server")
	t, err := c.server(fs, args)
	if err != nil {
		return err
	}
	names := c.names(2 * *m.pairs)
	return m.run(ctx, stdout, c, loadtool.MsgsOptions{
		A: t, B: t, AUsers: names[:*m.pairs], BUsers: names[*m.pairs:], Relay: *relay,
	})
}

func cmdS2S(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := loadFlags("s2s", stderr)
	var m msgsFlags
	m.register(fs)
	addr2 := fs.String("addr2", "127.0.73.14:5222", "the second server's client port")
	domain2 := fs.String("domain2", "", "the second server's domain")
	pid2 := fs.Int("pid2", 0, "second server process; 0 finds it, -1 measures nothing")
	if err := parse(fs, args); err != nil {
		return err
	}
	a, err := c.target("a", c.addr, c.domain, c.pid)
	if err != nil {
		return err
	}
	b, err := c.target("b", *addr2, *domain2, *pid2)
	if err != nil {
		return err
	}
	names := c.names(*m.pairs)
	return m.run(ctx, stdout, c, loadtool.MsgsOptions{A: a, B: b, AUsers: names, BUsers: names})
}

func cmdLogins(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := loadFlags("logins", stderr)
	workers := fs.Int("workers", 4, "concurrent workers")
	nusers := fs.Int("n", 50, "accounts used in turn")
	warmup := fs.Duration("warmup", 2*time.Second, "unmeasured time first")
	duration := fs.Duration("duration", 10*time.Second, "measured time")
	sasl2 := fs.Bool("sasl2", false, "log in with SASL2 and Bind 2 (XEP-0388, XEP-0386)")
	fast := fs.Bool("fast", false, "log in with SASL2, Bind 2 and a FAST token (XEP-0484), got at a first login of each account")
	t, err := c.server(fs, args)
	if err != nil {
		return err
	}
	r, err := loadtool.Logins(ctx, loadtool.LoginsOptions{
		Target: t, Users: c.names(*nusers), Password: c.password, Workers: *workers,
		Warmup: *warmup, Duration: *duration, Dialer: c.dialer(),
		Login: loadtool.LoginOptions{SASL2: *sasl2, FAST: *fast},
	})
	if err != nil {
		return err
	}
	text := fmt.Sprintf("%d logins in %.1f s = %.0f/s, %.2f CPU-s = %.0f per server CPU-second; p50 %v p99 %v; %d failed\n",
		r.Logins, r.Seconds, r.Rate, r.CPU.Seconds(), r.PerCPU, r.Latency.P50, r.Latency.P99, r.Failed)
	return output(stdout, c.jsonOut, r, text)
}

func cmdMUC(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("muc", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c common
	c.register(fs)
	service := fs.String("service", "", "the group chat service (default conference.<domain>)")
	occupants := fs.Int("n", 50, "occupants of the room")
	senders := fs.Int("senders", 5, "occupants that send")
	window := fs.Int("window", 4, "messages in flight per sender")
	warmup := fs.Duration("warmup", 2*time.Second, "unmeasured time first")
	duration := fs.Duration("duration", 10*time.Second, "measured time")
	if err := parse(fs, args); err != nil {
		return err
	}
	t, err := c.target("server", c.addr, c.domain, c.pid)
	if err != nil {
		return err
	}
	if *service == "" {
		*service = "conference." + c.domain
	}
	r, err := loadtool.MUC(ctx, loadtool.MUCOptions{
		Target: t, Service: *service, Users: c.names(*occupants), Password: c.password,
		Occupants: *occupants, Senders: *senders, Window: *window,
		Run: loadtool.Run{Warmup: *warmup, Duration: *duration, Dialer: c.dialer()},
	})
	if err != nil {
		return err
	}
	text := fmt.Sprintf("%d occupants, %d sending, window %d: %d sent, %d delivered in %.1f s = %.0f/s, %.2f CPU-s = %.0f per server CPU-second; %d incomplete\n",
		r.Occupants, r.Senders, r.Window, r.Sent, r.Delivered, r.Seconds, r.Rate, r.CPU.Seconds(), r.PerCPU, r.Incomplete)
	if r.Errors > 0 {
		text += fmt.Sprintf("%d session errors, first: %s\n", r.Errors, r.FirstError)
	}
	return output(stdout, c.jsonOut, r, text)
}

func cmdRegister(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := loadFlags("register", stderr)
	n := fs.Int("n", 100, "accounts")
	if err := parse(fs, args); err != nil {
		return err
	}
	t, err := c.target("server", c.addr, c.domain, -1)
	if err != nil {
		return err
	}
	d := c.dialer()
	created := 0
	for _, u := range c.names(*n) {
		err := d.Register(ctx, t, u, c.password)
		switch {
		case errors.Is(err, loadtool.ErrExists):
		case err != nil:
			return err
		default:
			created++
		}
	}
	_, err = fmt.Fprintf(stdout, "%d accounts created, %d existed\n", created, *n-created)
	return err
}

func cmdRelay(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := newFlags("relay", stderr)
	listen := fs.String("listen", "127.0.73.13:5222", "address to listen on")
	certFile := fs.String("cert", "", "PEM certificate")
	keyFile := fs.String("key", "", "PEM key")
	if err := parse(fs, args); err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		return fmt.Errorf("load certificate: %w", err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	r := &loadtool.Relay{
		TLS:    &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	return r.Serve(ctx, ln)
}

func cmdSuite(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("suite", stderr)
	peers := fs.String("peers", "bench/peers", "directory of the server configurations and NOTES.md")
	roostBin := fs.String("roost", "bin/roost", "roost binary")
	roostCLI := fs.String("roost-cli", "", "roost binary for `user add` (default: -roost)")
	version := fs.String("version", "dev", "roost's version, for the report")
	servers := fs.String("servers", "roost,roost-websocket,prosody,ejabberd,floor", "servers to run, in order (empty: federation only)")
	s2s := fs.Bool("s2s", true, "also run the federation loads (roost↔roost, roost↔prosody)")
	out := fs.String("out", "", "write the report as Markdown to this file (docs/benchmarks.md)")
	work := fs.String("work", "", "directory for the servers' data (default: a temporary one)")
	keep := fs.Bool("keep", false, "keep the work directory")
	quick := fs.Bool("quick", false, "a short run with small loads, to try the setup")
	pprofAddr := fs.String("pprof", "", "roost serves net/http/pprof here (-roost is bench/roostprof)")
	profiles := fs.String("profiles", "", "write roost's CPU and heap profiles of each load here")
	if err := parse(fs, args); err != nil {
		return err
	}
	if (*pprofAddr == "") != (*profiles == "") {
		return fmt.Errorf("-pprof and -profiles go together: %w", errUsage)
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find this binary: %w", err)
	}
	plan := loadtool.DefaultPlan()
	if *quick {
		plan.Users, plan.Conns, plan.Pairs, plan.LatencyPairs, plan.LoginUsers = 100, 100, 10, 10, 10
		plan.LatencyRate, plan.S2SPairs, plan.MAMFill = 500, 5, 2000
		plan.Warmup, plan.Duration, plan.Repeat = time.Second, 3*time.Second, 1
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	rep, err := loadtool.RunSuite(ctx, loadtool.SuiteOptions{
		PeersDir: *peers, WorkDir: *work, Keep: *keep,
		RoostBin: *roostBin, RoostCLI: *roostCLI, BenchBin: self, Version: *version,
		Servers: strings.FieldsFunc(*servers, func(r rune) bool { return r == ',' }), S2S: *s2s, Plan: plan,
		PprofAddr: *pprofAddr, ProfileDir: *profiles, Logger: log,
	})
	if rep == nil {
		return err
	}
	fmt.Fprint(stdout, rep.Table())
	if *out != "" {
		notes, nerr := os.ReadFile(*peers + "/NOTES.md")
		if nerr != nil && !errors.Is(nerr, os.ErrNotExist) {
			return nerr
		}
		if werr := os.WriteFile(*out, []byte(rep.Markdown(string(notes))), 0o644); werr != nil {
			return werr
		}
		fmt.Fprintf(stdout, "wrote %s\n", *out)
	}
	return err
}

// errSoakFailed: the soak ran, and roost slowed down or kept memory.
var errSoakFailed = errors.New("soak failed")

func cmdSoak(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("soak", stderr)
	peers := fs.String("peers", "bench/peers", "directory of the server configurations")
	roostBin := fs.String("roost", "bin/roost", "roost binary")
	sessions := fs.Int("sessions", 5000, "sessions that come and go")
	wave := fs.Int("wave", 1000, "sessions logged in at once")
	settle := fs.Duration("settle", 20*time.Second, "quiet time during which roost's memory is read (the lowest reading counts)")
	slowdown := fs.Float64("max-slowdown", 0.15, "largest allowed drop of messages per CPU-second")
	growth := fs.Float64("max-rss-growth", 0.20, "largest allowed growth of roost's own resident memory (RssAnon: mapped files left out)")
	work := fs.String("work", "", "directory for roost's data (default: a temporary one)")
	keep := fs.Bool("keep", false, "keep the work directory")
	jsonOut := fs.Bool("json", false, "print the result as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	rep, err := loadtool.RunSoak(ctx, loadtool.SoakOptions{
		PeersDir: *peers, RoostBin: *roostBin, WorkDir: *work, Keep: *keep,
		Sessions: *sessions, Wave: *wave, Settle: *settle,
		MaxSlowdown: *slowdown, MaxRSSGrowth: *growth, Logger: log,
	})
	if err != nil {
		return err
	}
	if err := output(stdout, *jsonOut, rep, rep.Text()); err != nil {
		return err
	}
	if len(rep.Failures) > 0 {
		return fmt.Errorf("%s: %w", strings.Join(rep.Failures, "; "), errSoakFailed)
	}
	return nil
}
