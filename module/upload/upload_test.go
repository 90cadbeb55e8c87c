package upload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"roost/internal/xmpptest"
	"roost/stanza"
	"roost/xmlstream"
)

// fakeStore keeps records in memory, with the store's quota rules.
type fakeStore struct {
	mu    sync.Mutex
	files map[string]File
	fail  error // returned by every call when set
}

func newFakeStore() *fakeStore { return &fakeStore{files: map[string]File{}} }

func (s *fakeStore) Reserve(f File, userQuota, totalQuota int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	var used, total int64
	for _, g := range s.files {
		total += g.Size
		if g.Owner == f.Owner {
			used += g.Size
		}
	}
	switch {
	case userQuota > 0 && used+f.Size > userQuota:
		return &QuotaError{Used: used, Limit: userQuota}
	case totalQuota > 0 && total+f.Size > totalQuota:
		return &QuotaError{Total: true, Used: total, Limit: totalQuota}
	}
	if _, ok := s.files[f.ID]; ok {
		return errors.New("duplicate ID")
	}
	s.files[f.ID] = f
	return nil
}

func (s *fakeStore) File(id string) (File, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.files[id]
	return f, ok, s.fail
}

func (s *fakeStore) Exists(id string) (bool, bool, error) {
	f, ok, err := s.File(id)
	return ok, f.Complete, err
}

func (s *fakeStore) Complete(id string, expires time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.files[id]
	if !ok {
		return ErrGone
	}
	if f.Complete {
		return errors.New("complete already")
	}
	f.Complete, f.Expires = true, expires
	s.files[id] = f
	return nil
}

func (s *fakeStore) Delete(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.files, id)
	return nil
}

func (s *fakeStore) Expired(now time.Time, limit int) ([]File, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []File
	for _, id := range slices.Sorted(maps.Keys(s.files)) {
		if f := s.files[id]; !f.Expires.After(now) && len(out) < limit {
			out = append(out, f)
		}
	}
	return out, nil
}

// deleteOwner removes an owner's records, as the store does with an
// account.
func (s *fakeStore) deleteOwner(owner string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	maps.DeleteFunc(s.files, func(_ string, f File) bool { return f.Owner == owner })
}

// clock is a settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testFS is the disk with knobs: a free space, and a write budget after
// which writes fail with ENOSPC (a full disk).
type testFS struct {
	diskFS
	mu     sync.Mutex
	free   int64
	budget int64 // bytes left before ENOSPC; <0: unlimited
}

func (f *testFS) Free() (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.free, nil
}

func (f *testFS) Create(name string) (body, error) {
	b, err := f.diskFS.Create(name)
	if err != nil {
		return nil, err
	}
	return &budgetBody{body: b, fs: f}, nil
}

type budgetBody struct {
	body
	fs *testFS
}

func (b *budgetBody) Write(p []byte) (int, error) {
	b.fs.mu.Lock()
	budget := b.fs.budget
	if budget >= 0 && int64(len(p)) > budget {
		b.fs.budget = 0
		b.fs.mu.Unlock()
		n, _ := b.body.Write(p[:budget])
		return n, &fs.PathError{Op: "write", Path: "body", Err: syscall.ENOSPC}
	}
	if budget >= 0 {
		b.fs.budget -= int64(len(p))
	}
	b.fs.mu.Unlock()
	return b.body.Write(p)
}

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// env is a module under test with its fakes.
type env struct {
	m     *Module
	store *fakeStore
	clock *clock
	fs    *testFS
	dir   string
}

func newEnv(t testing.TB, edit func(*Options)) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{store: newFakeStore(), clock: &clock{t: t0}, dir: dir,
		fs: &testFS{diskFS: diskFS{dir}, free: 1 << 40, budget: -1}}
	o := Options{
		Domains:     []string{"example.org", "example.net"},
		BaseURL:     map[string]string{"example.org": "https://upload.example.org:5443", "example.net": "https://files.example.net/x/"},
		Store:       e.store,
		Dir:         dir,
		Secret:      bytes.Repeat([]byte{7}, 32),
		MaxFileSize: 1 << 20,
		KeepFree:    1 << 30,
		Now:         e.clock.Now,
		fs:          e.fs,
	}
	if edit != nil {
		edit(&o)
	}
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	e.m = m
	return e
}

