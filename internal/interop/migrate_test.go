//go:build interop

package interop

import (
	"context"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"roost/internal/xmpptest"
	"roost/module/muc"
	"roost/prosody"
	"roost/server"
	"roost/store"
)

// Moving in (issue 19): a family's Prosody and a family's ejabberd move
// to roost, and every member logs in with the old password and finds
// their contacts, profile, waiting messages and the rest. Loopback
// addresses 127.0.0.120-129.
const (
	migrateProsodyIP  = "127.0.0.120"
	migrateRoostIP    = "127.0.0.121"
	migrateEjabberdIP = "127.0.0.123"
	migrateRoost2IP   = "127.0.0.124"
)

// The family's passwords, set on the old server.
var family = map[string]string{"alice": "alice-on-prosody", "bob": "bob-on-prosody", "carol": "carol-on-prosody"}

func familyArgs(phase, ip, domain, ca string, extra ...string) []string {
	return append([]string{phase, "--host", ip, "--domain", domain, "--ca", ca,
		"--alice", family["alice"], "--bob", family["bob"], "--carol", family["carol"]}, extra...)
}

// startFamilyProsody runs Debian's Prosody 0.12 as a family runs it:
// hashed passwords (accounts made with prosodyctl, as its documentation
// says), the modules of Debian's default configuration that keep data
// (vCards in PEP through vcard4 and vcard_legacy, private XML, block
// list, PEP, offline messages, the archive), clients only.
func startFamilyProsody(t *testing.T, ip, domain string, ca *xmpptest.CA) (*peer, string, string) {
	t.Helper()
	dir := t.TempDir()
	certDir := filepath.Join(dir, "certs")
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := ca.IssueFiles(t, certDir, domain)
	dataDir := filepath.Join(dir, "data")
	logFile := filepath.Join(dir, "prosody.log")
	cfg := fmt.Sprintf(`-- written by roost's interop tests
run_as_root = true
pidfile = %q
data_path = %q
log = { { levels = { min = "info" }, to = "file", filename = %q } }
interfaces = { %q }
c2s_ports = { 5222 }
s2s_ports = {}
c2s_direct_tls_ports = {}
s2s_direct_tls_ports = {}
http_ports = {}
https_ports = {}
certificates = %q
ssl = { certificate = %q; key = %q }
modules_enabled = { "roster", "saslauth", "tls", "disco", "carbons", "pep", "private", "blocklist", "vcard4",
	"vcard_legacy", "version", "uptime", "time", "ping", "presence", "offline", "mam" }
authentication = "internal_hashed"
c2s_require_encryption = true
archive_expires_after = "never"
VirtualHost %q
Component %q "muc"
`, filepath.Join(dir, "prosody.pid"), dataDir, logFile, ip, certDir, certFile, keyFile, domain, "conference."+domain)
	cfgFile := filepath.Join(dir, "prosody.cfg.lua")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, pw := range family {
		cmd := exec.Command("/usr/bin/prosodyctl", "--config", cfgFile, "adduser", name+"@"+domain)
		cmd.Stdin = strings.NewReader(pw + "\n" + pw + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("prosodyctl adduser %s: %v\n%s", name, err, out)
		}
	}
	p := &peer{IP: ip, Domain: domain, CAFile: ca.File, process: &process{
		name: "prosody " + domain,
		cmd:  exec.Command("/usr/bin/prosody", "--config", cfgFile, "-F"),
		log:  logFile,
	}}
	p.start(t)
	p.waitFor(t, "Activated service 'c2s' on ["+ip+"]:5222", 30*time.Second)
	return p, dataDir, cfgFile
}

