package invite

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"

	"roost/jid"
	"roost/module"
	"roost/qrcode"
	"roost/stanza"
)

//go:embed templates/landing.html
var templates embed.FS

// maxForm bounds the registration form's body.
const maxForm = 4 << 10

// parseLanding parses the landing page.
func parseLanding() (*template.Template, error) {
	t, err := template.ParseFS(templates, "templates/landing.html")
	if err != nil {
		return nil, fmt.Errorf("invite: parse landing page: %w", err)
	}
	return t, nil
}

// App is a chat app suggested for one platform.
type App struct{ Name, URL string }

// Platform groups the apps suggested for one kind of device.
type Platform struct {
	Platform string
	Links    []App
	// Yours marks the platform the browser says it runs on.
	Yours bool
}

// Kinds of device, in the order the page lists them.
const (
	android = iota
	apple
	computer
	web
)

// deviceOf guesses the kind of device from a browser's User-Agent; -1 when
// it cannot tell. Android's browsers also say "Linux", so Android is
// asked first.
func deviceOf(userAgent string) int {
	has := func(subs ...string) bool {
		return slices.ContainsFunc(subs, func(s string) bool { return strings.Contains(userAgent, s) })
	}
	switch {
	case has("Android"):
		return android
	case has("iPhone", "iPad", "iPod"):
		return apple
	case has("Windows", "Macintosh", "X11", "Linux"):
		return computer
	}
	return -1
}

// platforms are the suggestions: apps that take invitations (XEP-0401)
// and are kept up to date, as Snikket suggests them, with the browser's
// own kind of device first.
func (m *Module) platforms(userAgent, domain string) []Platform {
	ps := []Platform{
		android: {Platform: "Android phone or tablet", Links: []App{
			{"Conversations (Google Play)", "https://play.google.com/store/apps/details?id=eu.siacs.conversations"},
			{"Conversations (F-Droid)", "https://f-droid.org/packages/eu.siacs.conversations/"},
		}},
		apple: {Platform: "iPhone or iPad", Links: []App{
			{"Monal", "https://apps.apple.com/app/monal-free-xmpp-chat/id317711500"},
			{"Siskin IM", "https://apps.apple.com/app/siskin-im/id1153516838"},
		}},
		computer: {Platform: "Computer (Windows, Mac, Linux)", Links: []App{
			{"Gajim", "https://gajim.org/download/"},
			{"Dino (Linux)", "https://dino.im/#download"},
		}},
	}
	web := m.webClient
	if web == "" && m.chatPage {
		// The chat page of this server's own web port: the account
		// made on this page signs in there at once.
		web = m.baseURL(domain) + "/"
	}
	if web != "" {
		ps = append(ps, Platform{Platform: "In the web browser, without installing anything", Links: []App{{"Open the web app", web}}})
	}
	if d := deviceOf(userAgent); d >= 0 {
		ps[d].Yours = true
		mine := ps[d]
		ps = append(append([]Platform{mine}, ps[:d]...), ps[d+1:]...)
	}
	return ps
}

// pageData is what the landing page template shows.
type pageData struct {
	Kind     string // "invite", "done" or "invalid"
	Title    string
	Domain   string
	Inviter  string
	URI      template.URL
	QR       template.HTML
	Path     string
	Expires  string
	Username string
	Reserved bool
	Address  string
	Error    string
	Apps     []Platform
}

