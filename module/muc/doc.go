// Package muc is group chat: Multi-User Chat (XEP-0045) rooms on a hosted
// service below every account domain, such as conference.example.org.
//
// # Shape
//
// [MUC] is a module: for each account domain it registers a hosted
// service (module.Service) whose handler the router gives every stanza
// addressed to the service domain or to a JID at it — room@service and
// room@service/nick — from local sessions and other servers alike, IQ
// results and errors included. The service's own disco#info is declared;
// its disco#items lists the public rooms (§6.3).
//
// # Rooms
//
// A room has a configuration ([Config], the muc#roomconfig form of §10.2,
// applied all or nothing: an unknown field or a bad value is bad-request
// and changes nothing), affiliations by bare JID (owner, admin, member,
// outcast; a whole domain may be banned), a subject, and its occupants.
// The form also carries the full lists of owners and admins
// (muc#roomconfig_roomowners, _roomadmins): submitted, they are turned
// into the changes muc#admin items would make and go through the same
// checks and notifications (§10.3–10.7; someone left out of both becomes
// a member), in the same all-or-nothing form. Two fields name roles
// ([Roles], whose zero value is the field's default, so that rooms stored
// before the field behave as they did): muc#roomconfig_presencebroadcast,
// whose presence the others see (all roles by default; an occupant of
// another role gets its own presence and everyone else's, but nobody sees
// it arrive, change or leave), and muc#roomconfig_getmemberlist, which
// occupants may read the member list besides its admins (moderators by
// default: the list is real JIDs, which moderators see anyway).
// An occupant is one nick in the room with one or more sessions of one
// user (multi-session nicks, as Prosody has them): its primary session's
// presence is the occupant's. Roles (moderator, participant, visitor)
// follow from affiliations (§5.1.2) until a moderator changes them.
//
// Joining (§7.2) sends, in this order, the others' presence, the
// occupant's own presence with status 110 (and 100, 170, 201, 210 as they
// apply), the history the client asked for (maxchars, maxstanzas, seconds,
// since; §7.2.13) with delay stamps (XEP-0203), and the subject. A new
// room is locked until its creator configures it (§10.1), instantly or
// with the form; whoever else tries to enter meanwhile gets item-not-found.
// Nick changes (§7.6) send 303; kicks 307, bans 301, removals by
// affiliation 321, by a room turning members-only 322, and the service's
// shutdown 332; a user's affiliation changed while away is told with 101.
// Configuration changes are announced with 104, 170/171 and 172/173.
//
// Groupchat messages are broadcast with a stanza-id whose by is the room
// (XEP-0359; in a logged room, the message's archive id), and the sender's
// occupant-id (XEP-0421), a keyed hash of the real bare JID with the
// room's salt. Whatever a sender claims in their
// place is removed first. Private messages follow the room's policy
// (muc#roomconfig_allowpm). IQs between occupants are relayed with an id
// that carries, under a MAC, what the answer needs to find the asker, so
// the room keeps no state for them; a self-ping is answered by the room
// itself (XEP-0410 §3.3), and a ping from someone not in the room gets
// not-acceptable, which tells a client it lost its seat. Invitations are
// mediated (§7.8.2, carrying XEP-0249's element too) and, in a
// members-only room, make the invitee a member, as Prosody does.
// muc#register (§7.10) reserves a nick, which its owner then always gets.
//
// # Persistence and the archive
//
// Persistent rooms are saved ([Store]) whenever their configuration,
// affiliations or subject change, as one record; occupants are never
// saved. Messages worth keeping (a body or encrypted content, no no-store
// hint) go to an in-memory history of the last Options.History messages,
// which joins replay, and, when the room is logged, to the message archive
// shared with the accounts' (package archive, Options.Archive), under the
// room's JID: the archive's id is the message's stanza-id, and the
// archive is queried with XEP-0313 on the room's JID by whoever may enter
// the room, through the same query and paging code as an account's
// archive. After a restart the history is filled from the archive. A
// room's record and archive are deleted together (Store.DeleteRoom).
//
// Retention: messages older than Options.KeepFor are never replayed on
// join, and a background job deletes them from the rooms' archives every
// Options.SweepEvery (hourly) with [archive.Sweep], bounded work per
// transaction; accounts' archives in the same store are module/mam's.
//
// # Concurrency and sending
//
// Each room has one mutex; the service has another for its room table,
// always taken before a room's. A handler locks the room, changes it and
// queues what it sends in the room's outbox, then unlocks through
// room.unlock, which sends the outbox in order without the lock held: the
// router may hand a stanza straight back to the room (an error it bounced),
// and that stanza is then handled as any other instead of deadlocking.
// Only one caller sends a room's outbox at a time, so every occupant sees
// the room's stanzas in the same order. Occupants' local sessions get
// presence and groupchat messages directly (Router.Deliver); everything
// else, and everyone on other servers, goes through Router.Route. A
// broadcast allocates the recipients' envelopes — the top element and its
// attributes — in one slab; the children are shared by every copy.
//
// A storm of presence changes from one occupant is merged: each occupant
// has a token bucket (Options.PresencePerMinute), and a change beyond it
// is passed on by a timer once a token is back, so the room sends one
// broadcast per interval and the last state still arrives.
package muc
