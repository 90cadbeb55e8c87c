package config

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// packaged is what the embedded file sets differently from Default().
func packaged() Config {
	c := Default()
	c.DataDir = "/var/lib/roost"
	c.Admin.Socket = "/var/lib/roost/admin.sock"
	return c
}

func TestDefaultFileParsesToDefault(t *testing.T) {
	got, err := Parse("roost.toml", DefaultFile())
	if err != nil {
		t.Fatalf("Parse(DefaultFile()) error:\n%v", err)
	}
	if diff := cmp.Diff(packaged(), got); diff != "" {
		t.Errorf("Parse(DefaultFile()) differs from Default() with data_dir = /var/lib/roost (-want +got):\n%s", diff)
	}
}

// commentedSetting matches a commented-out setting or table header in the
// default file, as opposed to prose.
var commentedSetting = regexp.MustCompile(`^# ?([a-z_]+ = .*|\[\[?[a-z_.]+\]\]?)$`)

// uncommented returns the default file with every commented setting
// enabled.
func uncommented(t *testing.T) []byte {
	t.Helper()
	lines := strings.Split(string(DefaultFile()), "\n")
	n := 0
	for i, l := range lines {
		if m := commentedSetting.FindStringSubmatch(l); m != nil {
			lines[i] = m[1]
			n++
		}
	}
	if n < 40 {
		t.Fatalf("uncommented %d settings in the default file; the pattern no longer matches its style", n)
	}
	return []byte(strings.Join(lines, "\n"))
}

// TestDefaultFileComments checks that the values shown in comments are the
// defaults, so that the documentation cannot drift from the code.
func TestDefaultFileComments(t *testing.T) {
	got, src, errs := decodeFile("uncommented.toml", uncommented(t))
	if src.pos == nil || len(errs) > 0 {
		t.Fatalf("decoding the uncommented default file: %v", joinErrors(errs))
	}
	want := packaged()
	// The commented settings that show an example, not a default.
	want.TLS.Certificates = []Certificate{{
		CertFile: "/etc/letsencrypt/live/example.org/fullchain.pem",
		KeyFile:  "/etc/letsencrypt/live/example.org/privkey.pem",
	}}
	want.Components = []Component{{
		Domain: "irc.example.org",
		Secret: "a-long-random-password",
		Listen: []string{DefaultComponentListen},
		Name:   "IRC gateway",
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("commented values in roost.toml differ from Default() (-want +got):\n%s", diff)
	}
}

// TestDefaultFileHasEveryKey checks that every field of Config is
// documented in the default file.
func TestDefaultFileHasEveryKey(t *testing.T) {
	_, src, errs := decodeFile("uncommented.toml", uncommented(t))
	if src.pos == nil || len(errs) > 0 {
		t.Fatalf("decoding the uncommented default file: %v", joinErrors(errs))
	}
	for _, path := range fieldPaths("", reflect.TypeFor[Config]()) {
		if _, ok := src.pos[path]; !ok {
			t.Errorf("roost.toml does not mention %s", path)
		}
	}
}

// fieldPaths lists the key path of every field under rt, with index 0 for
// arrays of tables.
func fieldPaths(prefix string, rt reflect.Type) []string {
	var paths []string
	for i := range rt.NumField() {
		f := rt.Field(i)
		p := joinPath(prefix, tagName(f))
		paths = append(paths, p)
		switch {
		case f.Type.Kind() == reflect.Struct:
			paths = append(paths, fieldPaths(p, f.Type)...)
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
			paths = append(paths, fieldPaths(indexPath(p, 0), f.Type.Elem())...)
		}
	}
	return paths
}

// TestSchemaTypes checks that every field has a toml tag and a type the
// decoder and renderer support.
func TestSchemaTypes(t *testing.T) {
	supported := map[reflect.Type]bool{
		reflect.TypeFor[string]():        true,
		reflect.TypeFor[bool]():          true,
		reflect.TypeFor[int]():           true,
		reflect.TypeFor[[]string]():      true,
		reflect.TypeFor[time.Duration](): true,
		reflect.TypeFor[Size]():          true,
		reflect.TypeFor[slog.Level]():    true,
		reflect.TypeFor[LogFormat]():     true,
		reflect.TypeFor[TLSSource]():     true,
		reflect.TypeFor[RoomCreators]():  true,
	}
	var check func(path string, rt reflect.Type)
	check = func(path string, rt reflect.Type) {
		for i := range rt.NumField() {
			f := rt.Field(i)
			name := tagName(f)
			if name == "" {
				t.Errorf("%s.%s has no toml tag", rt.Name(), f.Name)
			}
			p := joinPath(path, name)
			switch {
			case f.Type.Kind() == reflect.Struct:
				check(p, f.Type)
			case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
				check(indexPath(p, 0), f.Type.Elem())
			case !supported[f.Type]:
				t.Errorf("%s: type %s is not supported by decode and render", p, f.Type)
			}
		}
	}
	check("", reflect.TypeFor[Config]())
}

func TestDefaultIsValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Errorf("Default().Validate() = %v, want nil", err)
	}
}

