package c2s

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"roost/internal/client"
	"roost/internal/xmpptest"
	"roost/jid"
	"roost/stanza"
	"roost/stream"
	"roost/xmlstream"
)

// undeliveredLog records what sessions handed back.
type undeliveredLog struct {
	mu  sync.Mutex
	got map[string][]string // full JID → serialised elements
	ch  chan struct{}
}

func (u *undeliveredLog) Undelivered(_ context.Context, full jid.JID, els []*xmlstream.Element) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, el := range els {
		u.got[full.String()] = append(u.got[full.String()], string(xmlstream.AppendElement(nil, el, xmlstream.NSClient)))
	}
	u.ch <- struct{}{}
}

// handedBack waits until a session hands stanzas back, and returns what
// full's sessions handed back so far; what says what ends the session.
func (u *undeliveredLog) handedBack(t *testing.T, full, what string) []string {
	t.Helper()
	select {
	case <-u.ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("nothing handed back after %s", what)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.got[full]
}

// recvSkipping reads the next element that is not a stream management
// request, counting the requests it skipped.
func recvSkipping(t *testing.T, c *client.Conn, requests *int) *xmlstream.Element {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	for {
		el, err := c.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if el.Is(nsSM, "r") {
			*requests++
			continue
		}
		return el
	}
}

func unackedOf(t *testing.T, h *harness, full string, n int) {
	t.Helper()
	eventually(t, h, full, fmt.Sprintf("with %d stanzas unacknowledged", n), func(c *session) bool { return len(c.unacked.els) == n })
}

// enableSM enables stream management without resumption.
func enableSM(t *testing.T, c *client.Conn) {
	t.Helper()
	if c.Features.Child(nsSM, "sm") == nil {
		t.Fatalf("features after authentication = %s; want stream management", c.Features)
	}
	if err := c.Send(xmlstream.New(nsSM, "enable")); err != nil {
		t.Fatal(err)
	}
	var requests int
	if el := recvSkipping(t, c, &requests); !el.Is(nsSM, "enabled") || el.Get("resume") != "" || el.Get("id") != "" {
		t.Fatalf("got %s; want <enabled/> without resumption", el)
	}
}

// enableResume enables stream management with resumption and returns
// the session's id.
func enableResume(t *testing.T, c *client.Conn, wantMax string) string {
	t.Helper()
	if err := c.Send(xmlstream.New(nsSM, "enable").SetAttr("resume", "true")); err != nil {
		t.Fatal(err)
	}
	var requests int
	el := recvSkipping(t, c, &requests)
	if !el.Is(nsSM, "enabled") || el.Get("resume") != "true" || len(el.Get("id")) < 16 || el.Get("max") != wantMax {
		t.Fatalf("got %s; want <enabled/> with an id, resume='true' and max=%q", el, wantMax)
	}
	return el.Get("id")
}

func TestStreamManagementCounts(t *testing.T) {
	h := newHarness(t, nil)
	j := h.mustLogin("juliet", "balcony")
	r := h.mustLogin("romeo", "orchard")
	const juliet = "juliet@example.com/balcony"
	enableSM(t, j)

	// Nothing handled yet.
	if err := j.Send(xmlstream.New(nsSM, "r")); err != nil {
		t.Fatal(err)
	}
	var requests int
	if el := recvSkipping(t, j, &requests); !el.Is(nsSM, "a") || el.Get("h") != "0" {
		t.Fatalf("got %s; want <a h='0'/>", el)
	}

	// Two messages are sent, kept and asked about, then acknowledged.
	for _, body := range []string{"one", "two"} {
		if err := r.Send(xmpptest.Element(t, `<message to='`+juliet+`' type='chat'><body>`+body+`</body></message>`)); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"one", "two"} {
		if el := recvSkipping(t, j, &requests); el.ChildText(xmlstream.NSClient, "body") != want {
			t.Fatalf("juliet got %s; want the message %q", el, want)
		}
	}
	unackedOf(t, h, juliet, 2)
	if requests == 0 {
		_ = j.SetDeadline(time.Now().Add(5 * time.Second))
		if el, err := j.Recv(); err != nil || !el.Is(nsSM, "r") {
			t.Fatalf("got %v, %v; want the server to ask for an acknowledgement", el, err)
		}
	}
	if err := j.Send(xmlstream.New(nsSM, "a").SetAttr("h", "1")); err != nil {
		t.Fatal(err)
	}
	unackedOf(t, h, juliet, 1)
	if err := j.Send(xmlstream.New(nsSM, "a").SetAttr("h", "2")); err != nil {
		t.Fatal(err)
	}
	unackedOf(t, h, juliet, 0)

	// Juliet's stanzas are counted, nonzas not.
	for range 3 {
		if err := j.Send(xmpptest.Element(t, `<presence to='romeo@example.com/orchard'/>`)); err != nil {
			t.Fatal(err)
		}
		if err := j.Send(xmlstream.New(nsCSI, "active")); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Send(xmlstream.New(nsSM, "r")); err != nil {
		t.Fatal(err)
	}
	if el := recvSkipping(t, j, &requests); !el.Is(nsSM, "a") || el.Get("h") != "3" {
		t.Fatalf("got %s; want <a h='3'/>", el)
	}

	// Enabling twice fails without ending the stream.
	if err := j.Send(xmlstream.New(nsSM, "enable")); err != nil {
		t.Fatal(err)
	}
	if el := recvSkipping(t, j, &requests); !el.Is(nsSM, "failed") || el.Child(stanza.NSStanzas, "unexpected-request") == nil {
		t.Fatalf("got %s; want <failed><unexpected-request/></failed>", el)
	}
}

func TestStreamManagementErrors(t *testing.T) {
	tests := []struct {
		name   string
		enable bool
		send   string
		want   stream.Condition
	}{
		{"acknowledging more than was sent", true, `<a xmlns='urn:xmpp:sm:3' h='5'/>`, stream.UndefinedCondition},
		{"an <a/> without h", true, `<a xmlns='urn:xmpp:sm:3'/>`, stream.BadFormat},
		{"a request before enabling", false, `<r xmlns='urn:xmpp:sm:3'/>`, stream.UnsupportedStanzaType},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			j := h.mustLogin("juliet", "balcony")
			if tc.enable {
				enableSM(t, j)
			}
			if err := j.SendRaw([]byte(tc.send)); err != nil {
				t.Fatal(err)
			}
			xmpptest.ExpectStreamError(t, j, tc.want)
		})
	}
}

