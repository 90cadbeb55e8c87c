package jid

import (
	"encoding"
	"errors"
	"strings"
	"testing"
	"unsafe"
)

// sentinels are the errors every failure must wrap exactly one of.
var sentinels = []error{ErrEmptyPart, ErrTooLong, ErrInvalidLocal, ErrInvalidDomain, ErrInvalidResource, ErrNotDomain}

// sentinelOf returns the one sentinel err wraps, nil for a nil err, and fails
// the test if err wraps none or several.
func sentinelOf(t testing.TB, err error) error {
	t.Helper()
	if err == nil {
		return nil
	}
	var found error
	for _, s := range sentinels {
		if errors.Is(err, s) {
			if found != nil {
				t.Fatalf("error %q wraps both %q and %q", err, found, s)
			}
			found = s
		}
	}
	if found == nil {
		t.Fatalf("error %q wraps no sentinel", err)
	}
	return found
}

type parseCase struct {
	name  string
	in    string
	want  string // canonical form; "" when an error is expected
	local string
	dom   string
	res   string
	err   error
}

var (
	long1023 = strings.Repeat("a", 1023)
	long1024 = strings.Repeat("a", 1024)
	// A 1023-octet domain of one-letter labels: "a.a.….a".
	domain1023 = strings.Repeat("a.", 511) + "a"
)

