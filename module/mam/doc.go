// Package mam is the message archive of accounts (XEP-0313): every
// conversation an account has, kept on the server, so that a phone that
// was off fetches what it missed and a laptop and a phone show the same
// history. The protocol (queries, paging, results, ids) is package
// archive, shared with the archives of group chat rooms; the storage is
// the server's store, behind [archive.Store].
//
// # What is archived
//
// Chat and normal messages that are the conversation (§5.1.1): with a
// body or subject, an end-to-end encrypted payload (OMEMO, OpenPGP), and,
// as Prosody's mod_mam archives them, delivery receipts and chat markers
// (which sync read state between devices), invitations and call messages
// (XEP-0353). Not chat states alone, errors, headlines, group chat
// messages (the room keeps its own archive) or anything marked no-store
// (XEP-0334). Both directions: what an account sends, to anyone,
// including other servers, goes into the sender's archive; what it
// receives, into its own. A message an account sends to itself is
// archived once. The archived copy is the message as routed, addressed,
// without its chat states.
//
// Each account chooses what is archived (XEP-0441): a default (always,
// roster: only contacts in the roster, never; the server's default is
// [Options.Default]) and lists of JIDs always or never archived. The
// preferences are stored, and cached in memory once read.
//
// # Stanza ids, carbons and the module order
//
// Every archived message is stamped with <stanza-id by=account id=…/>
// (XEP-0359) before anyone else sees it, so that the id a client gets
// live is the id it finds later in the archive. Modules cannot call each
// other; the order of the server's module list does it:
//
//	im → mam → carbons → mam-seal
//
// Outbound (a local session sends), the mam interceptor archives the
// message in the sender's archive and stamps the sender's stanza-id;
// carbons, next, copies the stamped message to the sender's other
// sessions (<sent/>, XEP-0280), which is where XEP-0313 §3.5 wants the
// id; mam-seal ([MAM.Seal]), after carbons, takes it off again before
// the message leaves, because the recipient has no access to the
// sender's archive (§3.5: MUST NOT). Inbound (a message for a local
// account, from anywhere), the mam interceptor archives it in the
// recipient's archive and stamps the recipient's stanza-id before the
// router delivers it; carbons' delivery observer then copies the stamped
// message (<received/>), and a message that finds no session goes to
// offline storage stamped. Any stanza-id that claims to be by the account
// is removed first in both directions (XEP-0359 §3, against forgery).
// A message that comes back through the router because a session with
// stream management never acknowledged it (c2s hands it back) carries a
// stanza-id of its archive already; it is recognised by looking the id up
// (ids are unpredictable, so a forged one is not found) and not archived
// twice.
//
// # Durability
//
// Archiving adds no fsync to a message: the store queues the record and
// commits queued records in groups (see package store). A client with
// stream management is told a message was handled only after it is on
// disk: c2s calls the store's SyncArchive before every <a/> and
// <resumed/>, so an acknowledged message survives kill -9. Without
// stream management, a crash may lose the last fraction of a second.
//
// # Queries
//
// An account queries its own archive, addressed to its bare JID or to no
// one; any other archive is forbidden (§9.1). Queries, the form (§4.1.5),
// metadata (§5) and preferences are served here; the account's disco#info
// lists urn:xmpp:mam:2, #extended and urn:xmpp:sid:0 (§6). Results go to
// the querying session only. A page holds at most [archive.Limits]
// MaxPage results, which is below the session's queue depth.
//
// # Retention
//
// A background job ([Options.SweepEvery], hourly) deletes, from every
// account's archive, messages older than [Options.KeepFor] and the oldest
// beyond [Options.MaxSize] bytes, a few hundred per transaction with a
// pause between ([archive.Sweep]), so that the sweep never holds up
// message commits. Room archives are left to the group chat module,
// which applies its own retention the same way.
//
// # Concurrency
//
// Interceptors and handlers run concurrently on the router's goroutines;
// the preferences cache is behind a read-write lock, and everything else
// is the store's.
package mam
