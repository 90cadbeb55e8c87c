// Package xmpptest holds helpers for roost's protocol tests: throwaway
// certificate authorities and TLS configurations, element parsing,
// assertions on what a server sends, and recording sessions bound to a
// router ([Clients]). It is imported only by _test.go files.
package xmpptest
