// Package router is the local session table and the delivery rules of
// RFC 6120 §10 and RFC 6121 §8.
//
// # Sessions
//
// A client session appears here once it has bound a resource
// ([Router.Bind]) and disappears when it ends ([Router.Unbind]). Binding a
// full JID that is already bound replaces the older session, which is
// closed with a conflict stream error (RFC 6120 §7.7.2.2). For each session
// the router keeps what routing needs: whether the resource is available
// and its priority (RFC 6121 §4.7.2.3), its last broadcast presence, and
// whether it asked for the roster ("interested", RFC 6121 §2.1.6).
//
// # Delivery
//
// [Router.FromClient] takes a stanza sent by a local session (its from
// already stamped by c2s). A broadcast presence updates availability, then
// the outbound interceptors (presence broadcast, subscriptions, blocking)
// may consume it; what remains goes to [Router.Route].
//
// [Router.Route] delivers a stanza whose from is trusted:
//   - to a hosted service domain (group chat, upload, an external
//     component; see [Router.Host]) or any JID at it: handed to the
//     service's [Handler], whoever sent it, IQ results and errors
//     included, since a service may be waiting for them;
//   - to another domain: handed to the [Remote] (server-to-server);
//   - to a hosted domain itself: answered by the [Handler];
//   - to an account: inbound interceptors first (subscriptions, probes,
//     blocking), then RFC 6121 §8.5: a connected full JID gets the stanza;
//     a message to a bare JID goes to the available resources of highest
//     non-negative priority (all of them on a tie), headlines to every
//     non-negative one, and, with none available, to the offline store or
//     back as service-unavailable; an IQ to a bare JID is answered by the
//     server on the account's behalf.
//
// Errors a handler or interceptor returns as [*stanza.Error] go back to the
// sender as error stanzas; any other error becomes internal-server-error
// and is logged. An IQ get or set nobody answers gets service-unavailable.
// No error is ever sent in reply to an error.
//
// # Concurrency
//
// All methods are safe for concurrent use. The table is guarded by one
// RWMutex held only to copy out the sessions to deliver to: delivery itself
// ([Session.Send]) must not block, and is called without the lock.
// Interceptors and handlers run on the caller's goroutine.
package router
