// Repository-level checks of the package layout (STYLE §4): imports flow
// one way, test harnesses stay in tests, every package documents its design,
// and the server binary's dependency list changes only on purpose.
package roost_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

const module = "roost"

// allowed lists, for every package, the roost packages it may import
// directly (non-test code). A package missing from the table fails the
// test: adding one is a design decision to write down here.
var allowed = map[string][]string{
	// L0
	"jid":       nil,
	"xmlstream": nil,
	"netconn":   nil,
	"backoff":   nil, // delays after failed logins, per account and address
	// L1
	"stanza":   {"jid", "xmlstream"},
	"stream":   {"jid", "xmlstream"},
	"sasl":     nil,
	"srv":      nil,
	"store":    nil,
	"config":   nil,
	"metrics":  nil, // counters and the Prometheus text format (/metrics)
	"dialback": {"jid", "xmlstream", "stream", "stanza"},
	// XEP-0004 data forms and XEP-0030/0115 disco data, shared by the
	// features.
	"form":      {"xmlstream"},
	"discoinfo": {"xmlstream", "form"},
	// XEP-0313 queries, results and ids, shared by the account and room
	// archives (module/mam, module/muc).
	"archive": {"jid", "xmlstream", "stanza", "form"},
	// QR codes drawn for people to scan (invitations), over rsc.io/qr.
	"qrcode": nil,
	// XEP-0227, the format accounts move between servers in.
	"portable": {"xmlstream"},
	// L2
	"router": {"jid", "xmlstream", "stanza", "stream", "metrics"},
	// The shape of a feature, between the router and the features.
	"module": {"jid", "xmlstream", "stanza", "router", "form", "discoinfo"},
	// L3: the features. They reach the router only through module.
	"im":       {"jid", "xmlstream", "stanza", "module"},
	"module/*": {"jid", "xmlstream", "stanza", "module", "form", "discoinfo", "archive"},
	// Invitations and the console show QR codes.
	"module/invite":  {"jid", "xmlstream", "stanza", "module", "form", "discoinfo", "qrcode"},
	"module/console": {"jid", "xmlstream", "stanza", "module", "form", "discoinfo", "qrcode"},
	"certs":          nil,
	"admin":          {"netconn"},
	"systemd":        nil,
	"httpd":          {"jid", "xmlstream", "netconn"},
	"checkdns":       {"srv"},
	// A Prosody data directory read as XEP-0227 entries (roost import
	// prosody).
	"prosody": {"portable", "xmlstream"},
	// L3
	"c2s": {"jid", "xmlstream", "stanza", "stream", "sasl", "netconn", "metrics"},
	"s2s": {"jid", "xmlstream", "stanza", "stream", "sasl", "dialback", "srv", "netconn", "metrics"},
	// External components (XEP-0114), beside c2s and s2s.
	"component": {"jid", "xmlstream", "stanza", "stream", "netconn"},
	// L4
	"server": {"*"},
	// Moving accounts between the store and XEP-0227 documents, with the
	// record formats of the features that own them.
	"transfer": {"store", "portable", "jid", "xmlstream", "sasl", "archive", "im", "module/muc", "module/pep", "module/private", "module/vcard"},
	// L5
	"cmd/roost":      {"server", "admin", "config", "store", "systemd", "certs", "srv", "checkdns", "jid", "qrcode", "transfer", "portable", "prosody"},
	"cmd/roostbench": {"internal/client", "jid", "xmlstream", "stanza", "stream", "sasl", "internal/loadtool"},
	// bench/roostprof is roost serve plus net/http/pprof, for profiling.
	"bench/roostprof": {"server", "config"},
	// Helpers for tests and tools.
	"internal/client":   {"jid", "xmlstream", "stream", "sasl"},
	"internal/loadtool": {"internal/client", "jid", "xmlstream", "stanza", "stream", "sasl", "certs"},
	"internal/xmpptest": {"jid", "xmlstream", "stanza", "stream", "internal/client", "certs"},
	"internal/dnstest":  nil,
	"internal/acmetest": nil,
	"internal/interop":  {"*"},
	"internal/pkgtest":  nil, // tests only, behind the pkgtest build tag
}

