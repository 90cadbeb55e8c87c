package loadtool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"text/template"
	"time"
)

// Server kinds the suite knows.
const (
	KindRoost = "roost"
	// KindRoostWS is roost under the same loads over XMPP over WebSocket
	// (RFC 7395) on its HTTPS port, beside its figures over TCP.
	KindRoostWS  = "roost-websocket"
	KindProsody  = "prosody"
	KindEjabberd = "ejabberd"
	KindFloor    = "floor"
)

// serverSpec says how the suite runs one kind of server.
type serverSpec struct {
	kind string
	// template is the configuration file in the peers directory, rendered
	// with configData into the server's directory under the same name.
	template string
	// command builds the process for a rendered configuration.
	command func(s *SuiteOptions, p *proc) (*exec.Cmd, error)
	// addUsers creates the accounts.
	addUsers func(ctx context.Context, s *SuiteOptions, p *proc, users []string) error
	// version names the software version for the report.
	version func(s *SuiteOptions) string
}

// configData fills a configuration template.
type configData struct {
	IP, Domain, Dir     string
	Cert, Key, Both, CA string
	DNS, DNSAt          string // host:port, and host@port for unbound
	Port                int
}

// proc is a running server process of the suite.
type proc struct {
	spec   *serverSpec
	name   string // label: "roost", "roost2", ...
	ip     string
	domain string
	dir    string
	config string
	certs  certFiles
	cmd    *exec.Cmd
	exited chan struct{}
	log    *os.File
	target Target
	// started is when the process was started; ready how long it took to
	// answer on its client port.
	started time.Time
	ready   time.Duration
}

// specFor returns how to run a kind of server, or nil.
func specFor(kind string) *serverSpec {
	switch kind {
	case KindRoost, KindRoostWS:
		return &serverSpec{
			kind: kind, template: "roost.toml",
			command: func(s *SuiteOptions, p *proc) (*exec.Cmd, error) {
				args := []string{"serve", "-config", p.config}
				if s.PprofAddr != "" && p.name == KindRoost {
					args = append(args, "-pprof", s.PprofAddr)
				}
				return exec.Command(s.RoostBin, args...), nil
			},
			addUsers: addRoostUsers,
			version:  func(s *SuiteOptions) string { return s.Version },
		}
	case KindProsody:
		return &serverSpec{
			kind: KindProsody, template: "prosody.cfg.lua",
			command: func(_ *SuiteOptions, p *proc) (*exec.Cmd, error) {
				return exec.Command("prosody", "--config", p.config, "-F"), nil
			},
			addUsers: registerUsers,
			version:  func(*SuiteOptions) string { return debVersion("prosody") },
		}
	case KindEjabberd:
		return &serverSpec{
			kind: KindEjabberd, template: "ejabberd.yml",
			command:  ejabberdCommand,
			addUsers: registerUsers,
			version: func(*SuiteOptions) string {
				return debVersion("ejabberd") + " (Erlang/OTP " + debVersion("erlang-base") + ")"
			},
		}
	case KindFloor:
		return &serverSpec{
			kind: KindFloor,
			command: func(s *SuiteOptions, p *proc) (*exec.Cmd, error) {
				return exec.Command(s.BenchBin, "relay", "-listen", p.ip+":5222", "-cert", p.certs.Cert, "-key", p.certs.Key), nil
			},
			version: func(*SuiteOptions) string { return "TLS relay (Go crypto/tls), this tool" },
		}
	}
	return nil
}

// ejabberdCommand runs the Erlang VM the way `ejabberdctl foreground`
// does, minus the node name: without distribution there is no epmd to
// start (or to share with anything else on the machine).
func ejabberdCommand(_ *SuiteOptions, p *proc) (*exec.Cmd, error) {
	libs, _ := filepath.Glob("/usr/lib/*/ejabberd-[0-9]*")
	if len(libs) == 0 {
		return nil, fmt.Errorf("find ejabberd's Erlang libraries: %w", ErrNotInstalled)
	}
	spool := filepath.Join(p.dir, "spool")
	if err := os.MkdirAll(spool, 0o700); err != nil {
		return nil, fmt.Errorf("create ejabberd spool: %w", err)
	}
	cmd := exec.Command("erl", "+K", "true", "+P", "250000", "-noinput",
		"-mnesia", "dir", `"`+spool+`"`, "-s", "ejabberd")
	cmd.Env = append(os.Environ(),
		"HOME="+p.dir,
		"ERL_LIBS="+filepath.Dir(libs[0]),
		"EJABBERD_CONFIG_PATH="+p.config,
		"EJABBERD_LOG_PATH="+filepath.Join(p.dir, "ejabberd.log"),
		"ERL_CRASH_DUMP="+filepath.Join(p.dir, "erl_crash.dump"),
		"ERL_CRASH_DUMP_BYTES=0",
	)
	cmd.Dir = p.dir
	return cmd, nil
}

