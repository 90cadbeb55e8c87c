//go:build interop

package interop

import (
	"fmt"
	"regexp"
	"testing"

	"roost/internal/xmpptest"
)

const (
	pushIP        = "127.0.0.53"
	pushHost      = "push.example"
	pushApp       = "app.push.example"
	pushProsodyIP = "127.0.0.54"
)

// TestInteropPush: an app server written for the test (a slixmpp
// component, XEP-0114) gets push notifications (XEP-0357) from roost as
// Prosody's mod_cloud_notify sends them: nothing while alice's phone is
// connected; once its connection is lost and stream management keeps
// the session, exactly one notification for a burst of three messages
// and a subscription request (counts, sender, a placeholder body, the
// publish options); exactly one for a message to dave, whose app enabled
// notifications and then closed its session (offline); an error answer
// disables the registration, and so does a push service on a domain
// roost cannot reach.
func TestInteropPush(t *testing.T) {
	ca := xmpptest.NewCA(t)
	r := startRoost(t, pushIP, pushHost, ca, func(c *roostConfig) {
		c.Tables = fmt.Sprintf("[[component]]\ndomain = %q\nsecret = \"app-secret\"\nlisten = [\"%s:5347\"]\nname = \"App server\"\n", pushApp, pushIP)
	})
	for _, u := range []string{"alice", "bob", "carol", "dave"} {
		r.AddUser(t, u, u+"-secret")
	}
	ev := runPy(t, "testdata/slix_phones.py", "push", "--host", r.IP, "--domain", r.Domain, "--ca", ca.File,
		"--component", pushApp, "--secret", "app-secret")
	t.Logf("push: %v", ev)
	want(t, event(t, ev, "enable"), "result", "ok")
	want(t, event(t, ev, "enable-unreachable"), "result", "ok")
	want(t, event(t, ev, "awake"), "notes", "0")
	want(t, event(t, ev, "enable-offline"), "result", "ok")
	for _, tt := range []struct{ event, from, node, summary string }{
		// dave's app closed its session: offline.
		{"offline", "dave", "n3", "map[last-message-body:New Message! last-message-sender:bob@" + pushHost + "/pc message-count:1 pending-subscription-count:<nil>]"},
		// alice's phone hibernates: three messages and a request, one push.
		{"burst", "alice", "n1", "map[last-message-body:New Message! last-message-sender:bob@" + pushHost + "/pc message-count:3 pending-subscription-count:1]"},
	} {
		notes := event(t, ev, tt.event)["notes"].([]any)
		if len(notes) != 1 {
			t.Errorf("%s: %d notifications, want exactly 1: %v", tt.event, len(notes), notes)
			continue
		}
		n := notes[0].(map[string]any)
		want(t, n, "from", tt.from+"@"+pushHost)
		want(t, n, "node", tt.node)
		want(t, n, "secret", "app-s3cret")
		want(t, n, "summary", tt.summary)
	}
	failing := event(t, ev, "failing")["notes"].([]any)
	if len(failing) != 1 {
		t.Errorf("%d notifications for the next burst, want 1: %v", len(failing), failing)
	}
	want(t, event(t, ev, "disabled"), "notes", "0")
	for _, svc := range []string{pushApp, "push.nowhere.example"} {
		waitLog(t, r, regexp.MustCompile(`msg="push registration disabled after an error" .*service=`+regexp.QuoteMeta(svc)))
	}
}

// TestInteropPushProsody runs the same scenario against Prosody with
// mod_cloud_notify (Debian's prosody-modules, default settings) and
// mod_smacks, the reference for what iOS clients expect, and pins down
// where roost agrees and where it differs on purpose:
//
//   - alike: nothing while the phone is connected; a notification about a
//     second after stanzas queue for a hibernated session; exactly one
//     for a message to an account without sessions (offline); the
//     publish options; the "New Message!" placeholder body for a message.
//   - Prosody sends one notification per kind of stanza in a burst (an
//     "important" one with the placeholder and an "unimportant" one
//     without), message-count always 1, no sender by default, from the
//     server's domain; roost sends exactly one per burst, with the counts
//     and the last sender, from the account's JID (XEP-0357 §6).
//   - Prosody keeps a registration until 16 errors in a row; roost
//     disables it at the first error that is not "wait", as §6.1 says it
//     SHOULD.
func TestInteropPushProsody(t *testing.T) {
	z := newZone(t)
	ca := xmpptest.NewCA(t)
	const domain, app = "prosody.push.example", "app.prosody.push.example"
	p := startProsodyWith(t, pushProsodyIP, domain, ca, z, peerMode{},
		map[string]string{"alice": "alice-secret", "bob": "bob-secret", "carol": "carol-secret", "dave": "dave-secret"}, prosodyExtra{
			modules: []string{"smacks", "cloud_notify"},
			global:  []string{"component_ports = { 5347 }", fmt.Sprintf("component_interfaces = { %q }", pushProsodyIP)},
			tail:    []string{fmt.Sprintf("Component %q", app), "\tcomponent_secret = \"app-secret\""},
		})
	ev := runPy(t, "testdata/slix_phones.py", "push", "--host", p.IP, "--domain", domain, "--ca", ca.File,
		"--component", app, "--secret", "app-secret")
	t.Logf("prosody: %v", ev)
	want(t, event(t, ev, "enable"), "result", "ok")
	want(t, event(t, ev, "awake"), "notes", "0")
	want(t, event(t, ev, "enable-offline"), "result", "ok")
	if offline := event(t, ev, "offline")["notes"].([]any); len(offline) != 1 {
		t.Errorf("mod_cloud_notify sent %d notifications for a message to an account with no session, want 1: %v", len(offline), offline)
	} else {
		o := offline[0].(map[string]any)
		want(t, o, "node", "n3")
		want(t, o, "secret", "app-s3cret")
		want(t, o["summary"].(map[string]any), "last-message-body", "New Message!")
	}
	burst := event(t, ev, "burst")["notes"].([]any)
	if len(burst) < 1 {
		t.Fatalf("mod_cloud_notify sent nothing for the burst")
	}
	bodies := 0
	for _, n := range burst {
		n := n.(map[string]any)
		want(t, n, "from", domain)
		want(t, n, "secret", "app-s3cret")
		summary := n["summary"].(map[string]any)
		want(t, summary, "message-count", "1")
		want(t, summary, "last-message-sender", "<nil>")
		if summary["last-message-body"] == "New Message!" {
			bodies++
		}
	}
	if bodies != 1 {
		t.Errorf("%d of mod_cloud_notify's %d notifications carry the placeholder body, want 1", bodies, len(burst))
	}
	if n, _ := event(t, ev, "disabled")["notes"].(float64); n < 1 {
		t.Errorf("mod_cloud_notify stopped after one error; its default is to keep trying until 16")
	}
}
