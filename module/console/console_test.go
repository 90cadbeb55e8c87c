package console

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"roost/jid"
)

// fakeAccounts is an in-memory account manager.
type fakeAccounts struct {
	mu     sync.Mutex
	pw     map[string]string
	admins map[string]bool
}

func (f *fakeAccounts) Users(context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for u := range f.pw {
		out = append(out, u)
	}
	slices.Sort(out)
	return out, nil
}

func (f *fakeAccounts) AddUser(_ context.Context, user, password string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.pw[user]; ok {
		return errors.New("this name is taken")
	}
	f.pw[user] = password
	return nil
}

func (f *fakeAccounts) DeleteUser(_ context.Context, user string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.pw, user)
	delete(f.admins, user)
	return nil
}

func (f *fakeAccounts) SetPassword(_ context.Context, user, password string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pw[user] = password
	return nil
}

func (f *fakeAccounts) SetAdmin(_ context.Context, user string, admin bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.admins[user] = admin
	return nil
}

func (f *fakeAccounts) IsAdmin(_ context.Context, user string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.admins[user], nil
}

func (f *fakeAccounts) CheckPassword(_ context.Context, user, password string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	pw, ok := f.pw[user]
	return ok && pw == password, nil
}

type fakeSessions struct {
	mu     sync.Mutex
	list   []Session
	closed []jid.JID
}

func (f *fakeSessions) Sessions() []Session {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.list)
}

func (f *fakeSessions) Disconnect(full jid.JID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, s := range f.list {
		if s.JID.Equal(full) {
			f.list = slices.Delete(f.list, i, i+1)
			f.closed = append(f.closed, full)
			return true
		}
	}
	return false
}

type fakeRooms struct {
	rooms     []Room
	destroyed []string
}

func (f *fakeRooms) Rooms(context.Context) ([]Room, error) { return f.rooms, nil }

func (f *fakeRooms) Destroy(_ context.Context, room jid.JID, _ string) error {
	f.destroyed = append(f.destroyed, room.String())
	return nil
}

type fixture struct {
	srv      *httptest.Server
	accounts *fakeAccounts
	sessions *fakeSessions
	rooms    *fakeRooms
}

func newFixture(t *testing.T, change ...func(*Options)) *fixture {
	t.Helper()
	f := &fixture{
		accounts: &fakeAccounts{
			pw:     map[string]string{"mum@home.test": "mum-secret", "kid@home.test": "kid-secret"},
			admins: map[string]bool{"mum@home.test": true},
		},
		sessions: &fakeSessions{list: []Session{{
			JID:    jid.MustParse("kid@home.test/<script>alert(1)</script>"),
			Since:  time.Now().Add(-time.Hour),
			Client: "<b>evil app</b>",
			IP:     "192.0.2.7",
			Online: true,
		}}},
		rooms: &fakeRooms{rooms: []Room{{JID: jid.MustParse("family@conference.home.test"), Name: "Family <3", Occupants: []string{"mum", "kid"}}}},
	}
	opts := Options{
		Accounts: f.accounts, Sessions: f.sessions, Rooms: f.rooms,
		Status:           func(context.Context) Status { return Status{Version: "test", Domains: []string{"home.test"}} },
		Domains:          []string{"home.test"},
		MaxLoginFailures: 3,
	}
	for _, c := range change {
		c(&opts)
	}
	m := New(opts)
	f.srv = httptest.NewTLSServer(m)
	t.Cleanup(f.srv.Close)
	return f
}

