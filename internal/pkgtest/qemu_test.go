//go:build pkgtest

package pkgtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// emulated are the ARM builds and the qemu-user command that runs each.
// The Pi Zero and 1 have an ARM1176 (ARMv6 with VFPv2); armv7 is a Pi 2
// or a 32-bit system on a later Pi.
var emulated = []struct {
	name, bin, goarch, goarm string
	qemu                     []string
	ip                       string
}{
	{"arm64", "roost-linux-arm64", "arm64", "", []string{"qemu-aarch64", "-cpu", "cortex-a53"}, "127.0.0.162"},
	{"armv7", "roost-linux-armv7", "arm", "7", []string{"qemu-arm", "-cpu", "cortex-a7"}, "127.0.0.163"},
	{"armv6", "roost-linux-armv6", "arm", "6", []string{"qemu-arm", "-cpu", "arm1176"}, "127.0.0.164"},
}

func qemuCommand(qemu []string, bin string, args ...string) *exec.Cmd {
	argv := append(append(append([]string{}, qemu[1:]...), filepath.Join(out, bin)), args...)
	return exec.Command(qemu[0], argv...)
}

func TestQemuVersion(t *testing.T) {
	for _, e := range emulated {
		t.Run(e.name, func(t *testing.T) {
			b, err := qemuCommand(e.qemu, e.bin, "version").CombinedOutput()
			if got, want := string(b), "roost "+version+"\n"; err != nil || got != want {
				t.Errorf("roost version: %q, %v; want %q", got, err, want)
			}
		})
	}
}

// TestArmv7NeedsArmv7 shows why the armhf package carries the GOARM=6
// build: the GOARM=7 one dies on a Pi Zero's CPU.
func TestArmv7NeedsArmv7(t *testing.T) {
	err := qemuCommand([]string{"qemu-arm", "-cpu", "arm1176"}, "roost-linux-armv7", "version").Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("the GOARM=7 binary on an ARM1176: %v, want it to fail", err)
	}
	t.Logf("the GOARM=7 binary on an ARM1176: %v", err)
}

// TestQemuLogin serves a login and a ping from each ARM binary under
// qemu-user, after `roost user add` opened the store directly, and stops
// it with SIGTERM.
func TestQemuLogin(t *testing.T) {
	for _, e := range emulated {
		t.Run(e.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "roost.toml")
			body := fmt.Sprintf(`domains = ["localhost"]
data_dir = "data"
[admin]
socket = "admin.sock"
[c2s]
listen = ["%s:5222"]
listen_tls = ["%s:5223"]
[s2s]
enabled = false
[https]
listen = ["%s:5443"]
`, e.ip, e.ip, e.ip)
			if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			add := qemuCommand(e.qemu, e.bin, "user", "add", "alice", "-config", cfg)
			add.Stdin = strings.NewReader("alice-password\n")
			if b, err := add.CombinedOutput(); err != nil {
				t.Fatalf("roost user add: %v\n%s", err, b)
			}
			p := start(t, qemuCommand(e.qemu, e.bin, "serve", "-config", cfg))
			p.waitLog(t, "roost is ready")
			smoke(t, e.ip+":5222", "alice@localhost/qemu", "alice-password")
			if err := p.stop(t); err != nil {
				t.Errorf("exit after SIGTERM: %v", err)
			}
		})
	}
}

// TestQemuPackageTests runs the store and xmlstream tests as ARM programs:
// bbolt's memory map and the parser's byte handling on 32- and 64-bit ARM.
func TestQemuPackageTests(t *testing.T) {
	for _, e := range emulated {
		t.Run(e.name, func(t *testing.T) {
			env := []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=" + e.goarch, "ROOST_TEST_EXEC=" + strings.Join(e.qemu, " ")}
			if e.goarm != "" {
				env = append(env, "GOARM="+e.goarm)
			}
			got := mustRun(t, repo, env, "go", "test", "-count=1", "-exec", strings.Join(e.qemu, " "), "./store", "./xmlstream")
			t.Logf("%s", got)
		})
	}
}

// proc is a server process under test.
type proc struct {
	cmd    *exec.Cmd
	log    *lockedBuffer
	exited chan error
}

func start(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{cmd: cmd, log: &lockedBuffer{}, exited: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("server log:\n%s", p.log.String())
		}
	})
	return p
}

func (p *proc) waitLog(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(120 * time.Second)
	for !strings.Contains(p.log.String(), s) {
		select {
		case err := <-p.exited:
			p.exited <- err
			t.Fatalf("server exited (%v) before logging %q", err, s)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the server log after 120s", s)
		}
	}
}

func (p *proc) stop(t *testing.T) error {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		return err
	case <-time.After(120 * time.Second):
		t.Fatal("server did not exit within 120s of SIGTERM")
		return nil
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