var parseCases = []parseCase{
	// RFC 7622 §3.5.1, examples of valid JIDs.
	{name: "rfc/1 bare", in: "juliet@example.com", want: "juliet@example.com", local: "juliet", dom: "example.com"},
	{name: "rfc/2 full", in: "juliet@example.com/foo", want: "juliet@example.com/foo", local: "juliet", dom: "example.com", res: "foo"},
	{name: "rfc/3 space in resource", in: "juliet@example.com/foo bar", want: "juliet@example.com/foo bar", local: "juliet", dom: "example.com", res: "foo bar"},
	{name: "rfc/4 at in resource", in: "juliet@example.com/foo@bar", want: "juliet@example.com/foo@bar", local: "juliet", dom: "example.com", res: "foo@bar"},
	{name: "rfc/5 escaped space", in: `foo\20bar@example.com`, want: `foo\20bar@example.com`, local: `foo\20bar`, dom: "example.com"},
	{name: "rfc/6 fussball", in: "fussball@example.com", want: "fussball@example.com", local: "fussball", dom: "example.com"},
	{name: "rfc/7 sharp s kept", in: "fußball@example.com", want: "fußball@example.com", local: "fußball", dom: "example.com"},
	{name: "rfc/8 pi", in: "π@example.com", want: "π@example.com", local: "π", dom: "example.com"},
	{name: "rfc/9 capital sigma lowercased", in: "Σ@example.com/foo", want: "σ@example.com/foo", local: "σ", dom: "example.com", res: "foo"},
	{name: "rfc/10 sigma", in: "σ@example.com/foo", want: "σ@example.com/foo", local: "σ", dom: "example.com", res: "foo"},
	{name: "rfc/11 final sigma kept", in: "ς@example.com/foo", want: "ς@example.com/foo", local: "ς", dom: "example.com", res: "foo"},
	{name: "rfc/12 symbol in resource", in: "king@example.com/♚", want: "king@example.com/♚", local: "king", dom: "example.com", res: "♚"},
	{name: "rfc/13 domain only", in: "example.com", want: "example.com", dom: "example.com"},
	{name: "rfc/14 domain and resource", in: "example.com/foobar", want: "example.com/foobar", dom: "example.com", res: "foobar"},
	{name: "rfc/15 jid in resource", in: "a.example.com/b@example.net", want: "a.example.com/b@example.net", dom: "a.example.com", res: "b@example.net"},

	// RFC 7622 §3.5.2, examples of invalid JIDs.
	{name: "rfc/16 quotes in localpart", in: `"juliet"@example.com`, err: ErrInvalidLocal},
	{name: "rfc/17 space in localpart", in: "foo bar@example.com", err: ErrInvalidLocal},
	{name: "rfc/18 empty resource", in: "juliet@example.com/", err: ErrEmptyPart},
	{name: "rfc/19 empty localpart", in: "@example.com/", err: ErrEmptyPart},
	{name: "rfc/20 roman numeral", in: "henryⅣ@example.com", err: ErrInvalidLocal},
	{name: "rfc/21 symbol in localpart", in: "♚@example.com", err: ErrInvalidLocal},
	{name: "rfc/22 empty domain", in: "juliet@", err: ErrEmptyPart},
	{name: "rfc/23 no domain", in: "/foobar", err: ErrEmptyPart},

	// Splitting (§3.1).
	{name: "empty input", in: "", err: ErrEmptyPart},
	{name: "at only", in: "@", err: ErrEmptyPart},
	{name: "slash only", in: "/", err: ErrEmptyPart},
	{name: "empty localpart no resource", in: "@example.org", err: ErrEmptyPart},
	{name: "empty resource on domain", in: "example.org/", err: ErrEmptyPart},
	{name: "second at goes to domain", in: "a@b@example.org", err: ErrInvalidDomain},
	{name: "at after slash is resource", in: "example.org/a@b", want: "example.org/a@b", dom: "example.org", res: "a@b"},
	{name: "slash in resource", in: "a@example.org/b/c", want: "a@example.org/b/c", local: "a", dom: "example.org", res: "b/c"},

	// Localpart (§3.3).
	{name: "local uppercase ascii", in: "Alice@example.org", want: "alice@example.org", local: "alice", dom: "example.org"},
	{name: "local fullwidth", in: "ＪＵＬＩＥＴ@example.com", want: "juliet@example.com", local: "juliet", dom: "example.com"},
	{name: "local halfwidth katakana", in: "ﾀ@example.com", want: "タ@example.com", local: "タ", dom: "example.com"},
	{name: "local nfc", in: "e\u0301@example.com", want: "\u00e9@example.com", local: "\u00e9", dom: "example.com"},
	{name: "local ltr digit first", in: "1é@example.com", want: "1é@example.com", local: "1é", dom: "example.com"},
	{name: "local ltr punct last", in: "müller_@example.com", want: "müller_@example.com", local: "müller_", dom: "example.com"},
	{name: "local rtl valid", in: "\u0627\u0628@example.com", want: "\u0627\u0628@example.com", local: "\u0627\u0628", dom: "example.com"},
	{name: "local rtl bidi violation", in: "a\u0627@example.com", err: ErrInvalidLocal},
	{name: "local printable ascii", in: "!#$%()*+,-.;=?[\\]^_`{|}~@example.com", want: "!#$%()*+,-.;=?[\\]^_`{|}~@example.com", local: "!#$%()*+,-.;=?[\\]^_`{|}~", dom: "example.com"},
	{name: "local ampersand", in: "a&b@example.com", err: ErrInvalidLocal},
	{name: "local apostrophe", in: "o'hara@example.com", err: ErrInvalidLocal},
	{name: "local colon", in: "a:b@example.com", err: ErrInvalidLocal},
	{name: "local less than", in: "a<b@example.com", err: ErrInvalidLocal},
	{name: "local greater than", in: "a>b@example.com", err: ErrInvalidLocal},
	{name: "local fullwidth at", in: "a＠b@example.com", err: ErrInvalidLocal},
	{name: "local fullwidth solidus", in: "a／b@example.com", err: ErrInvalidLocal},
	{name: "local control", in: "a\x00b@example.com", err: ErrInvalidLocal},
	{name: "local del", in: "a\x7fb@example.com", err: ErrInvalidLocal},
	{name: "local compatibility ligature", in: "ﬀ@example.com", err: ErrInvalidLocal},
	{name: "local invalid utf8", in: "a\xffb@example.com", err: ErrInvalidLocal},
	{name: "local 1023 octets", in: long1023 + "@example.com", want: long1023 + "@example.com", local: long1023, dom: "example.com"},
	{name: "local 1024 octets", in: long1024 + "@example.com", err: ErrTooLong},
	{name: "local 1023 after width mapping", in: strings.Repeat("ａ", 1023) + "@example.com", want: long1023 + "@example.com", local: long1023, dom: "example.com"},
	{name: "local 1024 after width mapping", in: strings.Repeat("ａ", 1024) + "@example.com", err: ErrTooLong},

	// Domainpart (§3.2).
	{name: "domain uppercase ascii", in: "alice@EXAMPLE.Org/Phone", want: "alice@example.org/Phone", local: "alice", dom: "example.org", res: "Phone"},
	{name: "domain trailing dot", in: "alice@example.org./phone", want: "alice@example.org/phone", local: "alice", dom: "example.org", res: "phone"},
	{name: "domain trailing dot bare", in: "example.org.", want: "example.org", dom: "example.org"},
	{name: "domain two trailing dots", in: "example.org..", err: ErrInvalidDomain},
	{name: "domain dot only", in: "a@.", err: ErrEmptyPart},
	{name: "domain leading dot", in: ".example.org", err: ErrInvalidDomain},
	{name: "domain empty label", in: "a..b", err: ErrInvalidDomain},
	{name: "domain ideographic full stop", in: "example。org", want: "example.org", dom: "example.org"},
	{name: "domain trailing ideographic full stop", in: "example.org。", err: ErrInvalidDomain},
	{name: "domain fullwidth", in: "ｅｘａｍｐｌｅ．ｃｏｍ", want: "example.com", dom: "example.com"},
	{name: "domain single label", in: "localhost", want: "localhost", dom: "localhost"},
	{name: "domain leading hyphen", in: "-a.example", err: ErrInvalidDomain},
	{name: "domain trailing hyphen", in: "a-.example", err: ErrInvalidDomain},
	{name: "domain inner hyphens", in: "a--b.example", want: "a--b.example", dom: "a--b.example"},
	{name: "domain hyphens in 3 and 4", in: "ab--cd.example", err: ErrInvalidDomain},
	{name: "domain underscore", in: "a_b.example", err: ErrInvalidDomain},
	{name: "domain space", in: "a b.example", err: ErrInvalidDomain},
	{name: "domain colon", in: "example.org:5222", err: ErrInvalidDomain},
	{name: "domain fullwidth solidus", in: "a／b.example", err: ErrInvalidDomain},
	{name: "domain invalid utf8", in: "a\xff.example", err: ErrInvalidDomain},
	{name: "domain only soft hyphen", in: "\u00ad", err: ErrEmptyPart},
	{name: "domain idn", in: "juliet@Bücher.example", want: "juliet@bücher.example", local: "juliet", dom: "bücher.example"},
	{name: "domain a-label to u-label", in: "juliet@xn--bcher-kva.example", want: "juliet@bücher.example", local: "juliet", dom: "bücher.example"},
	{name: "domain uppercase a-label", in: "XN--BCHER-KVA.example", want: "bücher.example", dom: "bücher.example"},
	{name: "domain bogus a-label", in: "xn--a.example", err: ErrInvalidDomain},
	{name: "domain ascii a-label", in: "xn--abc-.example", err: ErrInvalidDomain},
	{name: "domain nontransitional sharp s", in: "faß.de", want: "faß.de", dom: "faß.de"},
	{name: "domain rtl", in: "\u0627\u0628.example", want: "\u0627\u0628.example", dom: "\u0627\u0628.example"},
	{name: "domain bidi violation", in: "a\u0627.example", err: ErrInvalidDomain},
	{name: "domain alef symbol mapped", in: "ℵ.example", want: "א.example", dom: "א.example"},
	{name: "domain alef symbol unstable", in: "a@xℵy.example", err: ErrInvalidDomain},
	{name: "domain zwj without context", in: "a\u200db.example", err: ErrInvalidDomain},
	{name: "domain long label allowed", in: strings.Repeat("a", 64) + ".example", want: strings.Repeat("a", 64) + ".example", dom: strings.Repeat("a", 64) + ".example"},
	{name: "domain 1023 octets", in: domain1023, want: domain1023, dom: domain1023},
	{name: "domain 1024 octets", in: "a" + domain1023, err: ErrTooLong},
	{name: "domain 1023 after trailing dot", in: domain1023 + ".", want: domain1023, dom: domain1023},
	{name: "ipv4", in: "juliet@192.0.2.1/r", want: "juliet@192.0.2.1/r", local: "juliet", dom: "192.0.2.1", res: "r"},
	{name: "ipv6", in: "juliet@[2001:db8::1]/r", want: "juliet@[2001:db8::1]/r", local: "juliet", dom: "[2001:db8::1]", res: "r"},
	{name: "ipv6 canonicalised", in: "[2001:DB8:0:0:0:0:0:1]", want: "[2001:db8::1]", dom: "[2001:db8::1]"},
	{name: "ipv6 loopback", in: "[::1]", want: "[::1]", dom: "[::1]"},
	{name: "ipv6 mapped ipv4", in: "[::FFFF:192.0.2.1]", want: "[::ffff:192.0.2.1]", dom: "[::ffff:192.0.2.1]"},
	{name: "ipv6 trailing dot", in: "[::1].", want: "[::1]", dom: "[::1]"},
	{name: "ipv4 in brackets", in: "[192.0.2.1]", err: ErrInvalidDomain},
	{name: "ipv6 zone", in: "[fe80::1%eth0]", err: ErrInvalidDomain},
	{name: "ipv6 unterminated", in: "[::1", err: ErrInvalidDomain},
	{name: "ipv6 empty brackets", in: "[]", err: ErrInvalidDomain},
	{name: "ipv6 without brackets", in: "::1", err: ErrInvalidDomain},
	{name: "ipvfuture", in: "[v1.fe]", err: ErrInvalidDomain},
	{name: "bracket inside name", in: "a[::1]", err: ErrInvalidDomain},

	// Resourcepart (§3.4).
	{name: "resource case kept", in: "a@example.org/Phone", want: "a@example.org/Phone", local: "a", dom: "example.org", res: "Phone"},
	{name: "resource space only", in: "a@example.org/ ", want: "a@example.org/ ", local: "a", dom: "example.org", res: " "},
	{name: "resource nbsp mapped", in: "a@example.org/x\u00a0y", want: "a@example.org/x y", local: "a", dom: "example.org", res: "x y"},
	{name: "resource nfc", in: "a@example.org/e\u0301", want: "a@example.org/\u00e9", local: "a", dom: "example.org", res: "\u00e9"},
	{name: "resource fullwidth kept", in: "a@example.org/ＡＢ", want: "a@example.org/ＡＢ", local: "a", dom: "example.org", res: "ＡＢ"},
	{name: "resource tab", in: "a@example.org/a\tb", err: ErrInvalidResource},
	{name: "resource invalid utf8", in: "a@example.org/\xc3", err: ErrInvalidResource},
	{name: "resource 1023 octets", in: "a@example.org/" + long1023, want: "a@example.org/" + long1023, local: "a", dom: "example.org", res: long1023},
	{name: "resource 1024 octets", in: "a@example.org/" + long1024, err: ErrTooLong},

	// Error precedence: the localpart is checked first, then the domainpart.
	{name: "bad local and domain", in: "a b@a_b", err: ErrInvalidLocal},
	{name: "bad domain and resource", in: "a_b/\t", err: ErrInvalidDomain},
}

