package store

import (
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// docLast is the key, after user \0, of the last activity record in the
// docs bucket: a time, then the status text.
const docLast = "last"

// LastActivity returns when user last logged out and the status text of
// their last unavailable presence (XEP-0012).
func (s *Store) LastActivity(user string) (at time.Time, status string, found bool, err error) {
	if err := checkUser(user); err != nil {
		return time.Time{}, "", false, fmt.Errorf("get last activity: %w", err)
	}
	v, found, err := s.getDoc(userKey(user, docLast))
	if err == nil && found {
		at, err = readTime(v)
		if err == nil {
			status = string(v[timeLen:])
		}
	}
	if err != nil {
		return time.Time{}, "", false, fmt.Errorf("get last activity: %w", err)
	}
	return at, status, found, nil
}

// SetLastActivity records user's last logout. It fails with ErrNotFound
// when user has no account.
func (s *Store) SetLastActivity(user string, at time.Time, status string) error {
	if err := checkUser(user); err != nil {
		return fmt.Errorf("set last activity: %w", err)
	}
	if err := s.putDoc(user, userKey(user, docLast), lastRecord(at, status)); err != nil {
		return fmt.Errorf("set last activity: %w", err)
	}
	return nil
}

func lastRecord(at time.Time, status string) []byte {
	v := appendTime(make([]byte, 0, timeLen+len(status)), at)
	return append(v, status...)
}

// LastActivity is one logout for SetLastActivities.
type LastActivity struct {
	User   string
	At     time.Time
	Status string
}

// SetLastActivities records several users' last logouts in one
// transaction, so that they share one commit. Users without an account
// (deleted since they logged out) are skipped.
func (s *Store) SetLastActivities(logouts []LastActivity) error {
	for _, l := range logouts {
		if err := checkUser(l.User); err != nil {
			return fmt.Errorf("set last activities: %w", err)
		}
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		docs := tx.Bucket([]byte(bucketDocs))
		for _, l := range logouts {
			if !accountExists(tx, l.User) {
				continue
			}
			if err := docs.Put(userKey(l.User, docLast), lastRecord(l.At, l.Status)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("set last activities: %w", err)
	}
	return nil
}
