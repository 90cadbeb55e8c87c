//go:build interop

package interop

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"roost/internal/xmpptest"
)

// The login tests use 127.0.0.100-109.
const loginIP = "127.0.0.100"

// find returns the events of a kind on a connection (0: any).
func find(ev []map[string]any, kind string, connection float64) []map[string]any {
	var out []map[string]any
	for _, e := range ev {
		if e["event"] == kind && (connection == 0 || e["connection"] == connection) {
			out = append(out, e)
		}
	}
	return out
}

// one returns the single event of a kind on a connection.
func one(t *testing.T, ev []map[string]any, kind string, connection float64) map[string]any {
	t.Helper()
	got := find(ev, kind, connection)
	if len(got) != 1 {
		t.Fatalf("%d %q events on connection %v, want one; all events: %v", len(got), kind, connection, ev)
	}
	return got[0]
}

// check checks fields of an event.
func check(t *testing.T, e map[string]any, fields map[string]any) {
	t.Helper()
	for k, v := range fields {
		if e[k] != v {
			t.Errorf("%s %s = %v, want %v (event %v)", e["event"], k, e[k], v, e)
		}
	}
}

// TestInteropXMPPJSLogin: @xmpp/client (the npm package, tested upstream
// against Prosody) logs in with SASL2, binds with Bind 2 and enables
// stream management inline, asks for a FAST token; when its connection
// dies it reconnects with the token in one round trip and resumes its
// session inline. A new process logs in with the token alone and gets the
// same resource. All this over TCP and over WebSocket (RFC 7395). After a
// password change the token is refused and the client falls back to the
// new password. slixmpp, which has no SASL2, still logs in with SASL.
func TestInteropXMPPJSLogin(t *testing.T) {
	ca := xmpptest.NewCA(t)
	r := startRoost(t, loginIP, "login.test", ca)
	r.AddUser(t, "alice", "alice-secret")
	r.AddUser(t, "carol", "carol-secret")
	tcp := []string{"NODE_EXTRA_CA_CERTS=" + ca.File}
	common := []string{"--service", "xmpp://" + loginIP + ":5222", "--domain", "login.test", "--user", "alice",
		"--ua", "8a4b7f8e-2b1c-4c5e-9a43-0a3c3d6f1e11"}
	full, token, expiry := xmppjsFAST(t, r, tcp, common, "alice-secret")

	// The same over WebSocket, on the HTTPS listener. The certificate
	// names the domain, not the loopback address the WebSocket's URL has
	// (and Node's WebSocket can be told no other name): unverified, as on
	// loopback it may be.
	ws := []string{"NODE_TLS_REJECT_UNAUTHORIZED=0"}
	xmppjsFAST(t, r, ws, []string{"--service", "wss://" + loginIP + ":5443/xmpp-websocket", "--domain", "login.test", "--user", "carol",
		"--ua", "0f6c2d4e-7a1b-4e3c-8d5f-6b9a0c1e2d3f"}, "carol-secret")
	if n := strings.Count(r.Log(), `"websocket":true`) + strings.Count(r.Log(), "websocket=true"); n < 3 {
		t.Errorf("roost logged %d WebSocket connections, want carol's three", n)
	}

	// A new password: every token is gone.
	cmd := exec.Command(roostBin, "user", "passwd", "alice", "-config", r.Config)
	cmd.Stdin = strings.NewReader("alice-new-secret\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("roost user passwd: %v\n%s", err, out)
	}
	ev := runNode(t, tcp, "xmppjs_login.mjs", append([]string{"token", "--token", token, "--expiry", expiry, "--password", "alice-new-secret"}, common...)...)
	check(t, one(t, ev, "authenticate", 1), map[string]any{"mechanism": "HT-SHA-256-NONE", "fast": true})
	check(t, one(t, ev, "failure", 1), map[string]any{"condition": "not-authorized"})
	one(t, ev, "token-deleted", 0)
	// The client falls back to the password on the same stream, and asks
	// for a new token.
	check(t, one(t, ev, "authenticate", 2), map[string]any{"mechanism": "SCRAM-SHA-1", "requestToken": "HT-SHA-256-NONE"})
	check(t, one(t, ev, "success", 2), map[string]any{"token": true, "bound": true, "aid": full})
	one(t, ev, "online", 0)

	// slixmpp knows no SASL2 and logs in with SASL as before.
	r.AddUser(t, "bob", "bob-secret")
	before := strings.Count(r.Log(), "sasl2=false")
	slix(t, "chat", "--host", loginIP, "--port", "5222", "--ca", ca.File,
		"--jid", "alice@login.test/slix", "--password", "alice-new-secret", "--mech", "SCRAM-SHA-256",
		"--jid2", "bob@login.test/phone", "--password2", "bob-secret", "--mech2", "SCRAM-SHA-1")
	if got := strings.Count(r.Log(), "sasl2=false") - before; got != 2 {
		t.Errorf("%d SASL logins by slixmpp in the log, want 2", got)
	}
}

