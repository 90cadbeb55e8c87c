//go:build interop

package interop

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tmuxServer runs terminal clients (profanity, mcabber, poezio) in a tmux
// server of the test's own, on its own socket, so that they have a
// terminal to draw on and the test can type into them and read their
// screens. Every session it starts is killed in t.Cleanup, and the server
// with the test.
type tmuxServer struct {
	sock, conf string
}

// tmuxTimeout bounds one tmux command.
const tmuxTimeout = 10 * time.Second

func newTmux(t *testing.T) *tmuxServer {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatalf("tmux is needed to drive the terminal clients (.ci/run installs it): %v", err)
	}
	dir := t.TempDir()
	s := &tmuxServer{sock: filepath.Join(dir, "tmux.sock"), conf: filepath.Join(dir, "tmux.conf")}
	// A client that dies keeps its pane, so that its last screen can be
	// shown; the pane's process is what the session cleanup ends.
	conf := "set -g remain-on-exit on\nset -g history-limit 2000\n"
	if err := os.WriteFile(s.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = s.run("kill-server") })
	return s
}

// run runs one tmux command against the test's server.
func (s *tmuxServer) run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), tmuxTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "tmux", append([]string{"-S", s.sock, "-f", s.conf}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), &tmuxError{args: args, out: strings.TrimSpace(string(out)), err: err}
	}
	return string(out), nil
}

type tmuxError struct {
	args []string
	out  string
	err  error
}

func (e *tmuxError) Error() string {
	return "tmux " + strings.Join(e.args, " ") + ": " + e.err.Error() + ": " + e.out
}

func (e *tmuxError) Unwrap() error { return e.err }

// pane is one terminal client in its own tmux session.
type pane struct {
	s    *tmuxServer
	name string
}

// start runs argv (executed directly, no shell) in a new detached session
// of 200x50 with env added to its environment.
func (s *tmuxServer) start(t *testing.T, name string, env []string, argv ...string) *pane {
	t.Helper()
	args := []string{"new-session", "-d", "-s", name, "-x", "200", "-y", "50"}
	for _, e := range env {
		args = append(args, "-e", e)
	}
	if _, err := s.run(append(args, argv...)...); err != nil {
		t.Fatal(err)
	}
	p := &pane{s: s, name: name}
	out, err := s.run("display-message", "-p", "-t", name, "#{pane_pid}")
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("pane pid of %s: %q", name, out)
	}
	t.Cleanup(func() { p.kill(t, pid) })
	return p
}

// kill ends the session (SIGHUP to the client) and makes sure the client
// process, started by this test, is gone.
func (p *pane) kill(t *testing.T, pid int) {
	if t.Failed() {
		t.Logf("last screen of %s:\n%s", p.name, p.screen())
	}
	_, _ = p.s.run("kill-session", "-t", p.name)
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

// screen returns what the pane shows, wrapped lines joined, or the error.
func (p *pane) screen() string {
	out, err := p.s.run("capture-pane", "-p", "-J", "-t", p.name)
	if err != nil {
		return err.Error()
	}
	return out
}

// dead reports whether the client has exited.
func (p *pane) dead() bool {
	out, err := p.s.run("display-message", "-p", "-t", p.name, "#{pane_dead}")
	return err != nil || strings.TrimSpace(out) == "1"
}

// waitFor waits until the screen shows what, and fails the test when the
// client exits or timeout passes first.
func (p *pane) waitFor(t *testing.T, what string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		scr := p.screen()
		if strings.Contains(scr, what) {
			return
		}
		if p.dead() {
			t.Fatalf("%s exited before showing %q; its screen:\n%s", p.name, what, scr)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not show %q within %s; its screen:\n%s", p.name, what, timeout, scr)
		}
		time.Sleep(150 * time.Millisecond)
	}
}

// typeLine types line and Enter. The first key goes alone: poezio takes
// keys that arrive together for a paste, and a pasted "/" does not start a
// command.
func (p *pane) typeLine(t *testing.T, line string) {
	t.Helper()
	first, rest := line[:1], line[1:]
	for _, keys := range [][]string{{"-l", first}, {"-l", rest}, {"Enter"}} {
		if len(keys) == 2 && keys[1] == "" {
			continue
		}
		if _, err := p.s.run(append([]string{"send-keys", "-t", p.name}, keys...)...); err != nil {
			t.Fatal(err)
		}
		time.Sleep(150 * time.Millisecond)
	}
}

// press sends one key by its tmux name ("Enter").
func (p *pane) press(t *testing.T, key string) {
	t.Helper()
	if _, err := p.s.run("send-keys", "-t", p.name, key); err != nil {
		t.Fatal(err)
	}
}
