package admin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type fakeBackend struct {
	mu      sync.Mutex
	users   map[string]string
	data    []byte
	certs   []CertStatus
	certErr error
	rooms   []RoomStatus
	invites []InviteInfo
	admins  []string
}

func (f *fakeBackend) Rooms(context.Context) ([]RoomStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.rooms), nil
}

func (f *fakeBackend) RoomInfo(_ context.Context, room string) (RoomStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.rooms {
		if r.JID == room {
			return r, nil
		}
	}
	return RoomStatus{}, errors.New("no such room")
}

func (f *fakeBackend) CreateRoom(_ context.Context, room, owner, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rooms = append(f.rooms, RoomStatus{JID: room, Name: name, Affiliations: []RoomAffiliation{{JID: owner, Affiliation: "owner"}}})
	return nil
}

func (f *fakeBackend) DestroyRoom(_ context.Context, room, reason string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.rooms)
	f.rooms = slices.DeleteFunc(f.rooms, func(r RoomStatus) bool { return r.JID == room && reason != "" })
	if len(f.rooms) == n {
		return errors.New("no such room")
	}
	return nil
}

func (f *fakeBackend) CreateInvite(_ context.Context, p InviteParams) (InviteLink, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p.Uses > 100 {
		return InviteLink{}, errors.New("too many uses")
	}
	id := fmt.Sprintf("id%d", len(f.invites))
	f.invites = append(f.invites, InviteInfo{ID: id, MaxUses: p.Uses, Inviter: p.Inviter, Admin: p.Admin, Expires: time.Unix(0, 0).Add(p.Expires).UTC()})
	return InviteLink{ID: id, URL: "https://example.org/invite/t", Uses: p.Uses, Expires: time.Unix(0, 0).Add(p.Expires).UTC()}, nil
}

func (f *fakeBackend) ListInvites(context.Context) ([]InviteInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.invites), nil
}

func (f *fakeBackend) RevokeInvite(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.invites, func(in InviteInfo) bool { return in.ID == id })
	if i < 0 {
		return fmt.Errorf("no such invitation: %q", id)
	}
	f.invites = slices.Delete(f.invites, i, i+1)
	return nil
}

func (f *fakeBackend) SetAdmin(_ context.Context, user string, admin bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.admins = slices.DeleteFunc(f.admins, func(u string) bool { return u == user })
	if admin {
		f.admins = append(f.admins, user)
	}
	return nil
}

func (f *fakeBackend) Admins(context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.admins), nil
}

func (f *fakeBackend) AddUser(_ context.Context, u, p string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.users[u]; ok {
		return fmt.Errorf("user already exists: %s", u)
	}
	f.users[u] = p
	return nil
}

func (f *fakeBackend) DeleteUser(_ context.Context, u string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.users[u]; !ok {
		return errors.New("no such user")
	}
	delete(f.users, u)
	return nil
}

func (f *fakeBackend) SetPassword(_ context.Context, u, p string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users[u] = p
	return nil
}

func (f *fakeBackend) Users(context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for u := range f.users {
		out = append(out, u)
	}
	slices.Sort(out)
	return out, nil
}

func (f *fakeBackend) Status(context.Context) (map[string]string, error) {
	return map[string]string{"sessions": "3"}, nil
}

func (f *fakeBackend) Backup(_ context.Context, w io.Writer, size func(int64) error) error {
	if err := size(int64(len(f.data))); err != nil {
		return err
	}
	_, err := w.Write(f.data)
	return err
}

func (f *fakeBackend) CertStatus(context.Context) ([]CertStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.certs, f.certErr
}

var testFeatures = Features{
	Domain:            "example.org",
	Stream:            []string{"{urn:xmpp:sm:3}sm"},
	Server:            []string{"urn:xmpp:carbons:2"},
	Account:           []string{"urn:xmpp:mam:2"},
	AccountIdentities: []string{"account/registered"},
	Services:          []Service{{Domain: "upload.example.org", Identities: []string{"store/file"}, Features: []string{"urn:xmpp:http:upload:0"}}},
}

func (f *fakeBackend) Features(context.Context) (Features, error) { return testFeatures, nil }

func serve(t *testing.T, b Backend) (Client, string) {
	t.Helper()
	return serveOn(t, b, func(ln net.Listener) net.Listener { return ln })
}

// serveOn serves b on the listener wrap makes of the admin socket's; the
// test fails unless Serve runs until the test ends, and then returns nil.
func serveOn(t *testing.T, b Backend, wrap func(net.Listener) net.Listener) (Client, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "admin.sock")
	ln, err := Listen(path, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, wrap(ln), b, slog.New(slog.DiscardHandler)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return Client{Path: path}, path
}

