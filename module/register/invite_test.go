package register

import (
	"context"
	"strings"
	"testing"
	"time"

	"roost/internal/xmpptest"
	"roost/jid"
	"roost/stanza"
)

// fakeInvites accepts the tokens it holds; "bob-only" reserves the name
// bob, and a token is used up by one account.
type fakeInvites struct {
	tokens   map[string]string // token → reserved name
	accounts *fakeAccounts
	redeemed []string
}

func (f *fakeInvites) Check(_ context.Context, _, token string) (string, error) {
	reserved, ok := f.tokens[token]
	if !ok {
		return "", &stanza.Error{Type: stanza.Cancel, Condition: stanza.ItemNotFound, Text: "this invitation is not valid: it may have expired or been used"}
	}
	return reserved, nil
}

func (f *fakeInvites) CreateAccount(ctx context.Context, token string, user jid.JID, password string) error {
	if _, ok := f.tokens[token]; !ok {
		return &stanza.Error{Type: stanza.Cancel, Condition: stanza.ItemNotFound, Text: "this invitation was used meanwhile"}
	}
	if err := f.accounts.AddUser(ctx, user.String(), password); err != nil {
		return stanza.NewError(stanza.Conflict, "this user name is taken")
	}
	delete(f.tokens, token)
	f.redeemed = append(f.redeemed, token+" "+user.String())
	return nil
}

func (f *fakeInvites) Reserved(_ context.Context, user jid.JID) (bool, error) {
	for _, name := range f.tokens {
		if name == user.Local() {
			return true, nil
		}
	}
	return false, nil
}

func TestInvitedRegistration(t *testing.T) {
	const (
		preauth  = `<iq type='set' id='p1' to='example.com'><preauth xmlns='urn:xmpp:pars:0' token='%s'/></iq>`
		register = `<iq type='set' id='r1'><query xmlns='jabber:iq:register'><username>%s</username><password>orchard-secret</password></query></iq>`
		get      = `<iq type='get' id='g1'><query xmlns='jabber:iq:register'/></iq>`
	)
	type step struct{ in, wantType, wantText string }
	tests := []struct {
		name     string
		allow    bool
		steps    []step
		redeemed []string
	}{
		{"closed without a token", false, []step{
			{strings.Replace(register, "%s", "romeo", 1), "error", "by invitation only"},
		}, nil},
		{"forged token", false, []step{
			{strings.Replace(preauth, "%s", "forged", 1), "error", "not valid"},
			{strings.Replace(register, "%s", "romeo", 1), "error", "by invitation only"},
		}, nil},
		{"token then registration", false, []step{
			{strings.Replace(preauth, "%s", "good", 1), "result", ""},
			{get, "result", ""},
			{strings.Replace(register, "%s", "romeo", 1), "result", ""},
			// The token is spent: a second account on the stream needs another.
			{strings.Replace(register, "%s", "mercutio", 1), "error", "by invitation only"},
		}, []string{"good romeo@example.com"}},
		{"reserved name", false, []step{
			{strings.Replace(preauth, "%s", "bob-only", 1), "result", ""},
			{strings.Replace(register, "%s", "romeo", 1), "error", "for the name bob"},
			{strings.Replace(register, "%s", "bob", 1), "result", ""},
		}, []string{"bob-only bob@example.com"}},
		{"open registration cannot take a reserved name", true, []step{
			{strings.Replace(register, "%s", "bob", 1), "error", "taken"},
			{strings.Replace(register, "%s", "tybalt", 1), "result", ""},
		}, nil},
		{"token without its attribute", false, []step{
			{`<iq type='set' id='p1'><preauth xmlns='urn:xmpp:pars:0'/></iq>`, "error", "token attribute"},
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(tc.allow, 5)
			inv := &fakeInvites{tokens: map[string]string{"good": "", "bob-only": "bob"}, accounts: w.accounts}
			w.m = New(Options{Accounts: w.accounts, Sessions: fakeSessions{&w.log}, Allow: tc.allow, Invites: inv,
				Now: func() time.Time { return w.now }})
			handle := w.m.PreAuthStream()
			for i, st := range tc.steps {
				reply := handle(context.Background(), "example.com", xmpptest.Element(t, st.in))
				if reply == nil {
					t.Fatalf("step %d: no reply", i)
				}
				if got := reply.Get("type"); got != st.wantType {
					t.Errorf("step %d: reply %s, want type %s", i, encode(reply), st.wantType)
				}
				if st.wantText != "" && !strings.Contains(encode(reply), st.wantText) {
					t.Errorf("step %d: reply %s, want text %q", i, encode(reply), st.wantText)
				}
				if strings.Contains(encode(reply), "orchard-secret") {
					t.Errorf("step %d: reply echoes the password: %s", i, encode(reply))
				}
			}
			if strings.Join(inv.redeemed, ",") != strings.Join(tc.redeemed, ",") {
				t.Errorf("redeemed %q, want %q", inv.redeemed, tc.redeemed)
			}
		})
	}
}

func TestInviteStreamFeatures(t *testing.T) {
	var got []string
	m := New(Options{Invites: &fakeInvites{}})
	for _, f := range m.StreamFeatures() {
		got = append(got, f.Name.Space)
	}
	want := []string{NSTokenFeature, NSInviteFeature, NSFeature}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("features %q, want %q", got, want)
	}
	if n := len(New(Options{}).StreamFeatures()); n != 0 {
		t.Errorf("closed, no invitations: %d features, want none", n)
	}
}
