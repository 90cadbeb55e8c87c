package invite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"roost/form"
	"roost/jid"
	"roost/stanza"
	"roost/xmlstream"
)

// memStore keeps invitations in memory, with store.Store's semantics.
type memStore struct {
	mu   sync.Mutex
	recs map[string]Record
}

func (s *memStore) CreateInvite(r Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.recs[string(r.Hash)]; ok {
		return errors.New("exists")
	}
	s.recs[string(r.Hash)] = r
	return nil
}

func (s *memStore) Invite(hash []byte) (Record, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.recs[string(hash)]
	return r, ok, nil
}

func (s *memStore) UpdateInvite(hash []byte, fn func(*Record) (bool, error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.recs[string(hash)]
	if !ok {
		return errors.New("not found")
	}
	keep, err := fn(&r)
	if err != nil {
		return err
	}
	if keep {
		s.recs[string(hash)] = r
	} else {
		delete(s.recs, string(hash))
	}
	return nil
}

func (s *memStore) Invites(fn func(Record) error) error {
	s.mu.Lock()
	var all []Record
	for _, r := range s.recs {
		all = append(all, r)
	}
	s.mu.Unlock()
	for _, r := range all {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

func (s *memStore) DeleteInvites(prefix []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k := range s.recs {
		if strings.HasPrefix(k, string(prefix)) {
			delete(s.recs, k)
			n++
		}
	}
	return n, nil
}

func (s *memStore) DeleteExpiredInvites(t time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, r := range s.recs {
		if r.Expires.Before(t) {
			delete(s.recs, k)
			n++
		}
	}
	return n, nil
}

type fakeAccounts struct {
	mu     sync.Mutex
	users  map[string]string
	admins map[string]bool
	log    []string
}

func (f *fakeAccounts) AddUser(_ context.Context, user, password string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(password) < 6 {
		return fmt.Errorf("%w: password too short: use at least 6 characters", ErrWeakPassword)
	}
	if _, ok := f.users[user]; ok {
		return fmt.Errorf("%w: %s", ErrExists, user)
	}
	f.users[user] = password
	f.log = append(f.log, "add "+user)
	return nil
}

func (f *fakeAccounts) DeleteUser(_ context.Context, user string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.users, user)
	f.log = append(f.log, "delete "+user)
	return nil
}

func (f *fakeAccounts) SetAdmin(_ context.Context, user string, admin bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.admins[user] = admin
	f.log = append(f.log, fmt.Sprintf("admin %s %v", user, admin))
	return nil
}

func (f *fakeAccounts) IsAdmin(_ context.Context, user string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.admins[user], nil
}

// fakeRouter records what the module sends as if accounts had sent it.
type fakeRouter struct {
	mu   sync.Mutex
	sent []string
}

func (r *fakeRouter) FromClient(_ context.Context, st *stanza.Stanza) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, fmt.Sprintf("%s %s>%s", st.Type, st.From, st.To))
}

type world struct {
	m        *Module
	st       *memStore
	accounts *fakeAccounts
	router   *fakeRouter
	now      time.Time
}

