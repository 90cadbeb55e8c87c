//go:build interop

package interop

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"roost/internal/client"
	"roost/internal/xmpptest"
	"roost/jid"
	"roost/stream"
)

// The web test's addresses (127.0.0.80-89 are the web clients').
const (
	webIP     = "127.0.0.80" // roost: XMPP, and HTTPS on 443 and 5443
	webPageIP = "127.0.0.81" // the family's web page with converse.js
	webDomain = "web.example"
	webPage   = "http://" + webPageIP + ":8080"
	// converse.js's files over https, as a CDN serves them to roost's
	// own chat page (which is https, and may load no http script).
	webApp = "https://" + webPageIP + ":8443/converse/"
)

// webTimeout bounds each web client process.
const webTimeout = 3 * time.Minute

var artifacts = flag.String("artifacts", "artifacts", "directory for the tests' artifacts (screenshots of the web clients)")

// TestInteropWeb: web clients over XMPP over WebSocket (RFC 7395). A
// family member opens a web page with converse.js in Chromium, logs in
// through its form (converse finds the WebSocket through
// /.well-known/host-meta on port 443, XEP-0156), sees her contacts, and
// chats with a slixmpp user and a profanity user, both ways. @xmpp/client
// under Node is a second web client. Bad WebSocket input is refused
// clearly meanwhile, and nobody else notices.
func TestInteropWeb(t *testing.T) {
	webDir := nodeClients(t)
	shots := screenshotDir(t, "web")
	ca := xmpptest.NewCA(t)
	r := startRoost(t, webIP, webDomain, ca, func(c *roostConfig) {
		c.S2S = "enabled = false\n"
		c.HTTPS = fmt.Sprintf("listen = [%q, %q]\n", webIP+":443", webIP+":5443")
		c.Tables = fmt.Sprintf("[websocket]\norigins = [%q]\nchat_app = %q\n", webPage, webApp)
	})
	users := map[string]string{"alice": "", "bob": "", "carol": "", "dave": ""}
	for u := range users {
		users[u] = u + "-web-secret"
		r.AddUser(t, u+"@"+webDomain, users[u])
	}
	addr := func(u string) string { return u + "@" + webDomain }
	pyConn := []string{"--host", webIP, "--port", "5222", "--ca", ca.File}

	// Alice's contacts, so that her roster shows them.
	friends := runPy(t, "testdata/slix_web.py", append(append([]string{"befriend"}, pyConn...),
		"--jid", addr("alice"), "--password", users["alice"],
		"--contacts", addr("bob")+":"+users["bob"], addr("carol")+":"+users["carol"], addr("dave")+":"+users["dave"])...)
	for _, u := range []string{"bob", "carol", "dave"} {
		want(t, event(t, friends, "friends", "jid", addr(u)), "subscription", "both")
	}

	// host-meta lists the WebSocket at the address asked, cross-origin.
	checkHostMeta(t, webIP+":5443", webDomain+":5443", "wss://"+webDomain+":5443/xmpp-websocket")
	checkHostMeta(t, webIP+":443", webDomain, "wss://"+webDomain+"/xmpp-websocket")

	servePage(t, webDir, ca)
	bob := startProc(t, "bob (slixmpp)", "", nil, "/usr/bin/python3",
		append(append([]string{"testdata/slix_web.py", "echo"}, pyConn...),
			"--jid", addr("bob")+"/slixmpp", "--password", users["bob"], "--count", "2", "--timeout", "120")...)
	bob.expect(t, "ready")

	tm := newTmux(t)
	dave := startProfanity(t, tm, "dave", addr("dave"), users["dave"], webIP, ca.File)

	browser := startProc(t, "converse.js in chromium", webDir, nil, "node",
		"converse.mjs", webPage+"/", webDomain, webIP, shots)
	contacts := []string{addr("bob"), addr("carol"), addr("dave")}
	login := browser.step(t, map[string]any{"step": "login", "jid": addr("alice"), "password": users["alice"],
		"contacts": contacts, "loginShot": "0-login", "rosterShot": "1-roster"})
	roster := fmt.Sprint(login["roster"])
	for _, u := range []string{"bob", "carol", "dave"} {
		if !strings.Contains(roster, u) {
			t.Errorf("converse's roster %s lacks %s", roster, u)
		}
	}
	if ws := browser.seen("websocket"); len(ws) == 0 || ws[0]["url"] != "wss://"+webDomain+"/xmpp-websocket" {
		t.Errorf("converse's WebSockets: %v; want wss://%s/xmpp-websocket, found through host-meta", ws, webDomain)
	}

	const toBob = "hello bob, from converse in chromium"
	chat := browser.step(t, map[string]any{"step": "chat", "jid": addr("bob"), "text": toBob, "want": "echo: " + toBob, "shotName": "2-chat-bob"})
	if got := fmt.Sprint(chat["texts"]); !strings.Contains(got, toBob) || !strings.Contains(got, "echo: "+toBob) {
		t.Errorf("converse's chat with bob shows %s", got)
	}
	m := bob.expect(t, "message")
	if frm := fmt.Sprint(m["frm"]); !strings.HasPrefix(frm, addr("alice")+"/") || m["body"] != toBob {
		t.Errorf("bob got %v, want %q from alice", m, toBob)
	}

	// roost's own chat page (https://web.example/, [websocket] chat_page):
	// alice logs in with her name alone, the page's domain completing it,
	// and chats with dave in profanity. The first page's session is gone
	// with its browser context.
	login = browser.step(t, map[string]any{"step": "login", "url": "https://" + webDomain + "/", "jid": "alice", "password": users["alice"],
		"contacts": contacts, "loginShot": "3-roost-page-login", "rosterShot": "4-roost-page-roster"})
	if roster := fmt.Sprint(login["roster"]); !strings.Contains(roster, "dave") {
		t.Errorf("the roster on roost's page %s lacks dave", roster)
	}
	if ws := browser.seen("websocket"); len(ws) < 2 || ws[len(ws)-1]["url"] != "wss://"+webDomain+"/xmpp-websocket" {
		t.Errorf("converse's WebSockets: %v; want the last to wss://%s/xmpp-websocket, from roost's page", ws, webDomain)
	}

	const toAlice, toDave = "hello alice, from profanity", "hello dave, from the browser"
	dave.typeLine(t, "/msg "+addr("alice")+" "+toAlice)
	answer := browser.step(t, map[string]any{"step": "answer", "jid": addr("dave"), "text": toAlice, "reply": toDave, "shotName": "5-roost-page-chat-dave"})
	if got := fmt.Sprint(answer["texts"]); !strings.Contains(got, toAlice) || !strings.Contains(got, toDave) {
		t.Errorf("converse's chat with dave shows %s", got)
	}
	dave.waitFor(t, toDave, 30*time.Second)

	// Without the Internet the chat app cannot load: roost's page says
	// so, where it used to be blank.
	offline := browser.step(t, map[string]any{"step": "offline", "url": "https://" + webDomain + "/", "block": webApp, "shotName": "6-roost-page-offline"})
	if got, want := fmt.Sprint(offline["text"]), "The chat app could not be loaded from "+webApp+": is this device online?"; got != want {
		t.Errorf("roost's page without its app says %q, want %q", got, want)
	}

	badWebSocketInput(t, ca)

	// A second web client, and bob answers it: nothing above disturbed
	// him or the server.
	const fromCarol = "hello bob, from @xmpp/client"
	carol := startProc(t, "@xmpp/client", webDir, []string{"NODE_TLS_REJECT_UNAUTHORIZED=0"}, "node",
		"--experimental-websocket", "xmppclient.mjs", "wss://"+webIP+":5443/xmpp-websocket", webDomain, "carol", users["carol"],
		addr("bob"), fromCarol, "echo: "+fromCarol)
	if online := carol.expect(t, "online"); !strings.HasPrefix(fmt.Sprint(online["jid"]), addr("carol")+"/") {
		t.Errorf("@xmpp/client bound %v", online["jid"])
	}
	if items := fmt.Sprint(carol.expect(t, "roster")["items"]); !strings.Contains(items, "jid:"+addr("alice")+" subscription:both") {
		t.Errorf("@xmpp/client's roster: %s; want alice, subscription both", items)
	}
	if m := carol.expect(t, "message"); !strings.HasPrefix(fmt.Sprint(m["from"]), addr("bob")+"/") {
		t.Errorf("@xmpp/client got %v, want bob's echo", m)
	}
	m = bob.expect(t, "message")
	if frm := fmt.Sprint(m["frm"]); !strings.HasPrefix(frm, addr("carol")+"/") || m["body"] != fromCarol {
		t.Errorf("bob got %v, want %q from carol", m, fromCarol)
	}
	carol.wait(t)
	bob.wait(t)
	browser.close(t)

	// roost saw the web clients come over WebSocket.
	if n := strings.Count(r.Log(), `"websocket":true`) + strings.Count(r.Log(), "websocket=true"); n < 2 {
		t.Errorf("roost logged %d WebSocket connections, want at least converse's and @xmpp/client's", n)
	}
	for _, name := range []string{"0-login", "1-roster", "2-chat-bob", "3-roost-page-login", "4-roost-page-roster", "5-roost-page-chat-dave", "6-roost-page-offline"} {
		if fi, err := os.Stat(filepath.Join(shots, name+".png")); err != nil || fi.Size() == 0 {
			t.Errorf("screenshot %s: %v", name, err)
		}
	}
	t.Logf("screenshots in %s", shots)
}

