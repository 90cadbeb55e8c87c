// Package xmpptest holds helpers for roost's protocol tests: throwaway
// certificate authorities and TLS configurations, element parsing,
// assertions on what a server sends, recording sessions bound to a router
// ([Clients]), and the component's side of an external component stream
// (XEP-0114, [Component]). It is imported only by _test.go files.
package xmpptest
