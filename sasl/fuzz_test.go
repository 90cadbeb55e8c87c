package sasl

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The parsers' properties: no panic; every failure is the typed error the
// caller maps to the wire (a malformed-request *Error on the server side,
// ErrServerMessage on the client side); and whatever is accepted re-encodes
// to exactly the input, so both peers hash the same AuthMessage.

// wantMalformed fails t unless err is a malformed-request *Error.
func wantMalformed(t *testing.T, in string, err error) {
	t.Helper()
	var se *Error
	if !errors.As(err, &se) || se.Condition != MalformedRequest || se.Err != nil {
		t.Fatalf("parse(%q) error %v (%T), want a malformed-request *Error", in, err, err)
	}
}

func FuzzClientFirst(f *testing.F) {
	for _, s := range []string{
		"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
		"y,,n=user,r=abc",
		"p=tls-exporter,a=ju=2Cli=3Det,n=ro=3Dmeo,r=abc,x=1,Y=z=w",
		"p=tls-server-end-point,,n=jüliet,r=abc",
		"n,,m=x,n=u,r=a",
		"n,,n=u=2c,r=a",
		"n,,n=u,r=abc,x=1,x=2",
		"F,n,,n=u,r=a",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		cf, err := parseClientFirst(in)
		if err != nil {
			wantMalformed(t, in, err)
			return
		}
		enc := string(appendClientFirst(nil, &cf))
		if enc != in {
			t.Fatalf("parse(%q) re-encodes to %q", in, enc)
		}
		if cf.header+cf.bare != in {
			t.Fatalf("parse(%q): header %q + bare %q is not the input", in, cf.header, cf.bare)
		}
		again, err := parseClientFirst(enc)
		if err != nil {
			t.Fatalf("re-parse(%q): %v", enc, err)
		}
		if d := cmp.Diff(cf, again, cmp.AllowUnexported(clientFirst{})); d != "" {
			t.Fatalf("round trip of %q differs (-first +second):\n%s", in, d)
		}
	})
}

func FuzzClientFinal(f *testing.F) {
	for _, s := range []string{
		"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
		"c=eSws,r=abc,x=1,z=a=b,p=AAAA",
		"c=YR==,r=abc,p=AAAA",
		"c=biws,r=abc,p=AAAA,x=1",
		"c=biws,r=abc,p=AAAA,p=AAAA",
		"c=bi\nws,r=abc,p=AAAA",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		cf, err := parseClientFinal(in)
		if err != nil {
			wantMalformed(t, in, err)
			return
		}
		enc := string(appendClientFinal(nil, &cf))
		if enc != in {
			t.Fatalf("parse(%q) re-encodes to %q", in, enc)
		}
		if w := string(appendClientFinalWithoutProof(nil, cf.cbind, cf.nonce, cf.ext)); w != cf.withoutProof {
			t.Fatalf("parse(%q): without-proof %q, re-encoded %q", in, cf.withoutProof, w)
		}
		again, err := parseClientFinal(enc)
		if err != nil {
			t.Fatalf("re-parse(%q): %v", enc, err)
		}
		if d := cmp.Diff(cf, again, cmp.AllowUnexported(clientFinal{})); d != "" {
			t.Fatalf("round trip of %q differs (-first +second):\n%s", in, d)
		}
	})
}

func FuzzServerFirst(f *testing.F) {
	for _, s := range []string{
		"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
		"r=abc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=10000,d=xyz",
		"m=x,r=abc,s=QSXCR+Q6sek8bf92,i=4096",
		"r=abc,s=QSXCR+Q6sek8bf92,i=04096",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		sf, err := parseServerFirst(in)
		if err != nil {
			if !errors.Is(err, ErrServerMessage) {
				t.Fatalf("parse(%q) error %v, want ErrServerMessage", in, err)
			}
			return
		}
		if sf.iterations < MinIterations || sf.iterations > MaxIterations || len(sf.salt) == 0 {
			t.Fatalf("parse(%q) accepted iterations %d, salt %x", in, sf.iterations, sf.salt)
		}
		if enc := string(appendServerFirst(nil, &sf)); enc != in {
			t.Fatalf("parse(%q) re-encodes to %q", in, enc)
		}
	})
}

func FuzzServerFinal(f *testing.F) {
	for _, s := range []string{"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=", "e=invalid-proof", "v=AAAA,x=y", "v=AAA"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		sf, err := parseServerFinal(in)
		if err != nil {
			if !errors.Is(err, ErrServerMessage) {
				t.Fatalf("parse(%q) error %v, want ErrServerMessage", in, err)
			}
			return
		}
		if (sf.err == "") == (sf.verifier == nil) {
			t.Fatalf("parse(%q) = %+v: want exactly one of error and verifier", in, sf)
		}
	})
}

func FuzzPlain(f *testing.F) {
	for _, s := range []string{
		"\x00juliet\x00pencil",
		"romeo@example.net\x00juliet\x00pen cil",
		"\x00jüliet\x00pässwörd",
		"juliet\x00pencil",
		"\x00juliet\x00pen\x00cil",
		"\x00juliet\x00\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		pm, err := parsePlain(in)
		if err != nil {
			wantMalformed(t, in, err)
			return
		}
		if pm.authcid == "" || pm.passwd == "" {
			t.Fatalf("parse(%q) = %+v: empty authcid or password accepted", in, pm)
		}
		if enc := string(appendPlain(nil, &pm)); enc != in {
			t.Fatalf("parse(%q) re-encodes to %q", in, enc)
		}
	})
}

