package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.etcd.io/bbolt"
)

// Personal eventing (XEP-0163): each account's pubsub nodes and their
// items. The node record is opaque here, encoded by module/pep; the store
// keeps the items of a node in publication order so that the newest ones
// can be read and the oldest dropped without decoding anything.
//
//	pepnodes   user \0 node                    node record
//	pepitems   user \0 node \0 "i" id          u64 seq | time | item
//	           user \0 node \0 "s" u64 seq     id
//
// seq comes from the pepitems bucket's sequence: a republished id gets a
// new one and so becomes the newest item (XEP-0060 §7.1.2).

// A PEP change is decided, inside its write transaction, by a function
// fn(rec, found, nodes) (newRec, keep, err) that gets a copy of the
// node's record (nil and false when the node does not exist) and the
// number of nodes the user has, and returns the record to store (nil
// keeps the node as it is, or, for an absent one, does not create it)
// and how many items the node keeps afterwards: the newest keep, all of
// them when keep < 0. An error aborts the change and is returned
// wrapped. (The function type is spelled out in each signature so that
// consumers can declare interfaces without naming a store type.)

// checkPEPName validates a node name or item id: XML cannot carry NUL,
// and the store relies on that to end the node's part of a key.
func checkPEPName(what, s string) error {
	if s == "" || len(s) > MaxKeyLen || strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("check %s %.40q: %w", what, s, ErrInvalid)
	}
	return nil
}

func checkPEP(user, node string) error {
	if err := checkUser(user); err != nil {
		return err
	}
	return checkPEPName("node", node)
}

// pepItemsPrefix is user \0 node \0, the start of a node's items.
func pepItemsPrefix(user, node string) []byte {
	k := make([]byte, 0, len(user)+len(node)+2)
	k = append(k, user...)
	k = append(k, 0)
	k = append(k, node...)
	return append(k, 0)
}

func pepIDKey(prefix []byte, id string) []byte {
	k := make([]byte, 0, len(prefix)+1+len(id))
	k = append(k, prefix...)
	k = append(k, 'i')
	return append(k, id...)
}

func pepSeqKey(prefix []byte, seq uint64) []byte {
	k := make([]byte, 0, len(prefix)+9)
	k = append(k, prefix...)
	k = append(k, 's')
	return binary.BigEndian.AppendUint64(k, seq)
}

// pepItemHead is the length of an item record's header: seq and time.
const pepItemHead = 8 + timeLen

