package archive

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"
)

// ID identifies an archived message (XEP-0313 §3, XEP-0359). Seq is the
// message's time in microseconds since the Unix epoch, unique and
// increasing across the server, so that the archive is in time order and
// a lookup is one seek; Tag is random, so that identifiers are
// unpredictable as XEP-0313 §3 requires. On the wire an ID is the 12
// bytes Seq|Tag, big-endian, in unpadded base64url: 16 characters.
type ID struct {
	Seq uint64
	Tag uint32
}

// idLen is the length of an ID on the wire.
const idLen = 16

// ErrBadID is returned by [ParseID] for a string no archive hands out.
var ErrBadID = errors.New("archive: not an archive id")

// IsZero reports whether id is the zero ID, which names no message.
func (id ID) IsZero() bool { return id == ID{} }

// Time returns when the message was archived.
func (id ID) Time() time.Time { return time.UnixMicro(int64(id.Seq)).UTC() }

// String returns the wire form of id.
func (id ID) String() string { return string(id.AppendText(nil)) }

// AppendText appends the wire form of id to b.
func (id ID) AppendText(b []byte) []byte {
	var raw [12]byte
	binary.BigEndian.PutUint64(raw[:8], id.Seq)
	binary.BigEndian.PutUint32(raw[8:], id.Tag)
	return base64.RawURLEncoding.AppendEncode(b, raw[:])
}

// ParseID reads the wire form of an ID. It accepts exactly what
// [ID.String] writes, so that every message has one identifier.
func ParseID(s string) (ID, error) {
	if len(s) != idLen {
		return ID{}, ErrBadID
	}
	var raw [12]byte
	n, err := base64.RawURLEncoding.Strict().Decode(raw[:], []byte(s))
	if err != nil || n != len(raw) {
		return ID{}, ErrBadID
	}
	id := ID{Seq: binary.BigEndian.Uint64(raw[:8]), Tag: binary.BigEndian.Uint32(raw[8:])}
	if id.IsZero() {
		return ID{}, ErrBadID
	}
	return id, nil
}