// request sends a slot request from "from" and returns the reply or the
// error.
func (e *env) request(t testing.TB, from, to, attrs string) (*xmlstream.Element, error) {
	t.Helper()
	st := xmpptest.Stanza(t, fmt.Sprintf(`<iq type='get' id='r1' from='%s' to='%s'><request xmlns='%s' %s/></iq>`, from, to, NS, attrs))
	return e.m.HandleStanza(context.Background(), st)
}

// slot requests a slot for alice and returns the PUT URL, its
// Authorization header and the GET URL.
func (e *env) slot(t testing.TB, name string, size int, typ string) (put, auth, get string) {
	t.Helper()
	attrs := fmt.Sprintf(`filename='%s' size='%d'`, name, size)
	if typ != "" {
		attrs += fmt.Sprintf(` content-type='%s'`, typ)
	}
	reply, err := e.request(t, "alice@example.org/phone", "upload.example.org", attrs)
	if err != nil {
		t.Fatalf("slot request: %v", err)
	}
	s := reply.FirstChild()
	p, g := s.Child(NS, "put"), s.Child(NS, "get")
	if p == nil || g == nil {
		t.Fatalf("no put or get in %s", xmlstream.AppendElement(nil, reply, xmlstream.NSClient))
	}
	h := p.Child(NS, "header")
	if h == nil || h.Get("name") != "Authorization" {
		t.Fatalf("no Authorization header in %s", xmlstream.AppendElement(nil, reply, xmlstream.NSClient))
	}
	return p.Get("url"), h.Text(), g.Get("url")
}

