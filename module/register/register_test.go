package register

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"roost/internal/xmpptest"
	"roost/jid"
	"roost/stanza"
	"roost/xmlstream"
)

// fakeAccounts records calls in log, shared with fakeSessions so that the
// order of delivery and deletion shows.
type fakeAccounts struct {
	mu    sync.Mutex
	users map[string]string
	log   *[]string
}

func (f *fakeAccounts) AddUser(_ context.Context, user, password string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case strings.HasPrefix(user, "broken@"):
		return errors.New("disk on fire")
	case strings.HasPrefix(user, "admin@"):
		return fmt.Errorf("%w: reserved", ErrBadUser)
	case len(password) < 6:
		return fmt.Errorf("%w: password too short: use at least 6 characters", ErrWeakPassword)
	}
	if _, ok := f.users[user]; ok {
		return fmt.Errorf("%w: %s", ErrExists, user)
	}
	f.users[user] = password
	*f.log = append(*f.log, "add "+user)
	return nil
}

func (f *fakeAccounts) ChangePassword(_ context.Context, session jid.JID, password string) error {
	user := session.Bare().String()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(password) < 6 {
		return fmt.Errorf("%w: password too short: use at least 6 characters", ErrWeakPassword)
	}
	f.users[user] = password
	*f.log = append(*f.log, "passwd "+user)
	return nil
}

func (f *fakeAccounts) DeleteUser(_ context.Context, user string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.users, user)
	*f.log = append(*f.log, "delete "+user)
	return nil
}

type fakeSessions struct{ log *[]string }

func (f fakeSessions) Deliver(full jid.JID, el *xmlstream.Element) bool {
	*f.log = append(*f.log, fmt.Sprintf("deliver %s %s to %s", el.Get("type"), el.Get("id"), full))
	return true
}

type world struct {
	m        *Module
	accounts *fakeAccounts
	log      []string
	now      time.Time
}

