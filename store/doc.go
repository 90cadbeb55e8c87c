// Package store keeps everything roost persists in one embedded
// go.etcd.io/bbolt file: accounts (SCRAM credentials only), rosters with
// versioning, offline messages, small per-user documents (vCard, private
// XML, block list, last activity) and server-wide blobs (the ACME cache,
// server secrets).
//
// The package is concrete bbolt code and imports no roost package. Every
// exported method uses only builtin types, []byte, [time.Time], the small
// structs defined here and callbacks, so that each consumer (c2s, im, certs,
// admin, the modules) declares the one- to three-method interface it needs
// and *[Store] satisfies it directly. The store stores bytes, not stanzas:
// roster items, offline stanzas, vCards and private XML are opaque values
// encoded and decoded by their consumer.
//
// # File layout
//
// A few large top-level buckets, one per kind of data; bbolt wastes pages on
// many small buckets, so there is never a bucket per user. Keys are composite,
// the user name first, then a NUL byte, so that all of one user's data in a
// bucket is one contiguous key range ("prefix" below is user+"\x00"). User
// names therefore may not contain NUL (no JID can: RFC 7622 §3.3 forbids
// control characters). Integers in keys are big-endian so that byte order is
// numeric order; times are 12 bytes, Unix seconds (int64) then nanoseconds
// (uint32), both big-endian.
//
//	bucket     key                            value
//	meta       "schema"                       uint32 schema version
//	accounts   user                           account record (see below)
//	roster     user \0 contact                u64 item version | item
//	rosterlog  user \0 u64 version            contact (a removal tombstone)
//	offline    user \0 u64 seq                time stamp | stanza
//	docs       user \0 "vcard"                vCard XML (XEP-0054)
//	           user \0 "last"                 time | status (XEP-0012)
//	           user \0 "private" \0 key       private XML (XEP-0049)
//	blocklist  user \0 jid                    empty (XEP-0191)
//	userstate  user \0 "roster"               u64 version | u64 history floor
//	           user \0 "offline"              u64 message count
//	blobs      key                            value (server-wide)
//
// The account record is a custom binary encoding: a format byte (1), the
// creation time, then a uvarint count of SCRAM entries sorted by hash name,
// each a length-prefixed name, uvarint iteration count and length-prefixed
// salt, StoredKey and ServerKey (RFC 5802 §3). No password is ever stored.
// Its decoder rejects anything the encoder would not produce and is fuzzed.
//
// Every write to per-user data (roster, offline, documents, block list)
// checks, in the same transaction, that the account exists and fails with
// [ErrNotFound] otherwise, and [Store.DeleteAccount] removes the user's key
// range from every bucket in the same transaction as the account record: no
// data can outlive its account.
//
// # Schema and migrations
//
// The schema version lives in the meta bucket. [Open] runs, inside one
// read-write transaction, every migration from the file's version up to
// [SchemaVersion] and then records the new version, so a crash mid-upgrade
// leaves the file at its old version. A file with no meta bucket is version
// 0 (a new file, or one written before versioning); it is upgraded only if
// every bucket in it is one roost knows, so that pointing roost at some
// other program's bbolt file fails with [ErrNotStore] instead of silently
// adding buckets to it. A file from a newer roost is refused with
// [ErrSchema]: downgrading needs a backup from before the upgrade.
//
// # Roster versioning
//
// RFC 6121 §2.6 lets a client send the version of the roster it cached and
// receive only the changes since then as roster pushes. Versions come from
// one bucket sequence shared by all users, so they are strictly increasing
// per user and never reused, not even when an account is deleted and
// recreated with the same name: a client's stale version from the old
// account can never be mistaken for a version of the new one. Each item
// records the version that last changed it, and each removal leaves a
// tombstone in rosterlog. Tombstones are bounded per user
// ([Options.RosterHistory]); when the oldest are dropped, the user's history
// floor rises to the newest dropped version, and [Store.RosterChanges]
// answers ok=false for any version below the floor (or above the current
// version), telling the caller to send the whole roster instead. A user's
// floor starts just below their first change, so versions from before the
// roster existed are never answered with a delta.
//
// # Offline messages and Batch
//
// XEP-0160 offline storage takes concurrent appends from every session that
// routes to an unavailable user. [Store.AppendOffline] goes through
// [bbolt.DB.Batch], which coalesces concurrent writers into one transaction
// and one fsync (bbolt commits with two fsyncs; on an SD card that is most of
// a write's cost). Batch may run a function more than once when another
// function in the same batch fails, so the function is idempotent: it resets
// its results at the start, and every effect it has (the sequence number, the
// record, the count) is inside the transaction, which is rolled back before a
// retry. Results are read only after Batch returns. A batch waits up to
// 2ms (MaxBatchDelay, lowered from bbolt's 10ms so that one sender is not
// held to 100 messages a second) for company; this is latency a user will
// not notice on an offline message. Sequence numbers come from the offline
// bucket's sequence, so per-user order is commit order, and a per-user
// counter in userstate makes the cap check O(1) and exact.
//
// # Callbacks and copying
//
// Values bbolt returns point into its memory map and are valid only inside
// the transaction. Every value this package returns or hands to a callback
// is a copy. Iterating methods copy what they read into a few buffers
// sized in advance, end the transaction and only then call the callback, so a callback may
// call back into the Store (nested transactions in one goroutine can
// deadlock bbolt) and a slow callback does not hold a read transaction open
// (which would keep bbolt from reusing freed pages). The one exception is
// the function passed to [Store.UpdateRosterItem], which runs inside the
// write transaction so that read-modify-write is atomic; it must not call
// the Store.
//
// # Memory map and 32-bit ARM
//
// bbolt maps the whole file into the address space. On 32-bit ARM
// (Raspberry Pi OS armhf, armv6) the map is limited to 2 GB
// (bbolt's internal/common/bolt_arm.go), and in practice a 32-bit process
// has well under that in contiguous free address space, so a store much
// beyond 1 GB may fail to remap. Keep it small: cap offline messages, expire
// archives, and compact the file (bbolt's Compact, from an admin command
// while the server is stopped), because bbolt never shrinks a file.
//
// A write that grows the file past the current map must remap, and a remap
// waits for every open read transaction, including a hot [Store.Backup]
// streaming to a slow writer. [Options.InitialMmapSize] therefore defaults
// to 64 MiB: on Linux it reserves address space only (the file grows with
// the data), it covers a household server's store for years, so remaps are
// rare, and it leaves 32-bit address space for everything else.
//
// # Backup and restore
//
// [Store.Backup] streams a consistent snapshot from a read transaction
// (bbolt's Tx.WriteTo) while the server keeps serving. [Restore] is for a
// stopped server: it writes the backup to a temporary file next to the
// target, fsyncs it, checks it, renames it over the target and fsyncs the
// directory, so a failed restore leaves the target as it was. It refuses
// with [ErrLocked] when the target is open in any process (it takes
// bbolt's flock itself rather than letting bbolt read a target that may be
// the corrupt file being replaced); the check cannot close the window
// against a process that opens the target while the restore runs, which is
// why restore is an offline operation.
//
// bbolt trusts its file: it maps it and follows page numbers, so a file
// shorter than its meta page claims faults with SIGBUS, and a corrupt page
// panics. [Open] therefore compares the file's size with the meta page's
// high-water mark and fails with [ErrCorrupt] instead of crashing the
// server later. [Restore] does the same for the backup and then reads every
// page on a goroutine of its own with faults turned into panics
// (runtime/debug.SetPanicOnFault) and recovered, before running bbolt's
// Tx.Check: a truncated or damaged backup is an error, not a crash.
//
// # Concurrency
//
// A *Store is safe for concurrent use. Each method is one bbolt transaction:
// reads run in parallel, writes are serialised by bbolt, appends are
// batched. bbolt locks the file, so a second process (an admin subcommand
// while the server runs) fails with [ErrLocked] after [Options.Timeout]
// instead of hanging.
package store
