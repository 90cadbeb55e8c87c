package c2s

import (
	"slices"

	"roost/xmlstream"
)

// XEP-0352 client state indication. A client that says it is inactive (a
// phone with its screen off) is sent only what the user must see at once;
// presence updates and typing notifications are held until it is active
// again, or until something urgent goes out, which takes the held stanzas
// with it so that the order between any two entities is kept (RFC 6120
// §10.1). An earlier presence from the same sender is superseded by a
// later one rather than held twice.
const nsCSI = "urn:xmpp:csi:0"

// maxHeld bounds what an inactive session holds back; the held stanzas go
// out when it is reached.
const maxHeld = 128

const nsChatStates = "http://jabber.org/protocol/chatstates"

// urgent reports whether el must reach an inactive client at once. Only
// what can wait without changing what the user sees is held: available and
// unavailable presence, and messages carrying nothing but a chat state
// (also as a carbon copy). Anything not recognised is urgent.
func urgent(el *xmlstream.Element) bool {
	switch el.Name.Local {
	case "presence":
		t := el.Get("type")
		return t != "" && t != "unavailable"
	case "message":
		return !chatStateOnly(el)
	}
	return true
}

// chatStateOnly reports whether a message's payload is only a chat state,
// looking inside a carbon copy (XEP-0280) at the forwarded message.
func chatStateOnly(el *xmlstream.Element) bool {
	if el.Get("type") == "error" {
		return false
	}
	state := false
	for ch := range el.Elements() {
		switch ch.Name.Space {
		case nsChatStates:
			state = true
		case "urn:xmpp:hints":
		case "urn:xmpp:carbons:2":
			fwd := ch.Child("urn:xmpp:forward:0", "forwarded")
			if fwd == nil {
				return false
			}
			inner := fwd.Child(xmlstream.NSClient, "message")
			if inner == nil || !chatStateOnly(inner) {
				return false
			}
			state = true
		default:
			return false
		}
	}
	return state
}

// csiState is a session's client state (XEP-0352). The session's lock
// guards it.
type csiState struct {
	inactive bool                 // the client said it is inactive
	held     []*xmlstream.Element // held back from it, in order
	bytes    int                  // the footprint of held
}

// hold adds el, whose footprint is size, to what an inactive session
// holds back. A presence drops an earlier held presence of the same
// sender. It reports false once maxHeld stanzas are held: then all of them
// must go.
func (s *csiState) hold(el *xmlstream.Element, size int) bool {
	if el.Name.Local == "presence" {
		from := el.Get("from")
		s.held = slices.DeleteFunc(s.held, func(h *xmlstream.Element) bool {
			if h.Name.Local == "presence" && h.Get("from") == from {
				s.bytes -= h.Footprint()
				return true
			}
			return false
		})
	}
	s.held = append(s.held, el)
	s.bytes += size
	return len(s.held) < maxHeld
}

// release appends what was held to queue, ahead of anything sent after
// it, and returns the queue and the footprint it gained.
func (s *csiState) release(queue []*xmlstream.Element) ([]*xmlstream.Element, int) {
	if len(s.held) == 0 {
		return queue, 0
	}
	queue = append(queue, s.held...)
	clear(s.held)
	moved := s.bytes
	s.held, s.bytes = nil, 0
	return queue, moved
}

// setActive applies an <active/> or <inactive/> from the client.
func (c *session) setActive(active bool) {
	c.logger().Debug("client state", "active", active)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.csi.inactive = !active
	if active && len(c.csi.held) > 0 {
		c.releaseHeldLocked()
		c.startWriterLocked()
	}
}