func TestDefaultIsFresh(t *testing.T) {
	a := Default()
	a.Domains[0] = "changed.example"
	a.C2S.Listen[0] = "changed"
	b := Default()
	if b.Domains[0] != "localhost" || b.C2S.Listen[0] != "[::]:5222" {
		t.Errorf("Default() shares slices between calls: got domains %q, c2s.listen %q", b.Domains, b.C2S.Listen)
	}
	f := DefaultFile()
	f[0] = 'X'
	if g := DefaultFile(); g[0] != '#' {
		t.Errorf("DefaultFile() shares its buffer: first byte %q after a caller's change, want '#'", g[0])
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		file string
		want func(c *Config) // applied to Default()
	}{
		{
			name: "empty file is the default",
			file: "",
			want: func(*Config) {},
		},
		{
			name: "comments only",
			file: "# nothing to see\n\n",
			want: func(*Config) {},
		},
		{
			name: "domains and subdomains",
			file: "domains = [\"example.org\", \"müller.de\"]\nsubdomains = [\"muc\"]\n",
			want: func(c *Config) {
				c.Domains = []string{"example.org", "müller.de"}
				c.Subdomains = []string{"muc"}
			},
		},
		{
			name: "components, sharing the default address",
			file: "domains = [\"example.org\"]\n[[component]]\ndomain = \"irc.example.org\"\nsecret = \"s3cret\"\nname = \"IRC\"\n" +
				"[[component]]\ndomain = \"bridge.example.net\"\nsecret = \"other\"\nlisten = []\n" +
				"[[component]]\ndomain = \"lan.example.org\"\nsecret = \"third\"\nlisten = [\"[::1]:5347\", \"127.0.0.1:5348\"]\n",
			want: func(c *Config) {
				c.Domains = []string{"example.org"}
				c.Components = []Component{
					{Domain: "irc.example.org", Secret: "s3cret", Listen: []string{"127.0.0.1:5347"}, Name: "IRC"},
					{Domain: "bridge.example.net", Secret: "other", Listen: []string{"127.0.0.1:5347"}},
					{Domain: "lan.example.org", Secret: "third", Listen: []string{"[::1]:5347", "127.0.0.1:5348"}},
				}
			},
		},
		{
			name: "FAST off",
			file: "[c2s]\nfast_token_lifetime = \"0s\"\n",
			want: func(c *Config) { c.C2S.FastTokenLifetime = 0 },
		},
		{
			name: "websocket",
			file: "[websocket]\npath = \"/ws\"\norigins = [\"https://chat.example.net\", \"http://127.0.0.81:8080\"]\nsee_other_uri = \"wss://xmpp.example.org/ws\"\n" +
				"chat_app = \"https://static.example.org/converse/\"\n",
			want: func(c *Config) {
				c.WebSocket = WebSocket{Enabled: true, Path: "/ws", Origins: []string{"https://chat.example.net", "http://127.0.0.81:8080"},
					SeeOtherURI: "wss://xmpp.example.org/ws", ChatPage: true, ChatApp: "https://static.example.org/converse/"}
			},
		},
		{
			name: "chat page from a copy of converse.js roost serves",
			file: "[websocket]\nchat_app_dir = \"/srv/converse/dist\"\n",
			want: func(c *Config) { c.WebSocket.ChatAppDir = "/srv/converse/dist" },
		},
		{
			name: "chat page from roost's installed copy, or the public one",
			file: "[websocket]\nchat_app = \"\"\nchat_app_dir = \"\"\n",
			want: func(*Config) {},
		},
		{
			name: "no chat page, no app to check",
			file: "[websocket]\nchat_page = false\nchat_app = \"\"\n",
			want: func(c *Config) {
				c.WebSocket.ChatPage, c.WebSocket.ChatApp = false, ""
			},
		},
		{
			name: "empty lists turn listeners off",
			file: "[c2s]\nlisten = []\n[s2s]\nenabled = false\nlisten = []\nlisten_tls = []\n",
			want: func(c *Config) {
				c.C2S.Listen = nil
				c.S2S.Enabled = false
				c.S2S.Listen = nil
				c.S2S.ListenTLS = nil
			},
		},
		{
			name: "data_dir moves the admin socket",
			file: "data_dir = \"/srv/roost\"\n",
			want: func(c *Config) {
				c.DataDir = "/srv/roost"
				c.Admin.Socket = "/srv/roost/admin.sock"
			},
		},
		{
			name: "explicit admin socket and group",
			file: "[admin]\nsocket = \"/run/roost/admin.sock\"\ngroup = \"roost-admin\"\n",
			want: func(c *Config) {
				c.Admin = Admin{Socket: "/run/roost/admin.sock", Group: "roost-admin"}
			},
		},
		{
			name: "log",
			file: "[log]\nlevel = \"debug\"\nformat = \"journal\"\n",
			want: func(c *Config) {
				c.Log = Log{Level: slog.LevelDebug, Format: FormatJournal}
			},
		},
		{
			name: "sizes and durations",
			file: "[limits]\nmax_stanza_bytes = \"1 MiB\"\nread_rate_bytes = \"128KiB\"\n" +
				"read_burst_bytes = 1_048_576\nidle_timeout = \"1h30m\"\nwrite_timeout = \"2.5s\"\nresume_timeout = \"0s\"\n",
			want: func(c *Config) {
				c.Limits.ResumeTimeout = 0
				c.Limits.MaxStanzaBytes = 1 << 20
				c.Limits.ReadRateBytes = 128 << 10
				c.Limits.ReadBurstBytes = 1 << 20
				c.Limits.IdleTimeout = 90 * time.Minute
				c.Limits.WriteTimeout = 2500 * time.Millisecond
			},
		},
		{
			name: "archive kept forever, roster only",
			file: "[mam]\ndefault = \"roster\"\nkeep_days = 0\nmax_account_size = 0\nmax_page = 50\n",
			want: func(c *Config) {
				c.MAM = MAM{Enabled: true, Default: "roster", MaxPage: 50}
			},
		},
		{
			name: "room messages kept a month",
			file: "[muc]\nkeep_days = 30\n",
			want: func(c *Config) { c.MUC.KeepDays = 30 },
		},
		{
			name: "push with bodies",
			file: "[push]\ninclude_body = true\nmax_registrations = 2\n",
			want: func(c *Config) {
				c.Push = Push{Enabled: true, IncludeBody: true, MaxRegistrations: 2}
			},
		},
		{
			name: "a turn server",
			file: "[turn]\nhost = \"turn.example.org\"\ntls_port = 5349\nsecret = \"0123456789abcdef\"\n",
			want: func(c *Config) {
				c.TURN = TURN{Host: "turn.example.org", Port: 3478, TLSPort: 5349, Secret: "0123456789abcdef", CredentialLifetime: 24 * time.Hour}
			},
		},
		{
			name: "acme with http-01",
			file: "domains = [\"example.org\"]\n[tls]\nsource = \"acme\"\n[tls.acme]\nemail = \"me@example.org\"\n" +
				"[https]\nhttp_listen = [\"[::]:80\"]\n",
			want: func(c *Config) {
				c.Domains = []string{"example.org"}
				c.TLS.Source = SourceACME
				c.TLS.ACME.Email = "me@example.org"
				c.HTTPS.HTTPListen = []string{"[::]:80"}
			},
		},
		{
			name: "acme with only a domain listens on port 80 for http-01",
			file: "domains = [\"example.org\"]\n[tls]\nsource = \"acme\"\n",
			want: func(c *Config) {
				c.Domains = []string{"example.org"}
				c.TLS.Source = SourceACME
				c.HTTPS.HTTPListen = []string{"[::]:80"}
			},
		},
		{
			name: "acme tls-alpn-01 listens on port 443 unless the file says",
			file: "domains = [\"example.org\"]\n[tls]\nsource = \"acme\"\n[tls.acme]\ntls_alpn_challenge = true\n" +
				"[https]\nhttp_listen = [\"127.0.0.1:8080\"]\n",
			want: func(c *Config) {
				c.Domains = []string{"example.org"}
				c.TLS.Source = SourceACME
				c.TLS.ACME.TLSALPNChallenge = true
				c.HTTPS.Listen = []string{"[::]:443"}
				c.HTTPS.HTTPListen = []string{"127.0.0.1:8080"}
			},
		},
		{
			name: "acme from a private CA may issue for home names",
			file: "domains = [\"pi.home.arpa\"]\n[tls]\nsource = \"acme\"\n[tls.acme]\n" +
				"directory = \"https://ca.home.arpa/acme/directory\"\nca_file = \"roost.toml\"\n",
			want: func(c *Config) {
				c.Domains = []string{"pi.home.arpa"}
				c.TLS.Source = SourceACME
				c.TLS.ACME.Directory = "https://ca.home.arpa/acme/directory"
				c.TLS.ACME.CAFile = "roost.toml"
				c.HTTPS.HTTPListen = []string{"[::]:80"}
			},
		},
		{
			name: "no defaults without acme",
			file: "[tls.acme]\ntls_alpn_challenge = true\n",
			want: func(c *Config) {
				c.TLS.ACME.TLSALPNChallenge = true
			},
		},
		{
			name: "acme with tls-alpn-01, inline and dotted tables",
			file: "domains = [\"example.org\"]\ntls = { source = \"acme\", acme.email = \"me@example.org\", " +
				"acme.http_challenge = false, acme.tls_alpn_challenge = true }\nhttps.listen = [\"0.0.0.0:443\"]\n",
			want: func(c *Config) {
				c.Domains = []string{"example.org"}
				c.TLS.Source = SourceACME
				c.TLS.ACME.Email = "me@example.org"
				c.TLS.ACME.HTTPChallenge = false
				c.TLS.ACME.TLSALPNChallenge = true
				c.HTTPS.Listen = []string{"0.0.0.0:443"}
			},
		},
		{
			name: "distinct addresses on one port",
			file: "[c2s]\nlisten = [\"127.0.0.1:5222\", \"[::1]:5222\", \"192.168.1.2:5222\"]\n",
			want: func(c *Config) {
				c.C2S.Listen = []string{"127.0.0.1:5222", "[::1]:5222", "192.168.1.2:5222"}
			},
		},
		{
			name: "s2s disabled frees its ports",
			file: "[s2s]\nenabled = false\n[https]\nlisten = [\"[::]:5269\"]\n",
			want: func(c *Config) {
				c.S2S.Enabled = false
				c.HTTPS.Listen = []string{"[::]:5269"}
			},
		},
		{
			name: "s2s options",
			file: "[s2s]\nrequire_valid_certificates = true\nresolver = \"[::1]:53\"\nconnect_timeout = \"5s\"\n",
			want: func(c *Config) {
				c.S2S.RequireValidCertificates = true
				c.S2S.Resolver = "[::1]:53"
				c.S2S.ConnectTimeout = 5 * time.Second
			},
		},
		{
			name: "CRLF line endings",
			file: "domains = [\"example.org\"]\r\n[c2s]\r\nregistration = true\r\n",
			want: func(c *Config) {
				c.Domains = []string{"example.org"}
				c.C2S.Registration = true
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse("roost.toml", []byte(tt.file))
			if err != nil {
				t.Fatalf("Parse error:\n%v", err)
			}
			want := Default()
			tt.want(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
		})
	}
}

// TestUploadOffNeedsNothing: with file sharing off, neither the web port
// nor the upload limits are required.
func TestUploadOffNeedsNothing(t *testing.T) {
	c, err := Parse("roost.toml", []byte("[https]\nlisten = []\n[upload]\nenabled = false\nmax_concurrent = 0\n"))
	if err != nil {
		t.Fatalf("Parse = %v", err)
	}
	if c.Upload.Enabled || len(c.HTTPS.Listen) != 0 {
		t.Errorf("upload.enabled = %t, https.listen = %q; want false, []", c.Upload.Enabled, c.HTTPS.Listen)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		file string
		want string // the joined error, one line per FieldError
	}{
		{
			name: "bad listen address",
			file: "[c2s]\nlisten = [\n  \"[::]:5222\",\n  \"5222\",\n]\n",
			want: `roost.toml:4: c2s.listen[1]: "5222": missing host or port`,
		},
		{
			name: "syntax error",
			file: "domains = [\"example.org\"\n[c2s]\n",
			want: `roost.toml:2: expected ',' or ']' after array value`,
		},
		{
			name: "duplicate key",
			file: "[log]\nlevel = \"info\"\nlevel = \"debug\"\n",
			want: `roost.toml:3: key level is already defined`,
		},
		{
			name: "unknown keys and tables, with hints",
			file: "domain = [\"example.org\"]\n[c2s]\nListen = []\n[c2x]\nlisten = []\n[limits]\nfrobnicate = 1\n",
			want: "roost.toml:1: domain: unknown key (did you mean \"domains\"?)\n" +
				"roost.toml:3: c2s.Listen: unknown key (did you mean \"listen\"?)\n" +
				"roost.toml:4: c2x: unknown table (did you mean \"c2s\"?)\n" +
				"roost.toml:7: limits.frobnicate: unknown key",
		},
		{
			name: "unknown key in an array of tables and a quoted key",
			file: "\"odd key\" = 1\n[[tls.certificate]]\ncret_file = \"a.pem\"\n",
			want: "roost.toml:1: \"odd key\": unknown key\n" +
				"roost.toml:2: tls.certificate: only used when tls.source is \"files\", not \"self-signed\"\n" +
				"roost.toml:3: tls.certificate[0].cret_file: unknown key (did you mean \"cert_file\"?)",
		},
		{
			name: "type errors, all reported",
			file: "domains = \"example.org\"\n[c2s]\nsasl_plain = \"yes\"\n[limits]\nmax_depth = 32.0\n" +
				"idle_timeout = 300\nmax_stanza_bytes = true\n[log]\nlevel = 1\n[s2s]\nlisten = [5269]\n",
			want: "roost.toml:1: domains: want an array, got a string\n" +
				"roost.toml:3: c2s.sasl_plain: want true or false, got a string\n" +
				"roost.toml:5: limits.max_depth: want an integer, got a float\n" +
				"roost.toml:6: limits.idle_timeout: want a duration such as \"30s\", got an integer\n" +
				"roost.toml:7: limits.max_stanza_bytes: want a size such as 262144 or \"256KiB\", got a boolean\n" +
				"roost.toml:9: log.level: want a string, got an integer\n" +
				"roost.toml:11: s2s.listen[0]: want a string, got an integer",
		},
		{
			name: "table where a value belongs and the reverse",
			file: "data_dir = { path = \"x\" }\n[limits]\n[c2s.listen]\nx = 1\n",
			want: "roost.toml:1: data_dir: want a string, got a table\n" +
				"roost.toml:3: c2s.listen: want an array, got a table",
		},
		{
			name: "date is not a duration",
			file: "[s2s]\nidle_timeout = 2024-01-01\n",
			want: `roost.toml:2: s2s.idle_timeout: want a duration such as "30s", got a date`,
		},
		{
			name: "bad values",
			file: "[log]\nlevel = \"verbose\"\nformat = \"xml\"\n[tls]\nsource = \"letsencrypt\"\n" +
				"[limits]\nnegotiation_timeout = \"30\"\nread_rate_bytes = \"64KB\"\nread_burst_bytes = \"-1KiB\"\n",
			want: "roost.toml:2: log.level: \"verbose\": want one of debug, info, warn, error\n" +
				"roost.toml:3: log.format: \"xml\": want one of text, json, journal\n" +
				"roost.toml:5: tls.source: \"letsencrypt\": want one of \"self-signed\", \"files\", \"acme\"\n" +
				"roost.toml:7: limits.negotiation_timeout: \"30\": not a duration (write a number and a unit: \"90s\", \"5m\", \"1h30m\")\n" +
				"roost.toml:8: limits.read_rate_bytes: \"64KB\": unknown unit \"KB\" (use B, KiB, MiB or GiB)\n" +
				"roost.toml:9: limits.read_burst_bytes: \"-1KiB\": not a size (write bytes, or a number and B, KiB, MiB or GiB: \"256KiB\")",
		},
		{
			name: "domains",
			file: "domains = [\n\"Example.org\",\n\"example.org.\",\n\"xn--mller-kva.de\",\n\"192.0.2.1\",\n" +
				"\"raspberrypi\",\n\"a..b\",\n\"under_score.org\",\n\"example.123\",\n\"ok.example\",\n\"ok.example\",\n]\n" +
				"subdomains = [\"upload\", \"muc.room\", \"upload\", \"\"]\n",
			want: "roost.toml:2: domains[0]: \"Example.org\": write it as \"example.org\"\n" +
				"roost.toml:3: domains[1]: \"example.org.\": remove the final dot\n" +
				"roost.toml:4: domains[2]: \"xn--mller-kva.de\": write it as \"müller.de\"\n" +
				"roost.toml:5: domains[3]: \"192.0.2.1\": an IP address, not a domain name\n" +
				"roost.toml:6: domains[4]: \"raspberrypi\": needs a dot, such as \"example.org\" (or use \"localhost\")\n" +
				"roost.toml:7: domains[5]: \"a..b\": not a valid domain name\n" +
				"roost.toml:8: domains[6]: \"under_score.org\": not a valid domain name\n" +
				"roost.toml:9: domains[7]: \"example.123\": the last label cannot be all digits\n" +
				"roost.toml:11: domains[9]: \"ok.example\": listed twice\n" +
				"roost.toml:13: subdomains[1]: \"muc.room\": want one label without dots, such as \"conference\"\n" +
				"roost.toml:13: subdomains[2]: \"upload\": listed twice\n" +
				"roost.toml:13: subdomains[3]: \"\": want one label without dots, such as \"conference\"",
		},
		{
			name: "no domains",
			file: "\n\ndomains = []\n",
			want: `roost.toml:3: domains: list at least one domain, such as ["example.org"]`,
		},
		{
			name: "subdomain collides with a domain",
			file: "domains = [\"example.org\", \"upload.example.org\"]\n",
			want: `roost.toml:1: upload.enabled: "upload": upload.example.org is also listed in domains`,
		},
		{
			name: "listed subdomain collides with a domain",
			file: "domains = [\"example.org\", \"files.example.org\"]\nsubdomains = [\"files\"]\n[upload]\nenabled = false\n",
			want: `roost.toml:2: subdomains[0]: "files": files.example.org is also listed in domains`,
		},
		{
			name: "group chat service",
			file: "domains = [\"example.org\", \"conference.example.org\"]\nsubdomains = [\"chat\"]\n" +
				"[muc]\nsubdomain = \"chat\"\ncreate = \"everyone\"\nmax_occupants = 1\nhistory = -1\nmax_nick_length = 0\npresence_per_minute = 0\nkeep_days = 36501\n",
			want: "roost.toml:4: muc.subdomain: \"chat\": also listed in subdomains\n" +
				"roost.toml:5: muc.create: \"everyone\": want one of \"local\", \"anyone\", \"admin\"\n" +
				"roost.toml:6: muc.max_occupants: 1: must be from 2 to 10000\n" +
				"roost.toml:7: muc.history: -1: must be from 0 to 10000\n" +
				"roost.toml:8: muc.max_nick_length: 0: must be from 1 to 1023\n" +
				"roost.toml:9: muc.presence_per_minute: 0: must be from 1 to 6000\n" +
				"roost.toml:10: muc.keep_days: 36501: must be from 0 to 36500 (0 keeps messages forever)",
		},
		{
			name: "federation limits",
			file: "domains = [\"example.org\"]\n[s2s]\nmax_pending_dialback = 0\nmax_outbound_connections = 1\n",
			want: "roost.toml:3: s2s.max_pending_dialback: 0: must be from 1 to 1000\n" +
				"roost.toml:4: s2s.max_outbound_connections: 1: must be from 2 to 100000",
		},
		{
			name: "group chat service clashes with a domain",
			file: "domains = [\"example.org\", \"conference.example.org\"]\n",
			want: `roost.toml:1: muc.subdomain: "conference": conference.example.org is also listed in domains`,
		},
		{
			name: "federation queue",
			file: "[limits]\nfederation_queue_bytes = 1000\n",
			want: "roost.toml:2: limits.federation_queue_bytes: 1000: must be from 65536 to 1073741824",
		},
		{
			name: "federation queue below two stanzas",
			file: "[limits]\nfederation_queue_bytes = \"256KiB\"\n",
			want: "roost.toml:2: limits.federation_queue_bytes: 262144: must be at least twice limits.max_stanza_bytes (262144), so that a large stanza can be sent to another server",
		},
		{
			name: "a room's join burst exceeds the queue",
			file: "[muc]\nmax_occupants = 1000\nhistory = 100\n",
			want: "roost.toml:2: muc.max_occupants: 1000 occupants and 100 history messages: together must be below limits.queue_depth (1024), as joining a room sends them in one burst",
		},
		{
			name: "listen addresses",
			file: "[c2s]\nlisten = [\"::1:5222\", \"[::1]:0\", \"[::1]:xmpp\", \"example.org:5222\", \"[::1]:70000\"]\n" +
				"listen_tls = [\":5223\"]\n",
			want: "roost.toml:2: c2s.listen[0]: \"::1:5222\": write IPv6 addresses in brackets, such as \"[::1]:5222\"\n" +
				"roost.toml:2: c2s.listen[1]: \"[::1]:0\": the port must be a number from 1 to 65535\n" +
				"roost.toml:2: c2s.listen[2]: \"[::1]:xmpp\": the port must be a number from 1 to 65535\n" +
				"roost.toml:2: c2s.listen[3]: \"example.org:5222\": the host must be an IP address, \"localhost\", or empty for every address\n" +
				"roost.toml:2: c2s.listen[4]: \"[::1]:70000\": the port must be a number from 1 to 65535",
		},
		{
			name: "listen addresses overlap across services",
			file: "[c2s]\nlisten = [\"0.0.0.0:5222\", \"127.0.0.1:5222\"]\n" +
				"[https]\nlisten = [\"localhost:5223\"]\nhttp_listen = [\"[::1]:80\", \"[::ffff:127.0.0.1]:5222\", \"[::1]:5269\"]\n",
			want: "roost.toml:2: c2s.listen[1]: \"127.0.0.1:5222\": already used by c2s.listen[0] (\"0.0.0.0:5222\")\n" +
				"roost.toml:4: https.listen[0]: \"localhost:5223\": already used by c2s.listen_tls[0] (\"[::]:5223\")\n" +
				"roost.toml:5: https.http_listen[1]: \"[::ffff:127.0.0.1]:5222\": already used by c2s.listen[0] (\"0.0.0.0:5222\")\n" +
				"roost.toml:5: https.http_listen[2]: \"[::1]:5269\": already used by s2s.listen[0] (\"[::]:5269\")",
		},
		{
			name: "file listener overlaps a default one",
			file: "[c2s]\nlisten_tls = [\"[::]:5269\"]\n",
			want: `roost.toml:2: s2s.listen[0]: "[::]:5269": already used by c2s.listen_tls[0] ("[::]:5269")`,
		},
		{
			name: "no client listener",
			file: "[c2s]\nlisten = []\nlisten_tls = []\n",
			want: `roost.toml:2: c2s.listen: clients could not connect: set c2s.listen or c2s.listen_tls`,
		},
		{
			name: "limits out of range",
			file: "[limits]\nmax_stanza_bytes = 9999\nmax_depth = 0\nmax_resources = 99999999999\n" +
				"idle_timeout = \"-5m\"\nkeepalive_interval = \"100ms\"\nread_rate_bytes = \"1MiB\"\n",
			want: "roost.toml:2: limits.max_stanza_bytes: 9999: must be from 10000 to 16777216 (RFC 6120 §13.12 requires accepting 10000)\n" +
				"roost.toml:3: limits.max_depth: 0: must be from 8 to 256\n" +
				"roost.toml:4: limits.max_resources: 99999999999: must be from 1 to 1000\n" +
				"roost.toml:5: limits.idle_timeout: -5m: must be from 10s to 24h\n" +
				"roost.toml:6: limits.keepalive_interval: 100ms: must be from 1s to 24h\n" +
				"roost.toml:7: limits.read_burst_bytes: 262144: smaller than limits.read_rate_bytes (1048576)",
		},
		{
			name: "login delays longer than the negotiation",
			file: "[limits]\nnegotiation_timeout = \"10s\"\nlogin_delay_max = \"6s\"\nlogin_delay_window = \"10s\"\n",
			want: "roost.toml:3: limits.login_delay_max: 6s: must be at most half of limits.negotiation_timeout (10s), so that a held back login still has time to finish\n" +
				"roost.toml:4: limits.login_delay_window: 10s: must be from 1m to 24h",
		},
		{
			name: "no subscription requests",
			file: "[limits]\nmax_subscription_requests = 0\n",
			want: "roost.toml:2: limits.max_subscription_requests: 0: must be from 1 to 10000",
		},
		{
			name: "import limits out of range",
			file: "[import]\nmax_element_bytes = \"1KiB\"\nbatch_bytes = \"2GiB\"\n",
			want: "roost.toml:2: import.max_element_bytes: 1024: must be from 65536 to 1073741824\n" +
				"roost.toml:3: import.batch_bytes: 2147483648: must be from 65536 to 1073741824",
		},
		{
			name: "pep limits out of range",
			file: "[pep]\nmax_nodes = 0\nmax_items = 1000000\nmax_item_bytes = \"512B\"\nmax_subscribers = -1\ncaps_cache = 5\n",
			want: "roost.toml:2: pep.max_nodes: 0: must be from 1 to 10000\n" +
				"roost.toml:3: pep.max_items: 1000000: must be from 1 to 100000\n" +
				"roost.toml:4: pep.max_item_bytes: 512: must be from 1024 to 16777216\n" +
				"roost.toml:5: pep.max_subscribers: -1: must be from 1 to 100000\n" +
				"roost.toml:6: pep.caps_cache: 5: must be from 10 to 1000000",
		},
		{
			name: "archive settings",
			file: "[mam]\ndefault = \"sometimes\"\nkeep_days = -1\nmax_account_size = \"1KiB\"\nmax_page = 5\n",
			want: "roost.toml:2: mam.default: \"sometimes\": want \"always\", \"roster\" or \"never\"\n" +
				"roost.toml:3: mam.keep_days: -1: must be from 0 to 36500 (0 keeps messages forever)\n" +
				"roost.toml:4: mam.max_account_size: 1024: must be from 1048576 to 68719476736 bytes (0: no cap)\n" +
				"roost.toml:5: mam.max_page: 5: must be from 10 to 1000",
		},
		{
			name: "archive page above the queue",
			file: "[limits]\nqueue_depth = 64\nmax_offline_messages = 10\n[muc]\nenabled = false\n[mam]\nmax_page = 100\n",
			want: "roost.toml:7: mam.max_page: 100: must be below limits.queue_depth (64), as a page of results is sent in one burst",
		},
		{
			name: "turn settings",
			file: "[turn]\nhost = \"not a host\"\nport = 0\ntls_port = 70000\nsecret = \"short\"\ncredential_lifetime = \"0s\"\n",
			want: "roost.toml:2: turn.host: " + checkDomain("not a host").Error() + "\n" +
				"roost.toml:3: turn.port: 0: must be from 1 to 65535\n" +
				"roost.toml:4: turn.tls_port: 70000: must be from 1 to 65535 (0: none)\n" +
				"roost.toml:5: turn.secret: must be at least 16 characters: the TURN server's static-auth-secret\n" +
				"roost.toml:6: turn.credential_lifetime: 0s: must be from 1s to 720h",
		},
		{
			name: "push registrations out of range",
			file: "[push]\nmax_registrations = 0\n",
			want: "roost.toml:2: push.max_registrations: 0: must be from 1 to 100",
		},
		{
			name: "websocket settings",
			file: "[websocket]\npath = \"xmpp-websocket\"\norigins = [\"https://chat.example.net\", \"chat.example.net\", \"https://a.example/page\", \"*\", \"ftp://x\"]\n" +
				"see_other_uri = \"https://xmpp.example.org/ws\"\n",
			want: "roost.toml:2: websocket.path: \"xmpp-websocket\": want a clean absolute path, such as \"/xmpp-websocket\"\n" +
				"roost.toml:3: websocket.origins[1]: \"chat.example.net\": want the address of a web page's site, scheme and host (and port), such as \"https://chat.example.org\", or \"*\" for any\n" +
				"roost.toml:3: websocket.origins[2]: \"https://a.example/page\": want the address of a web page's site, scheme and host (and port), such as \"https://chat.example.org\", or \"*\" for any\n" +
				"roost.toml:3: websocket.origins[4]: \"ftp://x\": want the address of a web page's site, scheme and host (and port), such as \"https://chat.example.org\", or \"*\" for any\n" +
				"roost.toml:4: websocket.see_other_uri: \"https://xmpp.example.org/ws\": want a WebSocket address, such as \"wss://xmpp.example.org/ws\"",
		},
		{
			name: "chat page's app not a folder",
			file: "[websocket]\nchat_app = \"https://cdn.example.org/converse.min.js\"\n",
			want: "roost.toml:2: websocket.chat_app: \"https://cdn.example.org/converse.min.js\": want the web address of converse.js's files, ending in /, such as \"" + DefaultChatApp + "\"",
		},
		{
			name: "chat page's app from a site and from roost",
			file: "[websocket]\nchat_app = \"https://cdn.example.org/converse/\"\nchat_app_dir = \"/usr/share/roost/chat-app\"\n",
			want: "roost.toml:3: websocket.chat_app_dir: \"/usr/share/roost/chat-app\": the chat page loads its app from websocket.chat_app (\"https://cdn.example.org/converse/\"); set one of the two",
		},
		{
			name: "websocket paths roost serves itself",
			file: "[websocket]\npath = \"/.well-known/host-meta\"\n",
			want: "roost.toml:2: websocket.path: \"/.well-known/host-meta\": the server serves this path itself; use another, such as \"/xmpp-websocket\"",
		},
		{
			name: "websocket path not clean",
			file: "[websocket]\npath = \"/a/../health\"\n",
			want: "roost.toml:2: websocket.path: \"/a/../health\": want a clean absolute path, such as \"/xmpp-websocket\"",
		},
		{
			name: "resume timeout too short",
			file: "[limits]\nresume_timeout = \"5s\"\n",
			want: "roost.toml:2: limits.resume_timeout: 5s: must be from 10s to 24h",
		},
		{
			name: "FAST token lifetime too short",
			file: "[c2s]\nfast_token_lifetime = \"30m\"\n",
			want: "roost.toml:2: c2s.fast_token_lifetime: 30m: must be from 1h to 8784h",
		},
		{
			name: "files source without certificates",
			file: "[tls]\nsource = \"files\"\n",
			want: `roost.toml:2: tls.certificate: tls.source is "files" but no [[tls.certificate]] is given`,
		},
		{
			name: "upload settings",
			file: "[https]\nlisten = []\n[upload]\npublic_url = \"http://example.org\"\nmax_file_size = \"1GiB\"\n" +
				"user_quota = \"100MiB\"\ntotal_quota = -1\nexpire_after = \"10m\"\nmax_concurrent = 0\n",
			want: "roost.toml:2: https.listen: needed by upload.enabled: files are served on the HTTPS port, such as [\"[::]:5443\"]\n" +
				"roost.toml:4: upload.public_url: \"http://example.org\": want an https:// address, such as \"https://family.example.org\"\n" +
				"roost.toml:6: upload.user_quota: 104857600: smaller than upload.max_file_size (1073741824)\n" +
				"roost.toml:7: upload.total_quota: -1: must be 0 (no limit) or more\n" +
				"roost.toml:8: upload.expire_after: 10m: must be from 1h to 87600h\n" +
				"roost.toml:9: upload.max_concurrent: 0: must be from 1 to 100",
		},
		{
			name: "public_url with a query",
			file: "[upload]\npublic_url = \"https://example.org/x?y\"\n",
			want: "roost.toml:2: upload.public_url: \"https://example.org/x?y\": no user, query or fragment, please",
		},
		{
			name: "acme requirements",
			file: "domains = [\"localhost\", \"pi.home.arpa\", \"example.org\"]\n[tls]\nsource = \"acme\"\n" +
				"[tls.acme]\ndirectory = \"http://acme.example/dir\"\nrenew_before = \"4000h\"\n" +
				"tls_alpn_challenge = true\n[https]\nlisten = []\nhttp_listen = []\n",
			want: "roost.toml:1: domains[0]: \"localhost\": an ACME CA cannot issue certificates for .localhost names (tls.source is \"acme\")\n" +
				"roost.toml:1: domains[1]: \"pi.home.arpa\": an ACME CA cannot issue certificates for .home.arpa names (tls.source is \"acme\")\n" +
				"roost.toml:5: tls.acme.directory: \"http://acme.example/dir\": want an https:// URL\n" +
				"roost.toml:6: tls.acme.renew_before: 4000h: must be from 1h to 2160h\n" +
				"roost.toml:9: https.listen: needed by tls.acme.tls_alpn_challenge: listen where the CA's port 443 connections arrive, such as [\"[::]:443\"]\n" +
				"roost.toml:9: https.listen: needed by upload.enabled: files are served on the HTTPS port, such as [\"[::]:5443\"]\n" +
				"roost.toml:10: https.http_listen: needed by tls.acme.http_challenge: listen where the CA's port 80 connections arrive, such as [\"[::]:80\"]",
		},
		{
			name: "web features",
			file: "[https]\npublic_url = \"http://family.example.org\"\n[invites]\nallow = \"kids\"\nexpiry = \"10m\"\n" +
				"max_per_user = 0\nweb_client = \"https://web.example.org/?x=1\"\n[console]\nsession_timeout = \"1m\"\n" +
				"[contact]\nadmin = [\"mum\"]\n" +
				"[commands]\nmax_sessions = 0\nsession_timeout = \"5s\"\n",
			want: "roost.toml:2: https.public_url: \"http://family.example.org\": want an https:// address, such as \"https://family.example.org\"\n" +
				"roost.toml:4: invites.allow: \"kids\": want \"admins\" or \"everyone\"\n" +
				"roost.toml:5: invites.expiry: 10m: must be from 1h to 8784h\n" +
				"roost.toml:6: invites.max_per_user: 0: must be from 1 to 1000\n" +
				"roost.toml:7: invites.web_client: \"https://web.example.org/?x=1\": no user, query or fragment, please\n" +
				"roost.toml:9: console.session_timeout: 1m: must be from 5m to 720h\n" +
				"roost.toml:11: contact.admin[0]: \"mum\": want an address such as \"mailto:mum@example.org\" or \"xmpp:mum@example.org\"\n" +
				"roost.toml:13: commands.max_sessions: 0: must be from 1 to 1000\n" +
				"roost.toml:14: commands.session_timeout: 5s: must be from 1m to 24h",
		},
		{
			name: "a private CA still cannot issue for single-label names",
			file: "domains = [\"localhost\"]\n[tls]\nsource = \"acme\"\n[tls.acme]\nca_file = \"roost.toml\"\n",
			want: "roost.toml:1: domains[0]: \"localhost\": an ACME CA cannot issue certificates for .localhost names (tls.source is \"acme\")",
		},
		{
			name: "acme without a challenge",
			file: "domains = [\"example.org\"]\n[tls]\nsource = \"acme\"\nacme.email = \"Me <me@example.org>\"\n" +
				"acme.http_challenge = false\n",
			want: "roost.toml:4: tls.acme: enable http_challenge or tls_alpn_challenge, or the CA cannot check the domains\n" +
				"roost.toml:4: tls.acme.email: \"Me <me@example.org>\": not an email address",
		},
		{
			name: "admin and s2s strings",
			file: "data_dir = \"\"\n[admin]\nsocket = \"/" + strings.Repeat("x", 120) + "\"\ngroup = \"bad group\"\n" +
				"[s2s]\nresolver = \"dns.example:53\"\n",
			want: "roost.toml:1: data_dir: must not be empty\n" +
				"roost.toml:3: admin.socket: \"/" + strings.Repeat("x", 120) + "\": 121 bytes long, but a unix socket path may have at most 107\n" +
				"roost.toml:4: admin.group: \"bad group\": not a group name\n" +
				"roost.toml:6: s2s.resolver: \"dns.example:53\": want an IP address and port, such as \"127.0.0.53:53\"",
		},
		{
			name: "components",
			file: "domains = [\"example.org\"]\n" +
				"[[component]]\ndomain = \"example.org\"\nsecret = \"a\"\n" +
				"[[component]]\ndomain = \"conference.example.org\"\nsecret = \"b\"\n" +
				"[[component]]\ndomain = \"irc.example.org\"\nsecret = \"\"\n" +
				"[[component]]\ndomain = \"irc.example.org\"\nsecret = \"d\"\nlisten = [\"0.0.0.0:5347\"]\n" +
				"[[component]]\nsecret = \"e\"\n" +
				"[[component]]\ndomain = \"Bad..Domain\"\nsecret = \"f\"\nlisten = [\"[::]:5222\"]\n",
			want: "roost.toml:3: component[0].domain: \"example.org\": an account domain (domains[0]); a component needs a domain of its own, such as irc.example.org\n" +
				"roost.toml:6: component[1].domain: \"conference.example.org\": a service roost hosts itself (muc.subdomain)\n" +
				"roost.toml:10: component[2].secret: set the password the component connects with\n" +
				"roost.toml:12: component[3].domain: \"irc.example.org\": also component[2].domain\n" +
				"roost.toml:14: component[3].listen[0]: \"0.0.0.0:5347\": already used by component[0].listen[0] (\"127.0.0.1:5347\")\n" +
				// The default address of component[4] overlaps it too.
				"roost.toml:14: component[4].listen[0]: \"127.0.0.1:5347\": already used by component[3].listen[0] (\"0.0.0.0:5347\")\n" +
				"roost.toml:15: component[4].domain: name the domain the component serves, such as \"irc.example.org\"\n" +
				"roost.toml:18: component[5].domain: \"Bad..Domain\": not a valid domain name\n" +
				"roost.toml:20: component[5].listen[0]: \"[::]:5222\": already used by c2s.listen[0] (\"[::]:5222\")",
		},
		{
			name: "component on the upload service",
			file: "domains = [\"example.org\"]\n[[component]]\ndomain = \"upload.example.org\"\nsecret = \"a\"\n",
			want: "roost.toml:3: component[0].domain: \"upload.example.org\": a service roost hosts itself (upload.enabled)",
		},
		{
			name: "integer too large for a size",
			file: "[limits]\nmax_stanza_bytes = \"9999999999GiB\"\n",
			want: `roost.toml:2: limits.max_stanza_bytes: "9999999999GiB": too large`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("roost.toml", []byte(tt.file))
			if err == nil {
				t.Fatalf("Parse succeeded, want error:\n%s", tt.want)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("Parse error:\ngot:\n%s\nwant:\n%s", got, tt.want)
			}
			if diff := cmp.Diff(Config{}, c); diff != "" {
				t.Errorf("Parse returned a Config with its error (-want +got):\n%s", diff)
			}
			for _, e := range leafErrors(err) {
				var fe *FieldError
				if !errors.As(e, &fe) {
					t.Errorf("error %q (%T) is not a *FieldError", e, e)
				}
			}
		})
	}
}

