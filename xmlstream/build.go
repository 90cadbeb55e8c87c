package xmlstream

import (
	"sync"
	"unicode/utf8"
)

// ref names a string while an element is being read: bytes of the scratch
// data, or, when off < 0, an external string such as a namespace URI
// declared on the stream header. The zero ref is the empty string.
type ref struct {
	s   string
	off int32
	n   int32
}

func extRef(s string) ref { return ref{s: s, off: -1} }

func (r ref) str(data string) string {
	if r.off < 0 {
		return r.s
	}
	return data[r.off : r.off+r.n]
}

const (
	evStart uint8 = iota + 1
	evEnd
	evText
)

type event struct {
	kind   uint8
	a0, a1 int32 // attribute range of a start event in scratch.at
	space  ref   // start: resolved namespace
	local  ref   // start: local name; text: the character data
}

type sattr struct {
	qname, value ref
	space, local ref
}

type sbinding struct {
	prefix, uri ref
}

type open struct {
	qoff, qn int // raw name, for matching the end tag
	mark     int // len(scratch.ns) before the element's declarations
}

// scratch holds the tokens of one top-level element while it is read. It is
// pooled so that idle decoders hold none.
type scratch struct {
	data  []byte
	ev    []event
	at    []sattr
	ns    []sbinding
	stack []open
	nodes int // elements and attributes read, for Limits.MaxElements

	// used by build
	counts []int32
	fill   []buildFrame
}

type buildFrame struct {
	el   *Element
	next int32
}

// scratchPool is shared by all decoders: it holds no state that outlives a
// call, only reusable memory.
var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// maxPooledData and maxPooledNodes keep an occasional huge stanza from
// pinning its buffers in the pool: scratch space for 1024 elements or
// attributes is some 64 KiB per slice, more than any common stanza needs.
const (
	maxPooledData  = 64 << 10
	maxPooledNodes = 1024
)

func getScratch() *scratch { return scratchPool.Get().(*scratch) }

func putScratch(sc *scratch) {
	if cap(sc.data) > maxPooledData {
		sc.data = nil
	}
	if cap(sc.ev) > 2*maxPooledNodes || cap(sc.at) > maxPooledNodes {
		*sc = scratch{}
	}
	sc.data = sc.data[:0]
	sc.nodes = 0
	sc.ev = sc.ev[:0]
	sc.at = sc.at[:0]
	sc.ns = sc.ns[:0]
	sc.stack = sc.stack[:0]
	sc.counts = sc.counts[:0]
	sc.fill = sc.fill[:0]
	scratchPool.Put(sc)
}

func (sc *scratch) bytes(r ref) []byte {
	return sc.data[r.off : r.off+r.n]
}

// eq compares the bytes named by r (never external) with s.
func (sc *scratch) eq(r ref, s string) bool {
	return r.off >= 0 && string(sc.data[r.off:r.off+r.n]) == s
}

// same compares two refs, either of which may be external.
func (sc *scratch) same(a, b ref) bool {
	switch {
	case a.off < 0 && b.off < 0:
		return a.s == b.s
	case a.off < 0:
		return a.s == string(sc.data[b.off:b.off+b.n])
	case b.off < 0:
		return b.s == string(sc.data[a.off:a.off+a.n])
	}
	return string(sc.data[a.off:a.off+a.n]) == string(sc.data[b.off:b.off+b.n])
}

// split divides a raw qualified name at its colon. A name with more than one
// colon gets an empty local part, which callers reject.
func (sc *scratch) split(q ref) (prefix, local ref) {
	b := sc.data[q.off : q.off+q.n]
	for i, c := range b {
		if c == ':' {
			for _, c2 := range b[i+1:] {
				if c2 == ':' {
					return ref{off: q.off, n: int32(i)}, ref{off: q.off + q.n}
				}
			}
			return ref{off: q.off, n: int32(i)}, ref{off: q.off + int32(i) + 1, n: q.n - int32(i) - 1}
		}
	}
	return ref{off: q.off}, q
}

// ncNameStart reports whether the local part of a name starts with a
// character a name may start with: the whole name was checked when read,
// but not the part after its colon (XML Namespaces §3, NCName).
func (sc *scratch) ncNameStart(local ref) bool {
	b := sc.bytes(local)
	if len(b) == 0 {
		return false
	}
	if b[0] < utf8.RuneSelf {
		return isNameStart(b[0]) && b[0] != ':'
	}
	r, _ := utf8.DecodeRune(b)
	return isNameRune(r, true)
}

