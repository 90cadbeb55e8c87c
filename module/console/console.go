package console

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"roost/jid"
	"roost/module"
	"roost/qrcode"
)

//go:embed templates/*.html
var templates embed.FS

// Accounts manages accounts; the server adapts its account manager.
// Users are bare JIDs as strings.
type Accounts interface {
	Users(ctx context.Context) ([]string, error)
	AddUser(ctx context.Context, user, password string) error
	DeleteUser(ctx context.Context, user string) error
	SetPassword(ctx context.Context, user, password string) error
	SetAdmin(ctx context.Context, user string, admin bool) error
	IsAdmin(ctx context.Context, user string) (bool, error)
	// CheckPassword verifies a password against the stored credentials.
	CheckPassword(ctx context.Context, user, password string) (bool, error)
}

// Backoff says how long a login attempt for account (a bare JID) from
// addr (an IP address) waits before its password is checked, and learns
// each attempt's outcome.
type Backoff interface {
	Delay(account, addr string) time.Duration
	Failed(account, addr string)
	Succeeded(account, addr string)
}

// Session is one online session.
type Session struct {
	JID    jid.JID
	Since  time.Time
	Client string // the app, as its capabilities name it
	IP     string
	Online bool // sent available presence
}

// Sessions lists and ends sessions; the server adapts its router.
type Sessions interface {
	Sessions() []Session
	Disconnect(full jid.JID) bool
}

// Invite is an open invitation.
type Invite struct {
	ID, Inviter, Username string
	Expires               time.Time
	MaxUses, Used         int
	Admin                 bool
}

// InviteLink is a new invitation.
type InviteLink struct {
	ID, URL string
	Expires time.Time
}

// Invites makes, lists and withdraws invitations; nil when they are off.
type Invites interface {
	CreateInvite(ctx context.Context, inviter string, admin bool, uses int) (InviteLink, error)
	ListInvites(ctx context.Context) ([]Invite, error)
	RevokeInvite(ctx context.Context, id string) error
}

// Room is a group chat.
type Room struct {
	JID       jid.JID
	Name      string
	Occupants []string
}

// Rooms lists and destroys group chats; nil when group chat is off.
type Rooms interface {
	Rooms(ctx context.Context) ([]Room, error)
	Destroy(ctx context.Context, room jid.JID, reason string) error
}

// Status is the server's state for the overview page.
type Status struct {
	Version      string
	Uptime       time.Duration
	Domains      []string
	Certificates []Certificate
	Federation   []Link
	StoreBytes   int64
	Checks       []Check
}

// Certificate is one name's certificate.
type Certificate struct {
	Name, Issuer, Source, Problem string
	NotAfter                      time.Time
}

// Link is a connection to another server.
type Link struct {
	Remote string
	Ready  bool
}

// Check is one result of the server's self-check.
type Check struct {
	What, Result string
	OK           bool
}

// Options configure a Module.
type Options struct {
	Accounts Accounts
	Sessions Sessions
	Invites  Invites
	Rooms    Rooms
	Status   func(ctx context.Context) Status
	// Domains are the hosted domains; the first is the default for names.
	Domains []string
	// SessionTimeout logs an admin out (default 12h).
	SessionTimeout time.Duration
	// MaxLoginFailures per address in LoginWindow (defaults 10, 15m).
	MaxLoginFailures int
	LoginWindow      time.Duration
	// Backoff, if set, holds back password guessing per account and per
	// address before each check; the server passes the table its chat
	// logins use, so a guesser meets the same delays on both doors.
	Backoff Backoff
	Now     func() time.Time
	Logger  *slog.Logger
}

// Module is the web console.
type Module struct {
	opts  Options
	t     func() (*template.Template, error) // parseTemplates, once
	now   func() time.Time
	log   *slog.Logger
	mux   *http.ServeMux
	mu    sync.Mutex
	sess  map[string]*session // by SHA-256 of the cookie value
	fails map[string][]time.Time
}

// session is a logged-in admin.
type session struct {
	user    string
	csrf    string
	expires time.Time
	flash   string
	newLink string // an invitation just made, shown once
}

// cookieName is the session cookie. The __Host- prefix makes browsers
// refuse it unless it is Secure, host-only and for path / (RFC 6265bis
// §4.1.3.2).
const cookieName = "__Host-roost-admin"

