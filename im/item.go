package im

import (
	"encoding/json"
	"fmt"

	"roost/xmlstream"
)

// NSRoster is the roster namespace (RFC 6121 §2).
const NSRoster = "jabber:iq:roster"

// sub is the subscription part of a roster item's state.
type sub uint8

const (
	subNone sub = iota
	subTo
	subFrom
	subBoth
)

func (s sub) String() string {
	return [...]string{"none", "to", "from", "both"}[s]
}

func (s sub) hasTo() bool   { return s == subTo || s == subBoth }
func (s sub) hasFrom() bool { return s == subFrom || s == subBoth }

func (s sub) withTo(on bool) sub {
	switch {
	case on && s == subNone:
		return subTo
	case on && s == subFrom:
		return subBoth
	case !on && s == subTo:
		return subNone
	case !on && s == subBoth:
		return subFrom
	}
	return s
}

func (s sub) withFrom(on bool) sub {
	switch {
	case on && s == subNone:
		return subFrom
	case on && s == subTo:
		return subBoth
	case !on && s == subFrom:
		return subNone
	case !on && s == subBoth:
		return subTo
	}
	return s
}

// item is a roster item as stored: the user-visible fields and the
// subscription state of Appendix A.
type item struct {
	Name   string   `json:"n,omitempty"`
	Groups []string `json:"g,omitempty"`
	Sub    sub      `json:"s,omitempty"`
	// Ask is "pending out": the user asked to subscribe.
	Ask bool `json:"a,omitempty"`
	// PendingIn: the contact asked to subscribe to the user; Request is
	// the serialised request, redelivered at the next initial presence.
	PendingIn bool   `json:"i,omitempty"`
	Request   []byte `json:"q,omitempty"`
	// Approved is a subscription pre-approval (§3.4).
	Approved bool `json:"p,omitempty"`
	// InRoster: the user has the contact in the roster. An item may
	// exist only to hold subscription state (a request from a stranger);
	// such items are not shown or pushed.
	InRoster bool `json:"r,omitempty"`
}

// empty reports whether the item holds nothing worth storing.
func (it item) empty() bool {
	return !it.InRoster && it.Sub == subNone && !it.Ask && !it.PendingIn && !it.Approved
}

// requestMark starts the stored form of an item that holds nothing but a
// subscription request from a stranger (requestOnly): the store can count
// such items apart from the roster without decoding them (isRequest).
const requestMark = '?'

// requestOnly reports whether the item holds only a stranger's
// subscription request: not in the roster, no subscription either way,
// no pre-approval. Those count against Options.MaxSubscriptionRequests,
// not the roster limit.
func (it item) requestOnly() bool {
	return it.PendingIn && !it.InRoster && it.Sub == subNone && !it.Ask && !it.Approved
}

// isRequest reports whether b is the stored form of a request-only item.
func isRequest(b []byte) bool { return len(b) > 0 && b[0] == requestMark }

func decodeItem(b []byte) (item, error) {
	var it item
	if len(b) == 0 {
		return it, nil
	}
	if isRequest(b) {
		b = b[1:]
	}
	if err := json.Unmarshal(b, &it); err != nil {
		return item{}, fmt.Errorf("decode roster item: %w", err)
	}
	return it, nil
}

// encode returns the stored form, nil for an item to delete.
func (it item) encode() ([]byte, error) {
	if it.empty() {
		return nil, nil
	}
	b, err := json.Marshal(it)
	if err != nil || !it.requestOnly() {
		return b, err
	}
	return append([]byte{requestMark}, b...), nil
}

// element renders the item for a roster result or push (§2.1.2).
func (it item) element(contact string) *xmlstream.Element {
	el := xmlstream.New(NSRoster, "item").SetAttr("jid", contact)
	if it.Name != "" {
		el.SetAttr("name", it.Name)
	}
	el.SetAttr("subscription", it.Sub.String())
	if it.Ask {
		el.SetAttr("ask", "subscribe")
	}
	if it.Approved {
		el.SetAttr("approved", "true")
	}
	for _, g := range it.Groups {
		el.Append(xmlstream.New(NSRoster, "group").AppendText(g))
	}
	return el
}

// removedElement renders a removal push.
func removedElement(contact string) *xmlstream.Element {
	return xmlstream.New(NSRoster, "item").SetAttr("jid", contact).SetAttr("subscription", "remove")
}