// screenshotDir returns the absolute path of the artifacts' directory
// name, made empty: no screenshot of an earlier run passes for this one's.
func screenshotDir(t *testing.T, name string) string {
	t.Helper()
	shots, err := filepath.Abs(filepath.Join(*artifacts, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(shots); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	return shots
}

// checkHostMeta fetches host-meta from roost at addr, for host, as a web
// page on webPage would, and checks that it lists wsURL.
func checkHostMeta(t *testing.T, addr, host, wsURL string) {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, ServerName: webDomain}, //nolint:gosec // loopback, test CA
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}}
	for _, path := range []string{"/.well-known/host-meta", "/.well-known/host-meta.json"} {
		req, _ := http.NewRequest("GET", "https://"+host+path, nil)
		req.Header.Set("Origin", webPage)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("host-meta: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), wsURL) || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("%s on %s for %s: %s, CORS %q, %s; want %s listed, readable from any origin",
				path, addr, host, resp.Status, resp.Header.Get("Access-Control-Allow-Origin"), body, wsURL)
		}
	}
}

// servePage serves converse.html and converse.js's files on webPage, and
// converse.js's files on webApp.
func servePage(t *testing.T, webDir string, ca *xmpptest.CA) {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/converse/", http.StripPrefix("/converse/", http.FileServer(http.Dir(filepath.Join(webDir, "node_modules", "converse.js", "dist")))))
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(webDir, "converse.html"))
	})
	ln, err := net.Listen("tcp", webPageIP+":8080")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	tln, err := net.Listen("tcp", webPageIP+":8443")
	if err != nil {
		t.Fatal(err)
	}
	// As a CDN does: a module script from another site needs CORS.
	cors := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		mux.ServeHTTP(w, r)
	})
	app := &http.Server{Handler: cors, ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, webPageIP)}, MinVersion: tls.VersionTLS12}}
	go func() { _ = app.ServeTLS(tln, "", "") }()
	t.Cleanup(func() { _ = app.Close() })
}

