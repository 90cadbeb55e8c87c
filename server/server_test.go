package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"roost/admin"
	"roost/config"
	"roost/internal/client"
	"roost/jid"
	"roost/store"
	"roost/stream"
	"roost/xmlstream"
)

type running struct {
	srv    *Server
	cfg    config.Config
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, dir string) *running {
	t.Helper()
	return startWith(t, dir, nil)
}

// startWith starts a server whose test options mod changes first.
func startWith(t *testing.T, dir string, mod func(*Options)) *running {
	t.Helper()
	cfg := config.Default()
	cfg.Domains = []string{"example.org"}
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.Admin.Socket = filepath.Join(dir, "admin.sock")
	cfg.C2S.Listen = []string{"127.0.0.1:0"}
	cfg.C2S.ListenTLS = []string{"127.0.0.1:0"}
	cfg.S2S.Listen, cfg.S2S.ListenTLS = []string{"127.0.0.1:0"}, []string{"127.0.0.1:0"}
	cfg.HTTPS.Listen = []string{"127.0.0.1:0"}
	opts := Options{Config: cfg, Version: "test"}
	if mod != nil {
		mod(&opts)
	}
	cfg = opts.Config
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{srv: srv, cfg: cfg, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- srv.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t *testing.T) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Error("Run did not return after cancel")
	}
}

func (r *running) addr(name string) string { return r.srv.Addrs()[name][0].String() }

// login connects over STARTTLS. The certificate is the server's own
// self-signed one, generated for this test.
func (r *running) login(t *testing.T, full, password string) (*client.Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return client.Dial(ctx, r.addr(ListenC2S), client.Options{
		JID: jid.MustParse(full), Password: password,
		TLS: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}, //nolint:gosec // our own self-signed test certificate
	})
}

