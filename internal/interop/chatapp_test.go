//go:build interop

package interop

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"roost/internal/xmpptest"
)

// The address of the local chat app test (127.0.0.80-89 are the web
// clients').
const (
	chatAppIP     = "127.0.0.82"
	chatAppDomain = "home.example"
	chatAppCDN    = "https://cdn.jsdelivr.net/"
)

// TestInteropWebChatAppLocal: roost's chat page on a home network without
// the Internet. roost serves converse.js itself, the files `make
// chat-app` keeps of the pinned release (share/roost/chat-app, what the
// .deb installs); the CDN is blocked, and no other name resolves. A family
// member opens the page, logs in with her name alone and chats with a
// slixmpp user: the app's files come from roost with their types, and the
// browser asks no other site for anything (but the sponsors' logos of
// converse.js's login footer).
func TestInteropWebChatAppLocal(t *testing.T) {
	webDir := nodeClients(t)
	appDir, err := filepath.Abs(filepath.Join("..", "..", "share", "roost", "chat-app"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(appDir, "converse.min.js")); err != nil {
		t.Fatalf("no local copy of converse.js (make interop runs make chat-app): %v", err)
	}
	shots := screenshotDir(t, "chat-app")
	ca := xmpptest.NewCA(t)
	r := startRoost(t, chatAppIP, chatAppDomain, ca, func(c *roostConfig) {
		c.Tables = fmt.Sprintf("[websocket]\nchat_app_dir = %q\n", appDir)
	})
	if !strings.Contains(r.Log(), "converse.js served by roost") {
		t.Errorf("roost did not say it serves converse.js from %s:\n%s", appDir, tail(r.Log(), 30))
	}
	addr := func(u string) string { return u + "@" + chatAppDomain }
	users := map[string]string{"mum": "mum-home-secret", "kid": "kid-home-secret"}
	for u, pw := range users {
		r.AddUser(t, addr(u), pw)
	}
	pyConn := []string{"--host", chatAppIP, "--port", "5222", "--ca", ca.File}
	friends := runPy(t, "testdata/slix_web.py", append(append([]string{"befriend"}, pyConn...),
		"--jid", addr("mum"), "--password", users["mum"], "--contacts", addr("kid")+":"+users["kid"])...)
	want(t, event(t, friends, "friends", "jid", addr("kid")), "subscription", "both")
	kid := startProc(t, "kid (slixmpp)", "", nil, "/usr/bin/python3",
		append(append([]string{"testdata/slix_web.py", "echo"}, pyConn...),
			"--jid", addr("kid")+"/slixmpp", "--password", users["kid"], "--count", "1", "--timeout", "120")...)
	kid.expect(t, "ready")

	page := "https://" + chatAppDomain + ":5443/"
	browser := startProc(t, "converse.js in chromium", webDir, nil, "node",
		"converse.mjs", page, chatAppDomain, chatAppIP, shots)
	login := browser.step(t, map[string]any{"step": "login", "url": page, "block": chatAppCDN, "app": "/chat-app/",
		"jid": "mum", "password": users["mum"], "contacts": []string{addr("kid")},
		"loginShot": "0-login", "rosterShot": "1-roster"})
	if roster := fmt.Sprint(login["roster"]); !strings.Contains(roster, "kid") {
		t.Errorf("the roster %s lacks kid", roster)
	}
	const hello = "dinner is ready, from the page served at home"
	chat := browser.step(t, map[string]any{"step": "chat", "jid": addr("kid"), "text": hello, "want": "echo: " + hello, "shotName": "2-chat"})
	if got := fmt.Sprint(chat["texts"]); !strings.Contains(got, hello) || !strings.Contains(got, "echo: "+hello) {
		t.Errorf("the chat shows %s", got)
	}
	m := kid.expect(t, "message")
	if frm := fmt.Sprint(m["frm"]); !strings.HasPrefix(frm, addr("mum")+"/") || m["body"] != hello {
		t.Errorf("kid got %v, want %q from mum", m, hello)
	}
	kid.wait(t)
	browser.close(t)

	// The app came from roost, with the types browsers insist on.
	wantTypes := map[string]string{"converse.min.js": "text/javascript; charset=utf-8", "converse.min.css": "text/css; charset=utf-8"}
	for _, ev := range browser.seen("app") {
		u := fmt.Sprint(ev["url"])
		if st := fmt.Sprint(ev["status"]); st != "200" && st != "304" {
			t.Errorf("%s: status %s", u, st)
		}
		for name, typ := range wantTypes {
			if strings.HasSuffix(u, "/"+name) && ev["type"] == typ {
				delete(wantTypes, name)
			}
		}
	}
	if len(wantTypes) > 0 {
		t.Errorf("the browser did not load %v from roost with those types; it loaded %v", wantTypes, browser.seen("app"))
	}
	if ws := browser.seen("websocket"); len(ws) == 0 || ws[0]["url"] != "wss://"+chatAppDomain+":5443/xmpp-websocket" {
		t.Errorf("converse's WebSockets: %v; want wss://%s:5443/xmpp-websocket", ws, chatAppDomain)
	}
	// Nothing but converse.js's login footer, which shows its sponsors'
	// logos from conversejs.org (broken images offline) and has no
	// setting to turn that off.
	for _, ev := range browser.seen("elsewhere") {
		if u := fmt.Sprint(ev["url"]); !strings.HasPrefix(u, "https://conversejs.org/media/logos/") {
			t.Errorf("the page asked another site: %s", u)
		}
	}
	for _, name := range []string{"0-login", "1-roster", "2-chat"} {
		if fi, err := os.Stat(filepath.Join(shots, name+".png")); err != nil || fi.Size() == 0 {
			t.Errorf("screenshot %s: %v", name, err)
		}
	}
	t.Logf("screenshots in %s", shots)
}