// ServeHTTP serves /invite/<token>: the landing page (XEP-0401 §5.2,
// XEP-0379 §3.3) on GET, the registration form's submission on POST. It
// works without scripts: the page has none, and forbids them.
func (m *Module) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// The token is in the address: no referrer may carry it to the app
	// stores, and no cache may keep it.
	module.PageHeaders(h)
	token, ok := strings.CutPrefix(r.URL.Path, "/invite/")
	if !ok || token == "" || strings.Contains(token, "/") {
		http.NotFound(w, r)
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodPost:
	default:
		h.Set("Allow", "GET, HEAD, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	rec, err := m.valid(token, r.Method != http.MethodPost)
	if err == nil && !rec.Register && rec.Inviter == "" {
		err = errInvalid
	}
	if err != nil {
		m.render(w, r, http.StatusGone, pageData{Kind: "invalid", Title: "This invitation cannot be used", Domain: m.domainFor(rec, r)})
		return
	}
	d := m.pageData(token, rec, r)
	if r.Method == http.MethodPost {
		m.register(w, r, token, rec, d)
		return
	}
	m.render(w, r, http.StatusOK, d)
}

// domainFor is the account domain of an invitation: the inviter's, or the
// one the browser asked for if hosted, or the first.
func (m *Module) domainFor(rec Record, r *http.Request) string {
	if _, d, ok := strings.Cut(rec.Inviter, "@"); ok {
		return d
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if slices.Contains(m.domains, strings.ToLower(host)) {
		return strings.ToLower(host)
	}
	return m.domains[0]
}

func (m *Module) pageData(token string, rec Record, r *http.Request) pageData {
	domain := m.domainFor(rec, r)
	link := m.link(token, rec, domain)
	d := pageData{
		Kind: "invite", Domain: domain, URI: template.URL(link.URI), Path: "/invite/" + token,
		Expires: rec.Expires.UTC().Format("Monday 2 January 2006, 15:04 UTC"), Username: rec.Username,
		Reserved: rec.Username != "", Apps: m.platforms(r.UserAgent(), domain),
	}
	if inviter, err := jid.Parse(rec.Inviter); err == nil && rec.Inviter != "" {
		d.Inviter = inviter.Local()
		d.Title = d.Inviter + " has invited you to chat"
	} else {
		d.Title = "You are invited to chat on " + domain
	}
	if !rec.Register {
		// A contact invitation for people with an account elsewhere:
		// the app adds the contact; there is no account to make here.
		d.Reserved = true
	}
	if c, err := qrcode.Encode(link.URL); err == nil {
		d.QR = template.HTML(c.SVG("QR code of this invitation")) //nolint:gosec // drawn by qrcode, label escaped
	}
	return d
}

// register serves the fallback form: it makes the account in the browser,
// for a device whose app does not take invitations.
func (m *Module) register(w http.ResponseWriter, r *http.Request, token string, rec Record, d pageData) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		d.Error = "The form could not be read. Please try again."
		m.render(w, r, http.StatusBadRequest, d)
		return
	}
	name := strings.TrimSpace(r.PostForm.Get("username"))
	password, again := r.PostForm.Get("password"), r.PostForm.Get("password2")
	d.Username = name
	user, err := jid.New(name, d.Domain, "")
	switch {
	case !rec.Register:
		d.Error = "This invitation is for people who already have a chat account: open it in your app."
	case name == "":
		d.Error = "Please choose a user name."
	case err != nil:
		d.Error = "This user name cannot be used: try one with letters and digits only."
	case password != again:
		d.Error = "The two passwords are not the same. Please type them again."
	}
	if d.Error == "" {
		err = m.CreateAccount(r.Context(), token, user, password)
		var se *stanza.Error
		switch {
		case err == nil:
		case errors.As(err, &se):
			d.Error = sentence(se.Text)
		default:
			m.log.LogAttrs(r.Context(), slog.LevelError, "making an account from the landing page", slog.Any("err", err))
			d.Error = "Something went wrong on the server. Please try again later."
		}
	}
	if d.Error != "" {
		m.render(w, r, http.StatusUnprocessableEntity, d)
		return
	}
	d.Kind, d.Title, d.Address, d.Username = "done", "Welcome", user.String(), user.Local()
	m.render(w, r, http.StatusOK, d)
}

// sentence makes an error text a sentence for the page.
func sentence(s string) string {
	if s == "" {
		return "That did not work. Please try again."
	}
	return strings.ToUpper(s[:1]) + s[1:] + "."
}

func (m *Module) render(w http.ResponseWriter, r *http.Request, code int, d pageData) {
	var b bytes.Buffer
	t, err := m.page()
	if err == nil {
		err = t.ExecuteTemplate(&b, "page", d)
	}
	if err != nil {
		m.log.LogAttrs(r.Context(), slog.LevelError, "rendering the landing page", slog.Any("err", err))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b.Bytes())
	}
}
