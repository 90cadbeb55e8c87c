package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"go.etcd.io/bbolt"
)

// Message archives (XEP-0313): one archive per owner, an account's bare JID
// or a group chat room's; see the package documentation, "Message
// archives", for the layout, the identifiers and the group commits.

// ErrUnknownArchiveID means a message identifier a query names is not in
// the owner's archive (XEP-0313 §4.1.3: item-not-found).
var ErrUnknownArchiveID = errors.New("no such archived message")

// Archive tuning. A group commit is started when this many records or
// bytes are queued, and an append waits for one when ten times as many
// are (the disk is not keeping up, and memory must stay bounded).
const (
	archiveKickRecords = 4096
	archiveKickBytes   = 4 << 20
	archiveHardFactor  = 10
	// archiveReserve is how far past the newest committed identifier
	// the file reserves identifiers, so that a restart after a crash
	// never hands out again one that was in flight, even if the clock
	// went back (see allocation in the package documentation).
	archiveReserve = uint64(time.Minute / time.Microsecond)
)

// ArchiveRecord is a message to archive.
type ArchiveRecord struct {
	// Owner is the archive: an account's or a room's bare JID.
	Owner string
	// Account says the owner is an account: the record is dropped at
	// commit if the account no longer exists, so that no archive outlives
	// its account.
	Account bool
	// With is the bare JID of the other party, indexed for queries
	// filtered by it; Resource its resource, if any.
	With, Resource string
	// Stanza is the message as it is to be returned; the store copies it.
	Stanza []byte
}

// ArchiveRef names an archived message: its identifier and the random tag
// that makes the identifier unpredictable (XEP-0313 §3).
type ArchiveRef struct {
	// ID is the message's time in microseconds since the Unix epoch,
	// made unique and increasing across the store.
	ID  uint64
	Tag uint32
}

// ArchiveItem is an archived message read back.
type ArchiveItem struct {
	ArchiveRef
	With, Resource string
	Stanza         []byte
}

// Time returns when the message was archived.
func (r ArchiveRef) Time() time.Time {
	return time.UnixMicro(int64(r.ID)).UTC()
}

// ArchiveQuery selects messages of one archive. Bounds are identifiers:
// the After and Before bounds exclude the named message, First and Last
// include it; zero means unbounded.
type ArchiveQuery struct {
	// With keeps messages exchanged with this bare JID; Resource, if set
	// too, only those with that full JID.
	With, Resource string
	After, Before  uint64
	First, Last    uint64
	// IDs, if not empty, keeps only these messages.
	IDs []uint64
	// Check lists messages that must exist, with their tags, or the
	// query fails with ErrUnknownArchiveID.
	Check []ArchiveRef
	// Max is the page size; the page is the first Max matches, or with
	// Reverse the last Max.
	Max     int
	Reverse bool
}

// ArchiveSummary describes one archive.
type ArchiveSummary struct {
	// First and Last are the oldest and newest messages; zero when the
	// archive is empty.
	First, Last ArchiveRef
	Count       int64
	// Size is the bytes the archive's records take (keys and values).
	Size int64
}

// archiveQueue is the store's group-commit log: appended records wait here
// until a commit takes all of them at once.
type archiveQueue struct {
	mu    sync.Mutex
	recs  []queuedRecord
	buf   []byte // the bytes of recs' keys and values
	spare []byte // a buffer to swap in while buf is being committed
	// spareRecs is recs' counterpart of spare: appends go on during a
	// commit, so without it every commit would grow a new slice of
	// records from nothing, copying it at each doubling.
	spareRecs []queuedRecord
	queued    uint64 // records ever queued
	done      uint64 // records ever taken by a commit
	flushing  bool
	flushed   chan struct{} // closed when the running commit ends
	lastErr   error         // the error of the latest commit, nil if it succeeded
	commits   uint64        // commits that wrote records, for tests
	next      uint64        // the newest identifier handed out
	reserved  uint64        // identifiers below this are reserved in the file
	rng       *rand.ChaCha8
	kick      chan struct{}
}

// queuedRecord points into archiveQueue.buf.
type queuedRecord struct {
	owner   span // the owner's name, a prefix of the key
	key     span // owner \0 id
	withKey span // owner \0 with \0 id, empty if no With
	value   span // tag | with | resource | stanza
	res     span // the resource, inside value
	account bool
}

