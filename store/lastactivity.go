package store

import (
	"fmt"
	"time"
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
	v := appendTime(make([]byte, 0, timeLen+len(status)), at)
	v = append(v, status...)
	if err := s.putDoc(user, userKey(user, docLast), v); err != nil {
		return fmt.Errorf("set last activity: %w", err)
	}
	return nil
}
