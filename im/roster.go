package im

import (
	"context"
	"strconv"

	"roost/jid"
	"roost/stanza"
	"roost/xmlstream"
)

// Bounds on what a roster set may contain (§2.3.3 leaves them to the
// server).
const (
	maxNameBytes  = 1023
	maxGroupBytes = 1023
	maxGroups     = 64
)

// HandleStanza answers roster gets and sets (RFC 6121 §2) for the user's
// own roster.
func (m *IM) HandleStanza(ctx context.Context, st *stanza.Stanza) (*xmlstream.Element, error) {
	user := st.From.Bare()
	if !st.To.IsZero() && !st.To.Equal(user) {
		// §2.1.5: only the user may see or change the roster.
		return nil, stanza.NewError(stanza.Forbidden, "this is not your roster")
	}
	q := st.El.FirstChild()
	switch st.Type {
	case stanza.TypeGet:
		return m.get(ctx, st, q)
	case stanza.TypeSet:
		return m.set(ctx, st, q)
	}
	return nil, stanza.NewError(stanza.BadRequest, "")
}

// get answers a roster get, with versioning (§2.6).
func (m *IM) get(_ context.Context, st *stanza.Stanza, q *xmlstream.Element) (*xmlstream.Element, error) {
	user := st.From.Bare()
	m.r.SetInterested(st.From)
	ver, versioned := q.Attr("", "ver")
	if versioned && ver != "" {
		if since, err := strconv.ParseUint(ver, 10, 64); err == nil {
			type change struct {
				contact string
				it      item
				removed bool
			}
			var changes []change
			cur, ok, err := m.st.RosterChanges(user.String(), since, func(contact string, b []byte) error {
				if b == nil {
					changes = append(changes, change{contact: contact, removed: true})
					return nil
				}
				it, err := decodeItem(b)
				if err != nil {
					return err
				}
				// What a push shows, without a stored request: the list
				// holds every change, and requests can be large and many.
				it.Request = nil
				changes = append(changes, change{contact: contact, it: it, removed: !it.InRoster})
				return nil
			})
			if err != nil {
				return nil, err
			}
			if ok {
				// §2.6.3: an empty result, then a push per change; only
				// the last push carries the new version, so that an
				// interrupted client asks again from where it was.
				m.r.Deliver(st.From, stanza.ResultIQ(st, nil))
				for i, c := range changes {
					v := ver
					if i == len(changes)-1 {
						v = strconv.FormatUint(cur, 10)
					}
					el := removedElement(c.contact)
					if !c.removed {
						el = c.it.element(c.contact)
					}
					m.r.Deliver(st.From, m.pushElement(st.From, el, v))
				}
				return nil, stanza.ErrReplied
			}
		}
	}
	result := xmlstream.New(NSRoster, "query")
	cur, err := m.st.RosterItems(user.String(), func(contact string, b []byte) error {
		it, err := decodeItem(b)
		if err != nil {
			return err
		}
		if it.InRoster {
			result.Append(it.element(contact))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if versioned {
		result.SetAttr("ver", strconv.FormatUint(cur, 10))
	}
	return stanza.ResultIQ(st, result), nil
}

// set handles a roster set: add, update or remove one item (§2.3, §2.5).
func (m *IM) set(ctx context.Context, st *stanza.Stanza, q *xmlstream.Element) (*xmlstream.Element, error) {
	user := st.From.Bare()
	var items []*xmlstream.Element
	for c := range q.Elements() {
		if c.Is(NSRoster, "item") {
			items = append(items, c)
		}
	}
	if len(items) != 1 {
		return nil, stanza.NewError(stanza.BadRequest, "a roster set carries exactly one item")
	}
	el := items[0]
	contact, err := jid.Parse(el.Get("jid"))
	if err != nil || el.Get("jid") == "" {
		return nil, stanza.NewError(stanza.BadRequest, "the item needs a valid jid")
	}
	if contact.Equal(user) {
		return nil, stanza.NewError(stanza.NotAllowed, "you cannot add yourself to your roster")
	}
	if el.Get("subscription") == "remove" {
		return nil, m.remove(ctx, user, contact)
	}
	name := el.Get("name")
	if len(name) > maxNameBytes {
		return nil, stanza.NewError(stanza.NotAcceptable, "the name is too long")
	}
	var groups []string
	seen := map[string]bool{}
	for g := range el.Elements() {
		if !g.Is(NSRoster, "group") {
			continue
		}
		t := g.Text()
		switch {
		case t == "" || len(t) > maxGroupBytes:
			return nil, stanza.NewError(stanza.NotAcceptable, "a group name must have 1 to 1023 bytes")
		case seen[t]:
			return nil, stanza.NewError(stanza.BadRequest, "the same group twice")
		}
		seen[t] = true
		groups = append(groups, t)
	}
	if len(groups) > maxGroups {
		return nil, stanza.NewError(stanza.NotAcceptable, "too many groups")
	}
	cur, err := m.item(user, contact)
	if err != nil {
		return nil, err
	}
	if !cur.InRoster {
		if err := m.checkCap(user); err != nil {
			return nil, err
		}
	}
	// The subscription and ask attributes a client sends are ignored
	// (§2.1.2.5, §2.1.2.1): only presence stanzas change them.
	old, it, ver, err := m.update(user, contact, func(it item) item {
		it.Name, it.Groups, it.InRoster = name, groups, true
		return it
	})
	if err != nil {
		return nil, err
	}
	if !same(old, it) {
		m.pushItem(user, contact, old, it, ver)
	}
	return nil, nil
}

// checkCap refuses a new roster item once the roster holds
// Options.MaxRosterItems; requests from strangers do not count.
func (m *IM) checkCap(user jid.JID) error {
	n, reqs, err := m.st.RosterCount(user.String(), isRequest)
	if err != nil {
		return err
	}
	if n-reqs >= m.maxItems {
		return stanza.NewError(stanza.NotAllowed, "the roster is full")
	}
	return nil
}

// remove deletes an item and cancels the subscriptions both ways (§2.5).
func (m *IM) remove(ctx context.Context, user, contact jid.JID) error {
	cur, err := m.item(user, contact)
	if err != nil {
		return err
	}
	if !cur.InRoster {
		return stanza.NewError(stanza.ItemNotFound, "no such roster item")
	}
	old, _, ver, err := m.update(user, contact, func(item) item { return item{} })
	if err != nil {
		return err
	}
	if old.Sub.hasTo() || old.Ask {
		m.route(ctx, stanza.Presence, stanza.TypeUnsubscribe, user, contact, presence(stanza.TypeUnsubscribe, user, contact))
	}
	if old.Sub.hasFrom() || old.PendingIn {
		m.route(ctx, stanza.Presence, stanza.TypeUnsubscribed, user, contact, presence(stanza.TypeUnsubscribed, user, contact))
	}
	if old.Sub.hasFrom() {
		m.sendUnavailable(ctx, user, contact)
	}
	m.push(user, removedElement(contact.String()), strconv.FormatUint(ver, 10))
	return nil
}
