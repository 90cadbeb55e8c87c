package config

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzParse checks that Parse never panics, that every error it returns is
// a join of *FieldError values naming the file, and that a Config it accepts
// survives Render and Parse unchanged.
func FuzzParse(f *testing.F) {
	f.Add(DefaultFile())
	f.Add([]byte(""))
	f.Add([]byte("domains = [\"example.org\", \"müller.de\"]\n[c2s]\nlisten = [\"5222\"]\n"))
	f.Add([]byte("[[tls.certificate]]\ncert_file = \"a\"\n[[tls.certificate]]\nkey_file = 1\n[tls]\nsource = \"files\"\n"))
	f.Add([]byte("tls = { source = \"acme\", acme = { email = \"a@b.c\" } }\nhttps.http_listen = [\"[::]:80\"]\n"))
	f.Add([]byte("[limits]\nmax_stanza_bytes = \"64KiB\"\nidle_timeout = \"1h\"\nread_rate_bytes = 1024\n"))
	f.Add([]byte("[log]\nlevel = \"debug\"\nformat = \"json\"\n[admin]\ngroup = \"adm\"\n"))
	f.Add([]byte("a.b.c = [[1], {x = 2}]\n[[a.d]]\n[a.d.e]\n\"k.q\" = 1\n"))
	f.Add([]byte("domains = [\n\"a.example\",\n# comment\n\"b.example\",\n]\n[s2s]\nresolver = \"[::1]:53\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		const name = "fuzz.toml"
		c, err := Parse(name, data)
		if err != nil {
			for _, e := range leafErrors(err) {
				fe, ok := e.(*FieldError)
				if !ok {
					t.Fatalf("Parse error %q is a %T, not a *FieldError", e, e)
				}
				if fe.File != name || fe.Err == nil {
					t.Fatalf("FieldError %#v: want File %q and a non-nil Err", fe, name)
				}
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Parse error %q: errors.As(*FieldError) failed", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a Config that Validate rejects:\n%v", err)
		}
		out, err := c.Render()
		if err != nil {
			t.Fatalf("Render error: %v", err)
		}
		c2, err := Parse(name, out)
		if err != nil {
			t.Fatalf("Parse(Render()) error:\n%v\nrendered:\n%s", err, out)
		}
		if diff := cmp.Diff(c, c2); diff != "" {
			t.Fatalf("Parse(Render()) differs (-first +second):\n%s\nrendered:\n%s", diff, out)
		}
	})
}