func newWorld(t *testing.T, allow string) *world {
	t.Helper()
	w := &world{
		st:       &memStore{recs: map[string]Record{}},
		accounts: &fakeAccounts{users: map[string]string{"alice@example.org": "x", "bob@example.org": "x"}, admins: map[string]bool{"alice@example.org": true}},
		router:   &fakeRouter{},
		now:      time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC),
	}
	var seq byte
	m, err := New(Options{
		Store: w.st, Accounts: w.accounts, Router: w.router, Domains: []string{"example.org"},
		BaseURL: func(d string) string { return "https://" + d + ":5443" }, Allow: allow, WebClient: "https://web.example.org/chat",
		Now: func() time.Time { return w.now },
		// Distinct, predictable tokens.
		Random: readerFunc(func(p []byte) (int, error) {
			seq++
			for i := range p {
				p[i] = seq
			}
			return len(p), nil
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	w.m = m
	return w
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

func TestCreateLinks(t *testing.T) {
	w := newWorld(t, AllowAdmins)
	ctx := context.Background()
	tests := []struct {
		name    string
		p       Params
		wantURI string
		wantErr bool
	}{
		{"account with inviter", Params{Inviter: "alice@example.org", Register: true}, "xmpp:alice@example.org?roster;preauth=%s;ibr=y", false},
		{"contact only", Params{Inviter: "bob@example.org"}, "xmpp:bob@example.org?roster;preauth=%s", false},
		{"account without inviter", Params{Register: true}, "xmpp:example.org?register;preauth=%s", false},
		{"reserved name", Params{Register: true, Username: "Carol", Inviter: "alice@example.org"}, "xmpp:carol@example.org?register;preauth=%s", false},
		{"foreign inviter", Params{Inviter: "eve@elsewhere.net", Register: true}, "", true},
		{"bad name", Params{Register: true, Username: "a@b"}, "", true},
		{"too many uses", Params{Register: true, Uses: MaxUses + 1}, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			link, err := w.m.Create(ctx, tc.p)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("Create = %+v, want an error", link)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf(tc.wantURI, link.Token); link.URI != want {
				t.Errorf("URI = %s, want %s", link.URI, want)
			}
			if want := "https://example.org:5443/invite/" + link.Token; link.URL != want {
				t.Errorf("URL = %s, want %s", link.URL, want)
			}
			if len(link.Token) != 26 || len(link.ID) != 8 {
				t.Errorf("token %q, ID %q: want 26 and 8 characters", link.Token, link.ID)
			}
			if !link.Expires.Equal(w.now.Add(DefaultExpiry)) {
				t.Errorf("expires %v, want %v", link.Expires, w.now.Add(DefaultExpiry))
			}
			// The token itself is nowhere in the store.
			for _, r := range w.st.recs {
				if bytes.Contains(r.Hash, []byte(link.Token)) {
					t.Error("the store holds the token")
				}
			}
		})
	}
}

func TestCheckAndCreateAccount(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, AllowAdmins)
	single, _ := w.m.Create(ctx, Params{Inviter: "alice@example.org", Register: true, Admin: true})
	multi, _ := w.m.Create(ctx, Params{Inviter: "alice@example.org", Register: true, Uses: 2})
	contact, _ := w.m.Create(ctx, Params{Inviter: "bob@example.org"})
	short, _ := w.m.Create(ctx, Params{Register: true, Expires: time.Hour})
	reserved, _ := w.m.Create(ctx, Params{Register: true, Username: "dora"})

	user := func(s string) jid.JID { return jid.MustParse(s) }
	steps := []struct {
		name     string
		do       func() error
		wantCond stanza.Condition // "" for success
	}{
		{"forged token", func() error { _, err := w.m.Check(ctx, "example.org", "aaaaaaaaaaaaaaaaaaaaaaaaaa"); return err }, stanza.ItemNotFound},
		{"contact-only token makes no account", func() error { _, err := w.m.Check(ctx, "example.org", contact.Token); return err }, stanza.ItemNotFound},
		{"wrong domain", func() error { _, err := w.m.Check(ctx, "other.org", single.Token); return err }, stanza.ItemNotFound},
		{"single-use: weak password spends nothing", func() error { return w.m.CreateAccount(ctx, single.Token, user("carl@example.org"), "123") }, stanza.NotAcceptable},
		{"single-use: taken name spends nothing", func() error { return w.m.CreateAccount(ctx, single.Token, user("bob@example.org"), "secret-1") }, stanza.Conflict},
		{"single-use", func() error { return w.m.CreateAccount(ctx, single.Token, user("carl@example.org"), "secret-1") }, ""},
		{"single-use, reused", func() error { return w.m.CreateAccount(ctx, single.Token, user("cleo@example.org"), "secret-1") }, stanza.ItemNotFound},
		{"single-use, checked again", func() error { _, err := w.m.Check(ctx, "example.org", single.Token); return err }, stanza.ItemNotFound},
		{"multi-use 1", func() error { return w.m.CreateAccount(ctx, multi.Token, user("mia@example.org"), "secret-1") }, ""},
		{"multi-use 2", func() error { return w.m.CreateAccount(ctx, multi.Token, user("max@example.org"), "secret-1") }, ""},
		{"multi-use 3", func() error { return w.m.CreateAccount(ctx, multi.Token, user("moe@example.org"), "secret-1") }, stanza.ItemNotFound},
		{"reserved name, other name", func() error { return w.m.CreateAccount(ctx, reserved.Token, user("eve@example.org"), "secret-1") }, stanza.NotAllowed},
		{"reserved name", func() error { return w.m.CreateAccount(ctx, reserved.Token, user("dora@example.org"), "secret-1") }, ""},
		{"expired", func() error {
			w.now = w.now.Add(2 * time.Hour)
			_, err := w.m.Check(ctx, "example.org", short.Token)
			return err
		}, stanza.ItemNotFound},
		// XEP-0445 §5: a token checked before it expired still registers.
		{"expired after the check", func() error { return w.m.CreateAccount(ctx, short.Token, user("late@example.org"), "secret-1") }, ""},
	}
	for _, st := range steps {
		err := st.do()
		var se *stanza.Error
		switch {
		case st.wantCond == "" && err != nil:
			t.Errorf("%s: %v, want success", st.name, err)
		case st.wantCond != "" && (!errors.As(err, &se) || se.Condition != st.wantCond):
			t.Errorf("%s: %v, want %s", st.name, err, st.wantCond)
		}
	}
	wantLog := []string{"add carl@example.org", "admin carl@example.org true", "add mia@example.org", "add max@example.org",
		"add dora@example.org", "add late@example.org"}
	if !slices.Equal(w.accounts.log, wantLog) {
		t.Errorf("accounts log\n got %q\nwant %q", w.accounts.log, wantLog)
	}
	// Each invited account and its inviter became mutual contacts.
	befriend := func(a, b string) []string {
		return []string{"subscribed " + a + ">" + b, "subscribed " + b + ">" + a, "subscribe " + a + ">" + b, "subscribe " + b + ">" + a}
	}
	want := slices.Concat(befriend("alice@example.org", "carl@example.org"), befriend("alice@example.org", "mia@example.org"),
		befriend("alice@example.org", "max@example.org"))
	if !slices.Equal(w.router.sent, want) {
		t.Errorf("sent\n got %q\nwant %q", w.router.sent, want)
	}
	if ok, _ := w.m.Reserved(ctx, user("dora@example.org")); ok {
		t.Error("dora is still reserved after her invitation was used")
	}
}

// TestCreateAccountRace: a single-use token redeemed by two clients at
// once makes one account; the other is removed again.
func TestCreateAccountRace(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, AllowAdmins)
	link, _ := w.m.Create(ctx, Params{Register: true})
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = w.m.CreateAccount(ctx, link.Token, jid.MustParse(fmt.Sprintf("u%d@example.org", i)), "secret-1")
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		}
	}
	if ok != 1 {
		t.Errorf("%d accounts made with a single-use token, want 1", ok)
	}
	if n := len(w.accounts.users); n != 3 {
		t.Errorf("%d accounts exist, want 3 (alice, bob and one new)", n)
	}
}

