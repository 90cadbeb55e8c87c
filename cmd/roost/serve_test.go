package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"roost/internal/client"
	"roost/jid"
	"roost/store"
	"roost/stream"
	"roost/xmlstream"
)

// mainEnv makes the test binary run roost's main instead of the tests, so
// that the lifecycle tests drive a real process (signals, exit status,
// sd_notify from another pid) without a separate build.
const mainEnv = "ROOST_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(mainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// serveConfig writes a configuration for a server on ip (ports 5222, 5223
// and 5443) with its data in the test's temporary directory.
func serveConfig(t *testing.T, ip, extra string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`domains = ["localhost"]
data_dir = %q

[admin]
socket = %q

[c2s]
listen = ["%s:5222"]
listen_tls = ["%s:5223"]

[s2s]
enabled = false

[https]
listen = ["%s:5443"]
%s`, filepath.Join(dir, "data"), filepath.Join(dir, "admin.sock"), ip, ip, ip, extra)
	path := filepath.Join(dir, "roost.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// process is a roost process under test.
type process struct {
	cmd    *exec.Cmd
	log    *lockedBuffer
	exited chan error
	done   chan struct{} // closed once Wait has returned
}

// startProcess runs this test binary as `roost args...` with env added.
func startProcess(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return startProcessAt(t, self, env, args...)
}

// startProcessAt runs self, a copy of this test binary, as startProcess.
func startProcessAt(t *testing.T, self string, env []string, args ...string) *process {
	t.Helper()
	p := &process{log: &lockedBuffer{}, exited: make(chan error, 1), done: make(chan struct{})}
	p.cmd = exec.Command(self, args...)
	p.cmd.Env = append(append(os.Environ(), mainEnv+"=1"), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.exited <- p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		// ProcessState is written by Wait: done, not ProcessState, says
		// whether the process is gone.
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("roost log:\n%s", p.log.String())
		}
	})
	return p
}

// waitLog waits until the log contains s.
func (p *process) waitLog(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(p.log.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log after 60s", s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM and returns the exit error, failing the test when
// the process does not exit within a generous bound.
func (p *process) stop(t *testing.T) error {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	return p.wait(t)
}

func (p *process) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-p.exited:
		return err
	case <-time.After(60 * time.Second):
		t.Fatalf("roost did not exit within 60s")
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

// notifyListener is a test-owned NOTIFY_SOCKET collecting datagrams.
type notifyListener struct {
	path string
	msgs chan string
}

func listenNotify(t *testing.T) *notifyListener {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	n := &notifyListener{path: path, msgs: make(chan string, 1000)}
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
	t.Cleanup(func() { _ = conn.Close() })
	return n
}

// expect skips datagrams until one matches re (ignoring watchdog pings
// unless re asks for them) and returns the ones skipped.
func (n *notifyListener) expect(t *testing.T, re string) []string {
	t.Helper()
	want := regexp.MustCompile(re)
	var skipped []string
	timeout := time.After(60 * time.Second)
	for {
		select {
		case m, ok := <-n.msgs:
			if !ok {
				t.Fatalf("notify socket closed waiting for %q", re)
			}
			if want.MatchString(m) {
				return skipped
			}
			skipped = append(skipped, m)
		case <-timeout:
			t.Fatalf("no notification matching %q after 60s; got %q", re, skipped)
		}
	}
}

func login(t *testing.T, addr, user, password string) *client.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, addr, client.Options{
		JID:      jid.MustParse(user),
		Password: password,
		TLS:      &tls.Config{InsecureSkipVerify: true}, // the server's self-signed certificate
	})
	if err != nil {
		t.Fatalf("log in as %s at %s: %v", user, addr, err)
	}
	return c
}