// leafErrors flattens an errors.Join.
func leafErrors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func TestErrorKinds(t *testing.T) {
	tests := []struct {
		name string
		file string
		want error
	}{
		{"syntax", "a = ", ErrSyntax},
		{"unknown key", "nope = 1", ErrUnknownKey},
		{"type", "data_dir = 1", ErrType},
		{"invalid", "domains = [\"a b\"]", ErrInvalid},
		{"range", "[limits]\nmax_depth = 1", ErrRange},
		{"int overflow", "[limits]\nmax_depth = 9223372036854775807", nil}, // ErrRange on 32-bit int, else range check
		{"missing", "domains = []", ErrMissing},
		{"conflict", "domains = [\"example.org\", \"example.org\"]", ErrConflict},
		{"missing file", "[tls]\nsource = \"files\"\n[[tls.certificate]]\ncert_file = \"/nonexistent/c.pem\"\nkey_file = \"/nonexistent/k.pem\"", fs.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("roost.toml", []byte(tt.file))
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			if tt.want == nil {
				tt.want = ErrRange
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("Parse error %q: errors.Is(err, %v) = false, want true", err, tt.want)
			}
		})
	}
}

func TestSyntaxErrorWrapsDecodeError(t *testing.T) {
	_, err := Parse("roost.toml", []byte("[c2s\n"))
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("Parse error %v (%T) has no *FieldError", err, err)
	}
	if fe.Line != 1 || !errors.Is(err, ErrSyntax) {
		t.Errorf("got line %d, errors.Is(ErrSyntax) %v; want line 1 and true", fe.Line, errors.Is(err, ErrSyntax))
	}
	type stringer interface{ String() string }
	var de interface {
		error
		stringer
	}
	if !errors.As(err, &de) || !strings.Contains(de.String(), "[c2s") {
		t.Errorf("Parse error does not wrap go-toml's DecodeError with context; got %v", err)
	}
}

