package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"go.etcd.io/bbolt"
)

// Moving accounts between stores (roost export and import): an account's
// records, read in one transaction and written in one (or, for an account
// too large to hold in one transaction's memory, in batches with the
// account record last); see the package documentation, "Moving accounts".

// RecordKind says what a Record holds.
type RecordKind uint8

// The kinds of records an account has. The comment says which fields of
// Record each uses; Value is always the stored bytes.
const (
	RecordRoster       RecordKind = iota + 1 // Key: the contact
	RecordVCard                              //
	RecordPrivate                            // Key: the private XML key
	RecordLast                               // Time: the last logout; Value: the status
	RecordArchivePrefs                       //
	RecordDoc                                // Key: a document key this version does not know
	RecordBlock                              // Key: the blocked JID; no Value
	RecordPEPNode                            // Key: the node
	RecordPEPItem                            // Key: the node; ID: the item id; Time: published
	RecordOffline                            // Time: when it was stored
	RecordArchive                            // Ref; With, Resource: the other party
)

// Record is one piece of an account's data. Values handed to an
// ExportAccount callback belong to the store and are valid only during
// the call.
type Record struct {
	Kind           RecordKind
	Key, ID        string
	With, Resource string
	Time           time.Time
	Ref            ArchiveRef
	Value          []byte
}

// ExportAccount reads user's account and all its data in one read
// transaction, a consistent view of the account: acct gets the account
// first, then rec each record, grouped by kind in the order of the
// RecordKind constants (PEP items by node, oldest first; offline messages
// and the archive oldest first). found is false, and nothing is called,
// when there is no such account.
//
// Unlike the Store's other readers, the callbacks run inside the
// transaction, so that an archive of any size is read without a copy in
// memory: they must not call the Store, must copy what they keep, and
// should be quick on a running server (a long read transaction delays
// file growth; see "Memory map and 32-bit ARM"). roost export runs it on
// a stopped server or on a backup.
func (s *Store) ExportAccount(user string, acct func(Account) error, rec func(Record) error) (found bool, err error) {
	if err := checkUser(user); err != nil {
		return false, fmt.Errorf("export account: %w", err)
	}
	if err := s.syncIfQueued(); err != nil {
		return false, fmt.Errorf("export account: %w", err)
	}
	err = s.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket([]byte(bucketAccounts)).Get([]byte(user))
		if v == nil {
			return nil
		}
		found = true
		a, err := decodeAccount(user, v)
		if err != nil {
			return err
		}
		if err := acct(a); err != nil {
			return err
		}
		return exportRecords(tx, user, rec)
	})
	if err != nil {
		return found, fmt.Errorf("export account %.40q: %w", user, err)
	}
	return found, nil
}

func exportRecords(tx *bbolt.Tx, user string, fn func(Record) error) error {
	prefix := userPrefix(user)
	each := func(bucket string, f func(k, v []byte) error) error {
		c := tx.Bucket([]byte(bucket)).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if err := f(k[len(prefix):], v); err != nil {
				return err
			}
		}
		return nil
	}
	err := each(bucketRoster, func(k, v []byte) error {
		_, item, err := splitItem(v)
		if err != nil {
			return err
		}
		return fn(Record{Kind: RecordRoster, Key: string(k), Value: item})
	})
	if err != nil {
		return err
	}
	if err := exportDocs(tx, user, fn); err != nil {
		return err
	}
	err = each(bucketBlocks, func(k, _ []byte) error { return fn(Record{Kind: RecordBlock, Key: string(k)}) })
	if err != nil {
		return err
	}
	var nodes []string
	err = each(bucketPEPNodes, func(k, v []byte) error {
		nodes = append(nodes, string(k))
		return fn(Record{Kind: RecordPEPNode, Key: string(k), Value: v})
	})
	if err != nil {
		return err
	}
	items := tx.Bucket([]byte(bucketPEPItems))
	for _, node := range nodes {
		ip := pepItemsPrefix(user, node)
		order := append(bytes.Clone(ip), 's')
		c := items.Cursor()
		for k, id := c.Seek(order); k != nil && bytes.HasPrefix(k, order); k, id = c.Next() {
			v := items.Get(pepIDKey(ip, string(id)))
			if len(v) < pepItemHead {
				return fmt.Errorf("decode pep item: %w", ErrCorrupt)
			}
			stamp, err := readTime(v[8:])
			if err != nil {
				return err
			}
			if err := fn(Record{Kind: RecordPEPItem, Key: node, ID: string(id), Time: stamp, Value: v[pepItemHead:]}); err != nil {
				return err
			}
		}
	}
	err = each(bucketOffline, func(_, v []byte) error {
		stamp, err := readTime(v)
		if err != nil {
			return err
		}
		return fn(Record{Kind: RecordOffline, Time: stamp, Value: v[timeLen:]})
	})
	if err != nil {
		return err
	}
	return each(bucketArchive, func(k, v []byte) error {
		if len(k) != 8 {
			return fmt.Errorf("decode archive key: %w", ErrCorrupt)
		}
		tag, with, res, stanza, err := decodeArchiveValue(v)
		if err != nil {
			return err
		}
		return fn(Record{Kind: RecordArchive, Ref: ArchiveRef{ID: binary.BigEndian.Uint64(k), Tag: tag},
			With: string(with), Resource: string(res), Value: stanza})
	})
}