func newWorld(allow bool, burst int) *world {
	w := &world{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	w.accounts = &fakeAccounts{users: map[string]string{"juliet@example.com": "balcony-secret"}, log: &w.log}
	w.m = New(Options{Accounts: w.accounts, Sessions: fakeSessions{&w.log}, Allow: allow, Burst: burst, Every: time.Minute,
		Now: func() time.Time { return w.now }})
	return w
}

func encode(el *xmlstream.Element) string {
	if el == nil {
		return "<nil>"
	}
	return string(xmlstream.AppendElement(nil, el, xmlstream.NSClient))
}

func TestPreAuth(t *testing.T) {
	const fields = `<iq type="result" id="r1"><query xmlns="jabber:iq:register"><instructions>Choose a user name and a password.</instructions><username/><password/></query></iq>`
	tests := []struct {
		name  string
		allow bool
		in    string
		want  string // the whole reply
		added []string
	}{
		{"off: fields refused", false, `<iq type='get' id='r1'><query xmlns='jabber:iq:register'/></iq>`,
			`<iq type="error" id="r1"><query xmlns="jabber:iq:register"/><error type="cancel"><service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/><text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas" xml:lang="en">registration is closed: ask the server's admin for an account</text></error></iq>`, nil},
		{"off: registration refused", false, `<iq type='set' id='r2'><query xmlns='jabber:iq:register'><username>romeo</username><password>orchard-secret</password></query></iq>`,
			`<iq type="error" id="r2"><query xmlns="jabber:iq:register"/><error type="cancel"><service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/><text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas" xml:lang="en">registration is closed: ask the server's admin for an account</text></error></iq>`, nil},
		{"fields", true, `<iq type='get' id='r1'><query xmlns='jabber:iq:register'/></iq>`, fields, nil},
		{"fields, to the domain", true, `<iq type='get' id='r1' to='example.com'><query xmlns='jabber:iq:register'/></iq>`,
			strings.Replace(fields, `id="r1">`, `id="r1" from="example.com">`, 1), nil},
		{"register", true, `<iq type='set' id='r2'><query xmlns='jabber:iq:register'><username>Romeo</username><password>orchard-secret</password></query></iq>`,
			`<iq type="result" id="r2"/>`, []string{"add romeo@example.com"}},
		{"a claimed from is ignored", true, `<iq type='set' id='r2' from='juliet@example.com/x'><query xmlns='jabber:iq:register'><username>romeo</username><password>orchard-secret</password></query></iq>`,
			`<iq type="result" id="r2"/>`, []string{"add romeo@example.com"}},
		{"taken", true, `<iq type='set' id='r3'><query xmlns='jabber:iq:register'><username>juliet</username><password>orchard-secret</password></query></iq>`,
			`<iq type="error" id="r3"><query xmlns="jabber:iq:register"/><error type="cancel"><conflict xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/><text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas" xml:lang="en">this user name is taken</text></error></iq>`, nil},
		{"no password", true, `<iq type='set' id='r4'><query xmlns='jabber:iq:register'><username>romeo</username><password/></query></iq>`,
			`<iq type="error" id="r4"><query xmlns="jabber:iq:register"/><error type="modify"><not-acceptable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/><text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas" xml:lang="en">a user name and a password are required</text></error></iq>`, nil},
		{"weak password, not echoed", true, `<iq type='set' id='r5'><query xmlns='jabber:iq:register'><username>romeo</username><password>123</password></query></iq>`,
			`<iq type="error" id="r5"><query xmlns="jabber:iq:register"/><error type="modify"><not-acceptable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/><text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas" xml:lang="en">password refused: password too short: use at least 6 characters</text></error></iq>`, nil},
		{"invalid name", true, `<iq type='set' id='r6'><query xmlns='jabber:iq:register'><username>a@b</username><password>orchard-secret</password></query></iq>`,
			`<iq type="error" id="r6"><query xmlns="jabber:iq:register"/><error type="modify"><jid-malformed xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/><text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas" xml:lang="en">this user name is not allowed</text></error></iq>`, nil},
		{"name the server refuses", true, `<iq type='set' id='r6'><query xmlns='jabber:iq:register'><username>admin</username><password>orchard-secret</password></query></iq>`,
			`<iq type="error" id="r6"><query xmlns="jabber:iq:register"/><error type="modify"><jid-malformed xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/><text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas" xml:lang="en">this user name is not allowed</text></error></iq>`, nil},
		{"store failure", true, `<iq type='set' id='r7'><query xmlns='jabber:iq:register'><username>broken</username><password>orchard-secret</password></query></iq>`,
			`<iq type="error" id="r7"><query xmlns="jabber:iq:register"/><error type="cancel"><internal-server-error xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`, nil},
		{"remove before authentication", true, `<iq type='set' id='r8'><query xmlns='jabber:iq:register'><remove/></query></iq>`,
			`<iq type="error" id="r8"><query xmlns="jabber:iq:register"><remove/></query><error type="wait"><unexpected-request xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/><text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas" xml:lang="en">authenticate before removing an account</text></error></iq>`, nil},
		// Not a registration request: no answer, c2s ends the stream.
		{"other namespace", true, `<iq type='get' id='r9' to='example.com'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
			`<nil>`, nil},
		{"malformed IQ", true, `<iq type='get'><query xmlns='jabber:iq:register'/></iq>`,
			`<iq type="error"><query xmlns="jabber:iq:register"/><error type="modify"><bad-request xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/><text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas" xml:lang="en">an IQ needs an id</text></error></iq>`, nil},
		{"result", true, `<iq type='result' id='x'/>`, "<nil>", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(tc.allow, 0)
			got := encode(w.m.HandlePreAuth(context.Background(), "example.com", xmpptest.Element(t, tc.in)))
			if got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			if !slices.Equal(w.log, tc.added) {
				t.Errorf("accounts: %v, want %v", w.log, tc.added)
			}
		})
	}
}

func TestStreamFeatures(t *testing.T) {
	if f := newWorld(false, 0).m.StreamFeatures(); len(f) != 0 {
		t.Errorf("registration off offers %v", f)
	}
	f := newWorld(true, 0).m.StreamFeatures()
	if len(f) != 1 || !f[0].Is(NSFeature, "register") {
		t.Errorf("registration on offers %v", f)
	}
}

func TestRateLimit(t *testing.T) {
	w := newWorld(true, 2)
	register := func(name string) string {
		el := xmpptest.Element(t, `<iq type='set' id='r'><query xmlns='jabber:iq:register'><username>`+name+`</username><password>a-good-secret</password></query></iq>`)
		reply := w.m.HandlePreAuth(context.Background(), "example.com", el)
		if reply.Get("type") == "result" {
			return "ok"
		}
		return string(stanza.ParseError(reply).Condition)
	}
	steps := []struct {
		advance time.Duration
		name    string
		want    string
	}{
		{0, "a", "ok"},
		{0, "b", "ok"},
		{0, "c", "resource-constraint"},
		{30 * time.Second, "c", "resource-constraint"},
		{30 * time.Second, "c", "ok"},
		{0, "d", "resource-constraint"},
		{time.Hour, "d", "ok"},
		{0, "e", "ok"},
		{0, "f", "resource-constraint"},
	}
	for i, s := range steps {
		w.now = w.now.Add(s.advance)
		if got := register(s.name); got != s.want {
			t.Errorf("step %d (%s after %v): got %s, want %s", i, s.name, s.advance, got, s.want)
		}
	}
}

func TestAuthenticated(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // reply payload; "" for an empty result
		err  stanza.Condition
		log  []string
		pw   string // juliet's password afterwards
	}{
		{name: "what is on file", in: `<iq type='get' id='a' from='juliet@example.com/balcony' to='example.com'><query xmlns='jabber:iq:register'/></iq>`,
			want: `<query xmlns="jabber:iq:register"><registered/><username>juliet</username><password/></query>`, pw: "balcony-secret"},
		{name: "change password", in: `<iq type='set' id='a' from='juliet@example.com/balcony' to='example.com'><query xmlns='jabber:iq:register'><username>juliet</username><password>new-secret</password></query></iq>`,
			log: []string{"passwd juliet@example.com"}, pw: "new-secret"},
		{name: "change password without username, no to", in: `<iq type='set' id='a' from='juliet@example.com/balcony'><query xmlns='jabber:iq:register'><password>new-secret</password></query></iq>`,
			log: []string{"passwd juliet@example.com"}, pw: "new-secret"},
		{name: "username is compared canonically", in: `<iq type='set' id='a' from='juliet@example.com/balcony' to='juliet@example.com'><query xmlns='jabber:iq:register'><username>JULIET</username><password>new-secret</password></query></iq>`,
			log: []string{"passwd juliet@example.com"}, pw: "new-secret"},
		{name: "someone else's password", in: `<iq type='set' id='a' from='juliet@example.com/balcony'><query xmlns='jabber:iq:register'><username>romeo</username><password>new-secret</password></query></iq>`,
			err: stanza.NotAllowed, pw: "balcony-secret"},
		{name: "empty password", in: `<iq type='set' id='a' from='juliet@example.com/balcony'><query xmlns='jabber:iq:register'><username>juliet</username><password/></query></iq>`,
			err: stanza.BadRequest, pw: "balcony-secret"},
		{name: "weak password", in: `<iq type='set' id='a' from='juliet@example.com/balcony'><query xmlns='jabber:iq:register'><password>123</password></query></iq>`,
			err: stanza.NotAcceptable, pw: "balcony-secret"},
		{name: "remove", in: `<iq type='set' id='a' from='juliet@example.com/balcony'><query xmlns='jabber:iq:register'><remove/></query></iq>`,
			log: []string{"deliver result a to juliet@example.com/balcony", "delete juliet@example.com"}},
		{name: "remove with other children", in: `<iq type='set' id='a' from='juliet@example.com/balcony'><query xmlns='jabber:iq:register'><remove/><username>juliet</username></query></iq>`,
			err: stanza.BadRequest, pw: "balcony-secret"},
		{name: "another account", in: `<iq type='set' id='a' from='romeo@example.com/orchard' to='juliet@example.com'><query xmlns='jabber:iq:register'><remove/></query></iq>`,
			err: stanza.ServiceUnavailable, pw: "balcony-secret"},
		{name: "wrong payload", in: `<iq type='get' id='a' from='juliet@example.com/balcony'><remove xmlns='jabber:iq:register'/></iq>`,
			err: stanza.BadRequest, pw: "balcony-secret"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(false, 0)
			st := xmpptest.Stanza(t, tc.in)
			reply, err := w.m.HandleStanza(context.Background(), st)
			if errors.Is(err, stanza.ErrReplied) {
				if tc.want != "" || tc.err != "" {
					t.Fatalf("answered itself, want %s%s", tc.want, tc.err)
				}
				err = nil // checked through the log
			}
			switch {
			case tc.err != "":
				if !errors.Is(err, &stanza.Error{Condition: tc.err}) {
					t.Fatalf("err = %v, want %s", err, tc.err)
				}
				// The error the router will build from st never carries a
				// password.
				var se *stanza.Error
				errors.As(err, &se)
				if e := encode(stanza.ErrorReply(st, se)); strings.Contains(e, "secret") || strings.Contains(e, ">123<") {
					t.Errorf("error reply echoes the password: %s", e)
				}
			case err != nil:
				t.Fatal(err)
			case tc.want == "":
				if reply != nil {
					t.Errorf("got %s, want an empty result", encode(reply))
				}
			default:
				if got := encode(reply.FirstChild()); got != tc.want {
					t.Errorf("got  %s\nwant %s", got, tc.want)
				}
			}
			if !slices.Equal(w.log, tc.log) {
				t.Errorf("log %v, want %v", w.log, tc.log)
			}
			if pw := w.accounts.users["juliet@example.com"]; pw != tc.pw {
				t.Errorf("password %q, want %q", pw, tc.pw)
			}
		})
	}
}

