package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"roost/admin"
	"roost/config"
)

// roost runs the command in-process.
func roost(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	err = run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), err
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "roost.toml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestVersionAndUsage(t *testing.T) {
	out, _, err := roost(t, "", "version")
	if err != nil || !strings.HasPrefix(out, "roost ") {
		t.Errorf("version: %q, %v", out, err)
	}
	_, stderr, err := roost(t, "", "frobnicate")
	if !errors.Is(err, errUsage) || !strings.Contains(stderr, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: %v, %q", err, stderr)
	}
	_, _, err = roost(t, "")
	if !errors.Is(err, errUsage) {
		t.Errorf("no command: %v", err)
	}
}

func TestCheck(t *testing.T) {
	good := writeConfig(t, "domains = [\"example.org\"]\ndata_dir = \"data\"\n")
	out, _, err := roost(t, "", "check", "-config", good)
	if err != nil || !strings.Contains(out, "ok") {
		t.Errorf("good config: %q, %v", out, err)
	}
	bad := writeConfig(t, "domains = [\"example.org\"]\n[c2s]\nlisten = [\"5222\"]\n")
	_, _, err = roost(t, "", "check", "-config", bad)
	if err == nil || !strings.Contains(err.Error(), "roost.toml:3: c2s.listen[0]") {
		t.Errorf("bad config: %v, want the file, line and field named", err)
	}
}

func TestUsersWhileStopped(t *testing.T) {
	cfg := writeConfig(t, "domains = [\"example.org\"]\ndata_dir = \"data\"\n")
	if out, _, err := roost(t, "alice-password\n", "user", "add", "alice", "-config", cfg); err != nil || !strings.Contains(out, "done") {
		t.Fatalf("user add: %q, %v", out, err)
	}
	if _, _, err := roost(t, "x\n", "user", "add", "alice", "-config", cfg); err == nil {
		t.Error("adding alice twice succeeded")
	}
	if _, _, err := roost(t, "bob-password\n", "user", "add", "-config", cfg, "bob@example.org"); err != nil {
		t.Fatalf("user add with the flag first: %v", err)
	}
	out, _, err := roost(t, "", "user", "list", "-config", cfg)
	if err != nil || out != "alice@example.org\nbob@example.org\n" {
		t.Errorf("user list = %q, %v", out, err)
	}
	if _, _, err := roost(t, "new-password\n", "user", "passwd", "alice", "-config", cfg); err != nil {
		t.Errorf("passwd: %v", err)
	}
	if _, _, err := roost(t, "", "user", "del", "bob", "-config", cfg); err != nil {
		t.Errorf("del: %v", err)
	}
	out, _, _ = roost(t, "", "user", "list", "-config", cfg)
	if out != "alice@example.org\n" {
		t.Errorf("after del, list = %q", out)
	}
	if _, _, err := roost(t, "", "user", "add", "carol", "-config", cfg); err == nil {
		t.Error("user add with no password on stdin succeeded")
	}
}

func TestBackupRestoreWhileStopped(t *testing.T) {
	cfg := writeConfig(t, "domains = [\"example.org\"]\ndata_dir = \"data\"\n")
	if _, _, err := roost(t, "alice-password\n", "user", "add", "alice", "-config", cfg); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(t.TempDir(), "roost.backup")
	if out, _, err := roost(t, "", "backup", backup, "-config", cfg); err != nil || !strings.Contains(out, "backup written") {
		t.Fatalf("backup: %q, %v", out, err)
	}
	if _, _, err := roost(t, "", "user", "del", "alice", "-config", cfg); err != nil {
		t.Fatal(err)
	}
	if _, _, err := roost(t, "", "restore", backup, "-config", cfg); err != nil {
		t.Fatalf("restore: %v", err)
	}
	out, _, _ := roost(t, "", "user", "list", "-config", cfg)
	if out != "alice@example.org\n" {
		t.Errorf("after restore, list = %q; want alice back", out)
	}
	garbage := filepath.Join(t.TempDir(), "garbage")
	_ = os.WriteFile(garbage, []byte("not a database"), 0o600)
	if _, _, err := roost(t, "", "restore", garbage, "-config", cfg); err == nil {
		t.Error("restoring garbage succeeded")
	}
	out, _, _ = roost(t, "", "user", "list", "-config", cfg)
	if out != "alice@example.org\n" {
		t.Errorf("a refused restore changed the data: list = %q", out)
	}
}

func TestJournalLogFormat(t *testing.T) {
	var buf bytes.Buffer
	log := newLeveledLogger(&buf, config.FormatJournal, slog.LevelDebug)
	log.With("conn", 7).Warn("queue full", "jid", "a@b/c")
	log.Debug("trace")
	want := "<4>msg=\"queue full\" conn=7 jid=a@b/c\n<7>msg=trace\n"
	if got := buf.String(); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestServerInfoRows: each row of the server info screen follows the
// stream feature, disco feature or identity Conversations looks at, so
// features other modules add (PEP, upload, push) show up once advertised.
func TestServerInfoRows(t *testing.T) {
	all := admin.Features{
		Domain:            "example.org",
		Stream:            []string{"{urn:ietf:params:xml:ns:xmpp-bind}bind", "{urn:xmpp:csi:0}csi", "{urn:xmpp:sm:3}sm", "{urn:xmpp:features:rosterver}ver"},
		Server:            []string{"urn:xmpp:blocking", "urn:xmpp:carbons:2", "urn:xmpp:extdisco:2"},
		Account:           []string{"http://jabber.org/protocol/pubsub#publish-options", "urn:xmpp:mam:2", "urn:xmpp:push:0"},
		AccountIdentities: []string{"account/registered", "pubsub/pep"},
		Services:          []admin.Service{{Domain: "upload.example.org", Identities: []string{"store/file"}, Features: []string{"urn:xmpp:http:upload:0"}}},
	}
	var b strings.Builder
	printServerInfo(&b, all)
	if strings.Contains(b.String(), "unavailable") || strings.Count(b.String(), "available") != 11 {
		t.Errorf("with everything advertised:\n%s", b.String())
	}
	b.Reset()
	printServerInfo(&b, admin.Features{Domain: "example.org"})
	for _, want := range []string{
		"  Message Archive Management   unavailable (set [mam] enabled = true)\n",
		"  External Service Discovery   unavailable (set a TURN server in [turn], for calls)\n",
		"  HTTP File Upload             unavailable\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("with nothing advertised:\n%s\nwant %q", b.String(), want)
		}
	}
}
