// Package c2s serves client-to-server streams (RFC 6120) on a STARTTLS
// port (5222) and a direct TLS port (5223, XEP-0368, ALPN "xmpp-client"),
// and over WebSocket (RFC 7395) for web clients, through the handler
// [Server.WebSocket] that the HTTPS listener mounts.
//
// # Transports
//
// One session implementation serves every client: negotiation, SASL,
// binding, routing, stream management and client state indication read
// and write through a small transport interface (transport.go), which
// frames the stream on its connection. Over TCP the stream is one XML
// document each way, TLS inside it after STARTTLS or from the first byte.
// Over WebSocket (websocket.go) TLS is the WebSocket's own (wss://; ws://
// only from loopback, for tests and local proxies), and every message is
// one standalone element: <open/> and <close/> (urn:ietf:params:xml:ns:
// xmpp-framing) for the stream tags, a stanza or nonza per message. A
// message with two elements, or part of one, or a binary message ends the
// stream with bad-format; an oversized one with policy-violation, before
// it is buffered, as on TCP. The library github.com/coder/websocket does
// the handshake and the frames; the messages are read by the same decoder
// and under the same limits as a TCP stream (stanza size, read deadline
// and rate, connections per address), and a batch of stanzas is still one
// write. A quiet WebSocket is sent pings (RFC 7395 §3.8) where TCP gets
// whitespace. Because a bound session keeps only its link (connection,
// reader, transport), stream management resumes a session begun over TCP
// on a WebSocket, and the other way round.
//
// # Negotiation
//
// A connection goes through the stream stages of RFC 6120 in order, on one
// goroutine, under one deadline ([Options.NegotiationTimeout]):
//   - TLS: STARTTLS is required (§5.3.1); until it is done only
//     <starttls/> is offered and anything else ends the stream with
//     policy-violation. Whitespace received with <starttls/> is dropped
//     (§11.7); any other byte before the handshake is refused
//     (§5.4.3.3, stream.BeforeTLS). TLS 1.2 or later only.
//   - SASL (§6): SCRAM-SHA-256 and SCRAM-SHA-1, each with -PLUS channel
//     binding (tls-exporter, tls-server-end-point) when the connection
//     allows it and advertised per XEP-0440, and PLAIN unless disabled. An
//     unknown user fails exactly like a wrong password (not-authorized).
//     After [Options.MaxAuthFailures] failures the stream ends with
//     policy-violation (§6.4.5). Across streams, [Options.Backoff] holds
//     each attempt back after earlier failures from its address or for
//     its account, before the credentials are checked, for SASL, SASL2
//     and FAST alike (holdBack in negotiate.go). Every SCRAM exchange carries the
//     XEP-0474 hash of the mechanisms and channel-binding types offered,
//     so that a client notices a list someone in the middle shortened.
//   - SASL2 (XEP-0388, sasl2.go), offered next to SASL with the same
//     mechanisms. The client's <authenticate/> may ask inline for a
//     resource (Bind 2, XEP-0386, bind2.go: the resource derives from
//     the client's user-agent id, so a device keeps its resource, and
//     carbons, client state and stream management start on), for the
//     resumption of a stream-management session (XEP-0198), and for a
//     FAST token (XEP-0484, fast.go) with which it logs in next time in
//     one round trip (HT-SHA-256-EXPR/-ENDP/-NONE). The success carries
//     the outcome of each; no stream restart follows. Tokens are kept by
//     [Options.Tokens]; the features modules let clients enable in Bind 2
//     come as [Options.BindFeatures], so that c2s imports no module.
//   - Resource binding (§7): a requested resource, or one the server
//     makes up; binding a full JID already in use replaces the older
//     session, which ends with a conflict stream error. The legacy session
//     establishment request (RFC 3921) is accepted and answered.
//
// Any stanza before authentication ends the stream with not-authorized.
//
// The features of each stage are serialised once, when the server is
// made (features.go): before authentication they depend only on which
// channel bindings the connection has. A stream header and its features
// go out in one write, as does a SASL2 success with the features after it.
//
// The negotiation's state (negotiate.go) lives only as long as the
// negotiation: a bound session keeps none of it. What stays is the
// session (session.go): its transport, its queue, and small structs for
// client state indication (csi.go) and stream management (sm.go).
//
// Accepting, the per-address limit ([Options.MaxConnsPerIP], an IPv6 /64
// counting as one address; at the limit, the oldest connection from the
// address that has not authenticated is ended with policy-violation to
// make room, so that silent connections from a household's NAT address
// cannot lock it out, while authenticated ones are never ended for it),
// the read deadline and rate
// ([Options.ReadRate]), write buffers and lingering come from package
// netconn, shared with s2s, httpd and admin.
//
// # Sessions
//
// A bound session continues on a fresh goroutine, which reads and routes
// stanzas, so that the stack the TLS handshake grew is left behind. The
// router hands stanzas to [Endpoint.Send], which appends to the session's
// queue without blocking and starts a writer goroutine if none runs; the
// writer serialises everything queued into one pooled buffer, writes it
// with a deadline, and ends when the queue is empty. An idle session thus
// costs one blocked goroutine, no buffers and no timers. A queue that
// reaches [Options.QueueDepth] means the client reads too slowly: the
// stream ends with policy-violation.
//
// The read deadline moves forward as data arrives (at most once a second),
// so whitespace keepalives (§4.6.1) keep a stream alive. After
// [Options.IdleTimeout] of silence the server sends an XEP-0199 ping, and
// ends the stream with connection-timeout if nothing arrives within
// [Options.PingTimeout]. One sweep goroutine per server asks sessions that
// wrote nothing for [Options.KeepaliveInterval] for a whitespace keepalive.
//
// A client that says it is inactive (XEP-0352, offered after
// authentication) gets urgent stanzas at once; presence updates and chat
// states are held (an earlier presence of a sender superseded by a later
// one) until it is active again, something urgent goes out, or enough
// are held (csi.go).
//
// With stream management (XEP-0198) the writer keeps what it sent until
// the client acknowledges it and asks for the client's count with each
// batch. A resumable session whose connection is lost waits
// [Options.ResumeTimeout] for the client to resume it on a new
// connection, which the session's goroutine then adopts; what a session
// never got acknowledged is handed to [Options.Undelivered] when it ends
// for good, so a phone that lost its network loses no messages (sm.go).
//
// A sender that keeps its own copy until the client has a stanza (offline
// storage) sends it with SendTracked and is told once whether it was
// delivered: acknowledged, or written for a session without stream
// management; such stanzas are not also handed to Options.Undelivered
// (track.go).
//
// Stream errors (§4.9) are written, followed by the closing tag, before the
// connection closes; a panic in the reader or the writer is logged with its
// stack and closes only its own connection.
package c2s
