// Package archive is the protocol side of message archives (XEP-0313),
// shared by the archives of accounts (module/mam) and of group chat rooms
// (module/muc): one query parser, one way of paging, one shape of
// results, so that a room archive and a user archive behave the same.
//
// # Identifiers
//
// An archived message's [ID] is the time it was archived, in
// microseconds, made unique and increasing across the server (Seq), and a
// random tag: XEP-0313 §3 asks for identifiers that are unique within the
// archive, never reused and unpredictable. The time makes the archive
// ordered and a lookup one seek; the tag makes an id impossible to guess.
// On the wire it is 16 characters of base64url. The same ID is the
// stanza-id (XEP-0359) stamped on the message as delivered ([Stamp]) and
// the result id of queries, so a client can match what it received live
// with what it later reads from the archive.
//
// # Queries
//
// [ParseQuery] reads the <query/> payload: the query form (XEP-0004 via
// package form, FORM_TYPE urn:xmpp:mam:2) with with, start, end,
// before-id, after-id and ids (§4.1), result set management (XEP-0059:
// max, after, before, an empty before for the last page) and flip-page
// (§4.2.5). Every error is a *stanza.Error to answer with: bad-request
// for a malformed form or set, feature-not-implemented for a field the
// server does not know (§4.1.5) or RSM paging by index, item-not-found for
// an id that cannot be in any archive, jid-malformed for a bad with.
// Work is bounded by [Limits]: an absurd max is clamped to the largest
// page, and a query naming more ids than a page holds is refused with
// policy-violation. Ids a query names must exist in the archive; the
// store checks them ([Range].Known) in the transaction that reads the
// page, and [Answer] turns a missing one into item-not-found.
//
// RSM before and the before-id field are both upper bounds, after and
// after-id both lower bounds; given both, the tighter applies. RSM before
// (empty or not) also takes the page from the newest end, as XEP-0059
// §2.5 says; before-id does not (§8). flip-page changes only the order in
// which a page's results are sent, never which results they are, so the
// RSM first and last of <fin/> are always the page's oldest and newest.
//
// # Results
//
// [Answer] runs a parsed query against a [Store], sends one <message/>
// per result (the archived stanza forwarded, XEP-0297, with its archive
// time as a XEP-0203 delay) and returns the IQ result with <fin/>:
// complete when nothing beyond the page matches, stable always (one file,
// no replicas). [Metadata] answers the archive metadata request (§5).
// A stored message that no longer parses is sent without its <message/>,
// as §3.2 allows for removed content, so one bad record does not break
// paging through the rest.
//
// # Retention
//
// [Sweep] applies a retention [Policy] (keep messages newer than a time,
// at most so many bytes) to every archive of a store through its
// [Trimmer], a bounded number of deletions per transaction with a pause
// between; [Retain] runs it periodically as a module's background job.
// Each owner of archives (accounts: module/mam, rooms: module/muc) trims
// its own, and leaves the others' alone in its policy.
//
// # Concurrency
//
// The package holds no state. Queries, results and IDs are values; the
// Store is called concurrently and must be safe for that.
package archive
