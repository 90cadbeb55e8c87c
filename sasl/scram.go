package sasl

import (
	"encoding/base64"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file holds the SCRAM message syntax of RFC 5802 §7: parsers for what
// a server receives (client-first-message, client-final-message) and what a
// client receives (server-first-message, server-final-message), and the
// matching encoders. Parsing is strict: attributes in the fixed order of §5,
// no empty values, canonical base64, only "=2C" and "=3D" escapes. A message
// the parsers accept is re-encoded byte for byte by the encoders, which the
// fuzz targets check.

// Limits on what a peer may send. An XMPP username is at most 1023 bytes
// (RFC 7622 §3.3), three times that once escaped; nonces are tens of bytes.
// Anything longer is an attack or a bug, not a client.
const (
	maxMessageLen     = 8192
	maxNonceLen       = 512
	maxClientNonceLen = 256
	maxCBNameLen      = 64
	maxExtensions     = 8
)

// clientFirst is a parsed client-first-message:
//
//	client-first-message = gs2-header client-first-message-bare
//	gs2-header  = gs2-cbind-flag "," [ authzid ] ","
//	gs2-cbind-flag = ("p=" cb-name) / "n" / "y"
//	client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
type clientFirst struct {
	cbFlag   byte   // 'n', 'y' or 'p'
	cbName   string // cb-name, set iff cbFlag == 'p'
	authzid  string // decoded saslname, "" if absent
	username string // decoded saslname, not yet PRECIS-prepared
	nonce    string // c-nonce
	ext      []string

	// header and bare are the two halves of the message as received: the
	// header goes into the channel-binding check, the bare part into
	// AuthMessage (RFC 5802 §3).
	header, bare string
}

// clientFinal is a parsed client-final-message:
//
//	client-final-message-without-proof = channel-binding "," nonce ["," extensions]
//	client-final-message = client-final-message-without-proof "," proof
type clientFinal struct {
	cbind        []byte // decoded "c=": gs2-header followed by cbind-data
	nonce        string
	ext          []string
	proof        []byte
	withoutProof string
}

// serverFirst is a parsed server-first-message:
//
//	server-first-message = [reserved-mext ","] nonce "," salt "," iteration-count ["," extensions]
type serverFirst struct {
	nonce      string
	salt       []byte
	iterations int
	ext        []string
}

// serverFinal is a parsed server-final-message:
//
//	server-final-message = (server-error / verifier) ["," extensions]
type serverFinal struct {
	err      string // server-error-value, "" if a verifier was sent
	verifier []byte
	ext      []string
}

// scanner walks the comma-separated fields of a SCRAM message. No value of
// any attribute may contain a comma (RFC 5802 §7: value-safe-char,
// printable and base64 all exclude it), so splitting on commas is exact.
type scanner struct {
	rest string
	more bool // whether another field follows
}

func newScanner(s string) scanner { return scanner{rest: s, more: true} }

// field returns the next raw field.
func (sc *scanner) field() (string, bool) {
	if !sc.more {
		return "", false
	}
	f, rest, found := strings.Cut(sc.rest, ",")
	sc.rest, sc.more = rest, found
	return f, true
}

// attr returns the next field as attr-val (ALPHA "=" 1*value-char) along
// with the raw field.
func (sc *scanner) attr() (name byte, value, raw string, ok bool) {
	f, ok := sc.field()
	if !ok || len(f) < 3 || f[1] != '=' || !isAlpha(f[0]) {
		return 0, "", f, false
	}
	return f[0], f[2:], f, true
}

// extensions reads the remaining fields as extension attributes. The
// attribute names SCRAM itself defines (§5.1) cannot appear there: a second
// "r=" or an "n=" after the nonce is a repeated or out-of-order attribute,
// not an extension. stop, if non-zero, ends the list at that attribute
// (the proof of a client-final-message) and returns its value and raw field.
func (sc *scanner) extensions(stop byte) (ext []string, value, raw string, ok bool) {
	for sc.more {
		name, v, f, ok := sc.attr()
		if !ok {
			return nil, "", "", false
		}
		if name == stop {
			return ext, v, f, true
		}
		if reservedAttr(name) || len(ext) == maxExtensions || !validValue(v) {
			return nil, "", "", false
		}
		for _, e := range ext {
			if e[0] == name {
				return nil, "", "", false
			}
		}
		ext = append(ext, f)
	}
	return ext, "", "", stop == 0
}

// parseClientFirst parses a client-first-message (RFC 5802 §5.1, §7).
// Every error is a malformed-request *Error.
func parseClientFirst(msg string) (clientFirst, error) {
	var cf clientFirst
	if len(msg) > maxMessageLen {
		return cf, malformed("message too long")
	}
	sc := newScanner(msg)

	// gs2-cbind-flag (RFC 5802 §7, RFC 5801 §4). The "F" non-standard flag
	// of RFC 5801 is not part of SCRAM's gs2-header.
	flag, _ := sc.field()
	switch {
	case flag == "n" || flag == "y":
		cf.cbFlag = flag[0]
	case strings.HasPrefix(flag, "p="):
		if !validCBName(flag[2:]) {
			return cf, malformed("invalid channel binding name")
		}
		cf.cbFlag, cf.cbName = 'p', flag[2:]
	default:
		return cf, malformed("invalid channel binding flag")
	}

	// [ authzid ] ","
	az, _ := sc.field()
	if !sc.more {
		return cf, malformed("incomplete gs2 header")
	}
	if az != "" {
		v, ok := strings.CutPrefix(az, "a=")
		if !ok {
			return cf, malformed("invalid authzid")
		}
		if cf.authzid, ok = decodeSaslname(v); !ok {
			return cf, malformed("invalid authzid encoding")
		}
	}
	cf.header = msg[:len(msg)-len(sc.rest)]
	cf.bare = sc.rest

	name, v, _, ok := sc.attr()
	if ok && name == 'm' {
		// §5.1: "m" is reserved; its presence MUST cause authentication failure.
		return cf, malformed("mandatory extension not supported")
	}
	if !ok || name != 'n' {
		return cf, malformed("expected username")
	}
	if cf.username, ok = decodeSaslname(v); !ok {
		return cf, malformed("invalid username encoding")
	}
	name, v, _, ok = sc.attr()
	// The client's nonce is bounded tighter than nonces in general: the
	// server appends its own part and the sum must stay a valid nonce.
	if !ok || name != 'r' || !validNonce(v) || len(v) > maxClientNonceLen {
		return cf, malformed("invalid nonce")
	}
	cf.nonce = v
	if cf.ext, _, _, ok = sc.extensions(0); !ok {
		return cf, malformed("invalid extension")
	}
	return cf, nil
}

// appendClientFirst encodes cf, ignoring its header and bare fields.
func appendClientFirst(b []byte, cf *clientFirst) []byte {
	b = appendGS2Header(b, cf)
	b = append(b, "n="...)
	b = appendSaslname(b, cf.username)
	b = append(b, ",r="...)
	b = append(b, cf.nonce...)
	return appendExtensions(b, cf.ext)
}

// appendGS2Header encodes the gs2-header of cf.
func appendGS2Header(b []byte, cf *clientFirst) []byte {
	b = append(b, cf.cbFlag)
	if cf.cbFlag == 'p' {
		b = append(b, '=')
		b = append(b, cf.cbName...)
	}
	b = append(b, ',')
	if cf.authzid != "" {
		b = append(b, "a="...)
		b = appendSaslname(b, cf.authzid)
	}
	return append(b, ',')
}

// parseClientFinal parses a client-final-message (RFC 5802 §5.1, §7).
// Every error is a malformed-request *Error.
func parseClientFinal(msg string) (clientFinal, error) {
	var cf clientFinal
	if len(msg) > maxMessageLen {
		return cf, malformed("message too long")
	}
	sc := newScanner(msg)
	name, v, _, ok := sc.attr()
	if !ok || name != 'c' {
		return cf, malformed("expected channel binding")
	}
	if cf.cbind, ok = decodeBase64(v); !ok {
		return cf, malformed("invalid channel binding encoding")
	}
	name, v, _, ok = sc.attr()
	if !ok || name != 'r' || !validNonce(v) {
		return cf, malformed("invalid nonce")
	}
	cf.nonce = v
	// The proof is always the last attribute; extensions sit between the
	// nonce and the proof.
	ext, proof, raw, ok := sc.extensions('p')
	if !ok || sc.more {
		return cf, malformed("invalid extension or missing proof")
	}
	cf.ext = ext
	if cf.proof, ok = decodeBase64(proof); !ok {
		return cf, malformed("invalid proof encoding")
	}
	cf.withoutProof = msg[:len(msg)-len(raw)-1]
	return cf, nil
}

// appendClientFinal encodes cf, ignoring its withoutProof field.
func appendClientFinal(b []byte, cf *clientFinal) []byte {
	b = appendClientFinalWithoutProof(b, cf.cbind, cf.nonce, cf.ext)
	b = append(b, ",p="...)
	return base64.StdEncoding.AppendEncode(b, cf.proof)
}

// appendClientFinalWithoutProof encodes client-final-message-without-proof.
func appendClientFinalWithoutProof(b, cbind []byte, nonce string, ext []string) []byte {
	b = append(b, "c="...)
	b = base64.StdEncoding.AppendEncode(b, cbind)
	b = append(b, ",r="...)
	b = append(b, nonce...)
	return appendExtensions(b, ext)
}

// parseServerFirst parses a server-first-message. Errors wrap ErrServerMessage.
func parseServerFirst(msg string) (serverFirst, error) {
	var sf serverFirst
	if len(msg) > maxMessageLen {
		return sf, serverMessageError("server-first-message", "too long")
	}
	sc := newScanner(msg)
	name, v, _, ok := sc.attr()
	if ok && name == 'm' {
		return sf, serverMessageError("server-first-message", "mandatory extension not supported")
	}
	if !ok || name != 'r' || !validNonce(v) {
		return sf, serverMessageError("server-first-message", "invalid nonce")
	}
	sf.nonce = v
	name, v, _, ok = sc.attr()
	if !ok || name != 's' {
		return sf, serverMessageError("server-first-message", "expected salt")
	}
	if sf.salt, ok = decodeBase64(v); !ok || len(sf.salt) == 0 || len(sf.salt) > maxSaltLen {
		return sf, serverMessageError("server-first-message", "invalid salt")
	}
	name, v, _, ok = sc.attr()
	if !ok || name != 'i' {
		return sf, serverMessageError("server-first-message", "expected iteration count")
	}
	if sf.iterations, ok = parseIterations(v); !ok {
		return sf, serverMessageError("server-first-message", "invalid iteration count")
	}
	if sf.ext, _, _, ok = sc.extensions(0); !ok {
		return sf, serverMessageError("server-first-message", "invalid extension")
	}
	return sf, nil
}

// appendServerFirst encodes sf.
func appendServerFirst(b []byte, sf *serverFirst) []byte {
	b = append(b, "r="...)
	b = append(b, sf.nonce...)
	b = append(b, ",s="...)
	b = base64.StdEncoding.AppendEncode(b, sf.salt)
	b = append(b, ",i="...)
	b = strconv.AppendInt(b, int64(sf.iterations), 10)
	return appendExtensions(b, sf.ext)
}

// parseServerFinal parses a server-final-message. Errors wrap ErrServerMessage.
func parseServerFinal(msg string) (serverFinal, error) {
	var sf serverFinal
	if len(msg) > maxMessageLen {
		return sf, serverMessageError("server-final-message", "too long")
	}
	sc := newScanner(msg)
	name, v, _, ok := sc.attr()
	switch {
	case ok && name == 'e' && validValue(v):
		sf.err = v
	case ok && name == 'v':
		if sf.verifier, ok = decodeBase64(v); !ok {
			return sf, serverMessageError("server-final-message", "invalid verifier encoding")
		}
	default:
		return sf, serverMessageError("server-final-message", "expected verifier or error")
	}
	if sf.ext, _, _, ok = sc.extensions(0); !ok {
		return sf, serverMessageError("server-final-message", "invalid extension")
	}
	return sf, nil
}

// appendExtensions appends "," and each raw extension attribute.
func appendExtensions(b []byte, ext []string) []byte {
	for _, e := range ext {
		b = append(b, ',')
		b = append(b, e...)
	}
	return b
}

// decodeSaslname decodes a saslname (RFC 5802 §7): non-empty UTF-8 without
// NUL, where "=2C" stands for "," and "=3D" for "=". Any other "=" MUST fail
// the authentication (§5.1).
func decodeSaslname(s string) (string, bool) {
	if s == "" || !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
		return "", false
	}
	if strings.IndexByte(s, '=') < 0 {
		return s, true
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", false
		}
		i += 2
	}
	return b.String(), true
}

