package server

import (
	"context"
	"strconv"
	"testing"
	"time"

	"roost/admin"
	"roost/internal/client"
	"roost/jid"
	"roost/xmlstream"
)

// offlineFor has bob, online, send alice, who has an account but no
// session, a message that goes to offline storage.
func offlineFor(t *testing.T, r *running, body string) (bob *client.Conn) {
	t.Helper()
	if err := (&admin.Client{Path: r.cfg.Admin.Socket}).AddUser(context.Background(), "alice", "alice-secret"); err != nil {
		t.Fatal(err)
	}
	bob = online(t, r, "bob@example.org/pc")[0]
	if err := bob.SendRaw([]byte(`<message to='alice@example.org' type='chat' id='o1'><body>` + body + `</body></message>`)); err != nil {
		t.Fatal(err)
	}
	waitStored(t, r, 1)
	return bob
}

// waitStored waits until alice has n offline messages stored.
func waitStored(t *testing.T, r *running, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := r.srv.store.OfflineCount("alice@example.org")
		if err != nil {
			t.Fatal(err)
		}
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("alice has %d offline messages stored; want %d", got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// storedStays checks that alice's stored count stays n for a while.
func storedStays(t *testing.T, r *running, n int, why string) {
	t.Helper()
	for range 20 {
		if got, _ := r.srv.store.OfflineCount("alice@example.org"); got != n {
			t.Fatalf("%s: alice has %d offline messages stored; want %d", why, got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// smLogin logs alice in with stream management and sends her initial
// presence, which hands over her stored messages. It returns the
// connection and the stanzas received up to and including the first
// message, and how many stanzas it received since <enabled/>.
func smLogin(t *testing.T, r *running, resource string) (*client.Conn, *xmlstream.Element, int) {
	t.Helper()
	c, err := r.login(t, "alice@example.org/"+resource, "alice-secret")
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if err := c.Send(xmlstream.New("urn:xmpp:sm:3", "enable")); err != nil {
		t.Fatal(err)
	}
	recvKind(t, c, "enabled")
	if err := c.Send(xmlstream.New(xmlstream.NSClient, "presence")); err != nil {
		t.Fatal(err)
	}
	handled := 0
	for {
		el, err := c.Recv()
		if err != nil {
			t.Fatalf("waiting for the stored message: %v", err)
		}
		if el.Name.Space != xmlstream.NSClient {
			continue // <r/>
		}
		handled++
		if el.Name.Local == "message" {
			return c, el, handled
		}
	}
}

// messagesUntilPong sends a ping to the server and returns the messages
// that arrive before its answer: what was queued for the session by then.
func messagesUntilPong(t *testing.T, c *client.Conn) []*xmlstream.Element {
	t.Helper()
	if err := c.SendRaw([]byte(`<iq type='get' id='pong' to='example.org'><ping xmlns='urn:xmpp:ping'/></iq>`)); err != nil {
		t.Fatal(err)
	}
	var msgs []*xmlstream.Element
	for {
		el, err := c.Recv()
		if err != nil {
			t.Fatalf("waiting for the ping's answer: %v", err)
		}
		switch {
		case el.Name.Local == "message":
			msgs = append(msgs, el)
		case el.Name.Local == "iq" && el.Get("id") == "pong":
			return msgs
		}
	}
}

// An offline message stays stored while it is on its way: it is deleted
// when the client's stream management acknowledgement covers it (XEP-0198
// §4), not when it is queued for the session.
func TestOfflineDeletedWhenAcknowledged(t *testing.T) {
	r := start(t, t.TempDir())
	offlineFor(t, r, "while you were out")
	alice, m, handled := smLogin(t, r, "phone")
	if m.ChildText(xmlstream.NSClient, "body") != "while you were out" || m.Child("urn:xmpp:delay", "delay") == nil {
		t.Fatalf("alice got %s; want the stored message, delay-stamped", m)
	}
	storedStays(t, r, 1, "received but not acknowledged")
	if err := alice.Send(xmlstream.New("urn:xmpp:sm:3", "a").SetAttr("h", strconv.Itoa(handled))); err != nil {
		t.Fatal(err)
	}
	waitStored(t, r, 0)
}

// A connection that dies before the client acknowledges its stored
// message leaves it stored, once (not also handed back to storage as an
// unacknowledged stanza), and the next login gets it exactly once; a
// session without stream management has it deleted once written.
func TestOfflineRedeliveredOnceAfterLostConnection(t *testing.T) {
	r := start(t, t.TempDir())
	offlineFor(t, r, "are you there?")
	alice, _, _ := smLogin(t, r, "phone")
	_ = alice.NetConn().Close() // never acknowledged
	aliceBare := jid.MustParse("alice@example.org")
	for deadline := time.Now().Add(5 * time.Second); len(r.srv.router.Connected(aliceBare)) > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("alice's lost session did not end")
		}
	}
	storedStays(t, r, 1, "after the session ended unacknowledged")

	again, err := r.login(t, "alice@example.org/laptop", "alice-secret")
	if err != nil {
		t.Fatal(err)
	}
	_ = again.SetDeadline(time.Now().Add(5 * time.Second))
	if err := again.Send(xmlstream.New(xmlstream.NSClient, "presence")); err != nil {
		t.Fatal(err)
	}
	msgs := messagesUntilPong(t, again)
	if len(msgs) != 1 || msgs[0].ChildText(xmlstream.NSClient, "body") != "are you there?" {
		t.Fatalf("the next login got %d messages (%v); want the stored one, once", len(msgs), msgs)
	}
	waitStored(t, r, 0)
}