func TestFieldErrorString(t *testing.T) {
	cause := errors.New("boom")
	tests := []struct {
		name string
		err  FieldError
		want string
	}{
		{"everything", FieldError{File: "roost.toml", Line: 12, Field: "c2s.listen[1]", Err: cause}, "roost.toml:12: c2s.listen[1]: boom"},
		{"no line", FieldError{File: "roost.toml", Field: "domains", Err: cause}, "roost.toml: domains: boom"},
		{"no file", FieldError{Field: "domains", Err: cause}, "domains: boom"},
		{"line without file", FieldError{Line: 3, Field: "domains", Err: cause}, "line 3: domains: boom"},
		{"no field", FieldError{File: "roost.toml", Line: 2, Err: cause}, "roost.toml:2: boom"},
		{"no error", FieldError{Field: "domains"}, "domains: invalid value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
			if tt.err.Err != nil && !errors.Is(&tt.err, cause) {
				t.Errorf("errors.Is(%q, cause) = false, want true", tt.err.Error())
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *Config)
		want   string
	}{
		{"default", func(*Config) {}, ""},
		{"bad level", func(c *Config) { c.Log.Level = slog.Level(2) }, "log.level: INFO+2: want one of debug, info, warn, error"},
		{"empty socket", func(c *Config) { c.Admin.Socket = "" }, "admin.socket: must not be empty"},
		{"no domains, bad rate", func(c *Config) { c.Domains = nil; c.Limits.ReadRateBytes = 10 },
			"domains: list at least one domain, such as [\"example.org\"]\n" +
				"limits.read_rate_bytes: 10: must be from 1024 to 1073741824"},
		{"certificate files", func(c *Config) {
			c.TLS.Source = SourceFiles
			c.TLS.Certificates = []Certificate{{CertFile: "config_test.go", KeyFile: "."}, {CertFile: "nope.pem"}}
		}, "tls.certificate[0].key_file: \".\": not a regular file\n" +
			"tls.certificate[1].cert_file: \"nope.pem\": no such file\n" +
			"tls.certificate[1].key_file: must not be empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.change(&c)
			err := c.Validate()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("Validate():\ngot:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"cert.pem", "key.pem"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("PEM"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "roost.toml")
	file := "data_dir = \"state\"\n[tls]\nsource = \"files\"\n[[tls.certificate]]\n" +
		"cert_file = \"cert.pem\"\nkey_file = \"" + filepath.Join(dir, "key.pem") + "\"\n" +
		"[websocket]\nchat_app_dir = \"converse\"\n"
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatalf("Load error:\n%v", err)
	}
	want := Default()
	want.DataDir = filepath.Join(dir, "state")
	want.Admin.Socket = filepath.Join(dir, "state", "admin.sock")
	want.TLS.Source = SourceFiles
	want.TLS.Certificates = []Certificate{{CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem")}}
	want.WebSocket.ChatAppDir = filepath.Join(dir, "converse")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Load (-want +got):\n%s", diff)
	}

	// A relative file name is resolved too, and kept in messages.
	t.Chdir(dir)
	if err := os.WriteFile(path, []byte(strings.Replace(file, "cert.pem", "gone.pem", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load("roost.toml")
	wantErr := "roost.toml:5: tls.certificate[0].cert_file: \"" + filepath.Join(dir, "gone.pem") + "\": no such file"
	if err == nil || err.Error() != wantErr {
		t.Errorf("Load with a missing certificate:\ngot:  %v\nwant: %s", err, wantErr)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is(%v, fs.ErrNotExist) = false, want true", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "absent.toml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(absent) = %v, want an error wrapping fs.ErrNotExist", err)
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		t.Errorf("Load(absent) = %v, a FieldError; want a plain read error", err)
	}
}

func TestRenderRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		config func() Config
	}{
		{"default", Default},
		{"packaged", packaged},
		{"everything changed", func() Config {
			c := Default()
			c.Domains = []string{"example.org", "müller.de"}
			c.Subdomains = nil
			c.Log = Log{Level: slog.LevelError, Format: FormatJSON}
			c.Admin.Group = "wheel"
			c.TLS.Source = SourceACME
			c.TLS.ACME = ACME{Directory: "https://localhost:14000/dir", Email: "a@example.org",
				TLSALPNChallenge: true, RenewBefore: 36*time.Hour + 30*time.Minute}
			c.C2S = C2S{ListenTLS: []string{"[::1]:5223"}, Registration: true}
			c.S2S = S2S{Resolver: "127.0.0.53:53", ConnectTimeout: 1500 * time.Millisecond, IdleTimeout: time.Hour,
				AllowPrivateAddresses: true, MaxPendingDialback: 3, MaxOutboundConnections: 7}
			c.HTTPS.Listen = []string{"[::]:443"}
			c.Limits.MaxStanzaBytes = 10000
			c.Limits.MaxOfflineMessages = 0
			c.PEP = PEP{MaxNodes: 10, MaxItems: 20, MaxItemBytes: 64 << 10, MaxSubscribers: 5, CapsCache: 50}
			return c
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.config()
			if err := want.Validate(); err != nil {
				t.Fatalf("test config is invalid: %v", err)
			}
			data, err := want.Render()
			if err != nil {
				t.Fatalf("Render error: %v", err)
			}
			got, err := Parse("roost.toml", data)
			if err != nil {
				t.Fatalf("Parse(Render()) error:\n%v\nrendered:\n%s", err, data)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Parse(Render()) (-want +got):\n%s\nrendered:\n%s", diff, data)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   any
		want int64
		ok   bool
	}{
		{int64(262144), 262144, true},
		{"262144", 262144, true},
		{"100B", 100, true},
		{"256KiB", 256 << 10, true},
		{"1 MiB", 1 << 20, true},
		{"2GiB", 2 << 30, true},
		{"0", 0, true},
		{"", 0, false},
		{"KiB", 0, false},
		{"1.5MiB", 0, false},
		{"+1KiB", 0, false},
		{"1kib", 0, false},
		{"1 K iB", 0, false},
		{"8589934592GiB", 0, false},
		{true, 0, false},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseSize(%#v) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestOverlaps(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"[::]:1", "127.0.0.1:1", true},
		{":1", "[::1]:1", true},
		{"0.0.0.0:1", "[::1]:1", false},
		{"0.0.0.0:1", "10.0.0.1:1", true},
		{"0.0.0.0:1", "[::]:1", true},
		{"localhost:1", "[::1]:1", true},
		{"localhost:1", "127.0.0.2:1", false},
		{"10.0.0.1:1", "10.0.0.1:2", false},
		{"[fe80::1%eth0]:1", "[fe80::1%eth1]:1", false},
		{"[::ffff:10.0.0.1]:1", "10.0.0.1:1", true},
	}
	for _, tt := range tests {
		a, errA := parseListen(tt.a)
		b, errB := parseListen(tt.b)
		if errA != nil || errB != nil {
			t.Fatalf("parseListen(%q, %q): %v, %v", tt.a, tt.b, errA, errB)
		}
		if got := a.overlaps(b); got != tt.want {
			t.Errorf("%q overlaps %q = %v, want %v", tt.a, tt.b, got, tt.want)
		}
		if got := b.overlaps(a); got != tt.want {
			t.Errorf("%q overlaps %q = %v, want %v", tt.b, tt.a, got, tt.want)
		}
	}
}

func TestCompareFields(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"domains[2]", "domains[10]", -1},
		{"domains[10]", "domains[2]", 1},
		{"domains[02]", "domains[2]", 0},
		{"c2s.listen", "c2s.listen_tls", -1},
		{"a", "b", -1},
		{"", "", 0},
	}
	for _, tt := range tests {
		if got := compareFields(tt.a, tt.b); got != tt.want {
			t.Errorf("compareFields(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	data := DefaultFile()
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse("roost.toml", data); err != nil {
			b.Fatal(err)
		}
	}
}

// TestWebSocketPath: the WebSocket path may not be one roost serves
// itself, nor below one (the HTTP mux would refuse it at start), but a
// path that merely begins with the same letters is the admin's to use.
func TestWebSocketPath(t *testing.T) {
	for _, tt := range []struct {
		path string
		ok   bool
	}{
		{"/xmpp-websocket", true},
		{"/ws", true},
		{"/metricsws", true},
		{"/administrator", true},
		{"/", false},
		{"/health", false},
		{"/metrics", false},
		{"/metrics/ws", false},
		{"/upload", false},
		{"/upload/ws", false},
		{"/invite", false},
		{"/admin", false},
		{"/admin/ws", false},
		{"/chat-app", false},
		{"/chat-app/ws", false},
		{"/chat-apps", true},
		{"/.well-known/xmpp", false},
	} {
		t.Run(tt.path, func(t *testing.T) {
			c := Default()
			c.WebSocket.Path = tt.path
			err := c.Validate()
			if (err == nil) != tt.ok {
				t.Errorf("Validate() with websocket.path %q: %v, want ok %v", tt.path, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrConflict) {
				t.Errorf("error %v, want ErrConflict", err)
			}
		})
	}
}
