//go:build interop

package interop

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"roost/internal/xmpptest"
)

// Personal eventing (issue 12) uses 127.0.0.40-49.
const (
	pepIP        = "127.0.0.40" // slixmpp on one roost
	omemoIP      = "127.0.0.41" // profanity on one roost
	pepRoostIP   = "127.0.0.42" // federation: roost
	pepProsodyIP = "127.0.0.43" // federation: Prosody
	pepEjabIP    = "127.0.0.44" // federation: ejabberd
)

// pepSteps checks a slix_pep.py run: every step it reports succeeded, and
// all of want were reported.
func pepSteps(t *testing.T, ev []map[string]any, want ...string) {
	t.Helper()
	seen := map[string]bool{}
	for _, e := range ev {
		if e["event"] != "step" {
			continue
		}
		name := fmt.Sprint(e["step"])
		seen[name] = true
		if e["ok"] != true {
			t.Errorf("%s: failed (%v)", name, e)
		} else if testing.Verbose() {
			t.Logf("%s: ok", name)
		}
	}
	for _, w := range want {
		if !seen[w] {
			t.Errorf("%s: did not happen", w)
		}
	}
}

// TestInteropPEPSlixmpp: slixmpp's PEP plugins (xep_0060, xep_0163,
// xep_0084, xep_0153, xep_0054, xep_0048, xep_0223) against roost:
// notifications following caps with the last item on presence,
// publish-options preconditions, max_items, retract notifications,
// avatars both ways with the hash in presence, bookmarks in all three
// forms, XEP-0223 private data and the account's disco#info.
func TestInteropPEPSlixmpp(t *testing.T) {
	ca := xmpptest.NewCA(t)
	r := startRoost(t, pepIP, "pep.example", ca)
	r.AddUser(t, "alice", "alice-secret")
	r.AddUser(t, "bob", "bob-secret")
	alice := account{"alice@pep.example/laptop", "alice-secret", r.IP, ca.File}
	bob := account{"bob@pep.example/phone", "bob-secret", r.IP, ca.File}
	befriend(t, alice, bob)
	ev := runPy(t, "testdata/slix_pep.py", "local", "--host", r.IP, "--ca", ca.File,
		"--jid1", alice.jid, "--password1", alice.password, "--jid2", bob.jid, "--password2", bob.password)
	pepSteps(t, ev, "last item on presence", "notification", "precondition-not-met", "max_items", "last item after new caps",
		"retract notification", "avatar metadata notification", "avatar data", "vCard photo from the avatar",
		"avatar hash in presence", "avatar from the vCard", "private XML bookmark in XEP-0402",
		"XEP-0402 bookmark in private XML", "bookmarks over PEP (XEP-0048 §3.3)", "bookmarks are private",
		"XEP-0223 store and retrieve", "XEP-0223 data is private", "pep identity", "publish-options advertised")
}

// profanityClient is a profanity 0.13 in tmux, with OMEMO (built into
// Debian's profanity) and a protocol trace.
type profanityClient struct {
	*pane
	jid, trace string
}

func startProfanity(t *testing.T, tm *tmuxServer, name, bare, password, host, caFile string) *profanityClient {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "data/profanity/accounts"), fmt.Sprintf(`[%s]
enabled=true
jid=%s
server=%s
port=5222
resource=profanity
password=%s
tls.policy=force
`, bare, bare, host, password), 0o600)
	trace := filepath.Join(dir, "profanity.log")
	p := tm.start(t, name, []string{
		"HOME=" + dir, "XDG_CONFIG_HOME=" + filepath.Join(dir, "config"),
		"XDG_DATA_HOME=" + filepath.Join(dir, "data"), "SSL_CERT_FILE=" + caFile,
	}, "profanity", "-a", bare, "-l", "DEBUG", "-f", trace)
	p.waitFor(t, "logged in successfully", 30*time.Second)
	return &profanityClient{pane: p, jid: bare, trace: trace}
}