// Enabling before binding fails (XEP-0198 §3) and the stream goes on.
func TestStreamManagementBeforeBind(t *testing.T) {
	h := newHarness(t, nil)
	j, err := h.login("juliet", "balcony!", "", client.Options{NoBind: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Send(xmlstream.New(nsSM, "enable")); err != nil {
		t.Fatal(err)
	}
	_ = j.SetDeadline(time.Now().Add(5 * time.Second))
	el, err := j.Recv()
	if err != nil || !el.Is(nsSM, "failed") || el.Child(stanza.NSStanzas, "unexpected-request") == nil {
		t.Fatalf("got %v, %v; want <failed><unexpected-request/></failed>", el, err)
	}
	if err := j.Bind("balcony"); err != nil {
		t.Fatalf("bind after the failed enable: %v", err)
	}
}

// A session that ends with stanzas unacknowledged hands them back, in
// order, and only those.
func TestStreamManagementUndelivered(t *testing.T) {
	u := &undeliveredLog{got: map[string][]string{}, ch: make(chan struct{}, 1)}
	h := newHarness(t, func(o *Options) { o.Undelivered = u })
	j := h.mustLogin("juliet", "balcony")
	r := h.mustLogin("romeo", "orchard")
	const juliet = "juliet@example.com/balcony"
	enableSM(t, j)
	var requests int
	for _, body := range []string{"one", "two", "three"} {
		if err := r.Send(xmpptest.Element(t, `<message to='`+juliet+`' type='chat'><body>`+body+`</body></message>`)); err != nil {
			t.Fatal(err)
		}
		recvSkipping(t, j, &requests)
	}
	unackedOf(t, h, juliet, 3)
	if err := j.Send(xmlstream.New(nsSM, "a").SetAttr("h", "1")); err != nil {
		t.Fatal(err)
	}
	unackedOf(t, h, juliet, 2)
	_ = j.NetConn().Close() // the phone loses its network
	got := u.handedBack(t, juliet, "the session ended")
	if len(got) != 2 || !strings.Contains(got[0], "<body>two</body>") || !strings.Contains(got[1], "<body>three</body>") {
		t.Fatalf("handed back %q; want the messages two and three", got)
	}
}

// Without stream management nothing is handed back: the client never
// promised to acknowledge.
func TestNoStreamManagementNothingHandedBack(t *testing.T) {
	u := &undeliveredLog{got: map[string][]string{}, ch: make(chan struct{}, 1)}
	h := newHarness(t, func(o *Options) { o.Undelivered = u })
	j := h.mustLogin("juliet", "balcony")
	r := h.mustLogin("romeo", "orchard")
	if err := r.Send(xmpptest.Element(t, `<message to='juliet@example.com/balcony' type='chat'><body>hi</body></message>`)); err != nil {
		t.Fatal(err)
	}
	var requests int
	if el := recvSkipping(t, j, &requests); el.ChildText(xmlstream.NSClient, "body") != "hi" || requests != 0 {
		t.Fatalf("got %s after %d requests; want the message and no request", el, requests)
	}
	_ = j.NetConn().Close()
	// The session ends; wait until it is unbound, then check.
	deadline := time.Now().Add(5 * time.Second)
	for {
		h.router.mu.Lock()
		_, bound := h.router.sessions["juliet@example.com/balcony"]
		h.router.mu.Unlock()
		if !bound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the session was never unbound")
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.got) != 0 {
		t.Errorf("handed back %v without stream management", u.got)
	}
}

// resumeConn logs in as user without binding and asks to resume id.
func resumeConn(t *testing.T, h *harness, user, password, id string, handled int) *client.Conn {
	t.Helper()
	c, err := h.login(user, password, "", client.Options{NoBind: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Send(xmlstream.New(nsSM, "resume").SetAttr("previd", id).SetAttr("h", fmt.Sprint(handled))); err != nil {
		t.Fatal(err)
	}
	return c
}

func hibernating(t *testing.T, h *harness, full string) {
	t.Helper()
	eventually(t, h, full, "hibernating", func(c *session) bool { return c.res.hibernating })
}

func sendChat(t *testing.T, from *client.Conn, to string, bodies ...string) {
	t.Helper()
	for _, b := range bodies {
		if err := from.Send(xmpptest.Element(t, `<message to='`+to+`' type='chat'><body>`+b+`</body></message>`)); err != nil {
			t.Fatal(err)
		}
	}
}

// The phone loses its network; a message arrives meanwhile; it comes back
// on a new connection, says what it had handled, and gets the rest: what
// it had not acknowledged, then what queued, on the same session.
func TestStreamManagementResume(t *testing.T) {
	u := &undeliveredLog{got: map[string][]string{}, ch: make(chan struct{}, 1)}
	h := newHarness(t, func(o *Options) { o.Undelivered = u })
	j := h.mustLogin("juliet", "balcony")
	r := h.mustLogin("romeo", "orchard")
	const juliet = "juliet@example.com/balcony"
	id := enableResume(t, j, "300")
	h.router.mu.Lock()
	bound := h.router.sessions[juliet]
	h.router.mu.Unlock()

	// Juliet sends one stanza, so that the server's count is 1.
	if err := j.Send(xmpptest.Element(t, `<presence to='romeo@example.com/orchard'/>`)); err != nil {
		t.Fatal(err)
	}
	sendChat(t, r, juliet, "one", "two", "three")
	var requests int
	for range 3 {
		recvSkipping(t, j, &requests)
	}
	unackedOf(t, h, juliet, 3)
	dormant := bound.(interface{ Hibernating() bool })
	if dormant.Hibernating() {
		t.Error("a connected session says it hibernates")
	}
	_ = j.NetConn().Close()
	hibernating(t, h, juliet)
	if !dormant.Hibernating() {
		t.Error("a hibernating session says it does not")
	}
	sendChat(t, r, juliet, "four")
	eventually(t, h, juliet, "queueing the message", func(c *session) bool { return len(c.q.items) == 1 })

	// She had handled "one" and "two" but not told the server.
	j2 := resumeConn(t, h, "juliet", "balcony!", id, 2)
	want := []string{"resumed", "three", "four"}
	for _, w := range want {
		el := recvSkipping(t, j2, &requests)
		switch w {
		case "resumed":
			if !el.Is(nsSM, "resumed") || el.Get("previd") != id || el.Get("h") != "1" {
				t.Fatalf("got %s; want <resumed previd=%q h='1'/>", el, id)
			}
		default:
			if el.ChildText(xmlstream.NSClient, "body") != w {
				t.Fatalf("got %s; want the message %q", el, w)
			}
		}
	}
	// The same session, still bound, goes on in both directions.
	h.router.mu.Lock()
	now := h.router.sessions[juliet]
	h.router.mu.Unlock()
	if now != bound {
		t.Fatal("the resumed session is not the one bound before")
	}
	if dormant.Hibernating() {
		t.Error("a resumed session says it hibernates")
	}
	sendChat(t, j2, "romeo@example.com/orchard", "back")
	_ = r.SetDeadline(time.Now().Add(5 * time.Second))
	for {
		el, err := r.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if el.ChildText(xmlstream.NSClient, "body") == "back" {
			if el.Get("from") != juliet {
				t.Fatalf("romeo got %s; want it from %s", el, juliet)
			}
			break
		}
	}
	if err := j2.Send(xmlstream.New(nsSM, "a").SetAttr("h", "4")); err != nil {
		t.Fatal(err)
	}
	unackedOf(t, h, juliet, 0)
	select {
	case <-u.ch:
		t.Fatalf("stanzas handed back although the session was resumed: %v", u.got)
	default:
	}
}

// A client that comes back before the server noticed its connection was
// gone takes the session over from the old connection.
func TestStreamManagementResumeTakesOver(t *testing.T) {
	h := newHarness(t, nil)
	j := h.mustLogin("juliet", "balcony")
	id := enableResume(t, j, "300")
	j2 := resumeConn(t, h, "juliet", "balcony!", id, 0)
	var requests int
	if el := recvSkipping(t, j2, &requests); !el.Is(nsSM, "resumed") {
		t.Fatalf("got %s; want <resumed/>", el)
	}
	_ = j.SetDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, err := j.Recv(); err != nil {
			break // the old connection was dropped
		}
	}
	if err := j2.Send(xmlstream.New(nsSM, "r")); err != nil {
		t.Fatal(err)
	}
	if el := recvSkipping(t, j2, &requests); !el.Is(nsSM, "a") || el.Get("h") != "0" {
		t.Fatalf("got %s; want <a h='0'/> on the resumed session", el)
	}
}

// Nobody else resumes a session: not another account that learnt the id,
// not an unknown id; the failure leaves the stream open for a bind.
func TestStreamManagementResumeRefused(t *testing.T) {
	h := newHarness(t, nil)
	j := h.mustLogin("juliet", "balcony")
	const juliet = "juliet@example.com/balcony"
	id := enableResume(t, j, "300")
	_ = j.NetConn().Close()
	hibernating(t, h, juliet)
	tests := []struct {
		name, user, password, id string
	}{
		{"another account", "romeo", "orchard!", id},
		{"an unknown id", "juliet", "balcony!", "no-such-session"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := resumeConn(t, h, tc.user, tc.password, tc.id, 0)
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			el, err := c.Recv()
			if err != nil || !el.Is(nsSM, "failed") || el.Child(stanza.NSStanzas, "item-not-found") == nil {
				t.Fatalf("got %v, %v; want <failed><item-not-found/></failed>", el, err)
			}
			if err := c.Bind("elsewhere"); err != nil {
				t.Fatalf("bind after the failed resumption: %v", err)
			}
		})
	}
	hibernating(t, h, juliet) // still waiting for juliet
}

// A session nobody resumes ends after the timeout and hands back what was
// not acknowledged; a stream the client closes is not kept at all.
func TestStreamManagementNotResumed(t *testing.T) {
	for _, clean := range []bool{false, true} {
		t.Run(fmt.Sprintf("clean close %v", clean), func(t *testing.T) {
			u := &undeliveredLog{got: map[string][]string{}, ch: make(chan struct{}, 1)}
			h := newHarness(t, func(o *Options) {
				o.Undelivered = u
				if clean {
					o.ResumeTimeout = time.Hour // must not matter
				} else {
					o.ResumeTimeout = 200 * time.Millisecond
				}
			})
			j := h.mustLogin("juliet", "balcony")
			r := h.mustLogin("romeo", "orchard")
			const juliet = "juliet@example.com/balcony"
			id := enableResume(t, j, map[bool]string{false: "1", true: "3600"}[clean])
			sendChat(t, r, juliet, "lost?")
			var requests int
			recvSkipping(t, j, &requests)
			unackedOf(t, h, juliet, 1)
			if clean {
				_ = j.Close()
			} else {
				_ = j.NetConn().Close()
			}
			got := u.handedBack(t, juliet, "the session ended")
			if len(got) != 1 || !strings.Contains(got[0], "lost?") {
				t.Fatalf("handed back %q; want the unacknowledged message", got)
			}
			c := resumeConn(t, h, "juliet", "balcony!", id, 1)
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			if el, err := c.Recv(); err != nil || !el.Is(nsSM, "failed") {
				t.Fatalf("resuming an ended session: %v, %v; want <failed/>", el, err)
			}
		})
	}
}

// With resumption turned off, a client asking for it gets stream
// management without it.
func TestStreamManagementResumeOff(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.ResumeTimeout = -1 })
	j := h.mustLogin("juliet", "balcony")
	if err := j.Send(xmlstream.New(nsSM, "enable").SetAttr("resume", "true")); err != nil {
		t.Fatal(err)
	}
	var requests int
	if el := recvSkipping(t, j, &requests); !el.Is(nsSM, "enabled") || el.Get("resume") != "" || el.Get("id") != "" {
		t.Fatalf("got %s; want <enabled/> without resumption", el)
	}
}

