package c2s

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"roost/internal/xmpptest"
	"roost/xmlstream"
)

func TestUrgent(t *testing.T) {
	tests := []struct {
		name, el string
		want     bool
	}{
		{"iq", `<iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>`, true},
		{"message with a body", `<message type='chat'><body>hi</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>`, true},
		{"chat state alone", `<message type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`, false},
		{"chat state with a hint", `<message type='chat'><paused xmlns='http://jabber.org/protocol/chatstates'/><no-store xmlns='urn:xmpp:hints'/></message>`, false},
		{"chat state in an error", `<message type='error'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`, true},
		{"receipt", `<message><received xmlns='urn:xmpp:receipts' id='x'/></message>`, true},
		{"empty message", `<message/>`, true},
		{"carbon of a chat state", `<message><received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message></forwarded></received></message>`, false},
		{"carbon of a body", `<message><sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' type='chat'><body>hi</body></message></forwarded></sent></message>`, true},
		{"carbon without a message", `<message><sent xmlns='urn:xmpp:carbons:2'/></message>`, true},
		{"available presence", `<presence><show>away</show></presence>`, false},
		{"unavailable presence", `<presence type='unavailable'/>`, false},
		{"subscription request", `<presence type='subscribe'/>`, true},
		{"subscription approval", `<presence type='subscribed'/>`, true},
		{"presence error", `<presence type='error'/>`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := urgent(xmpptest.Element(t, tc.el)); got != tc.want {
				t.Errorf("urgent = %v, want %v", got, tc.want)
			}
		})
	}
}

// eventually waits until cond holds for the session bound to full,
// checked under the session's lock.
func eventually(t *testing.T, h *harness, full, what string, cond func(c *session) bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		h.router.mu.Lock()
		c, _ := h.router.sessions[full].(*session)
		h.router.mu.Unlock()
		ok := false
		if c != nil {
			c.mu.Lock()
			ok = cond(c)
			c.mu.Unlock()
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: never %s", full, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func waitInactive(t *testing.T, h *harness, full string) {
	t.Helper()
	eventually(t, h, full, "inactive", func(c *session) bool { return c.csi.inactive })
}

func heldCount(t *testing.T, h *harness, full string, n int) {
	t.Helper()
	eventually(t, h, full, fmt.Sprintf("holding %d stanzas", n), func(c *session) bool { return len(c.csi.held) == n })
}

func TestClientStateIndication(t *testing.T) {
	h := newHarness(t, nil)
	j := h.mustLogin("juliet", "balcony")
	if j.Features.Child(nsCSI, "csi") == nil {
		t.Fatalf("features after authentication = %s; want csi advertised", j.Features)
	}
	r := h.mustLogin("romeo", "orchard")
	const juliet = "juliet@example.com/balcony"
	send := func(s string) {
		t.Helper()
		if err := r.Send(xmpptest.Element(t, s)); err != nil {
			t.Fatal(err)
		}
	}
	recv := func() string {
		t.Helper()
		_ = j.SetDeadline(time.Now().Add(5 * time.Second))
		el, err := j.Recv()
		if err != nil {
			t.Fatal(err)
		}
		return string(xmlstream.AppendElement(nil, el, xmlstream.NSClient))
	}
	if err := j.Send(xmlstream.New(nsCSI, "inactive")); err != nil {
		t.Fatal(err)
	}
	waitInactive(t, h, juliet)

	send(`<presence to='` + juliet + `'><show>away</show></presence>`)
	send(`<message to='` + juliet + `' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`)
	send(`<presence to='` + juliet + `'><show>xa</show></presence>`) // supersedes "away"
	heldCount(t, h, juliet, 2)

	// Something urgent takes the held stanzas with it, in order.
	send(`<message to='` + juliet + `' type='chat'><body>hello</body></message>`)
	for _, want := range []string{"composing", "<show>xa</show>", "<body>hello</body>"} {
		if got := recv(); !strings.Contains(got, want) {
			t.Fatalf("juliet got %s; want the stanza with %s next", got, want)
		}
	}
	heldCount(t, h, juliet, 0)

	// Becoming active releases what was held.
	send(`<presence to='` + juliet + `' type='unavailable'/>`)
	heldCount(t, h, juliet, 1)
	if err := j.Send(xmlstream.New(nsCSI, "active")); err != nil {
		t.Fatal(err)
	}
	if got := recv(); !strings.Contains(got, `type="unavailable"`) {
		t.Fatalf("after <active/>, juliet got %s; want the held unavailable presence", got)
	}
	// Active again: nothing is held.
	send(`<presence to='` + juliet + `'/>`)
	if got := recv(); !strings.HasPrefix(got, "<presence") {
		t.Fatalf("an active session got %s; want the presence at once", got)
	}
	heldCount(t, h, juliet, 0)
}

// An inactive session that holds maxHeld stanzas lets them all go.
func TestHeldBounded(t *testing.T) {
	h := newHarness(t, nil)
	j := h.mustLogin("juliet", "balcony")
	r := h.mustLogin("romeo", "orchard")
	const juliet = "juliet@example.com/balcony"
	if err := j.Send(xmlstream.New(nsCSI, "inactive")); err != nil {
		t.Fatal(err)
	}
	waitInactive(t, h, juliet)
	// Chat states are not superseded, so each one is held.
	msg := `<message to='` + juliet + `' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`
	if err := r.Send(xmpptest.Element(t, msg)); err != nil {
		t.Fatal(err)
	}
	heldCount(t, h, juliet, 1)
	for range maxHeld - 2 {
		if err := r.Send(xmpptest.Element(t, msg)); err != nil {
			t.Fatal(err)
		}
	}
	heldCount(t, h, juliet, maxHeld-1)
	if err := r.Send(xmpptest.Element(t, msg)); err != nil {
		t.Fatal(err)
	}
	heldCount(t, h, juliet, 0)
}