// omemoSetup generates keys (which publishes the device list and the
// bundle) and trusts whatever keys come: the test is about the server.
func (p *profanityClient) omemoSetup(t *testing.T) {
	t.Helper()
	p.typeLine(t, "/omemo gen")
	p.waitFor(t, "OMEMO crytographic materials generated", 60*time.Second)
	p.waitFor(t, "Going to publish own device ID", 30*time.Second)
	p.typeLine(t, "/omemo trustmode blind")
	p.waitFor(t, "setting to blind", 10*time.Second)
}

// omemoChat has from start an OMEMO session with to and send text, and
// checks that to's screen shows text, marked as encrypted, and that what
// to's server delivered carried it encrypted only.
func omemoChat(t *testing.T, from, to *profanityClient, text string) {
	t.Helper()
	from.typeLine(t, "/omemo start "+to.jid)
	from.waitFor(t, "[OMEMO]", 30*time.Second)
	// The session needs the peer's device list and bundle: until they
	// arrive profanity refuses to send ("Can't find a OMEMO device id").
	deadline := time.Now().Add(45 * time.Second)
	for {
		from.typeLine(t, text)
		if waitScreen(from.pane, "me: "+text, 5*time.Second) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s could not send an OMEMO message; its screen:\n%s", from.jid, from.screen())
		}
	}
	to.typeLine(t, "/win 2")
	// "~" marks a message profanity received encrypted with OMEMO.
	to.waitFor(t, "~ "+from.jid+"/profanity: "+text, 30*time.Second)
	recv := regexp.MustCompile(`RECV: (<message[^\n]*)`)
	var carried bool
	for _, m := range recv.FindAllStringSubmatch(readTrace(t, to.trace), -1) {
		if strings.Contains(m[1], text) {
			t.Errorf("%s's server delivered the plaintext: %s", to.jid, m[1])
		}
		if strings.Contains(m[1], `xmlns="eu.siacs.conversations.axolotl"`) && strings.Contains(m[1], `<encrypted`) {
			carried = true
		}
	}
	if !carried {
		t.Errorf("no OMEMO-encrypted message in %s's trace", to.jid)
	}
}

// waitScreen reports whether p's screen shows what within timeout.
func waitScreen(p *pane, what string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if strings.Contains(p.screen(), what) {
			return true
		}
		time.Sleep(150 * time.Millisecond)
	}
	return false
}

// TestInteropPEPOMEMO: two profanity 0.13 users on one roost generate
// OMEMO keys, trust them, and exchange messages each decrypts. This is
// what issue 12 found broken: "Unknown error while publishing our own
// device list".
func TestInteropPEPOMEMO(t *testing.T) {
	ca := xmpptest.NewCA(t)
	r := startRoost(t, omemoIP, "omemo.example", ca)
	r.AddUser(t, "alice", "alice-secret")
	r.AddUser(t, "bob", "bob-secret")
	befriend(t, account{"alice@omemo.example/setup", "alice-secret", r.IP, ca.File},
		account{"bob@omemo.example/setup", "bob-secret", r.IP, ca.File})
	tm := newTmux(t)
	alice := startProfanity(t, tm, "alice", "alice@omemo.example", "alice-secret", r.IP, ca.File)
	bob := startProfanity(t, tm, "bob", "bob@omemo.example", "bob-secret", r.IP, ca.File)
	alice.omemoSetup(t)
	bob.omemoSetup(t)
	omemoChat(t, alice, bob, "hello bob, this is between us")
	omemoChat(t, bob, alice, "hello alice, agreed")
	for _, p := range []*profanityClient{alice, bob} {
		if s := p.screen(); strings.Contains(s, "Unknown error while publishing") || strings.Contains(s, "Can't find a OMEMO device id") {
			t.Errorf("%s shows an OMEMO error:\n%s", p.jid, s)
		}
	}
}

