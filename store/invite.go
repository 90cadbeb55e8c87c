package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"go.etcd.io/bbolt"
)

// InviteHashLen is the length of an invitation's key: the SHA-256 of its
// token. The token itself is never stored, so a copy of the data file
// lets nobody join.
const InviteHashLen = 32

// Invite is an invitation (XEP-0401): whoever holds its token may create
// an account here (XEP-0445) or ask the inviter for a presence
// subscription that is approved at once (XEP-0379).
type Invite struct {
	// Hash is the SHA-256 of the token, InviteHashLen bytes.
	Hash    []byte
	Created time.Time
	// Expires is when the token stops being accepted.
	Expires time.Time
	// MaxUses is how many times the invitation may be redeemed (at least
	// 1); Used how many times it was.
	MaxUses, Used int
	// Inviter is the account (bare JID) the new account and the inviter's
	// roster are joined with; "" for none.
	Inviter string
	// Username, when set, is the only name the new account may take, and
	// the name is reserved for the token until it expires (XEP-0401 §5).
	Username string
	// Admin gives the new account the admin role.
	Admin bool
	// Register lets the token create an account; without it the token
	// only approves a contact request (XEP-0379).
	Register bool
}

// inviteFormat is the first byte of an invitation record.
const inviteFormat = 1

// Invitation flags.
const (
	inviteAdmin    = 1 << 0
	inviteRegister = 1 << 1
	inviteFlags    = inviteAdmin | inviteRegister
)

// maxInviteUses bounds MaxUses so that it fits an int on 32-bit ARM.
const maxInviteUses = 1 << 30

func checkInvite(inv Invite) error {
	if len(inv.Hash) != InviteHashLen || inv.MaxUses < 1 || inv.MaxUses > maxInviteUses ||
		inv.Used < 0 || inv.Used > inv.MaxUses || len(inv.Inviter) > MaxKeyLen || len(inv.Username) > MaxKeyLen {
		return fmt.Errorf("check invitation: %w", ErrInvalid)
	}
	return nil
}

// encodeInvite writes the record for inv (its Hash is the key).
func encodeInvite(inv Invite) []byte {
	b := make([]byte, 0, 2+2*timeLen+4*binary.MaxVarintLen64+len(inv.Inviter)+len(inv.Username))
	b = append(b, inviteFormat)
	b = appendTime(b, inv.Created)
	b = appendTime(b, inv.Expires)
	b = binary.AppendUvarint(b, uint64(inv.MaxUses))
	b = binary.AppendUvarint(b, uint64(inv.Used))
	var flags byte
	if inv.Admin {
		flags |= inviteAdmin
	}
	if inv.Register {
		flags |= inviteRegister
	}
	b = append(b, flags)
	b = appendBytes(b, []byte(inv.Inviter))
	return appendBytes(b, []byte(inv.Username))
}

// decodeInvite parses a record written by encodeInvite, strictly, so that
// decode, encode, decode is stable.
func decodeInvite(hash, data []byte) (Invite, error) {
	bad := fmt.Errorf("decode invitation: %w", ErrCorrupt)
	if len(hash) != InviteHashLen || len(data) < 1+2*timeLen || data[0] != inviteFormat {
		return Invite{}, bad
	}
	inv := Invite{Hash: slices.Clone(hash)}
	var err error
	if inv.Created, err = readTime(data[1:]); err != nil {
		return Invite{}, bad
	}
	if inv.Expires, err = readTime(data[1+timeLen:]); err != nil {
		return Invite{}, bad
	}
	r := reader{b: data[1+2*timeLen:]}
	maxUses, used := r.uvarint(), r.uvarint()
	if r.bad || len(r.b) < 1 || maxUses > maxInviteUses || used > maxUses {
		return Invite{}, bad
	}
	flags := r.b[0]
	r.b = r.b[1:]
	inviter, username := r.bytes(), r.bytes()
	if r.bad || len(r.b) != 0 || flags&^inviteFlags != 0 {
		return Invite{}, bad
	}
	inv.MaxUses, inv.Used = int(maxUses), int(used)
	inv.Admin, inv.Register = flags&inviteAdmin != 0, flags&inviteRegister != 0
	inv.Inviter, inv.Username = string(inviter), string(username)
	if checkInvite(inv) != nil {
		return Invite{}, bad
	}
	return inv, nil
}

// CreateInvite stores a new invitation. It fails with ErrExists when the
// hash is taken and ErrInvalid when the invitation is unusable.
func (s *Store) CreateInvite(inv Invite) error {
	if err := checkInvite(inv); err != nil {
		return fmt.Errorf("create invitation: %w", err)
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(bucketInvites))
		if b.Get(inv.Hash) != nil {
			return ErrExists
		}
		return b.Put(inv.Hash, encodeInvite(inv))
	})
	if err != nil {
		return fmt.Errorf("create invitation: %w", err)
	}
	return nil
}

// Invite returns the invitation whose token hashes to hash.
func (s *Store) Invite(hash []byte) (inv Invite, found bool, err error) {
	if len(hash) != InviteHashLen {
		return Invite{}, false, nil
	}
	err = s.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket([]byte(bucketInvites)).Get(hash)
		if v == nil {
			return nil
		}
		found = true
		inv, err = decodeInvite(hash, v)
		return err
	})
	if err != nil {
		return Invite{}, false, fmt.Errorf("get invitation: %w", err)
	}
	return inv, found, nil
}

