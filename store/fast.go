package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// FAST tokens (XEP-0484) live in the fasttokens bucket, keyed
// user \0 client \0 slot. client names one client of the account (the
// caller derives it from the client's SASL2 user-agent id); slot is 'n' for
// a token issued and not used yet and 'c' for the one in use, the two
// slots XEP-0484 §6.1 suggests so that a token sent on a connection that
// broke before the client got it does not lock the client out. A record
// keeps the token's HMAC key (its SHA-256), never the token.

// Slots of a client's tokens.
const (
	slotNew     = 'n'
	slotCurrent = 'c'
)

// fastFormat is the first byte of a token record.
const fastFormat = 1

// maxClientLen bounds the client name, which the caller makes from a hash.
const maxClientLen = 256

// FastToken is one FAST token as kept.
type FastToken struct {
	// Mechanism is the HT mechanism the token was issued for; it may not
	// be used with another (XEP-0484 §3.4).
	Mechanism string
	// Key is the HMAC key of the token (sasl.HTKey), not the token.
	Key     []byte
	Expires time.Time
	// Count is the highest replay counter the client used the token with
	// (XEP-0484 §3.4), 0 while it sent none.
	Count uint64
}

// FastResult is what UseFastToken made of a login.
type FastResult int

// Results of UseFastToken.
const (
	// FastUnknown: no token of the client matched.
	FastUnknown FastResult = iota
	// FastAccepted: a token matched and is now the client's current one.
	FastAccepted
	// FastExpired: the matching token had expired; it is gone now.
	FastExpired
	// FastReplayed: the count was not above the highest one used with
	// the token (XEP-0484 §3.4).
	FastReplayed
)

func encodeFastToken(t FastToken) []byte {
	b := make([]byte, 0, 1+2+len(t.Mechanism)+2+len(t.Key)+timeLen+binary.MaxVarintLen64)
	b = append(b, fastFormat)
	b = appendBytes(b, []byte(t.Mechanism))
	b = appendBytes(b, t.Key)
	b = appendTime(b, t.Expires)
	return binary.AppendUvarint(b, t.Count)
}

// decodeFastToken parses encodeFastToken's record, copying it.
func decodeFastToken(v []byte) (FastToken, error) {
	if len(v) < 1 || v[0] != fastFormat {
		return FastToken{}, fmt.Errorf("decode FAST token: %w", ErrCorrupt)
	}
	r := reader{b: bytes.Clone(v[1:])}
	t := FastToken{Mechanism: string(r.bytes()), Key: r.bytes()}
	if r.bad || len(r.b) < timeLen {
		return FastToken{}, fmt.Errorf("decode FAST token: %w", ErrCorrupt)
	}
	exp, err := readTime(r.b)
	if err != nil {
		return FastToken{}, fmt.Errorf("decode FAST token: %w", err)
	}
	t.Expires = exp
	r.b = r.b[timeLen:]
	t.Count = r.uvarint()
	if r.bad || len(r.b) != 0 || t.Mechanism == "" || len(t.Key) == 0 {
		return FastToken{}, fmt.Errorf("decode FAST token: %w", ErrCorrupt)
	}
	return t, nil
}

func checkClient(client string) error {
	if client == "" || len(client) > maxClientLen || bytes.IndexByte([]byte(client), 0) >= 0 {
		return fmt.Errorf("check client %.40q: %w", client, ErrInvalid)
	}
	return nil
}

func fastKey(user, client string, slot byte) []byte {
	k := userKey(user, client)
	return append(k, 0, slot)
}

// PutFastToken gives user's client a new token, in place of one it was
// given and has not used yet (XEP-0484 §3.5: a server should invalidate
// tokens that were never used once it issues another). The token in use
// stays valid until the new one is used. Expired tokens of the user's
// other clients are dropped on the way. It fails with ErrNotFound when
// user has no account.
func (s *Store) PutFastToken(user, client string, t FastToken, now time.Time) error {
	if err := checkUser(user); err != nil {
		return fmt.Errorf("put FAST token: %w", err)
	}
	if err := checkClient(client); err != nil {
		return fmt.Errorf("put FAST token: %w", err)
	}
	if t.Mechanism == "" || len(t.Key) == 0 || len(t.Mechanism) > 64 || len(t.Key) > 64 {
		return fmt.Errorf("put FAST token: %w", ErrInvalid)
	}
	rec := encodeFastToken(t)
	err := s.db.Update(func(tx *bbolt.Tx) error {
		if !accountExists(tx, user) {
			return fmt.Errorf("account %.40q: %w", user, ErrNotFound)
		}
		b := tx.Bucket([]byte(bucketFast))
		if err := dropExpiredTokens(b, user, now); err != nil {
			return err
		}
		return b.Put(fastKey(user, client, slotNew), rec)
	})
	if err != nil {
		return fmt.Errorf("put FAST token: %w", err)
	}
	return nil
}