// TestInteropPEPFederation: roost with Prosody (mod_pep) and ejabberd
// (mod_pubsub's PEP) over server-to-server: notifications follow caps
// both ways, nodes are read across servers, and a profanity user on
// roost and one on Prosody exchange OMEMO messages.
func TestInteropPEPFederation(t *testing.T) {
	z := newZone(t)
	mode := peerMode{}
	caA, caB, caC := xmpptest.NewCA(t), xmpptest.NewCA(t), xmpptest.NewCA(t)
	z.publish("roost.example", pepRoostIP, srvPublish{starttls: 5269})
	z.publish("prosody.example", pepProsodyIP, srvPublish{starttls: 5269})
	z.publish("ejabberd.example", pepEjabIP, srvPublish{starttls: 5269})
	r := startRoost(t, pepRoostIP, "roost.example", caA, s2sConfig(pepRoostIP, z, mode, ""))
	r.AddUser(t, "alice", "alice-secret")
	prosody := startProsody(t, pepProsodyIP, "prosody.example", caB, z, mode, map[string]string{"bob": "bob-secret", "dave": "dave-secret"}, "pep")
	ejabberd := startEjabberd(t, pepEjabIP, "ejabberd.example", caC, z, mode, map[string]string{"carol": "carol-secret"},
		"  mod_caps: {}\n  mod_pubsub:\n    plugins:\n      - flat\n      - pep\n")
	alice := account{"alice@roost.example/laptop", "alice-secret", r.IP, caA.File}
	bob := account{"bob@prosody.example/phone", "bob-secret", prosody.IP, prosody.CAFile}
	dave := account{"dave@prosody.example/profanity", "dave-secret", prosody.IP, prosody.CAFile}
	carol := account{"carol@ejabberd.example/pc", "carol-secret", ejabberd.IP, ejabberd.CAFile}
	befriend(t, alice, bob)
	befriend(t, alice, carol)
	befriend(t, alice, dave)

	t.Run("notifications", func(t *testing.T) {
		ev := runPy(t, "testdata/slix_pep.py", "federation",
			"--jid1", alice.jid, "--password1", alice.password, "--host1", alice.host, "--ca1", alice.ca,
			"--jid2", bob.jid, "--password2", bob.password, "--host2", bob.host, "--ca2", bob.ca,
			"--jid3", carol.jid, "--password3", carol.password, "--host3", carol.host, "--ca3", carol.ca)
		var want []string
		for _, d := range []string{"prosody.example", "ejabberd.example"} {
			want = append(want, "last item across servers to "+d, "notification across servers to "+d,
				"open node read from "+d, "notification from "+d, "node read on "+d)
		}
		pepSteps(t, ev, want...)
	})

	t.Run("OMEMO with profanity", func(t *testing.T) {
		// Prosody 0.12 answers item-not-found without the request to
		// profanity's first fetch of its own device list, which profanity
		// 0.13 takes for a failure: seed an empty one, as another client
		// of dave's would have (see module/pep's documentation).
		pepSteps(t, runPy(t, "testdata/slix_pep.py", "seed",
			"--jid1", "dave@prosody.example/seed", "--password1", dave.password, "--host1", dave.host, "--ca1", dave.ca), "device list seeded")
		trust := bundle(t, caA.File, prosody.CAFile)
		tm := newTmux(t)
		a := startProfanity(t, tm, "alice", "alice@roost.example", "alice-secret", r.IP, trust)
		d := startProfanity(t, tm, "dave", "dave@prosody.example", "dave-secret", prosody.IP, trust)
		a.omemoSetup(t)
		d.omemoSetup(t)
		omemoChat(t, a, d, "hello dave, across servers")
		omemoChat(t, d, a, "hello alice, from Prosody")
	})
	if t.Failed() {
		logText, _ := os.ReadFile(prosody.log)
		t.Logf("prosody log tail:\n%s", tail(string(logText), 80))
	}
}
