package c2s

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"slices"
	"strconv"
	"time"

	"roost/jid"
	"roost/netconn"
	"roost/stanza"
	"roost/stream"
	"roost/xmlstream"
)

// XEP-0198 stream management. Both sides count the stanzas they handle;
// the server asks for the client's count after each batch it writes and
// keeps what the client has not acknowledged.
//
// A session enabled with resume="true" outlives a lost connection for
// [Options.ResumeTimeout] ("hibernating": still bound, stanzas queue). A
// new connection that authenticates as the same account and sends
// <resume/> with the session's id takes it over: the hibernating
// session's goroutine adopts the new connection, answers <resumed/> and
// sends again what was not acknowledged, and the new connection's own
// goroutine ends. A client that resumes before the server noticed the old
// connection was lost takes the session over all the same.
//
// When a session ends for good with stanzas unacknowledged (never
// resumed), they are handed to [Options.Undelivered], which routes the
// messages elsewhere — another resource or offline storage — instead of
// losing them.
const nsSM = "urn:xmpp:sm:3"

// errResumeTimeout ends a hibernating session nobody resumed in time.
var errResumeTimeout = errors.New("c2s: connection lost and not resumed")

// errHandedOver ends the negotiation of a connection that resumed another
// session: the connection now belongs to that session.
var errHandedOver = errors.New("c2s: connection handed to the resumed session")

// errTooManyUnacked ends a session whose client stopped acknowledging.
var errTooManyUnacked = &stream.Error{Condition: stream.PolicyViolation, Text: "too many unacknowledged stanzas"}

// UndeliveredHandler takes the stanzas a session with stream management
// sent but the client never acknowledged, once the session has ended and
// is unbound, in the order they were sent.
type UndeliveredHandler interface {
	Undelivered(ctx context.Context, full jid.JID, els []*xmlstream.Element)
}

// isStanza reports whether el counts for stream management: a stanza, as
// opposed to a nonza (XEP-0198 §4).
func isStanza(el *xmlstream.Element) bool {
	_, ok := stanza.KindOf(el)
	return ok
}

func smFailed(cond string) *xmlstream.Element {
	return xmlstream.New(nsSM, "failed").Append(xmlstream.New(stanza.NSStanzas, cond))
}

// smRequest asks the client for its count.
var smRequest = []byte(`<r xmlns="urn:xmpp:sm:3"/>`)

// smCount counts the stanzas handled from the client. It belongs to the
// session's reader.
type smCount struct {
	on      bool   // stream management is enabled
	handled uint32 // wraps at 2^32, as XEP-0198 §4 says
}

// stanza counts el if it is a stanza and counting is on.
func (n *smCount) stanza(el *xmlstream.Element) {
	if n.on && isStanza(el) {
		n.handled++
	}
}

// smUnacked is what the writer sent and the client has not acknowledged
// yet. The session's lock guards it.
type smUnacked struct {
	on        bool // the writer counts: <enabled/> has gone out
	els       []*xmlstream.Element
	bytes     int    // the footprint of els
	acked     uint32 // the client's last count
	requested bool   // an <r/> awaits its <a/>
}

// written keeps the stanzas of a batch just written, whose footprint is
// size, and reports whether to ask for the client's count with it: when
// something is left unacknowledged and no request is pending (XEP-0198 §4);
// mayAsk is false for the batch that closes the stream.
func (u *smUnacked) written(sent []*xmlstream.Element, size int, mayAsk bool) bool {
	u.on = true
	u.els = append(u.els, sent...)
	u.bytes += size
	if len(u.els) > 0 && !u.requested && mayAsk {
		u.requested = true
		return true
	}
	return false
}

