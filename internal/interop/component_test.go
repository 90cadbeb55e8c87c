//go:build interop

package interop

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"roost/internal/xmpptest"
)

// Addresses of the component tests (the 127.0.0.20-29 range; the client
// matrix took 127.0.0.20).
const (
	componentRoostIP = "127.0.0.24"
	ircIP            = "127.0.0.25"
	componentPeerIP  = "127.0.0.26"
)

// componentTable is a [[component]] block for a roost on componentRoostIP.
func componentTable(domain, secret, name string) func(*roostConfig) {
	return func(rc *roostConfig) {
		rc.Tables += fmt.Sprintf("[[component]]\ndomain = %q\nsecret = %q\nlisten = [\"%s:5347\"]\nname = %q\n",
			domain, secret, componentRoostIP, name)
	}
}

// TestInteropComponentSlixmpp: slixmpp's ComponentXMPP connects as
// echo.home.example; a second one for the domain and one with a wrong
// secret are refused; alice (a slixmpp client) finds it in her server's
// disco#items, and she and the component exchange messages both ways and
// a disco#info; once it is gone, her message gets Prosody's answer.
func TestInteropComponentSlixmpp(t *testing.T) {
	ca := xmpptest.NewCA(t)
	const domain, comp = "home.example", "echo.home.example"
	r := startRoost(t, componentRoostIP, domain, ca, componentTable(comp, "echo-secret", "Echo"))
	r.AddUser(t, "alice", "alice-secret")
	ev := runPy(t, "testdata/slix_component.py", "talk",
		"--host", r.IP, "--ca", ca.File, "--jid", "alice@"+domain+"/laptop", "--password", "alice-secret",
		"--component", comp, "--secret", "echo-secret")
	got := map[string]map[string]any{}
	for _, e := range ev {
		got[fmt.Sprint(e["event"])] = e
	}
	check := func(event, key string, want any) {
		t.Helper()
		if g := fmt.Sprint(got[event][key]); g != fmt.Sprint(want) {
			t.Errorf("%s %s = %s, want %v (events: %v)", event, key, g, want, ev)
		}
	}
	check("component", "domain", comp)
	check("second", "condition", "conflict")
	check("wrong-secret", "condition", "not-authorized")
	// Other services may be listed too.
	if items := fmt.Sprint(got["items"]["items"]); !strings.Contains(items, "["+comp+" Echo]") {
		t.Errorf("disco#items of %s: %s, want [%s Echo] among them", domain, items, comp)
	}
	check("component-got", "frm", "alice@"+domain+"/laptop")
	check("component-got", "to", "echo@"+comp)
	check("component-got", "body", "hello component")
	check("alice-got", "frm", "echo@"+comp+"/bot")
	check("alice-got", "to", "alice@"+domain+"/laptop")
	check("alice-got", "body", "hello alice")
	check("info", "identities", [][]string{{"component", "generic", "slixmpp echo"}})
	check("away", "type", "wait")
	check("away", "condition", "remote-server-timeout")
	log := r.Log()
	for _, want := range []string{`msg="component connected" .* domain=` + comp, `msg="second connection for a connected component refused" .* domain=` + comp,
		`msg="component handshake failed" .* domain=` + comp} {
		if !regexp.MustCompile(want).MatchString(log) {
			t.Errorf("roost's log lacks %s", want)
		}
	}
}

