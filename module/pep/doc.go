// Package pep is personal eventing (XEP-0163): every account is a
// publish-subscribe service (XEP-0060) at its bare JID, where its clients
// keep what OMEMO encryption (device lists and key bundles), avatars
// (XEP-0084), bookmarks (XEP-0402) and similar per-account data need, and
// from which the account's own resources and its contacts are told of
// changes.
//
// # Requests
//
// Pubsub IQs addressed to an account's bare JID, or to no one (the
// sender's account, XEP-0163 §2.1), are answered on the account's behalf.
// The account is the one owner and publisher of its nodes (§2.2); others
// may read and subscribe as the node's access model allows. Served, with
// XEP-0060's errors and a text saying what went wrong:
//   - publish, with an item id or a server-generated one (128 random bits),
//     creating the node on first use (auto-create); publish-options create
//     a new node with that configuration and are preconditions on an
//     existing one: a differing field is conflict with
//     precondition-not-met (§7.1.5). Fields PEP does not know are ignored,
//     as Prosody ignores them;
//   - items: all (oldest first), by id, or the newest max_items (§6.5);
//   - retract, notifying when asked (notify='true') or configured
//     (pubsub#notify_retract, on by default);
//   - create (named or instant), configure (get, set, cancel), default,
//     delete, purge;
//   - affiliations: owner, member, publisher (which reads like member:
//     one publisher per node), outcast; and explicit subscriptions
//     (subscribe, unsubscribe, both lists) for entities that want
//     notifications without sharing presence.
//
// Access models: presence (the default, XEP-0163 §5: contacts whose
// subscription is from or both), open, roster (pubsub#roster_groups_allowed
// against the contact's roster groups) and whitelist (members only).
// authorize is refused with not-acceptable. Affiliations come first: an
// outcast never reads, a member always does.
//
// The node configuration defaults are Prosody's, which clients are tested
// against: presence access, one persistent item, the last item sent on
// subscription and presence, notifications with payloads as headlines.
// pubsub#max_items may be "max", meaning [Limits.MaxItems], the server's
// limit.
//
// # Items that do not exist yet
//
// Fetching the items of a node that does not exist is item-not-found,
// for the owner too (XEP-0060 §6.5.9.11). Prosody 0.12 answers exactly
// that, with no payload, and there profanity 0.13 cannot bootstrap OMEMO:
// it takes an error to its own device-list request as a failure and never
// publishes its first device list (observed in this repository's interop
// test against Prosody). roost's router echoes the request's payload in
// every IQ error (RFC 6120 §8.3.1 allows it); profanity reads the empty
// <items/> in the echo as an empty device list, adds its device and
// publishes. So the answer stays the one XEP-0060 and Prosody give, and
// profanity works. An empty result instead would tell clients a node
// exists that does not (its configuration, publish-options checks), so it
// is not used.
//
// # Notifications
//
// An entity gets notifications (XEP-0163 §4) when it is one of the
// account's own available resources, or a contact's available resource
// whose contact may see the account's presence (subscription from or
// both), whose client asked for the node with a "+notify" feature and
// whom the node's access model allows; or when it subscribed explicitly.
// Blocked entities (XEP-0191) get none (§4.3.3). Notifications come from
// the account's bare JID (§4.3.1); one that bounces stops notifications to
// its recipient.
//
// What a client asks for is learnt from entity capabilities (XEP-0115) in
// the presence PEP sees: the account's own broadcast presence on its way
// out (an outbound interceptor placed before im, which consumes it) and
// contacts' presence on its way in, from local and remote contacts alike.
// Interests are cached per client version (node#ver, SHA-1 only): the
// first resource announcing an unknown version is asked with one
// disco#info request, from the account's bare JID, to its full JID;
// others announcing it meanwhile wait for the answer. The answer is
// hashed with [discoinfo.Info.Ver] and cached only if it matches the
// version, so a client cannot poison another's entry; a mismatching answer
// is believed for the resource that gave it only, and the next waiting
// resource is asked. The cache is bounded ([Limits.CapsCache]), as are the
// resources followed per account ([Limits.MaxWatchers]). Presence without
// caps keeps what is known (servers may strip unchanged caps, XEP-0115
// §8.4); unavailable presence, a presence error, an unsubscribe or a
// session that ends stops following the resource.
//
// A newly followed resource gets the last item of every node it asked for
// that sends its last item on presence, stamped with its publication time
// (XEP-0163 §4.3.4, XEP-0203); a new explicit subscriber gets it too
// (XEP-0060 §6.1.7).
//
// # Bookmarks
//
// XEP-0402 bookmarks are the truth: one item per room in
// urn:xmpp:bookmarks:1, created with the configuration §3 asks for
// (whitelist, max items, never sent on presence). Clients of XEP-0048 see
// and change them ("#compat", §5.3) through private XML storage, which
// delegates storage:bookmarks here (module/private's Delegate), and
// through a storage:bookmarks PEP node ("#compat-pep"), which is a view:
// its one item, "current", is made from the XEP-0402 items, publishing
// to it rewrites them, and resources that follow it are told of every
// change. Only changed rooms are republished, so an unchanged item keeps
// its XEP-0402 extensions; a changed one keeps them too. XEP-0048 URL
// bookmarks, which XEP-0402 has no place for, stay in private XML storage
// and are merged back into what private XML reads. Bookmarks stored in
// private XML before the account had any in PEP are migrated the first
// time they are read.
//
// # Avatars
//
// Publishing avatar metadata (XEP-0084) puts the image it describes (the
// first <info/> without a URL, whose data item's SHA-1 must match its id)
// in the account's vCard as its PHOTO, and empty metadata removes it
// (XEP-0398 §3.1). A vCard stored with a photo (module/vcard's OnSet)
// publishes the image to the data and metadata nodes, creating them open
// as vCards are public (§3.2, §6), and notifies; a vCard without one
// leaves the avatar alone. The id of the current avatar is kept in memory
// and put in every available presence the account's resources send,
// broadcast or directed, that does not carry its own photo element
// (XEP-0398 §4); the stored presence that answers probes gets it too.
//
// # Storage and limits
//
// Nodes and items live in the store (store/pep.go); a node's record is
// JSON (config, affiliations, explicit subscriptions) read back strictly
// ([ErrCorrupt]). Publishing and node changes run in one store transaction
// that sees the node's record and the account's node count, so the
// per-account limits hold however requests interleave: nodes per account
// (policy-violation with max-nodes-exceeded), items per node (the oldest
// are dropped), bytes per item (not-acceptable with payload-too-big),
// subscribers and listed people per node (policy-violation). Deleting an
// account deletes its nodes with the rest of its data in the store, and
// [Module.AccountDeleted] forgets what is kept in memory.
//
// # Cost
//
// The interceptors see every stanza to and from local accounts. A message
// or an IQ that is not an answer to PEP costs a comparison; a presence
// whose caps PEP already follows for its sender, or whose client wants no
// notifications, costs two map lookups under a mutex and no allocation;
// an account without an avatar adds one lookup to its outgoing presence
// (TestHotPathsDoNotAllocate, BenchmarkInbound).
//
// # Concurrency
//
// Handlers and interceptors run on the goroutines of the sessions whose
// stanzas they handle. The caps cache, the followed resources and the
// avatar ids share one mutex, held for map operations only, never while
// routing or reading the store; the store serialises writes.
package pep
