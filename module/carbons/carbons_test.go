package carbons

import (
	"context"
	"sort"
	"strings"
	"testing"

	"roost/internal/xmpptest"
	"roost/jid"
	"roost/stanza"
	"roost/xmlstream"
)

type fakeRouter struct {
	connected []string
	got       map[string][]*xmlstream.Element
}

func (f *fakeRouter) Connected(jid.JID) []jid.JID {
	var out []jid.JID
	for _, c := range f.connected {
		out = append(out, jid.MustParse(c))
	}
	return out
}

func (f *fakeRouter) Deliver(full jid.JID, el *xmlstream.Element) bool {
	f.got[full.String()] = append(f.got[full.String()], el)
	return true
}

func setup(t *testing.T, enabled ...string) (*Carbons, *fakeRouter) {
	t.Helper()
	r := &fakeRouter{connected: []string{"romeo@example.net/home", "romeo@example.net/phone", "romeo@example.net/work"}, got: map[string][]*xmlstream.Element{}}
	c := New(r)
	for _, e := range enabled {
		st := xmpptest.Stanza(t, `<iq type='set' id='e'><enable xmlns='urn:xmpp:carbons:2'/></iq>`)
		st.From = jid.MustParse(e)
		if _, err := c.HandleStanza(context.Background(), st); err != nil {
			t.Fatal(err)
		}
	}
	return c, r
}

