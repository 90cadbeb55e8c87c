package store

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"time"

	"go.etcd.io/bbolt"
)

// SCRAMKeys are the stored credentials for one SCRAM hash (RFC 5802 §3,
// RFC 7677): the salt and iteration count sent to the client and the two
// keys the server needs to verify a proof and prove itself. They are derived
// from the password by the caller; the store never sees a password.
type SCRAMKeys struct {
	Salt       []byte
	Iterations int
	StoredKey  []byte
	ServerKey  []byte
}

// Account is a local user. SCRAM is keyed by the hash's IANA name as used in
// the mechanism name ("SHA-1", "SHA-256"); an account may have none.
type Account struct {
	Username string
	Created  time.Time
	SCRAM    map[string]SCRAMKeys
}

// accountFormat is the first byte of an account record; a new record layout
// gets a new value and a migration.
const accountFormat = 1

// maxIterations bounds the SCRAM iteration count so it fits an int on every
// platform roost runs on, including 32-bit ARM.
const maxIterations = math.MaxInt32

func checkSCRAM(scram map[string]SCRAMKeys) error {
	for name, k := range scram {
		if name == "" || len(name) > 64 {
			return fmt.Errorf("check SCRAM hash name %.40q: %w", name, ErrInvalid)
		}
		if k.Iterations < 1 || k.Iterations > maxIterations || len(k.Salt) == 0 ||
			len(k.StoredKey) == 0 || len(k.ServerKey) == 0 {
			return fmt.Errorf("check SCRAM-%s keys: %w", name, ErrInvalid)
		}
	}
	return nil
}

// encodeAccount writes the record for a (its Username is the key, not part
// of the record). SCRAM entries are sorted by name so the encoding is
// canonical.
func encodeAccount(a Account) []byte {
	names := make([]string, 0, len(a.SCRAM))
	size := 1 + timeLen + binary.MaxVarintLen64
	for name, k := range a.SCRAM {
		names = append(names, name)
		size += len(name) + len(k.Salt) + len(k.StoredKey) + len(k.ServerKey) + 5*binary.MaxVarintLen64
	}
	slices.Sort(names)
	b := make([]byte, 0, size)
	b = append(b, accountFormat)
	b = appendTime(b, a.Created)
	b = binary.AppendUvarint(b, uint64(len(names)))
	for _, name := range names {
		k := a.SCRAM[name]
		b = appendBytes(b, []byte(name))
		b = binary.AppendUvarint(b, uint64(k.Iterations))
		b = appendBytes(b, k.Salt)
		b = appendBytes(b, k.StoredKey)
		b = appendBytes(b, k.ServerKey)
	}
	return b
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// decodeAccount parses a record written by encodeAccount. It copies data
// once, so the result is safe to use after the transaction; it rejects
// truncated or trailing data, unsorted or duplicate hash names and values
// the encoder's callers could not have stored, so that decode, encode,
// decode is stable.
func decodeAccount(username string, data []byte) (Account, error) {
	a := Account{Username: username}
	if len(data) < 1+timeLen || data[0] != accountFormat {
		return Account{}, fmt.Errorf("decode account %.40q: %w", username, ErrCorrupt)
	}
	created, err := readTime(data[1:])
	if err != nil {
		return Account{}, fmt.Errorf("decode account %.40q: %w", username, err)
	}
	a.Created = created
	r := reader{b: slices.Clone(data[1+timeLen:])}
	n := r.uvarint()
	// Each entry takes at least 5 bytes; bounding n by that keeps a hostile
	// count from allocating a huge map.
	if r.bad || n > uint64(len(r.b))/5 {
		return Account{}, fmt.Errorf("decode account %.40q: %w", username, ErrCorrupt)
	}
	if n > 0 {
		a.SCRAM = make(map[string]SCRAMKeys, n)
	}
	prev := ""
	for i := range n {
		name := string(r.bytes())
		var k SCRAMKeys
		iter := r.uvarint()
		k.Salt = r.bytes()
		k.StoredKey = r.bytes()
		k.ServerKey = r.bytes()
		if r.bad || (i > 0 && name <= prev) || iter > maxIterations {
			return Account{}, fmt.Errorf("decode account %.40q: %w", username, ErrCorrupt)
		}
		k.Iterations = int(iter)
		a.SCRAM[name] = k
		prev = name
	}
	if len(r.b) != 0 {
		return Account{}, fmt.Errorf("decode account %.40q: %w", username, ErrCorrupt)
	}
	if err := checkSCRAM(a.SCRAM); err != nil {
		return Account{}, fmt.Errorf("decode account %.40q: %w", username, ErrCorrupt)
	}
	return a, nil
}

// reader consumes a record; after any error bad is set and every further
// read returns zero values.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) uvarint() uint64 {
	if r.bad {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	// Only the shortest encoding is accepted, so that a record has one
	// encoding and decode, encode gives back the same bytes.
	if n <= 0 || n != uvarintLen(v) {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}

// bytes returns the next length-prefixed value, capped so that appending to
// it cannot overwrite the next one.
func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.bad || n > uint64(len(r.b)) {
		r.bad = true
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// CreateAccount stores a new account. It fails with ErrExists when the
// name is taken and ErrInvalid when the name or credentials are unusable.
func (s *Store) CreateAccount(a Account) error {
	if err := checkUser(a.Username); err != nil {
		return fmt.Errorf("create account: %w", err)
	}
	if err := checkSCRAM(a.SCRAM); err != nil {
		return fmt.Errorf("create account: %w", err)
	}
	rec := encodeAccount(a)
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(bucketAccounts))
		if b.Get([]byte(a.Username)) != nil {
			return fmt.Errorf("account %.40q: %w", a.Username, ErrExists)
		}
		return b.Put([]byte(a.Username), rec)
	})
	if err != nil {
		return fmt.Errorf("create account: %w", err)
	}
	return nil
}

