package sasl

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// rfcVectors are the example exchanges of RFC 5802 §5 (SCRAM-SHA-1) and
// RFC 7677 §3 (SCRAM-SHA-256), user "user", password "pencil".
var rfcVectors = []struct {
	name           string
	mech           string
	hash           Hash
	salt           string
	cnonce, snonce string
	clientFirst    string
	serverFirst    string
	clientFinal    string
	serverFinal    string
}{
	{
		name:        "RFC 5802 §5",
		mech:        SCRAMSHA1,
		hash:        SHA1,
		salt:        "QSXCR+Q6sek8bf92",
		cnonce:      "fyko+d2lbbFgONRv9qkxdawL",
		snonce:      "3rfcNHYJY1ZVvWVs7j",
		clientFirst: "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
		serverFirst: "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
		clientFinal: "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
		serverFinal: "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
	},
	{
		name:        "RFC 7677 §3",
		mech:        SCRAMSHA256,
		hash:        SHA256,
		salt:        "W22ZaJ0SNY7soEsUEjb6gQ==",
		cnonce:      "rOprNGfwEbeRWgbNEkqO",
		snonce:      "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
		clientFirst: "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
		serverFirst: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		clientFinal: "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		serverFinal: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
	},
}

var testSecret = []byte("0123456789abcdef0123456789abcdef")

func TestRFCVectorsServer(t *testing.T) {
	for _, v := range rfcVectors {
		t.Run(v.name, func(t *testing.T) {
			salt, err := base64.StdEncoding.DecodeString(v.salt)
			if err != nil {
				t.Fatal(err)
			}
			cred, err := deriveCredentials("pencil", v.hash, salt, 4096)
			if err != nil {
				t.Fatal(err)
			}
			lookup := func(_ context.Context, user string, h Hash) (Credentials, bool, error) {
				return cred, user == "user" && h == v.hash, nil
			}
			s, err := NewServer(v.mech, ServerOptions{Lookup: lookup, Secret: testSecret, Iterations: 4096})
			if err != nil {
				t.Fatal(err)
			}
			s.snonce = v.snonce // the vectors' server nonce is shorter than ours
			out, done, err := s.Step(t.Context(), []byte(v.clientFirst))
			if err != nil || done || string(out) != v.serverFirst {
				t.Fatalf("Step(client-first) = %q, %v, %v; want %q, false, nil", out, done, err, v.serverFirst)
			}
			out, done, err = s.Step(t.Context(), []byte(v.clientFinal))
			if err != nil || !done || string(out) != v.serverFinal {
				t.Fatalf("Step(client-final) = %q, %v, %v; want %q, true, nil", out, done, err, v.serverFinal)
			}
			if got := s.Username(); got != "user" {
				t.Errorf("Username() = %q, want %q", got, "user")
			}
		})
	}
}

func TestRFCVectorsClient(t *testing.T) {
	for _, v := range rfcVectors {
		t.Run(v.name, func(t *testing.T) {
			c, err := NewClient(v.mech, "user", "pencil", ChannelBinding{})
			if err != nil {
				t.Fatal(err)
			}
			c.cnonce = v.cnonce
			steps := []struct{ in, want string }{
				{"", v.clientFirst},
				{v.serverFirst, v.clientFinal},
				{v.serverFinal, ""},
			}
			for i, st := range steps {
				out, err := c.Step([]byte(st.in))
				if err != nil || string(out) != st.want {
					t.Fatalf("step %d: Step(%q) = %q, %v; want %q, nil", i, st.in, out, err, st.want)
				}
			}
			if !c.Verified() {
				t.Error("Verified() = false after a valid server-final-message, want true")
			}
		})
	}
}

// wantCondition fails t unless err is an *Error with condition want.
func wantCondition(t *testing.T, err error, want Condition) {
	t.Helper()
	var se *Error
	if !errors.As(err, &se) {
		t.Fatalf("err = %v (%T), want *Error with condition %s", err, err, want)
	}
	if se.Condition != want {
		t.Fatalf("condition = %s (%v), want %s", se.Condition, err, want)
	}
}

