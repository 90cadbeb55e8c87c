// Package extdisco tells clients where the STUN and TURN servers are
// (external service discovery, XEP-0215), with time-limited TURN
// credentials, so that audio and video calls (Jingle) get through the
// NAT of a home router.
//
// # Services and credentials
//
// The services come from the configuration: a TURN server such as coturn
// on a host and port, offered as STUN (UDP), TURN over UDP and TCP and,
// with a TLS port, TURNS. A client asks the server (its account domain)
// for <services/> (§3.1), optionally of one type, and gets each with the
// credentials it needs inline, as Conversations and Monal expect; it may
// also ask for <credentials/> for one service (§3.2), and gets
// item-not-found for a service that is not configured.
//
// Credentials follow the shared-secret scheme that coturn implements
// with use-auth-secret and static-auth-secret (the "TURN REST API"
// draft, draft-uberti-behave-turn-rest-00 §2.2): the username is the
// expiry time in Unix seconds, a colon and the requester's bare JID, and
// the password is the base64 of HMAC-SHA1(secret, username). The TURN
// server checks the password with the secret it shares with roost and
// refuses a username whose time has passed, so roost and the TURN server
// keep no list of users. The expires attribute gives the same time as a
// XEP-0082 date. The secret is never logged.
//
// Only the server's own accounts may ask: a request from another server
// is forbidden, so that strangers cannot use the family's relay.
//
// # Concurrency
//
// The module holds only its configuration; requests are answered
// concurrently.
package extdisco
