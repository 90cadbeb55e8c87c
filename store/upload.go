package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// ErrQuota means an upload would exceed a quota; the error is a
// *QuotaError saying which.
var ErrQuota = errors.New("upload quota exceeded")

// Upload is the record of one file of HTTP File Upload (XEP-0363): a slot
// reserved by its owner, then, once the body is stored, a complete file.
// The body itself is not in the store.
type Upload struct {
	// ID is the slot's random identifier, unique and at most MaxKeyLen
	// bytes.
	ID string
	// Owner is the bare JID of the account that requested the slot.
	Owner string
	// Name and Type are the file name and media type the slot was
	// requested with.
	Name, Type string
	// Size is the declared length in bytes.
	Size    int64
	Created time.Time
	// Expires is when the slot lapses while the upload is pending, and
	// when the file is deleted once it is complete.
	Expires  time.Time
	Complete bool
}

// UploadQuota bounds the bytes reserved by uploads, pending and complete:
// per owner and in total. Zero is no limit.
type UploadQuota struct {
	User, Total int64
}

// QuotaError is ReserveUpload's refusal: the reservation would take Used
// past Limit, the owner's quota or (Total) the server's.
type QuotaError struct {
	Total       bool
	Used, Limit int64
}

func (e *QuotaError) Error() string {
	who := "user"
	if e.Total {
		who = "total"
	}
	return fmt.Sprintf("%s: %s uses %d of %d bytes", ErrQuota, who, e.Used, e.Limit)
}

// Unwrap makes errors.Is(err, ErrQuota) true.
func (e *QuotaError) Unwrap() error { return ErrQuota }

// metaUploadBytes is the meta key of the bytes all upload records reserve.
const metaUploadBytes = "uploadbytes"

// uploadFormat is the first byte of an encoded upload record.
const uploadFormat = 1

// Record flags.
const uploadComplete = 1 << 0