// badWebSocketInput sends what RFC 7395 forbids to the running server:
// each gets its clear error, and ends only its own stream.
func badWebSocketInput(t *testing.T, ca *xmpptest.CA) {
	t.Helper()
	url := "wss://" + webIP + ":5443/xmpp-websocket"
	o := client.Options{JID: jid.MustParse(webDomain), TLS: ca.ClientTLS(webDomain)}
	open := func(wo client.WebSocketOptions) (*client.Conn, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return client.OpenWebSocket(ctx, url, o, wo)
	}
	_, err := open(client.WebSocketOptions{Subprotocols: []string{}})
	var he *client.HTTPError
	if !errors.As(err, &he) || he.Code != http.StatusBadRequest || !strings.Contains(he.Text, `subprotocol "xmpp"`) {
		t.Errorf("a WebSocket without the subprotocol: %v; want HTTP 400 naming it", err)
	}
	_, err = open(client.WebSocketOptions{Origin: "https://elsewhere.example"})
	if !errors.As(err, &he) || he.Code != http.StatusForbidden {
		t.Errorf("a page from elsewhere: %v; want HTTP 403", err)
	}
	for _, tc := range []struct {
		name string
		send func(c *client.Conn) error
		cond stream.Condition
	}{
		{"two stanzas in one message", func(c *client.Conn) error {
			return c.SendRaw([]byte(`<presence xmlns='jabber:client'/><presence xmlns='jabber:client'/>`))
		}, stream.BadFormat},
		{"a binary message", func(c *client.Conn) error {
			return c.WebSocket().Write(context.Background(), websocket.MessageBinary, []byte(`<presence xmlns='jabber:client'/>`))
		}, stream.BadFormat},
		{"an oversized message", func(c *client.Conn) error {
			return c.SendRaw([]byte(`<message xmlns='jabber:client'><body>` + strings.Repeat("x", 300<<10) + `</body></message>`))
		}, stream.PolicyViolation},
	} {
		c, err := open(client.WebSocketOptions{})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if err := tc.send(c); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		xmpptest.ExpectStreamError(t, c, tc.cond)
		_ = c.Close()
	}
}

