//go:build pkgtest

package pkgtest

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// binfmtAarch64 registers qemu-aarch64-static for arm64 ELF executables
// (magic and mask as Debian's qemu-user-static has them). The F flag
// opens the interpreter now, so it need not exist inside the chroot.
const binfmtAarch64 = `:roost-pkgtest-aarch64:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64-static:F`

// prelude runs first in each step's namespaces: a private binfmt_misc
// instance (one per user namespace since Linux 6.7) with the arm64
// handler, and the step's own /proc inside the chroot.
const prelude = `set -e
mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
printf '%s' "$BINFMT" > /proc/sys/fs/binfmt_misc/register
mount -t proc proc "$ROOT/proc"
`

// The chroot's server listens here, on loopback only.
const (
	chrootIP   = "127.0.0.161"
	notifyPath = "/run/roost-pkgtest.notify"
)

// chroot is a Debian arm64 system in a directory.
type chroot struct {
	root string
}

// command runs args inside the chroot, in a new user namespace (ids
// 0-65535 mapped to themselves, so files get their real owners), mount
// namespace and PID namespace, which all end with the command: no mount
// and no process outlives a step.
func (c *chroot) command(args ...string) *exec.Cmd {
	cmd := exec.Command("sh", append([]string{"-c", prelude + `exec chroot "$ROOT" "$@"`, "chroot"}, args...)...)
	cmd.Env = []string{
		"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "ROOT=" + c.root, "BINFMT=" + binfmtAarch64,
		"DEBIAN_FRONTEND=noninteractive", "LC_ALL=C", "HOME=/root",
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:                 syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS | syscall.CLONE_NEWPID,
		UidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 65536}},
		GidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 65536}},
		GidMappingsEnableSetgroups: true,
	}
	return cmd
}