func TestParseClientFirst(t *testing.T) {
	valid := []struct {
		name string
		in   string
		want clientFirst
	}{
		{
			name: "no binding",
			in:   "n,,n=user,r=abc",
			want: clientFirst{cbFlag: 'n', username: "user", nonce: "abc", header: "n,,", bare: "n=user,r=abc"},
		},
		{
			name: "binding supported by client",
			in:   "y,,n=user,r=abc",
			want: clientFirst{cbFlag: 'y', username: "user", nonce: "abc", header: "y,,", bare: "n=user,r=abc"},
		},
		{
			name: "binding with escaped authzid and username and extensions",
			in:   "p=tls-exporter,a=ju=2Cli=3Det,n=ro=3Dme=2Co,r=a+/~!,x=1,Y=z=w",
			want: clientFirst{
				cbFlag: 'p', cbName: "tls-exporter", authzid: "ju,li=et", username: "ro=me,o",
				nonce: "a+/~!", ext: []string{"x=1", "Y=z=w"},
				header: "p=tls-exporter,a=ju=2Cli=3Det,", bare: "n=ro=3Dme=2Co,r=a+/~!,x=1,Y=z=w",
			},
		},
		{
			name: "UTF-8 username",
			in:   "n,,n=jüliet,r=abc",
			want: clientFirst{cbFlag: 'n', username: "jüliet", nonce: "abc", header: "n,,", bare: "n=jüliet,r=abc"},
		},
	}
	for _, tc := range valid {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseClientFirst(tc.in)
			if err != nil {
				t.Fatalf("parseClientFirst(%q) error %v", tc.in, err)
			}
			if d := cmp.Diff(tc.want, got, cmp.AllowUnexported(clientFirst{})); d != "" {
				t.Errorf("parseClientFirst(%q) mismatch (-want +got):\n%s", tc.in, d)
			}
			if enc := string(appendClientFirst(nil, &got)); enc != tc.in {
				t.Errorf("re-encoded = %q, want %q", enc, tc.in)
			}
		})
	}

	invalid := []struct{ name, in string }{
		{"empty", ""},
		{"unknown flag", "x,,n=u,r=a"},
		{"nonstandard F flag", "F,n,,n=u,r=a"},
		{"empty cb-name", "p=,,n=u,r=a"},
		{"bad cb-name", "p=tls unique,,n=u,r=a"},
		{"flag only", "n"},
		{"header only", "n,,"},
		{"missing second comma", "n,n=u,r=a"},
		{"empty authzid", "n,a=,n=u,r=a"},
		{"authzid without a=", "n,b=x,n=u,r=a"},
		{"bad authzid escape", "n,a=x=41,n=u,r=a"},
		{"reserved m", "n,,m=ext,n=u,r=a"},
		{"nonce before username", "n,,r=a,n=u"},
		{"missing nonce", "n,,n=u"},
		{"empty username", "n,,n=,r=a"},
		{"lower-case escape", "n,,n=u=2c,r=a"},
		{"dangling equals", "n,,n=u=,r=a"},
		{"NUL in username", "n,,n=u\x00,r=a"},
		{"invalid UTF-8 username", "n,,n=\xff,r=a"},
		{"space in nonce", "n,,n=u,r=a b"},
		{"DEL in nonce", "n,,n=u,r=a\x7f"},
		{"non-ASCII nonce", "n,,n=u,r=é"},
		{"empty nonce", "n,,n=u,r="},
		{"nonce too long", "n,,n=u,r=" + strings.Repeat("a", maxClientNonceLen+1)},
		{"repeated nonce", "n,,n=u,r=abc,r=def"},
		{"repeated username", "n,,n=u,r=abc,n=x"},
		{"m after nonce", "n,,n=u,r=abc,m=x"},
		{"duplicate extension", "n,,n=u,r=abc,x=1,x=2"},
		{"trailing comma", "n,,n=u,r=abc,"},
		{"empty extension value", "n,,n=u,r=abc,x="},
		{"non-alpha extension", "n,,n=u,r=abc,1=x"},
		{"extension without equals", "n,,n=u,r=abc,xyz"},
		{"too many extensions", "n,,n=u,r=abc,b=1,d=1,f=1,g=1,h=1,j=1,k=1,l=1,o=1"},
		{"too long", "n,,n=" + strings.Repeat("u", maxMessageLen) + ",r=a"},
	}
	for _, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseClientFirst(tc.in)
			if err == nil {
				t.Fatalf("parseClientFirst(%q) = %+v, want malformed-request", tc.in, got)
			}
			wantCondition(t, err, MalformedRequest)
		})
	}
}