func TestRoundTrip(t *testing.T) {
	b := &fakeBackend{users: map[string]string{}, data: bytes.Repeat([]byte("bbolt!"), 100000)}
	c, path := serve(t, b)
	ctx := context.Background()

	if !c.Running() {
		t.Fatal("Running() = false with a server listening")
	}
	if err := c.AddUser(ctx, "alice@example.org", "s3cret!"); err != nil {
		t.Fatal(err)
	}
	if got := b.users["alice@example.org"]; got != "s3cret!" {
		t.Errorf("password reached the backend as %q", got)
	}
	err := c.AddUser(ctx, "alice@example.org", "again!")
	if !errors.Is(err, ErrRemote) || !bytes.Contains([]byte(err.Error()), []byte("already exists")) {
		t.Errorf("duplicate add: %v, want the server's error", err)
	}
	if err := c.SetPassword(ctx, "alice@example.org", "n3w!"); err != nil || b.users["alice@example.org"] != "n3w!" {
		t.Errorf("SetPassword: %v, stored %q", err, b.users["alice@example.org"])
	}
	if err := c.AddUser(ctx, "bob@example.org", "pw1234"); err != nil {
		t.Fatal(err)
	}
	users, err := c.Users(ctx)
	if err != nil || !slices.Equal(users, []string{"alice@example.org", "bob@example.org"}) {
		t.Errorf("Users() = %v, %v", users, err)
	}
	if err := c.DeleteUser(ctx, "bob@example.org"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteUser(ctx, "bob@example.org"); !errors.Is(err, ErrRemote) {
		t.Errorf("deleting a missing user: %v", err)
	}
	link, err := c.CreateInvite(ctx, InviteParams{Inviter: "alice@example.org", Admin: true, Uses: 3, Expires: time.Hour})
	if err != nil || link.ID != "id0" || link.Uses != 3 || !link.Expires.Equal(time.Unix(3600, 0)) {
		t.Errorf("CreateInvite = %+v, %v", link, err)
	}
	if _, err := c.CreateInvite(ctx, InviteParams{Uses: 1000}); !errors.Is(err, ErrRemote) {
		t.Errorf("CreateInvite(1000 uses) = %v, want the server's error", err)
	}
	if list, err := c.ListInvites(ctx); err != nil || len(list) != 1 || list[0].Inviter != "alice@example.org" || !list[0].Admin {
		t.Errorf("ListInvites = %+v, %v", list, err)
	}
	if err := c.RevokeInvite(ctx, "id0"); err != nil {
		t.Errorf("RevokeInvite = %v", err)
	}
	if err := c.RevokeInvite(ctx, "id0"); !errors.Is(err, ErrRemote) {
		t.Errorf("RevokeInvite(gone) = %v, want the server's error", err)
	}
	if err := c.SetAdmin(ctx, "alice@example.org", true); err != nil {
		t.Fatal(err)
	}
	if admins, err := c.Admins(ctx); err != nil || !slices.Equal(admins, []string{"alice@example.org"}) {
		t.Errorf("Admins = %v, %v", admins, err)
	}
	st, err := c.Status(ctx)
	if err != nil || st["sessions"] != "3" {
		t.Errorf("Status() = %v, %v", st, err)
	}
	f, err := c.Features(ctx)
	if diff := cmp.Diff(testFeatures, f); err != nil || diff != "" {
		t.Errorf("Features() = %v (-want +got):\n%s", err, diff)
	}
	var buf bytes.Buffer
	var size int64
	if err := c.Backup(ctx, &buf, func(n int64) error { size = n; return nil }); err != nil {
		t.Fatal(err)
	}
	if size != int64(len(b.data)) || !bytes.Equal(buf.Bytes(), b.data) {
		t.Errorf("backup: size %d, %d bytes, equal=%v", size, buf.Len(), bytes.Equal(buf.Bytes(), b.data))
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
}

func TestCertStatus(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	full := CertStatus{
		Name: "d.example", Source: "acme", Issuer: "Pebble Intermediate CA", NotBefore: at, NotAfter: at.Add(time.Hour),
		Fingerprint: "ab12", FingerprintSHA1: "cd34", NextAttempt: at.Add(30 * time.Minute), LastError: "connection refused",
		LastErrorAt: at.Add(time.Minute), Advice: "check the internet connection",
	}
	tests := []struct {
		name    string
		certs   []CertStatus
		err     error
		wantErr bool
	}{
		{"every field", []CertStatus{full, {Name: "upload.d.example", Source: "self-signed", Fallback: true}}, nil, false},
		{"none", nil, nil, false},
		{"backend error", nil, errors.New("certificates not set up"), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := serve(t, &fakeBackend{users: map[string]string{}, certs: tc.certs, certErr: tc.err})
			got, err := c.CertStatus(context.Background())
			if tc.wantErr {
				if !errors.Is(err, ErrRemote) {
					t.Errorf("err = %v, want ErrRemote", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.certs, got); diff != "" {
				t.Errorf("CertStatus (-want +got):\n%s", diff)
			}
		})
	}
}

func TestListen(t *testing.T) {
	_, path := serve(t, &fakeBackend{users: map[string]string{}})
	if _, err := Listen(path, ""); err == nil {
		t.Fatal("a second server could take over a live admin socket")
	}
	stale := filepath.Join(t.TempDir(), "stale.sock")
	if err := os.WriteFile(stale, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := Listen(stale, "")
	if err != nil {
		t.Fatalf("stale socket file not replaced: %v", err)
	}
	_ = ln.Close()
	if (Client{Path: filepath.Join(t.TempDir(), "none.sock")}).Running() {
		t.Error("Running() = true with nothing listening")
	}
}

func TestMalformedRequest(t *testing.T) {
	c, _ := serve(t, &fakeBackend{users: map[string]string{}})
	_, err := c.simple(context.Background(), Request{Op: "format.disk"})
	if !errors.Is(err, ErrRemote) {
		t.Fatalf("unknown op: %v, want a server error", err)
	}
}

// tempErr is what Accept returns when the process is out of file
// descriptors (EMFILE): a temporary error.
type tempErr struct{}

func (tempErr) Error() string   { return "accept: too many open files" }
func (tempErr) Temporary() bool { return true }
func (tempErr) Timeout() bool   { return false }

// emfileOnce fails its first Accept with a temporary error, then accepts.
type emfileOnce struct {
	net.Listener
	once sync.Once
}

func (l *emfileOnce) Accept() (net.Conn, error) {
	failed := false
	l.once.Do(func() { failed = true })
	if failed {
		return nil, tempErr{}
	}
	return l.Listener.Accept()
}

// TestServeSurvivesTemporaryAcceptError: running out of file descriptors
// for a moment does not end the admin server; it answers the next
// request, and ends only when told to (serveOn checks that).
func TestServeSurvivesTemporaryAcceptError(t *testing.T) {
	c, _ := serveOn(t, &fakeBackend{}, func(ln net.Listener) net.Listener { return &emfileOnce{Listener: ln} })
	type result struct {
		st  map[string]string
		err error
	}
	got := make(chan result, 1)
	go func() {
		// Client reads its answer without a deadline: a server that
		// stopped accepting leaves it waiting.
		st, err := c.Status(context.Background())
		got <- result{st, err}
	}()
	select {
	case r := <-got:
		if r.err != nil || r.st["sessions"] != "3" {
			t.Errorf("Status after a temporary Accept error = %v, %v; want the backend's status", r.st, r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no answer after a temporary Accept error: the server stopped accepting")
	}
}

func TestRooms(t *testing.T) {
	at := time.Date(2026, 12, 24, 18, 0, 0, 0, time.UTC)
	b := &fakeBackend{users: map[string]string{}, rooms: []RoomStatus{{JID: "family@conference.example.org", Name: "Family",
		Subject: "Dinner", Settings: []string{"persistent", "members-only"}, MaxUsers: 20, Created: at,
		Occupants: []string{"Mum", "Dad"}, History: 12,
		Affiliations: []RoomAffiliation{{JID: "mum@example.org", Affiliation: "owner", Nick: "Mum"}}}}}
	c, _ := serve(t, b)
	ctx := context.Background()
	if err := c.CreateRoom(ctx, "holiday@conference.example.org", "dad@example.org", "Holiday 2027"); err != nil {
		t.Fatal(err)
	}
	rooms, err := c.Rooms(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(b.rooms, rooms); diff != "" {
		t.Errorf("Rooms (-want +got):\n%s", diff)
	}
	info, err := c.RoomInfo(ctx, "family@conference.example.org")
	if err != nil || !cmp.Equal(info, b.rooms[0]) {
		t.Errorf("RoomInfo = %+v, %v", info, err)
	}
	if _, err := c.RoomInfo(ctx, "nowhere@conference.example.org"); !errors.Is(err, ErrRemote) {
		t.Errorf("RoomInfo of a missing room: %v", err)
	}
	if err := c.DestroyRoom(ctx, "holiday@conference.example.org", "over"); err != nil {
		t.Fatal(err)
	}
	if err := c.DestroyRoom(ctx, "holiday@conference.example.org", "over"); !errors.Is(err, ErrRemote) {
		t.Errorf("destroying a missing room: %v", err)
	}
}

// TestClientGivesUpOnSilentServer: a server that accepts and never answers
// makes a command fail after the client's timeout, or when its context
// ends, instead of hanging.
func TestClientGivesUpOnSilentServer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "silent.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() }) // held open, never answered
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	tests := []struct {
		name string
		c    Client
		ctx  context.Context
	}{
		{"timeout", Client{Path: path, Timeout: 100 * time.Millisecond}, context.Background()},
		{"context", Client{Path: path}, ctx},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := tc.c.Users(tc.ctx)
			if err == nil {
				t.Fatal("Users succeeded against a server that never answers")
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("gave up after %v, want about 100ms", d)
			}
			if !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("err = %v, want a deadline error", err)
			}
		})
	}
}