func summary(r *fakeRouter) string {
	var out []string
	for to, els := range r.got {
		for _, el := range els {
			kind := "direct"
			if s := el.Child(NS, "sent"); s != nil {
				kind = "sent"
			} else if s := el.Child(NS, "received"); s != nil {
				kind = "received"
			}
			out = append(out, to+":"+kind)
		}
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func TestSentCopies(t *testing.T) {
	tests := []struct {
		name, xml, want string
	}{
		{"chat", `<message to='juliet@example.com/balcony' type='chat'><body>hi</body></message>`, "romeo@example.net/phone:sent"},
		{"normal with body", `<message to='juliet@example.com'><body>hi</body></message>`, "romeo@example.net/phone:sent"},
		{"chat state", `<message to='juliet@example.com' type='chat'><active xmlns='http://jabber.org/protocol/chatstates'/></message>`, "romeo@example.net/phone:sent"},
		{"normal without body", `<message to='juliet@example.com'><x xmlns='urn:x'/></message>`, ""},
		{"groupchat", `<message to='room@muc.example' type='groupchat'><body>hi</body></message>`, ""},
		{"private", `<message to='juliet@example.com' type='chat'><body>hi</body><private xmlns='urn:xmpp:carbons:2'/></message>`, ""},
		{"no-copy hint", `<message to='juliet@example.com' type='chat'><body>hi</body><no-copy xmlns='urn:xmpp:hints'/></message>`, ""},
		{"to another own resource", `<message to='romeo@example.net/phone' type='chat'><body>hi</body></message>`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, r := setup(t, "romeo@example.net/home", "romeo@example.net/phone")
			st := xmpptest.Stanza(t, tc.xml)
			st.From = jid.MustParse("romeo@example.net/home")
			done, err := c.InterceptOutbound(context.Background(), st)
			if done || err != nil {
				t.Fatalf("consumed=%v err=%v: carbons must never consume", done, err)
			}
			if got := summary(r); got != tc.want {
				t.Errorf("copies %q, want %q", got, tc.want)
			}
			if st.El.Child(NS, "private") != nil {
				t.Error("the private marker was left on the outgoing message")
			}
		})
	}
}

func TestReceivedCopies(t *testing.T) {
	c, r := setup(t, "romeo@example.net/home", "romeo@example.net/phone")
	st := xmpptest.Stanza(t, `<message from='juliet@example.com/balcony' to='romeo@example.net' type='chat' id='m1'><body>wherefore</body></message>`)
	c.MessageDelivered(context.Background(), st, []jid.JID{jid.MustParse("romeo@example.net/home")})
	if got := summary(r); got != "romeo@example.net/phone:received" {
		t.Fatalf("copies %q", got)
	}
	copyEl := r.got["romeo@example.net/phone"][0]
	inner := copyEl.Child(NS, "received").Child(nsForward, "forwarded").Child(xmlstream.NSClient, "message")
	if copyEl.Get("from") != "romeo@example.net" || inner == nil || inner.Get("id") != "m1" || inner.Get("from") != "juliet@example.com/balcony" {
		t.Fatalf("copy %s", copyEl)
	}
	// A session that got the message itself gets no copy; disabled ones neither.
	r.got = map[string][]*xmlstream.Element{}
	c.MessageDelivered(context.Background(), st, []jid.JID{jid.MustParse("romeo@example.net/home"), jid.MustParse("romeo@example.net/phone")})
	if got := summary(r); got != "" {
		t.Errorf("copies to sessions that got the original: %q", got)
	}
	// After the session ends, its setting is gone.
	c.SessionEnded(context.Background(), jid.MustParse("romeo@example.net/phone"), true)
	c.MessageDelivered(context.Background(), st, []jid.JID{jid.MustParse("romeo@example.net/home")})
	if got := summary(r); got != "" {
		t.Errorf("copies after the session ended: %q", got)
	}
}

func TestForwardedIsClientNamespace(t *testing.T) {
	c, r := setup(t, "romeo@example.net/phone")
	st := &stanza.Stanza{Kind: stanza.Message, Type: stanza.TypeChat, From: jid.MustParse("juliet@capulet.example/x"), To: jid.MustParse("romeo@example.net"),
		El: xmlstream.New(xmlstream.NSServer, "message").SetAttr("type", "chat").Append(xmlstream.New(xmlstream.NSServer, "body").AppendText("from afar"))}
	c.MessageDelivered(context.Background(), st, []jid.JID{jid.MustParse("romeo@example.net/home")})
	wire := string(xmlstream.AppendElement(nil, r.got["romeo@example.net/phone"][0], xmlstream.NSClient))
	if !strings.Contains(wire, `<message xmlns="jabber:client" type="chat"`) || !strings.Contains(wire, `<body>from afar</body>`) {
		t.Errorf("forwarded message not in jabber:client: %s", wire)
	}
}

func TestEnableOnlyForOwnSessions(t *testing.T) {
	c, _ := setup(t)
	st := xmpptest.Stanza(t, `<iq type='set' id='e' to='juliet@example.com'><enable xmlns='urn:xmpp:carbons:2'/></iq>`)
	st.From = jid.MustParse("romeo@example.net/home")
	if _, err := c.HandleStanza(context.Background(), st); err == nil {
		t.Error("enabling carbons for someone else's account was accepted")
	}
}

// The per-account count behind the fast path must follow enable, disable
// and session end exactly, including repeated requests, or copies stop
// (count too low) or the fast path is lost (count too high).
func TestEnabledCount(t *testing.T) {
	romeo := jid.MustParse("romeo@example.net")
	tests := []struct {
		name string
		ops  []string // "enable R", "disable R", "end R"
		want bool
	}{
		{"none", nil, false},
		{"one", []string{"enable home"}, true},
		{"enabled twice, disabled once", []string{"enable home", "enable home", "disable home"}, false},
		{"two, one disabled", []string{"enable home", "enable phone", "disable home"}, true},
		{"two, both ended", []string{"enable home", "enable phone", "end home", "end phone"}, false},
		{"disable without enable", []string{"disable home", "enable phone", "disable work"}, true},
		{"end of a session that never enabled", []string{"enable home", "end phone", "disable home"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := setup(t)
			for _, op := range tc.ops {
				verb, res, _ := strings.Cut(op, " ")
				full := jid.MustParse("romeo@example.net/" + res)
				if verb == "end" {
					c.SessionEnded(context.Background(), full, true)
					continue
				}
				st := xmpptest.Stanza(t, `<iq type='set' id='e'><`+verb+` xmlns='urn:xmpp:carbons:2'/></iq>`)
				st.From = full
				if _, err := c.HandleStanza(context.Background(), st); err != nil {
					t.Fatal(err)
				}
			}
			if got := c.anyEnabled(romeo); got != tc.want {
				t.Errorf("anyEnabled = %v, want %v (counts %v)", got, tc.want, c.accounts)
			}
			if got := c.anyEnabled(jid.MustParse("juliet@example.com")); got {
				t.Error("another account counts as enabled")
			}
		})
	}
}

// TestEnableInline: a session that asks for carbons in its Bind 2 request
// gets copies as if it had sent the IQ; other elements enable nothing.
func TestEnableInline(t *testing.T) {
	tests := []struct {
		name string
		el   *xmlstream.Element
		want string // copies after home sends a chat message
	}{
		{"enable", xmlstream.New(NS, "enable"), "romeo@example.net/phone:sent"},
		{"something else", xmlstream.New(NS, "disable"), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, r := setup(t)
			if res := c.EnableInline(t.Context(), jid.MustParse("romeo@example.net/phone"), tc.el); res != nil {
				t.Errorf("EnableInline answered %v, want nothing for <bound/>", res)
			}
			st := xmpptest.Stanza(t, `<message to='juliet@example.com' type='chat'><body>hi</body></message>`)
			st.From = jid.MustParse("romeo@example.net/home")
			if _, err := c.InterceptOutbound(t.Context(), st); err != nil {
				t.Fatal(err)
			}
			if got := summary(r); got != tc.want {
				t.Errorf("copies %q, want %q", got, tc.want)
			}
		})
	}
}