// TestInteropComponentBiboumi is issue 10's acceptance test: Debian's
// biboumi, an IRC gateway, connects to roost as the component
// irc.home.example; an IRC user sits in #family on a local ngircd; alice
// (on roost) and bob (on a federated Prosody, through s2s, dialback) join
// #family%127.0.0.25@irc.home.example, say hello, and get the IRC user's
// answer. Both sides check the exact texts.
func TestInteropComponentBiboumi(t *testing.T) {
	for _, bin := range []string{"/usr/bin/biboumi", "/usr/sbin/ngircd"} {
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("%s is needed (Debian packages biboumi, ngircd): %v", bin, err)
		}
	}
	z := newZone(t)
	const home, far, gateway = "home.example", "far.example", "irc.home.example"
	// Prosody verifies irc.home.example's dialback key with the server
	// the DNS names for it: roost.
	z.publish(home, componentRoostIP, srvPublish{starttls: 5269})
	z.publish(gateway, componentRoostIP, srvPublish{starttls: 5269})
	z.publish(far, componentPeerIP, srvPublish{starttls: 5269})
	caHome, caFar := xmpptest.NewCA(t), xmpptest.NewCA(t)
	r := startRoost(t, componentRoostIP, home, caHome, s2sConfig(componentRoostIP, z, peerMode{}, ""),
		componentTable(gateway, "biboumi-secret", "IRC"))
	r.AddUser(t, "alice", "alice-secret")
	prosody := startProsody(t, componentPeerIP, far, caFar, z, peerMode{}, map[string]string{"bob": "bob-secret"})
	startNgircd(t)
	startBiboumi(t, gateway, "biboumi-secret")
	waitLog(t, r, regexp.MustCompile(`msg="component connected" .* domain=`+regexp.QuoteMeta(gateway)))

	irc := dialIRC(t, "ircbob")
	irc.join(t, "#family")
	// The IRC user answers once both XMPP users have spoken.
	heard := make(chan []string, 1)
	go func() {
		var lines []string
		for len(lines) < 2 {
			l, err := irc.line()
			if err != nil {
				break
			}
			if strings.Contains(l, " PRIVMSG #family :") {
				lines = append(lines, l)
			}
		}
		if len(lines) == 2 {
			irc.send("PRIVMSG #family :hello from irc")
		}
		heard <- lines
	}()

	room := "#family%" + ircIP + "@" + gateway
	ev := runPy(t, "testdata/slix_component.py", "irc",
		"--jid", "alice@"+home+"/laptop", "--password", "alice-secret", "--host", r.IP, "--ca", caHome.File,
		"--jid2", "bob@"+far+"/phone", "--password2", "bob-secret", "--host2", prosody.IP, "--ca2", prosody.CAFile,
		"--room", room, "--irc-nick", "ircbob")

	var lines []string
	select {
	case lines = <-heard:
	case <-time.After(30 * time.Second):
		t.Fatal("the IRC user heard nothing within 30s")
	}
	if testing.Verbose() {
		t.Logf("the IRC user heard %q; the XMPP users' events: %v", lines, ev)
	}
	// What the IRC user saw: each XMPP user's nick and exact text.
	var said []string
	for _, l := range lines {
		nick, _, _ := strings.Cut(strings.TrimPrefix(l, ":"), "!")
		_, text, _ := strings.Cut(l, " PRIVMSG #family :")
		said = append(said, nick+": "+text)
	}
	slices.Sort(said)
	if want := []string{"alice: hello from alice", "bob: hello from bob"}; !slices.Equal(said, want) {
		t.Errorf("the IRC user saw %q, want %q", said, want)
	}
	// What the XMPP users saw.
	joined, answers := map[string]string{}, map[string]string{}
	for _, e := range ev {
		switch e["event"] {
		case "joined":
			joined[fmt.Sprint(e["user"])] = fmt.Sprintf("%v %v %v", e["type"], e["frm"], e["condition"])
		case "groupchat":
			answers[fmt.Sprint(e["user"])] = fmt.Sprintf("%v: %v", e["frm"], e["body"])
		}
	}
	for user, nick := range map[string]string{"alice@" + home: "alice", "bob@" + far: "bob"} {
		if want := fmt.Sprintf("available %s/%s ", room, nick); joined[user] != want {
			t.Errorf("%s joined: %q, want %q", user, joined[user], want)
		}
		if want := room + "/ircbob: hello from irc"; answers[user] != want {
			t.Errorf("%s got %q, want %q", user, answers[user], want)
		}
	}
	// Over s2s, dialback authenticated the component's domain both ways:
	// Prosody to it (bob's stanzas in) and it to Prosody (biboumi's out).
	for _, want := range []string{
		`msg="inbound pair authorized" .* from=` + far + ` to=` + gateway + ` mechanism=dialback`,
		`msg="outbound pair authorized" .* from=` + gateway + ` to=` + far + ` .*mechanism=dialback`,
	} {
		if !regexp.MustCompile(want).MatchString(r.Log()) {
			t.Errorf("roost's log lacks %s", want)
		}
	}
}

