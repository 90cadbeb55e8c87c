package c2s

import (
	"context"
	"strconv"

	"roost/jid"
	"roost/stream"
	"roost/xmlstream"
)

// XEP-0198 stream management, acknowledgements only. Both sides count the
// stanzas they handle; the server asks for the client's count after each
// batch it writes and keeps what the client has not acknowledged. When a
// session ends with stanzas unacknowledged (a phone that lost its network
// while the server still thought it connected), they are handed to
// [Options.Undelivered], which routes the messages elsewhere — another
// resource or offline storage — instead of losing them. Session resumption
// is not offered: a client that lost its stream logs in again and finds
// its messages waiting.
const nsSM = "urn:xmpp:sm:3"

// errTooManyUnacked ends a session whose client stopped acknowledging.
var errTooManyUnacked = &stream.Error{Condition: stream.PolicyViolation, Text: "too many unacknowledged stanzas"}

// UndeliveredHandler takes the stanzas a session with stream management
// sent but the client never acknowledged, once the session has ended and
// is unbound, in the order they were sent.
type UndeliveredHandler interface {
	Undelivered(ctx context.Context, full jid.JID, els []*xmlstream.Element)
}

// isStanza reports whether el counts for stream management: a message,
// presence or IQ, as opposed to a nonza (RFC 6120 §8, XEP-0198 §4).
func isStanza(el *xmlstream.Element) bool {
	switch el.Name.Space {
	case xmlstream.NSClient, xmlstream.NSServer:
		switch el.Name.Local {
		case "message", "presence", "iq":
			return true
		}
	}
	return false
}

func smFailed(cond string) *xmlstream.Element {
	return xmlstream.New(nsSM, "failed").Append(xmlstream.New(stanzaErrorNS, cond))
}

// smRequest asks the client for its count.
var smRequest = []byte(`<r xmlns="urn:xmpp:sm:3"/>`)

const stanzaErrorNS = "urn:ietf:params:xml:ns:xmpp-stanzas"

// handleSM handles a stream management nonza from a bound client.
func (c *conn) handleSM(el *xmlstream.Element) error {
	switch el.Name.Local {
	case "enable":
		if c.smIn {
			c.Send(smFailed("unexpected-request"))
			return nil
		}
		c.smIn = true
		c.logger().Debug("stream management enabled", "resume_asked", el.Get("resume") == "true" || el.Get("resume") == "1")
		// The writer starts counting at <enabled/>, so that what was
		// queued before it is not counted by one side only.
		c.Send(xmlstream.New(nsSM, "enabled"))
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
	var out []*xmlstream.Element
	out = append(out, c.unacked...)
	for _, el := range c.items {
		if isStanza(el) {
			out = append(out, el)
		}
	}
	c.unacked, c.items = nil, nil
	return out
}
