//go:build interop

package interop

import (
	"fmt"
	"strings"
	"testing"

	"roost/internal/xmpptest"
)

// Addresses of the group chat tests (MUC: 127.0.0.30-39).
const (
	mucIP     = "127.0.0.30"
	mucHost   = "home.example"
	scriptMUC = "testdata/slix_muc.py"
)

// TestInteropMUC: a family's room, driven by slixmpp's xep_0045 and
// xep_0249 plugins and raw stanzas, on the defaults (rooms persistent,
// members-only, non-anonymous and logged); then the same room after a
// restart.
func TestInteropMUC(t *testing.T) {
	ca := xmpptest.NewCA(t)
	r := startRoost(t, mucIP, mucHost, ca)
	for _, u := range []string{"alice", "bob", "carol"} {
		r.AddUser(t, u, u+"-secret")
	}
	room := "family@conference." + mucHost
	ev := runPy(t, scriptMUC, "family", "--host", r.IP, "--domain", r.Domain, "--ca", ca.File)
	t.Logf("family: %v", ev)

	create := event(t, ev, "join", "who", "alice-create")
	want(t, create, "result", "ok")
	want(t, create, "codes", "[100 110 170 201]")
	want(t, create, "item", fmt.Sprintf("map[affiliation:owner jid:alice@%s/laptop role:moderator]", mucHost))
	fields := fmt.Sprint(event(t, ev, "config-form")["fields"])
	for _, f := range []string{"muc#roomconfig_roomname", "muc#roomconfig_roomdesc", "muc#roomconfig_persistentroom",
		"muc#roomconfig_publicroom", "muc#roomconfig_membersonly", "muc#roomconfig_passwordprotectedroom",
		"muc#roomconfig_roomsecret", "muc#roomconfig_moderatedroom", "muc#roomconfig_whois", "muc#roomconfig_maxusers",
		"muc#roomconfig_allowinvites", "muc#roomconfig_allowpm", "muc#maxhistoryfetch", "muc#roomconfig_changesubject",
		"muc#roomconfig_enablelogging"} {
		if !strings.Contains(fields, f) {
			t.Errorf("the configuration form lacks %s: %s", f, fields)
		}
	}
	want(t, event(t, ev, "configured"), "result", "ok")
	for _, kind := range []string{"unknown", "invalid"} {
		bad := event(t, ev, "bad-form", "kind", kind)
		want(t, bad, "result", "bad-request")
		want(t, bad, "name", "The family")
	}
	disco := fmt.Sprint(event(t, ev, "disco")["features"])
	for _, f := range []string{"http://jabber.org/protocol/muc", "muc_persistent", "muc_membersonly", "muc_nonanonymous",
		"urn:xmpp:sid:0", "urn:xmpp:occupant-id:0", "http://jabber.org/protocol/muc#self-ping-optimization"} {
		if !strings.Contains(disco, f) {
			t.Errorf("disco#info lacks %s: %s", f, disco)
		}
	}
	want(t, event(t, ev, "disco"), "form", "true")

	want(t, event(t, ev, "join", "who", "carol-refused"), "result", "registration-required")
	inv := event(t, ev, "invite")
	want(t, inv, "got", "true")
	want(t, inv, "frm", "alice@"+mucHost)
	want(t, inv, "reason", "Come for dinner")
	bob := event(t, ev, "join", "who", "bob")
	want(t, bob, "result", "ok")
	want(t, bob, "item", fmt.Sprintf("map[affiliation:member jid:bob@%s/phone role:participant]", mucHost))
	want(t, bob, "occupants", "[Alice Bob]") // slixmpp counts itself
	want(t, bob, "history", "[message 1 message 2]")
	want(t, bob, "delayed", "true")
	want(t, bob, "subject", "Christmas dinner")
	gc := event(t, ev, "groupchat")
	want(t, gc, "frm", room+"/Bob")
	want(t, gc, "stanza_id_by", room)
	want(t, gc, "occupant_id", "true")
	pm := event(t, ev, "private")
	want(t, pm, "frm", room+"/Bob")
	want(t, pm, "body", "psst")
	want(t, event(t, ev, "self-ping", "who", "bob"), "result", "ok")
	want(t, event(t, ev, "self-ping", "who", "carol"), "result", "not-acceptable")
	want(t, event(t, ev, "outsider-message"), "result", "not-acceptable")
	want(t, event(t, ev, "member", "who", "carol"), "result", "ok")
	want(t, event(t, ev, "direct-invite"), "jid", room)
	want(t, event(t, ev, "join", "who", "carol"), "result", "ok")
	want(t, event(t, ev, "join", "who", "carol"), "history", "[]")
	// 10,000 characters: beyond the 1023 bytes of a JID's resource, so
	// the server refuses the address itself; 200: beyond max_nick_length.
	want(t, event(t, ev, "long-nick"), "results", "[jid-malformed not-acceptable]")
	nc := event(t, ev, "nick-change")
	want(t, nc, "codes", "[303]")
	want(t, nc, "new", "Bobby")
	want(t, event(t, ev, "after-bad-input"), "got", "true")
	kick := event(t, ev, "kick")
	want(t, kick, "result", "ok")
	want(t, kick, "codes", "[110 307]")
	want(t, event(t, ev, "members"), "jids", fmt.Sprintf("[bob@%s carol@%s]", mucHost, mucHost))
	// Hidden by default: not in the public list.
	want(t, event(t, ev, "public-rooms"), "rooms", "[]")

	// Persistence: everything but the occupants survives a restart.
	r.Restart(t)
	ev = runPy(t, scriptMUC, "after", "--host", r.IP, "--domain", r.Domain, "--ca", ca.File)
	t.Logf("after: %v", ev)
	want(t, event(t, ev, "self-ping", "who", "bob"), "result", "not-acceptable")
	want(t, event(t, ev, "config"), "name", "The family")
	want(t, event(t, ev, "members"), "jids", fmt.Sprintf("[bob@%s carol@%s]", mucHost, mucHost))
	again := event(t, ev, "join", "who", "bob")
	want(t, again, "result", "ok")
	want(t, again, "history", "[message 2 hello everyone still working]")
	want(t, again, "subject", "Christmas dinner")
	if !strings.Contains(r.Log(), "room configured") {
		t.Error("roost did not log the room's configuration")
	}
}
