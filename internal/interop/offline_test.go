//go:build interop

package interop

import (
	"testing"

	"roost/internal/xmpptest"
)

const (
	offlineIP   = "127.0.0.110"
	offlineHost = "offline.example"
)

// TestInteropOfflineOnce: with slixmpp's stream management (XEP-0198),
// messages stored while alice was offline arrive at her next login once,
// delay-stamped; her client acknowledges them, so they are deleted then
// and a second login gets none of them again (XEP-0160, issue 18 item 7).
func TestInteropOfflineOnce(t *testing.T) {
	ca := xmpptest.NewCA(t)
	r := startRoost(t, offlineIP, offlineHost, ca, func(c *roostConfig) {
		// Not the usual 5443: the test needs no web port, and a server
		// running on this machine may hold 5443 on every address.
		c.HTTPS = "listen = [\"" + offlineIP + ":15443\"]\n"
	})
	for _, u := range []string{"alice", "bob"} {
		r.AddUser(t, u, u+"-secret")
	}
	ev := modules(t, r, ca, "offline-sm")
	first := event(t, ev, "first-login")
	want(t, first, "enabled", "true")
	want(t, first, "bodies", "[stored 0 stored 1 stored 2]")
	want(t, first, "stamped", "true")
	want(t, event(t, ev, "second-login"), "bodies", "[]")
}
