// Package disco answers service discovery (XEP-0030) for the server and, on
// their behalf, for the accounts it hosts, and computes the server's entity
// capabilities (XEP-0115).
//
// # What is advertised
//
// The server's disco#info lists the identity server/im (XEP-0030 §3.1 and
// the registry's "server" category), any identities and extension forms
// modules add, and exactly the features the enabled modules serve: each
// module declares them when it registers (module.Registry), and disco,
// the last module of the server's list, answers from the catalog of the
// modules before it ([Options.Catalog]). disco adds its own two
// namespaces. Nothing is advertised that no handler answers, because
// clients decide what to offer from this list (blocking, password change,
// ...). disco#items on an account domain lists the hosted services whose
// parent it is (conference.example.org, upload.example.org, components),
// and only those that are enabled.
//
// An account's bare JID answers with identity account/registered, the
// identities modules add for accounts (pubsub/pep), and the features the
// server serves on an account's behalf (RFC 6120 §10.3.3, RFC 6121
// §8.5.2.1.3). XEP-0030 §8 forbids
// leaking an account's existence or availability: disco#info to a bare JID
// is answered only to the account itself and to entities with a presence
// subscription to it ("from" or "both", looked up through
// [Options.Subscription]); anyone else gets service-unavailable, exactly
// as if the account did not exist. disco#items to an account is always the
// empty list: there are no public items yet, and available resources are
// never listed (§8, rule 2).
//
// # Entity capabilities
//
// [Handler.Ver] is the verification string of XEP-0115 §5.1, computed by
// package discoinfo: identities sorted by category/type/xml:lang/name,
// features sorted by octet and extension forms by FORM_TYPE, each followed
// by '<', hashed with SHA-1 and base64-encoded. The server offers
// it as a stream feature after authentication (§6.3, [Handler.Caps]), so
// clients learn the server's features without a round trip when the
// string is cached, and disco#info for the node "<node>#<ver>" answers with
// the same identities and features. Features are deduplicated and sorted
// once, at construction: §5.4 makes a response with duplicate features
// invalid for caps.
//
// # Concurrency
//
// A [Handler] is immutable after [New]; the reply payloads are built once
// and shared by every reply (elements handed to the router are never
// mutated), so HandleStanza allocates only the IQ around them.
package disco
