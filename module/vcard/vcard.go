package vcard

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

// NS is the vcard-temp namespace.
const NS = "vcard-temp"

// DefaultMaxBytes bounds a stored vCard when Options.MaxBytes is zero.
const DefaultMaxBytes = 64 << 10

// Errors.
var (
	// ErrCorrupt means a stored vCard could not be parsed.
	ErrCorrupt = errors.New("vcard: stored vCard is not a vCard")
)

// Store keeps vCards; *store.Store satisfies it.
type Store interface {
	VCard(user string) ([]byte, bool, error)
	// PutVCard replaces the vCard; empty deletes it.
	PutVCard(user string, v []byte) error
}

// Options configure a Handler.
type Options struct {
	Store Store
	// MaxBytes bounds a serialised vCard (default DefaultMaxBytes).
	MaxBytes int
	// OnSet, if set, learns of every vCard an account stored (an empty
	// one when it deleted it), after it is stored: personal eventing
	// publishes its photo as the account's avatar (XEP-0398 §3.2).
	OnSet func(ctx context.Context, account jid.JID, vcard *xmlstream.Element)
}

// Handler answers vcard-temp gets and sets. It is a router Handler.
type Handler struct {
	store Store
	max   int
	onSet func(ctx context.Context, account jid.JID, vcard *xmlstream.Element)
}

// New returns a handler.
func New(opts Options) *Handler {
	return &Handler{store: opts.Store, max: cmp.Or(max(opts.MaxBytes, 0), DefaultMaxBytes), onSet: opts.OnSet}
}

// Name implements module.Module.
func (h *Handler) Name() string { return "vcard" }

// Register implements module.Module: vCards of the server and, on their
// behalf, of accounts (RFC 6121 §8.5.2.1.3).
func (h *Handler) Register(r *module.Registry) {
	r.IQ("", NS, "vCard", h)
	r.ServerFeatures(NS)
	r.AccountFeatures(NS)
}

// HandleStanza answers a vCard get or set.
func (h *Handler) HandleStanza(ctx context.Context, st *stanza.Stanza) (*xmlstream.Element, error) {
	payload := st.El.FirstChild()
	if !payload.Is(NS, "vCard") {
		return nil, stanza.NewError(stanza.BadRequest, "the payload is a <vCard xmlns='vcard-temp'/>")
	}
	account := st.To
	if account.IsZero() {
		account = st.From.Bare()
	}
	switch st.Type {
	case stanza.TypeGet:
		if account.Local() == "" {
			return stanza.ResultIQ(st, xmlstream.New(NS, "vCard")), nil
		}
		v, found, err := h.store.VCard(account.Bare().String())
		if err != nil {
			return nil, fmt.Errorf("read vcard: %w", err)
		}
		if !found {
			return stanza.ResultIQ(st, xmlstream.New(NS, "vCard")), nil
		}
		el, err := decode(v)
		if err != nil {
			return nil, err
		}
		return stanza.ResultIQ(st, el), nil
	case stanza.TypeSet:
		if !account.Equal(st.From.Bare()) {
			return nil, stanza.NewError(stanza.Forbidden, "only the account may set its vCard")
		}
		var v []byte
		if !empty(payload) {
			v = xmlstream.AppendElement(nil, payload, "")
			if len(v) > h.max {
				return nil, stanza.NewError(stanza.NotAcceptable, fmt.Sprintf("the vCard is larger than %d bytes", h.max))
			}
		}
		if err := h.store.PutVCard(account.String(), v); err != nil {
			return nil, fmt.Errorf("store vcard: %w", err)
		}
		if h.onSet != nil {
			h.onSet(ctx, account, payload)
		}
		return nil, nil
	}
	return nil, stanza.NewError(stanza.BadRequest, "")
}

// empty reports whether a vCard carries nothing worth storing.
func empty(el *xmlstream.Element) bool {
	return !el.HasContent()
}

// decode parses a stored vCard with the stream decoder, so stored data
// meets the same restrictions as data from the network. The generous
// bounds keep data that passed the limits when it arrived readable if an
// operator lowers them later.
func decode(b []byte) (*xmlstream.Element, error) {
	el, err := xmlstream.ParseStored(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if !el.Is(NS, "vCard") {
		return nil, fmt.Errorf("%w: root is {%s}%s", ErrCorrupt, el.Name.Space, el.Name.Local)
	}
	return el, nil
}