// exportDocs hands out the user's documents: the vCard, private XML, last
// activity, archive preferences, and, as RecordDoc, any document key
// this version does not know, so that nothing is lost silently.
func exportDocs(tx *bbolt.Tx, user string, fn func(Record) error) error {
	prefix := userPrefix(user)
	c := tx.Bucket([]byte(bucketDocs)).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		key := string(k[len(prefix):])
		r := Record{Value: v}
		switch {
		case key == docVCard:
			r.Kind = RecordVCard
		case strings.HasPrefix(key, docPrivate):
			r.Kind, r.Key = RecordPrivate, key[len(docPrivate):]
		case key == docLast:
			at, err := readTime(v)
			if err != nil {
				return err
			}
			r.Kind, r.Time, r.Value = RecordLast, at, v[timeLen:]
		case key == docArchivePrefs:
			r.Kind = RecordArchivePrefs
		default:
			r.Kind, r.Key = RecordDoc, key
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// DefaultImportBatchBytes is ImportOptions.BatchBytes's default.
const DefaultImportBatchBytes = 8 << 20

// ImportOptions says how BeginImport treats an account.
type ImportOptions struct {
	// Overwrite replaces an existing account and all its data; without
	// it, BeginImport fails with ErrExists.
	Overwrite bool
	// BatchBytes bounds the record bytes one transaction takes before
	// the import commits what it has and goes on in another: bbolt keeps
	// a transaction's writes in memory until it commits, and a commit
	// needs about three times as much again for the pages it writes.
	// Zero means DefaultImportBatchBytes (8 MiB: a few hundred MB of
	// archive is a hundred commits, each an fsync pair, and memory stays
	// under 64 MB).
	BatchBytes int
}

// AccountImport writes one account; see BeginImport. It belongs to one
// goroutine, and while it is open no other write can happen: the store
// is the importer's alone.
type AccountImport struct {
	s       *Store
	tx      *bbolt.Tx
	user    string
	opts    ImportOptions
	size    int  // record bytes in the open transaction
	spilled bool // an earlier batch was committed
	roster  rosterState
	offline uint64
	archive archiveState
	newest  uint64 // the newest archive identifier written
	done    bool
}

// BeginImport starts writing the account user: its records go in with
// Put, and Commit writes the account record itself, last, so that the account
// exists only once all of it is there. Within one transaction (the usual
// case), the import is atomic: Abort, or a crash, leaves the store as it
// was. An account whose records exceed opts.BatchBytes is written in
// several transactions; until the last one commits, its records exist
// without an account (invisible: nothing serves a user without an
// account), Abort removes them, and the next BeginImport or DeleteAccount
// for the name removes what a crash left. With opts.Overwrite an existing
// account is deleted in the first transaction: if the import then spills
// into several and fails, the old account is gone too.
//
// It fails with ErrExists when the account exists and opts.Overwrite is
// false, and ErrInvalid for an unusable name.
func (s *Store) BeginImport(user string, opts ImportOptions) (*AccountImport, error) {
	if err := checkUser(user); err != nil {
		return nil, fmt.Errorf("import account: %w", err)
	}
	if opts.BatchBytes <= 0 {
		opts.BatchBytes = DefaultImportBatchBytes
	}
	if err := s.syncIfQueued(); err != nil {
		return nil, fmt.Errorf("import account: %w", err)
	}
	tx, err := s.db.Begin(true)
	if err != nil {
		return nil, fmt.Errorf("import account: %w", err)
	}
	exists := accountExists(tx, user)
	if exists && !opts.Overwrite {
		_ = tx.Rollback() // nothing written
		return nil, fmt.Errorf("import account %.40q: %w", user, ErrExists)
	}
	// The old account, if overwritten, or what an interrupted import
	// left under the name.
	if err := deleteAccountTx(tx, user); err != nil {
		_ = tx.Rollback() // the error is the one to report
		return nil, fmt.Errorf("import account %.40q: %w", user, err)
	}
	return &AccountImport{s: s, tx: tx, user: user, opts: opts}, nil
}

// Put writes one record. Records of one kind keep the order they are put
// in: PEP items and offline messages are numbered in that order. An
// archive record's Ref.ID must be new to the account.
func (w *AccountImport) Put(r Record) error {
	if w.done {
		return fmt.Errorf("import account: %w", ErrInvalid)
	}
	if err := w.put(r); err != nil {
		return fmt.Errorf("import account %.40q: %w", w.user, err)
	}
	w.size += len(r.Key) + len(r.ID) + len(r.With) + len(r.Resource) + len(r.Value) + 32
	if w.size < w.opts.BatchBytes {
		return nil
	}
	if err := w.tx.Commit(); err != nil {
		w.done = true
		w.cleanup()
		return fmt.Errorf("import account %.40q: commit a batch: %w", w.user, err)
	}
	w.spilled, w.size = true, 0
	tx, err := w.s.db.Begin(true)
	if err != nil {
		w.done = true
		w.cleanup()
		return fmt.Errorf("import account %.40q: %w", w.user, err)
	}
	w.tx = tx
	return nil
}

func (w *AccountImport) put(r Record) error {
	user := w.user
	tx := w.tx
	docs := tx.Bucket([]byte(bucketDocs))
	switch r.Kind {
	case RecordRoster:
		if err := checkKey("contact", r.Key); err != nil {
			return err
		}
		roster := tx.Bucket([]byte(bucketRoster))
		next, err := roster.NextSequence()
		if err != nil {
			return err
		}
		if !w.roster.exists {
			w.roster.floor, w.roster.exists = next-1, true
		}
		w.roster.ver = next
		rec := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(r.Value)), next)
		return roster.Put(userKey(user, r.Key), append(rec, r.Value...))
	case RecordVCard:
		return putDocValue(docs, userKey(user, docVCard), r.Value)
	case RecordPrivate:
		if err := checkKey("private xml key", r.Key); err != nil {
			return err
		}
		return putDocValue(docs, userKey(user, docPrivate+r.Key), r.Value)
	case RecordLast:
		v := appendTime(make([]byte, 0, timeLen+len(r.Value)), r.Time)
		return docs.Put(userKey(user, docLast), append(v, r.Value...))
	case RecordArchivePrefs:
		return putDocValue(docs, userKey(user, docArchivePrefs), r.Value)
	case RecordDoc:
		if err := checkKey("document key", r.Key); err != nil {
			return err
		}
		return putDocValue(docs, userKey(user, r.Key), r.Value)
	case RecordBlock:
		if err := checkKey("jid", r.Key); err != nil {
			return err
		}
		return tx.Bucket([]byte(bucketBlocks)).Put(userKey(user, r.Key), []byte{})
	case RecordPEPNode:
		if err := checkPEPName("node", r.Key); err != nil {
			return err
		}
		return tx.Bucket([]byte(bucketPEPNodes)).Put(userKey(user, r.Key), bytes.Clone(r.Value))
	case RecordPEPItem:
		return w.putPEPItem(r)
	case RecordOffline:
		b := tx.Bucket([]byte(bucketOffline))
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		rec := appendTime(make([]byte, 0, timeLen+len(r.Value)), r.Time)
		w.offline++
		return b.Put(seqKey(user, seq), append(rec, r.Value...))
	case RecordArchive:
		return w.putArchive(r)
	}
	return fmt.Errorf("record kind %d: %w", r.Kind, ErrInvalid)
}

