//go:build interop

package interop

import (
	"fmt"
	"strings"
	"testing"

	"roost/internal/xmpptest"
)

// Addresses of the module tests, apart from the other suites'.
const (
	modulesIP    = "127.0.0.11"
	registerIP   = "127.0.0.12"
	modulesHost  = "m.example"
	scriptModule = "testdata/slix_modules.py"
)

// modules runs a scenario of slix_modules.py against r.
func modules(t *testing.T, r *Roost, ca *xmpptest.CA, scenario string, extra ...string) []map[string]any {
	t.Helper()
	ev := runPy(t, scriptModule, append([]string{scenario, "--host", r.IP, "--domain", r.Domain, "--ca", ca.File}, extra...)...)
	t.Logf("%s: %v", scenario, ev)
	return ev
}

// event returns the only event named name, failing the test otherwise.
func event(t *testing.T, ev []map[string]any, name string, match ...string) map[string]any {
	t.Helper()
	var found []map[string]any
	for _, e := range ev {
		if e["event"] != name {
			continue
		}
		ok := true
		for i := 0; i+1 < len(match); i += 2 {
			ok = ok && fmt.Sprint(e[match[i]]) == match[i+1]
		}
		if ok {
			found = append(found, e)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one %q event %v, got %d in %v", name, match, len(found), ev)
	}
	return found[0]
}

// want checks that e[key] prints as value.
func want(t *testing.T, e map[string]any, key, value string) {
	t.Helper()
	if got := fmt.Sprint(e[key]); got != value {
		t.Errorf("%v: %s = %s, want %s", e["event"], key, got, value)
	}
}

func startModules(t *testing.T, ca *xmpptest.CA, mods ...func(*roostConfig)) *Roost {
	t.Helper()
	r := startRoost(t, modulesIP, modulesHost, ca, mods...)
	for _, u := range []string{"alice", "bob", "carol"} {
		r.AddUser(t, u, u+"-secret")
	}
	return r
}

// TestInteropDiscovery: the server's disco#info lists exactly the features
// served, slixmpp verifies the caps hash it gets in the stream features,
// and version, uptime and account discovery answer as the XEPs say.
func TestInteropDiscovery(t *testing.T) {
	ca := xmpptest.NewCA(t)
	r := startModules(t, ca)
	ev := modules(t, r, ca, "features")

	info := event(t, ev, "info")
	want(t, info, "identities", "[[server im <nil> roost]]") // category, type, lang, name
	want(t, info, "features", "[http://jabber.org/protocol/commands http://jabber.org/protocol/disco#info http://jabber.org/protocol/disco#items "+
		"http://jabber.org/protocol/pubsub#publish-options jabber:iq:last jabber:iq:private jabber:iq:register jabber:iq:version msgoffline urn:xmpp:blocking urn:xmpp:carbons:2 urn:xmpp:ping vcard-temp]")
	caps := event(t, ev, "caps")
	if caps["ver"] == nil || caps["ver"] != caps["recomputed"] {
		t.Errorf("slixmpp did not accept the caps hash: got %v, disco#info hashes to %v", caps["ver"], caps["recomputed"])
	}
	v := event(t, ev, "version")
	want(t, v, "name", "roost")
	want(t, v, "os", "")
	if v["version"] == "" {
		t.Errorf("no version in %v", v)
	}
	if s, ok := event(t, ev, "uptime")["seconds"].(float64); !ok || s < 0 || s > 600 {
		t.Errorf("uptime %v", s)
	}
	own := event(t, ev, "account", "whose", "own")
	want(t, own, "result", "ok")
	want(t, own, "identities", "[[account registered <nil> <nil>] [pubsub pep <nil> <nil>]]")
	stranger := event(t, ev, "account", "whose", "stranger")
	want(t, stranger, "result", "service-unavailable")
}

// TestInteropLastActivity: after alice logs out, her contact learns when
// and with which status; a stranger is refused; online she is at 0.
func TestInteropLastActivity(t *testing.T) {
	ca := xmpptest.NewCA(t)
	r := startModules(t, ca)
	ev := modules(t, r, ca, "last")
	want(t, event(t, ev, "friends"), "ok", "true")
	want(t, event(t, ev, "saw-logout"), "ok", "true")
	contact := event(t, ev, "last", "who", "contact")
	want(t, contact, "result", "ok")
	want(t, contact, "status", "gone fishing")
	// The session ends a moment after the unavailable presence bob saw;
	// he asks 3s after that.
	if s, ok := contact["seconds"].(float64); !ok || s < 1 || s > 60 {
		t.Errorf("seconds since logout = %v, want 2 or 3", contact["seconds"])
	}
	want(t, event(t, ev, "last", "who", "stranger"), "result", "forbidden")
	online := event(t, ev, "last", "who", "contact-online")
	want(t, online, "result", "ok")
	want(t, online, "seconds", "0")
}

// TestInteropVCard: a vCard set by alice survives a restart of roost and is
// read by bob; a user without one gets an empty vCard; nobody sets
// another's.
func TestInteropVCard(t *testing.T) {
	ca := xmpptest.NewCA(t)
	r := startModules(t, ca)
	want(t, event(t, modules(t, r, ca, "vcard-set"), "vcard-set"), "result", "ok")
	r.Restart(t)
	ev := modules(t, r, ca, "vcard-get")
	alice := event(t, ev, "vcard", "whose", "alice")
	want(t, alice, "result", "ok")
	want(t, alice, "fn", "Alice Liddell")
	want(t, alice, "nick", "[alice]") // slixmpp reads NICKNAME as a list
	own := event(t, ev, "vcard", "whose", "own")
	want(t, own, "result", "ok")
	want(t, own, "fn", "")
	want(t, event(t, ev, "vcard-set-other"), "result", "forbidden")
}

// TestInteropPrivateStorage: bookmarks stored in private XML storage come
// back in a later session, are alice's alone, and reserved namespaces are
// refused.
func TestInteropPrivateStorage(t *testing.T) {
	ca := xmpptest.NewCA(t)
	r := startModules(t, ca)
	ev := modules(t, r, ca, "private")
	want(t, event(t, ev, "bookmarks-set"), "result", "ok")
	alice := event(t, ev, "bookmarks", "whose", "alice")
	want(t, alice, "result", "ok")
	want(t, alice, "conferences", "[[tea@conference.m.example alice true]]")
	bob := event(t, ev, "bookmarks", "whose", "bob")
	want(t, bob, "result", "ok")
	want(t, bob, "conferences", "[]")
	want(t, event(t, ev, "private-other"), "result", "forbidden")
	want(t, event(t, ev, "private-reserved"), "result", "not-acceptable")
}

// TestInteropBlocking: once alice blocks bob, his messages are refused and
// not delivered, neither sees the other's presence (he sees her go
// offline), her messages to him are refused with <blocked/>, her other
// resource gets the pushes, and unblocking restores everything.
func TestInteropBlocking(t *testing.T) {
	ca := xmpptest.NewCA(t)
	r := startModules(t, ca)
	ev := modules(t, r, ca, "blocking")
	want(t, event(t, ev, "friends"), "ok", "true")
	want(t, event(t, ev, "block"), "result", "ok")
	want(t, event(t, ev, "bob-sees-alice-leave"), "ok", "true")
	want(t, event(t, ev, "blocklist"), "jids", "[bob@m.example]")
	want(t, event(t, ev, "bob-writes"), "condition", "service-unavailable")
	aw := event(t, ev, "alice-writes")
	want(t, aw, "condition", "not-acceptable")
	want(t, aw, "blocked", "true")
	pb := event(t, ev, "presence-while-blocked")
	want(t, pb, "alice_saw_bob", "false")
	want(t, pb, "bob_saw_alice", "false")
	want(t, event(t, ev, "alice-received"), "bodies", "[]")
	want(t, event(t, ev, "unblock"), "result", "ok")
	pa := event(t, ev, "presence-after-unblock")
	want(t, pa, "bob_saw_alice", "true")
	want(t, pa, "alice_saw_bob", "true")
	want(t, event(t, ev, "alice-received-after-unblock"), "body", "there you are")
	want(t, event(t, ev, "pushes"), "pushes", "[[block [bob@m.example]] [unblock [bob@m.example]]]")
}

// TestInteropRegistration: in-band registration is off by default, open
// only to invitations: advertised (for clients with a token, XEP-0445),
// and an attempt without one is answered not-allowed; with invitations
// off too, it is not advertised and an attempt is answered
// service-unavailable (XEP-0077 §3.1); neither ends the stream. Configured on, an account is created,
// a taken name is refused, and the account's password can be changed and
// the account removed in-band.
func TestInteropRegistration(t *testing.T) {
	// With registration off, the server advertises it only for
	// invitations (XEP-0401), which are on by default.
	for _, tc := range []struct {
		name                string
		tables              string
		advertised, refusal string
	}{
		{"off by default: by invitation only", "", "true", "not-allowed"},
		{"off, without invitations", "[invites]\nenabled = false\n", "false", "service-unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ca := xmpptest.NewCA(t)
			r := startRoost(t, registerIP, modulesHost, ca, func(c *roostConfig) { c.Tables = tc.tables })
			ev := modules(t, r, ca, "register", "--mode", "off")
			want(t, event(t, ev, "advertised"), "value", tc.advertised)
			want(t, event(t, ev, "fields"), "result", tc.refusal)
			for _, e := range ev {
				// The logins that follow fail (there is no account) and may
				// end with policy-violation; the attempt itself must not.
				if e["event"] == "stream-error" && e["condition"] != "policy-violation" {
					t.Errorf("the stream ended with %v over a registration attempt: %v", e["condition"], ev)
				}
			}
			want(t, event(t, ev, "login"), "ok", "false")
			if countEvents(ev, "register") != 0 {
				t.Errorf("registration attempted: %v", ev)
			}
		})
	}
	t.Run("on by config", func(t *testing.T) {
		ca := xmpptest.NewCA(t)
		r := startRoost(t, registerIP, modulesHost, ca, func(c *roostConfig) {
			c.C2S = "registration = true"
			// The script logs in with wrong passwords on purpose (the old
			// one after a change, a deleted account), slixmpp trying each
			// mechanism: the login backoff would hold its last logins back
			// for seconds. TestInteropSlixmppBadPassword and c2s's tests
			// cover the backoff.
			c.Limits = "login_delay_max = \"0s\"\n"
		})
		ev := modules(t, r, ca, "register", "--mode", "on")
		var adv, fields, regs []string
		for _, e := range ev {
			switch e["event"] {
			case "advertised":
				adv = append(adv, fmt.Sprint(e["value"]))
			case "fields":
				fields = append(fields, fmt.Sprint(e["result"], e["fields"]))
			case "register":
				regs = append(regs, fmt.Sprint(e["result"]))
			}
		}
		if got := strings.Join(adv, ","); got != "true,true" {
			t.Errorf("advertised %s, want true on both registration streams", got)
		}
		if got := strings.Join(fields, ","); got != "ok[password username],ok[password username]" {
			t.Errorf("fields %s", got)
		}
		if got := strings.Join(regs, ","); got != "ok,conflict" {
			t.Errorf("registrations %s, want ok then conflict for the taken name", got)
		}
		want(t, event(t, ev, "login", "jid", "dave@m.example/x"), "ok", "false")
		want(t, event(t, ev, "passwd", "password", "short"), "result", "not-acceptable")
		want(t, event(t, ev, "passwd", "password", "carol-new-secret"), "result", "ok")
		want(t, event(t, ev, "remove"), "result", "ok")
		want(t, event(t, ev, "removed-stream-closed"), "ok", "true")
		// Logins after registering: the old password fails, the new one
		// works, and after removal it fails.
		var logins []string
		for _, e := range ev {
			if e["event"] == "login" && e["jid"] == "carol@m.example/desk" {
				logins = append(logins, fmt.Sprint(e["ok"]))
			}
		}
		if got := strings.Join(logins, ","); got != "true,false,true,false" {
			t.Errorf("carol's logins %s, want true (registered), false (old password), true (new), false (removed)", got)
		}
	})
}