// ack drops what the client says it has handled: h is its count. Each
// stanza dropped is handed to handled, if not nil. again reports whether
// to ask for the client's count again at once: when the count moved on but
// left stanzas unacknowledged, the client was still handling the batch
// that carried them (XEP-0198 §4), and without a new request they would
// wait for the next batch, or stay unacknowledged until the session ends
// and be delivered twice. A count that did not move is not asked for
// again, so that the two sides never ping-pong.
func (u *smUnacked) ack(h uint32, handled func(*xmlstream.Element)) (again bool, err error) {
	n := h - u.acked // modulo 2^32, as the counts wrap (XEP-0198 §4)
	if uint64(n) > uint64(len(u.els)) {
		// §4: the client acknowledges more than was sent.
		return false, &stream.Error{Condition: stream.UndefinedCondition,
			Text: "handled count " + strconv.FormatUint(uint64(h), 10) + " is higher than the stanzas sent"}
	}
	for _, el := range u.els[:n] {
		u.bytes -= el.Footprint()
		if handled != nil {
			handled(el)
		}
	}
	clear(u.els[:n])
	u.els = u.els[n:]
	if len(u.els) == 0 {
		u.els = nil
	}
	u.acked = h
	u.requested = n > 0 && len(u.els) > 0
	return u.requested, nil
}

// resumption is the state of a resumable session (XEP-0198 §5). id is set
// by the session's reader; the rest is guarded by the session's lock.
type resumption struct {
	id          string // names a resumable session; "" if it is not
	hibernating bool   // the connection is lost: waiting for a new one
	over        bool   // no resumption may take this session any more
	pending     *negotiation
	wake        chan struct{}
}

// Hibernating reports whether the session lost its connection and waits
// to be resumed: it is bound, stanzas for it queue, and no device reads
// them (router.Dormant). Push notifications (XEP-0357) go to an account
// whose sessions all hibernate.
func (c *session) Hibernating() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.res.hibernating
}

// wakeUp tells a hibernating session to look at its state again.
func (r *resumption) wakeUp() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// takePending returns the connection that resumes the session, if any.
func (r *resumption) takePending() *negotiation {
	n := r.pending
	if n != nil {
		r.pending, r.hibernating = nil, false
	}
	return n
}

// handleSM handles a stream management nonza from a bound client.
func (c *session) handleSM(ctx context.Context, el *xmlstream.Element) error {
	switch el.Name.Local {
	case "enable":
		if c.count.on {
			c.Send(smFailed("unexpected-request"))
			return nil
		}
		// The writer starts counting at <enabled/>, so that what was
		// queued before it is not counted by one side only.
		c.Send(c.enableSM(isTrue(el.Get("resume"))))
	case "r":
		if !c.count.on {
			return &stream.Error{Condition: stream.UnsupportedStanzaType, Text: "stream management is not enabled"}
		}
		c.durable(ctx)
		c.Send(xmlstream.New(nsSM, "a").SetAttr("h", strconv.FormatUint(uint64(c.count.handled), 10)))
	case "a":
		if !c.count.on {
			return &stream.Error{Condition: stream.UnsupportedStanzaType, Text: "stream management is not enabled"}
		}
		h, err := strconv.ParseUint(el.Get("h"), 10, 32)
		if err != nil {
			return &stream.Error{Condition: stream.BadFormat, Text: "an <a/> needs its h"}
		}
		return c.acknowledged(uint32(h), true)
	case "resume":
		// Only valid before binding; a bound client has nothing to resume.
		c.Send(smFailed("unexpected-request"))
	default:
		return &stream.Error{Condition: stream.UnsupportedStanzaType, Text: "unexpected element " + el.Name.Local}
	}
	return nil
}

// enableSM turns stream management on (XEP-0198 §3), resumable if the
// client asks and the server allows it, and returns <enabled/>. The
// reader counts from here on; the writer from the batch that carries
// <enabled/>.
func (c *session) enableSM(resume bool) *xmlstream.Element {
	c.count.on = true
	c.logger().Debug("stream management enabled", "resume_asked", resume)
	enabled := xmlstream.New(nsSM, "enabled")
	if resume && c.srv.opts.ResumeTimeout > 0 {
		c.res.id = newSMID()
		c.res.wake = make(chan struct{}, 1)
		c.srv.addResumable(c.res.id, c)
		enabled.SetAttr("id", c.res.id).SetAttr("resume", "true").
			SetAttr("max", strconv.Itoa(int(max(time.Second, c.srv.opts.ResumeTimeout).Seconds())))
	}
	return enabled
}

