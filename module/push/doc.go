// Package push wakes phones whose apps the system has put to sleep (push
// notifications, XEP-0357): when something arrives for an account whose
// sessions all hibernate or are gone, the server publishes a short
// notification to the app's push service (an "app server", over s2s or as
// a local component), which asks Apple's or Google's service to wake the
// app, which then reconnects, resumes its session and gets the rest.
//
// # Registrations
//
// An app enables notifications with <enable jid node/> (§4), naming its
// push service and node, and optionally a publish-options form (FORM_TYPE
// pubsub#publish-options, typically a secret) that goes with every
// publish; the same JID and node again replace the options, and
// <disable jid [node]/> removes them (§5). Registrations are stored with
// the account (store: the "push" document) and go with it; an account
// keeps at most [Options.MaxRegistrations] (5), the newest. The account's
// disco#info lists urn:xmpp:push:0 (§3).
//
// # When
//
// An inbound interceptor sees everything addressed to the account. A
// chat or normal message with a body or an encrypted payload (OMEMO,
// OpenPGP), a subscription request, or a group chat message that
// mentions the account (a XEP-0372 mention reference to its address, or
// its name as a word) is notable; if the account has registrations and
// none of its sessions is awake — bound and not hibernating
// (router.Awake; c2s sessions with stream management whose connection is
// lost hibernate) — the event is queued. This is where the router and
// c2s meet: sessions that can hibernate say so (router.Dormant).
//
// Events are gathered per account for [Options.Burst] (1s) from the
// first: exactly one notification per burst and registration, with the
// number of messages and subscription requests and the last sender in
// the summary form (urn:xmpp:push:summary), as Prosody's mod_cloud_notify
// sends them. The body is included only with [Options.IncludeBody] (off
// by default: it would pass through the app server and the phone maker's
// service, §8); otherwise, as mod_cloud_notify does, a placeholder body
// marks the notification as one to show, which iOS app servers rely on.
// If a session woke meanwhile, nothing is sent.
//
// # Compared with Prosody
//
// Prosody's mod_cloud_notify is what iOS clients are written against;
// internal/interop runs one scenario against both (TestInteropPush,
// TestInteropPushProsody). Alike: nothing while a session is connected, a
// notification about a second after stanzas queue for a hibernated
// session, one for a message to an account with no session at all, the
// publish options, the placeholder body. Different on
// purpose: mod_cloud_notify sends one notification per kind of stanza in
// a burst, with message-count always 1 and no sender unless configured,
// from the server's domain; roost sends exactly one per burst with the
// counts and the last sender, from the account's JID (§6). And
// mod_cloud_notify keeps a registration through 16 errors; roost drops it
// at the first that is not "wait" (§6.1).
//
// # Answers
//
// Notifications are IQ sets from the account's bare JID; their answers
// come back to it and the interceptor takes them. An error — from the app
// server, or the server's own for a domain it cannot reach — disables the
// registration (§6.1), unless its type is wait (try again). Answers are
// waited for five minutes, and at most a few thousand at a time.
//
// # Concurrency
//
// The interceptor only reads the cached registrations and hands events
// to one background job over a bounded channel (a burst beyond it is
// still notified by what was queued); the job owns the bursts and sends.
// Handlers and the job share the registrations under a lock.
package push