// UpdateInvite applies fn to the invitation whose token hashes to hash,
// in one write transaction, so that redeeming a use is atomic: fn changes
// *inv (counts a use) or returns an error, which aborts the update and is
// returned. The invitation is stored again if keep is true and deleted
// otherwise. It fails with ErrNotFound when there is no such invitation.
// fn runs inside the transaction and must not call the Store.
func (s *Store) UpdateInvite(hash []byte, fn func(inv *Invite) (keep bool, err error)) error {
	if len(hash) != InviteHashLen {
		return fmt.Errorf("update invitation: %w", ErrNotFound)
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(bucketInvites))
		v := b.Get(hash)
		if v == nil {
			return ErrNotFound
		}
		inv, err := decodeInvite(hash, v)
		if err != nil {
			return err
		}
		keep, err := fn(&inv)
		if err != nil {
			return err
		}
		if !keep {
			return b.Delete(hash)
		}
		inv.Hash = hash
		if err := checkInvite(inv); err != nil {
			return err
		}
		return b.Put(hash, encodeInvite(inv))
	})
	if err != nil {
		return fmt.Errorf("update invitation: %w", err)
	}
	return nil
}

// Invites calls fn with every invitation, in hash order, stopping at and
// returning fn's first error.
func (s *Store) Invites(fn func(inv Invite) error) error {
	var all []Invite
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte(bucketInvites)).ForEach(func(k, v []byte) error {
			inv, err := decodeInvite(k, v)
			if err != nil {
				return err
			}
			all = append(all, inv)
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("list invitations: %w", err)
	}
	for _, inv := range all {
		if err := fn(inv); err != nil {
			return err
		}
	}
	return nil
}

// DeleteInvites removes the invitations whose hash starts with prefix (an
// invitation's short ID is the start of its hash) and returns how many
// there were. An empty prefix deletes nothing.
func (s *Store) DeleteInvites(prefix []byte) (int, error) {
	if len(prefix) == 0 {
		return 0, nil
	}
	var n int
	err := s.db.Update(func(tx *bbolt.Tx) error {
		var err error
		n, err = deletePrefix(tx.Bucket([]byte(bucketInvites)), prefix)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete invitations: %w", err)
	}
	return n, nil
}

// DeleteExpiredInvites removes the invitations that expired before t and
// returns how many there were.
func (s *Store) DeleteExpiredInvites(t time.Time) (int, error) {
	var n int
	err := s.db.Update(func(tx *bbolt.Tx) error {
		n = 0
		return deleteInvitesIf(tx, func(inv Invite) bool { return inv.Expires.Before(t) }, &n)
	})
	if err != nil {
		return 0, fmt.Errorf("delete expired invitations: %w", err)
	}
	return n, nil
}

// deleteInvitesIf removes every invitation for which drop is true, adding
// the count to *n. It collects the keys first: deleting under a cursor may
// skip keys (bbolt README, "Caveats & Limitations").
func deleteInvitesIf(tx *bbolt.Tx, drop func(Invite) bool, n *int) error {
	b := tx.Bucket([]byte(bucketInvites))
	var gone [][]byte
	err := b.ForEach(func(k, v []byte) error {
		inv, err := decodeInvite(k, v)
		if err != nil {
			return err
		}
		if drop(inv) {
			gone = append(gone, slices.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range gone {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	*n += len(gone)
	return nil
}

// deleteInvitesBy removes the invitations user made, with the account.
func deleteInvitesBy(tx *bbolt.Tx, user string) error {
	var n int
	return deleteInvitesIf(tx, func(inv Invite) bool { return inv.Inviter == user }, &n)
}

// roleKey is the key, after user \0, of an account's role in userstate.
const roleKey = "role"

// roleAdmin is the value of the admin role.
var roleAdmin = []byte("admin")

// SetAdmin gives user the admin role or takes it away. It fails with
// ErrNotFound when user has no account.
func (s *Store) SetAdmin(user string, admin bool) error {
	if err := checkUser(user); err != nil {
		return fmt.Errorf("set role: %w", err)
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		if !accountExists(tx, user) {
			return fmt.Errorf("account %.40q: %w", user, ErrNotFound)
		}
		b := tx.Bucket([]byte(bucketUserState))
		if admin {
			return b.Put(userKey(user, roleKey), roleAdmin)
		}
		return b.Delete(userKey(user, roleKey))
	})
	if err != nil {
		return fmt.Errorf("set role: %w", err)
	}
	return nil
}

// IsAdmin reports whether user has the admin role.
func (s *Store) IsAdmin(user string) (bool, error) {
	if err := checkUser(user); err != nil {
		return false, fmt.Errorf("get role: %w", err)
	}
	var admin bool
	err := s.db.View(func(tx *bbolt.Tx) error {
		admin = bytes.Equal(tx.Bucket([]byte(bucketUserState)).Get(userKey(user, roleKey)), roleAdmin)
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("get role: %w", err)
	}
	return admin, nil
}

// Admins calls fn with every account that has the admin role, in byte
// order.
func (s *Store) Admins(fn func(user string) error) error {
	var admins []string
	err := s.db.View(func(tx *bbolt.Tx) error {
		state := tx.Bucket([]byte(bucketUserState))
		return tx.Bucket([]byte(bucketAccounts)).ForEach(func(k, _ []byte) error {
			if bytes.Equal(state.Get(userKey(string(k), roleKey)), roleAdmin) {
				admins = append(admins, string(k))
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("list admins: %w", err)
	}
	for _, a := range admins {
		if err := fn(a); err != nil {
			return err
		}
	}
	return nil
}