func TestPreAuthSubscription(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, AllowAdmins)
	link, _ := w.m.Create(ctx, Params{Inviter: "bob@example.org"})
	sub := func(to, from, token string) *stanza.Stanza {
		el := xmlstream.New(xmlstream.NSClient, "presence").SetAttr("type", "subscribe")
		if token != "" {
			el.Append(xmlstream.New(NSPreAuth, "preauth").SetAttr("token", token))
		}
		return &stanza.Stanza{Kind: stanza.Presence, Type: stanza.TypeSubscribe, From: jid.MustParse(from), To: jid.MustParse(to), El: el}
	}
	steps := []struct {
		name string
		st   *stanza.Stanza
		want []string
	}{
		{"no token", sub("bob@example.org", "juliet@capulet.net/x", ""), nil},
		{"forged token", sub("bob@example.org", "juliet@capulet.net/x", "forged"), nil},
		{"another account's token", sub("alice@example.org", "juliet@capulet.net/x", link.Token), nil},
		{"valid", sub("bob@example.org", "juliet@capulet.net/x", link.Token),
			[]string{"subscribed bob@example.org>juliet@capulet.net", "subscribe bob@example.org>juliet@capulet.net"}},
		{"reused", sub("bob@example.org", "romeo@montague.net", link.Token), nil},
	}
	for _, st := range steps {
		w.router.sent = nil
		done, err := w.m.interceptSubscribe(ctx, st.st)
		if done || err != nil {
			t.Errorf("%s: interceptor = %v, %v; want the request passed on to im", st.name, done, err)
		}
		if !slices.Equal(w.router.sent, st.want) {
			t.Errorf("%s: sent %q, want %q", st.name, w.router.sent, st.want)
		}
	}
}