// encodeUpload writes u's record: format byte, flags byte, size (u64),
// created, expires, then owner, name and type, each uvarint-length-
// prefixed. The ID is the key.
func encodeUpload(u Upload) []byte {
	b := make([]byte, 0, 2+8+2*timeLen+3*binary.MaxVarintLen16+len(u.Owner)+len(u.Name)+len(u.Type))
	var flags byte
	if u.Complete {
		flags |= uploadComplete
	}
	b = append(b, uploadFormat, flags)
	b = binary.BigEndian.AppendUint64(b, uint64(u.Size))
	b = appendTime(b, u.Created)
	b = appendTime(b, u.Expires)
	for _, s := range []string{u.Owner, u.Name, u.Type} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// decodeUpload reads encodeUpload's encoding, rejecting anything it would
// not produce.
func decodeUpload(id string, b []byte) (Upload, error) {
	bad := func(what string) (Upload, error) {
		return Upload{}, fmt.Errorf("decode upload %.40q: %s: %w", id, what, ErrCorrupt)
	}
	if len(b) < 2+8+2*timeLen || b[0] != uploadFormat || b[1]&^uploadComplete != 0 {
		return bad("header")
	}
	u := Upload{ID: id, Complete: b[1]&uploadComplete != 0}
	size := binary.BigEndian.Uint64(b[2:10])
	if size > 1<<62 {
		return bad("size")
	}
	u.Size = int64(size)
	var err error
	if u.Created, err = readTime(b[10:]); err != nil {
		return bad("created")
	}
	if u.Expires, err = readTime(b[10+timeLen:]); err != nil {
		return bad("expires")
	}
	rest := b[10+2*timeLen:]
	var fields [3]string
	for i := range fields {
		n, k := binary.Uvarint(rest)
		// The shortest encoding only, so that a record has one form.
		if k <= 0 || k != len(binary.AppendUvarint(nil, n)) || n > uint64(len(rest)-k) {
			return bad("string")
		}
		fields[i] = string(rest[k : k+int(n)])
		rest = rest[k+int(n):]
	}
	if len(rest) != 0 || fields[0] == "" {
		return bad("trailing data or no owner")
	}
	u.Owner, u.Name, u.Type = fields[0], fields[1], fields[2]
	return u, nil
}

// expiryKey is the uploadexpiry key of a record: its expiry in Unix
// seconds (big-endian, so the bucket is in expiry order), then its ID.
func expiryKey(expires time.Time, id string) []byte {
	k := make([]byte, 0, 8+len(id))
	k = binary.BigEndian.AppendUint64(k, uint64(max(expires.Unix(), 0)))
	return append(k, id...)
}

func loadUploadBytes(tx *bbolt.Tx) (int64, error) {
	v := tx.Bucket([]byte(bucketMeta)).Get([]byte(metaUploadBytes))
	if v == nil {
		return 0, nil
	}
	if len(v) != 8 || binary.BigEndian.Uint64(v) > 1<<62 {
		return 0, fmt.Errorf("decode upload total: %w", ErrCorrupt)
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

// addUploadBytes changes the total by delta.
func addUploadBytes(tx *bbolt.Tx, delta int64) error {
	n, err := loadUploadBytes(tx)
	if err != nil {
		return err
	}
	n += delta
	if n < 0 {
		return fmt.Errorf("upload total below zero: %w", ErrCorrupt)
	}
	return tx.Bucket([]byte(bucketMeta)).Put([]byte(metaUploadBytes), binary.BigEndian.AppendUint64(nil, uint64(n)))
}

// userUploadBytes sums the sizes in the owner's index.
func userUploadBytes(tx *bbolt.Tx, user string) (int64, error) {
	prefix := userPrefix(user)
	c := tx.Bucket([]byte(bucketUploadUsers)).Cursor()
	var n int64
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if len(v) != 8 {
			return 0, fmt.Errorf("decode upload index of %.40q: %w", user, ErrCorrupt)
		}
		n += int64(binary.BigEndian.Uint64(v))
	}
	return n, nil
}

func checkUpload(u Upload) error {
	if err := checkKey("upload id", u.ID); err != nil {
		return err
	}
	if err := checkUser(u.Owner); err != nil {
		return err
	}
	if u.Size < 0 || u.Size > 1<<62 || len(u.Name) > MaxKeyLen || len(u.Type) > MaxKeyLen {
		return fmt.Errorf("check upload %.40q: %w", u.ID, ErrInvalid)
	}
	return nil
}

// ReserveUpload records the slot u (pending, u.Complete ignored) if its
// size fits both quotas; the reservation counts against them until it is
// deleted. It fails with ErrNotFound when the owner has no account,
// ErrExists when the ID is taken, and a *QuotaError (ErrQuota) when a quota
// would be exceeded.
func (s *Store) ReserveUpload(u Upload, q UploadQuota) error {
	if err := checkUpload(u); err != nil {
		return fmt.Errorf("reserve upload: %w", err)
	}
	u.Complete = false
	err := s.db.Update(func(tx *bbolt.Tx) error {
		if !accountExists(tx, u.Owner) {
			return fmt.Errorf("account %.40q: %w", u.Owner, ErrNotFound)
		}
		uploads := tx.Bucket([]byte(bucketUploads))
		if uploads.Get([]byte(u.ID)) != nil {
			return fmt.Errorf("upload %.40q: %w", u.ID, ErrExists)
		}
		if q.User > 0 {
			used, err := userUploadBytes(tx, u.Owner)
			if err != nil {
				return err
			}
			if used+u.Size > q.User {
				return &QuotaError{Used: used, Limit: q.User}
			}
		}
		total, err := loadUploadBytes(tx)
		if err != nil {
			return err
		}
		if q.Total > 0 && total+u.Size > q.Total {
			return &QuotaError{Total: true, Used: total, Limit: q.Total}
		}
		if err := uploads.Put([]byte(u.ID), encodeUpload(u)); err != nil {
			return err
		}
		size := binary.BigEndian.AppendUint64(nil, uint64(u.Size))
		if err := tx.Bucket([]byte(bucketUploadUsers)).Put(userKey(u.Owner, u.ID), size); err != nil {
			return err
		}
		if err := tx.Bucket([]byte(bucketUploadExpiry)).Put(expiryKey(u.Expires, u.ID), nil); err != nil {
			return err
		}
		return addUploadBytes(tx, u.Size)
	})
	if err != nil {
		return fmt.Errorf("reserve upload: %w", err)
	}
	return nil
}

// Upload returns the record of id.
func (s *Store) Upload(id string) (u Upload, found bool, err error) {
	if err := checkKey("upload id", id); err != nil {
		return Upload{}, false, fmt.Errorf("get upload: %w", err)
	}
	err = s.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket([]byte(bucketUploads)).Get([]byte(id))
		if v == nil {
			return nil
		}
		found = true
		u, err = decodeUpload(id, v)
		return err
	})
	if err != nil {
		return Upload{}, false, fmt.Errorf("get upload: %w", err)
	}
	return u, found, nil
}

// CompleteUpload marks the pending upload id complete, to expire at
// expires. It fails with ErrNotFound when the record is gone (its slot
// lapsed or its owner was deleted) and ErrExists when it is complete
// already: a slot takes one body.
func (s *Store) CompleteUpload(id string, expires time.Time) error {
	if err := checkKey("upload id", id); err != nil {
		return fmt.Errorf("complete upload: %w", err)
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		uploads := tx.Bucket([]byte(bucketUploads))
		v := uploads.Get([]byte(id))
		if v == nil {
			return fmt.Errorf("upload %.40q: %w", id, ErrNotFound)
		}
		u, err := decodeUpload(id, v)
		if err != nil {
			return err
		}
		if u.Complete {
			return fmt.Errorf("upload %.40q: %w", id, ErrExists)
		}
		exp := tx.Bucket([]byte(bucketUploadExpiry))
		if err := exp.Delete(expiryKey(u.Expires, id)); err != nil {
			return err
		}
		u.Complete, u.Expires = true, expires
		if err := exp.Put(expiryKey(u.Expires, id), nil); err != nil {
			return err
		}
		return uploads.Put([]byte(id), encodeUpload(u))
	})
	if err != nil {
		return fmt.Errorf("complete upload: %w", err)
	}
	return nil
}

