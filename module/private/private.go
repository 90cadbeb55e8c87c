package private

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	"roost/jid"
	"roost/module"
	"roost/stanza"
	"roost/xmlstream"
)

// NS is the private XML storage namespace.
const NS = "jabber:iq:private"

// DefaultMaxBytes bounds one stored fragment when Options.MaxBytes is zero.
const DefaultMaxBytes = 64 << 10

// DefaultMaxKeys bounds the fragments of one account when Options.MaxKeys
// is zero.
const DefaultMaxKeys = 100

// maxKey bounds a fragment's name ({namespace}local), well within what the
// store accepts as a key.
const maxKey = 1024

// Errors.
var (
	// ErrCorrupt means stored private XML could not be parsed.
	ErrCorrupt = errors.New("private: stored fragment is not XML")
)

// Store keeps private XML; *store.Store satisfies it.
type Store interface {
	PrivateXML(user, key string) ([]byte, bool, error)
	// PutPrivateXML replaces the fragment; empty deletes it.
	PutPrivateXML(user, key string, v []byte) error
	// PrivateXMLCount returns how many fragments user keeps.
	PrivateXMLCount(user string) (int, error)
}

// Delegate keeps fragments that another feature owns, such as bookmarks,
// which live in personal eventing (XEP-0402 §5.3, "#compat"). The private
// store still holds what the delegate leaves to it.
type Delegate interface {
	// Owns reports whether the delegate keeps fragments named name.
	Owns(name xmlstream.Name) bool
	// PrivateGet returns the fragment to answer a get with; stored is
	// what the private store holds under the name, nil if nothing.
	PrivateGet(ctx context.Context, user jid.JID, stored *xmlstream.Element) (*xmlstream.Element, error)
	// PrivateSet takes a fragment being stored and returns what the
	// private store keeps of it: nil for nothing. A *stanza.Error it
	// returns is the answer.
	PrivateSet(ctx context.Context, user jid.JID, el *xmlstream.Element) (*xmlstream.Element, error)
}

// Options configure a Handler.
type Options struct {
	Store Store
	// MaxBytes bounds one serialised fragment (default DefaultMaxBytes).
	MaxBytes int
	// MaxKeys bounds the fragments one account keeps (default
	// DefaultMaxKeys). Sessions storing new fragments at the same moment
	// may pass it by one each: the bound is for memory and disk, not
	// exact.
	MaxKeys int
	// Delegate, if set, keeps the fragments it owns.
	Delegate Delegate
}

// Handler answers jabber:iq:private. It is a router Handler.
type Handler struct {
	store    Store
	max      int
	maxKeys  int
	delegate Delegate
}

// New returns a handler.
func New(opts Options) *Handler {
	return &Handler{store: opts.Store, max: cmp.Or(max(opts.MaxBytes, 0), DefaultMaxBytes),
		maxKeys: cmp.Or(max(opts.MaxKeys, 0), DefaultMaxKeys), delegate: opts.Delegate}
}

// Name implements module.Module.
func (h *Handler) Name() string { return "private" }

// Register implements module.Module.
func (h *Handler) Register(r *module.Registry) {
	r.IQ("", NS, "query", h)
	r.ServerFeatures(NS)
}