func TestAccounts(t *testing.T) {
	r := start(t, t.TempDir())
	a := r.srv.accounts
	ctx := context.Background()
	tests := []struct {
		name string
		op   func() error
		want error
	}{
		{"add with default domain", func() error { return a.AddUser(ctx, "alice", "secret1") }, nil},
		{"add again", func() error { return a.AddUser(ctx, "alice@example.org", "secret1") }, ErrUserExists},
		{"add with uppercase is the same account", func() error { return a.AddUser(ctx, "ALICE", "secret1") }, ErrUserExists},
		{"short password", func() error { return a.AddUser(ctx, "bob", "12345") }, ErrWeakPassword},
		// XEP-0077 §3: a taken name is conflict before any password check.
		{"taken name, short password", func() error { return a.AddUser(ctx, "alice", "1") }, ErrUserExists},
		{"foreign domain", func() error { return a.AddUser(ctx, "bob@elsewhere.example", "secret1") }, ErrBadUser},
		{"resource", func() error { return a.AddUser(ctx, "bob@example.org/phone", "secret1") }, ErrBadUser},
		{"passwd of missing user", func() error { return a.SetPassword(ctx, "nobody", "secret1") }, ErrNoSuchUser},
		{"delete missing user", func() error { return a.DeleteUser(ctx, "nobody") }, ErrNoSuchUser},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.op(); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	users, err := a.Users(ctx)
	if err != nil || strings.Join(users, ",") != "alice@example.org" {
		t.Errorf("Users() = %v, %v", users, err)
	}
}

func TestLoginChatPasswordChangeAndDelete(t *testing.T) {
	r := start(t, t.TempDir())
	ctx := context.Background()
	adm := admin.Client{Path: r.cfg.Admin.Socket}
	for _, u := range []string{"alice", "bob"} {
		if err := adm.AddUser(ctx, u, u+"-secret"); err != nil {
			t.Fatal(err)
		}
	}
	alice, err := r.login(t, "alice@example.org/laptop", "alice-secret")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := r.login(t, "bob@example.org/phone", "bob-secret")
	if err != nil {
		t.Fatal(err)
	}
	// Bob becomes available; alice writes to his bare JID.
	if err := bob.Send(xmlstream.New(xmlstream.NSClient, "presence")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // let the presence be routed before the message
	msg := xmlstream.New(xmlstream.NSClient, "message").SetAttr("to", "bob@example.org").SetAttr("type", "chat").
		Append(xmlstream.New(xmlstream.NSClient, "body").AppendText("hi bob"))
	if err := alice.Send(msg); err != nil {
		t.Fatal(err)
	}
	_ = bob.SetDeadline(time.Now().Add(5 * time.Second))
	got := recvKind(t, bob, "message")
	if got.Get("from") != "alice@example.org/laptop" || got.ChildText(xmlstream.NSClient, "body") != "hi bob" {
		t.Fatalf("bob got %s", got)
	}
	// Ping the server.
	if err := alice.Send(xmlstream.New(xmlstream.NSClient, "iq").SetAttr("type", "get").SetAttr("id", "p1").SetAttr("to", "example.org").
		Append(xmlstream.New("urn:xmpp:ping", "ping"))); err != nil {
		t.Fatal(err)
	}
	_ = alice.SetDeadline(time.Now().Add(5 * time.Second))
	if pong := recvKind(t, alice, "iq"); pong.Get("type") != "result" || pong.Get("id") != "p1" {
		t.Fatalf("ping answer %v", pong)
	}
	// A new password works, the old one not; the session logged in with
	// the old one ends.
	if err := adm.SetPassword(ctx, "alice", "new-secret"); err != nil {
		t.Fatal(err)
	}
	streamEnds(t, alice, "alice's session after the password change", stream.Reset)
	if _, err := r.login(t, "alice@example.org/x", "alice-secret"); !errors.Is(err, client.ErrAuth) {
		t.Errorf("old password: %v, want refused", err)
	}
	if c, err := r.login(t, "alice@example.org/x", "new-secret"); err != nil {
		t.Errorf("new password: %v", err)
	} else {
		_ = c.Close()
	}
	// Deleting bob ends his session.
	if err := adm.DeleteUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	streamEnds(t, bob, "deleted user's stream", stream.NotAuthorized)
}

// streamEnds reads c until its stream ends with a stream error, which
// must be want.
func streamEnds(t *testing.T, c *client.Conn, what string, want stream.Condition) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	for {
		_, err := c.Recv()
		var se *client.StreamError
		if errors.As(err, &se) {
			if se.Err.Condition != want {
				t.Errorf("%s ended with %s, want %s", what, se.Err.Condition, want)
			}
			return
		}
		if err != nil {
			t.Fatalf("%s: %v, want stream error %s", what, err, want)
		}
	}
}

// TestPasswordChangeInBand: a password changed in-band (XEP-0077 §3.3)
// ends the account's other sessions; the one that changed it goes on.
func TestPasswordChangeInBand(t *testing.T) {
	r := start(t, t.TempDir())
	ctx := context.Background()
	adm := admin.Client{Path: r.cfg.Admin.Socket}
	if err := adm.AddUser(ctx, "alice", "alice-secret"); err != nil {
		t.Fatal(err)
	}
	laptop, err := r.login(t, "alice@example.org/laptop", "alice-secret")
	if err != nil {
		t.Fatal(err)
	}
	lost, err := r.login(t, "alice@example.org/lost-phone", "alice-secret")
	if err != nil {
		t.Fatal(err)
	}
	change := xmlstream.New(xmlstream.NSClient, "iq").SetAttr("type", "set").SetAttr("id", "pw").
		Append(xmlstream.New("jabber:iq:register", "query").
			Append(xmlstream.New("jabber:iq:register", "username").AppendText("alice")).
			Append(xmlstream.New("jabber:iq:register", "password").AppendText("new-secret")))
	if err := laptop.Send(change); err != nil {
		t.Fatal(err)
	}
	_ = laptop.SetDeadline(time.Now().Add(5 * time.Second))
	if res := recvKind(t, laptop, "iq"); res.Get("type") != "result" || res.Get("id") != "pw" {
		t.Fatalf("password change answered %s", res)
	}
	streamEnds(t, lost, "the other session", stream.Reset)
	if err := laptop.Send(xmlstream.New(xmlstream.NSClient, "iq").SetAttr("type", "get").SetAttr("id", "p1").SetAttr("to", "example.org").
		Append(xmlstream.New("urn:xmpp:ping", "ping"))); err != nil {
		t.Fatal(err)
	}
	if pong := recvKind(t, laptop, "iq"); pong.Get("type") != "result" || pong.Get("id") != "p1" {
		t.Fatalf("the changing session after the change: %s", pong)
	}
}

func TestShutdownAndBackup(t *testing.T) {
	dir := t.TempDir()
	r := start(t, dir)
	ctx := context.Background()
	adm := admin.Client{Path: r.cfg.Admin.Socket}
	if err := adm.AddUser(ctx, "carol", "carol-secret"); err != nil {
		t.Fatal(err)
	}
	var backup bytes.Buffer
	if err := adm.Backup(ctx, &backup, func(int64) error { return nil }); err != nil {
		t.Fatal(err)
	}
	c, err := r.login(t, "carol@example.org/desk", "carol-secret")
	if err != nil {
		t.Fatal(err)
	}
	r.stop(t)
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	for {
		_, err := c.Recv()
		var se *client.StreamError
		if errors.As(err, &se) {
			if se.Err.Condition != stream.SystemShutdown {
				t.Errorf("stream ended with %s, want system-shutdown", se.Err.Condition)
			}
			break
		}
		if err != nil {
			t.Fatalf("reading during shutdown: %v", err)
		}
	}
	if _, err := os.Stat(r.cfg.Admin.Socket); !os.IsNotExist(err) {
		t.Errorf("admin socket left behind: %v", err)
	}
	// The backup restores into a working store.
	restored := config.Default()
	restored.DataDir = t.TempDir()
	if err := Restore(restored, &backup); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(restored.DataDir, StoreFile), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, found, err := st.Account("carol@example.org"); err != nil || !found {
		t.Errorf("restored store lacks carol: %v, %v", found, err)
	}
}

func TestSecondServerOnSameDataFails(t *testing.T) {
	dir := t.TempDir()
	start(t, dir)
	cfg := config.Default()
	cfg.Domains = []string{"example.org"}
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.Admin.Socket = filepath.Join(dir, "admin2.sock")
	cfg.C2S.Listen, cfg.C2S.ListenTLS = []string{"127.0.0.1:0"}, nil
	cfg.HTTPS.Listen = []string{"127.0.0.1:0"}
	begin := time.Now()
	_, err := New(Options{Config: cfg})
	if !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second server: %v, want the store locked", err)
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("took %v to fail", d)
	}
}

// recvKind reads until an element with the given local name arrives,
// skipping presence broadcasts.
func recvKind(t *testing.T, c *client.Conn, local string) *xmlstream.Element {
	t.Helper()
	for {
		el, err := c.Recv()
		if err != nil {
			t.Fatalf("waiting for %s: %v", local, err)
		}
		if el.Name.Local == local {
			return el
		}
	}
}