func TestParse(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []struct {
				name string
				fast bool
			}{{"fast", true}, {"slow", false}} {
				var j JID
				var err error
				if path.fast {
					j, err = Parse(tc.in)
				} else {
					j, err = parse(tc.in, false)
				}
				if got := sentinelOf(t, err); got != tc.err {
					t.Fatalf("%s: parse(%q) error = %v, want %v", path.name, tc.in, err, tc.err)
				}
				if err != nil {
					if !j.IsZero() {
						t.Errorf("%s: parse(%q) = %q with error, want zero JID", path.name, tc.in, j)
					}
					continue
				}
				if got := j.String(); got != tc.want {
					t.Errorf("%s: parse(%q) = %q, want %q", path.name, tc.in, got, tc.want)
				}
				if got := [3]string{j.Local(), j.Domain(), j.Resource()}; got != [3]string{tc.local, tc.dom, tc.res} {
					t.Errorf("%s: parse(%q) parts = %q, want %q", path.name, tc.in, got, [3]string{tc.local, tc.dom, tc.res})
				}
			}
		})
	}
}

func TestParseDomain(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
		err  error
	}{
		{"canonical", "example.org", "example.org", nil},
		{"upper case", "Example.ORG", "example.org", nil},
		{"trailing dot", "example.org.", "example.org", nil},
		{"single label", "localhost", "localhost", nil},
		{"subdomain", "conference.example.org", "conference.example.org", nil},
		{"unicode", "Bücher.example", "bücher.example", nil},
		{"a-label", "xn--bcher-kva.example", "bücher.example", nil},
		{"ipv4", "192.0.2.1", "192.0.2.1", nil},
		{"ipv6", "[2001:DB8::1]", "[2001:db8::1]", nil},
		{"localpart", "alice@example.org", "", ErrNotDomain},
		{"resourcepart", "example.org/phone", "", ErrNotDomain},
		{"full jid", "alice@example.org/phone", "", ErrNotDomain},
		{"empty", "", "", ErrEmptyPart},
		{"empty localpart", "@example.org", "", ErrEmptyPart},
		{"empty resourcepart", "example.org/", "", ErrEmptyPart},
		{"only a dot", ".", "", ErrEmptyPart},
		{"invalid domain", "exa mple.org", "", ErrInvalidDomain},
		{"too long", domain1023 + ".a", "", ErrTooLong},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseDomain(tc.in)
			if s := sentinelOf(t, err); s != tc.err || got != tc.want {
				t.Errorf("ParseDomain(%q) = %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.err)
			}
		})
	}
	// Every Parse case: ParseDomain accepts exactly the bare domains Parse
	// accepts, with the same domainpart, and fails like Parse otherwise.
	for _, tc := range parseCases {
		want, wantErr := tc.dom, tc.err
		if wantErr == nil && (tc.local != "" || tc.res != "") {
			wantErr = ErrNotDomain
		}
		if wantErr != nil {
			want = ""
		}
		got, err := ParseDomain(tc.in)
		if s := sentinelOf(t, err); s != wantErr || got != want {
			t.Errorf("%s: ParseDomain(%q) = %q, %v; want %q, %v", tc.name, tc.in, got, err, want, wantErr)
		}
	}
}

