// Package component hosts the domains of external components (XEP-0114):
// one hosted service per configured component, whose handler hands every
// stanza addressed to the component's domain, or to any JID at it, to the
// component's connection (the component package, through [Link]).
//
// A component answers its own service discovery, so the services declare
// no identities; the account domain a component's domain is a subdomain
// of lists it in its disco#items, with the configured name.
//
// # While a component is not connected
//
// Stanzas to it get the error Prosody answers (mod_component): a
// remote-server-timeout of type wait, "Component unavailable" — the
// component is expected back, so the sender may retry. No error answers
// an error or an IQ result (RFC 6120 §8.3.1). As in Prosody, a component
// with a name still answers disco#info on its bare domain meanwhile: a
// component/generic identity with that name, so that a client browsing
// the server's services sees what it is.
//
// # Concurrency
//
// The handlers keep no state of their own; [Link] must be safe for
// concurrent use and must not block.
package component