// run runs args in the chroot with stdin and returns the combined output.
func (c *chroot) run(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	cmd := c.command(args...)
	cmd.Stdin = strings.NewReader(stdin)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("in the chroot, %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	return string(b)
}

func (c *chroot) sh(t *testing.T, script string) string {
	t.Helper()
	return c.run(t, "", "/bin/sh", "-ec", script)
}

// path returns the host's path of a file in the chroot.
func (c *chroot) path(p string) string { return filepath.Join(c.root, p) }

func (c *chroot) exists(p string) bool {
	_, err := os.Lstat(c.path(p))
	return err == nil
}

// owner returns the user and group names owning a file in the chroot.
func (c *chroot) owner(t *testing.T, p string) string {
	t.Helper()
	return strings.TrimSpace(c.run(t, "", "stat", "-c", "%U:%G %a", p))
}

// bootstrap makes a minimal Debian bookworm arm64 system: debootstrap's
// first stage downloads and unpacks on the host, its second stage
// configures the packages by running them under qemu in the chroot.
// ROOST_PKGTEST_ROOTFS names a directory to keep it in between runs (for
// development; CI builds it anew), ROOST_DEBIAN_MIRROR another mirror.
func bootstrap(t *testing.T) *chroot {
	t.Helper()
	root := os.Getenv("ROOST_PKGTEST_ROOTFS")
	if root == "" {
		root = filepath.Join(t.TempDir(), "rootfs")
	}
	c := &chroot{root: root}
	done := c.path("/var/lib/roost-pkgtest-bootstrapped")
	if _, err := os.Stat(done); err == nil {
		t.Logf("reusing %s", root)
		return c
	}
	if err := os.RemoveAll(root); err != nil { // a half-made one
		t.Fatal(err)
	}
	mirror := os.Getenv("ROOST_DEBIAN_MIRROR")
	if mirror == "" {
		mirror = "http://deb.debian.org/debian"
	}
	start := time.Now()
	cmd := exec.Command("debootstrap", "--arch=arm64", "--variant=minbase", "--include=adduser",
		"--foreign", "bookworm", root, mirror)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("debootstrap, first stage: %v\n%s", err, tailLines(string(b), 30))
	}
	t.Logf("debootstrap first stage: %.0fs", time.Since(start).Seconds())
	start = time.Now()
	// As in an LXC container: debootstrap then does not insist on
	// making device nodes, which a user namespace may not (the first
	// stage, as root on the host, made them).
	c.run(t, "", "env", "container=lxc", "/debootstrap/debootstrap", "--second-stage")
	t.Logf("debootstrap second stage under qemu: %.0fs", time.Since(start).Seconds())
	if got := strings.TrimSpace(c.run(t, "", "dpkg", "--print-architecture")); got != "arm64" {
		t.Fatalf("the chroot's architecture is %q", got)
	}
	if err := os.WriteFile(done, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestDebianArm64 installs the arm64 package in a Debian arm64 chroot
// under qemu with dpkg, runs roost as its unit would, upgrades, removes
// and purges it.
func TestDebianArm64(t *testing.T) {
	c := bootstrap(t)
	for _, f := range []string{prevDeb, debs["arm64"]} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(c.path("/tmp/"+filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	prev, next := "/tmp/"+filepath.Base(prevDeb), "/tmp/"+filepath.Base(debs["arm64"])
	const edited = "# edited by the administrator (pkgtest)\n"

	steps := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"install", func(t *testing.T) {
			out := c.run(t, "", "dpkg", "-i", prev)
			if !strings.Contains(out, "Next steps:") || !strings.Contains(out, "roost user add") {
				t.Errorf("no first-run message in dpkg's output:\n%s", out)
			}
			if got := c.sh(t, "getent passwd roost | cut -d: -f6,7"); !strings.Contains(got, "/var/lib/roost:/usr/sbin/nologin") {
				t.Errorf("roost user: %q, want a system user with home /var/lib/roost and no shell", got)
			}
			if got := c.owner(t, "/var/lib/roost"); got != "roost:roost 750" {
				t.Errorf("/var/lib/roost: %s, want roost:roost 750", got)
			}
			if got := c.owner(t, "/etc/roost/roost.toml"); got != "root:root 644" {
				t.Errorf("/etc/roost/roost.toml: %s", got)
			}
			if l, err := os.Readlink(c.path("/etc/systemd/system/multi-user.target.wants/roost.service")); err != nil || l != "/lib/systemd/system/roost.service" {
				t.Errorf("roost.service enabled: %q, %v", l, err)
			}
			if got := c.run(t, "", "roost", "version"); got != "roost "+version+"\n" {
				t.Errorf("roost version: %q", got)
			}
		}},
		{"edit the configuration", func(t *testing.T) {
			editConfig(t, c.path("/etc/roost/roost.toml"), edited)
		}},
		{"serve", func(t *testing.T) {
			s := startService(t, c)
			// Administrators: root, and members of the group roost.
			if out := c.run(t, "alice-password\n", "roost", "user", "add", "alice"); !strings.Contains(out, "done") {
				t.Errorf("roost user add: %q", out)
			}
			c.sh(t, "getent passwd pi >/dev/null || adduser --quiet --disabled-password --gecos '' pi; adduser --quiet pi roost")
			if out := c.run(t, "", "setpriv", "--reuid=pi", "--regid=pi", "--init-groups", "roost", "user", "list"); out != "alice@localhost\n" {
				t.Errorf("roost user list by a member of the group roost: %q", out)
			}
			smoke(t, chrootIP+":5222", "alice@localhost/chroot", "alice-password")
			// File sharing, as packaged: port 5443, the sandbox's state
			// directory.
			uploadSmoke(t, chrootIP+":5222", chrootIP+":5443", "alice@localhost/share", "alice-password")
			// The chat page, with its app from /usr/share/roost/chat-app.
			chatAppSmoke(t, chrootIP+":5443")
			if out := c.run(t, "", "roost", "backup", "/root/roost.backup"); !strings.Contains(out, "backup written") {
				t.Errorf("roost backup while running: %q", out)
			}
			s.notify.expect(t, `^WATCHDOG=1$`)
			_ = s.p.cmd.Process.Signal(syscall.SIGHUP)
			s.notify.expect(t, "^RELOADING=1\nMONOTONIC_USEC=[0-9]+\n?$")
			s.notify.expect(t, "^READY=1\n")
			s.stop(t)
			if !strings.Contains(s.p.log.String(), "<6>msg=\"roost is ready\"") {
				t.Errorf("the log is not in the journal format the packaged configuration asks for")
			}
			if got := c.owner(t, "/var/lib/roost/roost.db"); got != "roost:roost 600" {
				t.Errorf("roost.db: %s, want roost:roost 600", got)
			}
		}},
		{"restore", func(t *testing.T) {
			c.run(t, "", "roost", "user", "del", "alice")
			if out := c.run(t, "", "roost", "restore", "/root/roost.backup"); !strings.Contains(out, "restored") {
				t.Errorf("roost restore: %q", out)
			}
			if got := c.owner(t, "/var/lib/roost/roost.db"); got != "roost:roost 600" {
				t.Errorf("roost.db after a restore by root: %s, want roost:roost 600", got)
			}
			if out := c.run(t, "", "roost", "user", "list"); out != "alice@localhost\n" {
				t.Errorf("users after restore: %q", out)
			}
		}},
		{"upgrade", func(t *testing.T) {
			out := c.run(t, "", "dpkg", "-i", next)
			if strings.Contains(out, "Next steps:") {
				t.Errorf("the first-run message shown on upgrade:\n%s", out)
			}
			if got := strings.TrimSpace(c.run(t, "", "dpkg-query", "-W", "-f=${Version}", "roost")); got != debVersion {
				t.Errorf("installed version %q, want %q", got, debVersion)
			}
			if b, _ := os.ReadFile(c.path("/etc/roost/roost.toml")); !bytes.Contains(b, []byte(edited)) {
				t.Errorf("the upgrade lost the edited configuration")
			}
			if got := c.owner(t, "/var/lib/roost/roost.db"); got != "roost:roost 600" {
				t.Errorf("roost.db after upgrade: %s", got)
			}
			s := startService(t, c)
			smoke(t, chrootIP+":5222", "alice@localhost/upgraded", "alice-password")
			s.stop(t)
		}},
		{"remove", func(t *testing.T) {
			c.run(t, "", "dpkg", "-r", "roost")
			if c.exists("/usr/bin/roost") {
				t.Error("/usr/bin/roost left after remove")
			}
			for _, p := range []string{"/etc/roost/roost.toml", "/var/lib/roost/roost.db"} {
				if !c.exists(p) {
					t.Errorf("%s gone after remove; only purge deletes it", p)
				}
			}
		}},
		{"purge", func(t *testing.T) {
			c.run(t, "", "dpkg", "-P", "roost")
			for _, p := range []string{"/etc/roost", "/var/lib/roost", "/etc/systemd/system/multi-user.target.wants/roost.service", "/etc/systemd/system/roost.service"} {
				if c.exists(p) {
					t.Errorf("%s left after purge", p)
				}
			}
			if out, err := c.command("dpkg-query", "-W", "-f=${Status}", "roost").CombinedOutput(); err == nil && !strings.Contains(string(out), "not-installed") {
				t.Errorf("dpkg still knows roost after purge: %s", out)
			}
		}},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.fn) {
			t.Fatalf("step %q failed; skipping the rest", s.name)
		}
	}
}

// editConfig makes the server listen on chrootIP only (not on every
// address of this machine) and marks the file as edited.
func editConfig(t *testing.T, path, mark string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := mark + string(b)
	for _, port := range []string{"5222", "5223", "5269", "5270", "5443"} {
		re := regexp.MustCompile(`(?m)^# (listen(_tls)?) = \["\[::\]:` + port + `"\]$`)
		if !re.MatchString(s) {
			t.Fatalf("%s: no commented listen line for port %s", path, port)
		}
		s = re.ReplaceAllString(s, `$1 = ["`+chrootIP+`:`+port+`"]`)
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// service is roost started in the chroot as roost.service starts it.
type service struct {
	p      *proc
	notify *notifyListener
}

// startService starts what roost.service runs, as its user with its
// runtime directory, and a test-owned NOTIFY_SOCKET and watchdog, and
// waits for READY=1.
func startService(t *testing.T, c *chroot) *service {
	t.Helper()
	unit := readUnit(t, c.path("/lib/systemd/system/roost.service"))
	one := func(k string) string {
		if len(unit[k]) != 1 {
			t.Fatalf("roost.service: %s=%q, want one value", k, unit[k])
		}
		return unit[k][0]
	}
	user, group, execStart := one("User"), one("Group"), one("ExecStart")
	rt, rtMode, umask := one("RuntimeDirectory"), one("RuntimeDirectoryMode"), one("UMask")
	n := listenNotifyAt(t, c.path(notifyPath))
	script := fmt.Sprintf(`install -d -o %s -g %s -m %s /run/%s
umask %s
exec setpriv --reuid=%s --regid=%s --init-groups env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin NOTIFY_SOCKET=%s WATCHDOG_USEC=4000000 %s`,
		user, group, rtMode, rt, umask, user, group, notifyPath, execStart)
	p := start(t, c.command("/bin/sh", "-ec", script))
	n.expect(t, `^STATUS=starting$`)
	n.expect(t, "^READY=1\nSTATUS=serving localhost$")
	return &service{p: p, notify: n}
}

func (s *service) stop(t *testing.T) {
	t.Helper()
	_ = s.p.cmd.Process.Signal(syscall.SIGTERM)
	s.notify.expect(t, "^STOPPING=1\n")
	select {
	case err := <-s.p.exited:
		if err != nil {
			t.Errorf("roost exited with %v after SIGTERM", err)
		}
	case <-time.After(120 * time.Second):
		t.Fatal("roost did not stop within 120s of SIGTERM")
	}
}

// notifyListener is a test-owned NOTIFY_SOCKET.
type notifyListener struct{ msgs chan string }

func listenNotifyAt(t *testing.T, path string) *notifyListener {
	t.Helper()
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	// The server runs as roost.
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	n := &notifyListener{msgs: make(chan string, 1000)}
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := conn.Read(buf)
			if err != nil {
				close(n.msgs)
				return
			}
			n.msgs <- string(buf[:k])
		}
	}()
	t.Cleanup(func() { _ = conn.Close(); _ = os.Remove(path) })
	return n
}

// expect skips notifications until one matches re.
func (n *notifyListener) expect(t *testing.T, re string) {
	t.Helper()
	want := regexp.MustCompile(re)
	var skipped []string
	timeout := time.After(120 * time.Second)
	for {
		select {
		case m, ok := <-n.msgs:
			if !ok {
				t.Fatalf("notify socket closed waiting for %q", re)
			}
			if want.MatchString(m) {
				return
			}
			skipped = append(skipped, m)
		case <-timeout:
			t.Fatalf("no notification matching %q after 120s; got %q", re, skipped)
		}
	}
}

func tailLines(s string, n int) string {
	l := strings.Split(s, "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}
