package jid

import (
	"strings"
	"testing"
)

// FuzzParse checks, for any input: no panic; every error wraps exactly one
// sentinel; the fast path and the PRECIS/IDNA path agree; and an accepted JID
// is a fixed point, so that parsing its canonical text (by either path, or
// rebuilding it with New) gives the identical JID (STYLE rule 22).
func FuzzParse(f *testing.F) {
	for _, tc := range parseCases {
		f.Add(tc.in)
	}
	for _, s := range []string{
		"alice@example.org/phone", "ΣΑΣ@ΕΧΑΜΡΛΕ.ΟΡΓ/ΣΣ", "ǅ@example.org", "İ@example.org",
		"x@xn--nxasmq6b.example", "x@ß.example", "x@ẞ.example", "\u0627\u0661@example.org",
		"x@\u0627\u0661.example", "a@b\u200cc.example", "x@[::ffff:0:1]", "a@b/\u3000", "\u212b@example.org",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		j, err := Parse(s)
		slow, serr := parse(s, false)
		if fs, ss := sentinelOf(t, err), sentinelOf(t, serr); fs != ss || j != slow {
			t.Fatalf("Parse(%q) = %#v, %v; slow path = %#v, %v", s, j, err, slow, serr)
		}
		if err != nil {
			if !j.IsZero() {
				t.Fatalf("Parse(%q) = %#v with error %v, want zero JID", s, j, err)
			}
			return
		}
		checkCanonical(t, s, j)
	})
}

// FuzzParseDomain checks, for any input: no panic; ParseDomain accepts
// exactly what Parse accepts as a bare domain, giving its domainpart, and
// otherwise fails with Parse's sentinel, or ErrNotDomain when Parse found a
// localpart or resourcepart; and an accepted domain is a fixed point.
func FuzzParseDomain(f *testing.F) {
	for _, tc := range parseCases {
		f.Add(tc.in)
	}
	for _, s := range []string{
		"example.org", "Example.ORG.", "conference.example.org", "bücher.example", "xn--bcher-kva.example",
		"[2001:DB8::1]", "192.0.2.1", "alice@example.org", "example.org/phone", "", ".", "@example.org",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDomain(s)
		j, perr := Parse(s)
		want, wantErr := j.Domain(), sentinelOf(t, perr)
		if perr == nil && !j.Equal(j.DomainJID()) {
			want, wantErr = "", ErrNotDomain
		}
		if got := sentinelOf(t, err); got != wantErr || d != want {
			t.Fatalf("ParseDomain(%q) = %q, %v; Parse gives %q, %v", s, d, err, j, perr)
		}
		if err != nil {
			return
		}
		if again, err := ParseDomain(d); err != nil || again != d {
			t.Fatalf("ParseDomain(%q) = %q, but ParseDomain of that = %q, %v", s, d, again, err)
		}
	})
}

// checkCanonical checks the invariants of a JID returned by Parse(in).
func checkCanonical(t *testing.T, in string, j JID) {
	t.Helper()
	str := j.String()
	local, domain, res := j.Local(), j.Domain(), j.Resource()
	if j.IsZero() || domain == "" {
		t.Fatalf("Parse(%q) = %#v: zero JID or empty domain without error", in, j)
	}
	for _, p := range []string{local, domain, res} {
		if len(p) > maxPart {
			t.Fatalf("Parse(%q) = %q: part of %d octets", in, str, len(p))
		}
	}
	if strings.ContainsAny(local, "@/") || strings.ContainsAny(domain, "@/") {
		t.Fatalf("Parse(%q) = %q: separator in localpart %q or domainpart %q", in, str, local, domain)
	}
	want := domain
	if local != "" {
		want = local + "@" + want
	}
	if res != "" {
		want += "/" + res
	}
	if str != want {
		t.Fatalf("Parse(%q): String() = %q, parts join to %q", in, str, want)
	}

	for _, path := range []struct {
		name  string
		parse func(string) (JID, error)
	}{
		{"fast", Parse},
		{"slow", func(s string) (JID, error) { return parse(s, false) }},
	} {
		again, err := path.parse(str)
		if err != nil {
			t.Fatalf("Parse(%q) = %q, but %s parse of that fails: %v", in, str, path.name, err)
		}
		if again != j || !again.Equal(j) || again.String() != str {
			t.Fatalf("Parse(%q) = %#v, %s parse of its text = %#v", in, j, path.name, again)
		}
	}
	if n, err := New(local, domain, res); err != nil || n != j {
		t.Fatalf("Parse(%q) = %#v, New(parts) = %#v, %v", in, j, n, err)
	}
	for _, d := range []JID{j.Bare(), j.DomainJID()} {
		if p, err := Parse(d.String()); err != nil || p != d {
			t.Fatalf("Parse(%q): derived %#v, Parse(%q) = %#v, %v", in, d, d.String(), p, err)
		}
	}
	if res != "" {
		if w, err := j.Bare().WithResource(res); err != nil || w != j {
			t.Fatalf("Parse(%q) = %#v, Bare().WithResource(%q) = %#v, %v", in, j, res, w, err)
		}
	}
}