// TestAcknowledgementWaitsForDurable: <a/> is sent only once Durable has
// returned, after the stanzas it counts were handled, so that a client
// never forgets a message the server has not yet written to disk.
func TestAcknowledgementWaitsForDurable(t *testing.T) {
	release := make(chan struct{})
	calls := make(chan struct{}, 4)
	h := newHarness(t, func(o *Options) {
		o.Durable = func(ctx context.Context) error {
			calls <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil
		}
	})
	j := h.mustLogin("juliet", "balcony")
	enableSM(t, j)
	if err := j.Send(xmpptest.Element(t, `<message to='romeo@example.com' type='chat'><body>hi</body></message>`)); err != nil {
		t.Fatal(err)
	}
	if err := j.Send(xmlstream.New(nsSM, "r")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-calls:
	case <-time.After(5 * time.Second):
		t.Fatal("Durable was not called for <r/>")
	}
	// Not acknowledged while Durable waits.
	_ = j.SetDeadline(time.Now().Add(200 * time.Millisecond))
	if el, err := j.Recv(); err == nil && el.Is(nsSM, "a") {
		t.Fatalf("got %s before Durable returned", el)
	}
	close(release)
	var requests int
	if el := recvSkipping(t, j, &requests); !el.Is(nsSM, "a") || el.Get("h") != "1" {
		t.Fatalf("got %s; want <a h='1'/>", el)
	}
}