func newArchiveQueue(reserved uint64, seed [32]byte) *archiveQueue {
	return &archiveQueue{reserved: reserved, next: reserved, rng: rand.NewChaCha8(seed), kick: make(chan struct{}, 1)}
}

// AppendArchive queues rec for the next group commit and returns the
// identifier and tag it is archived under, so that the caller can stamp
// them on the message (XEP-0359) before delivering it. The record is
// durable only after a later SyncArchive returns, or the next commit of
// RunArchive; a query syncs first, so it always sees the record.
func (s *Store) AppendArchive(rec ArchiveRecord, now time.Time) (ArchiveRef, error) {
	if err := checkUser(rec.Owner); err != nil {
		return ArchiveRef{}, fmt.Errorf("append to archive: %w", err)
	}
	if strings.IndexByte(rec.With, 0) >= 0 || len(rec.With) > MaxKeyLen || len(rec.Resource) > MaxKeyLen {
		return ArchiveRef{}, fmt.Errorf("append to archive: check with %.40q: %w", rec.With, ErrInvalid)
	}
	q := s.archive
	q.mu.Lock()
	ref := ArchiveRef{ID: max(uint64(max(now.UnixMicro(), 0)), q.next+1), Tag: uint32(q.rng.Uint64())}
	q.next = ref.ID
	q.enqueue(rec, ref)
	n, size := len(q.recs), len(q.buf)
	q.mu.Unlock()
	switch {
	case n >= archiveHardFactor*archiveKickRecords || size >= archiveHardFactor*archiveKickBytes:
		// The committer is not keeping up: wait for a commit here, which
		// bounds the memory queued records take.
		if err := s.SyncArchive(context.Background()); err != nil {
			return ref, fmt.Errorf("append to archive: %w", err)
		}
	case n >= archiveKickRecords || size >= archiveKickBytes:
		select {
		case q.kick <- struct{}{}:
		default:
		}
	}
	return ref, nil
}

// enqueue copies rec into the queue's buffer; q.mu is held.
func (q *archiveQueue) enqueue(rec ArchiveRecord, ref ArchiveRef) {
	b := q.buf
	var r queuedRecord
	start := len(b)
	b = append(b, rec.Owner...)
	r.owner = span{start, len(b)}
	b = append(b, 0)
	b = binary.BigEndian.AppendUint64(b, ref.ID)
	r.key = span{start, len(b)}
	if rec.With != "" {
		start = len(b)
		b = append(b, rec.Owner...)
		b = append(b, 0)
		b = append(b, rec.With...)
		b = append(b, 0)
		b = binary.BigEndian.AppendUint64(b, ref.ID)
		r.withKey = span{start, len(b)}
		start = len(b)
		b = append(b, rec.Resource...)
		r.res = span{start, len(b)}
	}
	start = len(b)
	b = appendArchiveValue(b, ref.Tag, rec.With, rec.Resource, rec.Stanza)
	r.value = span{start, len(b)}
	r.account = rec.Account
	q.buf = b
	q.recs = append(q.recs, r)
	q.queued++
}

// appendArchiveValue appends an archive record's value: tag | with |
// resource | stanza, with and resource uvarint length-prefixed.
func appendArchiveValue(b []byte, tag uint32, with, resource string, stanza []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, tag)
	b = binary.AppendUvarint(b, uint64(len(with)))
	b = append(b, with...)
	b = binary.AppendUvarint(b, uint64(len(resource)))
	b = append(b, resource...)
	return append(b, stanza...)
}

// SyncArchive returns once every record appended before the call is
// committed to disk (one fsync shared by everything queued), or the
// commit that took them failed. Callers that acknowledge a message to its
// sender (XEP-0198 <a/>) call it first.
func (s *Store) SyncArchive(ctx context.Context) error {
	q := s.archive
	q.mu.Lock()
	target := q.queued
	var err error
	for q.done < target {
		if q.flushing {
			ch := q.flushed
			q.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				return fmt.Errorf("sync archive: %w", ctx.Err())
			}
			q.mu.Lock()
			err = errors.Join(err, q.lastErr)
			continue
		}
		err = errors.Join(err, s.flushLocked())
	}
	q.mu.Unlock()
	if err != nil {
		return fmt.Errorf("sync archive: %w", err)
	}
	return nil
}