// proc is a client process that prints JSON events, one per line, and for
// converse.mjs reads steps on stdin. It runs in a process group of its
// own, which is killed when the test ends, so that no browser outlives it.
type proc struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	events chan map[string]any
	stderr *syncBuffer
	all    []map[string]any // every event received so far
	done   chan error
}

func startProc(t *testing.T, name, dir string, env []string, argv0 string, args ...string) *proc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), webTimeout)
	cmd := exec.CommandContext(ctx, argv0, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	p := &proc{name: name, cmd: cmd, events: make(chan map[string]any, 64), stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	var err error
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("%s: %v", name, err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var ev map[string]any
			if json.Unmarshal(sc.Bytes(), &ev) == nil {
				p.events <- ev
			}
		}
		close(p.events)
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cancel()
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the browser too
		if t.Failed() {
			t.Logf("%s: events %v\nstderr:\n%s", name, p.all, tail(p.stderr.String(), 60))
		}
	})
	return p
}

// expect waits for the next event named name; events in between are kept
// (see seen). An error event or the end of the process fails the test.
func (p *proc) expect(t *testing.T, name string) map[string]any {
	t.Helper()
	timeout := time.After(90 * time.Second)
	for {
		select {
		case ev, ok := <-p.events:
			if !ok {
				t.Fatalf("%s ended before %q: %v", p.name, name, p.all)
			}
			p.all = append(p.all, ev)
			if ev["event"] == "error" || ev["ok"] == false {
				t.Fatalf("%s: %v", p.name, ev)
			}
			if ev["event"] == name {
				return ev
			}
		case <-timeout:
			t.Fatalf("%s: no %q within 90s; events %v", p.name, name, p.all)
		}
	}
}

// step sends one step to converse.mjs and waits for its outcome.
func (p *proc) step(t *testing.T, s map[string]any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(s)
	if _, err := p.stdin.Write(append(b, '\n')); err != nil {
		t.Fatalf("%s: %v", p.name, err)
	}
	return p.expect(t, fmt.Sprint(s["step"]))
}

// seen returns the events named name received so far.
func (p *proc) seen(name string) []map[string]any {
	var out []map[string]any
	for _, ev := range p.all {
		if ev["event"] == name {
			out = append(out, ev)
		}
	}
	return slices.Clip(out)
}

// wait waits for the process to exit successfully.
func (p *proc) wait(t *testing.T) {
	t.Helper()
	for ev := range p.events {
		p.all = append(p.all, ev)
	}
	if err := <-p.done; err != nil {
		t.Errorf("%s exited with %v; events %v", p.name, err, p.all)
	}
}

// close ends converse.mjs's steps and waits for it to close the browser.
func (p *proc) close(t *testing.T) {
	t.Helper()
	_ = p.stdin.Close()
	p.wait(t)
}