func TestParseSharesCanonicalInput(t *testing.T) {
	for _, in := range []string{"alice@example.org/phone", "example.org", "π@example.com", "[::1]", "juliet@bücher.example/♚"} {
		j, err := Parse(in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", in, err)
		}
		if got := j.String(); !sameData(got, in) {
			t.Errorf("Parse(%q).String() = %q, want the input string itself", in, got)
		}
	}
}

// sameData reports whether a and b are the same bytes in memory.
func sameData(a, b string) bool {
	return len(a) == len(b) && unsafe.StringData(a) == unsafe.StringData(b)
}

func TestNew(t *testing.T) {
	tests := []struct {
		name                    string
		local, domain, resource string
		want                    string
		err                     error
	}{
		{name: "full", local: "juliet", domain: "example.com", resource: "balcony", want: "juliet@example.com/balcony"},
		{name: "bare", local: "juliet", domain: "example.com", want: "juliet@example.com"},
		{name: "domain", domain: "example.com", want: "example.com"},
		{name: "domain and resource", domain: "example.com", resource: "r", want: "example.com/r"},
		{name: "canonicalised", local: "Σ", domain: "xn--bcher-kva.EXAMPLE.", resource: "x\u00a0y", want: "σ@bücher.example/x y"},
		{name: "resource with separators", local: "a", domain: "example.com", resource: "b@c/d", want: "a@example.com/b@c/d"},
		{name: "no domain", local: "juliet", err: ErrEmptyPart},
		{name: "at in local", local: "a@b", domain: "example.com", err: ErrInvalidLocal},
		{name: "slash in local", local: "a/b", domain: "example.com", err: ErrInvalidLocal},
		{name: "slash in domain", domain: "example.com/x", err: ErrInvalidDomain},
		{name: "at in domain", domain: "a@example.com", err: ErrInvalidDomain},
		{name: "bad resource", domain: "example.com", resource: "\x00", err: ErrInvalidResource},
		{name: "long resource", domain: "example.com", resource: long1024, err: ErrTooLong},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j, err := New(tc.local, tc.domain, tc.resource)
			if got := sentinelOf(t, err); got != tc.err {
				t.Fatalf("New(%q, %q, %q) error = %v, want %v", tc.local, tc.domain, tc.resource, err, tc.err)
			}
			if got := j.String(); got != tc.want {
				t.Errorf("New(%q, %q, %q) = %q, want %q", tc.local, tc.domain, tc.resource, got, tc.want)
			}
			if err != nil {
				return
			}
			p, err := Parse(tc.want)
			if err != nil || p != j {
				t.Errorf("Parse(%q) = %#v, %v; want %#v from New", tc.want, p, err, j)
			}
		})
	}
}