// durable waits until what the client's stanzas wrote is on disk, before
// the server acknowledges them. A failure is logged and the stanzas are
// acknowledged all the same: they were handled, and asking the client to
// send them again would only duplicate them.
func (c *session) durable(ctx context.Context) {
	if c.srv.opts.Durable == nil {
		return
	}
	if err := c.srv.opts.Durable(ctx); err != nil {
		c.logger().Error("syncing before an acknowledgement", "err", err)
	}
}

// acknowledged drops what the client says it has handled, and tells
// those who wait to hear of it (track.go). With ask, it asks for the
// client's count again if the count moved on but left stanzas
// unacknowledged (smUnacked.ack); resuming asks by itself.
func (c *session) acknowledged(h uint32, ask bool) error {
	c.mu.Lock()
	var handled func(*xmlstream.Element)
	var delivered []*xmlstream.Element
	if c.track.any() {
		handled = func(el *xmlstream.Element) { delivered = append(delivered, el) }
	}
	again, err := c.unacked.ack(h, handled)
	c.mu.Unlock()
	if len(delivered) > 0 {
		c.settle(delivered, true)
	}
	if again && ask {
		c.Send(xmlstream.New(nsSM, "r"))
	}
	return err
}

// undelivered returns what the ended session never got acknowledged or
// never wrote, and forgets it. Only the reader calls it, after the writer
// is gone. Stanzas sent with SendTracked are not returned: whoever sent
// them learns that they were not delivered (track.go) and keeps them.
func (c *session) undelivered() []*xmlstream.Element {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.unacked.on {
		c.q.items, c.q.bytes = nil, 0
		return nil
	}
	out := c.unacked.els // dropped below: its array may be reused
	for _, el := range c.q.items {
		if isStanza(el) {
			out = append(out, el)
		}
	}
	c.unacked.els, c.unacked.bytes, c.q.items, c.q.bytes = nil, 0, nil, 0
	if c.track.any() {
		out = slices.DeleteFunc(out, c.track.has)
	}
	return out
}

// newSMID returns an unguessable session id: knowing it is half of what
// resuming takes (the other half is authenticating as the account).
func newSMID() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *Server) addResumable(id string, c *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resumable[id] = c
}

func (s *Server) resumableSession(id string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.resumable[id]
}

func (s *Server) forgetResumable(id string, c *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.resumable[id] == c {
		delete(s.resumable, id)
	}
}

// connectionLost reports whether the reader stopped because the
// connection failed, rather than because the client closed its stream or
// either side ended it with an error, so that a resumable session may
// wait for the client to come back.
func (c *session) connectionLost(err error) bool {
	if c.res.id == "" || errors.Is(err, xmlstream.ErrStreamEnd) || c.isClosing() {
		return false
	}
	if se := stream.FromDecodeError(err); se != nil {
		// An unanswered ping means the network went away; any other
		// stream error is the client's fault and ends the session.
		return se.Condition == stream.ConnectionTimeout
	}
	return true
}

// hibernate drops the lost connection and waits for one that resumes the
// session; nil when the session timed out or was closed meanwhile.
func (c *session) hibernate() *negotiation {
	c.mu.Lock()
	c.q.broken, c.res.hibernating = true, true
	n := c.res.takePending()
	if n == nil && c.q.closing {
		// Closed between the lost read and now: Close saw no
		// hibernating session to wake.
		c.res.hibernating, c.res.over = false, true
	}
	over := c.res.over
	c.mu.Unlock()
	_ = c.raw.Close()
	c.writers.Wait() // a writer stuck on the lost connection fails at once
	if n != nil || over {
		return n
	}
	c.logger().Info("connection lost; session waits to be resumed", "timeout_s", c.srv.opts.ResumeTimeout.Seconds())
	t := time.NewTimer(c.srv.opts.ResumeTimeout)
	defer t.Stop()
	for {
		timedOut := false
		select {
		case <-c.res.wake:
		case <-t.C:
			timedOut = true
		}
		c.mu.Lock()
		n := c.res.takePending()
		if n == nil && (timedOut || c.q.closing) {
			c.res.hibernating, c.res.over = false, true
		}
		over := c.res.over
		c.mu.Unlock()
		if n != nil || over {
			return n
		}
	}
}

