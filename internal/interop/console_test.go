//go:build interop

package interop

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"roost/internal/client"
	"roost/internal/xmpptest"
	"roost/jid"
	"roost/xmlstream"
)

// Addresses of the console and invitation tests, apart from the other
// suites'.
const (
	consoleIP    = "127.0.0.90"
	consoleHost  = "family.example"
	scriptAdmin  = "testdata/slix_admin.py"
	adminCommand = "http://jabber.org/protocol/admin#"
)

// TestInteropAdminCommands: an admin runs XEP-0133 commands from
// slixmpp (xep_0050's workflow, xep_0133's nodes): the command list,
// add-user (the new account logs in), online users, an announcement the
// others receive, ending a user's sessions; a non-admin sees none of them
// and is refused. Then an invitation made with XEP-0401's command is
// redeemed through in-band registration with its token (XEP-0445) while
// open registration is off: the new account and the inviter are mutual
// contacts; a forged token and the used one are refused.
func TestInteropAdminCommands(t *testing.T) {
	ca := xmpptest.NewCA(t)
	r := startRoost(t, consoleIP, consoleHost, ca, func(c *roostConfig) {
		c.C2S = "registration = false\n"
		c.Tables = "[contact]\nadmin = [\"xmpp:mum@family.example\", \"mailto:mum@family.example\"]\nabuse = [\"mailto:abuse@family.example\"]\n"
	})
	for _, u := range []string{"mum", "kid"} {
		r.AddUser(t, u, u+"-secret")
	}
	if out, err := exec.Command(roostBin, "admin", "grant", "mum", "-config", r.Config).CombinedOutput(); err != nil {
		t.Fatalf("roost admin grant mum: %v\n%s", err, out)
	}
	script := func(scenario string) []map[string]any {
		ev := runPy(t, scriptAdmin, scenario, "--host", r.IP, "--domain", r.Domain, "--ca", ca.File)
		t.Logf("%s: %v", scenario, ev)
		return ev
	}

	t.Run("commands", func(t *testing.T) {
		ev := script("commands")
		mumList := event(t, ev, "list", "who", "mum")
		want(t, mumList, "result", "ok")
		for _, node := range []string{"add-user", "delete-user", "change-user-password", "end-user-session", "get-online-users-list",
			"get-online-users-num", "get-registered-users-num", "user-stats", "announce"} {
			if !strings.Contains(fmtNodes(mumList), adminCommand+node) {
				t.Errorf("the admin's command list lacks %s: %v", node, mumList["nodes"])
			}
		}
		if !strings.Contains(fmtNodes(mumList), "urn:xmpp:invite#create-account") {
			t.Errorf("the admin's command list lacks XEP-0401's create-account: %v", mumList["nodes"])
		}
		kidList := event(t, ev, "list", "who", "kid")
		if strings.Contains(fmtNodes(kidList), adminCommand) {
			t.Errorf("a non-admin is offered admin commands: %v", kidList["nodes"])
		}
		want(t, event(t, ev, "form", "node", "add-user"), "fields", "[FORM_TYPE accountjid password password-verify]")
		mumAdd := event(t, ev, "run", "who", "mum", "node", "add-user")
		want(t, mumAdd, "status", "completed")
		want(t, mumAdd, "notes", "[Account dad@family.example made.]")
		want(t, event(t, ev, "run", "who", "kid", "node", "add-user"), "notes", "forbidden")
		want(t, event(t, ev, "login", "jid", "dad"), "ok", "true")
		want(t, event(t, ev, "run", "node", "get-online-users-num"), "values", "map[onlineusersnum:2]")
		want(t, event(t, ev, "run", "node", "get-online-users-list"), "values", "map[onlineuserjids:kid@family.example\nmum@family.example]")
		want(t, event(t, ev, "run", "node", "announce"), "notes", "[Sent to 2 connected devices.]")
		a := event(t, ev, "announcement")
		want(t, a, "frm", consoleHost)
		want(t, a, "subject", "Dinner")
		want(t, a, "body", "Dinner is ready\ncome down")
		want(t, event(t, ev, "run", "node", "end-user-session"), "notes", "[Ended: kid@family.example/tablet.]")
		want(t, event(t, ev, "kid-connected"), "value", "false")
		want(t, event(t, ev, "serverinfo"), "values",
			"map[abuse-addresses:[mailto:abuse@family.example] admin-addresses:[xmpp:mum@family.example mailto:mum@family.example]]")
	})

	t.Run("invite", func(t *testing.T) {
		ev := script("invite")
		want(t, event(t, ev, "form", "node", "create-account"), "fields", "[admin roster-subscription username]")
		inv := event(t, ev, "invite")
		want(t, inv, "status", "completed")
		if uri := inv["uri"].(string); !strings.HasPrefix(uri, "xmpp:") || !strings.Contains(uri, "preauth=") {
			t.Fatalf("invitation URI %q", uri)
		}
		if url := inv["url"].(string); !strings.HasPrefix(url, "https://"+consoleHost+":5443/invite/") {
			t.Errorf("landing page %q", url)
		}
		want(t, event(t, ev, "login", "jid", "forged"), "ok", "false")
		want(t, event(t, ev, "login", "jid", "nana"), "ok", "true")
		want(t, event(t, ev, "login", "jid", "reused"), "ok", "false")
		want(t, event(t, ev, "roster", "jid", "nana"), "items", "map[mum@family.example:both]")
		if items := event(t, ev, "roster", "jid", "mum")["items"].(map[string]any); items["nana@family.example"] != "both" {
			t.Errorf("the inviter's roster: %v, want nana@family.example with both", items)
		}
	})
}

