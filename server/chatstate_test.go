package server

import (
	"context"
	"testing"
	"time"

	"roost/admin"
	"roost/internal/client"
	"roost/jid"
	"roost/xmlstream"
)

// online creates the accounts of the given full JIDs (password: the
// localpart and "-secret") and logs each in.
func online(t *testing.T, r *running, fulls ...string) []*client.Conn {
	t.Helper()
	adm := admin.Client{Path: r.cfg.Admin.Socket}
	var cs []*client.Conn
	for _, full := range fulls {
		local := jid.MustParse(full).Local()
		if err := adm.AddUser(context.Background(), local, local+"-secret"); err != nil {
			t.Fatal(err)
		}
		c, err := r.login(t, full, local+"-secret")
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	return cs
}

// A message carrying only a chat state (XEP-0085) reaches the full JID it
// is addressed to, before the message with a body sent after it.
func TestChatStateDelivered(t *testing.T) {
	r := start(t, t.TempDir())
	cs := online(t, r, "alice@example.org/laptop", "bob@example.org/phone")
	alice, bob := cs[0], cs[1]
	if err := alice.Send(xmlstream.New(xmlstream.NSClient, "presence")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if err := bob.SendRaw([]byte(`<message to="alice@example.org/laptop" type="chat" id="abc" xml:lang="en"><composing xmlns="http://jabber.org/protocol/chatstates" /></message>` +
		`<message to='alice@example.org/laptop' type='chat'><body>hi</body></message>`)); err != nil {
		t.Fatal(err)
	}
	_ = alice.SetDeadline(time.Now().Add(5 * time.Second))
	first := recvKind(t, alice, "message")
	if first.Child("http://jabber.org/protocol/chatstates", "composing") == nil {
		t.Fatalf("alice got %s first; want the chat state", first)
	}
	if second := recvKind(t, alice, "message"); second.ChildText(xmlstream.NSClient, "body") != "hi" {
		t.Fatalf("alice got %s second; want the body", second)
	}
}
