package main

import (
	"strings"
	"testing"
)

// TestRoomsWhileStopped: `roost room` works on the store of a stopped
// server.
func TestRoomsWhileStopped(t *testing.T) {
	cfg := writeConfig(t, "domains = [\"example.org\"]\ndata_dir = \"data\"\n")
	if _, _, err := roost(t, "alice-password\n", "user", "add", "alice", "-config", cfg); err != nil {
		t.Fatal(err)
	}
	roomLifecycle(t, cfg)
	if _, _, err := roost(t, "", "room", "create", "x", "-owner", "nobody", "-config", cfg); err == nil || !strings.Contains(err.Error(), "no such user") {
		t.Errorf("an owner without an account: %v", err)
	}
	off := writeConfig(t, "domains = [\"example.org\"]\ndata_dir = \"data\"\n[muc]\nenabled = false\n")
	if _, _, err := roost(t, "", "room", "list", "-config", off); err == nil || !strings.Contains(err.Error(), "group chat is off") {
		t.Errorf("rooms with group chat off: %v", err)
	}
	if _, stderr, err := roost(t, "", "room", "info", "-config", cfg); err == nil || !strings.Contains(stderr, "roost room    create ROOM") {
		t.Errorf("missing room name: %v %q", err, stderr)
	}
}

// TestRoomsWhileRunning: the same through the admin socket of a running
// server, which keeps its rooms in memory.
func TestRoomsWhileRunning(t *testing.T) {
	cfg := serveConfig(t, "127.0.0.31", "")
	p := startProcess(t, nil, "serve", "-config", cfg)
	p.waitLog(t, "roost is ready")
	if _, _, err := roost(t, "alice-password\n", "user", "add", "alice", "-config", cfg); err != nil {
		t.Fatal(err)
	}
	roomLifecycle(t, cfg)
	// A room created while running is stored: there after a restart.
	if _, _, err := roost(t, "", "room", "create", "holiday", "-owner", "alice", "-config", cfg); err != nil {
		t.Fatal(err)
	}
	if err := p.stop(t); err != nil {
		t.Fatal(err)
	}
	out, _, err := roost(t, "", "room", "list", "-config", cfg)
	if err != nil || !strings.HasPrefix(out, "holiday@conference.") {
		t.Errorf("rooms after the server stopped: %q, %v", out, err)
	}
}

// roomLifecycle creates, lists, describes and destroys a room.
func roomLifecycle(t *testing.T, cfg string) {
	t.Helper()
	out, _, err := roost(t, "", "room", "create", "family", "-owner", "alice", "-name", "The family", "-config", cfg)
	if err != nil || !strings.Contains(out, "family: created") {
		t.Fatalf("room create: %q, %v", out, err)
	}
	if _, _, err := roost(t, "", "room", "create", "family", "-config", cfg); err == nil {
		t.Error("created the same room twice")
	}
	out, _, err = roost(t, "", "room", "list", "-config", cfg)
	if err != nil || !strings.Contains(out, "family@conference.") || !strings.Contains(out, "The family") ||
		!strings.Contains(out, "persistent, members-only, non-anonymous, logged") {
		t.Errorf("room list: %q, %v", out, err)
	}
	out, _, err = roost(t, "", "room", "info", "family", "-config", cfg)
	if err != nil || !strings.Contains(out, "name:         The family") || !strings.Contains(out, "owner:        alice@") ||
		!strings.Contains(out, "presence of:  moderator, participant, visitor\n") || !strings.Contains(out, "member list:  seen by moderator\n") {
		t.Errorf("room info: %q, %v", out, err)
	}
	out, _, err = roost(t, "", "room", "destroy", "family", "-reason", "done", "-config", cfg)
	if err != nil || !strings.Contains(out, "destroyed") {
		t.Errorf("room destroy: %q, %v", out, err)
	}
	if _, _, err := roost(t, "", "room", "info", "family", "-config", cfg); err == nil {
		t.Error("room info of a destroyed room succeeded")
	}
	if out, _, _ := roost(t, "", "room", "list", "-config", cfg); out != "no rooms\n" {
		t.Errorf("room list after destroy: %q", out)
	}
}