// TestInteropCSI: slixmpp's XEP-0352 plugin finds client state indication
// offered; while alice is inactive bob's presence changes and typing
// notifications wait, his next message brings them in order (the earlier
// of his two presences dropped), and <active/> releases what waits.
func TestInteropCSI(t *testing.T) {
	ca := xmpptest.NewCA(t)
	r := startModules(t, ca)
	ev := modules(t, r, ca, "csi")
	want(t, event(t, ev, "csi"), "enabled", "true")
	want(t, event(t, ev, "friends"), "ok", "true")
	want(t, event(t, ev, "while-inactive"), "received", "[]")
	want(t, event(t, ev, "urgent"), "received", "[message:composing presence:xa message:wake up]")
	a := event(t, ev, "active")
	want(t, a, "before", "[]")
	want(t, a, "after", "[presence:dnd]")
}

// TestInteropStreamManagement: slixmpp's XEP-0198 plugin enables stream
// management with resumption, the server acknowledges
// exactly the stanzas alice sent, and her answers to the server's
// requests keep the stream up through bob's messages.
func TestInteropStreamManagement(t *testing.T) {
	ca := xmpptest.NewCA(t)
	r := startModules(t, ca)
	ev := modules(t, r, ca, "sm")
	e := event(t, ev, "enabled")
	want(t, e, "value", "true")
	want(t, e, "resumable", "true")
	a := event(t, ev, "acked")
	if fmt.Sprint(a["seq"]) != fmt.Sprint(a["last_ack"]) || fmt.Sprint(a["seq"]) == "0" {
		t.Errorf("alice sent %v stanzas, the server acknowledged %v", a["seq"], a["last_ack"])
	}
	rc := event(t, ev, "received")
	want(t, rc, "count", "13")
	want(t, rc, "last", "last")
	if strings.Contains(r.Log(), "stream error") {
		t.Errorf("a stream ended with an error:\n%s", r.Log())
	}
}

// TestInteropStreamResumption: slixmpp loses its connection without a
// closing tag, bob writes meanwhile, and slixmpp resumes the session on a
// new connection (XEP-0198 §5): the message arrives, the full JID is the
// same, and no new session starts.
func TestInteropStreamResumption(t *testing.T) {
	ca := xmpptest.NewCA(t)
	r := startModules(t, ca)
	e := event(t, modules(t, r, ca, "sm-resume"), "resumed")
	want(t, e, "resumed", "true")
	want(t, e, "body", "while you were away")
	want(t, e, "new_sessions", "0")
	want(t, e, "same_jid", "true")
	if !strings.Contains(r.Log(), "session resumed") {
		t.Errorf("roost's log shows no resumed session:\n%s", r.Log())
	}
}