// PEPNode returns a copy of user's record for node.
func (s *Store) PEPNode(user, node string) (rec []byte, found bool, err error) {
	if err := checkPEP(user, node); err != nil {
		return nil, false, fmt.Errorf("get pep node: %w", err)
	}
	err = s.db.View(func(tx *bbolt.Tx) error {
		if v := tx.Bucket([]byte(bucketPEPNodes)).Get(userKey(user, node)); v != nil {
			rec, found = bytes.Clone(v), true
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("get pep node: %w", err)
	}
	return rec, found, nil
}

// PEPNodes calls fn with each of user's nodes and its record, in byte
// order of the node names, stopping at and returning fn's first error.
func (s *Store) PEPNodes(user string, fn func(node string, rec []byte) error) error {
	if err := checkUser(user); err != nil {
		return fmt.Errorf("list pep nodes: %w", err)
	}
	var (
		names textArena
		vals  arena
		list  []struct{ name, rec span }
	)
	prefix := userPrefix(user)
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket([]byte(bucketPEPNodes)).Cursor()
		n, tailBytes, valBytes := measurePrefix(c, prefix)
		names.grow(tailBytes)
		vals.grow(valBytes)
		list = make([]struct{ name, rec span }, 0, n)
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			list = append(list, struct{ name, rec span }{names.add(k[len(prefix):]), vals.add(v)})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list pep nodes: %w", err)
	}
	all := names.all()
	for _, e := range list {
		if err := fn(strs(all, e.name), vals.bytes(e.rec)); err != nil {
			return err
		}
	}
	return nil
}

// UpdatePEPNode creates or changes user's node as fn decides (see
// [PEPUpdate]) and reports whether it created the node. fn runs inside
// the write transaction and must not call the Store. It fails with
// ErrNotFound when user has no account.
func (s *Store) UpdatePEPNode(user, node string, fn func(rec []byte, found bool, nodes int) ([]byte, int, error)) (created bool, err error) {
	if err := checkPEP(user, node); err != nil {
		return false, fmt.Errorf("update pep node: %w", err)
	}
	created, err = s.changePEP(user, node, fn, nil)
	if err != nil {
		return false, fmt.Errorf("update pep node: %w", err)
	}
	return created, nil
}

// changePEP runs one PEP change in a write transaction: fn decides the
// node's fate, then, if the node exists, add (if any, and unless the node
// keeps no items) stores an item and the node is trimmed to keep items.
func (s *Store) changePEP(user, node string, fn func(rec []byte, found bool, nodes int) ([]byte, int, error), add func(items *bbolt.Bucket, prefix []byte) error) (created bool, err error) {
	err = s.db.Update(func(tx *bbolt.Tx) error {
		var (
			exists bool
			keep   int
		)
		created, exists, keep, err = updatePEPNode(tx, user, node, fn)
		if err != nil || !exists {
			return err
		}
		items := tx.Bucket([]byte(bucketPEPItems))
		prefix := pepItemsPrefix(user, node)
		if add != nil && keep != 0 {
			if err := add(items, prefix); err != nil {
				return err
			}
		}
		return trimPEPItems(items, prefix, keep)
	})
	return created, err
}

// updatePEPNode applies fn to the node's record; exists tells whether
// the node exists afterwards, keep is fn's answer.
func updatePEPNode(tx *bbolt.Tx, user, node string, fn func(rec []byte, found bool, nodes int) ([]byte, int, error)) (created, exists bool, keep int, err error) {
	if !accountExists(tx, user) {
		return false, false, 0, fmt.Errorf("account %.40q: %w", user, ErrNotFound)
	}
	nodes := tx.Bucket([]byte(bucketPEPNodes))
	key := userKey(user, node)
	var old []byte
	if v := nodes.Get(key); v != nil {
		old = bytes.Clone(v) // Non-nil even when empty.
	}
	rec, keep, err := fn(old, old != nil, countPrefix(nodes, userPrefix(user)))
	switch {
	case err != nil:
		return false, false, 0, err
	case rec == nil && old == nil:
		return false, false, 0, nil
	case rec == nil || bytes.Equal(rec, old):
		return false, true, keep, nil
	}
	return old == nil, true, keep, nodes.Put(key, rec)
}

// PublishPEPItem stores item, published at stamp under id, in user's
// node, creating or changing the node as fn decides (see "A PEP change" above),
// all in one transaction: an item with the same id is replaced, then the
// node keeps its newest keep items (with keep 0 the item is not stored:
// the node does not persist items). fn runs inside the transaction and
// must not call the Store; when it leaves an absent node absent, nothing
// is stored. It reports whether the node was created, and fails with
// ErrNotFound when user has no account.
func (s *Store) PublishPEPItem(user, node, id string, stamp time.Time, item []byte, fn func(rec []byte, found bool, nodes int) ([]byte, int, error)) (created bool, err error) {
	if err := checkPEP(user, node); err != nil {
		return false, fmt.Errorf("publish pep item: %w", err)
	}
	if err := checkPEPName("item id", id); err != nil {
		return false, fmt.Errorf("publish pep item: %w", err)
	}
	created, err = s.changePEP(user, node, fn, func(items *bbolt.Bucket, prefix []byte) error {
		if err := deletePEPItem(items, prefix, id); err != nil {
			return err
		}
		seq, err := items.NextSequence()
		if err != nil {
			return err
		}
		rec := binary.BigEndian.AppendUint64(make([]byte, 0, pepItemHead+len(item)), seq)
		rec = appendTime(rec, stamp)
		if err := items.Put(pepIDKey(prefix, id), append(rec, item...)); err != nil {
			return err
		}
		return items.Put(pepSeqKey(prefix, seq), []byte(id))
	})
	if err != nil {
		return false, fmt.Errorf("publish pep item: %w", err)
	}
	return created, nil
}

// deletePEPItem removes the item id and its place in the order, if any.
func deletePEPItem(items *bbolt.Bucket, prefix []byte, id string) error {
	key := pepIDKey(prefix, id)
	v := items.Get(key)
	if v == nil {
		return nil
	}
	if len(v) < pepItemHead {
		return fmt.Errorf("decode pep item: %w", ErrCorrupt)
	}
	if err := items.Delete(pepSeqKey(prefix, binary.BigEndian.Uint64(v[:8]))); err != nil {
		return err
	}
	return items.Delete(key)
}

// trimPEPItems drops the oldest items of the node at prefix beyond keep;
// keep < 0 keeps them all. It collects the keys first: deleting under a
// cursor moves it (bbolt README, "Caveats & Limitations").
func trimPEPItems(items *bbolt.Bucket, prefix []byte, keep int) error {
	if keep < 0 {
		return nil
	}
	order := append(slices.Clip(prefix), 's')
	drop := countPrefix(items, order) - keep
	if drop <= 0 {
		return nil
	}
	var keys [][]byte
	c := items.Cursor()
	for k, v := c.Seek(order); len(keys) < 2*drop && k != nil && bytes.HasPrefix(k, order); k, v = c.Next() {
		keys = append(keys, bytes.Clone(k), pepIDKey(prefix, string(v)))
	}
	for _, k := range keys {
		if err := items.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// DeletePEPNode removes user's node and its items, reporting whether the
// node existed.
func (s *Store) DeletePEPNode(user, node string) (existed bool, err error) {
	if err := checkPEP(user, node); err != nil {
		return false, fmt.Errorf("delete pep node: %w", err)
	}
	err = s.db.Update(func(tx *bbolt.Tx) error {
		nodes := tx.Bucket([]byte(bucketPEPNodes))
		key := userKey(user, node)
		existed = nodes.Get(key) != nil
		if err := nodes.Delete(key); err != nil {
			return err
		}
		_, err := deletePrefix(tx.Bucket([]byte(bucketPEPItems)), pepItemsPrefix(user, node))
		return err
	})
	if err != nil {
		return false, fmt.Errorf("delete pep node: %w", err)
	}
	return existed, nil
}

// PEPItems calls fn with items of user's node (their id, when they were
// published and the item as module/pep encoded it): with ids, those of
// them that exist, in the order given; otherwise the newest max (every
// item when max <= 0), oldest first. found is false, and fn not called,
// when the node does not exist.
func (s *Store) PEPItems(user, node string, ids []string, max int, fn func(id string, published time.Time, item []byte) error) (found bool, err error) {
	if err := checkPEP(user, node); err != nil {
		return false, fmt.Errorf("get pep items: %w", err)
	}
	type entry struct {
		id    string
		stamp time.Time
		item  span
	}
	var (
		a   arena
		out []entry
	)
	prefix := pepItemsPrefix(user, node)
	err = s.db.View(func(tx *bbolt.Tx) error {
		if tx.Bucket([]byte(bucketPEPNodes)).Get(userKey(user, node)) == nil {
			return nil
		}
		found = true
		items := tx.Bucket([]byte(bucketPEPItems))
		if len(ids) == 0 {
			ids = newestPEPIDs(items, prefix, max)
		}
		for _, id := range ids {
			if checkPEPName("item id", id) != nil {
				continue
			}
			v := items.Get(pepIDKey(prefix, id))
			if v == nil {
				continue
			}
			if len(v) < pepItemHead {
				return fmt.Errorf("decode pep item: %w", ErrCorrupt)
			}
			stamp, err := readTime(v[8:])
			if err != nil {
				return err
			}
			out = append(out, entry{id, stamp, a.add(v[pepItemHead:])})
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("get pep items: %w", err)
	}
	for _, e := range out {
		if err := fn(e.id, e.stamp, a.bytes(e.item)); err != nil {
			return found, err
		}
	}
	return found, nil
}

// newestPEPIDs returns the ids of the newest max items of the node at
// prefix (all when max <= 0), oldest first.
func newestPEPIDs(items *bbolt.Bucket, prefix []byte, max int) []string {
	order := append(slices.Clip(prefix), 's')
	end := append(slices.Clip(order), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	c := items.Cursor()
	var k, v []byte
	if k, _ = c.Seek(end); k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	var ids []string
	for ; k != nil && bytes.HasPrefix(k, order) && (max <= 0 || len(ids) < max); k, v = c.Prev() {
		ids = append(ids, string(v))
	}
	slices.Reverse(ids)
	return ids
}

// RetractPEPItems deletes the items ids of user's node and returns those
// that existed.
func (s *Store) RetractPEPItems(user, node string, ids []string) (removed []string, err error) {
	if err := checkPEP(user, node); err != nil {
		return nil, fmt.Errorf("retract pep items: %w", err)
	}
	prefix := pepItemsPrefix(user, node)
	err = s.db.Update(func(tx *bbolt.Tx) error {
		removed = removed[:0]
		items := tx.Bucket([]byte(bucketPEPItems))
		for _, id := range ids {
			if checkPEPName("item id", id) != nil || items.Get(pepIDKey(prefix, id)) == nil {
				continue
			}
			if err := deletePEPItem(items, prefix, id); err != nil {
				return err
			}
			removed = append(removed, id)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("retract pep items: %w", err)
	}
	return removed, nil
}
