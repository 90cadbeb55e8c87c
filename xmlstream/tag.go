package xmlstream

import "unicode/utf8"

// startTag parses a start tag after its '<', records it as an event and,
// unless it is self-closing, pushes it on the open-element stack. outer are
// the stream-level bindings (nil while reading the header itself).
func (d *Decoder) startTag(sc *scratch, outer []binding) (selfClosing bool, err error) {
	if err := d.countNode(sc); err != nil {
		return false, err
	}
	q, err := d.name(sc)
	if err != nil {
		return false, err
	}
	a0 := len(sc.at)
	for {
		if err := d.ensure(1); err != nil {
			return false, err
		}
		sawSpace := isSpace(d.buf[d.pos])
		if err := d.skipSpace(); err != nil {
			return false, err
		}
		c := d.buf[d.pos]
		if c == '>' {
			d.pos++
			break
		}
		if c == '/' {
			if err := d.ensure(2); err != nil {
				return false, err
			}
			if d.buf[d.pos+1] != '>' {
				return false, d.errf(CondNotWellFormed, "malformed empty-element tag")
			}
			d.pos += 2
			selfClosing = true
			break
		}
		if !sawSpace {
			return false, d.errf(CondNotWellFormed, "attributes must be separated by whitespace")
		}
		if len(sc.at)-a0 >= d.lim.MaxAttrs {
			return false, d.errf(CondPolicyViolation, "too many attributes")
		}
		if err := d.countNode(sc); err != nil {
			return false, err
		}
		an, err := d.name(sc)
		if err != nil {
			return false, err
		}
		if err := d.skipSpace(); err != nil {
			return false, err
		}
		if d.buf[d.pos] != '=' {
			return false, d.errf(CondNotWellFormed, "attribute without value")
		}
		d.pos++
		if err := d.skipSpace(); err != nil {
			return false, err
		}
		quote := d.buf[d.pos]
		if quote != '"' && quote != '\'' {
			return false, d.errf(CondNotWellFormed, "unquoted attribute value")
		}
		d.pos++
		v, err := d.attrValue(sc, quote)
		if err != nil {
			return false, err
		}
		sc.at = append(sc.at, sattr{qname: an, value: v})
	}
	return selfClosing, d.resolve(sc, q, a0, outer)
}

// attrValue reads an attribute value up to the closing quote, unescaping
// references and normalising whitespace (XML §3.3.3).
func (d *Decoder) attrValue(sc *scratch, quote byte) (ref, error) {
	off := len(sc.data)
	for {
		if err := d.ensure(1); err != nil {
			return ref{}, err
		}
		b := d.buf[d.pos:d.end]
		i := 0
		for i < len(b) {
			c := b[i]
			if c == quote || c == '&' || c == '<' || c < 0x20 || c >= utf8.RuneSelf {
				break
			}
			i++
		}
		d.take(sc, i)
		if i == len(b) {
			continue
		}
		switch c := b[i]; {
		case c == quote:
			d.pos++
			return ref{off: int32(off), n: int32(len(sc.data) - off)}, nil
		case c == '<':
			return ref{}, d.errf(CondNotWellFormed, "'<' in attribute value")
		case c == '&':
			d.pos++
			if err := d.entity(sc); err != nil {
				return ref{}, err
			}
		case c == '\t' || c == '\n':
			sc.data = append(sc.data, ' ')
			d.pos++
		case c == '\r':
			sc.data = append(sc.data, ' ')
			d.pos++
			if err := d.ensure(1); err != nil {
				return ref{}, err
			}
			if d.buf[d.pos] == '\n' {
				d.pos++
			}
		case c < 0x20:
			return ref{}, d.errf(CondNotWellFormed, "invalid character")
		default:
			if _, err := d.rune(sc); err != nil {
				return ref{}, err
			}
		}
	}
}

// endTag parses an end tag after its "</" and closes the open element.
func (d *Decoder) endTag(sc *scratch) error {
	mark := len(sc.data)
	q, err := d.name(sc)
	if err != nil {
		return err
	}
	top := sc.stack[len(sc.stack)-1]
	if string(sc.data[q.off:q.off+q.n]) != string(sc.data[top.qoff:top.qoff+top.qn]) {
		return d.errf(CondNotWellFormed, "mismatched end tag")
	}
	sc.data = sc.data[:mark]
	if err := d.skipSpace(); err != nil {
		return err
	}
	if d.buf[d.pos] != '>' {
		return d.errf(CondNotWellFormed, "malformed end tag")
	}
	d.pos++
	return d.endElement(sc)
}

func (d *Decoder) endElement(sc *scratch) error {
	top := sc.stack[len(sc.stack)-1]
	sc.stack = sc.stack[:len(sc.stack)-1]
	sc.ns = sc.ns[:top.mark]
	sc.ev = append(sc.ev, event{kind: evEnd})
	return nil
}
