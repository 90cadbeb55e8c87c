// Package im is the instant-messaging core of RFC 6121: rosters,
// presence subscriptions and presence. Roster and presence share one
// state machine, so they live together.
//
// # Roster (§2)
//
// [IM.HandleStanza] answers jabber:iq:roster gets and sets for the user's
// own roster, with roster versioning (§2.6): a client that presents the
// current version gets an empty result, one that presents an older version
// gets the changes as roster pushes, anyone else the full roster. Every
// change is pushed to each of the user's sessions that asked for the
// roster ("interested resources", §2.1.6). Sets are validated as §2.3.3
// lists (bad-request, not-acceptable, not-allowed, item-not-found).
//
// # Subscriptions (§3, Appendix A)
//
// A roster item records the subscription state (none, to, from, both),
// pending-out ("ask"), pending-in (with the request, redelivered at the next
// initial presence) and pre-approval (§3.4). [outbound] and [inbound] are
// the transition tables of Appendix A as pure functions; the interceptors
// apply them atomically to the stored item (store.UpdateRosterItem), then
// push, route or deliver. Outgoing subscription stanzas are stamped with
// the user's bare JID, so a client cannot speak for anyone else.
//
// A request from a stranger (no item yet) is kept in an item of its own
// that holds only the request, stored with a leading mark ('?') so that
// the store can count these apart from the roster without decoding them
// (store.RosterCount): they have their own limit
// (Options.MaxSubscriptionRequests; past it the new request is refused
// with resource-constraint) and do not count against MaxRosterItems. What
// is kept of any request is what §3.1.3 redelivers: the sender, a short
// status and nickname (storedRequest), never the whole stanza. The user
// denies one with unsubscribed (Appendix A.2.4), which removes it.
//
// # Presence (§4)
//
// The router records each session's availability and priority; im does
// the broadcasting. Initial presence sends probes to the contacts the user
// is subscribed to, broadcasts to the contacts subscribed to the user and
// to the user's own resources, redelivers pending subscription requests
// (in batches, each once the client has the last: requests.go) and then
// calls Options.OnAvailable (offline messages). Unavailable
// presence, sent or implied by a dropped connection ([IM.SessionEnded]),
// reaches the same contacts plus everyone the session sent directed
// presence to. Probes from subscribed contacts are answered with the
// presence of each available resource; others get unsubscribed (§4.3.2).
// Contacts that answered with a presence error are left out of later
// broadcasts for the rest of the user's session (§4.4.2).
//
// # Concurrency
//
// Interceptors and handlers run on the goroutine of the session whose
// stanza is being routed; stored state changes are atomic per roster item
// in the store, and the per-session state here is guarded by one mutex.
package im
