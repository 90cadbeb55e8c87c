package systemd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// childEnv makes the test binary act as a socket-activated service (see
// TestListenersSocketActivation) instead of running the tests.
const childEnv = "ROOST_SYSTEMD_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "listeners" {
		os.Exit(listenersChild())
	}
	os.Exit(m.Run())
}

// listenersChild prints the listeners it was passed as JSON, name to
// addresses, and whether LISTEN_FDS was cleared for its own children.
func listenersChild() int {
	lns, err := Listeners()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	out := map[string][]string{}
	for name, ls := range lns {
		for _, ln := range ls {
			out[name] = append(out[name], ln.Addr().String())
		}
	}
	out["LISTEN_FDS"] = []string{os.Getenv("LISTEN_FDS")}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		return 1
	}
	return 0
}

// notifySocket is a test-owned NOTIFY_SOCKET: it receives what the
// package sends to systemd.
type notifySocket struct {
	t    *testing.T
	conn *net.UnixConn
}

func newNotifySocket(t *testing.T) *notifySocket {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	return &notifySocket{t: t, conn: conn}
}

// next returns the next datagram, or "" after wait.
func (n *notifySocket) next(wait time.Duration) string {
	n.t.Helper()
	buf := make([]byte, 4096)
	_ = n.conn.SetReadDeadline(time.Now().Add(wait))
	k, err := n.conn.Read(buf)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return ""
		}
		n.t.Fatalf("read notify socket: %v", err)
	}
	return string(buf[:k])
}

func TestNotify(t *testing.T) {
	tests := []struct {
		name string
		call func()
		want *regexp.Regexp
	}{
		{"ready", func() { Ready("serving example.org") }, regexp.MustCompile(`^READY=1\nSTATUS=serving example.org$`)},
		{"status", func() { Status("starting") }, regexp.MustCompile(`^STATUS=starting$`)},
		{"reloading", Reloading, regexp.MustCompile(`^RELOADING=1\nMONOTONIC_USEC=[1-9][0-9]*\n?$`)},
		{"stopping", func() { Stopping("shutting down") }, regexp.MustCompile(`^STOPPING=1\nSTATUS=shutting down$`)},
	}
	n := newNotifySocket(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.call()
			if got := n.next(10 * time.Second); !tt.want.MatchString(got) {
				t.Errorf("got %q, want a match of %q", got, tt.want)
			}
		})
	}
}

// TestReloadingTimestamp checks MONOTONIC_USEC is CLOCK_MONOTONIC, which
// systemd compares with its own clock: it must not go backwards between
// two reloads and must be far below a wall-clock time in microseconds.
func TestReloadingTimestamp(t *testing.T) {
	n := newNotifySocket(t)
	stamp := func() int64 {
		Reloading()
		got := n.next(10 * time.Second)
		_, v, ok := strings.Cut(got, "MONOTONIC_USEC=")
		us, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if !ok || err != nil {
			t.Fatalf("got %q, want MONOTONIC_USEC=<n>", got)
		}
		return us
	}
	a, b := stamp(), stamp()
	if b < a {
		t.Errorf("MONOTONIC_USEC went backwards: %d then %d", a, b)
	}
	if wall := time.Now().UnixMicro(); a >= wall/2 {
		t.Errorf("MONOTONIC_USEC=%d looks like wall-clock time (%d)", a, wall)
	}
}

func TestWithoutSystemd(t *testing.T) {
	for _, k := range []string{"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	Ready("x")
	Status("x")
	Reloading()
	Stopping("x")
	lns, err := Listeners()
	if err != nil || len(lns) != 0 {
		t.Errorf("Listeners() = %v, %v; want none, nil", lns, err)
	}
	done := make(chan error, 1)
	go func() { done <- Watchdog(context.Background(), nil) }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Watchdog without WATCHDOG_USEC: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("Watchdog without WATCHDOG_USEC did not return")
	}
}

func TestWatchdog(t *testing.T) {
	self := strconv.Itoa(os.Getpid())
	tests := []struct {
		name      string
		usec, pid string
		alive     bool
		wantPings bool
		wantErr   bool
	}{
		{"pings while alive", "100000", self, true, true, false},
		{"no pid check", "100000", "", true, true, false},
		{"silent while not alive", "100000", self, false, false, false},
		{"another process's watchdog", "100000", "1", true, false, false},
		{"malformed interval", "soon", self, true, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newNotifySocket(t)
			t.Setenv("WATCHDOG_USEC", tt.usec)
			t.Setenv("WATCHDOG_PID", tt.pid)
			ctx, cancel := context.WithCancel(context.Background())
			probed := make(chan struct{}, 100)
			alive := func(ctx context.Context) bool {
				if _, ok := ctx.Deadline(); !ok {
					t.Error("health check without a deadline")
				}
				select {
				case probed <- struct{}{}:
				default:
				}
				return tt.alive
			}
			done := make(chan error, 1)
			go func() { done <- Watchdog(ctx, alive) }()
			if tt.wantPings {
				for i := range 2 {
					if got := n.next(10 * time.Second); got != "WATCHDOG=1" {
						t.Fatalf("ping %d: got %q, want WATCHDOG=1", i, got)
					}
				}
			} else {
				if tt.alive == false {
					// Wait for two health checks, then make sure no ping
					// was sent for them.
					for range 2 {
						select {
						case <-probed:
						case <-time.After(10 * time.Second):
							t.Fatal("health check not called")
						}
					}
				}
				if got := n.next(300 * time.Millisecond); got != "" {
					t.Errorf("got %q, want no ping", got)
				}
			}
			cancel()
			select {
			case err := <-done:
				if (err != nil) != tt.wantErr {
					t.Errorf("Watchdog returned %v, want error %v", err, tt.wantErr)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Watchdog did not return after its context ended")
			}
		})
	}
}

// TestListenersSocketActivation runs this test binary under
// systemd-socket-activate, which binds sockets, waits for a connection and
// then starts the service with them, named (sd_listen_fds_with_names(3)).
func TestListenersSocketActivation(t *testing.T) {
	activate, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		t.Skip("systemd-socket-activate not installed (Debian package systemd)")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c2s := filepath.Join(dir, "c2s.sock")
	s2s := filepath.Join(dir, "s2s.sock")
	tcp := freeLoopbackPort(t)
	cmd := exec.Command(activate,
		"-l", c2s, "-l", s2s, "-l", tcp,
		"--fdname=c2s:s2s:https",
		"-E", childEnv+"=listeners",
		self)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// systemd-socket-activate starts the service on the first connection.
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("unix", c2s)
		if err == nil {
			_ = c.Close()
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("socket %s never appeared: %v\n%s", c2s, err, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("service: %v\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("service did not finish\n%s", stderr.String())
	}
	var got map[string][]string
	if err := json.Unmarshal([]byte(stdout.String()), &got); err != nil {
		t.Fatalf("child output %q: %v", stdout.String(), err)
	}
	want := map[string][]string{"c2s": {c2s}, "s2s": {s2s}, "https": {tcp}, "LISTEN_FDS": {""}}
	for k, v := range want {
		if !slices.Equal(got[k], v) {
			t.Errorf("%s: got %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got listeners %v, want %v", got, want)
	}
}

// freeLoopbackPort returns a loopback address with a port that was free a
// moment ago.
func freeLoopbackPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}