// HandleStanza answers a private storage get or set.
func (h *Handler) HandleStanza(ctx context.Context, st *stanza.Stanza) (*xmlstream.Element, error) {
	q := st.El.FirstChild()
	if !q.Is(NS, "query") {
		return nil, stanza.NewError(stanza.BadRequest, "the payload is a <query xmlns='jabber:iq:private'/>")
	}
	user := st.From.Bare()
	if !st.To.IsZero() && !st.To.Equal(user) {
		return nil, stanza.NewError(stanza.Forbidden, "private data belongs to its account only")
	}
	var frags []*xmlstream.Element
	for el := range q.Elements() {
		if reserved(el.Name.Space) {
			return nil, stanza.NewError(stanza.NotAcceptable, "the namespace "+el.Name.Space+" is reserved")
		}
		if len(key(el)) > maxKey {
			return nil, stanza.NewError(stanza.NotAcceptable, "the element's name and namespace are too long")
		}
		frags = append(frags, el)
	}
	if len(frags) == 0 {
		return nil, stanza.NewError(stanza.NotAcceptable, "name the data with a child element in its own namespace")
	}
	switch st.Type {
	case stanza.TypeGet:
		if len(frags) > 1 {
			return nil, stanza.NewError(stanza.BadRequest, "ask for one namespace at a time")
		}
		v, found, err := h.store.PrivateXML(user.String(), key(frags[0]))
		if err != nil {
			return nil, fmt.Errorf("read private xml: %w", err)
		}
		var stored *xmlstream.Element
		if found {
			if stored, err = decode(v); err != nil {
				return nil, err
			}
		}
		if h.owned(frags[0]) {
			if stored, err = h.delegate.PrivateGet(ctx, user, stored); err != nil {
				return nil, err
			}
		}
		out := frags[0]
		if stored != nil {
			out = stored
		}
		return stanza.ResultIQ(st, xmlstream.New(NS, "query").Append(out)), nil
	case stanza.TypeSet:
		vals := make([][]byte, len(frags))
		for i, el := range frags {
			if empty(el) {
				continue // stored as nil: deleted
			}
			vals[i] = xmlstream.AppendElement(nil, el, "")
			if len(vals[i]) > h.max {
				return nil, stanza.NewError(stanza.NotAcceptable, fmt.Sprintf("<%s xmlns='%s'/> is larger than %d bytes", el.Name.Local, el.Name.Space, h.max))
			}
		}
		if err := h.roomFor(user.String(), frags, vals); err != nil {
			return nil, err
		}
		for i, el := range frags {
			if h.owned(el) {
				rest, err := h.delegate.PrivateSet(ctx, user, el)
				if err != nil {
					return nil, err
				}
				vals[i] = nil
				if rest != nil && !empty(rest) {
					vals[i] = xmlstream.AppendElement(nil, rest, "")
				}
			}
			if err := h.store.PutPrivateXML(user.String(), key(el), vals[i]); err != nil {
				return nil, fmt.Errorf("store private xml: %w", err)
			}
		}
		return nil, nil
	}
	return nil, stanza.NewError(stanza.BadRequest, "")
}

// roomFor refuses a set that would make user keep more than maxKeys
// fragments: the keys are the client's choice, so that without a bound a
// client could fill the disk with them.
func (h *Handler) roomFor(user string, frags []*xmlstream.Element, vals [][]byte) error {
	added := 0
	for i, el := range frags {
		if vals[i] == nil || h.owned(el) {
			continue // a deletion, or kept by the delegate, which bounds its own
		}
		_, found, err := h.store.PrivateXML(user, key(el))
		if err != nil {
			return fmt.Errorf("read private xml: %w", err)
		}
		if !found {
			added++
		}
	}
	if added == 0 {
		return nil
	}
	n, err := h.store.PrivateXMLCount(user)
	if err != nil {
		return err
	}
	if n+added > h.maxKeys {
		return stanza.NewError(stanza.PolicyViolation, fmt.Sprintf("an account keeps at most %d kinds of private data", h.maxKeys))
	}
	return nil
}

// Fragment returns what the private store itself holds of user's
// fragment name, nil if nothing: personal eventing reads bookmarks
// stored before it had them, to migrate them (XEP-0402 §5.3).
func (h *Handler) Fragment(user jid.JID, name xmlstream.Name) (*xmlstream.Element, error) {
	v, found, err := h.store.PrivateXML(user.Bare().String(), clark(name))
	if err != nil || !found {
		return nil, err
	}
	return decode(v)
}

// owned reports whether the delegate keeps el.
func (h *Handler) owned(el *xmlstream.Element) bool {
	return h.delegate != nil && h.delegate.Owns(el.Name)
}

// reserved reports namespaces that cannot hold client data (XEP-0049
// §2.3). A child with no namespace of its own inherits jabber:iq:private.
func reserved(ns string) bool {
	return ns == NS || ns == xmlstream.NSClient || ns == xmlstream.NSServer || ns == ""
}

// key names a fragment in Clark notation.
func key(el *xmlstream.Element) string { return clark(el.Name) }

// Key returns the store key of a fragment, for moving accounts between
// servers (roost import), and false for a fragment private XML storage
// would refuse: a reserved namespace or a name too long.
func Key(el *xmlstream.Element) (string, bool) {
	k := key(el)
	return k, !reserved(el.Name.Space) && len(k) <= maxKey
}

func clark(n xmlstream.Name) string { return "{" + n.Space + "}" + n.Local }

// empty reports whether a fragment carries no data: no attributes, no
// children, no text.
func empty(el *xmlstream.Element) bool {
	return len(el.Attrs) == 0 && !el.HasContent()
}

// decode parses one stored fragment with the stream decoder. The data
// passed the configured limits when it arrived; the generous bounds only
// keep it readable if an operator lowers them later.
func decode(b []byte) (*xmlstream.Element, error) {
	el, err := xmlstream.ParseStored(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return el, nil
}
