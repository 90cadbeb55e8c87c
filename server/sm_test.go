package server

import (
	"testing"
	"time"

	"roost/xmlstream"
)

// A message a client with stream management never acknowledged is not
// lost when its connection dies: it goes to offline storage and arrives
// at the next login, with a delay stamp. An IQ request it never answered
// gets an error back.
func TestUnacknowledgedMessageKept(t *testing.T) {
	r := start(t, t.TempDir())
	cs := online(t, r, "alice@example.org/phone", "bob@example.org/pc")
	alice, bob := cs[0], cs[1]
	if err := alice.Send(xmlstream.New("urn:xmpp:sm:3", "enable")); err != nil {
		t.Fatal(err)
	}
	_ = alice.SetDeadline(time.Now().Add(5 * time.Second))
	recvKind(t, alice, "enabled")
	if err := alice.Send(xmlstream.New(xmlstream.NSClient, "presence")); err != nil {
		t.Fatal(err)
	}
	recvKind(t, alice, "presence") // her own, echoed
	if err := bob.SendRaw([]byte(`<message to='alice@example.org/phone' type='chat' id='m1'><body>are you there?</body></message>` +
		`<iq to='alice@example.org/phone' type='get' id='v1'><query xmlns='jabber:iq:version'/></iq>`)); err != nil {
		t.Fatal(err)
	}
	recvKind(t, alice, "message")
	recvKind(t, alice, "iq")
	_ = alice.NetConn().Close() // never acknowledged

	_ = bob.SetDeadline(time.Now().Add(5 * time.Second))
	if e := recvKind(t, bob, "iq"); e.Get("type") != "error" || e.Get("id") != "v1" || e.Child("", "error") == nil && e.Child(xmlstream.NSClient, "error") == nil {
		t.Fatalf("bob got %s; want an error for his unanswered request", e)
	}

	again, err := r.login(t, "alice@example.org/phone2", "alice-secret")
	if err != nil {
		t.Fatal(err)
	}
	if err := again.Send(xmlstream.New(xmlstream.NSClient, "presence")); err != nil {
		t.Fatal(err)
	}
	_ = again.SetDeadline(time.Now().Add(5 * time.Second))
	m := recvKind(t, again, "message")
	if m.ChildText(xmlstream.NSClient, "body") != "are you there?" || m.Child("urn:xmpp:delay", "delay") == nil {
		t.Fatalf("alice got %s; want bob's message from offline storage, delay-stamped", m)
	}
}
