package c2s

import (
	"strings"
	"testing"
	"time"

	"roost/internal/xmpptest"
	"roost/stream"
	"roost/xmlstream"
)

// endpoint returns the session bound to full.
func endpoint(t *testing.T, h *harness, full string) Endpoint {
	t.Helper()
	h.router.mu.Lock()
	defer h.router.mu.Unlock()
	s := h.router.sessions[full]
	if s == nil {
		t.Fatalf("%s is not bound", full)
	}
	return s
}

// bigMessage is a chat message with a body of n bytes.
func bigMessage(t *testing.T, to, tag string, n int) *xmlstream.Element {
	t.Helper()
	return xmpptest.Element(t, `<message from='romeo@example.com/orchard' to='`+to+`' type='chat'><body>`+tag+strings.Repeat("x", n)+`</body></message>`)
}

// TestQueueBytes: a client that does not read is closed once what waits
// for it takes QueueBytes, whatever the number of stanzas, with
// policy-violation after what was queued.
func TestQueueBytes(t *testing.T) {
	const queueBytes, size = 64 << 10, 8 << 10
	h := newHarness(t, func(o *Options) { o.QueueBytes = queueBytes })
	j := h.mustLogin("juliet", "balcony")
	const juliet = "juliet@example.com/balcony"
	s := endpoint(t, h, juliet)
	accepted := 0
	for i := range 100 {
		if !s.Send(bigMessage(t, juliet, "m", size)) {
			break
		}
		accepted = i + 1
	}
	// The writer holds one batch on its way into the connection, which
	// the queue no longer counts: a batch is what the queue held when the
	// writer took it, so at most queueBytes more, and one message may
	// straddle the bound.
	if max := 2*queueBytes/size + 1; accepted == 100 || accepted > max {
		t.Fatalf("the session took %d messages of %d bytes; want it to refuse after at most %d (%d bytes)", accepted, size, max, queueBytes)
	}
	for i := 0; i < accepted; i++ {
		_ = j.SetDeadline(time.Now().Add(5 * time.Second))
		el, err := j.Recv()
		if err != nil {
			t.Fatalf("message %d of %d: %v", i+1, accepted, err)
		}
		if !el.Is(xmlstream.NSClient, "message") {
			t.Fatalf("got %s; want message %d of %d", el, i+1, accepted)
		}
	}
	xmpptest.ExpectStreamError(t, j, stream.PolicyViolation)
	if got := h.srv.opts.Metrics.C2SQueueFull.Load(); got != 1 {
		t.Errorf("sessions closed for a full queue = %d, want 1", got)
	}
}

// TestHibernatingSessionFull: a session waiting to be resumed (XEP-0198
// §5) that fills its queue ends at once, not at its resumption timeout, and
// hands back everything it held, in order, for offline storage; what it
// refused the sender keeps (Send reports false, and the router stores it).
func TestHibernatingSessionFull(t *testing.T) {
	const queueBytes, size = 64 << 10, 8 << 10
	u := &undeliveredLog{got: map[string][]string{}, ch: make(chan struct{}, 1)}
	h := newHarness(t, func(o *Options) {
		o.QueueBytes = queueBytes
		o.ResumeTimeout = time.Hour
		o.Undelivered = u
	})
	j := h.mustLogin("juliet", "balcony")
	const juliet = "juliet@example.com/balcony"
	enableResume(t, j, "3600")
	s := endpoint(t, h, juliet)
	_ = j.NetConn().Close()
	hibernating(t, h, juliet)

	accepted := 0
	for i := range 100 {
		if !s.Send(bigMessage(t, juliet, string(rune('a'+i%26)), size)) {
			break
		}
		accepted = i + 1
	}
	if accepted == 100 || accepted > queueBytes/size {
		t.Fatalf("the hibernating session took %d messages of %d bytes; want it to refuse after %d bytes", accepted, size, queueBytes)
	}
	got := u.handedBack(t, juliet, "the hibernating session filled up")
	if len(got) != accepted {
		t.Fatalf("handed back %d stanzas; want the %d it took", len(got), accepted)
	}
	for i, el := range got {
		if want := "<body>" + string(rune('a'+i%26)) + "xxx"; !strings.Contains(el, want) {
			t.Errorf("handed back #%d is %.60s...; want the message starting %q (in order)", i, el, want)
		}
	}
}
