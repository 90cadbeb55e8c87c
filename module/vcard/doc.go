// Package vcard stores and serves vCards (XEP-0054, vcard-temp).
//
// An account sets its own vCard with an IQ set addressed to no one or to its
// own bare JID (§3.2); setting anyone else's is forbidden. Anyone may get
// an account's vCard by addressing its bare JID, which the server answers on
// the account's behalf (§3.1, RFC 6120 §10.3.3); an account with no vCard
// gets an empty <vCard/>, one of the two answers §3.1 allows, which every
// client understands. The server itself has no vCard: a get to the domain
// is answered with an empty one as well. Setting an empty vCard deletes
// the stored one.
//
// Another feature may learn of every vCard set ([Options.OnSet]): personal
// eventing turns its photo into the account's avatar (XEP-0398 §3.2).
//
// # Storage
//
// The vCard is stored as its serialised XML, with every namespace declared
// ([xmlstream.AppendElement] without a content namespace), through the
// store's VCard/PutVCard; the store treats it as opaque bytes. A vCard
// larger than [Options.MaxBytes] once serialised is refused with
// not-acceptable before anything is written. Reading parses the bytes back
// with the same restricted XML decoder that reads streams, so a
// damaged record is an error ([ErrCorrupt]), never a panic; the fuzz
// target FuzzDecode checks that.
//
// # Concurrency
//
// A [Handler] holds no mutable state and is safe for concurrent use; the
// store serialises writes.
package vcard
