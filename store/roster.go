package store

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"

	"go.etcd.io/bbolt"
)

// rosterState is a user's roster version and history floor (RFC 6121 §2.6):
// deltas are known for every change with a version above floor.
type rosterState struct {
	ver, floor uint64
	exists     bool
}

const rosterStateKey = "roster"

func loadRosterState(tx *bbolt.Tx, user string) (rosterState, error) {
	v := tx.Bucket([]byte(bucketUserState)).Get(userKey(user, rosterStateKey))
	if v == nil {
		return rosterState{}, nil
	}
	if len(v) != 16 {
		return rosterState{}, fmt.Errorf("decode roster state: %w", ErrCorrupt)
	}
	return rosterState{
		ver:    binary.BigEndian.Uint64(v[:8]),
		floor:  binary.BigEndian.Uint64(v[8:]),
		exists: true,
	}, nil
}

func saveRosterState(tx *bbolt.Tx, user string, st rosterState) error {
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 16), st.ver)
	v = binary.BigEndian.AppendUint64(v, st.floor)
	return tx.Bucket([]byte(bucketUserState)).Put(userKey(user, rosterStateKey), v)
}

// splitItem separates a roster record into the version that last changed
// the item and the item itself.
func splitItem(v []byte) (uint64, []byte, error) {
	if len(v) < 8 {
		return 0, nil, fmt.Errorf("decode roster item: %w", ErrCorrupt)
	}
	return binary.BigEndian.Uint64(v[:8]), v[8:], nil
}

// viewRoster runs fn in a read transaction with user's roster state and
// returns the roster version fn saw.
func (s *Store) viewRoster(user string, fn func(tx *bbolt.Tx, st rosterState) error) (ver uint64, err error) {
	err = s.db.View(func(tx *bbolt.Tx) error {
		st, err := loadRosterState(tx, user)
		if err != nil {
			return err
		}
		ver = st.ver
		return fn(tx, st)
	})
	return ver, err
}

// eachRosterItem calls fn with every item in the roster bucket under
// prefix (one user's roster), ordered by contact, and the version that last
// changed it. contact and item belong to bbolt: fn must copy what it keeps
// beyond the transaction.
func eachRosterItem(c *bbolt.Cursor, prefix []byte, fn func(contact []byte, ver uint64, item []byte)) error {
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		ver, item, err := splitItem(v)
		if err != nil {
			return err
		}
		fn(k[len(prefix):], ver, item)
	}
	return nil
}

// rosterPage is how many bytes of stored items RosterItems holds at a
// time. An item may hold a stored subscription request of up to a stanza's
// size, so a roster of strangers' requests can be hundreds of megabytes:
// it is read a page at a time, never whole.
const rosterPage = 1 << 20

// RosterItems calls fn for every item in user's roster, ordered by contact,
// and returns the roster version those items are at. A user without a
// roster has version 0.
//
// Items are read a page at a time (rosterPage, at least one item), each
// page in a read transaction of its own, and fn runs between them, so that
// memory holds one page. The version is the first page's: an item changed
// during the pass may be seen as it is after the change, which a client
// that asks again with that version is simply pushed once more.
func (s *Store) RosterItems(user string, fn func(contact string, item []byte) error) (ver uint64, err error) {
	if err := checkUser(user); err != nil {
		return 0, fmt.Errorf("list roster: %w", err)
	}
	prefix := userPrefix(user)
	var after []byte // the last contact read; nil before the first page
	for page := 0; ; page++ {
		type entry struct{ contact, item span }
		var (
			keys  textArena
			vals  arena
			items []entry
			more  bool
		)
		v, err := s.viewRoster(user, func(tx *bbolt.Tx, _ rosterState) error {
			c := tx.Bucket([]byte(bucketRoster)).Cursor()
			n, tailBytes, valBytes := 0, 0, 0
			for k, v := seekAfter(c, prefix, after); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
				if n > 0 && valBytes+len(v) > rosterPage {
					more = true
					break
				}
				n, tailBytes, valBytes = n+1, tailBytes+len(k)-len(prefix), valBytes+len(v)
			}
			keys.grow(tailBytes)
			vals.grow(valBytes) // A little more than needed: values hold the version too.
			items = make([]entry, 0, n)
			for k, v := seekAfter(c, prefix, after); len(items) < n; k, v = c.Next() {
				_, item, err := splitItem(v)
				if err != nil {
					return err
				}
				items = append(items, entry{keys.add(k[len(prefix):]), vals.add(item)})
			}
			return nil
		})
		if err != nil {
			return 0, fmt.Errorf("list roster: %w", err)
		}
		if page == 0 {
			ver = v
		}
		contacts := keys.all()
		for _, e := range items {
			if err := fn(strs(contacts, e.contact), vals.bytes(e.item)); err != nil {
				return 0, err
			}
		}
		if !more {
			return ver, nil
		}
		after = []byte(strs(contacts, items[len(items)-1].contact))
	}
}