// xmppjsFAST runs xmppjs_login.mjs with common (the service, domain, user
// and user-agent id) and env: a password login with SASL2, Bind 2, stream
// management and a token request, a reconnection with the token that
// resumes the session inline, and a new process that logs in with the
// token alone. It returns the bound JID and the token.
func xmppjsFAST(t *testing.T, r *Roost, env, common []string, password string) (full, token, expiry string) {
	t.Helper()
	user := common[slices.Index(common, "--user")+1]
	ev := runNode(t, env, "xmppjs_login.mjs", append([]string{"first", "--password", password}, common...)...)
	t.Logf("%s first: %v", user, ev)
	check(t, one(t, ev, "authenticate", 1), map[string]any{"mechanism": "SCRAM-SHA-1", "requestToken": "HT-SHA-256-NONE", "bind": true, "fast": false})
	check(t, one(t, ev, "success", 1), map[string]any{"token": true, "bound": true, "enabled": true})
	online := one(t, ev, "online", 0)
	full, _ = online["jid"].(string)
	if !strings.HasPrefix(full, user+"@login.test/xmppjs/") || online["sm"] != true {
		t.Errorf("online as %v, want %s@login.test/xmppjs/<id> with stream management on", online, user)
	}
	// The reconnection: a token, and the resumption, in one round trip.
	check(t, one(t, ev, "authenticate", 2), map[string]any{"mechanism": "HT-SHA-256-NONE", "fast": true, "resume": true, "bind": true})
	if c := find(ev, "challenge", 2); len(c) != 0 {
		t.Errorf("the FAST login took %d challenges, want none: one round trip", len(c))
	}
	check(t, one(t, ev, "success", 2), map[string]any{"resumed": true, "bound": false, "aid": full})
	check(t, one(t, ev, "resumed", 0), map[string]any{"jid": full, "sm": true})
	if n := len(find(ev, "message", 0)); n != 2 {
		t.Errorf("%d messages came back, want 2 (before and after resuming): %v", n, ev)
	}
	tokens := find(ev, "token", 0)
	if len(tokens) != 1 {
		t.Fatalf("tokens %v, want one", tokens)
	}
	token, expiry = tokens[0]["token"].(string), tokens[0]["expiry"].(string)
	if strings.Contains(r.Log(), token) {
		t.Error("the server logged the token")
	}

	// An app restarted with its stored token and no password.
	ev = runNode(t, env, "xmppjs_login.mjs", append([]string{"token", "--token", token, "--expiry", expiry}, common...)...)
	t.Logf("%s token login: %v", user, ev)
	check(t, one(t, ev, "authenticate", 1), map[string]any{"mechanism": "HT-SHA-256-NONE", "fast": true, "bind": true})
	check(t, one(t, ev, "success", 1), map[string]any{"bound": true, "aid": full})
	if c := find(ev, "challenge", 1); len(c) != 0 {
		t.Errorf("the FAST login took %d challenges, want none", len(c))
	}
	return full, token, expiry
}