// Account returns the account for username; found is false when there is
// none.
func (s *Store) Account(username string) (a Account, found bool, err error) {
	if err := checkUser(username); err != nil {
		return Account{}, false, fmt.Errorf("get account: %w", err)
	}
	err = s.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket([]byte(bucketAccounts)).Get([]byte(username))
		if v == nil {
			return nil
		}
		found = true
		a, err = decodeAccount(username, v)
		return err
	})
	if err != nil {
		return Account{}, false, fmt.Errorf("get account: %w", err)
	}
	return a, found, nil
}

// SetCredentials replaces all of username's SCRAM credentials, for a
// password change, and in the same transaction drops every FAST token of
// the account: a new password logs every client out. It fails with
// ErrNotFound when there is no such account.
func (s *Store) SetCredentials(username string, scram map[string]SCRAMKeys) error {
	if err := checkUser(username); err != nil {
		return fmt.Errorf("set credentials: %w", err)
	}
	if err := checkSCRAM(scram); err != nil {
		return fmt.Errorf("set credentials: %w", err)
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(bucketAccounts))
		v := b.Get([]byte(username))
		if v == nil {
			return fmt.Errorf("account %.40q: %w", username, ErrNotFound)
		}
		a, err := decodeAccount(username, v)
		if err != nil {
			return err
		}
		a.SCRAM = scram
		if err := b.Put([]byte(username), encodeAccount(a)); err != nil {
			return err
		}
		_, err = deletePrefix(tx.Bucket([]byte(bucketFast)), userPrefix(username))
		return err
	})
	if err != nil {
		return fmt.Errorf("set credentials: %w", err)
	}
	return nil
}

// DeleteAccount removes the account and all of the user's data (roster,
// roster history, offline messages, documents, block list, role, FAST
// tokens, message archive, upload records, the invitations the user made)
// in one transaction. It reports whether the account existed; data left under the
// name without an account is removed either way.
func (s *Store) DeleteAccount(username string) (existed bool, err error) {
	if err := checkUser(username); err != nil {
		return false, fmt.Errorf("delete account: %w", err)
	}
	err = s.db.Update(func(tx *bbolt.Tx) error {
		existed = accountExists(tx, username)
		return deleteAccountTx(tx, username)
	})
	if err != nil {
		return false, fmt.Errorf("delete account: %w", err)
	}
	return existed, nil
}

// deleteAccountTx removes the account record and every record under the
// name. Records still queued for the archive are dropped at commit: their
// account no longer exists.
func deleteAccountTx(tx *bbolt.Tx, username string) error {
	if err := tx.Bucket([]byte(bucketAccounts)).Delete([]byte(username)); err != nil {
		return err
	}
	// Upload records are keyed by their ID, not the user: the user's
	// index names them.
	if err := deleteUserUploads(tx, username); err != nil {
		return fmt.Errorf("clear uploads: %w", err)
	}
	prefix := userPrefix(username)
	for _, name := range userBuckets() {
		if _, err := deletePrefix(tx.Bucket([]byte(name)), prefix); err != nil {
			return fmt.Errorf("clear %s: %w", name, err)
		}
	}
	if err := deleteInvitesBy(tx, username); err != nil {
		return fmt.Errorf("clear invitations: %w", err)
	}
	return deleteArchiveTx(tx, username)
}

// Accounts calls fn with every user name in byte order, stopping at and
// returning fn's first error.
func (s *Store) Accounts(fn func(username string) error) error {
	var (
		a     textArena
		names []span
	)
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket([]byte(bucketAccounts)).Cursor()
		n, keyBytes, _ := measurePrefix(c, nil)
		a.grow(keyBytes)
		names = make([]span, 0, n)
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			names = append(names, a.add(k))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list accounts: %w", err)
	}
	all := a.all()
	for _, sp := range names {
		if err := fn(strs(all, sp)); err != nil {
			return err
		}
	}
	return nil
}
