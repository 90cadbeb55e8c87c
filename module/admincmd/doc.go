// Package admincmd is service administration over ad-hoc commands
// (XEP-0133): what a family's admin does from any chat app that runs
// commands (Gajim, Psi, Conversations, ...) — add an account, delete
// one, change a password, see who is online and how many accounts there
// are, end someone's sessions, send an announcement to everyone online,
// and an account's statistics.
//
// The commands are declared with [module.Registry.Command]; package
// adhoc serves them (XEP-0050). Each is allowed only to local accounts
// with the admin role; anyone else does not see them listed and gets
// forbidden. Nodes and field names are XEP-0133's
// ("http://jabber.org/protocol/admin#add-user", accountjid, password,
// ...), so that clients that know XEP-0133 fill them in themselves.
//
// A command that takes input answers "execute" with its form (§3 of
// XEP-0133 for each command) and does its work when the form comes
// back. Failures of the work itself (a taken name, a short password, a
// name of another server) are reported in the completed command's note
// of type error, which every client shows; a form that cannot be used is
// bad-request.
package admincmd
