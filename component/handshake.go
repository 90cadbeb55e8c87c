package component

import (
	"crypto/sha1" //nolint:gosec // XEP-0114 §3 defines the handshake with SHA-1.
	"crypto/subtle"
	"encoding/hex"
	"strings"
)

// handshakeOK reports whether text, the character data of a component's
// <handshake/>, proves that it knows secret: it must be the hex SHA-1 of
// our stream id followed by the secret (XEP-0114 §3). XEP-0114 asks for
// lowercase hex; uppercase is accepted too, as Prosody does. The digests
// are compared in constant time, so that the time an answer takes tells
// nothing about how close a guess came.
func handshakeOK(text, streamID, secret string) bool {
	want := handshake(streamID, secret)
	var got [sha1.Size]byte
	// Only the length shows in the time taken, and it is public.
	t := strings.TrimSpace(text)
	if len(t) != hex.EncodedLen(sha1.Size) {
		return false
	}
	if _, err := hex.Decode(got[:], []byte(t)); err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// handshake is the digest a component sends for streamID and secret. The
// two are concatenated as they are: the XML escaping XEP-0114 mentions
// applies to neither our stream ids (base64url) nor, in every
// implementation we know (Prosody, ejabberd, slixmpp, biboumi), secrets.
func handshake(streamID, secret string) [sha1.Size]byte {
	return sha1.Sum([]byte(streamID + secret)) //nolint:gosec // see the import
}
