// Package adhoc serves ad-hoc commands (XEP-0050) on the account
// domains: the commands other modules declare with
// [module.Registry.Command] (XEP-0133 service administration, XEP-0401
// invitations) are listed in service discovery and run here.
//
// # Protocol
//
// The command list is the disco#items of the node
// "http://jabber.org/protocol/commands" (§2.2); each command's node has
// a disco#info with the identity automation/command-node (§2.3). Only the
// commands a requester is allowed to run are listed, and running another
// is answered with forbidden (§4.6). A requester is a full JID of a
// hosted domain: commands from other servers' users are refused.
//
// A command has at most two stages ([module.Command]): "execute" returns
// a form to fill in (status "executing", one action: complete) or the
// outcome at once (status "completed"); "complete" (or "execute"/"next"
// with the session) submits the form. "cancel" ends a session (status
// "canceled"). Errors carry XEP-0050's specific conditions (§4.6):
// bad-sessionid, bad-action, malformed-action, session-expired.
//
// # Sessions
//
// A command waiting for its form is a session, kept in memory, bound to
// the full JID that started it (another resource cannot continue it),
// forgotten after [Options].SessionTimeout; each account may have
// [Options].MaxSessions open at once, the oldest giving way. Sessions
// are lost at restart: the client starts the command again.
package adhoc