// TestServeLifecycle follows one server through systemd's notify
// protocol: STATUS=starting, READY=1 once the port is bound and the store
// open, watchdog pings, a reload on SIGHUP, and on SIGTERM STOPPING=1, a
// system-shutdown stream error for a connected client and a clean exit.
func TestServeLifecycle(t *testing.T) {
	cfg := serveConfig(t, "127.0.0.151", "")
	if _, _, err := roost(t, "alice-password\n", "user", "add", "alice@localhost", "-config", cfg); err != nil {
		t.Fatal(err)
	}
	n := listenNotify(t)
	p := startProcess(t, []string{"NOTIFY_SOCKET=" + n.path, "WATCHDOG_USEC=400000"}, "serve", "-config", cfg)

	if skipped := n.expect(t, `^STATUS=starting$`); len(skipped) != 0 {
		t.Errorf("before STATUS=starting: %q", skipped)
	}
	if skipped := n.expect(t, "^READY=1\nSTATUS=serving localhost$"); len(skipped) != 0 {
		t.Errorf("between STATUS=starting and READY=1: %q", skipped)
	}
	// READY=1 promises a bound port and an open store.
	if c, err := net.DialTimeout("tcp", "127.0.0.151:5222", 10*time.Second); err != nil {
		t.Errorf("c2s port not bound at READY=1: %v", err)
	} else {
		_ = c.Close()
	}
	if _, err := store.Open(filepath.Join(filepath.Dir(cfg), "data", "roost.db"), store.Options{Timeout: 100 * time.Millisecond}); !errors.Is(err, store.ErrLocked) {
		t.Errorf("store at READY=1: open gave %v, want %v (held by the server)", err, store.ErrLocked)
	}
	// The watchdog pings only while the admin socket answers.
	n.expect(t, `^WATCHDOG=1$`)
	n.expect(t, `^WATCHDOG=1$`)

	c := login(t, "127.0.0.151:5222", "alice@localhost/lifecycle", "alice-password")
	defer c.Close()

	// A reload with a changed configuration: the log level applies, the
	// rest is named as needing a restart.
	body, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	body = append(body, "\n[limits]\nmax_resources = 3\n\n[log]\nlevel = \"debug\"\n"...)
	if err := os.WriteFile(cfg, body, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	n.expect(t, "^RELOADING=1\nMONOTONIC_USEC=[0-9]+\n?$")
	n.expect(t, "^READY=1\nSTATUS=serving localhost$")
	p.waitLog(t, "msg=reloaded")
	if !regexp.MustCompile(`changed settings take effect on restart".*settings=\[limits\]`).MatchString(p.log.String()) {
		t.Errorf("the reload did not name [limits] as needing a restart")
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	n.expect(t, "^STOPPING=1\nSTATUS=shutting down$")
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	var serr *client.StreamError
	for {
		_, err := c.Recv()
		if err == nil {
			continue
		}
		if !errors.As(err, &serr) || serr.Err.Condition != stream.SystemShutdown {
			t.Errorf("client got %v, want the stream error %s", err, stream.SystemShutdown)
		}
		break
	}
	if err := p.wait(t); err != nil {
		t.Errorf("exit after SIGTERM: %v, want status 0", err)
	}
	if !strings.Contains(p.log.String(), "msg=stopped") {
		t.Errorf("no clean stop in the log")
	}
	// The store was closed: it opens at once.
	st, err := store.Open(filepath.Join(filepath.Dir(cfg), "data", "roost.db"), store.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("store after exit: %v", err)
	}
	_ = st.Close()
}

// TestServeSocketActivation starts roost through systemd-socket-activate,
// which binds the port, waits for a connection and passes the socket as
// "c2s" (FileDescriptorName=), as roost-c2s.socket does. The configured
// c2s address is elsewhere, so a login on the passed port proves roost
// served the socket it was given.
func TestServeSocketActivation(t *testing.T) {
	activate, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		t.Skip("systemd-socket-activate not installed (Debian package systemd)")
	}
	cfg := serveConfig(t, "127.0.0.152", "")
	if _, _, err := roost(t, "alice-password\n", "user", "add", "alice@localhost", "-config", cfg); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	const addr = "127.0.0.153:5222"
	p := &process{log: &lockedBuffer{}, exited: make(chan error, 1), done: make(chan struct{})}
	p.cmd = exec.Command(activate, "-l", addr, "--fdname=c2s", "-E", mainEnv+"=1", self, "serve", "-config", cfg)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.exited <- p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		// ProcessState is written by Wait: done, not ProcessState, says
		// whether the process is gone.
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("log:\n%s", p.log.String())
		}
	})
	p.waitLog(t, "Listening on")
	c := login(t, addr, "alice@localhost/activated", "alice-password")
	_ = c.Close()
	if !regexp.MustCompile(`roost is ready.*c2s:\[` + regexp.QuoteMeta(addr) + `\]`).MatchString(p.log.String()) {
		t.Errorf("roost did not report serving c2s on the passed socket %s", addr)
	}
	if err := p.stop(t); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
}