// dropExpiredTokens removes user's tokens that expired before now: a
// client that never came back leaves nothing behind for long.
func dropExpiredTokens(b *bbolt.Bucket, user string, now time.Time) error {
	prefix := userPrefix(user)
	var gone [][]byte
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		t, err := decodeFastToken(v)
		if err != nil || t.Expires.Before(now) {
			gone = append(gone, bytes.Clone(k))
		}
	}
	for _, k := range gone {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// fastUse is the decision UseFastToken takes in a transaction.
type fastUse struct {
	result FastResult
	slot   byte
	token  FastToken
}

// write reports whether applying u changes the bucket: a new token
// becomes the current one, an expired one goes, a count is recorded.
func (u fastUse) write(count uint64) bool {
	switch u.result {
	case FastExpired:
		return true
	case FastAccepted:
		return u.slot == slotNew || count > 0
	}
	return false
}

// decideFastUse looks for the token of user's client that match accepts,
// first in the new slot, then in the current one (XEP-0484 §6.1), and
// judges it.
func decideFastUse(b *bbolt.Bucket, user, client string, count uint64, now time.Time, match func(FastToken) bool) (fastUse, error) {
	for _, slot := range []byte{slotNew, slotCurrent} {
		v := b.Get(fastKey(user, client, slot))
		if v == nil {
			continue
		}
		t, err := decodeFastToken(v)
		if err != nil {
			return fastUse{}, err
		}
		if !match(t) {
			continue
		}
		u := fastUse{slot: slot, token: t}
		switch {
		case !now.Before(t.Expires):
			u.result = FastExpired
		case count > 0 && count <= t.Count:
			u.result = FastReplayed
		default:
			u.result = FastAccepted
		}
		return u, nil
	}
	return fastUse{}, nil
}

// applyFastUse writes u: an expired token is deleted; an accepted one
// records count and, if it was the new token, becomes the current one,
// replacing the older token (XEP-0484 §3.5: using a token invalidates the
// client's tokens issued before it).
func applyFastUse(b *bbolt.Bucket, user, client string, count uint64, u fastUse) error {
	key := fastKey(user, client, u.slot)
	switch u.result {
	case FastExpired:
		return b.Delete(key)
	case FastAccepted:
		t := u.token
		if count > 0 {
			t.Count = count
		}
		if u.slot == slotNew {
			if err := b.Delete(key); err != nil {
				return err
			}
		}
		return b.Put(fastKey(user, client, slotCurrent), encodeFastToken(t))
	}
	return nil
}

// UseFastToken finds the token of user's client that match accepts
// (match checks the mechanism and the client's proof) and records its
// use: see FastResult. count is the client's replay counter (XEP-0484
// §3.4), 0 if it sent none; a count that is not above the highest one
// used with the token is a replay. The returned token is the one that
// matched, with the count recorded.
//
// A login that changes nothing (the current token, no count) is only a
// read; the others are written in a batch, so that logins arriving
// together share a commit. match may be called more than once for the
// same token.
func (s *Store) UseFastToken(user, client string, count uint64, now time.Time, match func(FastToken) bool) (FastToken, FastResult, error) {
	if err := checkUser(user); err != nil {
		return FastToken{}, FastUnknown, fmt.Errorf("use FAST token: %w", err)
	}
	if err := checkClient(client); err != nil {
		return FastToken{}, FastUnknown, fmt.Errorf("use FAST token: %w", err)
	}
	var u fastUse
	err := s.db.View(func(tx *bbolt.Tx) error {
		var err error
		u, err = decideFastUse(tx.Bucket([]byte(bucketFast)), user, client, count, now, match)
		return err
	})
	if err == nil && u.write(count) {
		// Decided again in the writing transaction: another login may
		// have used the token or its count since.
		err = s.db.Batch(func(tx *bbolt.Tx) error {
			b := tx.Bucket([]byte(bucketFast))
			var err error
			if u, err = decideFastUse(b, user, client, count, now, match); err != nil {
				return err
			}
			return applyFastUse(b, user, client, count, u)
		})
	}
	if err != nil {
		return FastToken{}, FastUnknown, fmt.Errorf("use FAST token: %w", err)
	}
	if u.result == FastAccepted && count > 0 {
		u.token.Count = count
	}
	return u.token, u.result, nil
}

// DeleteFastTokens removes the tokens of user's client (XEP-0484 §3.6: the
// client asked to invalidate its token).
func (s *Store) DeleteFastTokens(user, client string) error {
	if err := checkUser(user); err != nil {
		return fmt.Errorf("delete FAST tokens: %w", err)
	}
	if err := checkClient(client); err != nil {
		return fmt.Errorf("delete FAST tokens: %w", err)
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(bucketFast))
		for _, slot := range []byte{slotNew, slotCurrent} {
			if err := b.Delete(fastKey(user, client, slot)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete FAST tokens: %w", err)
	}
	return nil
}

// FastTokenCount returns how many tokens user's clients hold.
func (s *Store) FastTokenCount(user string) (int, error) {
	if err := checkUser(user); err != nil {
		return 0, fmt.Errorf("count FAST tokens: %w", err)
	}
	n := 0
	err := s.db.View(func(tx *bbolt.Tx) error {
		n = countPrefix(tx.Bucket([]byte(bucketFast)), userPrefix(user))
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("count FAST tokens: %w", err)
	}
	return n, nil
}
