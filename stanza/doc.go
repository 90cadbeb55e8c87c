// Package stanza is the routing view of XMPP stanzas and their errors
// (RFC 6120 §8).
//
// [Parse] checks a top-level element once, at the edge of the server: its
// kind (message, presence, iq in a content namespace), its addresses (which
// must be valid JIDs, else jid-malformed, §8.3.3.8) and the attributes each
// kind requires (an IQ needs an id and one of the four types, §8.2.3). The
// result, a [Stanza], carries the parsed addresses so the router never
// parses a JID again, and the element itself, which stays immutable.
//
// [Error] is the stanza error of §8.3 as a typed value. [Error.Is] matches
// on the condition, so handlers can return one and callers can test for it
// with errors.Is. Stanza errors never close a stream.
//
// Builders for replies ([ErrorReply], [ResultIQ]) swap the addresses and
// keep the id, as §8.3.1 and §8.2.3 require.
package stanza
