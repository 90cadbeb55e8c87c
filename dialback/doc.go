// Package dialback implements Server Dialback (XEP-0220) without touching
// the network: the keys of XEP-0185, the <db:result/> and <db:verify/>
// elements, and the per-stream state machine of domain pairs. Package s2s
// moves the elements over streams and provides the one thing that needs a
// socket, reaching an Authoritative Server, as a [Verifier].
//
// # Roles
//
// Dialback has three roles, and every server plays all of them:
//   - Initiating Server (outbound stream, §2.1.1): [Keyer.Initiate] makes
//     the <db:result/> request for a domain pair and marks it Pending;
//     [Outcome] applies the answer.
//   - Receiving Server (inbound stream, §2.2.1 and, for the verification
//     request it sends outbound, §2.1.2): [Receiver.Receive] decides what
//     to do with a request, [Receiver.Check] asks the Authoritative Server
//     through the [Verifier] and turns its answer into ours. Requests for
//     domains we do not host, and failures to reach the Authoritative
//     Server, are dialback errors (§2.4), which do not end the stream.
//   - Authoritative Server (§2.2.2): [Keyer.Answer] answers a
//     <db:verify/> by recomputing the key.
//
// # Keys
//
// key = HMAC-SHA256(hex(SHA256(secret)), receiving + " " + originating +
// " " + streamID), in hex (XEP-0185 §2, with the hex step of its worked
// example, as Prosody and ejabberd compute it). The key depends only on
// its inputs, so nothing is stored per request. [Keyer.Check] compares
// with hmac.Equal. Keys and the secret are never logged or put in errors.
//
// # State
//
// [Pairs] holds the state of every domain pair on one stream: Idle,
// Pending, Authorized. An answer counts only for a pair Pending on the same
// stream, and a <db:verify/> answer only for a request sent on the same
// stream ([Verifications]); anything else is [ErrUnsolicited] and ignored,
// which closes the "unsolicited dialback" holes of §3.1. SASL EXTERNAL
// (XEP-0178) marks a pair Authorized directly ([Pairs.Authenticate]); further
// pairs may then be added by dialback on the same stream ("multiplexing",
// §2.5).
//
// # Wire format
//
// [Parse] accepts the elements with any prefix the stream declared;
// [Append] writes them with the "db" prefix (the stream header declares
// it), which XEP-0220 §2 requires and some deployments insist on, and
// writes the <error/> child of a dialback error in the stream's content
// namespace.
//
// # Concurrency
//
// [Keyer] is immutable. [Pairs] and [Verifications] are guarded by their
// own mutexes, because a stream's reader and the goroutines checking keys
// for it use them at once. [Receiver.Check] blocks for as long as the
// Verifier does; callers run it off the stream's reader goroutine.
package dialback