// deleteUploadTx removes the record u and its index entries, and returns
// its bytes to the total.
func deleteUploadTx(tx *bbolt.Tx, u Upload) error {
	if err := tx.Bucket([]byte(bucketUploads)).Delete([]byte(u.ID)); err != nil {
		return err
	}
	if err := tx.Bucket([]byte(bucketUploadUsers)).Delete(userKey(u.Owner, u.ID)); err != nil {
		return err
	}
	if err := tx.Bucket([]byte(bucketUploadExpiry)).Delete(expiryKey(u.Expires, u.ID)); err != nil {
		return err
	}
	return addUploadBytes(tx, -u.Size)
}

// DeleteUpload removes the record of id and reports whether it existed.
func (s *Store) DeleteUpload(id string) (existed bool, err error) {
	if err := checkKey("upload id", id); err != nil {
		return false, fmt.Errorf("delete upload: %w", err)
	}
	err = s.db.Update(func(tx *bbolt.Tx) error {
		v := tx.Bucket([]byte(bucketUploads)).Get([]byte(id))
		if v == nil {
			return nil
		}
		u, err := decodeUpload(id, v)
		if err != nil {
			return err
		}
		existed = true
		return deleteUploadTx(tx, u)
	})
	if err != nil {
		return false, fmt.Errorf("delete upload: %w", err)
	}
	return existed, nil
}

// deleteUserUploads removes the records user owns; DeleteAccount calls it
// before it clears the user's key ranges.
func deleteUserUploads(tx *bbolt.Tx, user string) error {
	prefix := userPrefix(user)
	uploads := tx.Bucket([]byte(bucketUploads))
	var owned []Upload
	c := tx.Bucket([]byte(bucketUploadUsers)).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		id := string(k[len(prefix):])
		if v := uploads.Get([]byte(id)); v != nil {
			u, err := decodeUpload(id, v)
			if err != nil {
				return err
			}
			owned = append(owned, u)
		}
	}
	for _, u := range owned {
		if err := deleteUploadTx(tx, u); err != nil {
			return err
		}
	}
	return nil
}

// ExpiredUploads returns up to limit records whose Expires is not after
// now, soonest first: pending slots that lapsed and complete files past
// their time.
func (s *Store) ExpiredUploads(now time.Time, limit int) ([]Upload, error) {
	var out []Upload
	end := uint64(max(now.Unix(), 0))
	err := s.db.View(func(tx *bbolt.Tx) error {
		out = out[:0]
		uploads := tx.Bucket([]byte(bucketUploads))
		c := tx.Bucket([]byte(bucketUploadExpiry)).Cursor()
		for k, _ := c.First(); k != nil && len(out) < limit; k, _ = c.Next() {
			if len(k) <= 8 {
				return fmt.Errorf("decode upload expiry key: %w", ErrCorrupt)
			}
			if binary.BigEndian.Uint64(k) > end {
				break
			}
			id := string(k[8:])
			v := uploads.Get([]byte(id))
			if v == nil {
				return fmt.Errorf("upload expiry of %.40q without a record: %w", id, ErrCorrupt)
			}
			u, err := decodeUpload(id, v)
			if err != nil {
				return err
			}
			if u.Expires.After(now) {
				continue // later within the same second
			}
			out = append(out, u)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list expired uploads: %w", err)
	}
	return out, nil
}

// Uploads calls fn with every upload record, in ID order. The records are
// read in one transaction and handed over after it ends.
func (s *Store) Uploads(fn func(Upload) error) error {
	var all []Upload
	err := s.db.View(func(tx *bbolt.Tx) error {
		all = all[:0]
		return tx.Bucket([]byte(bucketUploads)).ForEach(func(k, v []byte) error {
			u, err := decodeUpload(string(k), v)
			if err != nil {
				return err
			}
			all = append(all, u)
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("list uploads: %w", err)
	}
	for _, u := range all {
		if err := fn(u); err != nil {
			return err
		}
	}
	return nil
}

// UploadUsage returns the bytes user's uploads reserve and those of all
// uploads.
func (s *Store) UploadUsage(user string) (used, total int64, err error) {
	if err := checkUser(user); err != nil {
		return 0, 0, fmt.Errorf("get upload usage: %w", err)
	}
	err = s.db.View(func(tx *bbolt.Tx) error {
		if used, err = userUploadBytes(tx, user); err != nil {
			return err
		}
		total, err = loadUploadBytes(tx)
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("get upload usage: %w", err)
	}
	return used, total, nil
}
