package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckDefaults: roost check with the built-in defaults, as after
// make run, names the data directory by its full path and says the
// server is not running (no admin socket in the fresh directory).
func TestCheckDefaults(t *testing.T) {
	t.Chdir(t.TempDir())
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if err := cmdCheck(nil, &out, &errOut); err != nil {
		t.Fatalf("cmdCheck: %v (stderr %q)", err, errOut.String())
	}
	lines := strings.Split(out.String(), "\n")
	if got, want := lines[0], "built-in defaults: ok (domains [localhost], data in "+filepath.Join(wd, "data")+")"; got != want {
		t.Errorf("first line %q, want %q", got, want)
	}
	if !strings.Contains(out.String(), "roost is not running") {
		t.Errorf("output %q does not say roost is not running", out.String())
	}
}
