package admincmd

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"roost/form"
	"roost/jid"
	"roost/module"
	"roost/stanza"
	"roost/xmlstream"
)

type fakeAccounts struct {
	pw      map[string]string
	admins  map[string]bool
	rosters map[string]int
}

func (f *fakeAccounts) AddUser(_ context.Context, user, password string) error {
	if _, ok := f.pw[user]; ok {
		return errors.New("user already exists")
	}
	if len(password) < 6 {
		return errors.New("password too short")
	}
	f.pw[user] = password
	return nil
}

func (f *fakeAccounts) DeleteUser(_ context.Context, user string) error {
	if _, ok := f.pw[user]; !ok {
		return errors.New("no such user")
	}
	delete(f.pw, user)
	return nil
}

func (f *fakeAccounts) SetPassword(_ context.Context, user, password string) error {
	if _, ok := f.pw[user]; !ok {
		return errors.New("no such user")
	}
	f.pw[user] = password
	return nil
}

func (f *fakeAccounts) IsAdmin(_ context.Context, user string) (bool, error) {
	return f.admins[user], nil
}

func (f *fakeAccounts) Users(context.Context) ([]string, error) {
	var out []string
	for u := range f.pw {
		out = append(out, u)
	}
	return out, nil
}

func (f *fakeAccounts) RosterSize(_ context.Context, user string) (int, error) {
	if _, ok := f.pw[user]; !ok {
		return 0, errors.New("no such user")
	}
	return f.rosters[user], nil
}

type fakeSessions struct {
	list      []Session
	ended     []string
	delivered []*xmlstream.Element
}

func (f *fakeSessions) Sessions() []Session { return slices.Clone(f.list) }

func (f *fakeSessions) Deliver(_ jid.JID, el *xmlstream.Element) bool {
	f.delivered = append(f.delivered, el)
	return true
}

func (f *fakeSessions) End(full jid.JID) bool {
	f.ended = append(f.ended, full.String())
	return true
}

type fixture struct {
	m        *Module
	accounts *fakeAccounts
	sessions *fakeSessions
	commands map[string]module.Command
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{
		accounts: &fakeAccounts{
			pw:      map[string]string{"mum@home.test": "mum-secret", "kid@home.test": "kid-secret", "gran@home.test": "gran-secret"},
			admins:  map[string]bool{"mum@home.test": true},
			rosters: map[string]int{"kid@home.test": 3},
		},
		sessions: &fakeSessions{list: []Session{
			{JID: jid.MustParse("kid@home.test/tablet"), IP: "192.0.2.1"},
			{JID: jid.MustParse("kid@home.test/phone"), IP: "192.0.2.2"},
			{JID: jid.MustParse("gran@home.test/pc"), IP: "192.0.2.3"},
		}},
	}
	f.m = New(Options{Accounts: f.accounts, Sessions: f.sessions, Domains: []string{"home.test"}})
	set := &module.Set{}
	set.Add(f.m)
	if err := set.Err(); err != nil {
		t.Fatal(err)
	}
	f.commands = map[string]module.Command{}
	for _, c := range set.Commands() {
		f.commands[c.Node] = c
	}
	return f
}

var mum = jid.MustParse("mum@home.test/phone")

// run executes node as mum: first stage, then (if it asks) the form
// with values.
func (f *fixture) run(t *testing.T, node string, values map[string][]string) (module.CommandResult, error) {
	t.Helper()
	c, ok := f.commands[node]
	if !ok {
		t.Fatalf("command %s not registered", node)
	}
	res, err := c.Run(context.Background(), mum, nil)
	if err != nil || !res.Next() {
		return res, err
	}
	sub := form.New(form.TypeSubmit, NS)
	for _, fl := range res.Form.Fields {
		if v, ok := values[fl.Var]; ok {
			sub.Add(form.Field{Var: fl.Var, Values: v})
		}
	}
	return c.Run(context.Background(), mum, sub)
}

func TestOnlyAdmins(t *testing.T) {
	f := newFixture(t)
	if len(f.commands) != 9 {
		t.Fatalf("%d commands, want 9", len(f.commands))
	}
	for node, c := range f.commands {
		if !c.Allowed(context.Background(), mum) {
			t.Errorf("%s: not allowed to an admin", node)
		}
		if c.Allowed(context.Background(), jid.MustParse("kid@home.test/tablet")) {
			t.Errorf("%s: allowed to a non-admin", node)
		}
	}
}

