package xmlstream

import "unicode/utf8"

// maxBindings bounds the namespace declarations in scope inside one
// top-level element, which keeps prefix lookups cheap whatever a peer
// sends.
const maxBindings = 64

// name reads an XML name (possibly prefixed) into sc.data.
func (d *Decoder) name(sc *scratch) (ref, error) {
	if err := d.ensure(1); err != nil {
		return ref{}, err
	}
	off := len(sc.data)
	if c := d.buf[d.pos]; c < utf8.RuneSelf && !isNameStart(c) {
		return ref{}, d.errf(CondNotWellFormed, "invalid name")
	}
	for {
		if err := d.ensure(1); err != nil {
			return ref{}, err
		}
		b := d.buf[d.pos:d.end]
		i := 0
		for i < len(b) && b[i] < utf8.RuneSelf && isNameChar(b[i]) {
			i++
		}
		d.take(sc, i)
		if i < len(b) {
			if b[i] < utf8.RuneSelf {
				break
			}
			r, err := d.rune(sc)
			if err != nil {
				return ref{}, err
			}
			if !isNameRune(r, len(sc.data)-off == utf8.RuneLen(r)) {
				return ref{}, d.errf(CondNotWellFormed, "invalid name character")
			}
		}
	}
	if len(sc.data)-off > d.lim.MaxStanzaBytes {
		return ref{}, d.errf(CondPolicyViolation, "name too long")
	}
	return ref{off: int32(off), n: int32(len(sc.data) - off)}, nil
}

// resolve processes the namespace declarations among the attributes from
// index a0, resolves the element and attribute names, checks for duplicate
// attributes and records the start event.
func (d *Decoder) resolve(sc *scratch, q ref, a0 int, outer []binding) error {
	mark := len(sc.ns)
	// Declarations first: they apply to the element that makes them.
	kept := a0
	for i := a0; i < len(sc.at); i++ {
		a := sc.at[i]
		prefix, local := sc.split(a.qname)
		switch {
		case prefix.n == 0 && sc.eq(local, "xmlns"):
			uri := sc.bytes(a.value)
			if string(uri) == NSXML || string(uri) == nsXMLNS {
				return d.errf(CondNotWellFormed, "reserved namespace as default")
			}
			sc.ns = append(sc.ns, sbinding{prefix: ref{}, uri: a.value})
		case sc.eq(prefix, "xmlns"):
			uri := sc.bytes(a.value)
			switch {
			case sc.eq(local, "xmlns"):
				return d.errf(CondNotWellFormed, "the xmlns prefix cannot be declared")
			case sc.eq(local, "xml"):
				if string(uri) != NSXML {
					return d.errf(CondNotWellFormed, "the xml prefix cannot be rebound")
				}
				continue // a legal but redundant declaration
			case len(uri) == 0:
				return d.errf(CondNotWellFormed, "empty namespace for a prefix")
			case string(uri) == NSXML || string(uri) == nsXMLNS:
				return d.errf(CondNotWellFormed, "reserved namespace bound to a prefix")
			}
			sc.ns = append(sc.ns, sbinding{prefix: local, uri: a.value})
		default:
			sc.at[kept] = a
			kept++
			continue
		}
		if len(sc.ns) > maxBindings {
			return d.errf(CondPolicyViolation, "too many namespace declarations")
		}
	}
	sc.at = sc.at[:kept]

	prefix, local := sc.split(q)
	if local.n == 0 || (prefix.n == 0 && q.n > local.n) || !sc.ncNameStart(local) {
		return d.errf(CondNotWellFormed, "malformed name")
	}
	if sc.eq(prefix, "xmlns") {
		return d.errf(CondNotWellFormed, "element in the xmlns namespace")
	}
	space, ok := sc.lookup(prefix, outer)
	if !ok {
		return d.errf(CondNotWellFormed, "undeclared namespace prefix")
	}
	for i := a0; i < len(sc.at); i++ {
		a := &sc.at[i]
		p, l := sc.split(a.qname)
		if l.n == 0 || (p.n == 0 && a.qname.n > l.n) || !sc.ncNameStart(l) {
			return d.errf(CondNotWellFormed, "malformed attribute name")
		}
		a.local = l
		if p.n == 0 {
			a.space = ref{}
			continue
		}
		s, ok := sc.lookup(p, outer)
		if !ok {
			return d.errf(CondNotWellFormed, "undeclared attribute prefix")
		}
		a.space = s
	}
	for i := a0; i < len(sc.at); i++ {
		for j := a0; j < i; j++ {
			if sc.same(sc.at[i].local, sc.at[j].local) && sc.same(sc.at[i].space, sc.at[j].space) {
				return d.errf(CondNotWellFormed, "duplicate attribute")
			}
		}
	}
	sc.ev = append(sc.ev, event{kind: evStart, space: space, local: local, a0: int32(a0), a1: int32(len(sc.at))})
	sc.stack = append(sc.stack, open{qoff: int(q.off), qn: int(q.n), mark: mark})
	return nil
}

func isNameStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == ':'
}

func isNameChar(c byte) bool {
	return isNameStart(c) || c >= '0' && c <= '9' || c == '-' || c == '.'
}

// isNameRune reports whether a non-ASCII r may appear in a name, at its
// start if first (XML 1.0 fifth edition, productions [4] and [4a]).
func isNameRune(r rune, first bool) bool {
	switch {
	case r >= 0xC0 && r <= 0xD6, r >= 0xD8 && r <= 0xF6, r >= 0xF8 && r <= 0x2FF,
		r >= 0x370 && r <= 0x37D, r >= 0x37F && r <= 0x1FFF, r >= 0x200C && r <= 0x200D,
		r >= 0x2070 && r <= 0x218F, r >= 0x2C00 && r <= 0x2FEF, r >= 0x3001 && r <= 0xD7FF,
		r >= 0xF900 && r <= 0xFDCF, r >= 0xFDF0 && r <= 0xFFFD, r >= 0x10000 && r <= 0xEFFFF:
		return true
	case first:
		return false
	}
	return r == 0xB7 || r >= 0x300 && r <= 0x36F || r >= 0x203F && r <= 0x2040
}
