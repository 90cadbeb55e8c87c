package last

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"roost/internal/xmpptest"
	"roost/jid"
	"roost/stanza"
	"roost/xmlstream"
)

type record struct {
	at     time.Time
	status string
}

type fakeStore struct {
	mu      sync.Mutex
	last    map[string]record
	commits int
	fail    bool
}

func (f *fakeStore) LastActivity(user string) (time.Time, string, bool, error) {
	if user == "broken@example.com" {
		return time.Time{}, "", false, errors.New("disk on fire")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.last[user]
	return r.at, r.status, ok, nil
}

func (f *fakeStore) SetLastActivities(logouts []Logout) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return errors.New("disk full")
	}
	f.commits++
	for _, l := range logouts {
		f.last[l.User] = record{l.At, l.Status}
	}
	return nil
}

// fakeSessions: bare → full JIDs, and which are available.
type fakeSessions struct {
	connected map[string][]jid.JID
	available map[string][]jid.JID
}

func (f *fakeSessions) Connected(bare jid.JID) []jid.JID { return f.connected[bare.String()] }
func (f *fakeSessions) Available(bare jid.JID) []jid.JID { return f.available[bare.String()] }

func subscription(_ context.Context, user, contact jid.JID) (string, error) {
	if user.String() != "juliet@example.com" {
		return "none", nil
	}
	return map[string]string{"romeo@example.com": "from", "nurse@example.com": "both", "tybalt@example.com": "to"}[contact.String()], nil
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestHandleStanza(t *testing.T) {
	now := t0.Add(time.Hour)
	st := &fakeStore{last: map[string]record{
		"juliet@example.com": {now.Add(-903 * time.Second), "Heading Home"},
		"romeo@example.com":  {now.Add(-5 * time.Second), ""},
		"future@example.com": {now.Add(time.Minute), ""},
	}}
	sess := &fakeSessions{available: map[string][]jid.JID{"nurse@example.com": {jid.MustParse("nurse@example.com/kitchen")}}}
	m := New(Options{Store: st, Sessions: sess, Subscription: subscription, Started: t0, Now: func() time.Time { return now }})
	tests := []struct {
		name string
		in   string
		want string
		err  stanza.Condition
	}{
		{"server uptime", `<iq type='get' id='l' from='romeo@example.com/orchard' to='example.com'><query xmlns='jabber:iq:last'/></iq>`,
			`<query xmlns="jabber:iq:last" seconds="3600"/>`, ""},
		{"subscribed contact, offline user", `<iq type='get' id='l' from='romeo@example.com/orchard' to='juliet@example.com'><query xmlns='jabber:iq:last'/></iq>`,
			`<query xmlns="jabber:iq:last" seconds="903">Heading Home</query>`, ""},
		{"contact with both", `<iq type='get' id='l' from='nurse@example.com/kitchen' to='juliet@example.com'><query xmlns='jabber:iq:last'/></iq>`,
			`<query xmlns="jabber:iq:last" seconds="903">Heading Home</query>`, ""},
		{"own account, no to", `<iq type='get' id='l' from='juliet@example.com/balcony'><query xmlns='jabber:iq:last'/></iq>`,
			`<query xmlns="jabber:iq:last" seconds="903">Heading Home</query>`, ""},
		{"own account, bare to", `<iq type='get' id='l' from='romeo@example.com/orchard' to='romeo@example.com'><query xmlns='jabber:iq:last'/></iq>`,
			`<query xmlns="jabber:iq:last" seconds="5"/>`, ""},
		{"online user", `<iq type='get' id='l' from='nurse@example.com/kitchen' to='nurse@example.com'><query xmlns='jabber:iq:last'/></iq>`,
			`<query xmlns="jabber:iq:last" seconds="0"/>`, ""},
		{"clock stepped back", `<iq type='get' id='l' from='future@example.com/x'><query xmlns='jabber:iq:last'/></iq>`,
			`<query xmlns="jabber:iq:last" seconds="0"/>`, ""},
		{"contact with to only", `<iq type='get' id='l' from='tybalt@example.com/street' to='juliet@example.com'><query xmlns='jabber:iq:last'/></iq>`,
			"", stanza.Forbidden},
		{"stranger", `<iq type='get' id='l' from='paris@example.com/church' to='juliet@example.com'><query xmlns='jabber:iq:last'/></iq>`,
			"", stanza.Forbidden},
		{"never logged out", `<iq type='get' id='l' from='newbie@example.com/x'><query xmlns='jabber:iq:last'/></iq>`,
			"", stanza.ServiceUnavailable},
		{"set", `<iq type='set' id='l' from='juliet@example.com/balcony'><query xmlns='jabber:iq:last'/></iq>`,
			"", stanza.BadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reply, err := m.HandleStanza(context.Background(), xmpptest.Stanza(t, tc.in))
			if tc.err != "" {
				if !errors.Is(err, &stanza.Error{Condition: tc.err}) {
					t.Fatalf("err = %v, want %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := string(xmlstream.AppendElement(nil, reply.FirstChild(), xmlstream.NSClient)); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestNoSubscriptionLookup(t *testing.T) {
	m := New(Options{Store: &fakeStore{last: map[string]record{}}, Sessions: &fakeSessions{}})
	st := xmpptest.Stanza(t, `<iq type='get' id='l' from='romeo@example.com/orchard' to='juliet@example.com'><query xmlns='jabber:iq:last'/></iq>`)
	if _, err := m.HandleStanza(context.Background(), st); !errors.Is(err, &stanza.Error{Condition: stanza.Forbidden}) {
		t.Fatalf("err = %v, want forbidden", err)
	}
}

func TestStoreError(t *testing.T) {
	m := New(Options{Store: &fakeStore{}, Sessions: &fakeSessions{}})
	st := xmpptest.Stanza(t, `<iq type='get' id='l' from='broken@example.com/x'><query xmlns='jabber:iq:last'/></iq>`)
	_, err := m.HandleStanza(context.Background(), st)
	var se *stanza.Error
	if err == nil || errors.As(err, &se) {
		t.Fatalf("err = %v, want an internal error", err)
	}
}

func TestRecording(t *testing.T) {
	long := strings.Repeat("é", maxStatus) // 2 bytes each: must be cut on a character boundary
	balcony := jid.MustParse("juliet@example.com/balcony")
	tests := []struct {
		name         string
		presences    []string // broadcast by juliet@example.com/balcony
		available    []string // her available resources while she sends them
		ends         bool     // then her session ends
		wasAvailable bool     // available when it ended
		wantStored   bool
		wantStatus   string
	}{
		{"unavailable with status, then the session ends",
			[]string{`<presence type='unavailable'><status>Heading Home</status></presence>`}, []string{"juliet@example.com/balcony"}, true, false, true, "Heading Home"},
		{"unavailable, still connected",
			[]string{`<presence type='unavailable'><status>brb</status></presence>`}, []string{"juliet@example.com/balcony"}, false, false, true, "brb"},
		{"dropped connection of an available session", nil, nil, true, true, true, ""},
		{"a session that never was available", nil, nil, true, false, false, ""},
		{"directed presence is ignored",
			[]string{`<presence type='unavailable' to='romeo@example.com'><status>secret</status></presence>`}, []string{"juliet@example.com/balcony"}, false, false, false, ""},
		{"another resource stays available",
			[]string{`<presence type='unavailable'><status>bye</status></presence>`}, []string{"juliet@example.com/balcony", "juliet@example.com/chamber"}, false, false, false, ""},
		{"long status is cut",
			[]string{`<presence type='unavailable'><status>` + long + `</status></presence>`}, []string{"juliet@example.com/balcony"}, false, false, true, long[:maxStatus]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now := t0.Add(time.Minute)
			st := &fakeStore{last: map[string]record{}}
			sess := &fakeSessions{available: map[string][]jid.JID{}}
			for _, r := range tc.available {
				sess.available["juliet@example.com"] = append(sess.available["juliet@example.com"], jid.MustParse(r))
			}
			m := New(Options{Store: st, Sessions: sess, Now: func() time.Time { return now }})
			for _, p := range tc.presences {
				s := xmpptest.Stanza(t, p)
				s.From = balcony
				if done, err := m.Intercept(context.Background(), s); done || err != nil {
					t.Fatalf("Intercept = %v, %v; want it to pass everything", done, err)
				}
			}
			if tc.ends {
				delete(sess.available, "juliet@example.com") // the router forgets her first
				m.SessionEnded(context.Background(), balcony, tc.wasAvailable)
			}
			m.commit(context.Background())
			got, ok := st.last["juliet@example.com"]
			if ok != tc.wantStored {
				t.Fatalf("stored = %v, want %v", ok, tc.wantStored)
			}
			if ok && (got.status != tc.wantStatus || !got.at.Equal(now)) {
				t.Errorf("stored %q at %v, want %q at %v", got.status, got.at, tc.wantStatus, now)
			}
		})
	}
}

// TestCommits: logouts are committed together by the job, answered from
// memory until then, kept when a commit fails, committed when the server
// stops, and forgotten with their account.
func TestCommits(t *testing.T) {
	now := t0.Add(time.Hour)
	st := &fakeStore{last: map[string]record{}}
	sess := &fakeSessions{}
	m := New(Options{Store: st, Sessions: sess, Now: func() time.Time { return now }, FlushEvery: time.Hour})
	for _, u := range []string{"juliet@example.com/a", "romeo@example.com/b", "nurse@example.com/c"} {
		m.SessionEnded(context.Background(), jid.MustParse(u), true)
	}
	ask := xmpptest.Stanza(t, `<iq type='get' id='l' from='juliet@example.com/x'><query xmlns='jabber:iq:last'/></iq>`)
	if reply, err := m.HandleStanza(context.Background(), ask); err != nil || reply.FirstChild().Get("seconds") != "0" {
		t.Fatalf("before the commit: %v, %v; want the pending logout, 0 seconds ago", reply, err)
	}
	if st.commits != 0 {
		t.Fatalf("%d commits before the job ran, want none", st.commits)
	}
	st.fail = true
	m.commit(context.Background())
	st.fail = false
	m.AccountDeleted(context.Background(), jid.MustParse("nurse@example.com"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the server stops: Run commits what is pending and returns
	if err := m.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if st.commits != 1 || len(st.last) != 2 {
		t.Errorf("%d commits of %v, want one of juliet and romeo (nurse was deleted)", st.commits, st.last)
	}
	if n := len(m.pending); n != 0 {
		t.Errorf("%d logouts still pending after the commit", n)
	}
}

func FuzzTruncate(f *testing.F) {
	f.Add("Heading Home", 5)
	f.Add("ééé", 3)
	f.Add("\xff\xfe", 1)
	f.Fuzz(func(t *testing.T, s string, n int) {
		if n < 0 || n > 2*len(s)+1 {
			return
		}
		got := truncate(s, n)
		if len(got) > n || !strings.HasPrefix(s, got) {
			t.Fatalf("truncate(%q, %d) = %q", s, n, got)
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("truncate(%q, %d) = %q splits a character", s, n, got)
		}
	})
}