func TestWithResource(t *testing.T) {
	tests := []struct {
		name string
		in   string
		res  string
		want string
		err  error
	}{
		{name: "bare", in: "juliet@example.com", res: "balcony", want: "juliet@example.com/balcony"},
		{name: "replace", in: "juliet@example.com/orchard", res: "balcony", want: "juliet@example.com/balcony"},
		{name: "domain", in: "example.com", res: "r", want: "example.com/r"},
		{name: "canonicalised", in: "juliet@example.com", res: "e\u0301", want: "juliet@example.com/\u00e9"},
		{name: "separators", in: "juliet@example.com", res: "a/b@c", want: "juliet@example.com/a/b@c"},
		{name: "empty", in: "juliet@example.com", res: "", err: ErrEmptyPart},
		{name: "zero jid", in: "", res: "r", err: ErrEmptyPart},
		{name: "invalid", in: "juliet@example.com", res: "a\tb", err: ErrInvalidResource},
		{name: "too long", in: "juliet@example.com", res: long1024, err: ErrTooLong},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var j JID
			if tc.in != "" {
				j = MustParse(tc.in)
			}
			got, err := j.WithResource(tc.res)
			if s := sentinelOf(t, err); s != tc.err {
				t.Fatalf("%q.WithResource(%q) error = %v, want %v", tc.in, tc.res, err, tc.err)
			}
			if got.String() != tc.want {
				t.Errorf("%q.WithResource(%q) = %q, want %q", tc.in, tc.res, got, tc.want)
			}
			if err != nil {
				return
			}
			if p := MustParse(tc.want); p != got {
				t.Errorf("%q.WithResource(%q) = %#v, Parse gives %#v", tc.in, tc.res, got, p)
			}
		})
	}
}