func TestParseClientFinal(t *testing.T) {
	valid := []struct {
		name string
		in   string
		want clientFinal
	}{
		{
			name: "RFC 5802 example",
			in:   "c=biws,r=abc,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
			want: clientFinal{
				cbind: []byte("n,,"), nonce: "abc", proof: mustB64(t, "v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="),
				withoutProof: "c=biws,r=abc",
			},
		},
		{
			name: "extensions before the proof",
			in:   "c=eSws,r=abc,x=1,z=a=b,p=AAAA",
			want: clientFinal{
				cbind: []byte("y,,"), nonce: "abc", ext: []string{"x=1", "z=a=b"}, proof: []byte{0, 0, 0},
				withoutProof: "c=eSws,r=abc,x=1,z=a=b",
			},
		},
	}
	for _, tc := range valid {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseClientFinal(tc.in)
			if err != nil {
				t.Fatalf("parseClientFinal(%q) error %v", tc.in, err)
			}
			if d := cmp.Diff(tc.want, got, cmp.AllowUnexported(clientFinal{})); d != "" {
				t.Errorf("parseClientFinal(%q) mismatch (-want +got):\n%s", tc.in, d)
			}
			if enc := string(appendClientFinal(nil, &got)); enc != tc.in {
				t.Errorf("re-encoded = %q, want %q", enc, tc.in)
			}
		})
	}

	invalid := []struct{ name, in string }{
		{"empty", ""},
		{"missing proof", "c=biws,r=abc"},
		{"proof not last", "c=biws,r=abc,p=AAAA,x=1"},
		{"two proofs", "c=biws,r=abc,p=AAAA,p=AAAA"},
		{"nonce first", "r=abc,c=biws,p=AAAA"},
		{"missing nonce", "c=biws,p=AAAA"},
		{"repeated channel binding", "c=biws,r=abc,c=biws,p=AAAA"},
		{"repeated nonce", "c=biws,r=abc,r=abc,p=AAAA"},
		{"reserved m", "c=biws,r=abc,m=x,p=AAAA"},
		{"short base64", "c=biw,r=abc,p=AAAA"},
		{"non-canonical base64", "c=YR==,r=abc,p=AAAA"},
		{"line break in base64", "c=bi\nws,r=abc,p=AAAA"},
		{"bad proof base64", "c=biws,r=abc,p=AAA"},
		{"empty proof", "c=biws,r=abc,p="},
		{"empty channel binding", "c=,r=abc,p=AAAA"},
		{"non-printable nonce", "c=biws,r=a\tb,p=AAAA"},
		{"trailing comma", "c=biws,r=abc,p=AAAA,"},
		{"too long", "c=biws,r=abc,x=" + strings.Repeat("v", maxMessageLen) + ",p=AAAA"},
	}
	for _, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseClientFinal(tc.in)
			if err == nil {
				t.Fatalf("parseClientFinal(%q) = %+v, want malformed-request", tc.in, got)
			}
			wantCondition(t, err, MalformedRequest)
		})
	}
}

func TestParseServerFirst(t *testing.T) {
	valid := []struct {
		name string
		in   string
		want serverFirst
	}{
		{
			name: "RFC 5802 example",
			in:   "r=abcdef,s=QSXCR+Q6sek8bf92,i=4096",
			want: serverFirst{nonce: "abcdef", salt: mustB64(t, "QSXCR+Q6sek8bf92"), iterations: 4096},
		},
		{
			name: "extension",
			in:   "r=abcdef,s=QSXCR+Q6sek8bf92,i=10000,d=xyz",
			want: serverFirst{nonce: "abcdef", salt: mustB64(t, "QSXCR+Q6sek8bf92"), iterations: 10000, ext: []string{"d=xyz"}},
		},
	}
	for _, tc := range valid {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseServerFirst(tc.in)
			if err != nil {
				t.Fatalf("parseServerFirst(%q) error %v", tc.in, err)
			}
			if d := cmp.Diff(tc.want, got, cmp.AllowUnexported(serverFirst{})); d != "" {
				t.Errorf("parseServerFirst(%q) mismatch (-want +got):\n%s", tc.in, d)
			}
			if enc := string(appendServerFirst(nil, &got)); enc != tc.in {
				t.Errorf("re-encoded = %q, want %q", enc, tc.in)
			}
		})
	}
	invalid := []struct{ name, in string }{
		{"empty", ""},
		{"reserved m", "m=x,r=abc,s=QSXCR+Q6sek8bf92,i=4096"},
		{"missing salt", "r=abc,i=4096"},
		{"empty salt", "r=abc,s=,i=4096"},
		{"too few iterations", "r=abc,s=QSXCR+Q6sek8bf92,i=4095"},
		{"too many iterations", "r=abc,s=QSXCR+Q6sek8bf92,i=1000001"},
		{"leading zero", "r=abc,s=QSXCR+Q6sek8bf92,i=04096"},
		{"signed count", "r=abc,s=QSXCR+Q6sek8bf92,i=+4096"},
		{"overflowing count", "r=abc,s=QSXCR+Q6sek8bf92,i=99999999999999999999"},
		{"order", "s=QSXCR+Q6sek8bf92,r=abc,i=4096"},
		{"repeated salt", "r=abc,s=QSXCR+Q6sek8bf92,i=4096,s=QSXCR+Q6sek8bf92"},
	}
	for _, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseServerFirst(tc.in)
			if !errors.Is(err, ErrServerMessage) {
				t.Fatalf("parseServerFirst(%q) = %+v, %v; want ErrServerMessage", tc.in, got, err)
			}
		})
	}
}

