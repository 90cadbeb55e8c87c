// Package store keeps everything roost persists in one embedded
// go.etcd.io/bbolt file: accounts (SCRAM credentials only), rosters with
// versioning, offline messages, small per-user documents (vCard, private
// XML, block list, last activity), personal eventing nodes and items
// (XEP-0163), server-wide blobs (the ACME cache, server secrets) and the
// records of uploaded files.
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
//	bucket        key                          value
//	meta          "schema"                     uint32 schema version
//	              "archive-ids"                u64 archive identifier reservation
//	              "uploadbytes"                u64 bytes all upload records reserve
//	accounts      user                         account record (see below)
//	roster        user \0 contact              u64 item version | item
//	rosterlog     user \0 u64 version          contact (a removal tombstone)
//	offline       user \0 u64 seq              time stamp | stanza
//	docs          user \0 "vcard"              vCard XML (XEP-0054)
//	              user \0 "last"               time | status (XEP-0012)
//	              user \0 "private" \0 key     private XML (XEP-0049)
//	              user \0 "mamprefs"           archive preferences (XEP-0441)
//	              user \0 "push"               push registrations (XEP-0357)
//	blocklist     user \0 jid                  empty (XEP-0191)
//	userstate     user \0 "roster"             u64 version | u64 history floor
//	              user \0 "offline"            u64 message count
//	              user \0 "role"               "admin" (absent: a plain user)
//	blobs         key                          value (server-wide)
//	invites       SHA-256 of the token         invitation record (XEP-0401)
//	archive       owner \0 u64 id              u32 tag | with | resource | stanza
//	archivewith   owner \0 with \0 u64 id      resource (the with index)
//	archivestate  owner \0                     u64 count | u64 size
//	pepnodes      user \0 node                 node record (module/pep)
//	pepitems      user \0 node \0 "i" id       u64 seq | time | item
//	              user \0 node \0 "s" u64 seq  id (publication order)
//	uploads       id                           upload record (see Uploads)
//	uploadusers   user \0 id                   u64 size (the owner's index)
//	uploadexpiry  u64 expiry seconds | id      empty (the sweeper's index)
//	fasttokens    user \0 client \0 slot       token record (see fast.go)
//
// In archive records, with and resource are uvarint length-prefixed.
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
// # Uploads
//
// HTTP File Upload (XEP-0363) keeps file bodies outside the store, as
// files in the data directory: bbolt maps the whole file into memory, and
// a 32-bit Pi has about 1 GiB of address space. The store holds what is
// small: one record per slot, keyed by the slot's random ID (download URLs
// carry no user name), with its owner, file name, media type, declared
// size, creation time, expiry and a complete flag — a format byte, a flags
// byte, the size, both times, then three uvarint-length-prefixed strings.
// Two indexes follow every record in the same transaction: the owner's
// (uploadusers, in [userBuckets], whose values are the sizes, so a user's
// usage is one prefix scan) and the expiry index (uploadexpiry, in expiry
// order, so the sweeper reads only what is due). A running total of every
// record's size sits in meta, so the server-wide quota costs one read.
// [Store.ReserveUpload] checks both quotas and writes the record in one
// transaction, so concurrent requests cannot overshoot together;
// [Store.DeleteAccount] removes the user's records with the account.
//
// # FAST tokens
//
// FAST tokens (XEP-0484) are kept as their HMAC keys, never as tokens,
// two per client: the one in use and one issued but not used yet.
// [Store.SetCredentials] drops all of an account's tokens in the
// transaction that changes its password, and [Store.UseFastToken] checks
// expiry and the replay counter in the transaction that records the use.
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
// # Message archives
//
// An archive (XEP-0313) belongs to an owner: an account's bare JID or a
// group chat room's, and one set of methods serves both, so that a room
// archive is the same code as a user's. The archive buckets are keyed by
// owner rather than by account, which is why they are not among the
// per-user buckets; [Store.DeleteAccount] clears the account's archive in
// its own transaction, and [Store.DeleteArchive] clears a room's.
//
// A message's identifier is its time in microseconds since the Unix
// epoch, made unique and strictly increasing across the store (an append
// in the same microsecond as the last gets the next one), so an archive
// is in time order, a time range is a key range, and a lookup by
// identifier is one seek. XEP-0313 §3 wants identifiers unpredictable:
// each message also gets a random 32-bit tag, stored with it, which the
// protocol layer makes part of the identifier it shows, and a query naming
// a message checks the tag ([ArchiveQuery].Check). Identifiers are never
// reused: each commit records in the meta bucket a reservation a minute
// past the newest identifier it wrote, and [Open] starts above it, so
// identifiers handed out just before a crash (stamped on delivered
// messages, never committed) are not handed out again even if the clock
// went back.
//
// The with index lists each owner's messages by the other party's bare
// JID, so that a query filtered by it reads only the matching messages;
// its value is the party's resource, for filters by full JID. The state
// record counts each owner's messages and bytes, which the size cap and
// the archive metadata read without walking the archive.
//
// # Group commits
//
// Every archived message is written once per archive on the routing path,
// so an append must cost neither an fsync nor a transaction.
// [Store.AppendArchive] only copies the record into a queue in memory and
// hands out its identifier; a commit then writes everything queued in one
// transaction (one fsync pair, shared by all). Commits happen when
// [Store.SyncArchive] is called (the server calls it before acknowledging
// stanzas with stream management, XEP-0198, so that an acknowledged
// message survives a crash), every interval of [Store.RunArchive] (the
// server's background committer), when 512 records or 1 MiB are queued,
// before a query or a summary (which therefore see every message appended
// before them), and at [Store.Close]. If the committer falls ten times
// behind those thresholds, appends wait for a commit, which bounds the
// queue's memory. A group commit is led by whichever caller finds no
// commit running; callers that find one running wait for it and then
// check whether their records were in it.
//
// Records of account archives are dropped at commit if the account no
// longer exists, so an account deleted while its messages were queued
// leaves nothing behind. [Store.TrimArchives] applies retention (an age
// and a size cap per owner) a bounded number of deletions per
// transaction, always from the oldest end (XEP-0313 §3.2: no holes), so
// that a sweep never holds the writer for long.
//
// # Moving accounts
//
// roost export and import move accounts between stores (through the
// XEP-0227 format, which package portable knows and this package does
// not). [Store.ExportAccount] reads one account and everything under its
// name in one read transaction, handing the records to its callback
// inside the transaction, so that an archive of any size is streamed,
// not copied. [Store.BeginImport] writes one: records go into a write
// transaction with [AccountImport.Put], and [AccountImport.Commit]
// writes the account record last, with the counters (roster version,
// offline count, archive state) and the archive identifier reservation.
// An account is imported atomically in one transaction unless its
// records pass [ImportOptions].BatchBytes: bbolt holds a transaction's
// writes in memory until it commits, so a larger account is committed in
// batches, its records existing without an account record (which nothing
// serves) until the last one; a failure removes them, and a crash leaves
// them for the next import of the name or [Store.DeleteAccount] to
// remove. Roster items get fresh versions, offline messages and PEP items
// fresh sequence numbers in the order given; archived messages keep the
// identifiers and tags they are given.
//
// [Diff] compares two stores record by record, leaving out what is not
// meant to move (server blobs, the schema and identifier reservation,
// roster versions and removal history, sequence numbers), which is how
// a round trip through export and import is checked.
//
// # Callbacks and copying
//
// Values bbolt returns point into its memory map and are valid only inside
// the transaction. Every value this package returns or hands to a callback
// is a copy. Iterating methods copy what they read into a few buffers
// sized in advance, end the transaction and only then call the callback, so a callback may
// call back into the Store (nested transactions in one goroutine can
// deadlock bbolt) and a slow callback does not hold a read transaction open
// (which would keep bbolt from reusing freed pages). The exceptions are
// the functions passed to [Store.UpdateRosterItem] and the PEP changes,
// which run inside the write transaction so that read-modify-write is
// atomic, and the callbacks of [Store.ExportAccount], which stream from a
// read transaction; they must not call the Store.
//
// # Memory map and 32-bit ARM
//
// bbolt maps the whole file into the address space. On 32-bit ARM
// (Raspberry Pi OS armhf, armv6) the map is limited to 2 GB
// (bbolt's internal/common/bolt_arm.go), and in practice a 32-bit process
// has well under that in contiguous free address space, so a store much
// beyond 1 GB may fail to remap. Keep it small: cap offline messages, expire
// archives ([Store.TrimArchives]), and compact the file ([Compact], `roost
// compact` while the server is stopped), because bbolt never shrinks a file.
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
