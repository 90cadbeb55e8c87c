//go:build interop

package interop

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"roost/internal/xmpptest"
)

// Addresses of the group chat tests (MUC: 127.0.0.30-39).
const (
	mucIP     = "127.0.0.30"
	mucHost   = "home.example"
	scriptMUC = "testdata/slix_muc.py"
	// mucProfanityIP serves the profanity session.
	mucProfanityIP = "127.0.0.33"
	// mucRolesIP serves TestInteropMUCRoomConfigRoles.
	mucRolesIP = "127.0.0.34"
)

// TestInteropMUC: a family's room, driven by slixmpp's xep_0045 and
// xep_0249 plugins and raw stanzas, on the defaults (rooms persistent,
// members-only, non-anonymous and logged); then the same room after a
// restart, and its archive searched with slixmpp's xep_0313.
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
		"muc#roomconfig_enablelogging", "muc#roomconfig_roomowners", "muc#roomconfig_roomadmins",
		"muc#roomconfig_presencebroadcast", "muc#roomconfig_getmemberlist"} {
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
	// The room's archive, searched with slixmpp's xep_0313 (the messages
	// with a body; the subject is the room's state, not a message).
	arch := event(t, ev, "archive")
	want(t, arch, "result", "ok")
	want(t, arch, "bodies", "[message 0 message 1 message 2 hello everyone still working]")
	if !strings.Contains(r.Log(), "room configured") {
		t.Error("roost did not log the room's configuration")
	}
}

// TestInteropMUCRoomConfigRoles: slixmpp's xep_0045 fills in the
// configuration form's owner list and presence broadcast (XEP-0045
// §10.2): a second owner named in the form gets the affiliation (its
// presence, the owner list), and with only moderators' presence broadcast
// a participant enters unseen, yet gets its own presence (110).
func TestInteropMUCRoomConfigRoles(t *testing.T) {
	ca := xmpptest.NewCA(t)
	r := startRoost(t, mucRolesIP, mucHost, ca)
	for _, u := range []string{"alice", "bob", "carol"} {
		r.AddUser(t, u, u+"-secret")
	}
	ev := runPy(t, scriptMUC, "roles", "--host", r.IP, "--domain", r.Domain, "--ca", ca.File)
	t.Logf("roles: %v", ev)

	want(t, event(t, ev, "join", "who", "alice-create"), "result", "ok")
	form := event(t, ev, "config-form")
	want(t, form, "types", "map[muc#roomconfig_getmemberlist:list-multi muc#roomconfig_presencebroadcast:list-multi "+
		"muc#roomconfig_roomadmins:jid-multi muc#roomconfig_roomowners:jid-multi]")
	want(t, form, "owners", "[alice@"+mucHost+"]")
	want(t, form, "broadcast", "[moderator participant visitor]")
	want(t, form, "getmemberlist", "[moderator]")
	want(t, event(t, ev, "configured"), "result", "ok")
	want(t, event(t, ev, "join", "who", "bob"), "item", fmt.Sprintf("map[affiliation:none jid:bob@%s/phone role:participant]", mucHost))

	owners := event(t, ev, "owners-set")
	want(t, owners, "result", "ok")
	want(t, owners, "item", fmt.Sprintf("map[affiliation:owner jid:bob@%s/phone role:moderator]", mucHost))
	want(t, owners, "codes", "[110]")
	list := event(t, ev, "owner-list")
	want(t, list, "result", "ok")
	want(t, list, "jids", fmt.Sprintf("[alice@%s bob@%s]", mucHost, mucHost))

	cast := event(t, ev, "broadcast-set")
	want(t, cast, "result", "ok")
	want(t, cast, "broadcast", "[moderator]")
	carol := event(t, ev, "join", "who", "carol")
	want(t, carol, "result", "ok")
	want(t, carol, "codes", "[100 110 170]")
	want(t, carol, "item", fmt.Sprintf("map[affiliation:none jid:carol@%s/desk role:participant]", mucHost))
	want(t, carol, "occupants", "[Alice Bob Carol]")
	unseen := event(t, ev, "unseen")
	want(t, unseen, "heard", "true")
	want(t, unseen, "presences", "[]")
}

// Addresses of the group chat federation test.
const (
	mucFedRoostIP   = "127.0.0.31"
	mucFedRoost     = "r.example"
	mucFedProsodyIP = "127.0.0.32"
	mucFedProsody   = "p.example"
)

