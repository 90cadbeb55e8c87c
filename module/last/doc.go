// Package last answers last activity queries (XEP-0012) for the server and,
// on their behalf, for the accounts it hosts, and records when an account's
// last session ends.
//
// # Queries
//
// To a hosted domain (§5), the answer is the server's uptime in seconds.
// To an account's bare JID, or with no 'to' (the sender's own account,
// RFC 6120 §10.3.3), the answer is 0 while the account has an available
// resource, else the seconds since its last session ended and the status
// text of the last unavailable presence it sent (§3). An account that has
// never ended a session has no last activity: service-unavailable.
//
// §3 and §8 allow the answer only to entities that may see the account's
// presence: the account itself and contacts whose subscription is "from" or
// "both" in the account's roster, looked up through [Options.Subscription].
// Anyone else gets forbidden, as §3 requires. (Blocked contacts never get
// here: the blocking interceptor refuses their IQs first.) Queries to a
// full JID are the client's business and never reach this package.
//
// # Recording
//
// [Module] is a router session observer: when a session ends and the
// account has no session left ([Options.Sessions]), it stores the time and
// the status in the store (LastActivity/SetLastActivity). The status comes
// from [Module.Intercept], an outbound interceptor that never consumes a
// stanza: it remembers the <status/> of each resource's broadcast
// unavailable presence until that session ends, and forgets it if the
// resource becomes available again. A connection that drops without an
// unavailable presence records an empty status.
//
// # Concurrency
//
// All methods are safe for concurrent use. The pending statuses are a map
// guarded by a mutex and hold at most one short string per session.
package last
