package invite

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"roost/jid"
	"roost/module"
	"roost/stanza"
	"roost/xmlstream"
)

// Namespaces and nodes.
const (
	// NSPreAuth carries a token in a subscription request (XEP-0379 §3.4)
	// or before registration (XEP-0445 §5).
	NSPreAuth = "urn:xmpp:pars:0"
	// NodeInvite creates a contact invitation (XEP-0401 §5.1).
	NodeInvite = "urn:xmpp:invite#invite"
	// NodeCreateAccount creates an account invitation (XEP-0401 §5.5).
	NodeCreateAccount = "urn:xmpp:invite#create-account"
	// FormInvitation is the FORM_TYPE of a command's result.
	FormInvitation = "urn:xmpp:invite#invitation"
)

// Who may create invitations that make accounts.
const (
	AllowAdmins   = "admins"
	AllowEveryone = "everyone"
)

// Defaults for Options fields left zero.
const (
	DefaultExpiry     = 7 * 24 * time.Hour
	DefaultMaxPerUser = 10
	// MaxUses bounds an invitation's uses.
	MaxUses = 100
	// sweepEvery is how often expired invitations are removed; grace is
	// how long after expiry they are kept, for a stream that accepted the
	// token just before (XEP-0445 §5 checks expiry only then).
	sweepEvery = time.Hour
	grace      = time.Hour
)

// Errors an Accounts implementation wraps, so that the module can say
// what went wrong.
var (
	ErrExists       = errors.New("account exists")
	ErrWeakPassword = errors.New("password refused")
	ErrBadUser      = errors.New("invalid user name")
	// ErrNoSuchInvite: no invitation has that ID.
	ErrNoSuchInvite = errors.New("no such invitation")
	// ErrTooMany: the inviter has as many open invitations as allowed.
	ErrTooMany = errors.New("too many open invitations")
)

// Record is a stored invitation; its fields are those of store.Invite,
// so that the server converts one into the other.
type Record struct {
	Hash              []byte
	Created, Expires  time.Time
	MaxUses, Used     int
	Inviter, Username string
	Admin, Register   bool
}

// Store keeps invitations; the server adapts *store.Store.
type Store interface {
	CreateInvite(r Record) error
	Invite(hash []byte) (r Record, found bool, err error)
	// UpdateInvite applies fn in one transaction; keep false deletes.
	UpdateInvite(hash []byte, fn func(r *Record) (keep bool, err error)) error
	Invites(fn func(r Record) error) error
	DeleteInvites(prefix []byte) (int, error)
	DeleteExpiredInvites(t time.Time) (int, error)
}

// Accounts manages accounts; the server adapts its account manager. Users
// are bare JIDs as strings.
type Accounts interface {
	AddUser(ctx context.Context, user, password string) error
	DeleteUser(ctx context.Context, user string) error
	SetAdmin(ctx context.Context, user string, admin bool) error
	IsAdmin(ctx context.Context, user string) (bool, error)
}

// Router routes stanzas as if a local account had sent them;
// *router.Router satisfies it.
type Router interface {
	FromClient(ctx context.Context, st *stanza.Stanza)
}

// Options configure a Module.
type Options struct {
	Store    Store
	Accounts Accounts
	Router   Router
	// Domains are the hosted account domains; the first is the default.
	Domains []string
	// BaseURL returns the https:// address of the web pages for domain,
	// without a final slash (the landing page is BaseURL + "/invite/").
	BaseURL func(domain string) string
	// Allow says who may create invitations that make accounts:
	// AllowAdmins (default) or AllowEveryone. Everyone may invite
	// contacts who have an account elsewhere (XEP-0379).
	Allow string
	// Expiry is how long an invitation is valid by default
	// (DefaultExpiry).
	Expiry time.Duration
	// MaxPerUser bounds the open invitations of one account that is not
	// an admin (DefaultMaxPerUser).
	MaxPerUser int
	// WebClient is the address of a web chat client to suggest on the
	// landing page. When it is empty and ChatPage is set, the web port's
	// own chat page (BaseURL + "/") is suggested; otherwise none.
	WebClient string
	// ChatPage says the web port serves roost's chat page at its root.
	ChatPage bool
	// Now and Random are the clock and the token source (defaults
	// time.Now, crypto/rand).
	Now    func() time.Time
	Random io.Reader
	Logger *slog.Logger
}