// TestInteropMUCFederation: a Prosody user joins a roost room (made a
// member of the members-only room by its owner) and they talk; a roost
// user joins a room on Prosody's MUC and they talk; over dialback with
// self-made certificates, and with certificates every server trusts.
func TestInteropMUCFederation(t *testing.T) {
	for _, tc := range []struct {
		name   string
		secure bool
	}{{"dialback", false}, {"certificates", true}} {
		t.Run(tc.name, func(t *testing.T) {
			z := newZone(t)
			mode := peerMode{secure: tc.secure}
			caR, caP := xmpptest.NewCA(t), xmpptest.NewCA(t)
			roostCA := caR.File
			var roostTLS func(*roostConfig)
			if tc.secure {
				// Roost's certificate has clientAuth as well, for SASL
				// EXTERNAL on the streams it opens.
				both := newBothUsagesCA(t, mucFedRoost, "conference."+mucFedRoost, "upload."+mucFedRoost)
				roostCA = both.File
				mode.trusted = bundle(t, caP.File, both.File)
				roostTLS = func(rc *roostConfig) {
					rc.TLS = tlsFiles(both.CertFile, both.KeyFile)
				}
			}
			// After mode is complete: s2sConfig takes it as it is now.
			mods := []func(*roostConfig){s2sConfig(mucFedRoostIP, z, mode, "")}
			if roostTLS != nil {
				mods = append(mods, roostTLS)
			}
			for _, d := range []struct{ domain, ip string }{{mucFedRoost, mucFedRoostIP}, {mucFedProsody, mucFedProsodyIP}} {
				z.publish(d.domain, d.ip, srvPublish{starttls: 5269})
				z.publish("conference."+d.domain, d.ip, srvPublish{starttls: 5269})
			}
			r := startRoost(t, mucFedRoostIP, mucFedRoost, caR, mods...)
			r.AddUser(t, "alice", "alice-secret")
			p := startProsodyWith(t, mucFedProsodyIP, mucFedProsody, caP, z, mode, map[string]string{"pat": "pat-secret"},
				prosodyExtra{tail: []string{fmt.Sprintf("Component %q %q", "conference."+mucFedProsody, "muc")}})

			alice := account{"alice@" + mucFedRoost + "/laptop", "alice-secret", r.IP, roostCA}
			pat := account{"pat@" + mucFedProsody + "/phone", "pat-secret", p.IP, p.CAFile}
			t.Run("Prosody user in a roost room", func(t *testing.T) {
				mucMeet(t, "family@conference."+mucFedRoost, alice, "Alice", pat, "Pat", "pat@"+mucFedProsody, true)
			})
			// Prosody adds stanza-ids to rooms with mod_muc_mam only.
			t.Run("roost user in a Prosody room", func(t *testing.T) {
				mucMeet(t, "lounge@conference."+mucFedProsody, pat, "Pat", alice, "Alice", "", false)
			})
		})
	}
}

// mucMeet has host create room and invite visitor (XEP-0249) from
// another server, who joins; each says hello and hears the other. With member set, the host's room
// stays members-only and the visitor is made a member; with stanzaIDs, the
// room stamps every message with a stanza-id (XEP-0359).
func mucMeet(t *testing.T, room string, host account, hostNick string, visitor account, visitorNick, member string, stanzaIDs bool) {
	t.Helper()
	args := func(scenario string, a account, nick, peer string) []string {
		out := []string{scenario, "--host", a.host, "--ca", a.ca, "--jid", a.jid, "--password", a.password,
			"--room", room, "--nick", nick, "--peer-nick", peer, "--timeout", "30"}
		if scenario == "host" {
			out = append(out, "--invite", strings.SplitN(visitor.jid, "/", 2)[0])
			if member != "" {
				out = append(out, "--member", member)
			}
		}
		return out
	}
	type result struct {
		ev     []map[string]any
		stderr string
		err    error
	}
	visited := make(chan result, 1)
	go func() {
		ev, stderr, err := runPyAsync(scriptMUC, args("visit", visitor, visitorNick, hostNick)...)
		visited <- result{ev, stderr, err}
	}()
	hostEv := runPy(t, scriptMUC, args("host", host, hostNick, visitorNick)...)
	v := <-visited
	if v.err != nil {
		t.Fatalf("visitor: %v\nevents: %v\nstderr:\n%s", v.err, v.ev, tail(v.stderr, 40))
	}
	t.Logf("host: %v", hostEv)
	t.Logf("visitor: %v", v.ev)
	want(t, event(t, hostEv, "join", "who", "host"), "result", "ok")
	want(t, event(t, hostEv, "configured"), "result", "ok")
	want(t, event(t, v.ev, "invited"), "jid", room)
	want(t, event(t, v.ev, "join", "who", "visitor"), "result", "ok")
	for _, side := range []struct {
		ev   []map[string]any
		peer string
	}{{hostEv, visitorNick}, {v.ev, hostNick}} {
		want(t, event(t, side.ev, "peer-present"), "ok", "true")
		heard := event(t, side.ev, "heard")
		want(t, heard, "body", "hello from "+side.peer)
		want(t, heard, "stanza_id", fmt.Sprint(stanzaIDs))
	}
}

