package store

import (
	"bytes"
	"fmt"

	"go.etcd.io/bbolt"
)

// The documents a user stores and reads back as opaque XML: the vCard
// (XEP-0054) and private XML (XEP-0049). They share the docs bucket with the
// last activity record (lastactivity.go); these are their keys after
// user \0.
const (
	docVCard   = "vcard"
	docPrivate = "private\x00"
)

// getDoc returns a copy of the document at key in the docs bucket.
func (s *Store) getDoc(key []byte) (v []byte, found bool, err error) {
	err = s.db.View(func(tx *bbolt.Tx) error {
		if d := tx.Bucket([]byte(bucketDocs)).Get(key); d != nil {
			v, found = bytes.Clone(d), true
		}
		return nil
	})
	return v, found, err
}

// putDoc stores v at key for user, or deletes it when v is empty.
func (s *Store) putDoc(user string, key, v []byte) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		docs := tx.Bucket([]byte(bucketDocs))
		if len(v) == 0 {
			return docs.Delete(key)
		}
		if !accountExists(tx, user) {
			return fmt.Errorf("account %.40q: %w", user, ErrNotFound)
		}
		return docs.Put(key, v)
	})
}

// VCard returns user's vCard (XEP-0054), as stored by PutVCard.
func (s *Store) VCard(user string) ([]byte, bool, error) {
	if err := checkUser(user); err != nil {
		return nil, false, fmt.Errorf("get vcard: %w", err)
	}
	v, found, err := s.getDoc(userKey(user, docVCard))
	if err != nil {
		return nil, false, fmt.Errorf("get vcard: %w", err)
	}
	return v, found, nil
}

// PutVCard replaces user's vCard; nil or empty deletes it. Storing fails
// with ErrNotFound when user has no account.
func (s *Store) PutVCard(user string, v []byte) error {
	if err := checkUser(user); err != nil {
		return fmt.Errorf("put vcard: %w", err)
	}
	if err := s.putDoc(user, userKey(user, docVCard), v); err != nil {
		return fmt.Errorf("put vcard: %w", err)
	}
	return nil
}

// PrivateXML returns the private XML (XEP-0049) user stored under key;
// the caller chooses the key, typically from the element's name and
// namespace.
func (s *Store) PrivateXML(user, key string) ([]byte, bool, error) {
	if err := checkUser(user); err != nil {
		return nil, false, fmt.Errorf("get private xml: %w", err)
	}
	if err := checkKey("private xml key", key); err != nil {
		return nil, false, fmt.Errorf("get private xml: %w", err)
	}
	v, found, err := s.getDoc(userKey(user, docPrivate+key))
	if err != nil {
		return nil, false, fmt.Errorf("get private xml: %w", err)
	}
	return v, found, nil
}

// PrivateXMLCount returns how many fragments of private XML user keeps.
func (s *Store) PrivateXMLCount(user string) (int, error) {
	if err := checkUser(user); err != nil {
		return 0, fmt.Errorf("count private xml: %w", err)
	}
	var n int
	err := s.db.View(func(tx *bbolt.Tx) error {
		n, _, _ = measurePrefix(tx.Bucket([]byte(bucketDocs)).Cursor(), userKey(user, docPrivate))
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("count private xml: %w", err)
	}
	return n, nil
}

// PutPrivateXML replaces user's private XML under key; nil or empty
// deletes it. Storing fails with ErrNotFound when user has no account.
func (s *Store) PutPrivateXML(user, key string, v []byte) error {
	if err := checkUser(user); err != nil {
		return fmt.Errorf("put private xml: %w", err)
	}
	if err := checkKey("private xml key", key); err != nil {
		return fmt.Errorf("put private xml: %w", err)
	}
	if err := s.putDoc(user, userKey(user, docPrivate+key), v); err != nil {
		return fmt.Errorf("put private xml: %w", err)
	}
	return nil
}
