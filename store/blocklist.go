package store

import (
	"bytes"
	"fmt"

	"go.etcd.io/bbolt"
)

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