func TestParseServerFinal(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    serverFinal
		wantErr bool
	}{
		{name: "verifier", in: "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=", want: serverFinal{verifier: mustB64(t, "rmF9pqV8S7suAoZWja4dJRkFsKQ=")}},
		{name: "error", in: "e=invalid-proof", want: serverFinal{err: "invalid-proof"}},
		{name: "verifier and extension", in: "v=AAAA,x=y", want: serverFinal{verifier: []byte{0, 0, 0}, ext: []string{"x=y"}}},
		{name: "empty", in: "", wantErr: true},
		{name: "empty error", in: "e=", wantErr: true},
		{name: "bad base64", in: "v=AAA", wantErr: true},
		{name: "unknown attribute", in: "x=AAAA", wantErr: true},
		{name: "repeated verifier", in: "v=AAAA,v=AAAA", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseServerFinal(tc.in)
			if tc.wantErr {
				if !errors.Is(err, ErrServerMessage) {
					t.Fatalf("parseServerFinal(%q) = %+v, %v; want ErrServerMessage", tc.in, got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseServerFinal(%q) error %v", tc.in, err)
			}
			if d := cmp.Diff(tc.want, got, cmp.AllowUnexported(serverFinal{})); d != "" {
				t.Errorf("parseServerFinal(%q) mismatch (-want +got):\n%s", tc.in, d)
			}
		})
	}
}

func TestParsePlain(t *testing.T) {
	valid := []struct {
		name string
		in   string
		want plainMessage
	}{
		{"no authzid", "\x00juliet\x00pencil", plainMessage{authcid: "juliet", passwd: "pencil"}},
		{"authzid", "romeo@example.net\x00juliet\x00pen cil", plainMessage{authzid: "romeo@example.net", authcid: "juliet", passwd: "pen cil"}},
		{"UTF-8", "\x00jüliet\x00pässwörd", plainMessage{authcid: "jüliet", passwd: "pässwörd"}},
	}
	for _, tc := range valid {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parsePlain(tc.in)
			if err != nil {
				t.Fatalf("parsePlain error %v", err)
			}
			if d := cmp.Diff(tc.want, got, cmp.AllowUnexported(plainMessage{})); d != "" {
				t.Errorf("parsePlain mismatch (-want +got):\n%s", d)
			}
			if enc := string(appendPlain(nil, &got)); enc != tc.in {
				t.Errorf("re-encoded = %q, want %q", enc, tc.in)
			}
		})
	}
	invalid := []struct{ name, in string }{
		{"empty", ""},
		{"no NUL", "julietpencil"},
		{"one NUL", "juliet\x00pencil"},
		{"empty authcid", "\x00\x00pencil"},
		{"empty password", "\x00juliet\x00"},
		{"three NULs", "\x00juliet\x00pen\x00cil"},
		{"invalid UTF-8", "\x00juliet\x00\xffpencil"},
		{"too long", "\x00juliet\x00" + strings.Repeat("p", maxMessageLen)},
	}
	for _, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parsePlain(tc.in)
			wantCondition(t, err, MalformedRequest)
			if strings.Contains(err.Error(), "pen") {
				t.Errorf("error %q echoes the password", err)
			}
		})
	}
}

func mustB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
