package offline

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"roost/internal/xmpptest"
	"roost/jid"
	"roost/stanza"
	"roost/store"
	"roost/xmlstream"
)

type sink struct {
	got       []*xmlstream.Element
	limit     int       // refuse after this many (0: never)
	available []jid.JID // what Available answers
}

func (s *sink) Available(jid.JID) []jid.JID { return s.available }

func (s *sink) Deliver(_ jid.JID, el *xmlstream.Element) bool {
	if s.limit > 0 && len(s.got) >= s.limit {
		return false
	}
	s.got = append(s.got, el)
	return true
}

func setup(t *testing.T, max int) (*Offline, *store.Store, *sink) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "roost.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.CreateAccount(store.Account{Username: "juliet@example.com"}); err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	s := &sink{}
	o := New(Options{Store: st, Router: s, Max: max, Now: func() time.Time { clock = clock.Add(time.Second); return clock }})
	return o, st, s
}

func TestStoreAndDeliver(t *testing.T) {
	o, st, s := setup(t, 3)
	tests := []struct {
		name   string
		xml    string
		done   bool
		stored bool
		err    stanza.Condition
	}{
		{"chat", `<message from='romeo@example.net/o' to='juliet@example.com' type='chat' id='1'><body>one</body></message>`, true, true, ""},
		{"normal", `<message from='romeo@example.net/o' to='juliet@example.com/gone' id='2'><body>two</body></message>`, true, true, ""},
		{"chat state only", `<message from='romeo@example.net/o' to='juliet@example.com' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`, true, false, ""},
		{"no-store hint", `<message from='romeo@example.net/o' to='juliet@example.com' type='chat'><body>x</body><no-store xmlns='urn:xmpp:hints'/></message>`, true, false, ""},
		{"invitation without body", `<message from='romeo@example.net/o' to='juliet@example.com'><x xmlns='jabber:x:conference' jid='room@muc.example'/></message>`, true, true, ""},
		{"headline is not offered", `<message from='news@example.net' to='juliet@example.com' type='headline'><body>x</body></message>`, false, false, ""},
		{"full", `<message from='romeo@example.net/o' to='juliet@example.com' type='chat'><body>four</body></message>`, true, false, stanza.ServiceUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := st.OfflineCount("juliet@example.com")
			done, err := o.Intercept(context.Background(), xmpptest.Stanza(t, tc.xml))
			if done != tc.done {
				t.Errorf("done = %v, want %v", done, tc.done)
			}
			if tc.err != "" {
				if !errors.Is(err, &stanza.Error{Condition: tc.err}) {
					t.Errorf("err = %v, want %s", err, tc.err)
				}
			} else if err != nil {
				t.Errorf("err = %v", err)
			}
			after, _ := st.OfflineCount("juliet@example.com")
			if (after > before) != tc.stored {
				t.Errorf("stored: %d -> %d, want stored=%v", before, after, tc.stored)
			}
		})
	}

	o.Deliver(context.Background(), jid.MustParse("juliet@example.com/balcony"))
	var bodies []string
	for _, el := range s.got {
		d := el.Child(NSDelay, "delay")
		if d == nil || d.Get("from") != "example.com" || !strings.HasPrefix(d.Get("stamp"), "2026-11-23T10:00:0") {
			t.Errorf("delivered %s without the right delay stamp", el)
		}
		bodies = append(bodies, el.ChildText(xmlstream.NSClient, "body"))
	}
	if got := strings.Join(bodies, ","); got != "one,two," {
		t.Errorf("delivered bodies %q, want one,two,(invitation) in order", got)
	}
	if n, _ := st.OfflineCount("juliet@example.com"); n != 0 {
		t.Errorf("%d messages left after delivery", n)
	}
}

func TestDeliverStopsWhenSessionRefuses(t *testing.T) {
	o, st, s := setup(t, 10)
	for i := range 5 {
		if _, err := o.Intercept(context.Background(), xmpptest.Stanza(t, `<message to='juliet@example.com' from='a@b.example' type='chat'><body>`+string(rune('a'+i))+`</body></message>`)); err != nil {
			t.Fatal(err)
		}
	}
	s.limit = 2
	o.Deliver(context.Background(), jid.MustParse("juliet@example.com/x"))
	if n, _ := st.OfflineCount("juliet@example.com"); n != 3 {
		t.Fatalf("%d left, want the 3 not handed over", n)
	}
	s.limit, s.got = 0, nil
	o.Deliver(context.Background(), jid.MustParse("juliet@example.com/x"))
	if len(s.got) != 3 || s.got[0].ChildText(xmlstream.NSClient, "body") != "c" {
		t.Fatalf("second delivery: %d messages starting %v", len(s.got), s.got)
	}
}

// TestStoredAfterInitialPresence: the router found no available resource,
// but the recipient's initial presence handed over the stored messages
// before this one was stored. It must reach the resource at once, not
// wait for the next login; once the resource is gone it stays stored.
func TestStoredAfterInitialPresence(t *testing.T) {
	o, st, s := setup(t, 10)
	juliet := jid.MustParse("juliet@example.com/balcony")
	s.available = []jid.JID{juliet}
	o.Deliver(context.Background(), juliet) // nothing stored yet
	msg := `<message from='romeo@example.net/o' to='juliet@example.com' type='chat'><body>late</body></message>`
	if done, err := o.Intercept(context.Background(), xmpptest.Stanza(t, msg)); !done || err != nil {
		t.Fatalf("Intercept = %v, %v", done, err)
	}
	if len(s.got) != 1 || s.got[0].ChildText(xmlstream.NSClient, "body") != "late" {
		t.Fatalf("delivered %v, want the late message", s.got)
	}
	if n, _ := st.OfflineCount("juliet@example.com"); n != 0 {
		t.Errorf("%d messages left in storage after delivery", n)
	}
	o.SessionEnded(context.Background(), juliet, true)
	if _, err := o.Intercept(context.Background(), xmpptest.Stanza(t, msg)); err != nil {
		t.Fatal(err)
	}
	if n, _ := st.OfflineCount("juliet@example.com"); n != 1 || len(s.got) != 1 {
		t.Errorf("after the session ended: %d stored, %d delivered; want 1 stored, none delivered", n, len(s.got)-1)
	}
}
