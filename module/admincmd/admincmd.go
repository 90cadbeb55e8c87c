package admincmd

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"roost/form"
	"roost/jid"
	"roost/module"
	"roost/stanza"
	"roost/xmlstream"
)

// NS is XEP-0133's FORM_TYPE and the prefix of its command nodes.
const NS = "http://jabber.org/protocol/admin"

// Command nodes (XEP-0133 §4).
const (
	NodeAddUser          = NS + "#add-user"
	NodeDeleteUser       = NS + "#delete-user"
	NodeEndSession       = NS + "#end-user-session"
	NodeChangePassword   = NS + "#change-user-password"
	NodeUserStats        = NS + "#user-stats"
	NodeRegisteredNum    = NS + "#get-registered-users-num"
	NodeOnlineNum        = NS + "#get-online-users-num"
	NodeOnlineList       = NS + "#get-online-users-list"
	NodeAnnounce         = NS + "#announce"
	defaultOnlineListMax = 100
)

// Accounts manages accounts; users are bare JIDs as strings.
type Accounts interface {
	AddUser(ctx context.Context, user, password string) error
	DeleteUser(ctx context.Context, user string) error
	SetPassword(ctx context.Context, user, password string) error
	IsAdmin(ctx context.Context, user string) (bool, error)
	Users(ctx context.Context) ([]string, error)
	// RosterSize is how many contacts user has.
	RosterSize(ctx context.Context, user string) (int, error)
}

// Session is one bound session.
type Session struct {
	JID jid.JID
	IP  string
}

// Sessions lists, reaches and ends sessions; the server adapts its
// router.
type Sessions interface {
	Sessions() []Session
	// Deliver sends el to one session.
	Deliver(full jid.JID, el *xmlstream.Element) bool
	// End ends a session with a stream error saying an admin did.
	End(full jid.JID) bool
}

// Options configure a Module.
type Options struct {
	Accounts Accounts
	Sessions Sessions
	// Domains are the hosted domains; accounts of other servers are
	// refused.
	Domains []string
	Logger  *slog.Logger
}

// Module declares the service administration commands.
type Module struct {
	opts Options
	log  *slog.Logger
}

// New returns the module.
func New(opts Options) *Module {
	m := &Module{opts: opts, log: opts.Logger}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	return m
}

// Name implements module.Module.
func (m *Module) Name() string { return "admincmd" }

// Register implements module.Module.
func (m *Module) Register(r *module.Registry) {
	for _, c := range []struct {
		node, name string
		run        func(context.Context, jid.JID, *form.Form) (module.CommandResult, error)
	}{
		{NodeAddUser, "Add a user", m.addUser},
		{NodeDeleteUser, "Delete a user", m.deleteUser},
		{NodeChangePassword, "Change a user's password", m.changePassword},
		{NodeEndSession, "End a user's sessions", m.endSession},
		{NodeOnlineList, "List online users", m.onlineList},
		{NodeOnlineNum, "Number of online users", m.onlineNum},
		{NodeRegisteredNum, "Number of accounts", m.registeredNum},
		{NodeUserStats, "A user's statistics", m.userStats},
		{NodeAnnounce, "Send an announcement to everyone online", m.announce},
	} {
		r.Command(module.Command{Node: c.node, Name: c.name, Allowed: m.isAdmin, Run: c.run})
	}
}

// isAdmin allows the commands to the accounts with the admin role.
func (m *Module) isAdmin(ctx context.Context, requester jid.JID) bool {
	ok, err := m.opts.Accounts.IsAdmin(ctx, requester.Bare().String())
	if err != nil {
		m.log.LogAttrs(ctx, slog.LevelError, "checking the admin role", slog.String("user", requester.Bare().String()), slog.Any("err", err))
	}
	return ok
}

// request is a form asking for input.
func request(title, instructions string, fields ...form.Field) module.CommandResult {
	f := form.New(form.TypeForm, NS)
	f.Title = title
	f.Instructions = []string{instructions}
	f.Add(fields...)
	return module.CommandResult{Form: f}
}

// done is a completed command's outcome: a note, or an error note.
func done(note string) module.CommandResult { return module.CommandResult{Note: note} }

func failed(note string) module.CommandResult {
	return module.CommandResult{Note: note, NoteType: "error"}
}

// account reads a hosted account's bare JID from a field value.
func (m *Module) account(v string) (jid.JID, error) {
	j, err := jid.Parse(strings.TrimSpace(v))
	if err != nil || j.Local() == "" {
		return jid.JID{}, &stanza.Error{Type: stanza.Modify, Condition: stanza.JIDMalformed, Text: fmt.Sprintf("%q is not an account address", v)}
	}
	if !slices.Contains(m.opts.Domains, j.Domain()) {
		return jid.JID{}, stanza.NewError(stanza.NotAllowed, j.Domain()+" is not hosted here")
	}
	return j.Bare(), nil
}