// New returns the console.
func New(opts Options) *Module {
	if opts.SessionTimeout <= 0 {
		opts.SessionTimeout = 12 * time.Hour
	}
	if opts.MaxLoginFailures <= 0 {
		opts.MaxLoginFailures = 10
	}
	if opts.LoginWindow <= 0 {
		opts.LoginWindow = 15 * time.Minute
	}
	m := &Module{opts: opts, now: opts.Now, log: opts.Logger, sess: map[string]*session{}, fails: map[string][]time.Time{}}
	if m.now == nil {
		m.now = time.Now
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	// The pages are parsed on the first request, not at start: most
	// days nobody opens the console, and parsing costs memory the Pi
	// keeps (TestTemplatesParse keeps a broken page failing the tests).
	m.t = sync.OnceValues(m.parseTemplates)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /admin/login", m.loginPage)
	mux.HandleFunc("POST /admin/login", m.login)
	mux.HandleFunc("POST /admin/logout", m.admin(m.logout))
	mux.HandleFunc("GET /admin/{$}", m.admin(m.overview))
	mux.HandleFunc("GET /admin/accounts", m.admin(m.accounts))
	mux.HandleFunc("POST /admin/accounts", m.admin(m.accountAction))
	mux.HandleFunc("GET /admin/online", m.admin(m.online))
	mux.HandleFunc("POST /admin/online", m.admin(m.disconnect))
	mux.HandleFunc("GET /admin/invites", m.admin(m.invites))
	mux.HandleFunc("POST /admin/invites", m.admin(m.inviteAction))
	mux.HandleFunc("GET /admin/rooms", m.admin(m.rooms))
	mux.HandleFunc("POST /admin/rooms", m.admin(m.roomAction))
	mux.HandleFunc("/admin", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/admin/", http.StatusSeeOther)
	})
	m.mux = mux
	return m
}

// Name implements module.Module.
func (m *Module) Name() string { return "console" }

// Register implements module.Module.
func (m *Module) Register(r *module.Registry) {
	r.HTTP("/admin", m)
	r.HTTP("/admin/", m)
}

// ServeHTTP serves the console's pages, with headers that keep them out
// of frames, caches and other sites' reach.
func (m *Module) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	module.PageHeaders(w.Header())
	m.mux.ServeHTTP(w, r)
}

// page is what every page template gets.
type page struct {
	Title, Tab, User, CSRF, Flash, Error string
	Data                                 any
}

// parseTemplates parses the console's pages.
func (m *Module) parseTemplates() (*template.Template, error) {
	t, err := template.New("").Funcs(template.FuncMap{
		"ago":  func(t time.Time) string { return ago(m.now().Sub(t)) },
		"date": func(t time.Time) string { return t.Local().Format("Mon 2 Jan 2006, 15:04") },
		"days": func(t time.Time) int { return int(t.Sub(m.now()).Hours() / 24) },
		"size": size,
		"dur":  func(d time.Duration) string { return ago(d) },
	}).ParseFS(templates, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("console: parse templates: %w", err)
	}
	return t, nil
}

func (m *Module) render(w http.ResponseWriter, r *http.Request, code int, name string, p page) {
	var b bytes.Buffer
	t, err := m.t()
	if err == nil {
		err = t.ExecuteTemplate(&b, name, p)
	}
	if err != nil {
		m.log.LogAttrs(r.Context(), slog.LevelError, "rendering the console", slog.String("page", name), slog.Any("err", err))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(b.Bytes())
}

// remoteIP is the address login failures are counted against.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (m *Module) loginPage(w http.ResponseWriter, r *http.Request) {
	if _, s := m.current(r); s != nil {
		http.Redirect(w, r, "/admin/", http.StatusSeeOther)
		return
	}
	m.render(w, r, http.StatusOK, "login", page{Title: "Log in", Data: m.opts.Domains[0]})
}

// login checks an admin's chat password. Failures are counted per
// address: past MaxLoginFailures in LoginWindow, the address waits.
func (m *Module) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if !sameOrigin(r) {
		http.Error(w, "forbidden: the form came from another site", http.StatusForbidden)
		return
	}
	ip := remoteIP(r)
	if m.tooManyFailures(ip) {
		m.render(w, r, http.StatusTooManyRequests, "login", page{Title: "Log in", Error: "Too many wrong passwords. Please wait a few minutes and try again.", Data: m.opts.Domains[0]})
		return
	}
	user := m.resolve(r.PostFormValue("username"))
	password := r.PostFormValue("password")
	ok := false
	if user != "" && password != "" {
		if !m.holdBack(r.Context(), user, ip) {
			return // the browser went away while it waited
		}
		good, err := m.opts.Accounts.CheckPassword(r.Context(), user, password)
		if err != nil {
			m.log.LogAttrs(r.Context(), slog.LevelError, "checking a console password", slog.Any("err", err))
		}
		if b := m.opts.Backoff; b != nil && err == nil {
			if good {
				b.Succeeded(user, ip)
			} else {
				b.Failed(user, ip)
			}
		}
		admin, _ := m.opts.Accounts.IsAdmin(r.Context(), user)
		ok = good && admin
	}
	if !ok {
		m.fail(ip)
		m.log.LogAttrs(r.Context(), slog.LevelWarn, "console login refused", slog.String("user", user), slog.String("remote", ip))
		m.render(w, r, http.StatusUnauthorized, "login", page{Title: "Log in",
			Error: "That did not work: check the address and password. Only admins can log in here.", Data: m.opts.Domains[0]})
		return
	}
	token, csrf := randomString(), randomString()
	m.mu.Lock()
	m.sess[hashString(token)] = &session{user: user, csrf: csrf, expires: m.now().Add(m.opts.SessionTimeout)}
	delete(m.fails, ip)
	m.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: token, Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, MaxAge: int(m.opts.SessionTimeout / time.Second)})
	m.log.LogAttrs(r.Context(), slog.LevelInfo, "console login", slog.String("user", user), slog.String("remote", ip))
	http.Redirect(w, r, "/admin/", http.StatusSeeOther)
}

