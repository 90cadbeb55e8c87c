package store

import (
	"bytes"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// Keys of the per-user documents in the docs bucket.
const (
	docVCard   = "vcard"
	docLast    = "last"
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

// LastActivity returns when user last logged out and the status text of
// their last unavailable presence (XEP-0012).
func (s *Store) LastActivity(user string) (at time.Time, status string, found bool, err error) {
	if err := checkUser(user); err != nil {
		return time.Time{}, "", false, fmt.Errorf("get last activity: %w", err)
	}
	v, found, err := s.getDoc(userKey(user, docLast))
	if err == nil && found {
		at, err = readTime(v)
		if err == nil {
			status = string(v[timeLen:])
		}
	}
	if err != nil {
		return time.Time{}, "", false, fmt.Errorf("get last activity: %w", err)
	}
	return at, status, found, nil
}

// SetLastActivity records user's last logout. It fails with ErrNotFound
// when user has no account.
func (s *Store) SetLastActivity(user string, at time.Time, status string) error {
	if err := checkUser(user); err != nil {
		return fmt.Errorf("set last activity: %w", err)
	}
	v := appendTime(make([]byte, 0, timeLen+len(status)), at)
	v = append(v, status...)
	if err := s.putDoc(user, userKey(user, docLast), v); err != nil {
		return fmt.Errorf("set last activity: %w", err)
	}
	return nil
}

// BlockList calls fn with every JID user blocks (XEP-0191), in byte order.
func (s *Store) BlockList(user string, fn func(jid string) error) error {
	if err := checkUser(user); err != nil {
		return fmt.Errorf("list blocked: %w", err)
	}
	var (
		a    textArena
		jids []span
	)
	prefix := userPrefix(user)
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket([]byte(bucketBlocks)).Cursor()
		n, tailBytes, _ := measurePrefix(c, prefix)
		a.grow(tailBytes)
		jids = make([]span, 0, n)
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			jids = append(jids, a.add(k[len(prefix):]))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list blocked: %w", err)
	}
	all := a.all()
	for _, sp := range jids {
		if err := fn(strs(all, sp)); err != nil {
			return err
		}
	}
	return nil
}

// Block adds jids to user's block list; blocking a JID twice is harmless.
// It fails with ErrNotFound when user has no account.
func (s *Store) Block(user string, jids ...string) error {
	if err := checkUser(user); err != nil {
		return fmt.Errorf("block: %w", err)
	}
	for _, j := range jids {
		if err := checkKey("jid", j); err != nil {
			return fmt.Errorf("block: %w", err)
		}
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		if !accountExists(tx, user) {
			return fmt.Errorf("account %.40q: %w", user, ErrNotFound)
		}
		b := tx.Bucket([]byte(bucketBlocks))
		for _, j := range jids {
			if err := b.Put(userKey(user, j), []byte{}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("block: %w", err)
	}
	return nil
}

// Unblock removes jids from user's block list, or every JID when none are
// given (XEP-0191 §3.4).
func (s *Store) Unblock(user string, jids ...string) error {
	if err := checkUser(user); err != nil {
		return fmt.Errorf("unblock: %w", err)
	}
	for _, j := range jids {
		if err := checkKey("jid", j); err != nil {
			return fmt.Errorf("unblock: %w", err)
		}
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(bucketBlocks))
		if len(jids) == 0 {
			_, err := deletePrefix(b, userPrefix(user))
			return err
		}
		for _, j := range jids {
			if err := b.Delete(userKey(user, j)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("unblock: %w", err)
	}
	return nil
}
