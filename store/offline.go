package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

const offlineCountKey = "offline"

func loadOfflineCount(tx *bbolt.Tx, user string) (uint64, error) {
	v := tx.Bucket([]byte(bucketUserState)).Get(userKey(user, offlineCountKey))
	if v == nil {
		return 0, nil
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("decode offline count: %w", ErrCorrupt)
	}
	return binary.BigEndian.Uint64(v), nil
}

func saveOfflineCount(tx *bbolt.Tx, user string, n uint64) error {
	b := tx.Bucket([]byte(bucketUserState))
	if n == 0 {
		return b.Delete(userKey(user, offlineCountKey))
	}
	return b.Put(userKey(user, offlineCountKey), binary.BigEndian.AppendUint64(nil, n))
}

// AppendOffline stores stanza for user, who is offline (XEP-0160), unless
// user already holds limit messages: stored is false then, and always when
// limit <= 0. stamp is when the server received the stanza, for the delayed
// delivery stamp (XEP-0203). Concurrent calls are batched into shared
// transactions. It fails with ErrNotFound when user has no account.
func (s *Store) AppendOffline(user string, stanza []byte, stamp time.Time, limit int) (stored bool, err error) {
	if err := checkUser(user); err != nil {
		return false, fmt.Errorf("append offline message: %w", err)
	}
	rec := appendTime(make([]byte, 0, timeLen+len(stanza)), stamp)
	rec = append(rec, stanza...)
	err = s.db.Batch(s.appendOfflineTx(user, rec, limit, &stored))
	if err != nil {
		return false, fmt.Errorf("append offline message: %w", err)
	}
	return stored, nil
}

// appendOfflineTx returns AppendOffline's transaction function, which
// stores the record rec (stamp and stanza) and reports whether it did in
// *stored. Batch may run it again after rolling back the transaction it ran
// in, so it sets *stored afresh on every run and has no effect outside tx.
func (s *Store) appendOfflineTx(user string, rec []byte, limit int, stored *bool) func(*bbolt.Tx) error {
	return func(tx *bbolt.Tx) error {
		*stored = false
		if !accountExists(tx, user) {
			return fmt.Errorf("account %.40q: %w", user, ErrNotFound)
		}
		n, err := loadOfflineCount(tx, user)
		if err != nil {
			return err
		}
		if limit <= 0 || n >= uint64(limit) {
			return nil
		}
		b := tx.Bucket([]byte(bucketOffline))
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		if err := b.Put(seqKey(user, seq), rec); err != nil {
			return err
		}
		if err := saveOfflineCount(tx, user, n+1); err != nil {
			return err
		}
		*stored = true
		return nil
	}
}

// OfflineAfter calls fn with user's offline messages stored after the one
// with seq after (0: from the first), oldest first: as many as fit in
// maxBytes of stanzas, and at least one whatever its size, so that a large
// message never blocks those behind it; all of them when maxBytes <= 0.
// It is how stored messages are handed over in bounded batches: memory
// holds one batch, not everything a user was sent while away
// (docs/security.md). fn runs after the read transaction, on copies; seq
// identifies a message for DeleteOfflineSeqs and for the next call.
func (s *Store) OfflineAfter(user string, after uint64, maxBytes int, fn func(seq uint64, stamp time.Time, stanza []byte) error) error {
	if err := checkUser(user); err != nil {
		return fmt.Errorf("list offline messages: %w", err)
	}
	type entry struct {
		seq    uint64
		stamp  time.Time
		stanza span
	}
	var (
		a    arena
		msgs []entry
	)
	prefix := userPrefix(user)
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket([]byte(bucketOffline)).Cursor()
		size := 0
		for k, v := c.Seek(seqKey(user, after+1)); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if len(k) != len(prefix)+8 {
				return fmt.Errorf("decode offline key: %w", ErrCorrupt)
			}
			if maxBytes > 0 && len(msgs) > 0 && size+len(v)-timeLen > maxBytes {
				break
			}
			stamp, err := readTime(v)
			if err != nil {
				return err
			}
			size += len(v) - timeLen
			msgs = append(msgs, entry{binary.BigEndian.Uint64(k[len(prefix):]), stamp, a.add(v[timeLen:])})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list offline messages: %w", err)
	}
	for _, m := range msgs {
		if err := fn(m.seq, m.stamp, a.bytes(m.stanza)); err != nil {
			return err
		}
	}
	return nil
}

// offlinePage is how much of the stored stanzas Offline holds at a time.
const offlinePage = 1 << 20

// Offline calls fn with user's offline messages, oldest first, reading
// them a page at a time. seq identifies a message for DeleteOfflineSeqs.
func (s *Store) Offline(user string, fn func(seq uint64, stamp time.Time, stanza []byte) error) error {
	var after uint64
	for {
		last := after
		err := s.OfflineAfter(user, after, offlinePage, func(seq uint64, stamp time.Time, stanza []byte) error {
			last = seq
			return fn(seq, stamp, stanza)
		})
		if err != nil || last == after {
			return err
		}
		after = last
	}
}

// DeleteOfflineSeqs removes user's offline messages with the given seqs,
// once they have been delivered. A seq already gone is skipped.
func (s *Store) DeleteOfflineSeqs(user string, seqs []uint64) error {
	if err := checkUser(user); err != nil {
		return fmt.Errorf("delete offline messages: %w", err)
	}
	if len(seqs) == 0 {
		return nil
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(bucketOffline))
		var deleted uint64
		for _, seq := range seqs {
			k := seqKey(user, seq)
			if b.Get(k) == nil {
				continue
			}
			if err := b.Delete(k); err != nil {
				return err
			}
			deleted++
		}
		return countOfflineDeleted(tx, user, deleted)
	})
	if err != nil {
		return fmt.Errorf("delete offline messages: %w", err)
	}
	return nil
}

// countOfflineDeleted lowers user's count of offline messages by deleted.
func countOfflineDeleted(tx *bbolt.Tx, user string, deleted uint64) error {
	if deleted == 0 {
		return nil
	}
	n, err := loadOfflineCount(tx, user)
	if err != nil {
		return err
	}
	if deleted > n {
		return fmt.Errorf("update offline count: %w", ErrCorrupt)
	}
	return saveOfflineCount(tx, user, n-deleted)
}

// OfflineCount returns how many offline messages user holds.
func (s *Store) OfflineCount(user string) (int, error) {
	if err := checkUser(user); err != nil {
		return 0, fmt.Errorf("count offline messages: %w", err)
	}
	var n uint64
	err := s.db.View(func(tx *bbolt.Tx) error {
		var err error
		n, err = loadOfflineCount(tx, user)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("count offline messages: %w", err)
	}
	return int(n), nil
}