func TestSlotRequest(t *testing.T) {
	tests := []struct {
		name      string
		from, to  string
		attrs     string
		setup     func(*env)
		wantURL   string // prefix of the GET URL
		wantName  string // the URL's last segment
		wantCond  stanza.Condition
		wantText  string // part of the error text
		wantLimit string // the file-too-large limit
	}{
		{name: "slot", from: "alice@example.org/phone", to: "upload.example.org",
			attrs:   `filename='baby photo.jpg' size='2048' content-type='image/jpeg'`,
			wantURL: "https://upload.example.org:5443/upload/", wantName: "baby%20photo.jpg"},
		{name: "other domain's service, its own base", from: "alice@example.org/phone", to: "upload.example.net",
			attrs:   `filename='é.txt' size='0'`,
			wantURL: "https://files.example.net/x/upload/", wantName: "%C3%A9.txt"},
		{name: "exactly the limit", from: "alice@example.org/phone", to: "upload.example.org",
			attrs: `filename='a' size='1048576'`, wantURL: "https://upload.example.org:5443/upload/", wantName: "a"},
		{name: "too large", from: "alice@example.org/phone", to: "upload.example.org",
			attrs:    `filename='a' size='1048577'`,
			wantCond: stanza.NotAcceptable, wantText: "maximum file size is 1048576 bytes (1 MiB)", wantLimit: "1048576"},
		{name: "remote user", from: "mallory@evil.example/x", to: "upload.example.org",
			attrs: `filename='a' size='1'`, wantCond: stanza.NotAllowed, wantText: "only accounts of this server"},
		{name: "the server itself", from: "example.org", to: "upload.example.org",
			attrs: `filename='a' size='1'`, wantCond: stanza.NotAllowed},
		{name: "no filename", from: "alice@example.org/phone", to: "upload.example.org",
			attrs: `size='1'`, wantCond: stanza.BadRequest, wantText: "needs a filename"},
		{name: "slash in filename", from: "alice@example.org/phone", to: "upload.example.org",
			attrs: `filename='../../etc/passwd' size='1'`, wantCond: stanza.BadRequest, wantText: "slashes"},
		{name: "dot dot", from: "alice@example.org/phone", to: "upload.example.org",
			attrs: `filename='..' size='1'`, wantCond: stanza.BadRequest},
		{name: "negative size", from: "alice@example.org/phone", to: "upload.example.org",
			attrs: `filename='a' size='-1'`, wantCond: stanza.BadRequest, wantText: "whole number"},
		{name: "huge size", from: "alice@example.org/phone", to: "upload.example.org",
			attrs: `filename='a' size='99999999999999999999'`, wantCond: stanza.BadRequest, wantText: "too large"},
		{name: "bad type", from: "alice@example.org/phone", to: "upload.example.org",
			attrs: `filename='a' size='1' content-type='jpeg'`, wantCond: stanza.BadRequest, wantText: "media type"},
		{name: "user quota", from: "alice@example.org/phone", to: "upload.example.org",
			attrs: `filename='a' size='600'`,
			setup: func(e *env) {
				e.m.userQuota = 1000
				e.store.files["x"] = File{ID: "x", Owner: "alice@example.org", Size: 500}
			},
			wantCond: stanza.ResourceConstraint, wantText: "Your files take 500 bytes of your 1000 bytes"},
		{name: "total quota", from: "alice@example.org/phone", to: "upload.example.org",
			attrs: `filename='a' size='600'`,
			setup: func(e *env) {
				e.m.totalQuota = 1000
				e.store.files["x"] = File{ID: "x", Owner: "bob@example.org", Size: 500}
			},
			wantCond: stanza.ResourceConstraint, wantText: "space for files is full"},
		{name: "disk nearly full", from: "alice@example.org/phone", to: "upload.example.org",
			attrs:    `filename='a' size='600'`,
			setup:    func(e *env) { e.fs.free = 1<<30 + 599 },
			wantCond: stanza.ResourceConstraint, wantText: "disk is nearly full"},
		{name: "unknown service", from: "alice@example.org/phone", to: "upload.example.com",
			attrs: `filename='a' size='1'`, wantCond: stanza.ServiceUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			if tc.setup != nil {
				tc.setup(e)
			}
			reply, err := e.request(t, tc.from, tc.to, tc.attrs)
			if tc.wantCond != "" {
				var se *stanza.Error
				if !errors.As(err, &se) || se.Condition != tc.wantCond || !strings.Contains(se.Text, tc.wantText) {
					t.Fatalf("error = %v, want %s containing %q", err, tc.wantCond, tc.wantText)
				}
				if tc.wantLimit != "" {
					if got := se.App.ChildText(NS, "max-file-size"); !se.App.Is(NS, "file-too-large") || got != tc.wantLimit {
						t.Errorf("app condition %v, max-file-size %q; want file-too-large with %s", se.App.Name, got, tc.wantLimit)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("error = %v", err)
			}
			s := reply.FirstChild()
			put, get := s.Child(NS, "put").Get("url"), s.Child(NS, "get").Get("url")
			if put != get || !strings.HasPrefix(get, tc.wantURL) {
				t.Fatalf("put %q get %q, want the same URL starting %q", put, get, tc.wantURL)
			}
			rest := strings.TrimPrefix(get, tc.wantURL)
			id, name, _ := strings.Cut(rest, "/")
			if !ValidID(id) || name != tc.wantName {
				t.Errorf("URL ends %q: ID %q valid %t, name %q; want %q", rest, id, ValidID(id), name, tc.wantName)
			}
			f, found, _ := e.store.File(id)
			if !found || f.Complete || f.Owner != "alice@example.org" || !f.Expires.Equal(t0.Add(DefaultSlotTimeout)) {
				t.Errorf("record %+v (found %t), want alice's pending slot until %v", f, found, t0.Add(DefaultSlotTimeout))
			}
			auth := s.Child(NS, "put").Child(NS, "header").Text()
			tok, ok := strings.CutPrefix(auth, "Bearer ")
			if !ok || verifyToken(e.m.secret, tok, f, t0) != tokenValid {
				t.Errorf("Authorization %q does not verify for the slot", auth)
			}
		})
	}
}

func TestServiceStanzas(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct {
		name, in string
		want     string // the reply, or "" for none
		cond     stanza.Condition
	}{
		{"disco items", `<iq type='get' id='i' from='alice@example.org/a' to='upload.example.org'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`,
			`<query xmlns="http://jabber.org/protocol/disco#items"/>`, ""},
		{"other get", `<iq type='get' id='i' from='alice@example.org/a' to='upload.example.org'><ping xmlns='urn:xmpp:ping'/></iq>`, "", stanza.ServiceUnavailable},
		{"request as set", `<iq type='set' id='i' from='alice@example.org/a' to='upload.example.org'><request xmlns='urn:xmpp:http:upload:0' filename='a' size='1'/></iq>`, "", stanza.ServiceUnavailable},
		{"to a JID at the service", `<iq type='get' id='i' from='alice@example.org/a' to='x@upload.example.org'><request xmlns='urn:xmpp:http:upload:0' filename='a' size='1'/></iq>`, "", stanza.ServiceUnavailable},
		{"message", `<message from='alice@example.org/a' to='upload.example.org'><body>hi</body></message>`, "", ""},
		{"result", `<iq type='result' id='i' from='alice@example.org/a' to='upload.example.org'/>`, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reply, err := e.m.HandleStanza(context.Background(), xmpptest.Stanza(t, tc.in))
			var se *stanza.Error
			switch {
			case tc.cond != "":
				if !errors.As(err, &se) || se.Condition != tc.cond {
					t.Errorf("error = %v, want %s", err, tc.cond)
				}
			case err != nil:
				t.Errorf("error = %v", err)
			case tc.want == "" && reply != nil:
				t.Errorf("reply %s, want none", xmlstream.AppendElement(nil, reply, xmlstream.NSClient))
			case tc.want != "":
				if got := string(xmlstream.AppendElement(nil, reply.FirstChild(), xmlstream.NSClient)); got != tc.want {
					t.Errorf("reply payload %s, want %s", got, tc.want)
				}
			}
		})
	}
}