// putDocValue stores a copy of v: bbolt keeps the slice until commit.
func putDocValue(docs *bbolt.Bucket, key, v []byte) error {
	if len(v) == 0 {
		return fmt.Errorf("empty document: %w", ErrInvalid)
	}
	return docs.Put(key, bytes.Clone(v))
}

func (w *AccountImport) putPEPItem(r Record) error {
	if err := checkPEPName("node", r.Key); err != nil {
		return err
	}
	if err := checkPEPName("item id", r.ID); err != nil {
		return err
	}
	items := w.tx.Bucket([]byte(bucketPEPItems))
	prefix := pepItemsPrefix(w.user, r.Key)
	if err := deletePEPItem(items, prefix, r.ID); err != nil {
		return err
	}
	seq, err := items.NextSequence()
	if err != nil {
		return err
	}
	rec := binary.BigEndian.AppendUint64(make([]byte, 0, pepItemHead+len(r.Value)), seq)
	rec = appendTime(rec, r.Time)
	if err := items.Put(pepIDKey(prefix, r.ID), append(rec, r.Value...)); err != nil {
		return err
	}
	return items.Put(pepSeqKey(prefix, seq), []byte(r.ID))
}

func (w *AccountImport) putArchive(r Record) error {
	user := w.user
	if r.Ref.ID == 0 || r.Ref.ID == math.MaxUint64 {
		return fmt.Errorf("archive id %d: %w", r.Ref.ID, ErrInvalid)
	}
	if strings.IndexByte(r.With, 0) >= 0 || len(r.With) > MaxKeyLen || len(r.Resource) > MaxKeyLen {
		return fmt.Errorf("check with %.40q: %w", r.With, ErrInvalid)
	}
	arch := w.tx.Bucket([]byte(bucketArchive))
	key := seqKey(user, r.Ref.ID)
	if arch.Get(key) != nil {
		return fmt.Errorf("archive id %d twice: %w", r.Ref.ID, ErrInvalid)
	}
	value := appendArchiveValue(nil, r.Ref.Tag, r.With, r.Resource, r.Value)
	if err := arch.Put(key, value); err != nil {
		return err
	}
	if r.With != "" {
		wk := make([]byte, 0, len(user)+len(r.With)+10)
		wk = append(append(append(append(wk, user...), 0), r.With...), 0)
		wk = binary.BigEndian.AppendUint64(wk, r.Ref.ID)
		if err := w.tx.Bucket([]byte(bucketArchiveWith)).Put(wk, []byte(r.Resource)); err != nil {
			return err
		}
	}
	w.archive.n++
	w.archive.size += recordSize(key, value)
	w.newest = max(w.newest, r.Ref.ID)
	return nil
}

