package store

import (
	"bytes"
	"fmt"
	"strings"

	"go.etcd.io/bbolt"
)

// Group chat rooms (XEP-0045) live in the mucrooms bucket: a room's bare
// JID to its record, which the muc module encodes (configuration,
// subject, affiliations). A logged room's messages are in the message
// archive, under the room's JID as owner; occupants are not stored, they
// are the sessions joined now.

// PutRoom stores the record of the room whose bare JID is room, replacing
// any previous one.
func (s *Store) PutRoom(room string, rec []byte) error {
	if err := checkRoom(room); err != nil {
		return fmt.Errorf("put room: %w", err)
	}
	if rec == nil {
		rec = []byte{}
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte(bucketRooms)).Put([]byte(room), rec)
	})
	if err != nil {
		return fmt.Errorf("put room: %w", err)
	}
	return nil
}

// Room returns the record of room.
func (s *Store) Room(room string) (rec []byte, found bool, err error) {
	if err := checkRoom(room); err != nil {
		return nil, false, fmt.Errorf("get room: %w", err)
	}
	err = s.db.View(func(tx *bbolt.Tx) error {
		if v := tx.Bucket([]byte(bucketRooms)).Get([]byte(room)); v != nil {
			rec, found = bytes.Clone(v), true
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("get room: %w", err)
	}
	return rec, found, nil
}

// Rooms calls fn with every room at the service domain (every room when
// domain is ""), in the order of their JIDs.
func (s *Store) Rooms(domain string, fn func(room string, rec []byte) error) error {
	type entry struct{ room, rec span }
	var (
		a    arena
		keys textArena
		list []entry
	)
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket([]byte(bucketRooms)).Cursor()
		n, keyBytes, valBytes := measurePrefix(c, nil)
		a.grow(valBytes)
		keys.grow(keyBytes)
		list = make([]entry, 0, n)
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if domain != "" && !strings.HasSuffix(string(k), "@"+domain) {
				continue
			}
			list = append(list, entry{keys.add(k), a.add(v)})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list rooms: %w", err)
	}
	all := keys.all()
	for _, e := range list {
		if err := fn(strs(all, e.room), a.bytes(e.rec)); err != nil {
			return err
		}
	}
	return nil
}

// DeleteRoom removes room's record and its message archive, queued
// messages included, in one transaction: no archive outlives its room.
// It reports whether the room existed.
func (s *Store) DeleteRoom(room string) (found bool, err error) {
	if err := checkRoom(room); err != nil {
		return false, fmt.Errorf("delete room: %w", err)
	}
	if err := s.syncIfQueued(); err != nil {
		return false, fmt.Errorf("delete room: %w", err)
	}
	err = s.db.Update(func(tx *bbolt.Tx) error {
		rooms := tx.Bucket([]byte(bucketRooms))
		found = rooms.Get([]byte(room)) != nil
		if err := rooms.Delete([]byte(room)); err != nil {
			return err
		}
		return deleteArchiveTx(tx, room)
	})
	if err != nil {
		return false, fmt.Errorf("delete room: %w", err)
	}
	return found, nil
}

// checkRoom validates a room's bare JID, which is also its archive's
// owner: the rules of a user name.
func checkRoom(room string) error {
	if err := checkUser(room); err != nil {
		return fmt.Errorf("check room: %w", err)
	}
	return nil
}
