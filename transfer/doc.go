// Package transfer moves accounts between a roost store and XEP-0227
// documents (package portable): [Export] writes every account of a store,
// [Import] reads a document made by roost, Prosody (prosody-migrator's
// xep0227 driver) or ejabberd (export_piefxis) into a store. It is the one
// place that knows both sides; the record formats stay with the features
// that own them (im's roster items, pep's node records, private's keys,
// vcard's conversion from vCard4), and the format with portable.
//
// # Import
//
// Each account is one store.AccountImport: its records go in as the
// document is read, and the account record is written last, so an
// account is all there or not at all (see store.BeginImport for accounts
// too large for one transaction). What an account cannot bring along is
// said in its [AccountReport], never dropped silently:
//
//   - Passwords never pass through plaintext (issue 19): SCRAM
//     credentials are taken as they are (salt, iteration count, StoredKey,
//     ServerKey; ejabberd's older "scram:" password form too). A password
//     exported only in plaintext is not read, and no keys are derived from
//     it: the account is created with login disabled, and the report
//     says so and how to set a new password. The same for credentials
//     roost cannot use (SCRAM-SHA-512, too few iterations): they are kept,
//     for a later roost, and the login is disabled unless another
//     credential works. Accounts moved from Prosody 0.12 (SCRAM-SHA-1
//     only) log in with clients that offer SCRAM-SHA-1 or PLAIN; a client
//     that insists on SCRAM-SHA-256 needs the password set again.
//   - Accounts of domains the configuration does not serve, and a second
//     account of the same name in one document, are skipped and
//     reported; an existing account is refused unless
//     [ImportOptions].Overwrite.
//   - Roster items and subscription requests become im's items (a
//     request waits for the user's answer and is shown again at the next
//     login); privacy lists, ejabberd's form of block lists, become block
//     list entries where they block a whole JID, and the rest is reported.
//   - Offline messages keep the time they were stored (the delay stamp
//     the exporting server added, which is taken off again); archived
//     messages keep theirs, and their roost identifiers when the document
//     is roost's own, so that a client's references stay valid.
//     stanza-ids the old server stamped for its archive are removed: they
//     name messages of an archive that does not exist any more.
//   - PEP nodes keep their configuration where PEP here offers it (see
//     pep.NodeRecord). An account whose profile lives only in PEP (vCard4,
//     XEP-0292, as Prosody's vcard4 and vcard_legacy keep it) also gets a
//     vcard-temp vCard made from it and its avatar, which is what clients
//     asking for a vCard saw on the old server.
//   - Elements nobody here knows are reported with their file and line.
//
// A dry run ([ImportOptions].DryRun) does all of it but write.
//
// # Export
//
// [Export] writes each account from one read transaction (a consistent
// view of the account; roost export runs it on a stopped server or on a
// backup of a running one, which is consistent as a whole), to one
// document or one file per account ([Sink]), in the layout Prosody's
// xep0227 driver reads: what roost exports, Prosody and ejabberd import.
// Group chat rooms follow the accounts, each as a room of its service's
// host (roost's extension of the format, see package portable), one file
// each in a directory: configuration, subject, affiliations with their
// nicknames and reasons, and the secret behind occupant ids, from and to
// the muc module's record (muc.ExportRoom, muc.ImportRoom). A room's
// message archive stays behind (XEP-0227 carries an account's archive,
// not a room's), and the summary says for how many rooms.
//
// # Importing rooms
//
// A room is one record, written at once, so it moves whole or not at all.
// Rooms of a service other than this roost's ([ImportOptions].
// RoomServices) are skipped; an existing room is refused unless
// Overwrite; a configuration field or an affiliation roost cannot take is
// left out. Each of these is a note of the [Summary], which counts the
// rooms moved.
package transfer
