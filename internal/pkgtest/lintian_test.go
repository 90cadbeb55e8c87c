//go:build pkgtest

package pkgtest

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLintian runs lintian on the three packages: no error or warning
// may remain (overrides, in packaging/debian/lintian-overrides, only where
// the reason is written next to them).
func TestLintian(t *testing.T) {
	for _, arch := range []string{"amd64", "arm64", "armhf"} {
		t.Run(arch, func(t *testing.T) {
			cmd := exec.Command("lintian", "--fail-on", "error,warning", "--display-level", ">=warning", "--no-tag-display-limit", debs[arch])
			b, err := cmd.CombinedOutput()
			var bad []string
			for _, l := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(l, "E: ") || strings.HasPrefix(l, "W: ") {
					bad = append(bad, l)
				}
			}
			if err != nil || len(bad) > 0 {
				t.Errorf("lintian %s: %v\n%s", debs[arch], err, b)
			}
		})
	}
}
