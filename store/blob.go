package store

import (
	"bytes"
	"fmt"

	"go.etcd.io/bbolt"
)

// Blob returns the server-wide value stored under key (an ACME cache entry,
// a server secret).
func (s *Store) Blob(key string) ([]byte, bool, error) {
	if err := checkKey("blob key", key); err != nil {
		return nil, false, fmt.Errorf("get blob: %w", err)
	}
	var (
		v     []byte
		found bool
	)
	err := s.db.View(func(tx *bbolt.Tx) error {
		if b := tx.Bucket([]byte(bucketBlobs)).Get([]byte(key)); b != nil {
			v, found = bytes.Clone(b), true
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("get blob: %w", err)
	}
	return v, found, nil
}

// PutBlob stores v under key, replacing any previous value. An empty v is
// stored as an empty value; use DeleteBlob to remove a key.
func (s *Store) PutBlob(key string, v []byte) error {
	if err := checkKey("blob key", key); err != nil {
		return fmt.Errorf("put blob: %w", err)
	}
	if v == nil {
		v = []byte{}
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte(bucketBlobs)).Put([]byte(key), v)
	})
	if err != nil {
		return fmt.Errorf("put blob: %w", err)
	}
	return nil
}

// DeleteBlob removes key; removing a missing key is not an error.
func (s *Store) DeleteBlob(key string) error {
	if err := checkKey("blob key", key); err != nil {
		return fmt.Errorf("delete blob: %w", err)
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte(bucketBlobs)).Delete([]byte(key))
	})
	if err != nil {
		return fmt.Errorf("delete blob: %w", err)
	}
	return nil
}

// Blobs calls fn with every blob whose key starts with prefix ("" for all),
// in key order.
func (s *Store) Blobs(prefix string, fn func(key string, v []byte) error) error {
	type entry struct{ key, val span }
	var (
		keys  textArena
		vals  arena
		blobs []entry
	)
	p := []byte(prefix)
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket([]byte(bucketBlobs)).Cursor()
		n, keyBytes, valBytes := measurePrefix(c, p)
		keys.grow(keyBytes + n*len(p))
		vals.grow(valBytes)
		blobs = make([]entry, 0, n)
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			blobs = append(blobs, entry{keys.add(k), vals.add(v)})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list blobs: %w", err)
	}
	all := keys.all()
	for _, e := range blobs {
		if err := fn(strs(all, e.key), vals.bytes(e.val)); err != nil {
			return err
		}
	}
	return nil
}