func TestNewRefuses(t *testing.T) {
	for name, o := range map[string]Options{
		"short secret": {Secret: []byte("short")},
		"no base URL":  {Secret: bytes.Repeat([]byte{1}, 32), Domains: []string{"example.org"}, fs: diskFS{"."}},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 bytes", 1023: "1023 bytes", 1024: "1 KiB", 1536: "1.5 KiB",
		100 << 20: "100 MiB", 5 << 30: "5 GiB", 5<<30 - 1<<20: "5 GiB", 4900 << 20: "4.8 GiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// FuzzParseRequest: any attributes give a request that the checks accept,
// or a bad-request error; never a panic.
func FuzzParseRequest(f *testing.F) {
	f.Add("photo.jpg", "12345", "image/jpeg")
	f.Add("", "1", "")
	f.Add("a/b", "-1", "text/plain; charset=utf-8")
	f.Add("..", "99999999999999999999", "x")
	f.Add("é\x01", "0", "IMAGE/JPEG; Q=1")
	f.Fuzz(func(t *testing.T, name, size, typ string) {
		el := xmlstream.New(NS, "request").SetAttr("filename", name).SetAttr("size", size).SetAttr("content-type", typ)
		r, err := parseRequest(el)
		if err != nil {
			var se *stanza.Error
			if !errors.As(err, &se) || se.Condition != stanza.BadRequest {
				t.Fatalf("parseRequest error %v, want bad-request", err)
			}
			return
		}
		if r.name != name || r.size < 0 || strings.ContainsAny(r.name, "/\\") {
			t.Fatalf("parseRequest(%q, %q) = %+v", name, size, r)
		}
		if r.typ != "" {
			again, err := checkType(r.typ)
			if err != nil || again != r.typ {
				t.Fatalf("normalised type %q re-checks as %q, %v", r.typ, again, err)
			}
		}
		if id, ok := splitPath(strings.TrimPrefix(link("https://h", strings.Repeat("A", idLen), r.name), "https://h")); !ok || id != strings.Repeat("A", idLen) {
			t.Fatalf("the link of a valid name %q does not parse back: %q, %t", name, id, ok)
		}
	})
}

// reserveOnly is a store that takes every reservation and keeps none, so
// that a benchmark measures the module, not a growing fake.
type reserveOnly struct{ *fakeStore }

func (reserveOnly) Reserve(File, int64, int64) error { return nil }

func BenchmarkSlotRequest(b *testing.B) {
	e := newEnv(b, nil)
	e.m.store = reserveOnly{e.store}
	st := xmpptest.Stanza(b, `<iq type='get' id='r' from='alice@example.org/a' to='upload.example.org'><request xmlns='urn:xmpp:http:upload:0' filename='photo.jpg' size='2048' content-type='image/jpeg'/></iq>`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.m.HandleStanza(context.Background(), st); err != nil {
			b.Fatal(err)
		}
	}
}

var _ io.Writer = (*budgetBody)(nil)