// TestSIGTERMDuringTraffic stops the server while a client sends messages
// to an offline user as fast as it can. Without stream management a
// client knows the server processed a stanza once it answers a later one
// on the same stream (RFC 6120 §10.1: in order), so the client sends a
// ping after every few messages: every message before an answered ping,
// and not bounced with an error, was acknowledged and must reach the
// recipient after a restart.
func TestSIGTERMDuringTraffic(t *testing.T) {
	cfg := serveConfig(t, "127.0.0.154", `
[limits]
max_offline_messages = 20000
queue_depth = 20001
read_rate_bytes = 100000000
read_burst_bytes = 100000000
`)
	for _, u := range []string{"alice", "bob"} {
		if _, _, err := roost(t, u+"-password\n", "user", "add", u+"@localhost", "-config", cfg); err != nil {
			t.Fatal(err)
		}
	}
	p := startProcess(t, nil, "serve", "-config", cfg)
	p.waitLog(t, "roost is ready")
	alice := login(t, "127.0.0.154:5222", "alice@localhost/sender", "alice-password")
	defer alice.Close()

	const maxMessages, pingEvery = 15000, 10
	var (
		acked    atomic.Int64 // highest message number before an answered ping
		sent     atomic.Int64
		mu       sync.Mutex
		bounced  = map[int64]bool{}
		endErr   error
		recvDone = make(chan struct{})
	)
	go func() {
		defer close(recvDone)
		for {
			el, err := alice.Recv()
			if err != nil {
				endErr = err
				return
			}
			id := el.Get("id")
			switch {
			case el.Is(xmlstream.NSClient, "iq") && el.Get("type") == "result" && strings.HasPrefix(id, "p"):
				n, _ := strconv.ParseInt(id[1:], 10, 64)
				acked.Store(n)
			case el.Is(xmlstream.NSClient, "message") && el.Get("type") == "error" && strings.HasPrefix(id, "m"):
				n, _ := strconv.ParseInt(id[1:], 10, 64)
				mu.Lock()
				bounced[n] = true
				mu.Unlock()
			}
		}
	}()
	go func() {
		for i := int64(1); i <= maxMessages; i++ {
			msg := fmt.Sprintf("<message to='bob@localhost' type='chat' id='m%d'><body>n%d</body></message>", i, i)
			if i%pingEvery == 0 {
				msg += fmt.Sprintf("<iq type='get' id='p%d'><ping xmlns='urn:xmpp:ping'/></iq>", i)
			}
			if err := alice.SendRaw([]byte(msg)); err != nil {
				return
			}
			sent.Store(i)
		}
	}()
	deadline := time.Now().Add(60 * time.Second)
	for acked.Load() < 300 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d messages acknowledged after 60s", acked.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	inFlight := sent.Load() - acked.Load()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	stopping := time.Now()
	if err := p.wait(t); err != nil {
		t.Errorf("exit after SIGTERM: %v, want status 0", err)
	}
	t.Logf("stopped %.1fs after SIGTERM", time.Since(stopping).Seconds())
	if inFlight <= 0 {
		t.Errorf("no message was in flight at SIGTERM (%d sent, %d acknowledged)", sent.Load(), acked.Load())
	}
	select {
	case <-recvDone:
	case <-time.After(60 * time.Second):
		t.Fatal("the sender's stream did not end after the server stopped")
	}
	// Unread input makes the server's close a TCP reset, which can
	// overtake the stream error; any other stream error is wrong.
	var serr *client.StreamError
	if errors.As(endErr, &serr) && serr.Err.Condition != stream.SystemShutdown {
		t.Errorf("sender's stream ended with %v, want %s", serr.Err, stream.SystemShutdown)
	}
	last := acked.Load()
	t.Logf("SIGTERM with %d messages unanswered; in the end %d acknowledged, %d sent, %d bounced", inFlight, last, sent.Load(), len(bounced))

	restart := time.Now()
	p = startProcess(t, nil, "serve", "-config", cfg)
	p.waitLog(t, "roost is ready")
	t.Logf("restarted in %.1fs", time.Since(restart).Seconds())
	bob := login(t, "127.0.0.154:5222", "bob@localhost/receiver", "bob-password")
	defer bob.Close()
	if err := bob.SendRaw([]byte("<presence/>")); err != nil {
		t.Fatal(err)
	}
	got := map[int64]bool{}
	missing := func() []int64 {
		var out []int64
		for i := int64(1); i <= last; i++ {
			if !got[i] && !bounced[i] {
				out = append(out, i)
			}
		}
		return out
	}
	_ = bob.SetDeadline(time.Now().Add(120 * time.Second))
	for len(missing()) > 0 {
		el, err := bob.Recv()
		if err != nil {
			m := missing()
			t.Fatalf("%d acknowledged messages lost (first %d): %v", len(m), m[0], err)
		}
		if el.Is(xmlstream.NSClient, "message") {
			if n, err := strconv.ParseInt(strings.TrimPrefix(el.ChildText(xmlstream.NSClient, "body"), "n"), 10, 64); err == nil {
				got[n] = true
			}
		}
	}
	t.Logf("%d messages delivered after the restart", len(got))
	if err := p.stop(t); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
}

