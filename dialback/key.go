package dialback

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// Keyer makes and checks dialback keys (XEP-0185 §2):
//
//	key = HMAC-SHA256( SHA256(Secret), { Receiving Server, ' ', Originating Server, ' ', Stream ID } )
//
// written in lower-case hex. As in the XEP's worked example (and in
// Prosody and ejabberd), the HMAC key is the hex form of SHA256(Secret).
// Because the key depends only on the secret and its three inputs, the
// Authoritative Server needs no memory of the keys it handed out: it
// recomputes one to answer a <db:verify/>. A Keyer is immutable and safe
// for concurrent use; it never exposes the secret or a key except as the
// return value of [Keyer.Key].
type Keyer struct {
	mac []byte // hex(SHA256(secret))
}

// NewKeyer returns a Keyer for the server secret. The secret must stay the
// same while keys made with it may still be verified; a restart with a new
// secret only makes pending dialbacks fail once.
func NewKeyer(secret []byte) *Keyer {
	sum := sha256.Sum256(secret)
	return &Keyer{mac: []byte(hex.EncodeToString(sum[:]))}
}

// Key returns the dialback key the Originating Server (originating, one of
// ours) sends to the Receiving Server (receiving) on the stream whose
// response header carried streamID.
func (k *Keyer) Key(receiving, originating, streamID string) string {
	return hex.EncodeToString(k.sum(receiving, originating, streamID))
}

// Check reports whether key is the key for the three inputs. The
// comparison takes the same time whatever the key, so that a forger learns
// nothing from how long a refusal takes.
func (k *Keyer) Check(receiving, originating, streamID, key string) bool {
	want := k.sum(receiving, originating, streamID)
	var got [sha256.Size]byte
	// A key of the wrong length or with non-hex digits is invalid; decode
	// into a fixed buffer so the comparison below stays constant-time.
	if len(key) != hex.EncodedLen(len(got)) {
		return false
	}
	if _, err := hex.Decode(got[:], []byte(key)); err != nil {
		return false
	}
	return hmac.Equal(got[:], want)
}

func (k *Keyer) sum(receiving, originating, streamID string) []byte {
	m := hmac.New(sha256.New, k.mac)
	m.Write([]byte(receiving))
	m.Write([]byte{' '})
	m.Write([]byte(originating))
	m.Write([]byte{' '})
	m.Write([]byte(streamID))
	return m.Sum(nil)
}