// Commit writes the account record a, whose Username must be the one
// imported, and the counters, and commits: the account exists from now
// on. It fails with ErrInvalid, and aborts the import, for a different
// name or unusable credentials.
func (w *AccountImport) Commit(a Account) error {
	if w.done {
		return fmt.Errorf("import account: %w", ErrInvalid)
	}
	w.done = true
	err := checkSCRAM(a.SCRAM)
	if err == nil && a.Username != w.user {
		err = fmt.Errorf("account %.40q: %w", a.Username, ErrInvalid)
	}
	if err == nil {
		err = w.finish(a)
	}
	if err == nil {
		err = w.tx.Commit()
	} else {
		_ = w.tx.Rollback() // finish's error is the one to report
	}
	if err != nil {
		w.cleanup()
		return fmt.Errorf("import account %.40q: %w", w.user, err)
	}
	if w.newest > 0 {
		q := w.s.archive
		q.mu.Lock()
		q.next = max(q.next, w.newest)
		q.mu.Unlock()
	}
	return nil
}

func (w *AccountImport) finish(a Account) error {
	user := w.user
	if w.roster.exists {
		if err := saveRosterState(w.tx, user, w.roster); err != nil {
			return err
		}
	}
	if err := saveOfflineCount(w.tx, user, w.offline); err != nil {
		return err
	}
	if w.archive.n > 0 {
		if err := saveArchiveState(w.tx, user, w.archive); err != nil {
			return err
		}
		// Identifiers the live archive hands out stay above the imported
		// ones, even if those are in the future.
		if err := w.s.reserveArchiveIDs(w.tx, w.newest); err != nil {
			return err
		}
	}
	return w.tx.Bucket([]byte(bucketAccounts)).Put([]byte(user), encodeAccount(a))
}

// Abort gives up the account: nothing of it remains. It is harmless after
// Commit.
func (w *AccountImport) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	_ = w.tx.Rollback() // rolling back cannot lose anything
	return w.cleanup()
}

// cleanup removes what committed batches wrote, after a failure.
func (w *AccountImport) cleanup() error {
	if !w.spilled {
		return nil
	}
	if err := w.s.db.Update(func(tx *bbolt.Tx) error { return deleteAccountTx(tx, w.user) }); err != nil {
		return fmt.Errorf("import account %.40q: remove the partial import: %w", w.user, err)
	}
	return nil
}