func TestInterceptorIdleAllocs(t *testing.T) {
	w := newWorld(t, AllowAdmins)
	msg := &stanza.Stanza{Kind: stanza.Message, El: xmlstream.New(xmlstream.NSClient, "message")}
	allocs := testing.AllocsPerRun(1000, func() { _, _ = w.m.interceptSubscribe(context.Background(), msg) })
	if allocs != 0 {
		t.Errorf("the interceptor allocates %v times per message, want 0", allocs)
	}
}

func BenchmarkInterceptMessage(b *testing.B) {
	m := &Module{}
	msg := &stanza.Stanza{Kind: stanza.Message, El: xmlstream.New(xmlstream.NSClient, "message")}
	b.ReportAllocs()
	for b.Loop() {
		_, _ = m.interceptSubscribe(context.Background(), msg)
	}
}

func TestCommands(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, AllowAdmins)
	alice, bob := jid.MustParse("alice@example.org/phone"), jid.MustParse("bob@example.org/pc")
	if !w.m.mayCreateAccounts(ctx, alice) || w.m.mayCreateAccounts(ctx, bob) {
		t.Fatal("with Allow admins, alice (admin) may create accounts and bob may not")
	}
	// bob gets a contact invitation without ibr=y.
	res, err := w.m.runInvite(ctx, bob, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Next() || res.Form.FormType() != FormInvitation {
		t.Fatalf("invite result %+v, want a completed invitation form", res)
	}
	if uri := res.Form.Value("uri"); !strings.HasPrefix(uri, "xmpp:bob@example.org?roster;preauth=") || strings.Contains(uri, "ibr=y") {
		t.Errorf("bob's uri %s, want a contact invitation without ibr", uri)
	}
	// alice's has ibr=y.
	res, _ = w.m.runInvite(ctx, alice, nil)
	if uri := res.Form.Value("uri"); !strings.HasSuffix(uri, ";ibr=y") {
		t.Errorf("alice's uri %s, want ibr=y", uri)
	}
	// create-account: a form, then the link.
	res, _ = w.m.runCreateAccount(ctx, alice, nil)
	if !res.Next() || !res.Form.Has("username") || !res.Form.Has("admin") {
		t.Fatalf("first stage %+v, want a form with username and admin", res.Form)
	}
	sub := form.New(form.TypeSubmit, "").Add(form.Field{Var: "username", Values: []string{"erin"}},
		form.Field{Var: "roster-subscription", Values: []string{"0"}}, form.Field{Var: "admin", Values: []string{"1"}})
	res, err = w.m.runCreateAccount(ctx, alice, sub)
	if err != nil {
		t.Fatal(err)
	}
	if uri := res.Form.Value("uri"); !strings.HasPrefix(uri, "xmpp:erin@example.org?register;preauth=") {
		t.Errorf("create-account uri %s, want a registration for erin", uri)
	}
	// A non-admin cannot make an admin (with Allow everyone).
	w2 := newWorld(t, AllowEveryone)
	if _, err := w2.m.runCreateAccount(ctx, bob, sub); !errors.Is(err, stanza.NewError(stanza.Forbidden, "")) {
		t.Errorf("bob inviting an admin: %v, want forbidden", err)
	}
	// The per-account limit.
	for range DefaultMaxPerUser - 1 {
		if _, err := w.m.runInvite(ctx, bob, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.m.runInvite(ctx, bob, nil); !errors.Is(err, stanza.NewError(stanza.ResourceConstraint, "")) {
		t.Errorf("bob's invitation beyond the limit: %v, want resource-constraint", err)
	}
}

func TestListRevoke(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, AllowAdmins)
	a, _ := w.m.Create(ctx, Params{Register: true})
	b, _ := w.m.Create(ctx, Params{Register: true, Inviter: "alice@example.org"})
	list, err := w.m.List(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("List = %v, %v; want 2", list, err)
	}
	if err := w.m.Revoke(ctx, strings.ToUpper(a.ID)); err != nil {
		t.Errorf("Revoke(%s) = %v", a.ID, err)
	}
	for _, id := range []string{a.ID, "zzzz", ""} {
		if err := w.m.Revoke(ctx, id); !errors.Is(err, ErrNoSuchInvite) {
			t.Errorf("Revoke(%q) = %v, want ErrNoSuchInvite", id, err)
		}
	}
	list, _ = w.m.List(ctx)
	if len(list) != 1 || list[0].ID != b.ID || list[0].Inviter != "alice@example.org" {
		t.Errorf("after revoke: %+v, want only %s", list, b.ID)
	}
	if _, err := w.m.Check(ctx, "example.org", a.Token); err == nil {
		t.Error("a revoked token is still accepted")
	}
}

func TestLandingPage(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, AllowAdmins)
	w.accounts.users["<b>mum</b>@example.org"] = "x"
	link, _ := w.m.Create(ctx, Params{Inviter: "alice@example.org", Register: true})
	used, _ := w.m.Create(ctx, Params{Register: true})
	_ = w.m.CreateAccount(ctx, used.Token, jid.MustParse("zed@example.org"), "secret-1")
	path := "/invite/" + link.Token
	get := func(p, ua string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "https://example.org:5443"+p, nil)
		req.Header.Set("User-Agent", ua)
		rec := httptest.NewRecorder()
		w.m.ServeHTTP(rec, req)
		return rec
	}
	post := func(p string, v url.Values) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "https://example.org:5443"+p, strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		w.m.ServeHTTP(rec, req)
		return rec
	}
	tests := []struct {
		name     string
		rec      *httptest.ResponseRecorder
		wantCode int
		want     []string
		notWant  []string
	}{
		{"valid, Android", get(path, "Mozilla/5.0 (Linux; Android 14)"), 200,
			[]string{"alice has invited you to chat", `href="xmpp:alice@example.org?roster;preauth=` + link.Token + `;ibr=y"`, "<svg", "Conversations",
				"Monal", "Gajim", "Open the web app", `Android phone or tablet <span class="yours">`},
			[]string{"<script"}},
		{"forged", get("/invite/aaaaaaaaaaaaaaaaaaaaaaaaaa", ""), http.StatusGone, []string{"This invitation cannot be used"}, []string{"preauth"}},
		{"used", get("/invite/"+used.Token, ""), http.StatusGone, []string{"This invitation cannot be used"}, nil},
		{"nested path", get(path+"/x", ""), http.StatusNotFound, nil, nil},
		{"passwords differ", post(path, url.Values{"username": {"nina"}, "password": {"secret-1"}, "password2": {"secret-2"}}), 422,
			[]string{"The two passwords are not the same"}, nil},
		{"name taken", post(path, url.Values{"username": {"bob"}, "password": {"secret-1"}, "password2": {"secret-1"}}), 422,
			[]string{"This user name is taken"}, nil},
		{"html in the name", post(path, url.Values{"username": {"<i>x</i>"}, "password": {"secret-1"}, "password2": {"secret-1"}}), 422,
			[]string{"&lt;i&gt;x&lt;/i&gt;"}, []string{"<i>x</i>"}},
		{"registers", post(path, url.Values{"username": {"Nina"}, "password": {"secret-1"}, "password2": {"secret-1"}}), 200,
			[]string{"Welcome, nina!", "nina@example.org", "alice is in your contacts"}, nil},
		{"then used", get(path, ""), http.StatusGone, nil, nil},
	}
	for _, tc := range tests {
		body := tc.rec.Body.String()
		if tc.rec.Code != tc.wantCode {
			t.Errorf("%s: status %d, want %d", tc.name, tc.rec.Code, tc.wantCode)
		}
		for _, s := range tc.want {
			if !strings.Contains(body, s) {
				t.Errorf("%s: page lacks %q", tc.name, s)
			}
		}
		for _, s := range tc.notWant {
			if strings.Contains(body, s) {
				t.Errorf("%s: page has %q", tc.name, s)
			}
		}
		if tc.rec.Header().Get("Referrer-Policy") != "no-referrer" || !strings.Contains(tc.rec.Header().Get("Content-Security-Policy"), "default-src 'none'") {
			t.Errorf("%s: headers %v lack the referrer and script policies", tc.name, tc.rec.Header())
		}
	}
	if _, ok := w.accounts.users["nina@example.org"]; !ok {
		t.Error("the form made no account")
	}
}