// TestHotBackup backs up a running server through its admin socket,
// refuses a restore while it runs, and restores the copy once stopped.
func TestHotBackup(t *testing.T) {
	cfg := serveConfig(t, "127.0.0.155", "")
	p := startProcess(t, nil, "serve", "-config", cfg)
	p.waitLog(t, "roost is ready")
	if _, _, err := roost(t, "alice-password\n", "user", "add", "alice", "-config", cfg); err != nil {
		t.Fatalf("user add while running: %v", err)
	}
	backup := filepath.Join(t.TempDir(), "roost.backup")
	if out, _, err := roost(t, "", "backup", backup, "-config", cfg); err != nil || !strings.Contains(out, "backup written") {
		t.Fatalf("backup while running: %q, %v", out, err)
	}
	if _, _, err := roost(t, "", "restore", backup, "-config", cfg); err == nil || !strings.Contains(err.Error(), "stop the server first") {
		t.Errorf("restore while running: %v, want a refusal", err)
	}
	if _, _, err := roost(t, "", "compact", "-config", cfg); err == nil || !strings.Contains(err.Error(), "stop the server first") {
		t.Errorf("compact while running: %v, want a refusal", err)
	}
	if _, _, err := roost(t, "", "user", "del", "alice", "-config", cfg); err != nil {
		t.Fatal(err)
	}
	if err := p.stop(t); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if _, _, err := roost(t, "", "restore", backup, "-config", cfg); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if out, _, _ := roost(t, "", "user", "list", "-config", cfg); out != "alice@localhost\n" {
		t.Errorf("after restore, users = %q, want alice back", out)
	}
	if out, _, err := roost(t, "", "compact", "-config", cfg); err != nil || !strings.Contains(out, "compacted") {
		t.Errorf("compact: %q, %v", out, err)
	}
	if out, _, _ := roost(t, "", "user", "list", "-config", cfg); out != "alice@localhost\n" {
		t.Errorf("after compact, users = %q, want alice", out)
	}
}

