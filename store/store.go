package store

import (
	"bytes"
	"cmp"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// SchemaVersion is the version of the file layout this package writes. It
// is the number of migrations: [Open] upgrades older files to it and
// refuses newer ones.
const SchemaVersion uint32 = 2

// Errors returned by the store; test for them with [errors.Is].
var (
	// ErrLocked means another process (or another Store in this one) holds
	// the file. It wraps bbolt's timeout error.
	ErrLocked = errors.New("store locked by another process")
	// ErrExists means the account being created already exists.
	ErrExists = errors.New("already exists")
	// ErrNotFound means the account an operation needs does not exist.
	ErrNotFound = errors.New("not found")
	// ErrInvalid means an argument cannot be stored: an empty name, a user
	// name containing NUL, a key longer than MaxKeyLen, or SCRAM
	// parameters that are missing or out of range.
	ErrInvalid = errors.New("invalid argument")
	// ErrCorrupt means the file is damaged: a record that does not decode,
	// a missing bucket, a file shorter than its pages, or (for a backup)
	// a page that fails bbolt's consistency check.
	ErrCorrupt = errors.New("corrupt store")
	// ErrSchema means the file was written by a newer roost, with a schema
	// version this build does not know.
	ErrSchema = errors.New("unsupported schema version")
	// ErrNotStore means the file is not a roost store: not a bbolt file, or
	// a bbolt file without roost's schema.
	ErrNotStore = errors.New("not a roost store")
)

// MaxKeyLen is the longest name or key the store accepts, in bytes. It is
// above the longest JID (3071 bytes, RFC 7622 §3.1) and well below bbolt's
// key limit even in a composite key.
const MaxKeyLen = 4096

// Defaults for [Options].
const (
	DefaultTimeout         = time.Second
	DefaultInitialMmapSize = 64 << 20
	DefaultRosterHistory   = 100
)

// Options configures [Open] and [Restore]. The zero value is usable.
type Options struct {
	// Timeout is how long Open waits for the file lock before failing with
	// ErrLocked. Zero means DefaultTimeout (1s), so an admin command run
	// next to a live server fails fast instead of hanging.
	Timeout time.Duration
	// InitialMmapSize is the size of the first memory map, in bytes. Zero
	// means DefaultInitialMmapSize (64 MiB); a negative value maps only
	// what the file needs. See the package documentation for 32-bit ARM.
	InitialMmapSize int
	// NoSync skips fsync on commit. It is for tests only: a crash can
	// corrupt the file.
	NoSync bool
	// RosterHistory is how many roster removals are remembered per user for
	// versioned roster deltas (RFC 6121 §2.6). Zero means
	// DefaultRosterHistory; a client whose version predates the oldest
	// remembered removal gets the full roster.
	RosterHistory int
}

func (o Options) withDefaults() Options {
	o.Timeout = cmp.Or(max(o.Timeout, 0), DefaultTimeout)
	switch {
	case o.InitialMmapSize == 0:
		o.InitialMmapSize = DefaultInitialMmapSize
	case o.InitialMmapSize < 0:
		o.InitialMmapSize = 0
	}
	o.RosterHistory = cmp.Or(max(o.RosterHistory, 0), DefaultRosterHistory)
	return o
}

// Store is a roost data file. It is safe for concurrent use.
type Store struct {
	db            *bbolt.DB
	rosterHistory int
	archive       *archiveQueue
}

// Bucket names. The list in v1Buckets is the version 1 schema.
const (
	bucketMeta      = "meta"
	bucketAccounts  = "accounts"
	bucketRoster    = "roster"
	bucketRosterLog = "rosterlog"
	bucketOffline   = "offline"
	bucketDocs      = "docs"
	bucketBlocks    = "blocklist"
	bucketUserState = "userstate"
	bucketBlobs     = "blobs"

	// Wave 2 (schema version 2).
	bucketArchive      = "archive"
	bucketArchiveWith  = "archivewith"
	bucketArchiveState = "archivestate"
	bucketPEPNodes     = "pepnodes"
	bucketPEPItems     = "pepitems"
	bucketRooms        = "mucrooms"
	bucketUploads      = "uploads"
	bucketUploadUsers  = "uploadusers"
	bucketUploadExpiry = "uploadexpiry"
	bucketFast         = "fasttokens"
	bucketInvites      = "invites"

	metaSchemaKey    = "schema"
	metaArchiveIDKey = "archive-ids"
	docArchivePrefs  = "mamprefs"
)

// v1Buckets are the top-level buckets of schema version 1.
func v1Buckets() []string {
	return []string{bucketMeta, bucketAccounts, bucketRoster, bucketRosterLog,
		bucketOffline, bucketDocs, bucketBlocks, bucketUserState, bucketBlobs}
}

// v2Buckets are the top-level buckets schema version 2 adds, for the
// features of the second wave: the message archive (archive, archivewith,
// archivestate), personal eventing (pepnodes, pepitems), group chat rooms
// (mucrooms), HTTP file upload (uploads, uploadusers, uploadexpiry),
// FAST tokens (fasttokens, fast.go) and invitations (invites).
func v2Buckets() []string {
	return []string{bucketArchive, bucketArchiveWith, bucketArchiveState, bucketPEPNodes, bucketPEPItems, bucketRooms,
		bucketUploads, bucketUploadUsers, bucketUploadExpiry, bucketFast, bucketInvites}
}

// schemaBuckets are the buckets of the current schema.
func schemaBuckets() []string { return append(v1Buckets(), v2Buckets()...) }

// userBuckets are the buckets keyed by user+"\x00"; DeleteAccount clears the
// user's range in each of them. The archive buckets are keyed by owner, an
// account or a room, and DeleteAccount clears them apart.
func userBuckets() []string {
	return []string{bucketRoster, bucketRosterLog, bucketOffline, bucketDocs,
		bucketBlocks, bucketUserState, bucketPEPNodes, bucketPEPItems, bucketUploadUsers, bucketFast}
}

// A migration upgrades a file from version to-1 to version to. It runs
// inside the transaction that records the new version.
type migration struct {
	to   uint32
	what string
	up   func(tx *bbolt.Tx) error
}

// migrations is the schema history, oldest first; migrations()[i].to is
// i+1, and its length is SchemaVersion.
func migrations() []migration {
	return []migration{
		{to: 1, what: "create the version 1 buckets", up: createBuckets(v1Buckets())},
		{to: 2, what: "create the wave-2 buckets", up: createBuckets(v2Buckets())},
	}
}

// createBuckets returns a migration step that creates the named top-level
// buckets, keeping any that exist.
func createBuckets(names []string) func(tx *bbolt.Tx) error {
	return func(tx *bbolt.Tx) error {
		for _, name := range names {
			if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		return nil
	}
}

// Open opens the store at path, creating it with mode 0600 if it does not
// exist, and upgrades its schema. It fails with ErrLocked when another
// process holds the file for longer than opts.Timeout, ErrSchema when the
// file comes from a newer roost and ErrNotStore when it is some other
// program's bbolt file.
func Open(path string, opts Options) (*Store, error) {
	return open(path, opts, migrations())
}

// batchDelay is how long a batched write waits for company. bbolt's
// default (10ms) caps one sender's offline messages at about 100 a
// second, each waiting alone; 2ms still gathers concurrent senders into
// one commit and its fsyncs.
const batchDelay = 2 * time.Millisecond

func open(path string, opts Options, migs []migration) (*Store, error) {
	opts = opts.withDefaults()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout:         opts.Timeout,
		InitialMmapSize: opts.InitialMmapSize,
		NoSync:          opts.NoSync,
	})
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, lockErr(err))
	}
	if err := checkSize(db); err != nil {
		_ = db.Close() // The size error is the one worth reporting.
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	db.MaxBatchDelay = batchDelay
	// A file already at this schema is only checked: a bbolt commit
	// writes and syncs even when nothing changed, and commands such as
	// `roost cert status` open the store to read it.
	current := false
	err = db.View(func(tx *bbolt.Tx) error {
		have, err := schemaVersion(tx)
		if err != nil || have != uint32(len(migs)) {
			return err
		}
		current = true
		return checkBuckets(tx)
	})
	if err == nil && !current {
		err = db.Update(func(tx *bbolt.Tx) error { return migrate(tx, migs) })
	}
	if err != nil {
		_ = db.Close() // The migration error is the one worth reporting.
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	var reserved uint64
	err = db.View(func(tx *bbolt.Tx) error {
		reserved, err = loadArchiveReservation(tx)
		return err
	})
	if err != nil {
		_ = db.Close() // The read error is the one worth reporting.
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	var seed [32]byte
	_, _ = crand.Read(seed[:]) // never fails (crypto/rand.Read)
	return &Store{db: db, rosterHistory: opts.RosterHistory, archive: newArchiveQueue(reserved, seed)}, nil
}

// checkSize fails when the file is shorter than the pages its meta page
// claims, as after a lost write or a truncated copy: bbolt would fault
// (SIGBUS) on the first read of a missing page instead of reporting it.
func checkSize(db *bbolt.DB) error {
	fi, err := os.Stat(db.Path())
	if err != nil {
		return err
	}
	return db.View(func(tx *bbolt.Tx) error {
		if tx.Size() > fi.Size() {
			return fmt.Errorf("file truncated, %d of %d bytes: %w", fi.Size(), tx.Size(), ErrCorrupt)
		}
		return nil
	})
}

// lockErr marks bbolt's lock timeout as ErrLocked, keeping both in the chain.
func lockErr(err error) error {
	if errors.Is(err, berrors.ErrTimeout) {
		return fmt.Errorf("%w: %w", ErrLocked, err)
	}
	return err
}

// Close commits the queued archive records, then releases the file and its
// lock. Calling it twice is harmless.
func (s *Store) Close() error {
	var err error
	if s.db.Path() != "" { // still open
		err = s.syncIfQueued()
	}
	if cerr := s.db.Close(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	if err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// schemaVersion reads the version recorded in tx; 0 when there is no meta
// bucket.
func schemaVersion(tx *bbolt.Tx) (uint32, error) {
	meta := tx.Bucket([]byte(bucketMeta))
	if meta == nil {
		return 0, nil
	}
	v := meta.Get([]byte(metaSchemaKey))
	if len(v) != 4 {
		return 0, fmt.Errorf("read schema version: %w", ErrCorrupt)
	}
	return binary.BigEndian.Uint32(v), nil
}

// migrate brings tx up to len(migs) and checks that the result has every
// bucket the code relies on, so that methods can use tx.Bucket unchecked.
func migrate(tx *bbolt.Tx, migs []migration) error {
	have, err := schemaVersion(tx)
	if err != nil {
		return err
	}
	want := uint32(len(migs))
	if have > want {
		return fmt.Errorf("file has schema %d, this roost knows up to %d: %w", have, want, ErrSchema)
	}
	if have == 0 {
		// Version 0 is an empty file or a roost file from before schema
		// versioning; anything else belongs to another program.
		known := make(map[string]bool)
		for _, name := range v1Buckets() {
			known[name] = true
		}
		err := tx.ForEach(func(name []byte, _ *bbolt.Bucket) error {
			if !known[string(name)] {
				return fmt.Errorf("found foreign bucket %.40q: %w", name, ErrNotStore)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	for _, m := range migs[have:] {
		if err := m.up(tx); err != nil {
			return fmt.Errorf("migrate to schema %d (%s): %w", m.to, m.what, err)
		}
	}
	if have < want {
		meta, err := tx.CreateBucketIfNotExists([]byte(bucketMeta))
		if err != nil {
			return fmt.Errorf("record schema version: %w", err)
		}
		if err := meta.Put([]byte(metaSchemaKey), binary.BigEndian.AppendUint32(nil, want)); err != nil {
			return fmt.Errorf("record schema version: %w", err)
		}
	}
	return checkBuckets(tx)
}

// checkBuckets fails when a bucket of the schema is missing.
func checkBuckets(tx *bbolt.Tx) error {
	for _, name := range schemaBuckets() {
		if tx.Bucket([]byte(name)) == nil {
			return fmt.Errorf("find bucket %s: %w", name, ErrCorrupt)
		}
	}
	return nil
}

// checkUser validates a user name, which becomes a key prefix.
func checkUser(user string) error {
	if user == "" || len(user) > MaxKeyLen || strings.IndexByte(user, 0) >= 0 {
		return fmt.Errorf("check user name %.40q: %w", user, ErrInvalid)
	}
	return nil
}

// checkKey validates a name that ends a key (a contact, a JID, a private XML
// key, a blob key), where NUL is harmless.
func checkKey(what, key string) error {
	if key == "" || len(key) > MaxKeyLen {
		return fmt.Errorf("check %s %.40q: %w", what, key, ErrInvalid)
	}
	return nil
}

// userPrefix is the start of user's key range in a per-user bucket.
func userPrefix(user string) []byte {
	k := make([]byte, 0, len(user)+1)
	k = append(k, user...)
	return append(k, 0)
}

// userKey is user \0 rest.
func userKey(user, rest string) []byte {
	k := make([]byte, 0, len(user)+1+len(rest))
	k = append(k, user...)
	k = append(k, 0)
	return append(k, rest...)
}

// seqKey is user \0 big-endian n.
func seqKey(user string, n uint64) []byte {
	k := make([]byte, 0, len(user)+9)
	k = append(k, user...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, n)
}

// accountExists reports whether user has an account; per-user writes check
// it in their own transaction so no data outlives its account.
func accountExists(tx *bbolt.Tx, user string) bool {
	return tx.Bucket([]byte(bucketAccounts)).Get([]byte(user)) != nil
}

// deletePrefix removes every key in b that starts with prefix. It seeks
// afresh after each delete: deleting under a cursor and calling Next may
// skip a key (bbolt README, "Caveats & Limitations").
func deletePrefix(b *bbolt.Bucket, prefix []byte) (int, error) {
	c := b.Cursor()
	n := 0
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Seek(prefix) {
		if err := c.Delete(); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// countPrefix counts the keys in b that start with prefix.
func countPrefix(b *bbolt.Bucket, prefix []byte) int {
	c := b.Cursor()
	n := 0
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		n++
	}
	return n
}

// timeLen is the size of an encoded time.
const timeLen = 12

// appendTime encodes t as Unix seconds and nanoseconds, which, unlike
// UnixNano, covers every time.Time including the zero value.
func appendTime(b []byte, t time.Time) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(t.Unix()))
	return binary.BigEndian.AppendUint32(b, uint32(t.Nanosecond()))
}

// readTime decodes appendTime's encoding; the result is in UTC.
func readTime(b []byte) (time.Time, error) {
	if len(b) < timeLen {
		return time.Time{}, fmt.Errorf("decode time: %w", ErrCorrupt)
	}
	nsec := binary.BigEndian.Uint32(b[8:12])
	if nsec >= 1e9 {
		return time.Time{}, fmt.Errorf("decode time: %w", ErrCorrupt)
	}
	return time.Unix(int64(binary.BigEndian.Uint64(b[:8])), int64(nsec)).UTC(), nil
}

// Iterating methods copy what they read into a few buffers sized by a
// first pass over the same keys (measurePrefix), so that listing a roster
// costs a handful of allocations however long it is: an arena for values
// and a textArena for keys. Spans are offsets, not slices, so that a buffer
// may still move while it fills.
type span struct{ start, end int }

// measurePrefix counts the keys in c's bucket that start with prefix and
// the bytes in their tails (the key after prefix) and values.
func measurePrefix(c *bbolt.Cursor, prefix []byte) (n, tailBytes, valBytes int) {
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		n++
		tailBytes += len(k) - len(prefix)
		valBytes += len(v)
	}
	return n, tailBytes, valBytes
}

// arena holds copies of values.
type arena struct{ buf []byte }

func (a *arena) grow(n int) { a.buf = slices.Grow(a.buf, n) }

func (a *arena) add(b []byte) span {
	start := len(a.buf)
	a.buf = append(a.buf, b...)
	return span{start, len(a.buf)}
}

// bytes returns the copy for sp, capped so that a caller's append cannot
// overwrite its neighbour. It is never nil, so that an empty value stays
// distinguishable from an absent one.
func (a *arena) bytes(sp span) []byte {
	if a.buf == nil {
		return []byte{}
	}
	return a.buf[sp.start:sp.end:sp.end]
}

// textArena holds copies of keys as one string; strings.Builder hands its
// buffer over as the string without copying it again.
type textArena struct{ b strings.Builder }

func (a *textArena) grow(n int) { a.b.Grow(n) }

func (a *textArena) add(k []byte) span {
	start := a.b.Len()
	a.b.Write(k)
	return span{start, a.b.Len()}
}

// all returns everything added; call it once, after the last add.
func (a *textArena) all() string { return a.b.String() }

func strs(all string, sp span) string { return all[sp.start:sp.end] }