// holdBack waits as long as Backoff says before a password check, the
// right one and a wrong one alike, so that the wait tells nothing. It
// reports false if ctx ended first.
func (m *Module) holdBack(ctx context.Context, user, ip string) bool {
	if m.opts.Backoff == nil {
		return true
	}
	select {
	case <-time.After(m.opts.Backoff.Delay(user, ip)): // a timer nobody holds is freed (Go 1.23)
		return true
	case <-ctx.Done():
		return false
	}
}

func (m *Module) tooManyFailures(ip string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	cut := m.now().Add(-m.opts.LoginWindow)
	l := slices.DeleteFunc(m.fails[ip], func(t time.Time) bool { return t.Before(cut) })
	if len(l) == 0 {
		delete(m.fails, ip)
		return false
	}
	m.fails[ip] = l
	return len(l) >= m.opts.MaxLoginFailures
}

func (m *Module) fail(ip string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.fails) > 10000 {
		clear(m.fails) // a crowd of addresses: start over rather than grow
	}
	m.fails[ip] = append(m.fails[ip], m.now())
}

func (m *Module) logout(w http.ResponseWriter, r *http.Request, _ *session) {
	if c, err := r.Cookie(cookieName); err == nil {
		m.mu.Lock()
		delete(m.sess, hashString(c.Value))
		m.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, "/admin/login", http.StatusSeeOther)
}

// current returns the session of r's cookie, if valid.
func (m *Module) current(r *http.Request) (string, *session) {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return "", nil
	}
	key := hashString(c.Value)
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.sess[key]
	if s == nil {
		return "", nil
	}
	if !m.now().Before(s.expires) {
		delete(m.sess, key)
		return "", nil
	}
	return key, s
}

// admin wraps a page for logged-in admins: anyone else goes to the login
// page; a POST must carry the session's CSRF token and come from this
// site. An account that lost the admin role is logged out.
func (m *Module) admin(h func(w http.ResponseWriter, r *http.Request, s *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key, s := m.current(r)
		if s != nil {
			if ok, _ := m.opts.Accounts.IsAdmin(r.Context(), s.user); !ok {
				m.mu.Lock()
				delete(m.sess, key)
				m.mu.Unlock()
				s = nil
			}
		}
		if s == nil {
			if r.Method == http.MethodPost {
				http.Error(w, "forbidden: log in first", http.StatusForbidden)
				return
			}
			http.Redirect(w, r, "/admin/login", http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
			if !sameOrigin(r) || subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(s.csrf)) != 1 {
				http.Error(w, "forbidden: this form is out of date or came from another site; reload the page", http.StatusForbidden)
				return
			}
		}
		h(w, r, s)
	}
}

// sameOrigin refuses a request a browser says came from another site
// (Fetch Metadata, then Origin); requests without either header are
// judged by the CSRF token alone.
func sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return false
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		u, err := url.Parse(o)
		if err != nil || !strings.EqualFold(u.Host, r.Host) {
			return false
		}
	}
	return true
}

// pageFor starts a page for session s, taking its one-time message.
func (m *Module) pageFor(s *session, title, tab string) page {
	m.mu.Lock()
	flash := s.flash
	s.flash = ""
	m.mu.Unlock()
	return page{Title: title, Tab: tab, User: s.user, CSRF: s.csrf, Flash: flash}
}

// done ends a POST: the message is shown once on the page it returns to.
func (m *Module) done(w http.ResponseWriter, r *http.Request, s *session, to, msg string) {
	m.mu.Lock()
	s.flash = msg
	m.mu.Unlock()
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// resolve turns "alice" or "alice@domain" into a hosted bare JID, or "".
func (m *Module) resolve(name string) string {
	name = strings.TrimSpace(name)
	if name == "" {
		return ""
	}
	if !strings.Contains(name, "@") {
		name += "@" + m.opts.Domains[0]
	}
	j, err := jid.Parse(name)
	if err != nil || j.Local() == "" || j.Resource() != "" || !slices.Contains(m.opts.Domains, j.Domain()) {
		return ""
	}
	return j.String()
}

func randomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashString(s string) string {
	h := sha256.Sum256([]byte(s))
	return string(h[:])
}

// ago writes a duration as a person says it.
func ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + " min"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + " h " + strconv.Itoa(int(d%time.Hour/time.Minute)) + " min"
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + " days"
}

// size writes a byte count with a binary unit.
func size(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " bytes"
	}
	div, exp := int64(unit), 0
	for v := n / unit; v >= unit; v /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// qr draws a link's QR code for a page.
func qr(link string) template.HTML {
	c, err := qrcode.Encode(link)
	if err != nil {
		return ""
	}
	return template.HTML(c.SVG("QR code of the invitation link")) //nolint:gosec // drawn by qrcode, label escaped
}