// flushLocked commits everything queued; q.mu is held, and released while
// the commit runs.
func (s *Store) flushLocked() error {
	q := s.archive
	recs, buf := q.recs, q.buf
	q.recs, q.buf = q.spareRecs[:0], q.spare[:0]
	q.spareRecs, q.spare = nil, nil
	q.flushing = true
	q.flushed = make(chan struct{})
	q.mu.Unlock()

	err := s.commitArchive(recs, buf)

	q.mu.Lock()
	q.done += uint64(len(recs))
	q.flushing = false
	q.lastErr = err
	if err == nil && len(recs) > 0 {
		q.commits++
	}
	close(q.flushed)
	if cap(buf) <= 4*archiveKickBytes {
		q.spare = buf[:0] // bbolt is done with it: reuse it
	}
	if cap(recs) <= 4*archiveKickRecords {
		q.spareRecs = recs[:0]
	}
	return err
}

// RunArchive commits queued archive records every interval, or sooner when
// many are queued, until ctx is done; then it commits what is left. The
// server runs it as a background job.
func (s *Store) RunArchive(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return s.SyncArchive(context.Background())
		case <-t.C:
		case <-s.archive.kick:
		}
		if err := s.SyncArchive(ctx); err != nil && ctx.Err() == nil {
			return err
		}
	}
}

// commitArchive writes recs in one transaction: the records, their with
// index entries, the owners' counts and the identifier reservation.
func (s *Store) commitArchive(recs []queuedRecord, buf []byte) error {
	if len(recs) == 0 {
		return nil
	}
	type delta struct{ n, size int64 }
	var newest uint64
	return s.db.Update(func(tx *bbolt.Tx) error {
		arch := tx.Bucket([]byte(bucketArchive))
		with := tx.Bucket([]byte(bucketArchiveWith))
		deltas := make(map[string]*delta)
		var exists map[string]bool // account owners checked in this commit
		// In key order, bbolt's B+tree is filled leaf by leaf; in arrival
		// order every Put seeks to another owner's leaf.
		slices.SortFunc(recs, func(a, b queuedRecord) int {
			return bytes.Compare(buf[a.key.start:a.key.end], buf[b.key.start:b.key.end])
		})
		for _, r := range recs {
			owner := buf[r.owner.start:r.owner.end]
			if r.account {
				ok, seen := exists[string(owner)]
				if !seen {
					ok = accountExists(tx, string(owner))
					if exists == nil {
						exists = make(map[string]bool)
					}
					exists[string(owner)] = ok
				}
				if !ok {
					continue // deleted meanwhile: no archive outlives its account
				}
			}
			key, value := buf[r.key.start:r.key.end], buf[r.value.start:r.value.end]
			if err := arch.Put(key, value); err != nil {
				return fmt.Errorf("store archived message: %w", err)
			}
			if r.withKey.end > r.withKey.start {
				if err := with.Put(buf[r.withKey.start:r.withKey.end], buf[r.res.start:r.res.end]); err != nil {
					return fmt.Errorf("index archived message: %w", err)
				}
			}
			d := deltas[string(owner)]
			if d == nil {
				d = &delta{}
				deltas[string(owner)] = d
			}
			d.n++
			d.size += recordSize(key, value)
			newest = max(newest, binary.BigEndian.Uint64(key[len(key)-8:]))
		}
		for owner, d := range deltas {
			st, err := loadArchiveState(tx, owner)
			if err != nil {
				return err
			}
			st.n += d.n
			st.size += d.size
			if err := saveArchiveState(tx, owner, st); err != nil {
				return err
			}
		}
		return s.reserveArchiveIDs(tx, newest)
	})
}

// recordSize is what a record counts against its archive's size cap: the
// record and, roughly, its index entry.
func recordSize(key, value []byte) int64 { return int64(2*len(key) + len(value)) }

