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

// handleSM handles a stream management nonza from a bound client.
func (c *conn) handleSM(el *xmlstream.Element) error {
	switch el.Name.Local {
	case "enable":
		if c.smIn {
			c.Send(smFailed("unexpected-request"))
			return nil
		}
		c.smIn = true
		resume := el.Get("resume") == "true" || el.Get("resume") == "1"
		c.logger().Debug("stream management enabled", "resume_asked", resume)
		// The writer starts counting at <enabled/>, so that what was
		// queued before it is not counted by one side only.
		enabled := xmlstream.New(nsSM, "enabled")
		if resume && c.srv.opts.ResumeTimeout > 0 {
			c.smID = newSMID()
			c.wake = make(chan struct{}, 1)
			c.srv.addResumable(c.smID, c)
			enabled.SetAttr("id", c.smID).SetAttr("resume", "true").
				SetAttr("max", strconv.Itoa(int(max(time.Second, c.srv.opts.ResumeTimeout).Seconds())))
		}
		c.Send(enabled)
	case "r":
		if !c.smIn {
			return &stream.Error{Condition: stream.UnsupportedStanzaType, Text: "stream management is not enabled"}
		}
		c.Send(xmlstream.New(nsSM, "a").SetAttr("h", strconv.FormatUint(uint64(c.handled), 10)))
	case "a":
		if !c.smIn {
			return &stream.Error{Condition: stream.UnsupportedStanzaType, Text: "stream management is not enabled"}
		}
		h, err := strconv.ParseUint(el.Get("h"), 10, 32)
		if err != nil {
			return &stream.Error{Condition: stream.BadFormat, Text: "an <a/> needs its h"}
		}
		return c.acknowledged(uint32(h))
	case "resume":
		// Only valid before binding; a bound client has nothing to resume.
		c.Send(smFailed("unexpected-request"))
	default:
		return &stream.Error{Condition: stream.UnsupportedStanzaType, Text: "unexpected element " + el.Name.Local}
	}
	return nil
}

// acknowledged drops what the client says it has handled.
func (c *conn) acknowledged(h uint32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := h - c.acked // modulo 2^32, as the counts wrap (XEP-0198 §4)
	if uint64(n) > uint64(len(c.unacked)) {
		// §4: the client acknowledges more than was sent.
		return &stream.Error{Condition: stream.UndefinedCondition,
			Text: "handled count " + strconv.FormatUint(uint64(h), 10) + " is higher than the stanzas sent"}
	}
	clear(c.unacked[:n])
	c.unacked = c.unacked[n:]
	if len(c.unacked) == 0 {
		c.unacked = nil
	}
	c.acked = h
	c.requested = false
	return nil
}

// undelivered returns what the ended session never got acknowledged or
// never wrote, and forgets it. Only the reader calls it, after the writer
// is gone.
func (c *conn) undelivered() []*xmlstream.Element {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.smOut {
		return nil
	}
	out := c.unacked // dropped below: its array may be reused
	for _, el := range c.items {
		if isStanza(el) {
			out = append(out, el)
		}
	}
	c.unacked, c.items = nil, nil
	return out
}

// newSMID returns an unguessable session id: knowing it is half of what
// resuming takes (the other half is authenticating as the account).
func newSMID() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *Server) addResumable(id string, c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resumable[id] = c
}

func (s *Server) resumableSession(id string) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.resumable[id]
}

