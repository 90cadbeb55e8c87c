package c2s

import (
	"strings"
	"testing"
	"time"

	"roost/internal/client"
	"roost/xmlstream"
)

// trackLog records what a Tracker is told, one report per call.
type trackLog chan trackReport

type trackReport struct {
	bodies    []string
	delivered bool
}

func (l trackLog) Settled(els []*xmlstream.Element, delivered bool) {
	r := trackReport{delivered: delivered}
	for _, el := range els {
		r.bodies = append(r.bodies, el.ChildText(xmlstream.NSClient, "body")[:1])
	}
	l <- r
}

func (l trackLog) expect(t *testing.T, wantBodies string, want bool) {
	t.Helper()
	select {
	case got := <-l:
		if strings.Join(got.bodies, "") != wantBodies || got.delivered != want {
			t.Fatalf("settled %q delivered=%v; want %q delivered=%v", strings.Join(got.bodies, ""), got.delivered, wantBodies, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("never told whether %q were delivered; want %v", wantBodies, want)
	}
}

func (l trackLog) expectNothing(t *testing.T) {
	t.Helper()
	select {
	case got := <-l:
		t.Fatalf("settled %q delivered=%v too early", got.bodies, got.delivered)
	case <-time.After(100 * time.Millisecond):
	}
}

// tracker returns the session bound to full as one that can track.
func tracker(t *testing.T, h *harness, full string) interface {
	SendTracked(*xmlstream.Element, Tracker) bool
} {
	t.Helper()
	s, ok := endpoint(t, h, full).(interface {
		SendTracked(*xmlstream.Element, Tracker) bool
	})
	if !ok {
		t.Fatal("a session has no SendTracked")
	}
	return s
}

// TestSendTracked: a tracked stanza is delivered once written without
// stream management, or once acknowledged with it; a session that ends
// first says it was not, and does not hand it back as undelivered (its
// sender keeps it, and handing it back too would deliver it twice). Each
// tracker hears of its own stanzas only, in order, in one report per
// batch.
func TestSendTracked(t *testing.T) {
	const juliet = "juliet@example.com/balcony"
	t.Run("written without stream management", func(t *testing.T) {
		h := newHarness(t, nil)
		j := h.mustLogin("juliet", "balcony")
		l := make(trackLog, 4)
		if !tracker(t, h, juliet).SendTracked(bigMessage(t, juliet, "m", 10), l) {
			t.Fatal("SendTracked refused")
		}
		var requests int
		if el := recvSkipping(t, j, &requests); !el.Is(xmlstream.NSClient, "message") {
			t.Fatalf("got %s; want the message", el)
		}
		l.expect(t, "m", true)
	})
	t.Run("acknowledged with stream management", func(t *testing.T) {
		h := newHarness(t, nil)
		j := h.mustLogin("juliet", "balcony")
		enableSM(t, j)
		a, b := make(trackLog, 4), make(trackLog, 4)
		s := tracker(t, h, juliet)
		endpoint(t, h, juliet).Send(bigMessage(t, juliet, "p", 10))
		s.SendTracked(bigMessage(t, juliet, "a", 10), a)
		s.SendTracked(bigMessage(t, juliet, "b", 10), b)
		s.SendTracked(bigMessage(t, juliet, "c", 10), a)
		var requests int
		for range 4 {
			recvSkipping(t, j, &requests)
		}
		unackedOf(t, h, juliet, 4)
		a.expectNothing(t)
		// The client has handled the first three: the plain one, a and b.
		if err := j.Send(xmlstream.New(nsSM, "a").SetAttr("h", "3")); err != nil {
			t.Fatal(err)
		}
		a.expect(t, "a", true)
		b.expect(t, "b", true)
		a.expectNothing(t)
		if err := j.Send(xmlstream.New(nsSM, "a").SetAttr("h", "4")); err != nil {
			t.Fatal(err)
		}
		a.expect(t, "c", true)
	})
	t.Run("session ends unacknowledged", func(t *testing.T) {
		u := &undeliveredLog{got: map[string][]string{}, ch: make(chan struct{}, 1)}
		h := newHarness(t, func(o *Options) { o.Undelivered = u })
		j := h.mustLogin("juliet", "balcony")
		enableSM(t, j)
		l := make(trackLog, 4)
		tracker(t, h, juliet).SendTracked(bigMessage(t, juliet, "tracked", 10), l)
		endpoint(t, h, juliet).Send(bigMessage(t, juliet, "plain", 10))
		var requests int
		recvSkipping(t, j, &requests)
		recvSkipping(t, j, &requests)
		unackedOf(t, h, juliet, 2)
		_ = j.NetConn().Close()
		l.expect(t, "t", false)
		got := u.handedBack(t, juliet, "the session ended")
		if len(got) != 1 || !strings.Contains(got[0], "plain") {
			t.Fatalf("handed back %q; want only the untracked message", got)
		}
	})
	t.Run("resumed then acknowledged", func(t *testing.T) {
		h := newHarness(t, func(o *Options) { o.ResumeTimeout = time.Hour })
		j := h.mustLogin("juliet", "balcony")
		id := enableResume(t, j, "3600")
		_ = j.NetConn().Close()
		hibernating(t, h, juliet)
		l := make(trackLog, 4)
		if !tracker(t, h, juliet).SendTracked(bigMessage(t, juliet, "h", 10), l) {
			t.Fatal("a hibernating session refused a tracked stanza")
		}
		l.expectNothing(t)
		j2 := resumeConn(t, h, "juliet", "balcony!", id, 0)
		var requests int
		if el := recvSkipping(t, j2, &requests); !el.Is(nsSM, "resumed") {
			t.Fatalf("got %s; want <resumed/>", el)
		}
		if el := recvSkipping(t, j2, &requests); el.ChildText(xmlstream.NSClient, "body")[:1] != "h" {
			t.Fatalf("after resuming got %s; want the tracked message", el)
		}
		l.expectNothing(t)
		if err := j2.Send(xmlstream.New(nsSM, "a").SetAttr("h", "1")); err != nil {
			t.Fatal(err)
		}
		l.expect(t, "h", true)
	})
}

// TestAskAgainAfterPartialAck: a count that moves on but leaves stanzas
// unacknowledged is answered with a new request at once, so that what the
// client was still handling is acknowledged now rather than at the next
// batch, or never (and, tracked, delivered again); a count that does not
// move is not, so the sides never ping-pong.
func TestAskAgainAfterPartialAck(t *testing.T) {
	const juliet = "juliet@example.com/balcony"
	h := newHarness(t, nil)
	j := h.mustLogin("juliet", "balcony")
	enableSM(t, j)
	s := endpoint(t, h, juliet)
	for _, b := range []string{"a", "b", "c"} {
		s.Send(bigMessage(t, juliet, b, 10))
	}
	var requests int
	for range 3 {
		recvSkipping(t, j, &requests)
	}
	unackedOf(t, h, juliet, 3)
	if requests == 0 {
		// The request rides at the end of the batch: read it, so that the
		// next one read is the one asked again.
		if el := recvRaw(t, j); !el.Is(nsSM, "r") {
			t.Fatalf("after the messages got %s; want a request for the count", el)
		}
	}
	if err := j.Send(xmlstream.New(nsSM, "a").SetAttr("h", "1")); err != nil {
		t.Fatal(err)
	}
	if el := recvRaw(t, j); !el.Is(nsSM, "r") {
		t.Fatalf("after acknowledging 1 of 3: got %s; want a new request for the count", el)
	}
	eventually(t, h, juliet, "2 unacknowledged, a request pending", func(c *session) bool {
		return len(c.unacked.els) == 2 && c.unacked.requested
	})
	// The same count again: nothing moved, nothing asked.
	if err := j.Send(xmlstream.New(nsSM, "a").SetAttr("h", "1")); err != nil {
		t.Fatal(err)
	}
	eventually(t, h, juliet, "no request pending after a count that did not move", func(c *session) bool { return !c.unacked.requested })
	if err := j.Send(xmlstream.New(nsSM, "a").SetAttr("h", "3")); err != nil {
		t.Fatal(err)
	}
	unackedOf(t, h, juliet, 0)
	eventually(t, h, juliet, "no request pending", func(c *session) bool { return !c.unacked.requested })
}

// recvRaw reads the next element, whatever it is.
func recvRaw(t *testing.T, c *client.Conn) *xmlstream.Element {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	el, err := c.Recv()
	if err != nil {
		t.Fatal(err)
	}
	return el
}
