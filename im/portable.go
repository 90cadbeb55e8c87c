package im

import (
	"fmt"
	"slices"
)

// StoredItem is a roster item as the store keeps it, in plain fields, for
// moving accounts between servers (roost export and import): the record
// format stays im's own, and the mover reads and writes it only through
// DecodeStoredItem and Encode.
type StoredItem struct {
	Name   string
	Groups []string
	// Subscription is none, to, from or both (RFC 6121 §2.1.2.5).
	Subscription string
	// Ask: the user asked to subscribe (pending out).
	Ask bool
	// PendingIn: the contact asked to subscribe to the user; Request is
	// that request, a serialised <presence type='subscribe'/> in
	// jabber:client, redelivered at the user's next initial presence.
	PendingIn bool
	Request   []byte
	// Approved is a pre-approval (§3.4).
	Approved bool
	// InRoster: the user has the contact in the roster. An item without
	// it only holds subscription state, such as a stranger's request.
	InRoster bool
}

// DecodeStoredItem reads a stored roster item.
func DecodeStoredItem(b []byte) (StoredItem, error) {
	it, err := decodeItem(b)
	if err != nil {
		return StoredItem{}, err
	}
	if it.Sub > subBoth {
		return StoredItem{}, fmt.Errorf("decode roster item: subscription %d", it.Sub)
	}
	return StoredItem{Name: it.Name, Groups: it.Groups, Subscription: it.Sub.String(), Ask: it.Ask,
		PendingIn: it.PendingIn, Request: it.Request, Approved: it.Approved, InRoster: it.InRoster}, nil
}

// Encode returns the stored form of s; nil when it holds nothing worth
// storing (not in the roster and no subscription state).
func (s StoredItem) Encode() ([]byte, error) {
	i := slices.Index([]string{"none", "to", "from", "both"}, s.Subscription)
	if i < 0 {
		return nil, fmt.Errorf("encode roster item: subscription %q", s.Subscription)
	}
	return item{Name: s.Name, Groups: s.Groups, Sub: sub(i), Ask: s.Ask, PendingIn: s.PendingIn,
		Request: s.Request, Approved: s.Approved, InRoster: s.InRoster}.encode()
}