// FuzzPreAuth: whatever an unauthenticated client sends, the answer is
// nothing or an IQ result or error with the request's id, and an error
// never echoes a password.
func FuzzPreAuth(f *testing.F) {
	f.Add(`<iq type='set' id='r'><query xmlns='jabber:iq:register'><username>romeo</username><password>orchard-secret</password></query></iq>`)
	f.Add(`<iq type='set' id='r'><query xmlns='jabber:iq:register'><username>a@b</username><password>orchard-secret</password></query></iq>`)
	f.Add(`<iq type='get' id='r'><query xmlns='jabber:iq:register'/></iq>`)
	f.Add(`<iq type='set' id='r'><query xmlns='jabber:iq:register'><username>juliet</username><password>x</password><remove/></query></iq>`)
	f.Add(`<iq type='error' id='r'/>`)
	f.Fuzz(func(t *testing.T, in string) {
		d := xmlstream.NewDecoder(strings.NewReader(`<s xmlns='jabber:client'>`+in), xmlstream.Limits{})
		if _, err := d.ReadHeader(); err != nil {
			return
		}
		el, err := d.ReadElement()
		if err != nil || !el.Is(xmlstream.NSClient, "iq") {
			return
		}
		w := newWorld(true, 1000)
		reply := w.m.HandlePreAuth(context.Background(), "example.com", el)
		if reply == nil {
			return
		}
		if !reply.Is(xmlstream.NSClient, "iq") || reply.Get("id") != el.Get("id") {
			t.Fatalf("reply %s to %s", encode(reply), in)
		}
		switch reply.Get("type") {
		case "result":
		case "error":
			if pw := el.FirstChild().ChildText(NS, "password"); pw != "" && strings.Contains(encode(reply), "<password>") {
				t.Fatalf("error echoes the password: %s", encode(reply))
			}
		default:
			t.Fatalf("reply of type %q", reply.Get("type"))
		}
	})
}
