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
// A logout is when the account goes offline for its contacts (§3): its
// last available resource broadcasts unavailable presence
// ([Module.Intercept], an outbound interceptor that never consumes a
// stanza; the status of that presence is kept), or an available session
// ends without having sent it (a dropped connection; no status). A session
// that never sent available presence was never online for anyone and
// leaves no trace, so an invisible login does not show as recent activity.
//
// Logouts are not committed one by one: a commit syncs the disk, and on a
// Raspberry Pi's SD card that is slow and wears the card. They wait in
// memory, where queries find them, and a background job ([Module.Run])
// commits them together every [Options.FlushEvery] (10 s) and when the
// server stops. A crash loses at most the logouts of the last interval;
// an account deleted meanwhile takes its pending logout with it.
//
// # Concurrency
//
// All methods are safe for concurrent use. The pending logouts are a map
// guarded by a mutex, one entry per account that logged out since the last
// commit.
package last