// TestInteropMUCProfanity: a human-style session in profanity, in tmux:
// alice creates a room and configures it with the form, speaks, invites
// bob (a mediated invitation: the room is members-only); bob, in his own
// profanity, sees the invitation, joins with the history of what alice
// said, and answers.
func TestInteropMUCProfanity(t *testing.T) {
	ca := xmpptest.NewCA(t)
	r := startRoost(t, mucProfanityIP, mucHost, ca)
	r.AddUser(t, "alice", "alice-secret")
	r.AddUser(t, "bob", "bob-secret")
	tm := newTmux(t)
	start := func(user string) *pane {
		dir := t.TempDir()
		jid := user + "@" + mucHost
		writeFile(t, filepath.Join(dir, "data/profanity/accounts"), fmt.Sprintf(
			"[%s]\nenabled=true\njid=%s\nserver=%s\nport=5222\nresource=profanity\npassword=%s-secret\ntls.policy=force\nmuc.nick=%s\n",
			jid, jid, r.IP, user, user), 0o600)
		p := tm.start(t, user, []string{"HOME=" + dir, "XDG_CONFIG_HOME=" + filepath.Join(dir, "config"),
			"XDG_DATA_HOME=" + filepath.Join(dir, "data"), "SSL_CERT_FILE=" + ca.File}, "profanity", "-a", jid)
		p.waitFor(t, "logged in successfully", 30*time.Second)
		return p
	}
	room := "family@conference." + mucHost
	alice := start("alice")
	alice.typeLine(t, "/join "+room+" nick Alice")
	alice.waitFor(t, "Room locked, requires configuration", 15*time.Second)
	alice.typeLine(t, "/room config")
	alice.waitFor(t, "Only members may enter", 15*time.Second)
	field := formTag(t, alice.screen(), "Only members may enter")
	name := formTag(t, alice.screen(), "Name:")
	alice.typeLine(t, "/"+name+" Family")
	alice.typeLine(t, "/"+field+" on")
	alice.typeLine(t, "/form submit")
	alice.waitFor(t, "Room configuration successful", 15*time.Second)
	alice.typeLine(t, "Dinner is at eight")
	alice.typeLine(t, "Bring the cake")
	alice.waitFor(t, "Alice: Bring the cake", 15*time.Second)

	bob := start("bob")
	alice.typeLine(t, "/invite send bob@"+mucHost+" Come for dinner")
	bob.waitFor(t, "Chat room invite received", 15*time.Second)
	bob.waitFor(t, "Message: Come for dinner", 15*time.Second)
	bob.typeLine(t, "/join "+room+" nick Bob")
	bob.waitFor(t, "affiliation: member", 15*time.Second)
	// The history, as it was said.
	bob.waitFor(t, "Alice: Dinner is at eight", 15*time.Second)
	bob.waitFor(t, "Alice: Bring the cake", 15*time.Second)
	bob.typeLine(t, "I am coming")
	alice.waitFor(t, "Bob: I am coming", 15*time.Second)

	out, err := exec.Command(roostBin, "room", "info", "family", "-config", r.Config).CombinedOutput()
	if err != nil {
		t.Fatalf("roost room info: %v\n%s", err, out)
	}
	for _, line := range []string{"name:         Family", "members-only", "in it now:    Alice, Bob", "member:       bob@" + mucHost} {
		if !strings.Contains(string(out), line) {
			t.Errorf("roost room info lacks %q:\n%s", line, out)
		}
	}
}

// formTag finds the tag profanity gives a form field ("field5") on the
// line that shows label.
func formTag(t *testing.T, screen, label string) string {
	t.Helper()
	for _, line := range strings.Split(screen, "\n") {
		if i := strings.Index(line, label); i >= 0 {
			if m := regexp.MustCompile(`\[(field\d+)\]`).FindStringSubmatch(line[:i]); m != nil {
				return m[1]
			}
		}
	}
	t.Fatalf("no form field %q on the screen:\n%s", label, screen)
	return ""
}