// roostCmd runs the roost binary built for the tests.
func roostCmd(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(roostBin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("roost %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// dataFile opens a stopped roost's data file.
func dataFile(t *testing.T, r *Roost) *store.Store {
	t.Helper()
	st, err := store.Open(filepath.Join(r.Dir, "data", server.StoreFile), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// emptyRoost is a roost with a data directory and no data: started
// once to write its configuration, then stopped for an import.
func emptyRoost(t *testing.T, ip, domain string, ca *xmpptest.CA) *Roost {
	t.Helper()
	r := startRoost(t, ip, domain, ca)
	r.stop(t)
	if err := os.RemoveAll(filepath.Join(r.Dir, "data", server.StoreFile)); err != nil {
		t.Fatal(err)
	}
	return r
}

// events returns the events of kind, by user.
func events(ev []map[string]any, kind string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, e := range ev {
		if e["event"] == kind {
			u, _ := e["user"].(string)
			out[u] = e
		}
	}
	return out
}

func jsonEq(t *testing.T, what string, got, want any) {
	t.Helper()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", what, diff)
	}
}

// checkFamily asserts what the check phase of slix_migrate.py reported:
// everything the fill phase made, found on roost. pep says whether the
// old server exported PEP nodes.
func checkFamily(t *testing.T, ev []map[string]any, domain string, pep bool) {
	t.Helper()
	logins := events(ev, "login")
	for name := range family {
		if ok, _ := logins[name]["ok"].(bool); !ok {
			t.Errorf("%s could not log in with the old password: %v", name, logins[name])
		}
	}
	at := func(u string) string { return u + "@" + domain }
	offline, _ := events(ev, "offline")["carol"]["messages"].([]any)
	var got []string
	for _, m := range offline {
		mm := m.(map[string]any)
		got = append(got, fmt.Sprintf("%v %v %v delayed=%v", mm["from"], mm["type"], mm["body"], mm["delayed"]))
	}
	// By body: the two were sent from two connections at once.
	jsonEq(t, "carol's waiting messages", got, []string{
		at("bob") + " normal bring the cake delayed=true", at("alice") + " chat dinner at 7 delayed=true",
	})
	rosters := events(ev, "roster")
	jsonEq(t, "alice's contacts", rosters["alice"]["items"], map[string]any{
		at("bob"): map[string]any{"state": "both", "name": "Bob", "groups": []any{"Family"}},
	})
	jsonEq(t, "bob's contacts", rosters["bob"]["items"], map[string]any{at("alice"): "both", at("carol"): "none+ask"})
	jsonEq(t, "carol's contacts", rosters["carol"]["items"], map[string]any{at("alice"): "none+ask"})
	requests := events(ev, "requests")
	jsonEq(t, "requests waiting for alice", requests["alice"]["requests"], []any{at("carol")})
	jsonEq(t, "requests waiting for carol", requests["carol"]["requests"], []any{at("bob")})
	vcards := events(ev, "vcard")
	if vcards["alice"]["fn"] != "Alice Liddell" || vcards["alice"]["nickname"] != "Alice" || vcards["bob"]["fn"] != "Bob Builder" {
		t.Errorf("profiles: %v", vcards)
	}
	if n := events(ev, "private")["alice"]["notes"]; n != "buy milk" {
		t.Errorf("alice's private notes: %v", n)
	}
	jsonEq(t, "alice's block list", events(ev, "blocklist")["alice"]["jids"], []any{"spam@spam.example"})
	if saw, _ := events(ev, "presence")["bob"]["saw_alice"].(bool); !saw {
		t.Error("bob did not see alice come online: their subscription did not move")
	}
	if pep {
		var nodes []string
		for _, e := range ev {
			if e["event"] == "pep" {
				nodes = append(nodes, fmt.Sprint(e["node"], " ", e["items"], " ", e["ids"]))
			}
		}
		jsonEq(t, "alice's PEP nodes", nodes, []string{
			"http://jabber.org/protocol/tune [Yellow Submarine] <nil>",
			"urn:example:family-list [item 0 item 1 item 2] [e0 e1 e2]",
		})
		conf := events(ev, "pep-config")["alice"]
		if conf["access"] != "open" || conf["max_items"] != "10" {
			t.Errorf("the family list's configuration: %v", conf)
		}
	}
}

// checkArchive asserts that alice's archive moved with its messages and
// their times (before moved, when the import ran), read from the stopped
// roost's data file: roost answers XEP-0313 queries for rooms only, so far.
func checkArchive(t *testing.T, st *store.Store, domain string, moved time.Time) {
	t.Helper()
	at := func(u string) string { return u + "@" + domain }
	items, _, err := st.ArchivePage(at("alice"), store.ArchiveQuery{Max: 10})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range items {
		var m struct {
			To   string `xml:"to,attr"`
			Body string `xml:"body"`
		}
		if err := xml.Unmarshal(it.Stanza, &m); err != nil {
			t.Errorf("archived %s: %v", it.Stanza, err)
		}
		to, _, _ := strings.Cut(m.To, "/")
		got = append(got, fmt.Sprintf("%s to %s kept its time=%v", m.Body, to, it.Time().Before(moved)))
	}
	jsonEq(t, "alice's archive", got, []string{
		"archived 0 to " + at("bob") + " kept its time=true", "archived 1 to " + at("bob") + " kept its time=true",
		"archived 2 to " + at("bob") + " kept its time=true", "dinner at 7 to " + at("carol") + " kept its time=true",
	})
}

// TestInteropMigrateProsody: a family's Prosody 0.12 moves to roost. Its
// accounts are made with prosodyctl, and filled by slixmpp clients. Then
// prosody-migrator exports them (its XEP-0227 driver) and roost import
// reads the export; and roost import prosody makes the whole move in one
// command, after which the same clients log in to roost with their
// Prosody passwords and find everything. Last, roost exports what it
// imported, and an empty roost imports that to the same data, record by
// record.
func TestInteropMigrateProsody(t *testing.T) {
	const domain = "family.example"
	ca := xmpptest.NewCA(t)
	p, data, _ := startFamilyProsody(t, migrateProsodyIP, domain, ca)
	runPy(t, "testdata/slix_migrate.py", familyArgs("fill", p.IP, domain, ca.File, "--pep", "--mam", "--muc", "conference."+domain)...)
	p.terminate(t) // a move starts with the old server stopped

	t.Run("prosody-migrator's export", func(t *testing.T) {
		migrator, err := prosody.FindMigrator()
		if err != nil {
			t.Fatal(err)
		}
		export := t.TempDir()
		if err := (prosody.Dir{Path: data}).Migrate(context.Background(), migrator, export, []string{domain}); err != nil {
			t.Fatal(err)
		}
		r := emptyRoost(t, migrateRoostIP, domain, ca)
		out := roostCmd(t, "import", export, "-config", r.Config)
		for _, want := range []string{
			"alice@" + domain + ": moved: 1 credential, 1 contact, 1 subscription request, 1 vCard, 1 private XML item, 3 PEP nodes",
			"4 archived messages", "import: 3 moved",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("the report lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "login disabled") {
			t.Errorf("an account lost its login:\n%s", out)
		}
	})

	r := emptyRoost(t, migrateRoostIP, domain, ca)
	dry := roostCmd(t, "import", "prosody", data, "-dry-run", "-config", r.Config)
	if !strings.Contains(dry, "dry run") || !strings.Contains(dry, "import: 3 moved") {
		t.Errorf("dry run:\n%s", dry)
	}
	if _, err := os.Stat(filepath.Join(r.Dir, "data", server.StoreFile)); !os.IsNotExist(err) {
		t.Errorf("the dry run wrote the data file: %v", err)
	}
	moved := time.Now()
	out := roostCmd(t, "import", "prosody", data, "-config", r.Config)
	t.Logf("roost import prosody:\n%s", out)
	if !strings.Contains(out, "with /usr/bin/prosody-migrator") || !strings.Contains(out, "import: 3 moved, 1 group chat room") ||
		!strings.Contains(out, "carol@"+domain+": moved: 1 credential, 1 contact, 1 subscription request, 2 offline messages") ||
		!strings.Contains(out, "1 blocked address") {
		t.Errorf("roost import prosody:\n%s", out)
	}
	r.start(t)
	ev := runPy(t, "testdata/slix_migrate.py", familyArgs("check", r.IP, domain, ca.File, "--pep")...)
	checkFamily(t, ev, domain, true)
	if ev := runPy(t, "testdata/slix_migrate.py", familyArgs("wrong-password", r.IP, domain, ca.File)...); len(ev) != 1 || ev[0]["ok"] != false {
		t.Errorf("a wrong password: %v", ev)
	}

	t.Run("round trip", func(t *testing.T) {
		dir := t.TempDir()
		// A group chat room, made through the running server, moves too.
		roostCmd(t, "room", "create", "garden", "-owner", "alice@"+domain, "-name", "Kitchen", "-config", r.Config)
		// While the server runs: from its snapshot.
		if out := roostCmd(t, "export", filepath.Join(dir, "running.xml"), "-config", r.Config); !strings.Contains(out, "3 moved, 2 group chat rooms") {
			t.Errorf("export of the running server:\n%s", out)
		}
		// The comparison is with the stopped server's export: the
		// sessions' logout records are written in batches, the last ones
		// at shutdown, after the running server's snapshot.
		r.stop(t)
		exported := filepath.Join(dir, "family.xml")
		roostCmd(t, "export", exported, "-config", r.Config)
		st := dataFile(t, r)
		checkArchive(t, st, domain, moved)
		checkRoom(t, st, domain)
		r2 := emptyRoost(t, migrateRoost2IP, domain, ca)
		if out := roostCmd(t, "import", exported, "-config", r2.Config); !strings.Contains(out, "import: 3 moved, 2 group chat rooms") {
			t.Errorf("import of the export:\n%s", out)
		}
		d, err := store.Diff(st, dataFile(t, r2), 40)
		if err != nil {
			t.Fatal(err)
		}
		if len(d) > 0 {
			t.Errorf("roost → export → import into an empty roost changed the data:\n%s", strings.Join(d, "\n"))
		}
	})
}

// checkRoom asserts that the room alice made on Prosody came over with
// its name, subject and affiliations (Prosody 0.12 keeps no reasons:
// set_affiliation only broadcasts them).
func checkRoom(t *testing.T, st *store.Store, domain string) {
	t.Helper()
	rec, found, err := st.Room("kitchen@conference." + domain)
	if err != nil || !found {
		t.Fatalf("Prosody's room: %v, %v", found, err)
	}
	e, err := muc.ExportRoom(rec)
	if err != nil {
		t.Fatal(err)
	}
	name := ""
	for f := range e.Config.Elements() {
		if f.Get("var") == "muc#roomconfig_roomname" {
			name = f.ChildText("jabber:x:data", "value")
		}
	}
	want := []muc.ExportedAffiliation{{JID: "alice@" + domain, Affiliation: "owner"},
		{JID: "bob@" + domain, Affiliation: "member"}, {JID: "spam@spam.example", Affiliation: "outcast"}}
	if diff := cmp.Diff(want, e.Affiliations); diff != "" || name != "Kitchen" || e.Subject != "Sunday lunch" {
		t.Errorf("Prosody's room: name %q, subject %q, affiliations (-want +got):\n%s", name, e.Subject, diff)
	}
}

// TestInteropMigrateEjabberd: a family's ejabberd (SCRAM passwords, its
// block lists in privacy lists) moves to roost through ejabberdctl
// export_piefxis and roost import.
func TestInteropMigrateEjabberd(t *testing.T) {
	const domain = "family.example"
	z := newZone(t)
	ca := xmpptest.NewCA(t)
	e := startEjabberd(t, migrateEjabberdIP, domain, ca, z, peerMode{}, family,
		"  mod_vcard: {}\n  mod_private: {}\n  mod_privacy: {}\n  mod_blocking: {}\n  mod_offline: {}\n  mod_caps: {}\n"+
			"auth_password_format: scram\n")
	runPy(t, "testdata/slix_migrate.py", familyArgs("fill", e.IP, domain, ca.File)...)
	export, err := os.MkdirTemp("", "roost-piefxis-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(export) })
	u, err := user.Lookup("ejabberd")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	if err := os.Chown(export, uid, -1); err != nil {
		t.Fatal(err)
	}
	if out, err := e.ctl("export_piefxis", export).CombinedOutput(); err != nil {
		t.Fatalf("ejabberdctl export_piefxis: %v\n%s", err, out)
	}
	e.terminate(t)
	t.Cleanup(func() {
		if t.Failed() {
			files, _ := filepath.Glob(filepath.Join(export, "*"))
			for _, f := range files {
				b, _ := os.ReadFile(f)
				t.Logf("ejabberd's export %s:\n%s", filepath.Base(f), tail(string(b), 80))
			}
		}
	})
	r := emptyRoost(t, migrateRoost2IP, domain, ca)
	out := roostCmd(t, "import", export, "-config", r.Config)
	t.Logf("roost import:\n%s", out)
	if !strings.Contains(out, "import: 3 moved") || strings.Contains(out, "login disabled") {
		t.Errorf("roost import of ejabberd's export:\n%s", out)
	}
	r.start(t)
	checkFamily(t, runPy(t, "testdata/slix_migrate.py", familyArgs("check", r.IP, domain, ca.File)...), domain, false)
}
