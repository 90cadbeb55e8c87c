//go:build interop

package interop

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"roost/internal/xmpptest"
)

const (
	turnIP       = "127.0.0.51"
	extdiscoIP   = "127.0.0.52"
	extdiscoHost = "calls.example"
	turnSecret   = "family-turn-secret-0123456789"
)

// startCoturn runs Debian's coturn on turnIP:3478 with the shared-secret
// scheme (use-auth-secret), as roost's [turn] documentation says to
// configure it, and waits until it listens.
func startCoturn(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("turnserver",
		"--listening-ip="+turnIP, "--relay-ip="+turnIP, "--listening-port=3478",
		"--use-auth-secret", "--static-auth-secret="+turnSecret, "--realm="+extdiscoHost,
		"--no-tls", "--no-dtls", "--no-cli", "--allow-loopback-peers",
		"--min-port=49160", "--max-port=49200",
		"--pidfile="+filepath.Join(dir, "turn.pid"), "--log-file=stdout", "--simple-log")
	log := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start coturn: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("coturn log:\n%s", tail(log.String(), 40))
		}
	})
	// coturn buffers its log: wait for its TCP listener instead.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", turnIP+":3478", time.Second)
		if err == nil {
			_ = c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("coturn does not listen after 10s: %v\n%s", err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// refused is what turnutils_uclient prints when coturn answers its
// allocation requests with an error (here: 401, wrong credentials); a
// coturn that does not answer at all gives other errors.
const refused = "Cannot complete Allocation"

// allocate relays a few packets through coturn with turnutils_uclient,
// over TCP when tcp, as the user with the password; it reports whether
// every packet made the round trip.
func allocate(t *testing.T, user, password string, tcp bool) (bool, string) {
	t.Helper()
	args := []string{"-y", "-n", "3", "-u", user, "-w", password}
	if tcp {
		args = append(args, "-t")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, "turnutils_uclient", append(args, turnIP)...).CombinedOutput()
	t.Logf("turnutils_uclient (tcp %t) took %s: %v", tcp, time.Since(start).Round(time.Millisecond), err)
	return err == nil && strings.Contains(string(out), "Total lost packets 0 (0.000000%)"), tail(string(out), 6)
}

// TestInteropExternalServices: a client learns the STUN and TURN services
// from roost (XEP-0215) with credentials in coturn's use-auth-secret
// scheme; coturn relays with them over UDP and TCP, refuses them once
// they expired, and refuses a forged password.
func TestInteropExternalServices(t *testing.T) {
	startCoturn(t)
	ca := xmpptest.NewCA(t)
	// turnutils_uclient takes 4 to 6 seconds: the allocations run
	// side by side, well within the lifetime.
	const lifetime = 12 * time.Second
	r := startRoost(t, extdiscoIP, extdiscoHost, ca, func(c *roostConfig) {
		c.Tables = fmt.Sprintf("[turn]\nhost = %q\nsecret = %q\ncredential_lifetime = %q\n", turnIP, turnSecret, lifetime.String())
	})
	r.AddUser(t, "alice", "alice-secret")
	ev := runPy(t, "testdata/slix_phones.py", "services", "--host", r.IP, "--domain", r.Domain, "--ca", ca.File, "--turn-host", turnIP)
	t.Logf("services: %v", ev)
	got := event(t, ev, "services")
	want(t, got, "result", "ok")
	services, _ := got["services"].([]any)
	var kinds []string
	var user, password, expires string
	for _, s := range services {
		m := s.(map[string]any)
		kinds = append(kinds, fmt.Sprintf("%v/%v:%v", m["type"], m["transport"], m["port"]))
		if m["type"] == "turn" {
			user, password, expires = fmt.Sprint(m["username"]), fmt.Sprint(m["password"]), fmt.Sprint(m["expires"])
		}
	}
	if strings.Join(kinds, " ") != "stun/udp:3478 turn/udp:3478 turn/tcp:3478" {
		t.Errorf("services %v", kinds)
	}
	if !strings.HasSuffix(user, ":alice@"+extdiscoHost) {
		t.Fatalf("turn username %q, want expiry:alice@%s", user, extdiscoHost)
	}
	want(t, event(t, ev, "credentials"), "result", "ok")

	var wg sync.WaitGroup
	for _, tcp := range []bool{false, true} {
		wg.Go(func() {
			if ok, out := allocate(t, user, password, tcp); !ok {
				t.Errorf("coturn refused roost's credentials (tcp %t):\n%s", tcp, out)
			}
		})
	}
	wg.Go(func() {
		if ok, out := allocate(t, user, password[:len(password)-2]+"AA", false); ok || !strings.Contains(out, refused) {
			t.Errorf("coturn did not refuse a forged password (relayed: %t):\n%s", ok, out)
		}
	})
	wg.Wait()
	// Once expired, the same credentials fail.
	exp, err := strconv.ParseInt(strings.SplitN(user, ":", 2)[0], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if e, err := time.Parse(time.RFC3339, expires); err != nil || e.Unix() != exp {
		t.Errorf("expires %q does not match the username's %d", expires, exp)
	}
	time.Sleep(time.Until(time.Unix(exp+1, 0)))
	if ok, out := allocate(t, user, password, false); ok || !strings.Contains(out, refused) {
		t.Errorf("coturn did not refuse expired credentials (relayed: %t):\n%s", ok, out)
	}
}
