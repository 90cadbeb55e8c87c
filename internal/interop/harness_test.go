//go:build interop

package interop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"roost/internal/xmpptest"
)

// roostBin is the roost binary built for this test run.
var roostBin string

// pyTimeout bounds one run of a python driver.
const pyTimeout = 5 * time.Minute

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "roost-interop-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	roostBin = filepath.Join(dir, "roost")
	build := exec.Command("go", "build", "-o", roostBin, "roost/cmd/roost")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building roost:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// Roost is a roost process under test.
type Roost struct {
	IP, Domain string
	Dir        string
	Config     string
	cmd        *exec.Cmd
	prefix     []string // runs roost under this command (see roostConfig)
	log        *syncBuffer
	exited     chan error
	starts     int
}

// roostConfig adjusts the configuration a test server runs with. Each
// field is TOML text placed inside its table; empty fields keep the
// defaults written by startRoost.
type roostConfig struct {
	Top    string // top-level keys (before any table)
	Log    string // added to [log] (level = "debug" is set)
	TLS    string // replaces the [tls] body (default: files from the test CA)
	C2S    string // added to [c2s]
	S2S    string // replaces the [s2s] body (default: enabled = false)
	Limits string // the [limits] body
	HTTPS  string // replaces the [https] body (default: the server's address, port 5443)
	Tables string // further tables, appended
	// Prefix runs roost under another command, such as unshare(1); it
	// must exec roost, so that signals reach it.
	Prefix []string
}

func startRoost(t *testing.T, ip, domain string, ca *xmpptest.CA, mods ...func(*roostConfig)) *Roost {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile := ca.IssueFiles(t, dir, domain, "conference."+domain, "upload."+domain)
	rc := roostConfig{
		TLS:   tlsFiles(certFile, keyFile),
		S2S:   "enabled = false\n",
		HTTPS: fmt.Sprintf("listen = [\"%s:5443\"]\n", ip),
	}
	for _, m := range mods {
		m(&rc)
	}
	cfg := fmt.Sprintf(`domains = [%q]
data_dir = %q
%s
[log]
level = "debug"
%s
[admin]
socket = %q

[tls]
%s
[c2s]
listen = ["%s:5222"]
listen_tls = ["%s:5223"]
%s
[s2s]
%s
[https]
%s
[limits]
%s
%s
`, domain, filepath.Join(dir, "data"), rc.Top, rc.Log, filepath.Join(dir, "admin.sock"), rc.TLS, ip, ip, rc.C2S, rc.S2S, rc.HTTPS, rc.Limits, rc.Tables)
	return runRoost(t, ip, domain, dir, cfg, rc.Prefix...)
}

// runRoost writes cfg as dir/roost.toml and starts roost on it, under
// prefix if given.
func runRoost(t *testing.T, ip, domain, dir, cfg string, prefix ...string) *Roost {
	t.Helper()
	path := filepath.Join(dir, "roost.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	r := &Roost{IP: ip, Domain: domain, Dir: dir, Config: path, prefix: prefix, log: &syncBuffer{}}
	t.Cleanup(func() { r.stop(t) })
	r.start(t)
	return r
}

// tlsFiles is the [tls] body for a certificate and key in files.
func tlsFiles(certFile, keyFile string) string {
	return fmt.Sprintf("source = \"files\"\n[[tls.certificate]]\ncert_file = %q\nkey_file = %q\n", certFile, keyFile)
}

// start runs the server process and waits until it is ready.
func (r *Roost) start(t *testing.T) {
	t.Helper()
	r.exited = make(chan error, 1)
	args := append(append(r.prefix[:len(r.prefix):len(r.prefix)], roostBin), "serve", "-config", r.Config)
	r.cmd = exec.Command(args[0], args[1:]...)
	r.cmd.Stdout, r.cmd.Stderr = r.log, r.log
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmd, exited := r.cmd, r.exited
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(15 * time.Second)
	for r.readyCount() <= r.starts {
		select {
		case err := <-r.exited:
			t.Fatalf("roost exited before it was ready: %v\n%s", err, r.log)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("roost not ready after 15s:\n%s", r.log)
		}
	}
	r.starts++
}

func (r *Roost) readyCount() int { return strings.Count(r.log.String(), "roost is ready") }

// Restart stops the server with SIGTERM and starts it again on the same
// configuration and data.
func (r *Roost) Restart(t *testing.T) {
	t.Helper()
	r.stop(t)
	r.start(t)
}

func (r *Roost) stop(t *testing.T) {
	if r.cmd == nil || r.cmd.ProcessState != nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-r.exited:
		if err != nil {
			t.Errorf("roost exited with %v after SIGTERM", err)
		}
	case <-time.After(15 * time.Second):
		_ = r.cmd.Process.Kill()
		t.Errorf("roost did not stop within 15s of SIGTERM")
	}
	if t.Failed() {
		t.Logf("roost log (%s):\n%s", r.Domain, tail(r.log.String(), 120))
	}
}

// Log returns what the server has logged so far.
func (r *Roost) Log() string { return r.log.String() }

// AddUser creates an account through the command line (and so the admin
// socket of the running server).
func (r *Roost) AddUser(t *testing.T, user, password string) {
	t.Helper()
	cmd := exec.Command(roostBin, "user", "add", user, "-config", r.Config)
	cmd.Stdin = strings.NewReader(password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("roost user add %s: %v\n%s", user, err, out)
	}
}

// slix runs a scenario of testdata/slix.py and returns the events it
// printed.
func slix(t *testing.T, args ...string) []map[string]any {
	t.Helper()
	return runPy(t, "testdata/slix.py", args...)
}

// runPy runs a slixmpp script with Debian's python (not a pyenv one on
// PATH) and returns the JSON events it printed, one per line. The scripts
// time their own waits; pyTimeout only keeps a wedged one from holding
// the suite until go test's own timeout.
func runPy(t *testing.T, script string, args ...string) []map[string]any {
	t.Helper()
	return runPyEnv(t, nil, script, args...)
}

// runPyEnv is runPy with variables added to the environment.
func runPyEnv(t *testing.T, env []string, script string, args ...string) []map[string]any {
	t.Helper()
	events, stderr, err := runPyAsyncEnv(env, script, args...)
	if err != nil {
		t.Fatalf("slixmpp %v: %v\nevents: %v\nstderr:\n%s", args, err, events, tail(stderr, 40))
	}
	return events
}

// runPyAsync runs a python driver and returns the events it printed, its
// standard error and how it ended; unlike runPy it may run on any
// goroutine.
func runPyAsync(script string, args ...string) ([]map[string]any, string, error) {
	return runPyAsyncEnv(nil, script, args...)
}

// runPyAsyncEnv is runPyAsync with variables added to the environment.
func runPyAsyncEnv(env []string, script string, args ...string) ([]map[string]any, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), pyTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/usr/bin/python3", append([]string{script}, args...)...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	return jsonLines(out), stderr.String(), err
}

// jsonLines reads the events a client script printed, one JSON object a
// line; other lines are skipped.
func jsonLines(out []byte) []map[string]any {
	var events []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var ev map[string]any
		if json.Unmarshal(sc.Bytes(), &ev) == nil {
			events = append(events, ev)
		}
	}
	return events
}

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