// reserveArchiveIDs records in the file that identifiers up to newest plus
// archiveReserve may be in use, when the reservation runs low.
func (s *Store) reserveArchiveIDs(tx *bbolt.Tx, newest uint64) error {
	s.archive.mu.Lock()
	low := newest+archiveReserve/2 >= s.archive.reserved
	s.archive.mu.Unlock()
	if !low {
		return nil
	}
	r := newest + archiveReserve
	if err := tx.Bucket([]byte(bucketMeta)).Put([]byte(metaArchiveIDKey), binary.BigEndian.AppendUint64(nil, r)); err != nil {
		return fmt.Errorf("reserve archive ids: %w", err)
	}
	tx.OnCommit(func() {
		s.archive.mu.Lock()
		s.archive.reserved = max(s.archive.reserved, r)
		s.archive.mu.Unlock()
	})
	return nil
}

// loadArchiveReservation reads the identifier reservation at open.
func loadArchiveReservation(tx *bbolt.Tx) (uint64, error) {
	v := tx.Bucket([]byte(bucketMeta)).Get([]byte(metaArchiveIDKey))
	if v == nil {
		return 0, nil
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("decode archive id reservation: %w", ErrCorrupt)
	}
	return binary.BigEndian.Uint64(v), nil
}

// archiveState is an owner's message count and size.
type archiveState struct{ n, size int64 }

func loadArchiveState(tx *bbolt.Tx, owner string) (archiveState, error) {
	v := tx.Bucket([]byte(bucketArchiveState)).Get(userPrefix(owner))
	if v == nil {
		return archiveState{}, nil
	}
	if len(v) != 16 {
		return archiveState{}, fmt.Errorf("decode archive state: %w", ErrCorrupt)
	}
	return archiveState{int64(binary.BigEndian.Uint64(v)), int64(binary.BigEndian.Uint64(v[8:]))}, nil
}

func saveArchiveState(tx *bbolt.Tx, owner string, st archiveState) error {
	b := tx.Bucket([]byte(bucketArchiveState))
	if st.n <= 0 {
		return b.Delete(userPrefix(owner))
	}
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 16), uint64(st.n))
	return b.Put(userPrefix(owner), binary.BigEndian.AppendUint64(v, uint64(st.size)))
}

// decodeArchiveValue splits a record into its tag, with, resource and
// stanza; the slices point into v.
func decodeArchiveValue(v []byte) (tag uint32, with, res, stanza []byte, err error) {
	if len(v) < 4 {
		return 0, nil, nil, nil, fmt.Errorf("decode archived message: %w", ErrCorrupt)
	}
	tag = binary.BigEndian.Uint32(v)
	rest := v[4:]
	field := func() []byte {
		n, k := binary.Uvarint(rest)
		// Only what enqueue writes: the shortest encoding of a length
		// that fits.
		if k <= 0 || k != uvarintLen(n) || n > uint64(len(rest)-k) {
			err = fmt.Errorf("decode archived message: %w", ErrCorrupt)
			return nil
		}
		f := rest[k : k+int(n)]
		rest = rest[k+int(n):]
		return f
	}
	with = field()
	if err == nil {
		res = field()
	}
	return tag, with, res, rest, err
}

