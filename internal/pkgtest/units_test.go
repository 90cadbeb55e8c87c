//go:build pkgtest

package pkgtest

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// unitFiles are the packaged units, relative to the package root.
var unitFiles = []string{
	"lib/systemd/system/roost.service",
	"lib/systemd/system/roost-c2s.socket",
	"lib/systemd/system/roost-c2s-tls.socket",
	"lib/systemd/system/roost-s2s.socket",
	"lib/systemd/system/roost-s2s-tls.socket",
	"lib/systemd/system/roost-https.socket",
	"lib/systemd/system/roost-http.socket",
	"lib/systemd/system/roost-component.socket",
}

// unpack extracts the amd64 package (the host's architecture).
func unpack(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	mustRun(t, out, nil, "dpkg-deb", "-x", debs["amd64"], dir)
	return dir
}

// TestUnitVerify runs systemd-analyze verify on the packaged units, which
// checks that the binary named by ExecStart= exists and that the man page
// named by Documentation= opens. Both are put at their installed paths
// with overlay mounts in a mount namespace of the test's own, so the
// machine's /usr is untouched. Any output on stderr fails.
func TestUnitVerify(t *testing.T) {
	root := unpack(t)
	work := t.TempDir()
	var units []string
	for _, u := range unitFiles {
		units = append(units, filepath.Join(root, u))
	}
	script := `set -e
overlay() { # overlay DIR FROM: add the files of FROM to DIR
	mkdir -p "$W/$1/up" "$W/$1/work"
	cp -a "$2"/. "$W/$1/up/"
	mount -t overlay overlay -o "lowerdir=$1,upperdir=$W/$1/up,workdir=$W/$1/work" "$1"
}
mount --make-rprivate /
overlay /usr/bin "$ROOT/usr/bin"
overlay /usr/share/man/man8 "$ROOT/usr/share/man/man8"
exec systemd-analyze verify "$@"
`
	cmd := exec.Command("sh", append([]string{"-c", script, "verify"}, units...)...)
	cmd.Env = append(os.Environ(), "ROOT="+root, "W="+work)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil || stderr.Len() > 0 {
		t.Errorf("systemd-analyze verify: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
}

// TestUnitSecurity requires an exposure level of 2.0 or less from
// systemd-analyze security, which rates the sandboxing of roost.service.
func TestUnitSecurity(t *testing.T) {
	root := unpack(t)
	cmd := exec.Command("systemd-analyze", "security", "--offline=true", "--no-pager", filepath.Join(root, unitFiles[0]))
	b, err := cmd.CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for roost.service: ([0-9.]+)`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, b)
	}
	level, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("exposure level %.1f", level)
	if level > 2.0 {
		t.Errorf("exposure level %.1f, want 2.0 or less:\n%s", level, b)
	}
}

// TestUnitSettings checks the settings the rest of roost relies on, which
// a score alone would not catch going missing.
func TestUnitSettings(t *testing.T) {
	root := unpack(t)
	unit := readUnit(t, filepath.Join(root, unitFiles[0]))
	want := map[string][]string{
		"Type":                  {"notify"},
		"NotifyAccess":          {"main"},
		"ExecStart":             {"/usr/bin/roost serve -config /etc/roost/roost.toml"},
		"ExecReload":            {"/bin/kill -HUP $MAINPID"},
		"User":                  {"roost"},
		"Group":                 {"roost"},
		"StateDirectory":        {"roost"},
		"RuntimeDirectory":      {"roost"},
		"ProtectSystem":         {"strict"},
		"NoNewPrivileges":       {"yes"},
		"AmbientCapabilities":   {"CAP_NET_BIND_SERVICE"},
		"CapabilityBoundingSet": {"CAP_NET_BIND_SERVICE"},
		"SystemCallFilter":      {"@system-service", "~@privileged @resources"},
		"WatchdogSec":           {"30s"},
		"WantedBy":              {"multi-user.target"},
	}
	for k, v := range want {
		if !slices.Equal(unit[k], v) {
			t.Errorf("%s=%q, want %q", k, unit[k], v)
		}
	}
	names := map[string]string{
		"roost-c2s.socket": "c2s", "roost-c2s-tls.socket": "c2s-tls", "roost-s2s.socket": "s2s",
		"roost-s2s-tls.socket": "s2s-tls", "roost-https.socket": "https", "roost-http.socket": "http",
		"roost-component.socket": "component",
	}
	for file, name := range names {
		s := readUnit(t, filepath.Join(root, "lib/systemd/system", file))
		if !slices.Equal(s["FileDescriptorName"], []string{name}) || !slices.Equal(s["Service"], []string{"roost.service"}) {
			t.Errorf("%s: FileDescriptorName=%q Service=%q, want %q and roost.service", file, s["FileDescriptorName"], s["Service"], name)
		}
	}
}

// readUnit returns a unit file's settings, all sections together.
func readUnit(t *testing.T, path string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(l, "#") {
			out[k] = append(out[k], v)
		}
	}
	return out
}