// appendSaslname appends s with "," and "=" escaped (RFC 5802 §5.1).
func appendSaslname(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ',':
			b = append(b, "=2C"...)
		case '=':
			b = append(b, "=3D"...)
		default:
			b = append(b, s[i])
		}
	}
	return b
}

// decodeBase64 decodes standard padded base64 (RFC 4648 §4), accepting only
// the canonical encoding: no line breaks, zero padding bits. Re-encoding
// gives back the input, so AuthMessage cannot differ between the peers for
// a message both accepted.
func decodeBase64(s string) ([]byte, bool) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, false
	}
	var buf [128]byte
	return b, string(base64.StdEncoding.AppendEncode(buf[:0], b)) == s
}

// validNonce reports whether s is a nonce: 1*printable, where printable is
// %x21-2B / %x2D-7E (RFC 5802 §7).
func validNonce(s string) bool {
	if s == "" || len(s) > maxNonceLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == ',' {
			return false
		}
	}
	return true
}

// validValue reports whether s is 1*value-char (RFC 5802 §7): UTF-8
// without NUL or ",".
func validValue(s string) bool {
	return s != "" && utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 && strings.IndexByte(s, ',') < 0
}

// validCBName reports whether s is a cb-name: 1*(ALPHA / DIGIT / "." / "-")
// (RFC 5802 §7).
func validCBName(s string) bool {
	if s == "" || len(s) > maxCBNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlpha(c) && (c < '0' || c > '9') && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

// parseIterations parses posit-number = %x31-39 *DIGIT (RFC 5802 §7) and
// checks it against [MinIterations, MaxIterations].
func parseIterations(s string) (int, bool) {
	if s == "" || len(s) > 9 || s[0] == '0' {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, n >= MinIterations && n <= MaxIterations
}

// reservedAttr reports whether name is an attribute SCRAM defines (RFC 5802
// §5.1), which therefore cannot be an extension.
func reservedAttr(name byte) bool {
	return strings.IndexByte("aceimnprsv", name) >= 0
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
