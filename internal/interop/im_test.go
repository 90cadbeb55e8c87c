//go:build interop

package interop

import (
	"fmt"
	"testing"

	"roost/internal/xmpptest"
)

// TestInteropIM is issue 3's acceptance scenario with real clients: two
// users with two resources each befriend each other step by step (both
// sides' roster states checked after each step, and the roster push on the
// second resource), see presence come and go including a killed
// connection, get messages routed as RFC 6121 §8 says, have bad roster
// sets refused, and find their offline messages and rosters after roost
// restarts.
func TestInteropIM(t *testing.T) {
	ca := xmpptest.NewCA(t)
	r := startRoost(t, "127.0.0.2", "a.example", ca)
	r.AddUser(t, "alice", "alice-secret")
	r.AddUser(t, "bob", "bob-secret")

	ev := runPy(t, "testdata/slix_im.py", "befriend", "--host", r.IP, "--ca", ca.File)
	states := map[string]string{}
	for _, e := range ev {
		if e["event"] == "state" {
			states[fmt.Sprintf("%v/%v", e["step"], e["client"])] = fmt.Sprint(e["state"])
		}
	}
	wantStates := map[string]string{
		// alice asked: both her resources see "none + ask"; bob has no item.
		"1/a1": "none+ask", "1/a2": "none+ask",
		// bob approved: alice has "to", bob "from".
		"2/a1": "to", "2/a2": "to", "2/b1": "from", "2/b2": "from",
		// and back: both.
		"3/a1": "both", "3/a2": "both", "3/b1": "both", "3/b2": "both",
	}
	for k, want := range wantStates {
		if states[k] != want {
			t.Errorf("step/client %s: roster state %q, want %q", k, states[k], want)
		}
	}
	for _, e := range ev {
		switch e["event"] {
		case "request":
			for _, k := range []string{"b1", "b2", "a2"} {
				if v, ok := e[k]; ok && v != true {
					t.Errorf("step %v: %s did not receive the subscription request", e["step"], k)
				}
			}
		case "push":
			want := map[string]string{"a2": "[[bob@a.example none true]]", "b1": "[]"}[fmt.Sprint(e["client"])]
			if got := fmt.Sprint(e["pushes"]); got != want {
				t.Errorf("%v saw roster pushes %v, want %v", e["client"], got, want)
			}
		case "presence":
			if e["ok"] != true {
				t.Errorf("presence step %v: %s: not seen", e["step"], e["what"])
			}
		case "delivered":
			want := map[string]string{"b1": "[to the bare JID]", "b3": "[to b3]"}[fmt.Sprint(e["client"])]
			if got := fmt.Sprint(e["bodies"]); got != want {
				t.Errorf("%v received %s, want %s (bare JID → highest priority; negative priority only by full JID)", e["client"], got, want)
			}
		case "rosterset":
			want := map[string]string{"two items": "bad-request", "empty group": "not-acceptable",
				"yourself": "not-allowed", "remove unknown": "item-not-found"}[fmt.Sprint(e["name"])]
			if e["result"] != want {
				t.Errorf("roster set %v: got %v, want %s", e["name"], e["result"], want)
			}
		}
	}
	if n := countEvents(ev, "delivered"); n != 2 {
		t.Errorf("got %d delivery reports, want 2", n)
	}

	r.Restart(t)
	ev = runPy(t, "testdata/slix_im.py", "after-restart", "--host", r.IP, "--ca", ca.File)
	for _, e := range ev {
		switch e["event"] {
		case "offline":
			if got := fmt.Sprint(e["bodies"]); got != "[offline 0 offline 1 offline 2]" || e["stamped"] != float64(3) {
				t.Errorf("after the restart bob got %s with %v delay stamps, want the 3 messages in order, all stamped", got, e["stamped"])
			}
		case "state":
			if e["state"] != "both" {
				t.Errorf("after the restart %v sees %v as %v, want both", e["client"], e["contact"], e["state"])
			}
		}
	}
	if countEvents(ev, "offline") != 1 || countEvents(ev, "state") != 2 {
		t.Errorf("after-restart events: %v", ev)
	}
}

// TestInteropCarbons: with XEP-0280 enabled, alice's second device gets a
// <received/> copy of what bob sends to her first device and a <sent/>
// copy of what the first device sends, but nothing of a private message.
func TestInteropCarbons(t *testing.T) {
	ca := xmpptest.NewCA(t)
	r := startRoost(t, "127.0.0.2", "a.example", ca)
	r.AddUser(t, "alice", "alice-secret")
	r.AddUser(t, "bob", "bob-secret")
	ev := runPy(t, "testdata/slix_im.py", "carbons", "--host", r.IP, "--ca", ca.File)
	if len(ev) != 1 || fmt.Sprint(ev[0]["seen"]) != "[[received bob to a1] [sent a1 to bob]]" {
		t.Errorf("a2 saw carbons %v, want the received and the sent copy only", ev)
	}
}
