// Package module is the one shape every server feature takes, and the set
// that assembles them.
//
// A feature (offline storage, carbons, group chat, upload, ...) is a
// package under module/ whose main type implements [Module]: a name, and a
// Register method that declares, on a [Registry], everything the feature
// hooks into — IQ handlers keyed by type and payload name, interceptors on
// the delivery path, observers of sessions, deliveries and accounts, the
// service discovery identities and features it adds for the server and
// for accounts, stream features, features clients may enable inline when
// they bind a resource with Bind 2 (XEP-0386), hosted service domains
// (XEP-0030 items such as conference.example.org), HTTP routes, background
// jobs and shutdown steps.
// Nothing else wires a feature: the server builds the modules from one
// declared, ordered list (server/modules.go, the way coredns declares its
// plugin chain in plugin.cfg) and adds each to a [Set] in that order.
//
// # Order and conflicts
//
// Interceptors and observers run in the order modules were added: the list
// is the order in which features see a stanza. Everything that must be
// unique — an IQ key, the offline store, the pre-authentication handler, a
// service domain, an HTTP pattern — is refused when a second module claims
// it, and [Set.Err] names both modules, so a wiring mistake fails at start
// instead of silently replacing the first handler.
//
// # Service discovery
//
// The set gathers what modules declare into a [Catalog]: the server's and
// accounts' identities and features and the hosted services. The disco
// module, added last, answers from the catalog of the modules before it,
// so nothing is advertised that no module serves and nothing is listed by
// hand. The nodes a module holds on an account's behalf (personal
// eventing) are listed in the account's disco#items and described by that
// module ([AccountNodes]). A hosted service that declares its own identities gets its
// disco#info answered by the set; one that does not (an external
// component, XEP-0114) answers its own.
//
// # Concurrency
//
// A Set is built by one goroutine before the server starts and is
// read-only afterwards. Handlers, interceptors and observers are called
// concurrently by the router and must be safe for that.
package module
