// Package blocking implements the blocking command (XEP-0191): each account
// keeps a list of JIDs it does not want to hear from or talk to, and the
// server enforces it on every stanza in both directions.
//
// # Protocol
//
// A client reads the list with an IQ get of <blocklist/>, adds to it with
// <block/> (at least one item, §3.3; else bad-request) and removes from it
// with <unblock/> (no items: remove all, §3.5), each addressed to no one or
// to the account's own bare JID. Every JID is canonicalised
// (RFC 7622) before it is stored or compared; an invalid one is
// jid-malformed. After a change the server pushes the change, as an IQ set
// without 'from', to every resource of the account that has requested the
// list in its session (§3.3, §3.4), like a roster push, after the result of
// the request (the handler sends the result itself, as the XEP's examples
// order them).
//
// When a JID is blocked, each available resource of the account sends it
// unavailable presence (§3.3), but only if that contact may see the
// account's presence (subscription "from" or "both", [Options.Subscription]).
// When it is unblocked, the account's current presence goes to it under
// the same condition (§3.4), and, if the account is subscribed to the
// contact ("to" or "both"), a probe on the account's behalf, so that the
// account learns the contact's presence again without waiting for it to
// change.
//
// # Enforcement
//
// [Module.Inbound] and [Module.Outbound] are router interceptors; the
// server registers them before the IM interceptors so that nothing else
// sees a blocked stanza. Inbound, from a blocked JID to the account
// (§3.3): presence of every type is dropped silently; messages and IQ gets
// and sets are answered service-unavailable, so the account looks offline
// or absent; errors and IQ results are dropped. Outbound, from the account
// to a blocked JID: refused with not-acceptable carrying
// <blocked xmlns='urn:xmpp:blocking:errors'/> (§3.3), delivered straight
// to the sending session (routed, it would come from the blocked JID and be
// dropped by the account's own inbound check); errors and IQ results the
// account sends to a blocked JID are dropped. Stanzas between the
// account and itself or its own server are never blocked, so that blocking
// one's own domain cannot cut a client off from its server. The account's
// broadcast presence and the server's own presence probes are routed by
// the IM code, not sent through the outbound interceptors; that code asks
// [Module.IsBlocked] to skip blocked contacts.
//
// A JID on the list matches as XEP-0191 §6 and XEP-0016 §2.1 say:
// user@domain/resource only that resource; user@domain any of its
// resources; domain/resource only that resource; domain the domain itself,
// every address at it, and every address at its subdomains.
//
// # Cache
//
// The check runs on every stanza to or from an account, so the lists live
// in memory: a map from account to an immutable set, loaded from the store
// on first use and replaced, never mutated, on each change. Readers take a
// read lock only to fetch the set's pointer. Loads and changes are
// serialised by a second mutex, so a load can never publish a list older
// than a concurrent change. An account with an empty list shares one empty
// set, and the check then costs one map lookup under a read lock. A check
// never allocates, whatever the list (TestIsBlockedAllocs asserts it). The
// server calls [Module.Forget] when an account
// is deleted.
//
// # Concurrency
//
// All methods are safe for concurrent use. Pushes and presence are sent on
// the caller's goroutine through the router, which never blocks on a slow
// session.
package blocking