// testOnly are imported from _test.go files only.
var testOnly = []string{"internal/xmpptest", "internal/dnstest", "internal/acmetest"}

// thirdParty bounds the non-standard dependencies of the lowest layers.
var thirdParty = map[string][]string{
	"jid":       {"golang.org/x/text", "golang.org/x/net"},
	"xmlstream": {},
	"form":      {},
	"discoinfo": {},
	"archive":   {},
	"portable":  {},
	"netconn":   {"golang.org/x/time/rate"},
	"stanza":    {},
	"stream":    {},
	"store":     {"go.etcd.io/bbolt"},
	"router":    {},
	"metrics":   {},
	"qrcode":    {"rsc.io/qr"},
}

type pkg struct {
	ImportPath string
	Name       string
	Dir        string
	Doc        string
	GoFiles    []string
	Imports    []string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func rel(path string) string { return strings.TrimPrefix(strings.TrimPrefix(path, module), "/") }

func rule(table map[string][]string, p string) ([]string, bool) {
	if r, ok := table[p]; ok {
		return r, true
	}
	if strings.HasPrefix(p, "module/") {
		r, ok := table["module/*"]
		return r, ok
	}
	return nil, false
}

func TestImportsFlowDownwards(t *testing.T) {
	for _, p := range listPackages(t) {
		name := rel(p.ImportPath)
		if name == "" || strings.HasPrefix(name, "tools") {
			continue
		}
		allow, ok := rule(allowed, name)
		if !ok {
			t.Errorf("%s is not in the layout table of layout_test.go: add it with the packages it may import", name)
			continue
		}
		for _, imp := range p.Imports {
			if imp != module && !strings.HasPrefix(imp, module+"/") {
				if third, ok := rule(thirdParty, name); ok && strings.Contains(strings.Split(imp, "/")[0], ".") {
					if !slices.ContainsFunc(third, func(prefix string) bool { return strings.HasPrefix(imp, prefix) }) {
						t.Errorf("%s imports %s: only %v are allowed at its layer", name, imp, third)
					}
				}
				continue
			}
			dep := rel(imp)
			if slices.Contains(testOnly, dep) {
				t.Errorf("%s imports test harness %s outside a _test.go file", name, dep)
			}
			if dep == "systemd" && name != "cmd/roost" {
				t.Errorf("%s imports systemd: only cmd/roost may", name)
			}
			if dep == "store" && name != "server" && name != "cmd/roost" && name != "transfer" && name != "internal/interop" {
				t.Errorf("%s imports store: only server, transfer and cmd/roost may", name)
			}
			if slices.Contains(allow, "*") {
				continue
			}
			if !slices.Contains(allow, dep) {
				t.Errorf("%s imports %s, which its layer may not (allowed: %v)", name, dep, allow)
			}
		}
	}
}

// TestPackageDocs checks that each package explains itself in a doc.go
// (or, for commands, in main.go).
func TestPackageDocs(t *testing.T) {
	for _, p := range listPackages(t) {
		name := rel(p.ImportPath)
		if name == "" || strings.HasPrefix(name, "tools") {
			continue
		}
		if p.Doc == "" {
			t.Errorf("%s has no package documentation", name)
			continue
		}
		want := "doc.go"
		if p.Name == "main" {
			want = "main.go"
		}
		if !slices.Contains(p.GoFiles, want) && len(p.GoFiles) > 1 {
			t.Errorf("%s: put the package documentation in %s", name, want)
		}
	}
}

var update = flag.Bool("update", false, "rewrite cmd/roost/deps.txt")

// TestServerDependencies compares the non-standard packages linked into
// roost with the checked-in list, so that new dependencies are deliberate.
func TestServerDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "./cmd/roost").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var deps []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" && !strings.HasPrefix(l, module) {
			deps = append(deps, l)
		}
	}
	sort.Strings(deps)
	got := strings.Join(deps, "\n") + "\n"
	file := filepath.Join("cmd", "roost", "deps.txt")
	if *update {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run: go test -run TestServerDependencies -update .)", err)
	}
	if got != string(want) {
		t.Errorf("the dependencies of cmd/roost changed; review and run: go test -run TestServerDependencies -update .\ngot:\n%s\nwant:\n%s", got, want)
	}
}