// fmtNodes prints an event's node list.
func fmtNodes(e map[string]any) string {
	var b strings.Builder
	for _, n := range e["nodes"].([]any) {
		b.WriteString(n.(string) + " ")
	}
	return b.String()
}

// Where the browser test's screenshots are kept, for people to look at.
const (
	consoleBrowserIP = "127.0.0.91"
	consoleArtifacts = "artifacts/console"
)

// TestInteropConsoleBrowser: Debian's chromium (playwright-core) walks
// through the admin console and the invitation page: a wrong password is
// refused, the admin logs in, resets a password, sees the online
// session, a form without the CSRF token is refused, an invitation is
// made with its QR code; on a phone-sized screen the invitee opens the
// link (QR code, xmpp: link, no script) and makes an account with the
// page's form, which the console then lists; the used link is spent.
// Screenshots of each page stay in internal/interop/artifacts/console.
func TestInteropConsoleBrowser(t *testing.T) {
	ca := xmpptest.NewCA(t)
	r := startRoost(t, consoleBrowserIP, consoleHost, ca, func(c *roostConfig) { c.C2S = "registration = false\n" })
	for _, u := range []string{"mum", "kid"} {
		r.AddUser(t, u, u+"-secret")
	}
	if out, err := exec.Command(roostBin, "admin", "grant", "mum", "-config", r.Config).CombinedOutput(); err != nil {
		t.Fatalf("roost admin grant mum: %v\n%s", err, out)
	}
	// kid is online on a tablet while the admin looks.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kid, err := client.Dial(ctx, net.JoinHostPort(r.IP, "5222"), client.Options{
		JID: jid.MustParse("kid@" + consoleHost + "/tablet"), Password: "kid-secret", TLS: ca.ClientTLS(consoleHost),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer kid.Close()
	if err := kid.Send(xmlstream.New(xmlstream.NSClient, "presence")); err != nil {
		t.Fatal(err)
	}

	if err := os.RemoveAll(consoleArtifacts); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(consoleArtifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs(consoleArtifacts)
	if err != nil {
		t.Fatal(err)
	}
	ev := runNode(t, []string{"NODE_EXTRA_CA_CERTS=" + ca.File}, "console.mjs", "https://"+consoleHost+":5443", consoleHost, r.IP, abs)
	t.Logf("events: %v", ev)

	want(t, event(t, ev, "start"), "url", "/admin/login")
	want(t, event(t, ev, "bad-login"), "text", "true")
	want(t, event(t, ev, "login"), "url", "/admin/")
	want(t, event(t, ev, "reset"), "body", "true")
	want(t, event(t, ev, "csrf"), "status", "403")
	if body := event(t, ev, "online")["body"].(string); !strings.Contains(body, "kid@"+consoleHost) || !strings.Contains(body, "tablet") {
		t.Errorf("the online page does not show kid's tablet: %q", body)
	}
	inv := event(t, ev, "invite")
	want(t, inv, "qr", "1")
	if link := inv["link"].(string); !strings.HasPrefix(link, "https://"+consoleHost+":5443/invite/") {
		t.Errorf("invitation link %q", link)
	}
	land := event(t, ev, "landing")
	want(t, land, "scripts", "0")
	if x, _ := land["xmpp"].(string); !strings.HasPrefix(x, "xmpp:") || !strings.Contains(x, "preauth=") {
		t.Errorf("the landing page's xmpp: link %q", x)
	}
	if n, _ := land["qr"].(float64); n < 1 {
		t.Error("the landing page shows no QR code")
	}
	if body := event(t, ev, "registered")["body"].(string); !strings.Contains(body, "grandpa@"+consoleHost) {
		t.Errorf("after the landing page's form: %q", body)
	}
	want(t, event(t, ev, "accounts"), "grandpa", "true")
	if s := event(t, ev, "reused")["status"].(string); strings.Contains(s, "Make my account") {
		t.Errorf("the used invitation still offers its form: %q", s)
	}

	// The new password works, and grandpa's account too.
	for _, login := range []struct{ user, password string }{{"kid", "kid-new-secret"}, {"grandpa", "grandpa-secret"}} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := client.Dial(ctx, net.JoinHostPort(r.IP, "5222"), client.Options{
			JID: jid.MustParse(login.user + "@" + consoleHost + "/check"), Password: login.password, TLS: ca.ClientTLS(consoleHost),
		})
		if err != nil {
			t.Errorf("%s cannot log in with the password set in the browser: %v", login.user, err)
			continue
		}
		c.Close()
	}
	for _, name := range []string{"login", "overview", "accounts", "online", "rooms", "invites", "landing-phone", "landing-done-phone", "accounts-phone"} {
		b, err := os.ReadFile(filepath.Join(consoleArtifacts, name+".png"))
		if err != nil || len(b) < 1000 || string(b[1:4]) != "PNG" {
			t.Errorf("screenshot %s.png: %d bytes, %v", name, len(b), err)
		}
	}
}