// TestIdleSessionHoldsNothing: once what was sent to a client is written
// and acknowledged, and what was held back while it was inactive is
// released, the idle session keeps no queue, no unacknowledged stanzas and
// no held stanzas: no slices of its own, only the small fixed read buffer
// (xmlstream) and none of the pooled write buffers (released after each
// batch). The soak (make soak) measures the same at scale.
func TestIdleSessionHoldsNothing(t *testing.T) {
	h := newHarness(t, nil)
	j := h.mustLogin("juliet", "balcony")
	r := h.mustLogin("romeo", "orchard")
	const juliet = "juliet@example.com/balcony"
	enableSM(t, j)
	send := func(body string) {
		t.Helper()
		if err := r.Send(xmpptest.Element(t, `<message to='`+juliet+`' type='chat'><body>`+body+`</body></message>`)); err != nil {
			t.Fatal(err)
		}
	}
	// A presence while inactive (held back, XEP-0352), then active.
	if err := j.Send(xmlstream.New(nsCSI, "inactive")); err != nil {
		t.Fatal(err)
	}
	eventually(t, h, juliet, "inactive", func(c *session) bool { return c.csi.inactive })
	if err := r.Send(xmpptest.Element(t, `<presence to='`+juliet+`'><status>away</status></presence>`)); err != nil {
		t.Fatal(err)
	}
	eventually(t, h, juliet, "holding the presence", func(c *session) bool { return len(c.csi.held) == 1 })
	if err := j.Send(xmlstream.New(nsCSI, "active")); err != nil {
		t.Fatal(err)
	}
	send("live")
	var requests int
	if el := recvSkipping(t, j, &requests); el.ChildText(xmlstream.NSClient, "status") != "away" {
		t.Fatalf("juliet got %s; want the held presence", el)
	}
	if el := recvSkipping(t, j, &requests); el.ChildText(xmlstream.NSClient, "body") != "live" {
		t.Fatalf("juliet got %s; want the message", el)
	}
	if err := j.Send(xmlstream.New(nsSM, "a").SetAttr("h", "2")); err != nil {
		t.Fatal(err)
	}
	eventually(t, h, juliet, "holding nothing", func(c *session) bool {
		return c.q.items == nil && c.q.bytes == 0 && c.unacked.els == nil && c.unacked.bytes == 0 &&
			c.csi.held == nil && c.csi.bytes == 0 && !c.q.writing
	})
}