// accounts reads accountjids (jid-multi).
func (m *Module) accounts(f *form.Form, v string) ([]jid.JID, error) {
	var out []jid.JID
	for _, s := range f.Values(v) {
		j, err := m.account(s)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	if len(out) == 0 {
		return nil, stanza.NewError(stanza.BadRequest, "name at least one account in "+v)
	}
	return out, nil
}

func accountField(v string, multi bool) form.Field {
	f := form.Field{Var: v, Type: form.JIDSingle, Label: "The account's address", Required: true}
	if multi {
		f.Type, f.Label = form.JIDMulti, "The accounts' addresses"
	}
	return f
}

func passwordField(v, label string) form.Field {
	return form.Field{Var: v, Type: form.TextPrivate, Label: label, Required: true}
}

// addUser: XEP-0133 §4.1.
func (m *Module) addUser(ctx context.Context, _ jid.JID, f *form.Form) (module.CommandResult, error) {
	if f == nil {
		return request("Add a user", "Choose the address and a password, then tell them both.",
			accountField("accountjid", false), passwordField("password", "Password"), passwordField("password-verify", "The password again")), nil
	}
	j, err := m.account(f.Value("accountjid"))
	if err != nil {
		return module.CommandResult{}, err
	}
	pw := f.Value("password")
	if f.Has("password-verify") && f.Value("password-verify") != pw {
		return failed("The two passwords differ: nothing was changed."), nil
	}
	if err := m.opts.Accounts.AddUser(ctx, j.String(), pw); err != nil {
		return failed("Not added: " + err.Error() + "."), nil
	}
	return done("Account " + j.String() + " made."), nil
}

// deleteUser: XEP-0133 §4.2. An admin cannot delete their own account
// this way.
func (m *Module) deleteUser(ctx context.Context, requester jid.JID, f *form.Form) (module.CommandResult, error) {
	if f == nil {
		return request("Delete users", "The accounts are removed with their contacts and waiting messages, for good.",
			accountField("accountjids", true)), nil
	}
	list, err := m.accounts(f, "accountjids")
	if err != nil {
		return module.CommandResult{}, err
	}
	var deleted, problems []string
	for _, j := range list {
		if j.Equal(requester.Bare()) {
			problems = append(problems, j.String()+": you cannot delete your own account")
			continue
		}
		if err := m.opts.Accounts.DeleteUser(ctx, j.String()); err != nil {
			problems = append(problems, j.String()+": "+err.Error())
			continue
		}
		deleted = append(deleted, j.String())
	}
	return outcome("Deleted", deleted, problems), nil
}

// outcome reports what a command did to several accounts.
func outcome(verb string, ok, problems []string) module.CommandResult {
	var b strings.Builder
	if len(ok) > 0 {
		b.WriteString(verb + ": " + strings.Join(ok, ", ") + ".")
	}
	if len(problems) > 0 {
		if b.Len() > 0 {
			b.WriteString(" ")
		}
		b.WriteString("Not done: " + strings.Join(problems, "; ") + ".")
		return failed(b.String())
	}
	return done(b.String())
}

// changePassword: XEP-0133 §4.7.
func (m *Module) changePassword(ctx context.Context, _ jid.JID, f *form.Form) (module.CommandResult, error) {
	if f == nil {
		return request("Change a user's password", "Their apps must log in again with the new password.",
			accountField("accountjid", false), passwordField("password", "New password")), nil
	}
	j, err := m.account(f.Value("accountjid"))
	if err != nil {
		return module.CommandResult{}, err
	}
	if err := m.opts.Accounts.SetPassword(ctx, j.String(), f.Value("password")); err != nil {
		return failed("Not changed: " + err.Error() + "."), nil
	}
	return done("New password set for " + j.String() + "."), nil
}

// endSession: XEP-0133 §4.5. A bare JID ends every session of the
// account, a full JID that one.
func (m *Module) endSession(_ context.Context, _ jid.JID, f *form.Form) (module.CommandResult, error) {
	if f == nil {
		return request("End sessions", "An address ends all of that account's devices; address/device ends one.",
			accountField("accountjids", true)), nil
	}
	var targets []jid.JID
	for _, s := range f.Values("accountjids") {
		j, err := jid.Parse(strings.TrimSpace(s))
		if err != nil || j.Local() == "" {
			return module.CommandResult{}, &stanza.Error{Type: stanza.Modify, Condition: stanza.JIDMalformed, Text: fmt.Sprintf("%q is not an account address", s)}
		}
		targets = append(targets, j)
	}
	if len(targets) == 0 {
		return module.CommandResult{}, stanza.NewError(stanza.BadRequest, "name at least one account in accountjids")
	}
	var ended []string
	for _, s := range m.opts.Sessions.Sessions() {
		for _, t := range targets {
			if (t.Resource() == "" && s.JID.Bare().Equal(t)) || s.JID.Equal(t) {
				if m.opts.Sessions.End(s.JID) {
					ended = append(ended, s.JID.String())
				}
				break
			}
		}
	}
	if len(ended) == 0 {
		return done("No such session was connected."), nil
	}
	slices.Sort(ended)
	return done("Ended: " + strings.Join(ended, ", ") + "."), nil
}

// onlineAccounts lists the accounts with a session, sorted.
func (m *Module) onlineAccounts() []string {
	var out []string
	for _, s := range m.opts.Sessions.Sessions() {
		out = append(out, s.JID.Bare().String())
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// onlineList: XEP-0133 §4.21, with max_items.
func (m *Module) onlineList(_ context.Context, _ jid.JID, f *form.Form) (module.CommandResult, error) {
	if f == nil {
		r := request("List online users", "How many to list at most.", form.Field{Var: "max_items", Type: form.ListSingle, Label: "Maximum number of users",
			Values: []string{strconv.Itoa(defaultOnlineListMax)}, Options: []form.Option{{Label: "25", Value: "25"}, {Label: "50", Value: "50"}, {Label: "100", Value: "100"}, {Label: "All", Value: "none"}}})
		return r, nil
	}
	limit := -1
	if v := f.Value("max_items"); v != "" && v != "none" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return module.CommandResult{}, stanza.NewError(stanza.BadRequest, "max_items must be a positive number or none")
		}
		limit = n
	}
	list := m.onlineAccounts()
	if limit >= 0 && len(list) > limit {
		list = list[:limit]
	}
	return result(form.Field{Var: "onlineuserjids", Type: form.TextMulti, Label: "Online users", Values: list}), nil
}

// result is a completed command's data form (type result).
func result(fields ...form.Field) module.CommandResult {
	f := form.New(form.TypeResult, NS)
	f.Add(fields...)
	return module.CommandResult{Form: f}
}

// onlineNum: XEP-0133 §4.17; no input.
func (m *Module) onlineNum(context.Context, jid.JID, *form.Form) (module.CommandResult, error) {
	n := len(m.onlineAccounts())
	return result(form.Field{Var: "onlineusersnum", Type: form.TextSingle, Label: "Number of online users", Values: []string{strconv.Itoa(n)}}), nil
}

// registeredNum: XEP-0133 §4.14; no input.
func (m *Module) registeredNum(ctx context.Context, _ jid.JID, _ *form.Form) (module.CommandResult, error) {
	users, err := m.opts.Accounts.Users(ctx)
	if err != nil {
		return module.CommandResult{}, fmt.Errorf("admincmd: list accounts: %w", err)
	}
	return result(form.Field{Var: "registeredusersnum", Type: form.TextSingle, Label: "Number of accounts", Values: []string{strconv.Itoa(len(users))}}), nil
}

// userStats: XEP-0133 §4.10.
func (m *Module) userStats(ctx context.Context, _ jid.JID, f *form.Form) (module.CommandResult, error) {
	if f == nil {
		return request("A user's statistics", "Whose?", accountField("accountjid", false)), nil
	}
	j, err := m.account(f.Value("accountjid"))
	if err != nil {
		return module.CommandResult{}, err
	}
	n, err := m.opts.Accounts.RosterSize(ctx, j.String())
	if err != nil {
		return failed("No statistics: " + err.Error() + "."), nil
	}
	var resources, ips []string
	for _, s := range m.opts.Sessions.Sessions() {
		if s.JID.Bare().Equal(j) {
			resources = append(resources, s.JID.String())
			ips = append(ips, s.IP)
		}
	}
	return result(
		form.Field{Var: "accountjid", Type: form.JIDSingle, Label: "Account", Values: []string{j.String()}},
		form.Field{Var: "rostersize", Type: form.TextSingle, Label: "Number of contacts", Values: []string{strconv.Itoa(n)}},
		form.Field{Var: "onlineresources", Type: form.TextMulti, Label: "Connected devices", Values: resources},
		form.Field{Var: "ipaddresses", Type: form.TextMulti, Label: "Their addresses", Values: ips},
	), nil
}

// announce: XEP-0133 §4.23. The announcement goes to every connected
// session as a headline message from the domain.
func (m *Module) announce(ctx context.Context, requester jid.JID, f *form.Form) (module.CommandResult, error) {
	if f == nil {
		return request("Send an announcement", "Everyone connected right now gets it.",
			form.Field{Var: "subject", Type: form.TextSingle, Label: "Subject"},
			form.Field{Var: "announcement", Type: form.TextMulti, Label: "Announcement", Required: true}), nil
	}
	body := strings.Join(f.Values("announcement"), "\n")
	if strings.TrimSpace(body) == "" {
		return module.CommandResult{}, stanza.NewError(stanza.BadRequest, "the announcement is empty")
	}
	subject := f.Value("subject")
	n := 0
	for _, s := range m.opts.Sessions.Sessions() {
		msg := xmlstream.New(xmlstream.NSClient, "message").SetAttr("from", s.JID.Domain()).SetAttr("to", s.JID.String()).SetAttr("type", "headline")
		if subject != "" {
			msg.Append(xmlstream.New(xmlstream.NSClient, "subject").AppendText(subject))
		}
		msg.Append(xmlstream.New(xmlstream.NSClient, "body").AppendText(body))
		if m.opts.Sessions.Deliver(s.JID, msg) {
			n++
		}
	}
	m.log.LogAttrs(ctx, slog.LevelInfo, "announcement sent", slog.String("by", requester.Bare().String()), slog.Int("sessions", n))
	return done(fmt.Sprintf("Sent to %d connected devices.", n)), nil
}