func TestDerived(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		bare      string
		domainJID string
		isBare    bool
	}{
		{name: "full", in: "juliet@example.com/balcony", bare: "juliet@example.com", domainJID: "example.com"},
		{name: "bare", in: "juliet@example.com", bare: "juliet@example.com", domainJID: "example.com", isBare: true},
		{name: "domain with resource", in: "example.com/r", bare: "example.com", domainJID: "example.com"},
		{name: "domain", in: "example.com", bare: "example.com", domainJID: "example.com", isBare: true},
		{name: "resource with at", in: "example.com/a@b", bare: "example.com", domainJID: "example.com"},
		{name: "zero", in: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var j JID
			if tc.in != "" {
				j = MustParse(tc.in)
			}
			if got := j.Bare(); got.String() != tc.bare {
				t.Errorf("%q.Bare() = %q, want %q", tc.in, got, tc.bare)
			}
			if got := j.DomainJID(); got.String() != tc.domainJID {
				t.Errorf("%q.DomainJID() = %q, want %q", tc.in, got, tc.domainJID)
			}
			if got := j.IsBare(); got != tc.isBare {
				t.Errorf("%q.IsBare() = %v, want %v", tc.in, got, tc.isBare)
			}
			if got, want := j.IsZero(), tc.in == ""; got != want {
				t.Errorf("%q.IsZero() = %v, want %v", tc.in, got, want)
			}
			if tc.in == "" {
				return
			}
			// Derived JIDs must be exactly what parsing their text gives,
			// offsets included.
			for _, d := range []JID{j.Bare(), j.DomainJID()} {
				if p := MustParse(d.String()); p != d {
					t.Errorf("derived %#v, Parse(%q) = %#v", d, d.String(), p)
				}
			}
			if got := j.Bare().Resource(); got != "" {
				t.Errorf("%q.Bare().Resource() = %q, want empty", tc.in, got)
			}
			if got := j.DomainJID().Local(); got != "" {
				t.Errorf("%q.DomainJID().Local() = %q, want empty", tc.in, got)
			}
		})
	}
}

