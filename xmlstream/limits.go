package xmlstream

import "cmp"

// Defaults for [Limits] fields left zero.
const (
	DefaultMaxStanzaBytes = 256 << 10
	DefaultMaxDepth       = 32
	DefaultMaxAttrs       = 32
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
}

func (l Limits) withDefaults() Limits {
	l.MaxStanzaBytes = cmp.Or(max(l.MaxStanzaBytes, 0), DefaultMaxStanzaBytes)
	l.MaxDepth = cmp.Or(max(l.MaxDepth, 0), DefaultMaxDepth)
	l.MaxAttrs = cmp.Or(max(l.MaxAttrs, 0), DefaultMaxAttrs)
	return l
}

func (d *Decoder) checkSize() error {
	if d.elemStart >= 0 && d.Offset()-d.elemStart > int64(d.lim.MaxStanzaBytes) {
		return d.errf(CondPolicyViolation, "stanza too large")
	}
	return nil
}