// Module serves invitations: their creation (ad-hoc commands, the command
// line and the console through the server), the landing page, registration
// by token (for the register module) and pre-authenticated subscription
// requests.
type Module struct {
	st         Store
	accounts   Accounts
	router     Router
	domains    []string
	baseURL    func(string) string
	everyone   bool
	expiry     time.Duration
	maxPerUser int
	webClient  string
	chatPage   bool
	now        func() time.Time
	random     io.Reader
	log        *slog.Logger
	page       func() (*template.Template, error) // parseLanding, once
}

// New returns a module.
func New(opts Options) (*Module, error) {
	m := &Module{
		st: opts.Store, accounts: opts.Accounts, router: opts.Router, domains: opts.Domains,
		baseURL: opts.BaseURL, everyone: opts.Allow == AllowEveryone, expiry: opts.Expiry,
		maxPerUser: opts.MaxPerUser, webClient: opts.WebClient, chatPage: opts.ChatPage, now: opts.Now, random: opts.Random, log: opts.Logger,
	}
	switch opts.Allow {
	case "", AllowAdmins, AllowEveryone:
	default:
		return nil, fmt.Errorf("invite: Allow is %q, want %q or %q", opts.Allow, AllowAdmins, AllowEveryone)
	}
	if len(m.domains) == 0 {
		return nil, errors.New("invite: no domains")
	}
	if m.baseURL == nil {
		m.baseURL = func(d string) string { return "https://" + d }
	}
	if m.expiry <= 0 {
		m.expiry = DefaultExpiry
	}
	if m.maxPerUser <= 0 {
		m.maxPerUser = DefaultMaxPerUser
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.random == nil {
		m.random = rand.Reader
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	// The landing page is parsed when a link is first opened, not at
	// start (TestParseLanding keeps a broken page failing the tests).
	m.page = sync.OnceValues(parseLanding)
	return m, nil
}

// Name implements module.Module.
func (m *Module) Name() string { return "invite" }

// Register implements module.Module.
func (m *Module) Register(r *module.Registry) {
	r.Inbound(module.InterceptorFunc(m.interceptSubscribe))
	r.Command(module.Command{Node: NodeInvite, Name: "Invite someone to chat with you", Run: m.runInvite})
	r.Command(module.Command{Node: NodeCreateAccount, Name: "Invite someone to make an account", Allowed: m.mayCreateAccounts, Run: m.runCreateAccount})
	r.HTTP("/invite/", m)
	r.Job("sweep", m.sweep)
}

// Params describe a new invitation.
type Params struct {
	// Domain is where the account is made; "" is the inviter's, or the
	// first hosted domain.
	Domain string
	// Inviter is the account (bare JID) that the new account becomes a
	// mutual contact of; "" for none.
	Inviter string
	// Username reserves the new account's name ("" lets the invitee
	// choose).
	Username string
	// Admin gives the new account the admin role.
	Admin bool
	// Register lets the token create an account; without it the token
	// only approves a contact request to the inviter (XEP-0379).
	Register bool
	// Expires is how long the invitation is valid (0: the default).
	Expires time.Duration
	// Uses is how many accounts it may make (0: one).
	Uses int
}

// Link is a new invitation as its recipient sees it. The token appears
// only here: the store keeps its hash.
type Link struct {
	ID      string
	Token   string
	URI     string // the xmpp: URI (XEP-0401 §5.1, XEP-0445 §2)
	URL     string // the landing page
	Expires time.Time
	Uses    int
}

// Info describes a stored invitation for lists (the token is not kept).
type Info struct {
	ID                string
	Created, Expires  time.Time
	MaxUses, Used     int
	Inviter, Username string
	Admin, Register   bool
}

// tokenEncoding writes tokens and IDs: lower-case base32 without padding,
// easy to put in a URI (XEP-0379 §5.1) and unambiguous to read out.
var tokenEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// tokenBytes is the token's entropy: 128 bits, above XEP-0379 §5.1's 80.
const tokenBytes = 16

// idBytes is the length of an invitation's short ID, a prefix of its hash.
const idBytes = 5

func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

func shortID(hash []byte) string { return tokenEncoding.EncodeToString(hash[:idBytes]) }

// Create makes an invitation. The command line and the console call it
// for the admin; the ad-hoc commands check who may create what first.
func (m *Module) Create(ctx context.Context, p Params) (Link, error) {
	if p.Uses == 0 {
		p.Uses = 1
	}
	if p.Uses < 1 || p.Uses > MaxUses {
		return Link{}, fmt.Errorf("invite: %d uses: give between 1 and %d", p.Uses, MaxUses)
	}
	if p.Expires == 0 {
		p.Expires = m.expiry
	}
	if p.Expires < 0 {
		return Link{}, fmt.Errorf("invite: expiry %v is in the past", p.Expires)
	}
	var inviter jid.JID
	if p.Inviter != "" {
		j, err := jid.Parse(p.Inviter)
		if err != nil || j.Local() == "" || !slices.Contains(m.domains, j.Domain()) {
			return Link{}, fmt.Errorf("invite: inviter %q is not an account here", p.Inviter)
		}
		inviter = j.Bare()
		p.Inviter = inviter.String()
	}
	switch {
	case p.Domain == "" && p.Inviter != "":
		p.Domain = inviter.Domain()
	case p.Domain == "":
		p.Domain = m.domains[0]
	case !slices.Contains(m.domains, p.Domain):
		return Link{}, fmt.Errorf("invite: this server does not host %s", p.Domain)
	}
	if p.Username != "" {
		j, err := jid.New(p.Username, p.Domain, "")
		if err != nil {
			return Link{}, fmt.Errorf("invite: %q is not a valid user name", p.Username)
		}
		p.Username = j.Local()
	}
	raw := make([]byte, tokenBytes)
	if _, err := io.ReadFull(m.random, raw); err != nil {
		return Link{}, fmt.Errorf("invite: make token: %w", err)
	}
	token := tokenEncoding.EncodeToString(raw)
	now := m.now().UTC()
	rec := Record{
		Hash: hashToken(token), Created: now, Expires: now.Add(p.Expires), MaxUses: p.Uses,
		Inviter: p.Inviter, Username: p.Username, Admin: p.Admin, Register: p.Register,
	}
	if err := m.st.CreateInvite(rec); err != nil {
		return Link{}, fmt.Errorf("invite: store: %w", err)
	}
	m.log.LogAttrs(ctx, slog.LevelInfo, "invitation created", slog.String("id", shortID(rec.Hash)),
		slog.String("inviter", p.Inviter), slog.Bool("register", p.Register), slog.Bool("admin", p.Admin), slog.Int("uses", p.Uses))
	return m.link(token, rec, p.Domain), nil
}

// link describes the invitation rec made for domain.
func (m *Module) link(token string, rec Record, domain string) Link {
	return Link{
		ID: shortID(rec.Hash), Token: token, URI: uri(token, rec, domain),
		URL: m.baseURL(domain) + "/invite/" + token, Expires: rec.Expires, Uses: rec.MaxUses,
	}
}

// uri is the xmpp: URI of an invitation (RFC 5122, XEP-0147): a contact
// invitation names the inviter (XEP-0379 §3.2) and says whether the token
// also makes an account (ibr=y, XEP-0401 §5.1); an account invitation
// names the domain, or the reserved account (XEP-0445 §2).
func uri(token string, rec Record, domain string) string {
	q := "preauth=" + url.QueryEscape(token)
	switch {
	case rec.Inviter != "" && rec.Username == "":
		if rec.Register {
			q += ";ibr=y"
		}
		return "xmpp:" + rec.Inviter + "?roster;" + q
	case rec.Username != "":
		return "xmpp:" + rec.Username + "@" + domain + "?register;" + q
	}
	return "xmpp:" + domain + "?register;" + q
}

// List returns the open invitations, oldest first.
func (m *Module) List(context.Context) ([]Info, error) {
	var out []Info
	err := m.st.Invites(func(r Record) error {
		out = append(out, info(r))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("invite: list: %w", err)
	}
	slices.SortFunc(out, func(a, b Info) int { return a.Created.Compare(b.Created) })
	return out, nil
}

func info(r Record) Info {
	return Info{ID: shortID(r.Hash), Created: r.Created, Expires: r.Expires, MaxUses: r.MaxUses, Used: r.Used,
		Inviter: r.Inviter, Username: r.Username, Admin: r.Admin, Register: r.Register}
}

// Revoke withdraws the invitation with the short ID id.
func (m *Module) Revoke(ctx context.Context, id string) error {
	prefix, err := tokenEncoding.DecodeString(strings.ToLower(strings.TrimSpace(id)))
	if err != nil || len(prefix) != idBytes {
		return fmt.Errorf("%w: %q", ErrNoSuchInvite, id)
	}
	n, err := m.st.DeleteInvites(prefix)
	if err != nil {
		return fmt.Errorf("invite: revoke: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("%w: %q", ErrNoSuchInvite, id)
	}
	m.log.LogAttrs(ctx, slog.LevelInfo, "invitation revoked", slog.String("id", id))
	return nil
}

// errInvalid answers a token that is unknown, expired, used up or
// withdrawn, alike: which one it is tells a guesser nothing useful, and a
// person the same thing (XEP-0445 §5).
var errInvalid = &stanza.Error{Type: stanza.Cancel, Condition: stanza.ItemNotFound,
	Text: "this invitation is not valid: it may have expired, been used already, or been withdrawn"}

// valid returns the invitation of token if it may still be used, with
// expiry checked or not.
func (m *Module) valid(token string, checkExpiry bool) (Record, error) {
	if token == "" || len(token) > 64 {
		return Record{}, errInvalid
	}
	rec, found, err := m.st.Invite(hashToken(token))
	if err != nil {
		return Record{}, fmt.Errorf("invite: look up: %w", err)
	}
	if !found || rec.Used >= rec.MaxUses || (checkExpiry && !m.now().Before(rec.Expires)) {
		return Record{}, errInvalid
	}
	return rec, nil
}

// use counts one use of the invitation whose token hashes to hash, in
// one transaction with the check that a use is left (a second redemption
// may have come first), and deletes it after its last use.
func (m *Module) use(hash []byte) error {
	return m.st.UpdateInvite(hash, func(r *Record) (bool, error) {
		if r.Used >= r.MaxUses {
			return false, errInvalid
		}
		r.Used++
		return r.Used < r.MaxUses, nil
	})
}

// Check implements register.Invites: token may create an account on
// domain. It is where expiry is checked (XEP-0445 §5).
func (m *Module) Check(_ context.Context, domain, token string) (reserved string, err error) {
	rec, err := m.valid(token, true)
	if err != nil {
		return "", err
	}
	if !rec.Register || (rec.Inviter != "" && !strings.HasSuffix(rec.Inviter, "@"+domain)) {
		return "", errInvalid
	}
	return rec.Username, nil
}

// Reserved implements register.Invites: an open invitation keeps the name
// (XEP-0401 §5).
func (m *Module) Reserved(_ context.Context, user jid.JID) (bool, error) {
	now := m.now()
	found := false
	err := m.st.Invites(func(r Record) error {
		if r.Register && r.Username == user.Local() && now.Before(r.Expires) && r.Used < r.MaxUses {
			found = true
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("invite: reserved names: %w", err)
	}
	return found, nil
}

// CreateAccount implements register.Invites and serves the landing page's
// form: it creates user with password for token and redeems one use. The
// use is counted only once the account exists (XEP-0445 §5); if the token
// was used up meanwhile by another client, the account is removed again.
// Then the account gets what the invitation grants: the admin role, and
// the inviter as a mutual contact (XEP-0401 §5.6).
func (m *Module) CreateAccount(ctx context.Context, token string, user jid.JID, password string) error {
	rec, err := m.valid(token, false)
	if err != nil {
		return err
	}
	switch {
	case !rec.Register:
		return errInvalid
	case rec.Username != "" && rec.Username != user.Local():
		return stanza.NewError(stanza.NotAllowed, "this invitation is for the name "+rec.Username)
	case rec.Inviter != "" && !strings.HasSuffix(rec.Inviter, "@"+user.Domain()):
		return errInvalid
	}
	if err := m.accounts.AddUser(ctx, user.String(), password); err != nil {
		switch {
		case errors.Is(err, ErrExists):
			return stanza.NewError(stanza.Conflict, "this user name is taken: choose another")
		case errors.Is(err, ErrWeakPassword):
			return stanza.NewError(stanza.NotAcceptable, err.Error())
		case errors.Is(err, ErrBadUser):
			return &stanza.Error{Type: stanza.Modify, Condition: stanza.JIDMalformed, Text: "this user name is not allowed"}
		}
		return fmt.Errorf("invite: create account: %w", err)
	}
	err = m.use(rec.Hash)
	if err != nil {
		if derr := m.accounts.DeleteUser(ctx, user.String()); derr != nil {
			m.log.LogAttrs(ctx, slog.LevelError, "removing an account whose invitation was used meanwhile",
				slog.String("jid", user.String()), slog.Any("err", derr))
		}
		var se *stanza.Error
		if errors.As(err, &se) {
			return se
		}
		return errInvalid
	}
	m.log.LogAttrs(ctx, slog.LevelInfo, "account created with an invitation", slog.String("jid", user.String()),
		slog.String("invitation", shortID(rec.Hash)))
	if rec.Admin {
		if err := m.accounts.SetAdmin(ctx, user.String(), true); err != nil {
			m.log.LogAttrs(ctx, slog.LevelError, "giving the invited account the admin role", slog.String("jid", user.String()), slog.Any("err", err))
		}
	}
	if rec.Inviter != "" {
		inviter, err := jid.Parse(rec.Inviter)
		if err == nil {
			m.befriend(ctx, inviter, user)
		}
	}
	return nil
}

// befriend makes two local accounts mutual contacts through the
// subscription state machine (RFC 6121 §3), as their clients would: each
// pre-approves the other (§3.4), then each asks, and the pre-approvals
// answer at once. The roster pushes to their online resources are the
// state machine's (XEP-0401 §5.6).
func (m *Module) befriend(ctx context.Context, a, b jid.JID) {
	for _, step := range []struct {
		from, to jid.JID
		typ      string
	}{
		{a, b, stanza.TypeSubscribed}, {b, a, stanza.TypeSubscribed},
		{a, b, stanza.TypeSubscribe}, {b, a, stanza.TypeSubscribe},
	} {
		m.router.FromClient(ctx, presence(step.typ, step.from, step.to))
	}
}

// presence builds a subscription stanza from a local account.
func presence(typ string, from, to jid.JID) *stanza.Stanza {
	el := xmlstream.New(xmlstream.NSClient, "presence").
		SetAttr("type", typ).SetAttr("from", from.String()).SetAttr("to", to.String())
	return &stanza.Stanza{Kind: stanza.Presence, Type: typ, From: from, To: to, El: el}
}

// interceptSubscribe applies XEP-0379 §3.5 for a local inviter: a
// subscription request that carries a valid token of the inviter's is
// approved at once, and the inviter asks back. Only the pre-approval and
// the request are sent here; im then treats the incoming request as any
// other and finds it pre-approved. An unknown token is ignored (§4.1).
func (m *Module) interceptSubscribe(ctx context.Context, st *stanza.Stanza) (bool, error) {
	if st.Kind != stanza.Presence || st.Type != stanza.TypeSubscribe || st.From.IsZero() {
		return false, nil
	}
	pa := st.El.Child(NSPreAuth, "preauth")
	if pa == nil {
		return false, nil
	}
	rec, err := m.valid(pa.Get("token"), true)
	user, contact := st.To.Bare(), st.From.Bare()
	if err != nil || rec.Inviter != user.String() || contact.Equal(user) {
		return false, nil
	}
	err = m.use(rec.Hash)
	if err != nil {
		return false, nil
	}
	m.log.LogAttrs(ctx, slog.LevelInfo, "contact request approved by invitation", slog.String("jid", user.String()),
		slog.String("contact", contact.String()), slog.String("invitation", shortID(rec.Hash)))
	m.router.FromClient(ctx, presence(stanza.TypeSubscribed, user, contact))
	m.router.FromClient(ctx, presence(stanza.TypeSubscribe, user, contact))
	return false, nil
}

// mayCreateAccounts reports whether requester may invite people to make
// accounts.
func (m *Module) mayCreateAccounts(ctx context.Context, requester jid.JID) bool {
	if m.everyone {
		return true
	}
	admin, err := m.accounts.IsAdmin(ctx, requester.Bare().String())
	return err == nil && admin
}

// open counts the open invitations of inviter.
func (m *Module) open(inviter string) (int, error) {
	n := 0
	err := m.st.Invites(func(r Record) error {
		if r.Inviter == inviter {
			n++
		}
		return nil
	})
	return n, err
}

// sweep removes expired invitations, once an hour.
func (m *Module) sweep(ctx context.Context) error {
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		if n, err := m.st.DeleteExpiredInvites(m.now().Add(-grace)); err != nil {
			m.log.LogAttrs(ctx, slog.LevelError, "removing expired invitations", slog.Any("err", err))
		} else if n > 0 {
			m.log.LogAttrs(ctx, slog.LevelInfo, "expired invitations removed", slog.Int("count", n))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
