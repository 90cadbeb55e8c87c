// Package version answers software version queries (XEP-0092) addressed to
// the server: the name "roost" and the version it was built as.
//
// The operating system is left out unless configured ([Options.OS]):
// XEP-0092 §5 notes that revealing it helps attackers, and a home server
// has no reason to. A query to an account's bare JID (or with no 'to',
// which means the sender's own account, RFC 6120 §10.3.3) is not the
// server's to answer: the server does not know which client software the
// account uses, so it answers service-unavailable as RFC 6121 §8.5.2.1.3
// prescribes for namespaces it does not handle on an account's behalf.
//
// A [Handler] is immutable and safe for concurrent use; its reply payload
// is built once and shared.
package version