// client returns a browser-like client: cookies kept, redirects not
// followed (the tests look at them).
func (f *fixture) client(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := f.srv.Client()
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

func post(t *testing.T, c *http.Client, u string, form url.Values, header ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// login logs in and returns the CSRF token of the session.
func (f *fixture) login(t *testing.T, c *http.Client, user, password string) string {
	t.Helper()
	resp := post(t, c, f.srv.URL+"/admin/login", url.Values{"username": {user}, "password": {password}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/" {
		t.Fatalf("login of %s: status %d, location %q; want 303 to /admin/", user, resp.StatusCode, resp.Header.Get("Location"))
	}
	code, body := get(t, c, f.srv.URL+"/admin/")
	m := csrfRE.FindStringSubmatch(body)
	if code != http.StatusOK || m == nil {
		t.Fatalf("overview after login: status %d, csrf token found %v", code, m != nil)
	}
	return m[1]
}

func TestLogin(t *testing.T) {
	tests := []struct {
		name, user, password string
		want                 int
	}{
		{"admin with bare name", "mum", "mum-secret", http.StatusSeeOther},
		{"admin with address", "mum@home.test", "mum-secret", http.StatusSeeOther},
		{"wrong password", "mum", "nope", http.StatusUnauthorized},
		{"not an admin", "kid", "kid-secret", http.StatusUnauthorized},
		{"no such account", "ghost", "x", http.StatusUnauthorized},
		{"other domain", "mum@elsewhere.test", "mum-secret", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			c := f.client(t)
			resp := post(t, c, f.srv.URL+"/admin/login", url.Values{"username": {tt.user}, "password": {tt.password}})
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
			var cookie *http.Cookie
			for _, ck := range resp.Cookies() {
				if ck.Name == cookieName {
					cookie = ck
				}
			}
			if (cookie != nil) != (tt.want == http.StatusSeeOther) {
				t.Fatalf("session cookie set: %v, want %v", cookie != nil, tt.want == http.StatusSeeOther)
			}
			if cookie != nil && (!cookie.Secure || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/") {
				t.Errorf("cookie %+v: want Secure, HttpOnly, SameSite=Strict, Path=/", cookie)
			}
		})
	}
}

func TestLoginFailuresWait(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	for i := range 3 {
		resp := post(t, c, f.srv.URL+"/admin/login", url.Values{"username": {"mum"}, "password": {"wrong"}})
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d: status %d, want 401", i, resp.StatusCode)
		}
	}
	// Even the right password waits now.
	resp := post(t, c, f.srv.URL+"/admin/login", url.Values{"username": {"mum"}, "password": {"mum-secret"}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("after 3 failures: status %d, want 429", resp.StatusCode)
	}
}

// fakeBackoff holds every attempt back by delay and records what it
// was told.
type fakeBackoff struct {
	delay time.Duration
	mu    sync.Mutex
	calls []string
}

func (b *fakeBackoff) note(what, account, addr string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls = append(b.calls, what+" "+account+" "+addr)
}

func (b *fakeBackoff) Delay(account, addr string) time.Duration {
	b.note("delay", account, addr)
	return b.delay
}
func (b *fakeBackoff) Failed(account, addr string)    { b.note("failed", account, addr) }
func (b *fakeBackoff) Succeeded(account, addr string) { b.note("succeeded", account, addr) }

// TestLoginBackoff: every password check of the console waits what the
// shared login backoff says, the right password as long as a wrong one,
// and tells it the outcome; attempts without a known account name are
// not counted against anyone.
func TestLoginBackoff(t *testing.T) {
	b := &fakeBackoff{delay: 150 * time.Millisecond}
	f := newFixture(t, func(o *Options) { o.Backoff = b; o.MaxLoginFailures = 100 })
	c := f.client(t)
	tests := []struct {
		user, password string
		want           int
		calls          []string
	}{
		{"mum", "wrong", http.StatusUnauthorized, []string{"delay mum@home.test 127.0.0.1", "failed mum@home.test 127.0.0.1"}},
		{"mum", "mum-secret", http.StatusSeeOther, []string{"delay mum@home.test 127.0.0.1", "succeeded mum@home.test 127.0.0.1"}},
		{"kid", "kid-secret", http.StatusUnauthorized, []string{"delay kid@home.test 127.0.0.1", "succeeded kid@home.test 127.0.0.1"}},
		{"someone@elsewhere.test", "x", http.StatusUnauthorized, nil},
	}
	for _, tc := range tests {
		b.calls = nil
		start := time.Now()
		resp := post(t, c, f.srv.URL+"/admin/login", url.Values{"username": {tc.user}, "password": {tc.password}})
		resp.Body.Close()
		took := time.Since(start)
		if resp.StatusCode != tc.want {
			t.Errorf("%s/%s: status %d, want %d", tc.user, tc.password, resp.StatusCode, tc.want)
		}
		if !slices.Equal(b.calls, tc.calls) {
			t.Errorf("%s/%s: backoff told %q, want %q", tc.user, tc.password, b.calls, tc.calls)
		}
		if tc.calls != nil && took < b.delay {
			t.Errorf("%s/%s: answered after %v, before the delay of %v", tc.user, tc.password, took, b.delay)
		}
	}
}

func TestPagesNeedLogin(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	for _, p := range []string{"/admin/", "/admin/accounts", "/admin/online", "/admin/invites", "/admin/rooms"} {
		resp, err := c.Get(f.srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/login" {
			t.Errorf("GET %s: %d to %q, want 303 to /admin/login", p, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	resp := post(t, c, f.srv.URL+"/admin/accounts", url.Values{"action": {"delete"}, "user": {"kid"}, "confirm": {"kid@home.test"}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST without login: %d, want 403", resp.StatusCode)
	}
	if _, ok := f.accounts.pw["kid@home.test"]; !ok {
		t.Error("an account was deleted without login")
	}
}

func TestCSRF(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	token := f.login(t, c, "mum", "mum-secret")
	form := func(csrf string) url.Values {
		return url.Values{"csrf": {csrf}, "action": {"password"}, "user": {"kid"}, "password": {"changed-pw"}}
	}
	tests := []struct {
		name   string
		form   url.Values
		header []string
		want   int
	}{
		{"no token", form(""), nil, http.StatusForbidden},
		{"forged token", form("AAAA" + token[4:]), nil, http.StatusForbidden},
		{"right token, cross-site fetch", form(token), []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"right token, other origin", form(token), []string{"Origin", "https://evil.example"}, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := post(t, c, f.srv.URL+"/admin/accounts", tt.form, tt.header...)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
			if f.accounts.pw["kid@home.test"] != "kid-secret" {
				t.Fatal("the password changed through a refused form")
			}
		})
	}
	resp := post(t, c, f.srv.URL+"/admin/accounts", form(token), "Sec-Fetch-Site", "same-origin")
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("with the token: status %d, want 303", resp.StatusCode)
	}
	if got := f.accounts.pw["kid@home.test"]; got != "changed-pw" {
		t.Fatalf("password after reset: %q, want changed-pw", got)
	}
}

func TestAccountActions(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	token := f.login(t, c, "mum", "mum-secret")
	tests := []struct {
		name  string
		form  url.Values
		flash string
		check func() bool
	}{
		{"add", url.Values{"action": {"add"}, "user": {"gran"}, "password": {"gran-pw"}},
			"Account gran@home.test made", func() bool { return f.accounts.pw["gran@home.test"] == "gran-pw" }},
		{"make admin", url.Values{"action": {"admin"}, "user": {"gran"}},
			"gran@home.test is now an admin", func() bool { return f.accounts.admins["gran@home.test"] }},
		{"not oneself", url.Values{"action": {"unadmin"}, "user": {"mum"}},
			"You cannot change your own role", func() bool { return f.accounts.admins["mum@home.test"] }},
		{"delete unconfirmed", url.Values{"action": {"delete"}, "user": {"gran"}, "confirm": {"gran"}},
			"Not deleted", func() bool { _, ok := f.accounts.pw["gran@home.test"]; return ok }},
		{"delete", url.Values{"action": {"delete"}, "user": {"gran"}, "confirm": {"gran@home.test"}},
			"Account gran@home.test deleted", func() bool { _, ok := f.accounts.pw["gran@home.test"]; return !ok }},
		{"bad name", url.Values{"action": {"add"}, "user": {"a b@c@d"}, "password": {"x"}},
			"That is not a user name", func() bool { return len(f.accounts.pw) == 2 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.form.Set("csrf", token)
			resp := post(t, c, f.srv.URL+"/admin/accounts", tt.form)
			resp.Body.Close()
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("status %d, want 303", resp.StatusCode)
			}
			if !tt.check() {
				t.Error("the action did not have its effect")
			}
			_, body := get(t, c, f.srv.URL+"/admin/accounts")
			if !strings.Contains(body, tt.flash) {
				t.Errorf("page after the action lacks %q", tt.flash)
			}
		})
	}
}

func TestOnlineEscapesAndDisconnects(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	token := f.login(t, c, "mum", "mum-secret")
	code, body := get(t, c, f.srv.URL+"/admin/online")
	if code != http.StatusOK {
		t.Fatalf("online page: %d", code)
	}
	for _, raw := range []string{"<script>", "<b>evil app</b>"} {
		if strings.Contains(body, raw) {
			t.Errorf("online page contains unescaped %q", raw)
		}
	}
	for _, esc := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;b&gt;evil app&lt;/b&gt;", "192.0.2.7"} {
		if !strings.Contains(body, esc) {
			t.Errorf("online page lacks %q", esc)
		}
	}
	full := "kid@home.test/<script>alert(1)</script>"
	resp := post(t, c, f.srv.URL+"/admin/online", url.Values{"csrf": {token}, "jid": {full}})
	resp.Body.Close()
	if len(f.sessions.closed) != 1 || f.sessions.closed[0].String() != full {
		t.Fatalf("closed sessions %v, want [%s]", f.sessions.closed, full)
	}
	if _, body = get(t, c, f.srv.URL+"/admin/online"); !strings.Contains(body, "Nobody is connected") {
		t.Error("online page still lists the disconnected session")
	}
}

func TestRooms(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	token := f.login(t, c, "mum", "mum-secret")
	_, body := get(t, c, f.srv.URL+"/admin/rooms")
	if !strings.Contains(body, "family@conference.home.test") || !strings.Contains(body, "Family &lt;3") {
		t.Errorf("rooms page lacks the room or its escaped name:\n%s", body)
	}
	resp := post(t, c, f.srv.URL+"/admin/rooms", url.Values{"csrf": {token}, "action": {"destroy"}, "room": {"family@conference.home.test"}})
	resp.Body.Close()
	if want := []string{"family@conference.home.test"}; !slices.Equal(f.rooms.destroyed, want) {
		t.Fatalf("destroyed %v, want %v", f.rooms.destroyed, want)
	}
}

func TestLostAdminRoleLogsOut(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	f.login(t, c, "mum", "mum-secret")
	f.accounts.SetAdmin(context.Background(), "mum@home.test", false)
	resp, err := c.Get(f.srv.URL + "/admin/accounts")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/login" {
		t.Fatalf("after losing the role: %d to %q, want 303 to /admin/login", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestSecurityHeaders(t *testing.T) {
	f := newFixture(t)
	resp, err := f.srv.Client().Get(f.srv.URL + "/admin/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for h, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy %q lacks default-src 'none' or frame-ancestors 'none'", csp)
	}
}

func TestAgoAndSize(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{{10 * time.Second, "just now"}, {5 * time.Minute, "5 min"}, {3*time.Hour + 4*time.Minute, "3 h 4 min"}, {72 * time.Hour, "3 days"}} {
		if got := ago(tt.d); got != tt.want {
			t.Errorf("ago(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
	for _, tt := range []struct {
		n    int64
		want string
	}{{512, "512 bytes"}, {1536, "1.5 KiB"}, {3 << 20, "3.0 MiB"}} {
		if got := size(tt.n); got != tt.want {
			t.Errorf("size(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

// TestTemplatesParse: the pages are parsed on the first request, not by
// New, so a broken template must fail here; every page render names is
// defined.
func TestTemplatesParse(t *testing.T) {
	m := New(Options{Domains: []string{"home.test"}})
	tmpl, err := m.parseTemplates()
	if err != nil {
		t.Fatalf("parseTemplates: %v", err)
	}
	for _, name := range []string{"head", "foot", "csrf", "login", "overview", "accounts", "invites", "online", "rooms"} {
		if tmpl.Lookup(name) == nil {
			t.Errorf("template %q is not defined", name)
		}
	}
}
