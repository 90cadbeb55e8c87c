package sasl

import (
	"strings"
	"unicode/utf8"
)

// plainMessage is a parsed PLAIN message (RFC 4616 §2):
//
//	message = [authzid] UTF8NUL authcid UTF8NUL passwd
type plainMessage struct {
	authzid string // "" if absent
	authcid string
	passwd  string
}

// parsePlain parses a PLAIN message. Every error is a malformed-request
// *Error whose text never echoes the input (it holds a password).
func parsePlain(msg string) (plainMessage, error) {
	var pm plainMessage
	// RFC 4616 §2 asks servers to accept at least 255 octets per field;
	// maxMessageLen allows far more while bounding the PRECIS and PBKDF2
	// work a peer can cause.
	if len(msg) > maxMessageLen {
		return pm, malformed("message too long")
	}
	if !utf8.ValidString(msg) {
		return pm, malformed("invalid UTF-8")
	}
	authzid, rest, ok := strings.Cut(msg, "\x00")
	if !ok {
		return pm, malformed("missing authcid")
	}
	authcid, passwd, ok := strings.Cut(rest, "\x00")
	if !ok {
		return pm, malformed("missing password")
	}
	// authcid = 1*SAFE, passwd = 1*SAFE, SAFE excludes NUL.
	if authcid == "" || passwd == "" || strings.IndexByte(passwd, 0) >= 0 {
		return pm, malformed("invalid message")
	}
	return plainMessage{authzid: authzid, authcid: authcid, passwd: passwd}, nil
}

// appendPlain encodes pm.
func appendPlain(b []byte, pm *plainMessage) []byte {
	b = append(b, pm.authzid...)
	b = append(b, 0)
	b = append(b, pm.authcid...)
	b = append(b, 0)
	return append(b, pm.passwd...)
}