func FuzzExternal(f *testing.F) {
	for _, s := range []string{"", "example.org", "a\x00b", "\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		az, err := ParseExternal(in)
		if err != nil {
			wantMalformed(t, string(in), err)
			return
		}
		if az != string(in) {
			t.Fatalf("ParseExternal(%q) = %q", in, az)
		}
	})
}

// FuzzServer drives a whole SCRAM exchange with arbitrary client messages:
// the server must never panic, must fail only with *Error values, and must
// never accept a proof the fuzzer made up.
func FuzzServer(f *testing.F) {
	f.Add("n,,n=user,r=abc", "c=biws,r=abc%s,p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	f.Add("p=tls-exporter,,n=user,r=abc", "c=cD10bHMtZXhwb3J0ZXIsLA==,r=abc%s,p=AAAA")
	f.Add("y,,n=nobody,r=x", "c=eSws,r=x%s,p=AAAA")
	cred, err := deriveCredentials("pencil", SHA256, []byte("salt"), MinIterations)
	if err != nil {
		f.Fatal(err)
	}
	lookup := func(_ context.Context, user string, _ Hash) (Credentials, bool, error) {
		return cred, user == "user", nil
	}
	f.Fuzz(func(t *testing.T, first, final string) {
		for _, mech := range []string{SCRAMSHA256, SCRAMSHA256Plus} {
			s, err := NewServer(mech, ServerOptions{
				Lookup:      lookup,
				Binding:     ChannelBinding{TLSExporter: bytes.Repeat([]byte{1}, 32)},
				PlusOffered: true,
				Secret:      bytes.Repeat([]byte{2}, 32),
				Iterations:  MinIterations,
				Rand:        bytes.NewReader(make([]byte, serverNonceLen)),
			})
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = s.Step(t.Context(), []byte(first))
			if err != nil {
				var se *Error
				if !errors.As(err, &se) {
					t.Fatalf("Step(%q) error %v (%T), want *Error", first, err, err)
				}
				continue
			}
			// Let the fuzzer echo the nonce: %s stands for the server part.
			msg := bytes.ReplaceAll([]byte(final), []byte("%s"), []byte(s.snonce))
			out, done, err := s.Step(t.Context(), msg)
			if done || err == nil {
				t.Fatalf("Step(%q, %q) = %q, %v, %v: a made-up proof was accepted", first, msg, out, done, err)
			}
			var se *Error
			if !errors.As(err, &se) {
				t.Fatalf("Step(%q) error %v (%T), want *Error", msg, err, err)
			}
		}
	})
}

func BenchmarkParseClientFirst(b *testing.B) {
	const msg = "p=tls-exporter,,n=juliet,r=fyko+d2lbbFgONRv9qkxdawL"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseClientFirst(msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseClientFinal(b *testing.B) {
	const msg = "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseClientFinal(msg); err != nil {
			b.Fatal(err)
		}
	}
}

// TestParseClientFirstAllocs backs the zero-allocation claim for the common
// case (no escapes, no extensions): the parsed fields slice the input.
func TestParseClientFirstAllocs(t *testing.T) {
	const msg = "p=tls-exporter,,n=juliet,r=fyko+d2lbbFgONRv9qkxdawL"
	if n := testing.AllocsPerRun(100, func() {
		if _, err := parseClientFirst(msg); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("parseClientFirst allocates %v times per run, want 0", n)
	}
}

// sameLogin reports whether the hashed-token message msg names the same
// account as good, after PRECIS preparation (which folds case, so "usEr"
// is "user"), with the same proof: the one login the server must accept.
func sameLogin(msg, good []byte) bool {
	a, p, ok := bytes.Cut(msg, []byte{0})
	ga, gp, _ := bytes.Cut(good, []byte{0})
	if !ok || len(a) > maxAuthcidLen || !bytes.Equal(p, gp) {
		return false
	}
	u, err := prepareUsername(string(a))
	return err == nil && u == string(ga)
}

// FuzzHashedToken feeds arbitrary hashed-token messages to the server: it
// must never panic, must fail only with *Error values, and must accept
// nothing but the proof of the one known token.
func FuzzHashedToken(f *testing.F) {
	token, key, err := NewToken(bytes.NewReader(bytes.Repeat([]byte{3}, tokenBytes)))
	if err != nil {
		f.Fatal(err)
	}
	c, err := NewClient(HTSHA256None, "user", token, ChannelBinding{})
	if err != nil {
		f.Fatal(err)
	}
	good, _ := c.Step(nil)
	f.Add(good)
	f.Add([]byte("user\x00"))
	f.Add([]byte("\x00\x00\x00"))
	f.Add([]byte("us=2Cer\x00" + string(bytes.Repeat([]byte{1}, 32))))
	// The same account in other case: PRECIS folds it, so it must pass.
	f.Add(append([]byte("usEr"), good[len("user"):]...))
	lookup := func(_ context.Context, user, _ string, check func([]byte) bool) error {
		if user == "user" {
			check(key)
		}
		return nil
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		s, err := NewServer(HTSHA256None, ServerOptions{
			Lookup: func(context.Context, string, Hash) (Credentials, bool, error) { return Credentials{}, false, nil },
			Secret: bytes.Repeat([]byte{2}, 32),
			Tokens: lookup,
		})
		if err != nil {
			t.Fatal(err)
		}
		_, done, err := s.Step(t.Context(), msg)
		if done != sameLogin(msg, good) {
			t.Fatalf("Step(%q) done = %v, err %v: only the known token's proof may pass", msg, done, err)
		}
		if err != nil {
			var se *Error
			if !errors.As(err, &se) {
				t.Fatalf("Step(%q) error %v (%T), want *Error", msg, err, err)
			}
		}
	})
}
