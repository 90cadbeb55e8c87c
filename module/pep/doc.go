// Package pep is personal eventing (XEP-0163): every account is a
// publish-subscribe service (XEP-0060) at its bare JID, where its clients
// keep what OMEMO encryption (device lists and key bundles), avatars
// (XEP-0084), bookmarks (XEP-0402) and other per-account data need, and
// from which the account's contacts are told of changes.
//
// TODO: the design, written when the module is complete.
package pep