// seekAfter moves c to the first key under prefix after prefix+after, or
// to the first key under prefix when after is nil.
func seekAfter(c *bbolt.Cursor, prefix, after []byte) (k, v []byte) {
	start := append(slices.Clip(prefix), after...)
	k, v = c.Seek(start)
	if after != nil && bytes.Equal(k, start) {
		k, v = c.Next()
	}
	return k, v
}

// RosterItem returns one roster item.
func (s *Store) RosterItem(user, contact string) (item []byte, found bool, err error) {
	if err := checkUser(user); err != nil {
		return nil, false, fmt.Errorf("get roster item: %w", err)
	}
	if err := checkKey("contact", contact); err != nil {
		return nil, false, fmt.Errorf("get roster item: %w", err)
	}
	err = s.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket([]byte(bucketRoster)).Get(userKey(user, contact))
		if v == nil {
			return nil
		}
		_, it, err := splitItem(v)
		if err != nil {
			return err
		}
		item, found = bytes.Clone(it), true
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("get roster item: %w", err)
	}
	return item, found, nil
}

// UpdateRosterItem reads, changes and writes one roster item atomically.
// fn gets a copy of the current item, or nil when there is none, and
// returns the new item, or nil to remove it. An unchanged item (nil for an
// absent one, equal bytes for a present one) writes nothing and keeps the
// version; otherwise the roster gets a new version, and a removal is
// remembered for RosterChanges. ver is the roster version after the call.
//
// fn runs inside the write transaction: it must not call the Store, and an
// error from it aborts the update and is returned wrapped. It fails with
// ErrNotFound when user has no account.
func (s *Store) UpdateRosterItem(user, contact string, fn func(old []byte) (new []byte, err error)) (ver uint64, changed bool, err error) {
	if err := checkUser(user); err != nil {
		return 0, false, fmt.Errorf("update roster item: %w", err)
	}
	if err := checkKey("contact", contact); err != nil {
		return 0, false, fmt.Errorf("update roster item: %w", err)
	}
	err = s.db.Update(func(tx *bbolt.Tx) error {
		if !accountExists(tx, user) {
			return fmt.Errorf("account %.40q: %w", user, ErrNotFound)
		}
		roster := tx.Bucket([]byte(bucketRoster))
		key := userKey(user, contact)
		var old []byte
		if v := roster.Get(key); v != nil {
			_, it, err := splitItem(v)
			if err != nil {
				return err
			}
			old = bytes.Clone(it) // Non-nil even when empty.
		}
		st, err := loadRosterState(tx, user)
		if err != nil {
			return err
		}
		ver = st.ver
		nw, err := fn(old)
		if err != nil {
			return err
		}
		if (nw == nil && old == nil) || (nw != nil && old != nil && bytes.Equal(nw, old)) {
			return nil
		}
		next, err := roster.NextSequence()
		if err != nil {
			return err
		}
		if !st.exists {
			// History starts here: no version below this one was ever
			// this user's, so a client must not get a delta from it.
			st.floor = next - 1
			st.exists = true
		}
		st.ver = next
		if nw == nil {
			if err := roster.Delete(key); err != nil {
				return err
			}
			if err := s.addTombstone(tx, user, contact, next, &st); err != nil {
				return err
			}
		} else {
			rec := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(nw)), next)
			if err := roster.Put(key, append(rec, nw...)); err != nil {
				return err
			}
		}
		if err := saveRosterState(tx, user, st); err != nil {
			return err
		}
		ver, changed = next, true
		return nil
	})
	if err != nil {
		return 0, false, fmt.Errorf("update roster item: %w", err)
	}
	return ver, changed, nil
}