func (s *Server) forgetResumable(id string, c *conn) {
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
func (c *conn) connectionLost(err error) bool {
	if c.smID == "" || errors.Is(err, xmlstream.ErrStreamEnd) || c.isClosing() {
		return false
	}
	if se := stream.FromDecodeError(err); se != nil {
		// An unanswered ping means the network went away; any other
		// stream error is the client's fault and ends the session.
		return se.Condition == stream.ConnectionTimeout
	}
	return true
}

func (c *conn) wakeLocked() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// takePendingLocked returns the connection that resumes the session, if
// any. c.mu is held.
func (c *conn) takePendingLocked() *conn {
	n := c.pending
	if n != nil {
		c.pending, c.hibernating = nil, false
	}
	return n
}

// hibernate drops the lost connection and waits for one that resumes the
// session; nil when the session timed out or was closed meanwhile.
func (c *conn) hibernate() *conn {
	c.mu.Lock()
	c.broken, c.hibernating = true, true
	n := c.takePendingLocked()
	if n == nil && c.closing {
		// Closed between the lost read and now: Close saw no
		// hibernating session to wake.
		c.hibernating, c.resumeOver = false, true
	}
	over := c.resumeOver
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
		case <-c.wake:
		case <-t.C:
			timedOut = true
		}
		c.mu.Lock()
		n := c.takePendingLocked()
		if n == nil && (timedOut || c.closing) {
			c.hibernating, c.resumeOver = false, true
		}
		over := c.resumeOver
		c.mu.Unlock()
		if n != nil || over {
			return n
		}
	}
}

// takeOver asks the session to let n resume it. The session answers on
// n.adopted.
func (c *conn) takeOver(n *conn) bool {
	c.mu.Lock()
	if c.closing || c.resumeOver || c.pending != nil {
		c.mu.Unlock()
		return false
	}
	c.pending = n
	hibernating, raw := c.hibernating, c.raw
	if hibernating {
		c.wakeLocked()
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
func (c *conn) resume(n *conn) error {
	if c.isClosing() {
		n.adopted <- false
		return errResumeTimeout
	}
	if err := c.acknowledged(n.resumeH); err != nil {
		n.adopted <- false
		return err
	}
	// The connection fields change under the lock, as takeOver and
	// Shutdown read c.raw from other goroutines.
	c.mu.Lock()
	c.raw, c.nc, c.rd, c.dec, c.directTLS = n.raw, n.nc, n.rd, n.dec, n.directTLS
	c.mu.Unlock()
	n.adopted <- true // from here n's goroutine leaves the connection alone
	_ = c.nc.SetDeadline(time.Time{})
	c.wmoved = 0
	c.rd.setIdle(c.srv.opts.IdleTimeout)

	c.mu.Lock()
	again := slices.Clone(c.unacked)
	if len(again) > 0 {
		c.requested = true
	}
	c.mu.Unlock()
	bp := getBuf()
	b := xmlstream.AppendElement((*bp)[:0], xmlstream.New(nsSM, "resumed").
		SetAttr("previd", c.smID).SetAttr("h", strconv.FormatUint(uint64(c.handled), 10)), xmlstream.NSClient)
	for _, el := range again {
		b = xmlstream.AppendElement(b, el, xmlstream.NSClient)
	}
	if len(again) > 0 {
		b = append(b, smRequest...)
	}
	err := c.write(b)
	*bp = b
	putBuf(bp)
	c.logger().Info("session resumed", "sent_again", len(again))
	c.mu.Lock()
	if err == nil {
		c.broken = false
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
func (c *conn) endResumption() {
	if c.smID == "" {
		return
	}
	c.mu.Lock()
	c.resumeOver = true
	n := c.pending
	c.pending, c.hibernating = nil, false
	c.mu.Unlock()
	c.srv.forgetResumable(c.smID, c)
	if n != nil {
		n.adopted <- false
	}
}

// tryResume handles <resume/> on a connection authenticated but not
// bound: true when the session it names took the connection over.
func (c *conn) tryResume(el *xmlstream.Element) (bool, error) {
	h, err := strconv.ParseUint(el.Get("h"), 10, 32)
	if err != nil {
		return false, c.writeElement(smFailed("bad-request"))
	}
	old := c.srv.resumableSession(el.Get("previd"))
	if old == nil || !old.bare.Equal(c.bare) {
		// Another account's id is as unknown as a made-up one.
		return false, c.writeElement(smFailed("item-not-found"))
	}
	c.resumeH = uint32(h)
	c.adopted = make(chan bool, 1)
	if old.takeOver(c) && <-c.adopted {
		return true, nil
	}
	return false, c.writeElement(smFailed("item-not-found"))
}