// Diff compares the data of two stores record by record, as an export
// and an import carry it, and describes each difference, at most max of
// them (all when max <= 0). It leaves out what is not account data or not
// meant to move: the meta and blobs buckets (schema, identifier
// reservation, ACME cache, server secrets), roster versions and removal
// history (RFC 6121 §2.6: clients of a new server fetch the whole roster
// once), and the sequence numbers of offline messages and PEP items,
// compared by their order instead. Buckets this version does not know are
// compared as they are.
func Diff(a, b *Store, max int) ([]string, error) {
	var out []string
	err := a.db.View(func(ta *bbolt.Tx) error {
		return b.db.View(func(tb *bbolt.Tx) error {
			names := map[string]bool{}
			for _, tx := range []*bbolt.Tx{ta, tb} {
				_ = tx.ForEach(func(name []byte, _ *bbolt.Bucket) error {
					names[string(name)] = true
					return nil
				})
			}
			for _, name := range slices.Sorted(maps.Keys(names)) {
				if name == bucketMeta || name == bucketBlobs || name == bucketRosterLog {
					continue
				}
				ra, err := normalized(ta, name)
				if err != nil {
					return err
				}
				rb, err := normalized(tb, name)
				if err != nil {
					return err
				}
				out = diffRecords(out, name, ra, rb, max)
				if max > 0 && len(out) >= max {
					return nil
				}
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("compare stores: %w", err)
	}
	return out, nil
}

type kv struct{ k, v string }

// normalized returns a bucket's records with what Diff leaves out taken
// away, in key order; nil for a bucket the file does not have.
func normalized(tx *bbolt.Tx, name string) ([]kv, error) {
	b := tx.Bucket([]byte(name))
	if b == nil {
		return nil, nil
	}
	var out []kv
	counts := map[string]int{} // per user (offline) or node (pep order)
	err := b.ForEach(func(k, v []byte) error {
		key, val := string(k), string(v)
		switch name {
		case bucketRoster:
			if len(v) < 8 {
				return fmt.Errorf("decode roster item: %w", ErrCorrupt)
			}
			val = val[8:]
		case bucketUserState:
			if strings.HasSuffix(key, "\x00"+rosterStateKey) {
				return nil
			}
		case bucketOffline:
			user, _, _ := strings.Cut(key, "\x00")
			key = fmt.Sprintf("%s\x00#%d", user, counts[user])
			counts[user]++
		case bucketPEPItems:
			// user \0 node \0 kind ...: neither name holds a NUL.
			u := strings.IndexByte(key, 0)
			n := strings.IndexByte(key[u+1:], 0)
			if u < 0 || n < 0 || u+n+2 >= len(key) {
				return fmt.Errorf("decode pep item key: %w", ErrCorrupt)
			}
			i := u + 1 + n
			switch key[i+1] {
			case 'i':
				if len(v) < pepItemHead {
					return fmt.Errorf("decode pep item: %w", ErrCorrupt)
				}
				val = val[8:]
			case 's':
				node := key[:i+1]
				key = fmt.Sprintf("%ss#%d", node, counts[node])
				counts[node]++
			}
		}
		out = append(out, kv{key, val})
		return nil
	})
	return out, err
}

// diffRecords appends the differences between two sorted record lists.
// Normalised keys keep their order (the counters follow key order), but
// are sorted again to be safe.
func diffRecords(out []string, bucket string, a, b []kv, max int) []string {
	sortKV(a)
	sortKV(b)
	show := func(s string) string {
		if len(s) > 120 {
			s = s[:120] + "..."
		}
		return fmt.Sprintf("%q", s)
	}
	i, j := 0, 0
	for (i < len(a) || j < len(b)) && (max <= 0 || len(out) < max) {
		switch {
		case j == len(b) || (i < len(a) && a[i].k < b[j].k):
			out = append(out, fmt.Sprintf("%s %s: only in the first store", bucket, show(a[i].k)))
			i++
		case i == len(a) || b[j].k < a[i].k:
			out = append(out, fmt.Sprintf("%s %s: only in the second store", bucket, show(b[j].k)))
			j++
		default:
			if a[i].v != b[j].v {
				out = append(out, fmt.Sprintf("%s %s: %s in the first store, %s in the second", bucket, show(a[i].k), show(a[i].v), show(b[j].v)))
			}
			i++
			j++
		}
	}
	return out
}

func sortKV(s []kv) { slices.SortStableFunc(s, func(a, b kv) int { return strings.Compare(a.k, b.k) }) }
