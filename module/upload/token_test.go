package upload

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

var testSecret = bytes.Repeat([]byte{7}, 32)

func TestToken(t *testing.T) {
	slot := File{ID: "AAAAAAAAAAAAAAAAAAAAAA", Size: 1234, Type: "image/jpeg", Expires: t0.Add(time.Minute)}
	tok := signToken(testSecret, slot)
	if len(tok) != tokenLen {
		t.Fatalf("token length %d, want %d", len(tok), tokenLen)
	}
	other := func(edit func(*File)) File {
		f := slot
		edit(&f)
		return f
	}
	tests := []struct {
		name   string
		secret []byte
		tok    string
		slot   File
		now    time.Time
		want   tokenResult
	}{
		{"valid", testSecret, tok, slot, t0, tokenValid},
		{"valid at the last second", testSecret, tok, slot, t0.Add(time.Minute), tokenValid},
		{"expired", testSecret, tok, slot, t0.Add(time.Minute + time.Second), tokenExpired},
		{"other ID", testSecret, tok, other(func(f *File) { f.ID = "BAAAAAAAAAAAAAAAAAAAAA" }), t0, tokenInvalid},
		{"other size", testSecret, tok, other(func(f *File) { f.Size++ }), t0, tokenInvalid},
		{"other type", testSecret, tok, other(func(f *File) { f.Type = "text/html" }), t0, tokenInvalid},
		{"other secret", bytes.Repeat([]byte{8}, 32), tok, slot, t0, tokenInvalid},
		{"stretched expiry", testSecret, signToken(testSecret, other(func(f *File) { f.Expires = f.Expires.Add(time.Hour) })), slot, t0, tokenValid},
		{"empty", testSecret, "", slot, t0, tokenInvalid},
		{"truncated", testSecret, tok[:len(tok)-1], slot, t0, tokenInvalid},
		{"padded", testSecret, tok + "=", slot, t0, tokenInvalid},
		{"flipped MAC", testSecret, tok[:len(tok)-2] + flip(tok[len(tok)-2]) + tok[len(tok)-1:], slot, t0, tokenInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := verifyToken(tc.secret, tc.tok, tc.slot, tc.now); got != tc.want {
				t.Errorf("verifyToken = %d, want %d", got, tc.want)
			}
		})
	}
}

// flip changes one base64url character.
func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

// FuzzToken: no string but the slot's own token verifies for it, and
// parsing never panics.
func FuzzToken(f *testing.F) {
	slot := File{ID: "AAAAAAAAAAAAAAAAAAAAAA", Size: 1, Type: "a/b", Expires: t0}
	good := signToken(testSecret, slot)
	f.Add(good)
	f.Add(strings.Repeat("A", tokenLen))
	f.Add("")
	f.Add(good[:10])
	f.Fuzz(func(t *testing.T, s string) {
		if _, ok := parseToken(s); ok && len(s) != tokenLen {
			t.Fatalf("parseToken accepted %d characters", len(s))
		}
		if verifyToken(testSecret, s, slot, t0) != tokenInvalid && s != good {
			t.Fatalf("a forged token %q verifies", s)
		}
	})
}

func BenchmarkVerifyToken(b *testing.B) {
	slot := File{ID: "AAAAAAAAAAAAAAAAAAAAAA", Size: 1234, Type: "image/jpeg", Expires: t0.Add(time.Minute)}
	tok := signToken(testSecret, slot)
	b.ReportAllocs()
	for b.Loop() {
		if verifyToken(testSecret, tok, slot, t0) != tokenValid {
			b.Fatal("invalid")
		}
	}
}