// addTombstone records the removal of contact at version ver and drops the
// oldest tombstones beyond the per-user bound, raising the history floor
// to the newest version dropped.
func (s *Store) addTombstone(tx *bbolt.Tx, user, contact string, ver uint64, st *rosterState) error {
	log := tx.Bucket([]byte(bucketRosterLog))
	if err := log.Put(seqKey(user, ver), []byte(contact)); err != nil {
		return err
	}
	prefix := userPrefix(user)
	extra := countPrefix(log, prefix) - s.rosterHistory
	for ; extra > 0; extra-- {
		k, _ := log.Cursor().Seek(prefix)
		if k == nil || !bytes.HasPrefix(k, prefix) || len(k) != len(prefix)+8 {
			return fmt.Errorf("drop roster tombstone: %w", ErrCorrupt)
		}
		k = bytes.Clone(k) // Do not hand Delete a key that points into the node it edits.
		st.floor = max(st.floor, binary.BigEndian.Uint64(k[len(prefix):]))
		if err := log.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// RosterChanges calls fn, oldest change first, for every item changed in
// user's roster after version since: with the item when it was added or
// changed, with nil when it was removed. It returns the current version.
// ok is false, and fn is not called, when since is not a version this
// roster can produce a delta from: newer than the current version, or
// older than the remembered history. The caller then sends the whole roster
// (RFC 6121 §2.6.3).
func (s *Store) RosterChanges(user string, since uint64, fn func(contact string, item []byte) error) (ver uint64, ok bool, err error) {
	if err := checkUser(user); err != nil {
		return 0, false, fmt.Errorf("list roster changes: %w", err)
	}
	// Only which contacts changed is gathered in the transaction; their
	// items are read one at a time as fn takes them, so that memory holds
	// one item, not every changed one: an item may hold a stored
	// subscription request of up to a stanza's size, and strangers can
	// leave many (see rosterPage).
	type change struct {
		ver     uint64
		contact span
		removed bool
	}
	var (
		keys    textArena
		changes []change
	)
	prefix := userPrefix(user)
	ver, err = s.viewRoster(user, func(tx *bbolt.Tx, st rosterState) error {
		if since > st.ver || since < st.floor {
			return nil
		}
		ok = true
		roster := tx.Bucket([]byte(bucketRoster))
		err := eachRosterItem(roster.Cursor(), prefix, func(contact []byte, iv uint64, _ []byte) {
			if iv > since {
				changes = append(changes, change{ver: iv, contact: keys.add(contact)})
			}
		})
		if err != nil {
			return err
		}
		// A tombstone counts when its contact is still absent: a contact
		// removed and added again has an item with a newer version, which
		// is the change to report. A contact removed twice is reported
		// once, at its last removal.
		var latest map[string]int
		lc := tx.Bucket([]byte(bucketRosterLog)).Cursor()
		for k, v := lc.Seek(seqKey(user, since+1)); k != nil && bytes.HasPrefix(k, prefix); k, v = lc.Next() {
			if len(k) != len(prefix)+8 {
				return fmt.Errorf("decode roster tombstone: %w", ErrCorrupt)
			}
			if roster.Get(userKey(user, string(v))) != nil {
				continue
			}
			if latest == nil {
				latest = make(map[string]int)
			}
			ch := change{ver: binary.BigEndian.Uint64(k[len(prefix):]), removed: true}
			if i, dup := latest[string(v)]; dup {
				changes[i].ver = ch.ver
				continue
			}
			ch.contact = keys.add(v)
			latest[string(v)] = len(changes)
			changes = append(changes, ch)
		}
		return nil
	})
	if err != nil {
		return 0, false, fmt.Errorf("list roster changes: %w", err)
	}
	if !ok {
		return ver, false, nil
	}
	slices.SortFunc(changes, func(a, b change) int { return cmp.Compare(a.ver, b.ver) })
	contacts := keys.all()
	for _, ch := range changes {
		contact := strs(contacts, ch.contact)
		var item []byte
		if !ch.removed {
			// Read now: it may have changed again since, which the
			// client then learns a little early (and is pushed again).
			// Gone meanwhile, it is reported removed.
			b, found, err := s.RosterItem(user, contact)
			if err != nil {
				return 0, false, err
			}
			if found {
				item = b
			}
		}
		if err := fn(contact, item); err != nil {
			return 0, false, err
		}
	}
	return ver, true, nil
}

// RosterCount returns the number of items in user's roster, for the
// roster size limits, and how many of them match is (nil: none). is gets
// each stored item, which belongs to bbolt, and must not keep it: it is
// the caller's way to tell kinds of items apart (im keeps subscription
// requests from strangers under a limit of their own) without the store
// knowing the item format.
func (s *Store) RosterCount(user string, is func(item []byte) bool) (n, matched int, err error) {
	if err := checkUser(user); err != nil {
		return 0, 0, fmt.Errorf("count roster: %w", err)
	}
	err = s.db.View(func(tx *bbolt.Tx) error {
		prefix := userPrefix(user)
		if is == nil {
			n = countPrefix(tx.Bucket([]byte(bucketRoster)), prefix)
			return nil
		}
		return eachRosterItem(tx.Bucket([]byte(bucketRoster)).Cursor(), prefix, func(_ []byte, _ uint64, item []byte) {
			n++
			if is(item) {
				matched++
			}
		})
	})
	if err != nil {
		return 0, 0, fmt.Errorf("count roster: %w", err)
	}
	return n, matched, nil
}
