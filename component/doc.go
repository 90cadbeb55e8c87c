// Package component serves external components (XEP-0114, the
// jabber:component:accept protocol): separate programs, such as the IRC
// gateway biboumi, that connect to the server, prove a shared secret and
// then serve a JID domain of their own.
//
// It sits beside c2s and s2s and, like them, never imports router, store
// or server: it declares the [Router] it hands the components' stanzas to,
// and the server's module for components delivers stanzas addressed to a
// component through [Server.Send].
//
// # Negotiation
//
// A component opens a stream in the jabber:component:accept namespace
// whose 'to' names its domain (XEP-0114 §3). An unknown domain, or one
// the listener does not serve, gets host-unknown; a missing 'to'
// improper-addressing (as Prosody answers); another content namespace
// invalid-namespace. Errors about the header follow our own header, as
// XEP-0114 §3 requires. The streams predate XMPP 1.0: they carry no
// version, and our header has none and no stream features.
//
// The component then sends <handshake/> with the hex SHA-1 of our stream
// id followed by the secret. It is compared with ours in constant time; a
// mismatch, or anything but the handshake, ends the stream with
// not-authorized (XEP-0114 §3). An empty <handshake/> tells the component
// it is in. Header and handshake share one deadline
// ([Options.NegotiationTimeout]).
//
// # One connection per domain
//
// A second component that authenticates for a domain already connected is
// refused with conflict, and the connection that is there stays. XEP-0114
// §3 names conflict as the error for a component name the server will not
// service; it does not say which connection should win. Prosody's default
// (component_conflict_resolve = "kick_new") refuses the new one, and so do
// we, because replacing would let a misconfigured second instance (two
// biboumis started by two init systems) knock the working one off, and
// the two would take turns forever, each reconnecting as soon as the
// other replaced it. The case replacing would serve, a component whose
// old connection died unnoticed, is covered otherwise: a process that
// exits has its socket closed by the kernel, and a silent connection is
// pinged after [Options.IdleTimeout] and dropped after
// [Options.PingTimeout]. The conflict check runs after the handshake, so
// that only a party that knows the secret learns that the component is
// connected.
//
// # Stanzas
//
// Every stanza from a component must come from its domain or an address at
// it (XEP-0114 §3): any other 'from' ends the stream with invalid-from
// (RFC 6120 §4.9.3.9). A stanza without 'from' is taken as sent by the
// domain itself, as Prosody does. One without 'to' gets a bad-request
// stanza error back and goes nowhere. Anything that is no stanza ends the
// stream with unsupported-stanza-type. The rest goes to [Router.Route],
// which delivers to local accounts, other components and services, and
// remote servers, whose s2s authenticates the component's domain like any
// of the server's own (dialback, XEP-0220 §2.5 multiplexing).
//
// # Sessions
//
// Once authenticated, a connection has one reader (its own goroutine) and
// one writer goroutine, tied by an errgroup: if either fails both stop.
// [Server.Send] appends to a queue of at most [Options.QueueDepth]
// stanzas without blocking; the writer drains it into one pooled buffer
// and writes it with a deadline ([Options.WriteTimeout]). A component
// that lets the queue fill up reads too slowly and is disconnected with
// policy-violation. The writer sends a whitespace keepalive (RFC 6120
// §4.6.1) after [Options.KeepaliveInterval] without writing. The read
// deadline slides with every read; after [Options.IdleTimeout] of silence
// the component gets an XEP-0199 ping, and the stream ends with
// connection-timeout if nothing arrives within [Options.PingTimeout]. An
// idle gateway may be silent for hours, and any answer, even an error,
// keeps it connected. Reads are limited in size per stanza
// ([Options.Limits]) and in rate ([Options.ReadRate]), and connections
// per address ([Options.MaxConnsPerIP]), as for clients.
//
// The connection plumbing is package netconn's, as for c2s and s2s: the
// accept loop, the per-address count, panic recovery, the read deadline
// and rate limit, the write buffer pool and the linger after the closing
// tag. [Server.Shutdown] ends every stream with system-shutdown. Stream errors
// are written with the streams prefix and the jabber:component:accept
// default namespace, then the closing tag; the connection then waits
// briefly for the component to close its side (RFC 6120 §4.4). A panic in
// a connection's goroutines is logged with its stack and closes only that
// connection.
//
// # Security
//
// The protocol has no TLS: a component should connect over loopback, and
// the default listen address is 127.0.0.1. A component may write 'from'
// addresses for anyone at its domain (XEP-0114 §4): give its secret only
// to software you trust.
package component
