package register

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"roost/jid"
	"roost/module"
	"roost/stanza"
	"roost/xmlstream"
)

// Namespaces.
const (
	NS        = "jabber:iq:register"
	NSFeature = "http://jabber.org/features/iq-register"
	// NSPreAuth is the invitation token element (XEP-0379, XEP-0445).
	NSPreAuth = "urn:xmpp:pars:0"
	// NSTokenFeature says registration takes invitation tokens
	// (XEP-0445 §3); NSInviteFeature is its older name, which clients
	// from before XEP-0445 (Conversations 2.9) look for.
	NSTokenFeature  = "urn:xmpp:ibr-token:0"
	NSInviteFeature = "urn:xmpp:invite"
)

// Defaults for Options fields left zero.
const (
	DefaultBurst = 5
	DefaultEvery = time.Minute
)

// Errors an Accounts implementation wraps so that the module can answer
// with the right condition.
var (
	// ErrExists: the account already exists.
	ErrExists = errors.New("account exists")
	// ErrWeakPassword: the password does not meet the server's policy; the
	// wrapped message says why and is shown to the user.
	ErrWeakPassword = errors.New("password refused")
	// ErrBadUser: the user name is not a valid localpart here.
	ErrBadUser = errors.New("invalid user name")
)

// Accounts manages accounts; the server adapts its account manager. Users
// are bare JIDs as strings.
type Accounts interface {
	AddUser(ctx context.Context, user, password string) error
	// ChangePassword sets the password of session's account, and ends
	// the account's other sessions.
	ChangePassword(ctx context.Context, session jid.JID, password string) error
	// DeleteUser removes the account and ends its sessions.
	DeleteUser(ctx context.Context, user string) error
}

// Invites checks and redeems invitation tokens (XEP-0445); the invite
// module serves it.
type Invites interface {
	// Check accepts token for creating an account on domain, or returns a
	// *stanza.Error saying why not (unknown, expired, used up). reserved
	// is the only user name the token may create ("" for any).
	Check(ctx context.Context, domain, token string) (reserved string, err error)
	// CreateAccount creates user with password for token, which Check
	// accepted on this stream, and redeems one use: the new account gets
	// what the invitation grants (the inviter as a contact, a role). A
	// *stanza.Error says why it cannot.
	CreateAccount(ctx context.Context, token string, user jid.JID, password string) error
	// Reserved reports whether an invitation keeps user's name for
	// itself (XEP-0401 §5), so that open registration cannot take it.
	Reserved(ctx context.Context, user jid.JID) (bool, error)
}

// Sessions delivers to one session; *router.Router satisfies it.
type Sessions interface {
	Deliver(full jid.JID, el *xmlstream.Element) bool
}