// lookup resolves a prefix (empty for the default namespace) against the
// declarations in scope: those inside the element first, innermost first,
// then the stream header's.
func (sc *scratch) lookup(prefix ref, outer []binding) (ref, bool) {
	for i := len(sc.ns) - 1; i >= 0; i-- {
		if sc.same(sc.ns[i].prefix, prefix) {
			return sc.ns[i].uri, true
		}
	}
	p := sc.bytes(prefix)
	for i := len(outer) - 1; i >= 0; i-- {
		if outer[i].prefix == string(p) {
			return extRef(outer[i].uri), true
		}
	}
	switch string(p) {
	case "":
		return ref{}, true // no default namespace declared: no namespace
	case "xml":
		return extRef(NSXML), true
	}
	return ref{}, false
}

// addText records the character data appended since off, merging it with
// an immediately preceding text event.
func (sc *scratch) addText(off int) {
	n := len(sc.data) - off
	if n == 0 {
		return
	}
	if k := len(sc.ev) - 1; k >= 0 && sc.ev[k].kind == evText {
		if t := &sc.ev[k].local; int(t.off+t.n) == off {
			t.n += int32(n)
			return
		}
	}
	sc.ev = append(sc.ev, event{kind: evText, local: ref{off: int32(off), n: int32(n)}})
}

// stampRoom is the spare capacity of the top element's attributes.
const stampRoom = 2

// build turns the recorded events into a tree whose strings are all
// substrings of s (the scratch data, converted once). It allocates one slab
// each for elements, attributes and child nodes.
func (sc *scratch) build(s string) *Element {
	// First pass: count children per element (in start order).
	nElem, nNodes := 0, 0
	counts := sc.counts[:0]
	stack := sc.stack[:0] // reused as a stack of element indexes in .qoff
	for i := range sc.ev {
		switch sc.ev[i].kind {
		case evStart:
			if len(stack) > 0 {
				counts[stack[len(stack)-1].qoff]++
				nNodes++
			}
			stack = append(stack, open{qoff: nElem})
			counts = append(counts, 0)
			nElem++
		case evEnd:
			stack = stack[:len(stack)-1]
		case evText:
			if len(stack) > 0 {
				counts[stack[len(stack)-1].qoff]++
				nNodes++
			}
		}
	}
	sc.counts, sc.stack = counts, stack[:0]

	elems := make([]Element, nElem)
	var nodes []Node
	if nNodes > 0 {
		nodes = make([]Node, nNodes)
	}
	// The top element's attributes get room for stampRoom more, which
	// the server sets in place on nearly every stanza (from, to) instead
	// of copying the element.
	var attrs []Attr
	rootEnd, room := 0, 0
	if len(sc.at) > 0 {
		if len(sc.ev) > 0 && sc.ev[0].kind == evStart && sc.ev[0].a1 > 0 {
			rootEnd, room = int(sc.ev[0].a1), stampRoom
		}
		attrs = make([]Attr, len(sc.at)+room)
		for i, a := range sc.at {
			j := i
			if i >= rootEnd {
				j += room
			}
			attrs[j] = Attr{Name: Name{Space: a.space.str(s), Local: a.local.str(s)}, Value: a.value.str(s)}
		}
	}

	// Second pass: fill in, reserving each element's child range when it
	// starts so that children are contiguous.
	frames := sc.fill[:0]
	nextElem, nextNode := 0, int32(0)
	for i := range sc.ev {
		ev := &sc.ev[i]
		switch ev.kind {
		case evStart:
			e := &elems[nextElem]
			e.Name = Name{Space: ev.space.str(s), Local: ev.local.str(s)}
			if a0, a1 := int(ev.a0), int(ev.a1); a1 > a0 {
				if nextElem == 0 {
					e.Attrs = attrs[a0 : a1 : a1+room]
				} else {
					e.Attrs = attrs[a0+room : a1+room : a1+room]
				}
			}
			if c := counts[nextElem]; c > 0 {
				e.Children = nodes[nextNode : nextNode+c : nextNode+c]
				nextNode += c
			}
			nextElem++
			if k := len(frames) - 1; k >= 0 {
				f := &frames[k]
				f.el.Children[f.next] = Node{Elem: e}
				f.next++
			}
			frames = append(frames, buildFrame{el: e})
		case evEnd:
			frames = frames[:len(frames)-1]
		case evText:
			if k := len(frames) - 1; k >= 0 {
				f := &frames[k]
				f.el.Children[f.next] = Node{Text: ev.local.str(s)}
				f.next++
			}
		}
	}
	sc.fill = frames[:0]
	return &elems[0]
}