func TestZeroJID(t *testing.T) {
	var j JID
	got := [...]string{j.Local(), j.Domain(), j.Resource(), j.String(), j.Bare().String(), j.DomainJID().String()}
	if got != [6]string{} {
		t.Errorf("zero JID parts = %q, want all empty", got)
	}
	if !j.Equal(JID{}) || j.IsBare() || !j.IsZero() {
		t.Errorf("zero JID: Equal(JID{}) = %v, IsBare = %v, IsZero = %v; want true, false, true", j.Equal(JID{}), j.IsBare(), j.IsZero())
	}
}

func TestEqual(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want bool
	}{
		{name: "identical", a: "juliet@example.com/r", b: "juliet@example.com/r", want: true},
		{name: "case of localpart", a: "Juliet@example.com", b: "juliet@example.com", want: true},
		{name: "case of domain", a: "juliet@EXAMPLE.com", b: "juliet@example.com", want: true},
		{name: "a-label and u-label", a: "xn--bcher-kva.example", b: "bücher.example", want: true},
		{name: "trailing dot", a: "example.com.", b: "example.com", want: true},
		{name: "ipv6 forms", a: "[0:0::1]", b: "[::1]", want: true},
		{name: "case of resource", a: "juliet@example.com/R", b: "juliet@example.com/r", want: false},
		{name: "bare and full", a: "juliet@example.com", b: "juliet@example.com/r", want: false},
		{name: "domain and resource vs local", a: "example.com/a", b: "a@example.com", want: false},
		{name: "sigma forms", a: "ς@example.com", b: "σ@example.com", want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := MustParse(tc.a), MustParse(tc.b)
			if got := a.Equal(b); got != tc.want {
				t.Errorf("%q.Equal(%q) = %v, want %v", tc.a, tc.b, got, tc.want)
			}
			if got := a == b; got != tc.want {
				t.Errorf("%q == %q is %v, want %v", tc.a, tc.b, got, tc.want)
			}
		})
	}
}

func TestMapKey(t *testing.T) {
	m := map[JID]int{MustParse("juliet@example.com"): 1}
	if got := m[MustParse("Juliet@Example.COM.")]; got != 1 {
		t.Errorf("m[Juliet@Example.COM.] = %d, want 1", got)
	}
	if got := m[MustParse("juliet@example.com/r").Bare()]; got != 1 {
		t.Errorf("m[juliet@example.com/r .Bare()] = %d, want 1", got)
	}
}

func TestText(t *testing.T) {
	var (
		_ encoding.TextMarshaler   = JID{}
		_ encoding.TextAppender    = JID{}
		_ encoding.TextUnmarshaler = (*JID)(nil)
	)
	tests := []struct {
		name string
		in   string
		want string
		err  error
	}{
		{name: "full", in: "Juliet@example.com/r", want: "juliet@example.com/r"},
		{name: "empty is zero", in: "", want: ""},
		{name: "invalid", in: "a b@example.com", err: ErrInvalidLocal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j := MustParse("old@example.org")
			err := j.UnmarshalText([]byte(tc.in))
			if s := sentinelOf(t, err); s != tc.err {
				t.Fatalf("UnmarshalText(%q) error = %v, want %v", tc.in, err, tc.err)
			}
			if err != nil {
				if j.String() != "old@example.org" {
					t.Errorf("UnmarshalText(%q) failed but changed the JID to %q", tc.in, j)
				}
				return
			}
			if j.String() != tc.want {
				t.Errorf("UnmarshalText(%q) = %q, want %q", tc.in, j, tc.want)
			}
			b, err := j.MarshalText()
			if err != nil || string(b) != tc.want {
				t.Errorf("MarshalText() = %q, %v; want %q, nil", b, err, tc.want)
			}
			b, err = j.AppendText([]byte("to="))
			if err != nil || string(b) != "to="+tc.want {
				t.Errorf("AppendText(to=) = %q, %v; want %q, nil", b, err, "to="+tc.want)
			}
		})
	}
}