func debVersion(pkg string) string {
	out, err := exec.Command("dpkg-query", "-W", "-f=${Version}", pkg).Output()
	if err != nil || len(out) == 0 {
		return "unknown"
	}
	return string(out)
}

// addRoostUsers creates accounts with `roost user add`, which talks to the
// running server over its admin socket: roost's documented way.
func addRoostUsers(ctx context.Context, s *SuiteOptions, p *proc, users []string) error {
	return parallel(ctx, users, 4, func(user string) error {
		cmd := exec.CommandContext(ctx, s.RoostCLI, "user", "add", user, "-config", p.config)
		cmd.Stdin = strings.NewReader(s.Plan.Password + "\n")
		if out, err := cmd.CombinedOutput(); err != nil && !bytes.Contains(out, []byte("exists")) {
			return fmt.Errorf("roost user add %s: %w: %s", user, err, bytes.TrimSpace(out))
		}
		return nil
	})
}

// registerUsers creates accounts with in-band registration (XEP-0077),
// the same protocol path on every server that offers it.
func registerUsers(ctx context.Context, s *SuiteOptions, p *proc, users []string) error {
	d := &Dialer{}
	return parallel(ctx, users, 4, func(user string) error {
		err := d.Register(ctx, p.target, user, s.Plan.Password)
		if errors.Is(err, ErrExists) {
			return nil
		}
		return err
	})
}

// parallel runs fn for each item with at most n at once and returns the
// first error; it stops starting new work after one.
func parallel(ctx context.Context, items []string, n int, fn func(string) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		sem   = make(chan struct{}, n)
	)
	for _, it := range items {
		mu.Lock()
		failed := first != nil
		mu.Unlock()
		if failed || ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := fn(it); err != nil {
				mu.Lock()
				first = cmpErr(first, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

// render writes the configuration of p from the peers directory.
func render(peersDir string, p *proc, data configData) error {
	src := filepath.Join(peersDir, p.spec.template)
	text, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("read config template: %w", err)
	}
	t, err := template.New(p.spec.template).Option("missingkey=error").Parse(string(text))
	if err != nil {
		return fmt.Errorf("parse config template %s: %w", src, err)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return fmt.Errorf("render config template %s: %w", src, err)
	}
	p.config = filepath.Join(p.dir, p.spec.template)
	if err := os.WriteFile(p.config, buf.Bytes(), 0o600); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	return nil
}

// start runs the process in its own process group, so that stop can end
// it together with anything it started (ejabberd's erl_child_setup), and
// with the parent-death signal set, so that it dies with the suite even
// if the suite itself is killed.
func (p *proc) start(s *SuiteOptions) error {
	cmd, err := p.spec.command(s, p)
	if err != nil {
		return err
	}
	if cmd.Dir == "" {
		cmd.Dir = p.dir
	}
	p.log, err = os.Create(filepath.Join(p.dir, "output.log"))
	if err != nil {
		return fmt.Errorf("create server log: %w", err)
	}
	cmd.Stdout, cmd.Stderr = p.log, p.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		_ = p.log.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	p.cmd = cmd
	p.exited = make(chan struct{})
	go func() { _ = cmd.Wait(); close(p.exited) }()
	return nil
}

// stop sends SIGTERM to the process group, waits for the process to exit,
// and kills the group if it has not within timeout.
func (p *proc) stop(timeout time.Duration) {
	if p.cmd == nil {
		return
	}
	pgid := p.cmd.Process.Pid // Setpgid: the group is the process's own id
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(timeout):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.exited
	}
	// Helpers that outlived the leader (none expected) go too.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	_ = p.log.Close()
	p.cmd = nil
}

// tail returns the end of the server's output, for error reports.
func (p *proc) tail() string {
	f, err := os.Open(filepath.Join(p.dir, "output.log"))
	if err != nil {
		return ""
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, 1<<20))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}
