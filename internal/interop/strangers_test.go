//go:build interop

package interop

import (
	"fmt"
	"testing"

	"roost/internal/xmpptest"
)

// TestInteropStrangerRequests: subscription requests from people not in
// the roster have their own limit (limits.max_subscription_requests, 2
// here), past which slixmpp sees a presence error; the waiting requests
// reach the user at login without entering the roster, and denying one
// (unsubscribed) tells its sender and frees its place (issue 18, item 3).
func TestInteropStrangerRequests(t *testing.T) {
	ca := xmpptest.NewCA(t)
	r := startRoost(t, "127.0.0.117", "h.example", ca, func(c *roostConfig) {
		c.Limits = "max_subscription_requests = 2\n"
	})
	for _, u := range []string{"alice", "s1", "s2", "s3"} {
		r.AddUser(t, u, u+"-secret")
	}
	ev := runPy(t, "testdata/slix_strangers.py", "--host", r.IP, "--domain", r.Domain, "--ca", ca.File)
	want := map[string]string{
		"refused":  "resource-constraint",
		"requests": "[[s1@h.example it is me, from school] [s2@h.example ]]",
		"roster":   "[]",
		"denied":   "alice@h.example", // s1 hears from alice
		"again":    "<nil> [s3@h.example]",
	}
	got := map[string]string{}
	for _, e := range ev {
		switch k := fmt.Sprint(e["event"]); k {
		case "refused":
			got[k] = fmt.Sprint(e["error"])
		case "requests":
			got[k] = fmt.Sprint(e["got"])
		case "roster":
			got[k] = fmt.Sprint(e["items"])
		case "denied":
			got[k] = fmt.Sprint(e["told"])
		case "again":
			got[k] = fmt.Sprint(e["error"], " ", e["live"])
		}
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: got %q, want %q", k, got[k], w)
		}
	}
}