func TestMustParse(t *testing.T) {
	if got := MustParse("Juliet@example.com"); got.String() != "juliet@example.com" {
		t.Errorf("MustParse(Juliet@example.com) = %q, want juliet@example.com", got)
	}
	defer func() {
		r := recover()
		msg, _ := r.(string)
		if !strings.Contains(msg, `MustParse("@example.com")`) {
			t.Errorf("MustParse(@example.com) panicked with %v, want a message naming the input", r)
		}
	}()
	MustParse("@example.com")
	t.Errorf("MustParse(@example.com) did not panic")
}

// TestFastPathExhaustiveASCII puts every ASCII byte, and short strings over
// an alphabet that exercises the hyphen and A-label rules, in every part, and
// checks that the fast path agrees with PRECIS/IDNA on each.
func TestFastPathExhaustiveASCII(t *testing.T) {
	var inputs []string
	templates := []string{
		"%@example.org", "a%b@example.org", "a@%", "a@%.org", "a@x%y.org", "a@org.%",
		"a@example.org/%", "a@example.org/x%y", "%", "x%", "[::%]",
	}
	for c := 0; c < 0x80; c++ {
		for _, tpl := range templates {
			inputs = append(inputs, strings.ReplaceAll(tpl, "%", string(rune(c))))
		}
	}
	const alphabet = "aZ0-xn."
	var gen func(prefix string, n int)
	gen = func(prefix string, n int) {
		if prefix != "" {
			inputs = append(inputs, prefix, "u@"+prefix+"/r", prefix+"@example.org")
		}
		if n == 0 {
			return
		}
		for i := 0; i < len(alphabet); i++ {
			gen(prefix+alphabet[i:i+1], n-1)
		}
	}
	gen("", 5)
	for _, in := range inputs {
		fj, ferr := Parse(in)
		sj, serr := parse(in, false)
		if fs, ss := sentinelOf(t, ferr), sentinelOf(t, serr); fs != ss || fj != sj {
			t.Errorf("input %q: fast = %#v, %v; slow = %#v, %v", in, fj, ferr, sj, serr)
		}
	}
}

func TestZeroAllocs(t *testing.T) {
	full := MustParse("alice@example.org/phone")
	other := MustParse("alice@example.org/phone")
	buf := make([]byte, 0, 64)
	tests := []struct {
		name string
		f    func()
	}{
		{"Parse full", func() { _, _ = Parse("alice@example.org/phone") }},
		{"Parse bare", func() { _, _ = Parse("alice@example.org") }},
		{"Parse domain", func() { _, _ = Parse("example.org") }},
		{"Parse domain resource", func() { _, _ = Parse("example.org/phone") }},
		{"Parse ipv4", func() { _, _ = Parse("alice@192.0.2.1/x") }},
		{"Parse ipv6", func() { _, _ = Parse("alice@[2001:db8::1]/x") }},
		{"Parse trailing dot bare", func() { _, _ = Parse("example.org.") }},
		{"ParseDomain", func() { _, _ = ParseDomain("example.org") }},
		{"ParseDomain trailing dot", func() { _, _ = ParseDomain("example.org.") }},
		{"Bare", func() { _ = full.Bare() }},
		{"DomainJID", func() { _ = full.DomainJID() }},
		{"Equal", func() { _ = full.Equal(other) }},
		{"String", func() { _ = full.String() }},
		{"Local", func() { _ = full.Local() }},
		{"Domain", func() { _ = full.Domain() }},
		{"Resource", func() { _ = full.Resource() }},
		{"IsBare", func() { _ = full.IsBare() }},
		{"AppendText", func() { _, _ = full.AppendText(buf[:0]) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := testing.AllocsPerRun(100, tc.f); got != 0 {
				t.Errorf("%s: %v allocations per run, want 0", tc.name, got)
			}
		})
	}
}
