// Package private implements private XML storage (XEP-0049): an account
// stores arbitrary XML fragments on the server and reads them back, keyed
// by the fragment's root element. Clients use it for bookmarks (XEP-0048)
// and preferences.
//
// # Protocol
//
// Only the account itself may store or read its data: a get or set
// addressed to anyone else is forbidden (§2.3 prefers forbidden to
// service-unavailable). A query with no child element is not-acceptable
// (§2.3). A get names exactly one fragment, by an empty element in its
// namespace (more than one is bad-request, §2.3 forbids it); the answer is
// the stored fragment, or the empty element itself when nothing is stored.
// A set may carry several fragments; each replaces the one stored under
// the same name. A fragment in a reserved namespace (jabber:client,
// jabber:server or jabber:iq:private itself, the latter also being what a
// child without its own xmlns inherits) is refused with not-acceptable,
// which §2.3 allows: such a fragment is not client data. Storing an empty
// fragment deletes the stored one, so that a get afterwards echoes the
// empty element as if nothing had been stored, which is what it means.
//
// # Storage
//
// Fragments are serialised with every namespace declared and stored
// through PrivateXML/PutPrivateXML under the key "{namespace}local"
// (Clark notation), unambiguous because an XML local name cannot contain
// '}'. A set is
// checked entirely (reserved namespaces, [Options.MaxBytes] per fragment)
// before anything is written. Stored bytes are parsed back with the
// stream decoder; damage is an error ([ErrCorrupt]), never a panic, which
// the fuzz target FuzzDecode checks.
//
// # Delegated fragments
//
// A fragment another feature owns ([Options.Delegate]) is read and written
// through it: bookmarks (storage:bookmarks) live in personal eventing,
// which converts them to and from XEP-0402 (§5.3, "#compat"), so that a
// client using either protocol sees the other's changes. The delegate
// gets what the private store holds under the name when answering a get,
// and tells what the store keeps on a set (the parts it has no place
// for).
//
// # Concurrency
//
// A [Handler] holds no mutable state and is safe for concurrent use.
package private