// waitLog waits for a line matching want in roost's log.
func waitLog(t *testing.T, r *Roost, want *regexp.Regexp) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !want.MatchString(r.Log()) {
		if time.Now().After(deadline) {
			t.Fatalf("roost's log lacks %s after 20s:\n%s", want, tail(r.Log(), 40))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startNgircd runs Debian's ngircd on ircIP:6667, in the foreground.
func startNgircd(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`[Global]
Name = irc.roost.test
Info = roost interop IRC server
AdminInfo1 = roost interop tests
Listen = %s
Ports = 6667
MotdPhrase = "roost interop"
[Limits]
MaxConnectionsIP = 0
[Options]
Ident = no
PAM = no
DNS = no
`, ircIP)
	path := filepath.Join(dir, "ngircd.conf")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &process{name: "ngircd", cmd: exec.Command("/usr/sbin/ngircd", "-n", "-f", path)}
	p.start(t)
	p.waitFor(t, "Now listening on ["+ircIP+"]:6667", 15*time.Second)
}

// startBiboumi runs Debian's biboumi as the component domain of the
// roost on componentRoostIP.
func startBiboumi(t *testing.T, domain, secret string) {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`hostname=%s
password=%s
xmpp_server_ip=%s
port=5347
identd_port=0
log_level=0
db_name=%s
policy_directory=%s
`, domain, secret, componentRoostIP, filepath.Join(dir, "biboumi.sqlite"), dir)
	path := filepath.Join(dir, "biboumi.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &process{name: "biboumi", cmd: exec.Command("/usr/bin/biboumi", path)}
	p.cmd.Dir = dir
	p.start(t)
}

// ircClient is an IRC user on the test's ngircd, over a raw socket.
type ircClient struct {
	t    *testing.T
	nc   net.Conn
	r    *bufio.Reader
	nick string
}

func dialIRC(t *testing.T, nick string) *ircClient {
	t.Helper()
	nc, err := net.DialTimeout("tcp", ircIP+":6667", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	c := &ircClient{t: t, nc: nc, r: bufio.NewReader(nc), nick: nick}
	c.send("NICK " + nick)
	c.send("USER " + nick + " 0 * :roost interop")
	c.expect(t, " 001 ")
	return c
}

func (c *ircClient) send(line string) {
	_ = c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = c.nc.Write([]byte(line + "\r\n"))
}

// line reads the next line, answering PINGs on the way; every read must
// come within 60 seconds.
func (c *ircClient) line() (string, error) {
	for {
		_ = c.nc.SetReadDeadline(time.Now().Add(60 * time.Second))
		l, err := c.r.ReadString('\n')
		if err != nil {
			return "", err
		}
		l = strings.TrimRight(l, "\r\n")
		if strings.HasPrefix(l, "PING ") {
			c.send("PONG " + strings.TrimPrefix(l, "PING "))
			continue
		}
		return l, nil
	}
}

// expect reads until a line containing want.
func (c *ircClient) expect(t *testing.T, want string) string {
	t.Helper()
	for {
		l, err := c.line()
		if err != nil {
			t.Fatalf("IRC: waiting for %q: %v", want, err)
		}
		if strings.Contains(l, want) {
			return l
		}
	}
}

// join joins channel and waits for the end of its names list.
func (c *ircClient) join(t *testing.T, channel string) {
	t.Helper()
	c.send("JOIN " + channel)
	c.expect(t, " 366 "+c.nick+" "+channel+" ")
}