// takeOver asks the session to let n resume it. The session answers on
// n.adopted.
func (c *session) takeOver(n *negotiation) bool {
	c.mu.Lock()
	if c.q.closing || c.res.over || c.res.pending != nil {
		c.mu.Unlock()
		return false
	}
	c.res.pending = n
	hibernating, raw := c.res.hibernating, c.raw
	if hibernating {
		c.res.wakeUp()
	}
	c.mu.Unlock()
	if !hibernating {
		// The client knows its old connection is gone before the server
		// does: drop it, and the session's reader comes to hibernate.
		_ = raw.Close()
	}
	return true
}

// resume continues the session on n's connection: <resumed/>, then what
// the client has not acknowledged, then what queued meanwhile. An error
// ends the session (the client acknowledged more than was sent, or the
// session is closing); n is told either way.
func (c *session) resume(ctx context.Context, n *negotiation) error {
	if c.isClosing() {
		n.adopted <- false
		return errResumeTimeout
	}
	if err := c.acknowledged(n.resumeH, false); err != nil {
		n.adopted <- false
		return err
	}
	// The link changes under the lock, as takeOver and Shutdown read
	// c.raw from other goroutines.
	c.mu.Lock()
	c.link = n.link
	c.mu.Unlock()
	n.adopted <- true // from here n's goroutine leaves the connection alone
	c.rd.SetIdle(c.srv.opts.IdleTimeout)

	c.mu.Lock()
	again := slices.Clone(c.unacked.els)
	if len(again) > 0 {
		c.unacked.requested = true
	}
	c.mu.Unlock()
	c.durable(ctx)
	bp := netconn.GetBuffer()
	resumed := xmlstream.New(nsSM, "resumed").
		SetAttr("previd", c.res.id).SetAttr("h", strconv.FormatUint(uint64(c.count.handled), 10))
	var b []byte
	if n.sasl2 != nil {
		// Resumed within SASL2: the success names the session, then come
		// the features of a bound session, then what it missed.
		b = c.t.appendElement((*bp)[:0], n.sasl2.element(c.full.String(), resumed))
		b = c.t.appendElement(b, c.srv.features.bound[1])
	} else {
		b = c.t.appendElement((*bp)[:0], resumed)
	}
	for _, el := range again {
		b = c.t.appendElement(b, el)
	}
	if len(again) > 0 {
		b = c.t.appendRaw(b, smRequest)
	}
	err := c.write(b)
	*bp = b
	netconn.PutBuffer(bp)
	c.logger().Info("session resumed", "sent_again", len(again))
	c.mu.Lock()
	if err == nil {
		c.q.broken = false
		c.startWriterLocked() // what queued while the session hibernated
	}
	c.mu.Unlock()
	if err != nil {
		// The new connection failed too: the reader finds out at once and
		// the session hibernates again.
		c.logger().Debug("write failed", "err", err)
	}
	return nil
}

// endResumption makes the session unresumable once it ends, and turns
// away a connection that came to resume it too late.
func (c *session) endResumption() {
	if c.res.id == "" {
		return
	}
	c.mu.Lock()
	c.res.over = true
	n := c.res.pending
	c.res.pending, c.res.hibernating = nil, false
	c.mu.Unlock()
	c.srv.forgetResumable(c.res.id, c)
	if n != nil {
		n.adopted <- false
	}
}

// tryResume handles <resume/> on a connection authenticated but not
// bound: true when the session it names took the connection over.
func (n *negotiation) tryResume(el *xmlstream.Element) (bool, error) {
	resumed, failed := n.resumeSession(el)
	if resumed {
		return true, nil
	}
	return false, n.writeElement(failed)
}

// resumeSession asks the session <resume/> names to take the connection
// over: true when it did, or the <failed/> to send.
func (n *negotiation) resumeSession(el *xmlstream.Element) (bool, *xmlstream.Element) {
	h, err := strconv.ParseUint(el.Get("h"), 10, 32)
	if err != nil {
		return false, smFailed("bad-request")
	}
	old := n.srv.resumableSession(el.Get("previd"))
	if old == nil || !old.bare.Equal(n.bare) {
		// Another account's id is as unknown as a made-up one.
		return false, smFailed("item-not-found")
	}
	n.resumeH = uint32(h)
	n.adopted = make(chan bool, 1)
	if old.takeOver(n) && <-n.adopted {
		return true, nil
	}
	return false, smFailed("item-not-found")
}