func TestDeviceOf(t *testing.T) {
	tests := []struct {
		ua   string
		want int
	}{
		{"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/120 Mobile Safari/537.36", android},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148", apple},
		{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/120", computer},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64)", computer},
		{"curl/8.0", -1},
	}
	for _, tc := range tests {
		if got := deviceOf(tc.ua); got != tc.want {
			t.Errorf("deviceOf(%q) = %d, want %d", tc.ua, got, tc.want)
		}
	}
}

// TestLandingWebApp: the web app the landing page suggests is the
// configured one, else the web port's own chat page when it is served,
// else none.
func TestLandingWebApp(t *testing.T) {
	tests := []struct {
		name      string
		webClient string
		chatPage  bool
		want      string // the link, "" for no web app at all
	}{
		{"configured app", "https://web.example.org/chat", false, `href="https://web.example.org/chat"`},
		{"configured app wins over the chat page", "https://web.example.org/chat", true, `href="https://web.example.org/chat"`},
		{"the chat page", "", true, `href="https://example.org:5443/"`},
		{"neither", "", false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, AllowAdmins)
			w.m.webClient, w.m.chatPage = tc.webClient, tc.chatPage
			link, err := w.m.Create(context.Background(), Params{Inviter: "alice@example.org", Register: true})
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest(http.MethodGet, "https://example.org:5443/invite/"+link.Token, nil)
			rec := httptest.NewRecorder()
			w.m.ServeHTTP(rec, req)
			body := rec.Body.String()
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d, want 200", rec.Code)
			}
			if got := strings.Contains(body, "Open the web app"); got != (tc.want != "") {
				t.Errorf("page offers a web app: %v, want %v", got, tc.want != "")
			}
			if tc.want != "" && !strings.Contains(body, tc.want) {
				t.Errorf("page lacks %s", tc.want)
			}
		})
	}
}

// TestParseLanding: the landing page is parsed when a link is first
// opened, not by New, so a broken template must fail here.
func TestParseLanding(t *testing.T) {
	tmpl, err := parseLanding()
	if err != nil {
		t.Fatalf("parseLanding: %v", err)
	}
	for _, name := range []string{"page", "apps", "invite", "body"} {
		if tmpl.Lookup(name) == nil {
			t.Errorf("template %q is not defined", name)
		}
	}
}
