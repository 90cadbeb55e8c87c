package stanza

import "roost/xmlstream"

const nsHints = "urn:xmpp:hints"

// StoreHint is what a message's processing hints (XEP-0334 §4) say about
// keeping it: in offline storage, an archive or a room's history.
type StoreHint uint8

const (
	// HintNone: the message carries no storage hint; each store judges it
	// by its content.
	HintNone StoreHint = iota
	// HintStore: <store/>, keep it even if it looks like nothing worth
	// keeping.
	HintStore
	// HintNoStore: <no-store/> or <no-permanent-store/>, keep it nowhere.
	// It wins over <store/>: a sender that says both has asked not to be
	// kept.
	HintNoStore
)

// StoreHintOf reads the storage hints among el's children.
func StoreHintOf(el *xmlstream.Element) StoreHint {
	h := HintNone
	for c := range el.Elements() {
		if c.Name.Space != nsHints {
			continue
		}
		switch c.Name.Local {
		case "no-store", "no-permanent-store":
			return HintNoStore
		case "store":
			h = HintStore
		}
	}
	return h
}