func TestCommands(t *testing.T) {
	tests := []struct {
		name     string
		node     string
		values   map[string][]string
		note     string // substring of the note
		noteType string
		fields   map[string][]string // in the result form
		err      stanza.Condition
		check    func(*fixture) bool
	}{
		{name: "add user", node: NodeAddUser,
			values: map[string][]string{"accountjid": {"dad@home.test"}, "password": {"dad-secret"}, "password-verify": {"dad-secret"}},
			note:   "Account dad@home.test made", check: func(f *fixture) bool { return f.accounts.pw["dad@home.test"] == "dad-secret" }},
		{name: "add user, passwords differ", node: NodeAddUser,
			values: map[string][]string{"accountjid": {"dad@home.test"}, "password": {"dad-secret"}, "password-verify": {"dad-secreT"}},
			note:   "differ", noteType: "error", check: func(f *fixture) bool { _, ok := f.accounts.pw["dad@home.test"]; return !ok }},
		{name: "add user, taken", node: NodeAddUser,
			values: map[string][]string{"accountjid": {"kid@home.test"}, "password": {"whatever1"}},
			note:   "already exists", noteType: "error", check: func(f *fixture) bool { return f.accounts.pw["kid@home.test"] == "kid-secret" }},
		{name: "add user, other server", node: NodeAddUser,
			values: map[string][]string{"accountjid": {"dad@elsewhere.test"}, "password": {"dad-secret"}}, err: stanza.NotAllowed},
		{name: "add user, bad address", node: NodeAddUser,
			values: map[string][]string{"accountjid": {"@@"}, "password": {"dad-secret"}}, err: stanza.JIDMalformed},
		{name: "delete users", node: NodeDeleteUser,
			values: map[string][]string{"accountjids": {"kid@home.test", "mum@home.test", "ghost@home.test"}},
			note:   "Deleted: kid@home.test.", noteType: "error",
			check: func(f *fixture) bool {
				_, kid := f.accounts.pw["kid@home.test"]
				_, mum := f.accounts.pw["mum@home.test"]
				return !kid && mum
			}},
		{name: "delete nobody", node: NodeDeleteUser, values: map[string][]string{}, err: stanza.BadRequest},
		{name: "change password", node: NodeChangePassword,
			values: map[string][]string{"accountjid": {"kid@home.test"}, "password": {"new-secret"}},
			note:   "New password set for kid@home.test", check: func(f *fixture) bool { return f.accounts.pw["kid@home.test"] == "new-secret" }},
		{name: "end one account's sessions", node: NodeEndSession,
			values: map[string][]string{"accountjids": {"kid@home.test"}},
			note:   "Ended: kid@home.test/phone, kid@home.test/tablet.",
			check:  func(f *fixture) bool { return len(f.sessions.ended) == 2 }},
		{name: "end one session", node: NodeEndSession,
			values: map[string][]string{"accountjids": {"kid@home.test/phone"}},
			note:   "Ended: kid@home.test/phone.",
			check:  func(f *fixture) bool { return slices.Equal(f.sessions.ended, []string{"kid@home.test/phone"}) }},
		{name: "online list", node: NodeOnlineList, values: map[string][]string{"max_items": {"none"}},
			fields: map[string][]string{"onlineuserjids": {"gran@home.test", "kid@home.test"}}},
		{name: "online list, limited", node: NodeOnlineList, values: map[string][]string{"max_items": {"1"}},
			fields: map[string][]string{"onlineuserjids": {"gran@home.test"}}},
		{name: "online list, bad limit", node: NodeOnlineList, values: map[string][]string{"max_items": {"-3"}}, err: stanza.BadRequest},
		{name: "online number", node: NodeOnlineNum, fields: map[string][]string{"onlineusersnum": {"2"}}},
		{name: "registered number", node: NodeRegisteredNum, fields: map[string][]string{"registeredusersnum": {"3"}}},
		{name: "user stats", node: NodeUserStats, values: map[string][]string{"accountjid": {"kid@home.test"}},
			fields: map[string][]string{"rostersize": {"3"}, "onlineresources": {"kid@home.test/tablet", "kid@home.test/phone"},
				"ipaddresses": {"192.0.2.1", "192.0.2.2"}}},
		{name: "announce", node: NodeAnnounce, values: map[string][]string{"subject": {"Dinner"}, "announcement": {"Dinner is ready", "<come down>"}},
			note: "Sent to 3 connected devices", check: func(f *fixture) bool {
				if len(f.sessions.delivered) != 3 {
					return false
				}
				m := f.sessions.delivered[0]
				return m.Get("type") == "headline" && m.Get("from") == "home.test" && m.Get("to") == "kid@home.test/tablet" &&
					m.ChildText(xmlstream.NSClient, "subject") == "Dinner" && m.ChildText(xmlstream.NSClient, "body") == "Dinner is ready\n<come down>"
			}},
		{name: "empty announcement", node: NodeAnnounce, values: map[string][]string{"announcement": {" "}}, err: stanza.BadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			res, err := f.run(t, tt.node, tt.values)
			if tt.err != "" {
				var se *stanza.Error
				if !errors.As(err, &se) || se.Condition != tt.err {
					t.Fatalf("error %v, want %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Next() {
				t.Fatal("the command asks for more after its form")
			}
			if !strings.Contains(res.Note, tt.note) || res.NoteType != tt.noteType {
				t.Errorf("note %q of type %q, want %q of type %q", res.Note, res.NoteType, tt.note, tt.noteType)
			}
			for v, want := range tt.fields {
				if res.Form == nil || res.Form.Type != form.TypeResult || !slices.Equal(res.Form.Values(v), want) {
					t.Errorf("result field %s: %v, want %v", v, res.Form, want)
				}
			}
			if tt.check != nil && !tt.check(f) {
				t.Error("the command did not have its effect")
			}
		})
	}
}
