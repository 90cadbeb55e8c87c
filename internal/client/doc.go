// Package client is a minimal XMPP client: STARTTLS, direct TLS or
// WebSocket (RFC 7395), SASL (SCRAM with or without channel binding,
// PLAIN, XEP-0474 downgrade checks), SASL2 with Bind 2, inline resumption
// and FAST tokens (sasl2.go), resource binding, and raw element exchange.
// It exists for roost's own tests and load tool, which need exact control
// over what goes on the wire and little overhead; it is not a
// general-purpose client library.
//
// A [Conn] frames its stream over TCP (one XML document each way) or over
// WebSocket ([DialWebSocket]: one element per text message, <open/> and
// <close/> for the stream tags); everything above the framing, SASL,
// SASL2 and binding included, is the same code for both.
package client
