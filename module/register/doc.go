// Package register implements in-band registration (XEP-0077): creating an
// account before authenticating, and changing the password or removing the
// account once authenticated.
//
// # Before authentication
//
// [Module.HandlePreAuth] answers IQs a client sends on an encrypted but not
// yet authenticated stream (c2s only passes them on after TLS). Account
// creation is off unless [Options.Allow] is set (the c2s.registration
// setting). The handler is always installed: with Allow unset a
// registration request is answered service-unavailable, as §3.1 requires
// of a host without in-band registration, and [Module.StreamFeatures]
// advertises nothing. Any other IQ before authentication gets no answer
// from the handler, and c2s ends that stream with the not-authorized
// stream error (RFC 6120 §4.9.3.12).
// With Allow set, the stream features carry <register
// xmlns='http://jabber.org/features/iq-register'/>, a get returns the
// fields (username and password, with instructions), and a set creates the
// account on the stream's domain: a taken name is conflict, a missing
// field not-acceptable (§3.1), an invalid name jid-malformed, a password
// the server refuses not-acceptable with the reason. The client then
// authenticates with SASL as usual (§3.1.1). Error replies never echo
// the password (§3.3).
//
// # Invitations (XEP-0445)
//
// With [Options.Invites] set, a client may present an invitation token
// before registering: <iq type='set'><preauth xmlns='urn:xmpp:pars:0'
// token='...'/></iq>. The token is checked then, expiry included (§5), and
// kept for the rest of the stream ([Module.PreAuthStream] makes one handler
// per stream); the registration that follows creates the account even
// when open registration is off, and [Invites.CreateAccount] redeems one
// use only once the account exists, so a failed attempt spends nothing.
// An invitation for one name allows only that name, and open registration
// cannot take a name an invitation reserves (XEP-0401 §5). The stream
// features then carry <register xmlns='urn:xmpp:ibr-token:0'/> (and its
// older name urn:xmpp:invite) beside iq-register; without a token,
// registration on such a server is not-allowed, "by invitation only".
//
// Open registration invites abuse, so account creation is rate-limited
// server-wide by a token bucket ([Options.Burst] accounts at once, then one
// per [Options.Every]); beyond it the answer is resource-constraint, to
// retry later. Registration through data forms (XEP-0004) and CAPTCHAs are
// not offered; every client supports the plain fields.
//
// # After authentication
//
// [Module.HandleStanza] serves jabber:iq:register for an authenticated
// account, addressed to no one, to its server or to its own bare JID. A get
// answers <registered/> with the username (§3.1). A set with <remove/>
// deletes the account (§3.2): the result is delivered to the requesting
// session first, then the account is removed, which ends all its sessions
// with a not-authorized stream error (the account manager does that), so
// the client sees the result before its stream closes. <remove/> must be
// the only child (bad-request otherwise). A set with a password changes it
// (§3.3): a username, if given, must be the account's (not-allowed
// otherwise), an empty password is bad-request (§3.3: never a null
// password), and a password the server refuses is not-acceptable. Both are
// always allowed to the authenticated user.
//
// Passwords are never logged; nor are they kept beyond the call to the
// account manager ([Accounts]), which derives and stores SCRAM keys only.
//
// # Concurrency
//
// All methods are safe for concurrent use; the rate limiter is the only
// mutable state, behind a mutex.
package register
