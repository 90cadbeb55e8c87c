// Package portable reads and writes the Portable Import/Export Format for
// XMPP-IM Servers (XEP-0227), the file format servers move accounts in:
// Prosody's prosody-migrator writes it with its xep0227 storage driver,
// ejabberd with `ejabberdctl export_piefxis`, roost with `roost export`.
// It knows the format, not roost's store: a document is a sequence of
// [Entry] values, and what an importer makes of them is its business.
//
// # Format
//
// A document is <server-data/> holding <host jid='...'/> elements holding
// <user name='...'/> elements (XEP-0227 §4), in the namespace
// urn:xmpp:pie:0 ([NS]) or, as ejabberd before 21 and the XEP before
// version 1.0 wrote it, [NSLegacy]. A user holds, each as its own entry:
//
//   - credentials: the password attribute (§4.2, discouraged since
//     version 1.1) and <scram-credentials xmlns='urn:xmpp:pie:0#scram'
//     mechanism='SCRAM-SHA-1'/> with iter-count, salt, server-key and
//     stored-key, base64 (§4.2 of version 1.1, as Prosody and Tigase write
//     it; ejabberd encodes them twice, which the keys' size gives away):
//     [User], [Credential];
//   - the roster, <query xmlns='jabber:iq:roster'/> (§4.3), as RFC 6121
//     items: [RosterItem]; incoming subscription requests as <presence
//     type='subscribe'/> children of the user (§4.8): [Request];
//   - offline messages, <offline-messages/> (§4.4): [Offline];
//   - private XML, <query xmlns='jabber:iq:private'/> (§4.5): [Private];
//   - the vCard, <vCard xmlns='vcard-temp'/> (§4.6): [VCard];
//   - privacy lists, <query xmlns='jabber:iq:privacy'/> (§4.7), which is
//     how ejabberd keeps block lists: [Privacy];
//   - the block list, <blocklist xmlns='urn:xmpp:blocking'/> (XEP-0191's
//     own element; XEP-0227 names none): [Blocked];
//   - PEP nodes, as Prosody writes them: <pubsub
//     xmlns='http://jabber.org/protocol/pubsub#owner'/> with a
//     <configure/>, <affiliations/> and <subscriptions/> per node
//     ([PEPNode]), and <pubsub xmlns='http://jabber.org/protocol/pubsub'/>
//     with the items of each node ([PEPItem]);
//   - the message archive, <archive xmlns='urn:xmpp:pie:0#mam'/> holding
//     XEP-0313 <result/> elements, each a forwarded message with its
//     delay stamp: [Archived].
//
// roost adds what the XEP has no place for, in its own namespace
// [NSRoost], which other importers ignore as §4 asks: the account's
// creation time, a PEP item's publication time and a roster item that is
// only subscription state (hidden) as attributes, the archived message's
// party as attributes of <result/>, the last activity (<last/>), data of
// a later roost this one has no format for (<doc/>, [Doc]), and the
// archive preferences (XEP-0441 <prefs/>).
//
// # Group chat rooms
//
// No server writes rooms into XEP-0227: the XEP names none, Prosody
// 0.12's xep0227 storage driver (what prosody-migrator uses) has handlers
// for accounts, roster, vCard, private XML, PEP and the archive only, and
// ejabberd's export_piefxis writes users only. Rather than invent a
// vocabulary, roost puts XEP-0045's own elements in one element of its
// extension: a room stands beside the users of its service's host, where
// other importers skip it as unknown data (XEP-0227 §4):
//
//	<host jid='conference.example.org'>
//	  <room xmlns='urn:roost:pie:0' name='family' created='...' salt='...'>
//	    <x xmlns='jabber:x:data' type='submit'>...muc#roomconfig...</x>
//	    <subject by='family@conference.example.org/alice' stamp='...'>Sunday lunch</subject>
//	    <query xmlns='http://jabber.org/protocol/muc#admin'>
//	      <item affiliation='owner' jid='alice@example.org' nick='alice'><reason>...</reason></item>
//	    </query>
//	  </room>
//	</host>
//
// The configuration is the submitted form an owner sends (XEP-0045
// §10.2, fields of §15.5.3), the affiliations the items of an affiliation
// list (§9.5, §10.5) with the reserved nickname (§7.12); the salt is the
// per-room secret behind occupant ids (XEP-0421), base64: [Room]. A room
// that cannot be read (no name, a bad stamp, an item without a jid) is an
// [Unknown] with a reason, never a guess.
//
// Elements the package does not know become [Unknown] entries, so that an
// importer can report them (§4: "SHOULD ignore the unknown data, SHOULD
// notify the operator").
//
// # XInclude
//
// [DecodeFile] follows <xi:include href='...'/> (§5) where a host or a
// user may stand, relative to the including file, inside the file system
// it was given (so a document cannot name files outside it). An include
// where a host stands brings a file whose root is a <host/>, one where a
// user stands a <user/>: includes only go down, so they cannot loop.
// [Decode], which reads one stream, refuses includes.
//
// # Streaming and limits
//
// Decoding is one pass over encoding/xml tokens; the entries are handed
// to a callback as they are read, so a document of any size is read in
// memory bounded by its largest element. Every element an entry carries
// (a vCard, one message, one PEP item) is read into a tree only up to
// [Options].MaxElementBytes of input and [Options].MaxDepth of nesting, and
// so is any single token outside them (a huge attribute or text): the
// reader under the XML decoder stops at the limit, before encoding/xml
// buffers more. DTDs are refused; comments and processing instructions
// are skipped. Every error says the file and line.
//
// The [Encoder] writes entries as they come, grouping consecutive entries
// of one kind in their container element, through a buffered writer: an
// export of any size is written in constant memory. A room is written
// outside any user, in the host element of its service.
//
// # Concurrency
//
// Entries are plain values. A [Decoder] run and an [Encoder] belong to
// one goroutine.
package portable
