// Package httpd is roost's web side: the port shared by ALPN (usually 443),
// the few HTTP resources an XMPP server publishes there, and the plain HTTP
// port (usually 80) that exists for ACME http-01.
//
// # One TLS port, several protocols
//
// A [Dispatcher] accepts TCP connections, runs the TLS handshake itself
// (with the certificate manager's GetCertificate, so renewed certificates
// apply to the next handshake) and hands each connection on by the
// protocol the handshake negotiated (ALPN, RFC 7301):
//
//   - "acme-tls/1": an ACME CA validating a tls-alpn-01 challenge (RFC 8737
//     §3). The challenge certificate was chosen inside GetCertificate; the
//     handshake is the whole exchange, so the connection is closed.
//   - a protocol with a [ConnHandler], such as "xmpp-client" (c2s direct
//     TLS, XEP-0368) or "xmpp-server" (s2s direct TLS): the handshaken
//     *tls.Conn is handed to it.
//   - "h2", "http/1.1" or no ALPN at all: the connection goes to an
//     [net/http.Server] serving [Options]' handler. Browsers and HTTP
//     libraries always offer ALPN; XEP-0368 says XMPP entities SHOULD, and
//     that operators should not count on multiplexing without it.
//
// The server advertises exactly the protocols it has a handler for (the
// handlers first, in a fixed order, then h2 and http/1.1, then whatever the
// base configuration lists, such as "acme-tls/1" when that challenge is
// on), so a peer that offers only an unserved protocol fails the handshake
// with no_application_protocol instead of reaching the wrong server. The
// server's preference decides (crypto/tls picks the first server protocol
// the client offers).
//
// Peer servers authenticate with their certificate (SASL EXTERNAL,
// XEP-0178), so a handshake that will negotiate a protocol listed in
// DispatcherOptions.RequestClientCert asks for one (without requiring or
// verifying it: that is the s2s server's business). The decision is taken
// from the ClientHello's ALPN list in GetConfigForClient, so browsers are
// never asked.
//
// # HTTP resources
//
// [NewHandler] serves:
//
//   - /.well-known/host-meta and /.well-known/host-meta.json (XEP-0156 §3,
//     RFC 6415): the alternative connection methods of the requested
//     domain, XML (required) and JSON, readable cross-origin (CORS, with
//     an answer to a preflight) so that web clients on other sites can use
//     them: XMPP over WebSocket at the address the request came to. Only
//     hosted domains answer; the Host header names the domain.
//   - /health: a small JSON summary (sessions, uptime, certificate state)
//     for monitoring. It is always 200 while the server runs; "status" is
//     "degraded" when a certificate has a problem.
//   - / (when [Options].ChatPage is set): a web chat page, converse.js
//     set up for the WebSocket beside it (on the host and port the page
//     came from, so the browser's Origin is the server's own) and for the
//     requested domain, so that a name typed without "@" logs in there.
//     The browser loads converse.js from [ChatAppPath] when the server
//     has a copy ([ChatApp]), else from the configured address.
//   - [ChatAppPath]: the local copy of converse.js, if any. Its URLs carry
//     a version, so its files are cached for a year; only known file
//     types are served (with their types and nosniff), never a
//     directory, a hidden or unlisted file, or anything a name or a
//     symbolic link reaches outside the copy's directory ([os.Root]).
//     Files are opened per request and streamed: nothing is read at
//     start or kept in memory.
//   - the routes of the server's features ([Options].Routes, such as the
//     uploaded files of XEP-0363), which this package mounts without
//     knowing what they serve.
//
// A request whose path is not in its clean form (dot segments, encoded or
// not, or doubled slashes) is 404 for every route, where net/http's
// ServeMux would redirect it to the cleaned path.
//
// [Redirect] is the plain-HTTP fallback: it sends configured hosts to the
// same path over https. The ACME http-01 responder wraps it (certs).
//
// # Limits and lifetime
//
// Handshakes have a deadline (DispatcherOptions.HandshakeTimeout) and count
// against DispatcherOptions.MaxConnsPerIP, as do HTTP connections until
// they close; XMPP connections are counted by the server they are handed
// to. HTTP has header, idle and write timeouts ([NewHTTPServer]).
//
// # Concurrency
//
// Each accepted connection is handshaken on its own goroutine, which the
// Dispatcher owns until it hands the connection on; one goroutine serves
// HTTP for all listeners of a Dispatcher. [Dispatcher.Shutdown] closes the
// listeners and pending handshakes, shuts HTTP down gracefully and waits
// for every goroutine it owns. The handlers only read immutable options.
package httpd
