//go:build interop

package interop

import (
	"testing"

	"roost/internal/xmpptest"
)

const (
	mamIP   = "127.0.0.50"
	mamHost = "mam.example"
)

// phones runs a scenario of slix_phones.py against r.
func phones(t *testing.T, r *Roost, ca *xmpptest.CA, scenario string) []map[string]any {
	t.Helper()
	ev := runPy(t, "testdata/slix_phones.py", scenario, "--host", r.IP, "--domain", r.Domain, "--ca", ca.File)
	t.Logf("%s: %v", scenario, ev)
	return ev
}

// TestInteropMAM drives the archive with slixmpp's XEP-0313 plugin:
// messages sent while alice's phone was off reach it through the archive
// with the ids they were delivered with, a phone and a laptop see the
// same history, slixmpp pages through it both ways, and bad input gets
// clear errors while the archive stays intact. One server for both
// scenarios.
func TestInteropMAM(t *testing.T) {
	ca := xmpptest.NewCA(t)
	r := startRoost(t, mamIP, mamHost, ca)
	for _, u := range []string{"alice", "bob"} {
		r.AddUser(t, u, u+"-secret")
	}
	t.Run("history", func(t *testing.T) {
		ev := phones(t, r, ca, "history")
		off := event(t, ev, "offline")
		want(t, off, "bodies", "[m1 m2 m3 m4 m5]")
		ph := event(t, ev, "phone-history")
		want(t, ph, "bodies", "[m1 m2 m3 m4 m5]") // not the chat state
		want(t, ph, "ids_match", "true")
		want(t, ph, "fin", "map[complete:true stable:true]")
		reply := event(t, ev, "reply")
		if reply["carbon_id"] == nil {
			t.Errorf("the sent carbon has no stanza-id by alice: %v", reply)
		}
		want(t, reply, "bob_sees_alice_id", "<nil>")
		want(t, reply, "bob_own_id", "true")
		same := event(t, ev, "same-history")
		want(t, same, "same", "true")
		want(t, same, "bodies", "[m1 m2 m3 m4 m5 r1]")
		want(t, same, "reply_id_match", "true")
		paging := event(t, ev, "paging")
		want(t, paging, "forward", "[m1 m2 m3 m4 m5 r1]")
		want(t, paging, "backward", "[r1 m5 m4 m3 m2 m1]")
		want(t, paging, "same_ids", "true")
		pages := event(t, ev, "pages")
		want(t, pages, "after", "[m3 m4]")
		want(t, pages, "before", "[m3 m4]")
		want(t, pages, "last", "[m5 r1]")
		want(t, pages, "complete", "[<nil> <nil> true]")
		with := event(t, ev, "with")
		want(t, with, "bob", "6")
		want(t, with, "carol", "0")
		md := event(t, ev, "metadata")
		want(t, md, "start", "true")
		want(t, md, "end", "true")
	})
	t.Run("bad-input", func(t *testing.T) {
		ev := phones(t, r, ca, "bad-input")
		for c, cond := range map[string]string{
			"wrong-form-type":    "bad-request",
			"form-not-submitted": "bad-request",
			"bad-field-type":     "bad-request",
			"bad-start":          "bad-request",
			"bad-with":           "jid-malformed",
			"unknown-field":      "feature-not-implemented",
			"unknown-after-id":   "item-not-found",
			"unknown-rsm-before": "item-not-found",
			"negative-max":       "bad-request",
			"index":              "feature-not-implemented",
			"other-archive":      "forbidden",
		} {
			want(t, event(t, ev, "bad", "case", c), "condition", cond)
		}
		// 9 messages: the history scenario's 6, and 3 more.
		absurd := event(t, ev, "absurd-max")
		want(t, absurd, "results", "9")
		want(t, absurd, "complete", "true")
		want(t, event(t, ev, "flood"), "answered", "200")
		intact := event(t, ev, "intact")
		want(t, intact, "same", "true")
		want(t, intact, "count", "9")
	})
}