// ArchivePage returns the page of owner's archive that q selects, oldest
// first, and whether it is complete: no message beyond it in the
// direction of paging matches q. It commits queued records first, so the
// page includes every message appended before the call.
func (s *Store) ArchivePage(owner string, q ArchiveQuery) (items []ArchiveItem, complete bool, err error) {
	if err := checkUser(owner); err != nil {
		return nil, false, fmt.Errorf("query archive: %w", err)
	}
	if err := s.syncIfQueued(); err != nil {
		return nil, false, fmt.Errorf("query archive: %w", err)
	}
	lo, hi := uint64(0), uint64(math.MaxUint64) // inclusive
	if q.After > 0 {
		lo = max(lo, q.After+1)
	}
	if q.First > 0 {
		lo = max(lo, q.First)
	}
	if q.Before > 0 {
		hi = min(hi, q.Before-1)
	}
	if q.Last > 0 {
		hi = min(hi, q.Last)
	}
	limit := max(q.Max, 0) + 1 // one more, to know whether the page is complete
	var pg pageCopy
	prefix := userPrefix(owner)
	err = s.db.View(func(tx *bbolt.Tx) error {
		arch := tx.Bucket([]byte(bucketArchive))
		// One cursor and key buffer for every lookup: a Get would make a
		// cursor, and grow its stack, per message.
		c, key := arch.Cursor(), slices.Clone(prefix)
		get := func(id uint64) []byte {
			key = binary.BigEndian.AppendUint64(key[:len(prefix)], id)
			if k, v := c.Seek(key); bytes.Equal(k, key) {
				return v
			}
			return nil
		}
		for _, ref := range q.Check {
			v := get(ref.ID)
			if len(v) < 4 || binary.BigEndian.Uint32(v) != ref.Tag {
				return ErrUnknownArchiveID
			}
		}
		if lo > hi {
			return nil
		}
		switch {
		case len(q.IDs) > 0:
			ids := slices.Clone(q.IDs)
			slices.Sort(ids)
			ids = slices.Compact(ids)
			if q.Reverse {
				slices.Reverse(ids)
			}
			for _, id := range ids {
				if id < lo || id > hi {
					continue
				}
				if v := get(id); v != nil {
					if err := pg.add(id, v, q.With, q.Resource); err != nil || pg.n == limit {
						return err
					}
				}
			}
		case q.With != "":
			// The with index (owner \0 with \0 id → resource) finds the
			// messages; the archive has them.
			var ids []uint64
			scanArchive(tx.Bucket([]byte(bucketArchiveWith)).Cursor(), append(append(slices.Clone(prefix), q.With...), 0),
				lo, hi, q.Reverse, func(id uint64, v []byte) bool {
					if q.Resource == "" || string(v) == q.Resource {
						ids = append(ids, id)
					}
					return len(ids) < limit
				})
			for _, id := range ids {
				if err := pg.add(id, get(id), "", ""); err != nil {
					return err
				}
			}
		default:
			var err error
			scanArchive(arch.Cursor(), prefix, lo, hi, q.Reverse, func(id uint64, v []byte) bool {
				err = pg.add(id, v, "", "")
				return err == nil && pg.n < limit
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("query archive: %w", err)
	}
	complete = pg.n < limit
	return pg.items(min(pg.n, limit-1), q.Reverse), complete, nil
}

// pageCopy gathers a page's messages out of a read transaction into one
// buffer.
type pageCopy struct {
	n    int
	a    arena
	ents []pageEntry
}

type pageEntry struct {
	ref               ArchiveRef
	with, res, stanza span
}

// add copies the record v of message id, unless it does not match with
// and res ("" matches any).
func (p *pageCopy) add(id uint64, v []byte, with, res string) error {
	tag, w, r, stanza, err := decodeArchiveValue(v)
	if err != nil {
		return err
	}
	if (with != "" && string(w) != with) || (res != "" && string(r) != res) {
		return nil
	}
	p.ents = append(p.ents, pageEntry{ArchiveRef{id, tag}, p.a.add(w), p.a.add(r), p.a.add(stanza)})
	p.n++
	return nil
}

// items returns the first n entries as items, oldest first (the entries
// are newest first when reverse). Consecutive messages with one party
// share its strings.
func (p *pageCopy) items(n int, reverse bool) []ArchiveItem {
	ents := p.ents[:n]
	if reverse {
		slices.Reverse(ents)
	}
	out := make([]ArchiveItem, len(ents))
	var with, res string
	for i, e := range ents {
		if w := p.a.bytes(e.with); string(w) != with {
			with = string(w)
		}
		if r := p.a.bytes(e.res); string(r) != res {
			res = string(r)
		}
		out[i] = ArchiveItem{ArchiveRef: e.ref, With: with, Resource: res, Stanza: p.a.bytes(e.stanza)}
	}
	return out
}

// scanArchive walks the keys prefix | u64 id with lo <= id <= hi, in id
// order or, with reverse, backwards, calling fn until it returns false.
func scanArchive(c *bbolt.Cursor, prefix []byte, lo, hi uint64, reverse bool, fn func(id uint64, v []byte) bool) {
	id := func(k []byte) (uint64, bool) {
		if len(k) != len(prefix)+8 || !bytes.HasPrefix(k, prefix) {
			return 0, false
		}
		return binary.BigEndian.Uint64(k[len(prefix):]), true
	}
	var k, v []byte
	if reverse {
		k, v = c.Seek(binary.BigEndian.AppendUint64(slices.Clip(prefix), hi))
		if k == nil {
			k, v = c.Last()
		} else if n, ok := id(k); !ok || n > hi {
			k, v = c.Prev()
		}
	} else {
		k, v = c.Seek(binary.BigEndian.AppendUint64(slices.Clip(prefix), lo))
	}
	for ; k != nil; k, v = step(c, reverse) {
		n, ok := id(k)
		if !ok || n < lo || n > hi || !fn(n, v) {
			return
		}
	}
}

func step(c *bbolt.Cursor, reverse bool) ([]byte, []byte) {
	if reverse {
		return c.Prev()
	}
	return c.Next()
}

// syncIfQueued commits queued records, if any, so that a read sees them.
func (s *Store) syncIfQueued() error {
	q := s.archive
	q.mu.Lock()
	idle := q.done == q.queued
	q.mu.Unlock()
	if idle {
		return nil
	}
	return s.SyncArchive(context.Background())
}

// ArchiveSummary describes owner's archive: its oldest and newest
// messages, count and size (XEP-0313 §5, archive metadata).
func (s *Store) ArchiveSummary(owner string) (ArchiveSummary, error) {
	if err := checkUser(owner); err != nil {
		return ArchiveSummary{}, fmt.Errorf("summarise archive: %w", err)
	}
	if err := s.syncIfQueued(); err != nil {
		return ArchiveSummary{}, fmt.Errorf("summarise archive: %w", err)
	}
	var sum ArchiveSummary
	prefix := userPrefix(owner)
	err := s.db.View(func(tx *bbolt.Tx) error {
		st, err := loadArchiveState(tx, owner)
		if err != nil {
			return err
		}
		sum.Count, sum.Size = st.n, st.size
		c := tx.Bucket([]byte(bucketArchive)).Cursor()
		ref := func(k, v []byte) (ArchiveRef, error) {
			if k == nil || len(k) != len(prefix)+8 || !bytes.HasPrefix(k, prefix) {
				return ArchiveRef{}, nil
			}
			if len(v) < 4 {
				return ArchiveRef{}, fmt.Errorf("decode archived message: %w", ErrCorrupt)
			}
			return ArchiveRef{ID: binary.BigEndian.Uint64(k[len(prefix):]), Tag: binary.BigEndian.Uint32(v)}, nil
		}
		if sum.First, err = ref(c.Seek(prefix)); err != nil {
			return err
		}
		// No message has the identifier MaxUint64: the key before it is
		// the owner's newest, if it is the owner's.
		var k, v []byte
		if k, _ = c.Seek(binary.BigEndian.AppendUint64(slices.Clone(prefix), math.MaxUint64)); k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		sum.Last, err = ref(k, v)
		return err
	})
	if err != nil {
		return ArchiveSummary{}, fmt.Errorf("summarise archive: %w", err)
	}
	return sum, nil
}

// ArchiveTotals counts the committed messages of every archive, accounts'
// and rooms', and their bytes (as ArchiveSummary's Size). It reads the
// per-archive totals the store keeps, one record per archive, not the
// messages: cheap enough for every scrape of /metrics.
func (s *Store) ArchiveTotals() (messages, bytes int64, err error) {
	err = s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte(bucketArchiveState)).ForEach(func(k, v []byte) error {
			if len(v) != 16 {
				return fmt.Errorf("decode archive state: %w", ErrCorrupt)
			}
			messages += int64(binary.BigEndian.Uint64(v))
			bytes += int64(binary.BigEndian.Uint64(v[8:]))
			return nil
		})
	})
	if err != nil {
		return 0, 0, fmt.Errorf("total archives: %w", err)
	}
	return messages, bytes, nil
}

// DeleteArchive removes owner's whole archive: what is committed and what
// is still queued. Account archives also go with DeleteAccount.
func (s *Store) DeleteArchive(owner string) error {
	if err := checkUser(owner); err != nil {
		return fmt.Errorf("delete archive: %w", err)
	}
	if err := s.syncIfQueued(); err != nil {
		return fmt.Errorf("delete archive: %w", err)
	}
	if err := s.db.Update(func(tx *bbolt.Tx) error { return deleteArchiveTx(tx, owner) }); err != nil {
		return fmt.Errorf("delete archive: %w", err)
	}
	return nil
}

// deleteArchiveTx clears owner's key range in the archive buckets.
func deleteArchiveTx(tx *bbolt.Tx, owner string) error {
	prefix := userPrefix(owner)
	for _, name := range []string{bucketArchive, bucketArchiveWith, bucketArchiveState} {
		if _, err := deletePrefix(tx.Bucket([]byte(name)), prefix); err != nil {
			return fmt.Errorf("clear %s: %w", name, err)
		}
	}
	return nil
}

// TrimArchives applies retention to the archives, in owner order starting
// at from: policy (called inside the write transaction; it must not call
// the Store) tells what each owner's archive keeps — messages archived at
// or after keepAfter (zero: any age), and at most maxSize bytes (0: no
// cap), the newest — and the oldest messages beyond that are deleted
// (XEP-0313 §3.2: never from the middle).
// One call deletes at most budget messages in one short transaction, so
// that message commits are not held up; it returns how many it deleted
// and the owner to continue with, "" when it went through every archive.
func (s *Store) TrimArchives(from string, budget int, policy func(owner string) (keepAfter time.Time, maxSize int64)) (deleted int, next string, err error) {
	budget = max(budget, 1)
	err = s.db.Update(func(tx *bbolt.Tx) error {
		deleted, next = 0, ""
		arch := tx.Bucket([]byte(bucketArchive))
		with := tx.Bucket([]byte(bucketArchiveWith))
		states := tx.Bucket([]byte(bucketArchiveState)).Cursor()
		var start []byte
		if from != "" {
			start = userPrefix(from)
		}
		var owners []string
		for k, _ := states.Seek(start); k != nil; k, _ = states.Next() {
			if len(k) == 0 || k[len(k)-1] != 0 {
				return fmt.Errorf("decode archive state key: %w", ErrCorrupt)
			}
			owners = append(owners, string(k[:len(k)-1]))
		}
		for _, owner := range owners {
			if deleted >= budget {
				next = owner
				return nil
			}
			keepAfter, maxSize := policy(owner)
			st, err := loadArchiveState(tx, owner)
			if err != nil {
				return err
			}
			var cutoff uint64
			if !keepAfter.IsZero() {
				cutoff = uint64(max(keepAfter.UnixMicro(), 0))
			}
			prefix := userPrefix(owner)
			c := arch.Cursor()
			// Seek afresh after each delete; see deletePrefix.
			for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Seek(prefix) {
				if len(k) != len(prefix)+8 {
					return fmt.Errorf("decode archive key: %w", ErrCorrupt)
				}
				id := binary.BigEndian.Uint64(k[len(prefix):])
				if id >= cutoff && (maxSize <= 0 || st.size <= maxSize) {
					break
				}
				if deleted >= budget {
					next = owner
					return saveArchiveState(tx, owner, st)
				}
				_, w, _, _, err := decodeArchiveValue(v)
				if err != nil {
					return err
				}
				size := recordSize(k, v)
				if len(w) > 0 {
					wk := append(append(append(slices.Clone(prefix), w...), 0), k[len(prefix):]...)
					if err := with.Delete(wk); err != nil {
						return err
					}
				}
				if err := c.Delete(); err != nil {
					return err
				}
				st.n--
				st.size -= size
				deleted++
			}
			if err := saveArchiveState(tx, owner, st); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, "", fmt.Errorf("trim archives: %w", err)
	}
	return deleted, next, nil
}

// ArchivePrefs returns user's archiving preferences (XEP-0441), as stored
// by PutArchivePrefs.
func (s *Store) ArchivePrefs(user string) ([]byte, bool, error) {
	if err := checkUser(user); err != nil {
		return nil, false, fmt.Errorf("get archive preferences: %w", err)
	}
	v, found, err := s.getDoc(userKey(user, docArchivePrefs))
	if err != nil {
		return nil, false, fmt.Errorf("get archive preferences: %w", err)
	}
	return v, found, nil
}

// PutArchivePrefs replaces user's archiving preferences; nil or empty
// deletes them. It fails with ErrNotFound when user has no account.
func (s *Store) PutArchivePrefs(user string, v []byte) error {
	if err := checkUser(user); err != nil {
		return fmt.Errorf("put archive preferences: %w", err)
	}
	if err := s.putDoc(user, userKey(user, docArchivePrefs), v); err != nil {
		return fmt.Errorf("put archive preferences: %w", err)
	}
	return nil
}
