// Package contact publishes the addresses people can reach the server's
// operators at (XEP-0157, Contact Addresses for XMPP Services): the
// [contact] table of the configuration becomes a data form of FORM_TYPE
// "http://jabber.org/network/serverinfo" in the account domains'
// disco#info (XEP-0128), with one list-multi field per kind of address
// (admin-addresses, abuse-addresses, ...). Clients show them ("Contact
// the server's admin"), and other servers' operators find whom to tell
// about abuse.
//
// Kinds without addresses are left out; with no address at all the
// module declares nothing, so the server's disco#info and its caps hash
// stay as they were.
package contact
