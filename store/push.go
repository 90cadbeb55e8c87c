package store

import "fmt"

// docPush is the key of an account's push registrations (XEP-0357) in
// the docs bucket.
const docPush = "push"

// PushRegistrations returns user's push notification registrations
// (XEP-0357), as stored by PutPushRegistrations.
func (s *Store) PushRegistrations(user string) ([]byte, bool, error) {
	if err := checkUser(user); err != nil {
		return nil, false, fmt.Errorf("get push registrations: %w", err)
	}
	v, found, err := s.getDoc(userKey(user, docPush))
	if err != nil {
		return nil, false, fmt.Errorf("get push registrations: %w", err)
	}
	return v, found, nil
}

// PutPushRegistrations replaces user's push registrations; nil or empty
// deletes them. It fails with ErrNotFound when user has no account. They
// go with the account in DeleteAccount.
func (s *Store) PutPushRegistrations(user string, v []byte) error {
	if err := checkUser(user); err != nil {
		return fmt.Errorf("put push registrations: %w", err)
	}
	if err := s.putDoc(user, userKey(user, docPush), v); err != nil {
		return fmt.Errorf("put push registrations: %w", err)
	}
	return nil
}
