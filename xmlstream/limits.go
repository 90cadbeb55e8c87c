package xmlstream

import "cmp"

// Defaults for [Limits] fields left zero.
const (
	DefaultMaxStanzaBytes = 256 << 10
	DefaultMaxDepth       = 32
	DefaultMaxAttrs       = 32
	DefaultMaxElements    = 8192
)

// Limits bound what a peer can make a decoder hold (STYLE rule 12).
type Limits struct {
	// MaxStanzaBytes is the largest top-level element (or stream header), in
	// raw bytes. RFC 6120 §13.12 requires at least 10000.
	MaxStanzaBytes int
	// MaxDepth is the deepest nesting inside a top-level element, which is
	// itself at depth 1.
	MaxDepth int
	// MaxAttrs is the most attributes, namespace declarations included, on
	// one element.
	MaxAttrs int
	// MaxElements is the most elements in one top-level element (itself
	// included), each of their attributes and namespace declarations
	// counting one more. It bounds the tree a stanza becomes: an element
	// costs about a hundred bytes of memory and an attribute fifty, so
	// that without it 256 KiB of empty elements ("<a/>" is four bytes)
	// would take 25 times their size.
	MaxElements int
}

func (l Limits) withDefaults() Limits {
	l.MaxStanzaBytes = cmp.Or(max(l.MaxStanzaBytes, 0), DefaultMaxStanzaBytes)
	l.MaxDepth = cmp.Or(max(l.MaxDepth, 0), DefaultMaxDepth)
	l.MaxAttrs = cmp.Or(max(l.MaxAttrs, 0), DefaultMaxAttrs)
	l.MaxElements = cmp.Or(max(l.MaxElements, 0), DefaultMaxElements)
	return l
}

func (d *Decoder) checkSize() error {
	if d.elemStart >= 0 && d.Offset()-d.elemStart > int64(d.lim.MaxStanzaBytes) {
		return d.errf(CondPolicyViolation, "stanza too large")
	}
	return nil
}

// countNode counts an element or attribute of the top-level element being
// read against MaxElements.
func (d *Decoder) countNode(sc *scratch) error {
	sc.nodes++
	if sc.nodes > d.lim.MaxElements {
		return d.errf(CondPolicyViolation, "too many elements")
	}
	return nil
}
