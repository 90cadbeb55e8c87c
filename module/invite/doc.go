// Package invite is how people join a roost: invitations with a link and
// a QR code (XEP-0401), registration with the invitation's token
// (XEP-0445) and pre-authenticated contact requests (XEP-0379).
//
// # Invitations
//
// An invitation is a random token (128 bits, lower-case base32) with an
// expiry, a number of uses, an optional inviter, an optional reserved
// user name and an optional admin role for the account it makes. Only the
// token's SHA-256 is stored; the token exists in the link given to the
// invitee and nowhere else, so a list of invitations ([Module.List], for
// the command line and the console) shows short IDs — the first bytes of
// the hash — by which [Module.Revoke] withdraws one.
//
// The admin makes invitations with `roost invite` and in the web console
// ([Module.Create] through the server); any account makes them with the
// ad-hoc commands of XEP-0401 §5: urn:xmpp:invite#invite gives a contact
// invitation at once, and urn:xmpp:invite#create-account asks for a name
// and whether to become contacts. Who may invite people to make accounts
// is configured ([Options.Allow]: the admins, or everyone); anyone else's
// contact invitation carries no "ibr=y" and makes no account, and an
// account that is not an admin may hold [Options.MaxPerUser] open ones.
//
// The link is https://<domain>/invite/<token>, and the xmpp: URI inside
// it is xmpp:<inviter>?roster;preauth=<token>;ibr=y for an invitation
// with an inviter (the app adds the contact too), or
// xmpp:<domain>?register;preauth=<token> (with the reserved name, if any)
// for one without.
//
// # The landing page
//
// [Module.ServeHTTP] serves the link: who invites, the apps to install
// for Android, iPhone, computers and (if configured) the web, with the
// browser's own kind of device first, a button that opens the xmpp: URI
// in the app, a QR code of the link for another device, and a form that
// makes the account in the browser for an app that cannot. The page has
// no script and forbids them (Content-Security-Policy), sends no referrer
// (the token is in the address) and is never cached. A token that is
// unknown, used up, expired or withdrawn gets the same page, 410 Gone:
// which one it was tells a guesser nothing.
//
// # Registration and contacts
//
// The register module asks [Module.Check] when a client presents a token
// before registering (XEP-0445 §5: expiry is checked there) and
// [Module.CreateAccount] to make the account. CreateAccount counts the
// use only once the account exists, in one store transaction, and removes
// the account again if another client used the token up meanwhile. Then
// the account gets what the invitation grants: the admin role, and the
// inviter as a mutual contact. The two are joined through the
// subscription state machine as their clients would do it (RFC 6121 §3:
// each pre-approves the other, then each asks), so im stores the roster
// items and pushes them to the inviter's online clients (XEP-0401 §5.6).
//
// A subscription request that carries a token of the account it is
// addressed to (XEP-0379 §3.4, from someone with an account here or
// elsewhere) is approved: an inbound interceptor, before im's, sends the
// account's pre-approval and its own request back, counts a use, and lets
// im handle the request, which then finds it pre-approved. Any other
// request costs the interceptor one comparison of kind and type.
//
// # Concurrency
//
// A Module holds no mutable state of its own; the store serialises
// redemption. An hourly job removes invitations an hour after they
// expired.
package invite