// TestRestoreKeepsOwner checks that root restoring or creating the data
// file leaves it to the data directory's owner, the user the server runs
// as.
func TestRestoreKeepsOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	const nobody = 65534
	cfg := writeConfig(t, "domains = [\"example.org\"]\ndata_dir = \"data\"\n")
	data := filepath.Join(filepath.Dir(cfg), "data")
	if err := os.Mkdir(data, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(data, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	owner := func() int {
		fi, err := os.Stat(filepath.Join(data, "roost.db"))
		if err != nil {
			t.Fatal(err)
		}
		return int(fi.Sys().(*syscall.Stat_t).Uid)
	}
	if _, _, err := roost(t, "password\n", "user", "add", "alice", "-config", cfg); err != nil {
		t.Fatal(err)
	}
	if got := owner(); got != nobody {
		t.Errorf("after user add as root, owner %d, want %d", got, nobody)
	}
	backup := filepath.Join(t.TempDir(), "b")
	if _, _, err := roost(t, "", "backup", backup, "-config", cfg); err != nil {
		t.Fatal(err)
	}
	if _, _, err := roost(t, "", "restore", backup, "-config", cfg); err != nil {
		t.Fatal(err)
	}
	if got := owner(); got != nobody {
		t.Errorf("after restore as root, owner %d, want %d", got, nobody)
	}
	if _, _, err := roost(t, "", "compact", "-config", cfg); err != nil {
		t.Fatal(err)
	}
	if got := owner(); got != nobody {
		t.Errorf("after compact as root, owner %d, want %d", got, nobody)
	}
}

// TestArchiveSurvivesKill: messages the server acknowledged with stream
// management (XEP-0198 <a/>) are in the archive after kill -9, although
// the archive commits in groups: the server syncs before it acknowledges.
func TestArchiveSurvivesKill(t *testing.T) {
	cfg := serveConfig(t, "127.0.0.156", "")
	for _, u := range []string{"alice", "bob"} {
		if _, _, err := roost(t, u+"-password\n", "user", "add", u+"@localhost", "-config", cfg); err != nil {
			t.Fatal(err)
		}
	}
	p := startProcess(t, nil, "serve", "-config", cfg)
	p.waitLog(t, "roost is ready")
	alice := login(t, "127.0.0.156:5222", "alice@localhost/phone", "alice-password")
	const sm = "urn:xmpp:sm:3"
	recv := func(c *client.Conn, want func(*xmlstream.Element) bool) *xmlstream.Element {
		t.Helper()
		_ = c.SetDeadline(time.Now().Add(20 * time.Second))
		for {
			el, err := c.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if want(el) {
				return el
			}
		}
	}
	if err := alice.SendRaw([]byte(`<enable xmlns='urn:xmpp:sm:3'/>`)); err != nil {
		t.Fatal(err)
	}
	recv(alice, func(el *xmlstream.Element) bool { return el.Is(sm, "enabled") })
	const n = 40
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "<message to='bob@localhost' type='chat' id='m%d'><body>n%d</body></message>", i, i)
	}
	b.WriteString(`<r xmlns='urn:xmpp:sm:3'/>`)
	if err := alice.SendRaw([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
	a := recv(alice, func(el *xmlstream.Element) bool { return el.Is(sm, "a") })
	if a.Get("h") != strconv.Itoa(n) {
		t.Fatalf("acknowledged %s, want h=%d", a, n)
	}
	// At once: the periodic commit has had no time to run.
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.wait(t)
	_ = alice.Close()

	p = startProcess(t, nil, "serve", "-config", cfg)
	p.waitLog(t, "roost is ready")
	defer p.stop(t)
	for _, who := range []string{"alice", "bob"} {
		c := login(t, "127.0.0.156:5222", who+"@localhost/laptop", who+"-password")
		q := `<iq type='set' id='q'><query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><max>100</max></set></query></iq>`
		if err := c.SendRaw([]byte(q)); err != nil {
			t.Fatal(err)
		}
		var bodies []string
		for {
			el := recv(c, func(el *xmlstream.Element) bool {
				return el.Get("id") == "q" || el.Child("urn:xmpp:mam:2", "result") != nil
			})
			if el.Get("id") == "q" {
				break
			}
			fwd := el.Child("urn:xmpp:mam:2", "result").Child("urn:xmpp:forward:0", "forwarded")
			bodies = append(bodies, fwd.Child(xmlstream.NSClient, "message").ChildText(xmlstream.NSClient, "body"))
		}
		_ = c.Close()
		if len(bodies) != n || bodies[0] != "n0" || bodies[n-1] != fmt.Sprintf("n%d", n-1) {
			t.Errorf("%s's archive after kill -9: %d messages %v, want the %d acknowledged", who, len(bodies), bodies, n)
		}
	}
}

// TestCheckServerInfo: with the server running, roost check prints the
// rows of Conversations' server info screen from what the server
// advertises; stopped, it says so.
func TestCheckServerInfo(t *testing.T) {
	cfg := serveConfig(t, "127.0.0.157", "[turn]\nhost = \"turn.example.org\"\nsecret = \"0123456789abcdef\"\n")
	out, _, err := roost(t, "", "check", "-config", cfg)
	if err != nil || !strings.Contains(out, "roost is not running") {
		t.Errorf("check with the server stopped: %q, %v", out, err)
	}
	p := startProcess(t, nil, "serve", "-config", cfg)
	p.waitLog(t, "roost is ready")
	defer p.stop(t)
	out, _, err = roost(t, "", "check", "-config", cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := `
What phones see for localhost (Conversations: Account → Server info):
  Roster Versioning            available
  Carbon Messages              available
  Message Archive Management   available
  Client State Indication      available
  Blocking Command             available
  Stream Management            available
  External Service Discovery   available
`
	if !strings.Contains(out, want) {
		t.Errorf("roost check printed\n%s\nwant it to contain%s", out, want)
	}
	for _, row := range []string{"Personal Eventing Protocol", "PEP Publish Options", "HTTP File Upload", "Push Notifications"} {
		if !strings.Contains(out, "  "+row) {
			t.Errorf("no %s row in\n%s", row, out)
		}
	}
}

// TestServeInstalledChatApp: roost installed as <prefix>/bin/roost serves
// the chat page's converse.js from <prefix>/share/roost/chat-app, as the
// .deb installs it, with no setting; the page loads it from there.
func TestServeInstalledChatApp(t *testing.T) {
	prefix := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(prefix, "bin", "roost")
	app := filepath.Join(prefix, "share", "roost", "chat-app")
	const script = "export const converse = 'installed';"
	for _, d := range []string{filepath.Dir(bin), app} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	exe, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, exe, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(app, "converse.min.js"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	const ip = "127.0.0.158"
	p := startProcessAt(t, bin, nil, "serve", "-config", serveConfig(t, ip, ""))
	p.waitLog(t, "converse.js served by roost")
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"}, //nolint:gosec // a self-signed test server on loopback
	}}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := hc.Get("https://" + ip + ":5443" + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, page := get("/")
	m := regexp.MustCompile(`<script type="module" src="(/chat-app/[0-9a-z]+/)converse.min.js">`).FindStringSubmatch(page)
	if code != 200 || m == nil || strings.Contains(page, "https://") {
		t.Fatalf("chat page: %d, want converse.min.js from /chat-app/<version>/ and no other site:\n%s", code, page)
	}
	if code, body := get(m[1] + "converse.min.js"); code != 200 || body != script {
		t.Errorf("the page's script: %d %q, want the installed file", code, body)
	}
	if err := p.stop(t); err != nil {
		t.Errorf("roost exited with %v", err)
	}
}