// Options configure a Module.
type Options struct {
	Accounts Accounts
	Sessions Sessions
	// Allow enables account creation before authentication.
	Allow bool
	// Invites, when set, lets a client that presents an invitation token
	// create an account even when Allow is off (XEP-0445).
	Invites Invites
	// Instructions are shown to a user registering (default: a short
	// English sentence).
	Instructions string
	// Burst accounts may be created at once, then one per Every (defaults
	// DefaultBurst, DefaultEvery).
	Burst int
	Every time.Duration
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// Module serves jabber:iq:register before and after authentication.
type Module struct {
	accounts     Accounts
	sessions     Sessions
	allow        bool
	invites      Invites
	instructions string
	burst        float64
	every        time.Duration
	now          func() time.Time
	log          *slog.Logger

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// New returns a module.
func New(opts Options) *Module {
	m := &Module{
		accounts: opts.Accounts, sessions: opts.Sessions, allow: opts.Allow, invites: opts.Invites,
		instructions: opts.Instructions, burst: float64(opts.Burst), every: opts.Every, now: opts.Now, log: opts.Logger,
	}
	m.instructions = cmp.Or(m.instructions, "Choose a user name and a password.")
	m.burst = cmp.Or(max(m.burst, 0), DefaultBurst)
	m.every = cmp.Or(max(m.every, 0), DefaultEvery)
	if m.now == nil {
		m.now = time.Now
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	m.tokens = m.burst
	m.last = m.now()
	return m
}

// Name implements module.Module.
func (m *Module) Name() string { return "register" }

// Register implements module.Module. Password change and removal are
// always served after authentication; registration requests before login
// are always answered (closed: service-unavailable), but the stream
// feature is offered only when registration is open.
func (m *Module) Register(r *module.Registry) {
	r.IQ("", NS, "query", m)
	r.ServerFeatures(NS)
	r.PreAuth(m)
	r.StreamFeatures(module.BeforeAuth, m.StreamFeatures()...)
}

// StreamFeatures returns the features to offer before authentication:
// registration when it is open or invitations are taken, and the
// invitation token features with invitations (XEP-0445 §3).
func (m *Module) StreamFeatures() []*xmlstream.Element {
	var out []*xmlstream.Element
	if m.invites != nil {
		out = append(out, xmlstream.New(NSTokenFeature, "register"), xmlstream.New(NSInviteFeature, "register"))
	}
	if m.allow || m.invites != nil {
		out = append(out, xmlstream.New(NSFeature, "register"))
	}
	return out
}

// stream is what one client stream established before authentication:
// the invitation token Check accepted (XEP-0445 §5), kept until the
// stream ends.
type stream struct {
	m        *Module
	token    string
	reserved string
}

// PreAuthStream implements module.PreAuthHandler.
func (m *Module) PreAuthStream() module.PreAuthFunc {
	s := &stream{m: m}
	return s.handle
}

// HandlePreAuth answers one IQ sent before authentication on a stream of
// its own (tests and one-shot callers).
func (m *Module) HandlePreAuth(ctx context.Context, domain string, iq *xmlstream.Element) *xmlstream.Element {
	return m.PreAuthStream()(ctx, domain, iq)
}

// handle answers an IQ sent before authentication on the stream s, to
// domain.
func (s *stream) handle(ctx context.Context, domain string, iq *xmlstream.Element) *xmlstream.Element {
	m := s.m
	st, err := stanza.Parse(iq)
	st.From = jid.JID{} // the client has no address yet; a claimed one means nothing
	if err != nil {
		var se *stanza.Error
		if errors.As(err, &se) && st.Type != stanza.TypeError {
			hidePassword(&st)
			return stanza.ErrorReply(&st, se)
		}
		return nil
	}
	if st.Kind != stanza.IQ || (st.Type != stanza.TypeGet && st.Type != stanza.TypeSet) {
		return nil // not ours: c2s ends the stream (authenticate first)
	}
	var reply *xmlstream.Element
	switch q := st.El.FirstChild(); {
	case q.Is(NS, "query"):
		reply, err = s.register(ctx, domain, &st)
	case q.Is(NSPreAuth, "preauth") && m.invites != nil:
		reply, err = s.preauth(ctx, domain, &st, q)
	default:
		return nil
	}
	if err != nil {
		var se *stanza.Error
		if !errors.As(err, &se) {
			m.log.LogAttrs(ctx, slog.LevelError, "registering an account", slog.Any("err", err))
			se = stanza.NewError(stanza.InternalServerError, "")
		}
		hidePassword(&st)
		return stanza.ErrorReply(&st, se)
	}
	return reply
}

// hidePassword replaces the payload of st, which an error reply would
// echo, by an empty query: XEP-0077 §3.3 says not to send a password back.
// Only st's view changes; the element itself is shared and stays intact.
func hidePassword(st *stanza.Stanza) {
	if q := st.El.FirstChild(); q != nil && q.Child(NS, "password") != nil {
		st.El = st.El.WithChildren([]xmlstream.Node{{Elem: xmlstream.New(NS, "query")}})
	}
}

// preauth accepts an invitation token for this stream (XEP-0445 §5).
// The token is checked now, expiry included, and redeemed only when the
// account is created.
func (s *stream) preauth(ctx context.Context, domain string, st *stanza.Stanza, q *xmlstream.Element) (*xmlstream.Element, error) {
	if st.Type != stanza.TypeSet {
		return nil, stanza.NewError(stanza.BadRequest, "an invitation token is sent with an IQ set")
	}
	token := q.Get("token")
	if token == "" {
		return nil, stanza.NewError(stanza.BadRequest, "the token attribute is missing")
	}
	reserved, err := s.m.invites.Check(ctx, domain, token)
	if err != nil {
		return nil, err
	}
	s.token, s.reserved = token, reserved
	return stanza.ResultIQ(st, nil), nil
}

// register serves jabber:iq:register before authentication: the fields,
// and account creation, open or by invitation.
func (s *stream) register(ctx context.Context, domain string, st *stanza.Stanza) (*xmlstream.Element, error) {
	m := s.m
	q := st.El.FirstChild()
	invited := s.token != ""
	switch {
	case invited || m.allow:
	case m.invites != nil:
		return nil, stanza.NewError(stanza.NotAllowed, "this server takes new accounts by invitation only: ask its admin for an invitation link")
	default:
		// §3.1: a host without in-band registration says so.
		return nil, stanza.NewError(stanza.ServiceUnavailable, "registration is closed: ask the server's admin for an account")
	}
	if st.Type == stanza.TypeGet {
		// An invitation for one name offers that name (XEP-0445 §2.1).
		return stanza.ResultIQ(st, xmlstream.New(NS, "query").Append(
			xmlstream.New(NS, "instructions").AppendText(m.instructions),
			xmlstream.New(NS, "username").AppendText(s.reserved),
			xmlstream.New(NS, "password"))), nil
	}
	if q.Child(NS, "remove") != nil {
		return nil, stanza.NewError(stanza.UnexpectedRequest, "authenticate before removing an account")
	}
	name, password := q.ChildText(NS, "username"), q.ChildText(NS, "password")
	if name == "" || password == "" {
		return nil, stanza.NewError(stanza.NotAcceptable, "a user name and a password are required")
	}
	user, err := jid.New(name, domain, "")
	if err != nil {
		return nil, &stanza.Error{Type: stanza.Modify, Condition: stanza.JIDMalformed, Text: "this user name is not allowed"}
	}
	if invited {
		// The invitation limits how many accounts it makes; the open
		// registration bucket is not spent on it.
		if s.reserved != "" && s.reserved != user.Local() {
			return nil, stanza.NewError(stanza.NotAllowed, "this invitation is for the name "+s.reserved)
		}
		if err := m.invites.CreateAccount(ctx, s.token, user, password); err != nil {
			return nil, err
		}
		s.token, s.reserved = "", ""
		m.log.LogAttrs(ctx, slog.LevelInfo, "account registered in-band with an invitation", slog.String("jid", user.String()))
		return stanza.ResultIQ(st, nil), nil
	}
	if m.invites != nil {
		reserved, err := m.invites.Reserved(ctx, user)
		if err != nil {
			return nil, fmt.Errorf("check reserved names: %w", err)
		}
		if reserved {
			return nil, stanza.NewError(stanza.Conflict, "this user name is taken")
		}
	}
	if !m.take() {
		return nil, &stanza.Error{Type: stanza.Wait, Condition: stanza.ResourceConstraint, Text: "too many new accounts: try again later"}
	}
	if err := m.accounts.AddUser(ctx, user.String(), password); err != nil {
		switch {
		case errors.Is(err, ErrExists):
			return nil, stanza.NewError(stanza.Conflict, "this user name is taken")
		case errors.Is(err, ErrWeakPassword):
			return nil, stanza.NewError(stanza.NotAcceptable, err.Error())
		case errors.Is(err, ErrBadUser):
			return nil, &stanza.Error{Type: stanza.Modify, Condition: stanza.JIDMalformed, Text: "this user name is not allowed"}
		}
		return nil, fmt.Errorf("create account: %w", err)
	}
	m.log.LogAttrs(ctx, slog.LevelInfo, "account registered in-band", slog.String("jid", user.String()))
	return stanza.ResultIQ(st, nil), nil
}

// take spends a token of the registration bucket, refilled at one per
// m.every up to m.burst.
func (m *Module) take() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if d := now.Sub(m.last); d > 0 {
		m.tokens = min(m.burst, m.tokens+float64(d)/float64(m.every))
	}
	m.last = now
	if m.tokens < 1 {
		return false
	}
	m.tokens--
	return true
}

// HandleStanza serves jabber:iq:register for an authenticated account:
// what is on file, password change and account removal.
func (m *Module) HandleStanza(ctx context.Context, st *stanza.Stanza) (*xmlstream.Element, error) {
	user := st.From.Bare()
	if user.Local() == "" || (!st.To.IsZero() && !st.To.Equal(user) && !st.To.Equal(user.DomainJID())) {
		return nil, stanza.NewError(stanza.ServiceUnavailable, "")
	}
	q := st.El.FirstChild()
	if !q.Is(NS, "query") {
		return nil, stanza.NewError(stanza.BadRequest, "the payload is a <query xmlns='jabber:iq:register'/>")
	}
	switch st.Type {
	case stanza.TypeGet:
		return stanza.ResultIQ(st, xmlstream.New(NS, "query").Append(
			xmlstream.New(NS, "registered"),
			xmlstream.New(NS, "username").AppendText(user.Local()),
			xmlstream.New(NS, "password"))), nil
	case stanza.TypeSet:
		if q.Child(NS, "remove") != nil {
			return nil, m.remove(ctx, st, q)
		}
		err := m.changePassword(ctx, st.From, q)
		if err != nil {
			// The router answers an error from st: keep the new password
			// out of it.
			hidePassword(st)
		}
		return nil, err
	}
	return nil, stanza.NewError(stanza.BadRequest, "")
}

// remove deletes the account (XEP-0077 §3.2). The result goes out before
// the deletion ends the sessions, so the requester sees it; it returns
// stanza.ErrReplied once it has answered.
func (m *Module) remove(ctx context.Context, st *stanza.Stanza, q *xmlstream.Element) error {
	n := 0
	for range q.Elements() {
		n++
	}
	if n != 1 {
		return stanza.NewError(stanza.BadRequest, "<remove/> must be the only child")
	}
	user := st.From.Bare()
	m.sessions.Deliver(st.From, stanza.ResultIQ(st, nil))
	if err := m.accounts.DeleteUser(ctx, user.String()); err != nil {
		// The result is already out, so the error cannot be the answer;
		// the account stays, and the operator must know.
		m.log.LogAttrs(ctx, slog.LevelError, "removing an account in-band", slog.String("jid", user.String()), slog.Any("err", err))
		return stanza.ErrReplied
	}
	m.log.LogAttrs(ctx, slog.LevelInfo, "account removed in-band", slog.String("jid", user.String()))
	return stanza.ErrReplied
}

// changePassword applies XEP-0077 §3.3 for the session from.
func (m *Module) changePassword(ctx context.Context, from jid.JID, q *xmlstream.Element) error {
	user := from.Bare()
	if u := q.Child(NS, "username"); u != nil {
		j, err := jid.New(u.Text(), user.Domain(), "")
		if err != nil || !j.Equal(user) {
			return stanza.NewError(stanza.NotAllowed, "you can only change your own password")
		}
	}
	password := q.ChildText(NS, "password")
	if password == "" {
		return stanza.NewError(stanza.BadRequest, "a new password is required")
	}
	if err := m.accounts.ChangePassword(ctx, from, password); err != nil {
		if errors.Is(err, ErrWeakPassword) {
			return stanza.NewError(stanza.NotAcceptable, err.Error())
		}
		return fmt.Errorf("change password: %w", err)
	}
	m.log.LogAttrs(ctx, slog.LevelInfo, "password changed in-band", slog.String("jid", user.String()))
	return nil
}
