//go:build interop

package interop

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// nodeDir is the one Node project of the JavaScript clients the tests
// drive: @xmpp/client under Node, over TCP and over WebSocket, and
// converse.js in Debian's chromium through playwright-core.
// package-lock.json pins them; `make interop` installs them with npm ci
// whenever it changes (a testdata directory, so that no go command walks
// node_modules).
const nodeDir = "testdata/node"

// nodeClients returns nodeDir's absolute path, once npm ci has installed
// what the lockfile pins; a test run without them fails saying how to
// install them, rather than with a missing module halfway.
func nodeClients(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(nodeDir)
	if err != nil {
		t.Fatal(err)
	}
	// npm ci writes node_modules/.package-lock.json, its record of what it
	// installed, last; make compares it with the lockfile too.
	installed, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json"))
	if err != nil {
		t.Fatalf("the JavaScript clients are not installed (make interop runs npm ci in internal/interop/%s): %v", nodeDir, err)
	}
	lock, err := os.Stat(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	if lock.ModTime().After(installed.ModTime()) {
		t.Fatalf("internal/interop/%s/package-lock.json changed since npm ci installed the JavaScript clients: make interop installs them again", nodeDir)
	}
	return dir
}

// runNode runs a script of nodeDir with env added to the environment
// (NODE_EXTRA_CA_CERTS to trust the test CA) and returns the JSON events
// it printed. Node 20 has WebSocket, which @xmpp/client uses for wss://
// services, behind a flag.
func runNode(t *testing.T, env []string, script string, args ...string) []map[string]any {
	t.Helper()
	dir := nodeClients(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", append([]string{"--experimental-websocket", script}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	events := jsonLines(out)
	if err != nil {
		t.Fatalf("node %s %v: %v\nevents: %v\nstderr:\n%s", script, args, err, events, tail(stderr.String(), 40))
	}
	return events
}
