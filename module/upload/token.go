package upload

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// A token authorises the one PUT of a slot. It travels in the slot's
// Authorization header (XEP-0363 §4 lets the service add headers the
// client MUST send with the PUT), as "Bearer " and the unpadded base64url
// encoding of
//
//	version (1 byte) | expiry (Unix seconds, u64 big-endian) | MAC (32 bytes)
//
// where MAC is HMAC-SHA256, keyed with the server's upload secret, over a
// context string, the version, the slot ID, the declared size, the
// declared media type and the expiry. A token therefore names everything
// the PUT must match, cannot be moved to another slot or stretched past
// its time, and needs no storage of its own; the slot's record (one body
// per slot) does the rest.

const (
	tokenVersion = 1
	tokenBytes   = 1 + 8 + sha256.Size
	// tokenContext separates these MACs from any other use of the secret.
	tokenContext = "roost upload slot\x00"
)

// tokenLen is the length of an encoded token.
var tokenLen = base64.RawURLEncoding.EncodedLen(tokenBytes)

// mac computes a token's MAC.
func mac(secret []byte, version byte, id string, size int64, typ string, expires int64) []byte {
	h := hmac.New(sha256.New, secret)
	var buf [8]byte
	h.Write([]byte(tokenContext))
	h.Write([]byte{version})
	// Variable-length fields are length-prefixed, so that no two slots
	// hash the same bytes.
	for _, s := range []string{id, typ} {
		binary.BigEndian.PutUint64(buf[:], uint64(len(s)))
		h.Write(buf[:])
		h.Write([]byte(s))
	}
	binary.BigEndian.PutUint64(buf[:], uint64(size))
	h.Write(buf[:])
	binary.BigEndian.PutUint64(buf[:], uint64(expires))
	h.Write(buf[:])
	return h.Sum(nil)
}

// signToken returns the token of slot f, valid until f.Expires.
func signToken(secret []byte, f File) string {
	var b [tokenBytes]byte
	b[0] = tokenVersion
	exp := f.Expires.Unix()
	binary.BigEndian.PutUint64(b[1:9], uint64(exp))
	copy(b[9:], mac(secret, tokenVersion, f.ID, f.Size, f.Type, exp))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// parsedToken is a token's content, not yet verified.
type parsedToken struct {
	expires int64
	mac     []byte
}

// parseToken decodes a token; ok is false for anything signToken would not
// produce.
func parseToken(s string) (t parsedToken, ok bool) {
	if len(s) != tokenLen {
		return parsedToken{}, false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != tokenBytes || b[0] != tokenVersion {
		return parsedToken{}, false
	}
	return parsedToken{expires: int64(binary.BigEndian.Uint64(b[1:9])), mac: b[9:]}, true
}

// tokenResult is the outcome of checking a token against a slot.
type tokenResult int

const (
	tokenValid   tokenResult = iota
	tokenInvalid             // malformed, or not this slot's
	tokenExpired             // this slot's, but too late
)

// verifyToken checks s against slot f at now. The MAC is compared in
// constant time (hmac.Equal), and before the expiry, so that a stale
// token and a forged one cannot be told apart by timing.
func verifyToken(secret []byte, s string, f File, now time.Time) tokenResult {
	t, ok := parseToken(s)
	if !ok || !hmac.Equal(t.mac, mac(secret, tokenVersion, f.ID, f.Size, f.Type, t.expires)) {
		return tokenInvalid
	}
	if now.Unix() > t.expires {
		return tokenExpired
	}
	return tokenValid
}
