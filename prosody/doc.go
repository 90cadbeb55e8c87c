// Package prosody reads a Prosody 0.12 data directory (internal storage)
// for roost import prosody: the whole move from a Prosody on the same
// machine. It yields XEP-0227 entries (package portable), so that one
// importer (package transfer) takes Prosody's data by either road:
//
//   - [Dir.Migrate] runs prosody-migrator, which comes with Prosody, to
//     export the accounts with its own xep0227 driver (credentials,
//     roster, vCard, private XML, PEP nodes and items, the archive), and
//     [Dir.Supplement] adds what that driver has no place for, read
//     directly: block lists and offline messages. This is the road when
//     prosody-migrator is installed: Prosody reads its own data.
//   - [Dir.Source] reads everything directly ([Dir.Read] per account),
//     without running anything: the road without prosody-migrator, and a
//     check of the other (both give the same accounts; the tests compare
//     them).
//
// # Prosody's files
//
// util.datamanager keeps one directory per host and one per store in it,
// one file per user: user.dat for a key-value store ("return <table>;")
// and user.list for an archive ("item(<table>);" per item), names
// %-encoded. The Lua is util.serialization's; [readReturn] and
// [eachItem] parse that subset of Lua and execute nothing, within
// [Limits] (a value's bytes and nesting), an archive item at a time, so
// a large archive is read in bounded memory. Stored stanzas (offline
// messages, archived messages, PEP payloads, vCards) are util.stanza's
// preserialised tables, turned into elements by [element].
//
// What roost reads: accounts (internal_hashed's SCRAM keys, hex, the
// hash told by their length; internal_plain's password, which the
// importer does not take), roster (items, groups, pending requests),
// vcard, private, blocklist, pep and pep_<node>, offline, archive. The
// other stores of a user are reported, except Prosody's own bookkeeping
// (lastlog, cron, smacks_h, tokens, ...). Group chat services (a host
// directory with persistent.dat) give their persistent rooms from the
// config store ([Dir.Rooms]: settings as a muc#roomconfig form, subject,
// affiliations with reserved nicknames; not the room archives
// nor the occupant-id salt, whose ids roost derives its own way), read
// directly on both roads, as the xep0227 driver has no room handler.
// Other hosts without an accounts store (components) are not read.
//
// # Concurrency
//
// A Dir is a value; its methods read files and may run concurrently.
// Reading while Prosody runs sees each file as Prosody last wrote it
// (atomically, by rename): stop Prosody for a consistent move.
package prosody
