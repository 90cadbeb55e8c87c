package xmlstream

import "unicode/utf8"

// maxEntityName bounds how far an entity reference is read before it is
// judged malformed.
const maxEntityName = 64

// text reads character data up to the next '<', recording a text event if
// there was any.
func (d *Decoder) text(sc *scratch) error {
	off := len(sc.data)
	for {
		if err := d.ensure(1); err != nil {
			return err
		}
		b := d.buf[d.pos:d.end]
		i := 0
		for i < len(b) && textPlain[b[i]] {
			i++
		}
		d.take(sc, i)
		if i == len(b) {
			continue
		}
		switch c := b[i]; {
		case c == '<':
			sc.addText(off)
			return nil
		case c == '&':
			d.pos++
			if err := d.entity(sc); err != nil {
				return err
			}
		case c == '\r':
			if err := d.newline(sc); err != nil {
				return err
			}
		case c == ']':
			if err := d.ensure(3); err != nil {
				return err
			}
			if d.buf[d.pos+1] == ']' && d.buf[d.pos+2] == '>' {
				return d.errf(CondNotWellFormed, "']]>' in character data")
			}
			sc.data = append(sc.data, c)
			d.pos++
		case c < 0x20:
			return d.errf(CondNotWellFormed, "invalid character")
		default:
			if _, err := d.rune(sc); err != nil {
				return err
			}
		}
	}
}

// cdata parses "<![CDATA[...]]>" at d.pos, or reports other "<!" markup.
func (d *Decoder) cdata(sc *scratch) error {
	const open = "<![CDATA["
	if err := d.ensure(len(open)); err != nil || string(d.buf[d.pos:d.pos+len(open)]) != open {
		return d.markupDecl()
	}
	d.pos += len(open)
	off := len(sc.data)
	for {
		if err := d.ensure(1); err != nil {
			return err
		}
		c := d.buf[d.pos]
		switch {
		case c == ']':
			if err := d.ensure(3); err != nil {
				return err
			}
			if d.buf[d.pos+1] == ']' && d.buf[d.pos+2] == '>' {
				d.pos += 3
				sc.addText(off)
				return nil
			}
			sc.data = append(sc.data, c)
			d.pos++
		case c == '\r':
			if err := d.newline(sc); err != nil {
				return err
			}
		case c < 0x20 && c != '\n' && c != '\t':
			return d.errf(CondNotWellFormed, "invalid character")
		case c < utf8.RuneSelf:
			sc.data = append(sc.data, c)
			d.pos++
		default:
			if _, err := d.rune(sc); err != nil {
				return err
			}
		}
	}
}

// newline normalises "\r\n" and a lone "\r" to "\n" (XML §2.11).
func (d *Decoder) newline(sc *scratch) error {
	d.pos++
	sc.data = append(sc.data, '\n')
	if err := d.ensure(1); err != nil {
		return err
	}
	if d.buf[d.pos] == '\n' {
		d.pos++
	}
	return nil
}

// rune copies one multi-byte UTF-8 sequence at d.pos, validating it.
func (d *Decoder) rune(sc *scratch) (rune, error) {
	for !utf8.FullRune(d.buf[d.pos:d.end]) {
		if err := d.fillMore(); err != nil {
			return 0, err
		}
	}
	r, size := utf8.DecodeRune(d.buf[d.pos:d.end])
	if r == utf8.RuneError && size <= 1 {
		return 0, d.errf(CondNotWellFormed, "invalid UTF-8")
	}
	if !isChar(r) {
		return 0, d.errf(CondNotWellFormed, "invalid character")
	}
	sc.data = append(sc.data, d.buf[d.pos:d.pos+size]...)
	d.pos += size
	return r, nil
}

// entity decodes a reference after its '&'. Only the five predefined
// entities and character references are allowed (RFC 6120 §11.1).
func (d *Decoder) entity(sc *scratch) error {
	var nb [maxEntityName]byte
	n := 0
	for {
		if err := d.ensure(1); err != nil {
			return err
		}
		c := d.buf[d.pos]
		d.pos++
		if c == ';' {
			break
		}
		if n == len(nb) || (c != '#' && !isNameChar(c) && c < utf8.RuneSelf) {
			return d.errf(CondNotWellFormed, "malformed reference")
		}
		nb[n] = c
		n++
	}
	name := nb[:n]
	for _, e := range predefinedEntities {
		if string(name) == e.name {
			sc.data = append(sc.data, e.char)
			return nil
		}
	}
	if n == 0 {
		return d.errf(CondNotWellFormed, "empty reference")
	}
	if name[0] != '#' {
		if !isNameStart(name[0]) && name[0] < utf8.RuneSelf {
			return d.errf(CondNotWellFormed, "malformed reference")
		}
		return d.errf(CondRestrictedXML, "entity reference")
	}
	digits, base := name[1:], rune(10)
	if len(digits) > 0 && digits[0] == 'x' {
		digits, base = digits[1:], 16
	}
	if len(digits) == 0 || len(digits) > 8 {
		return d.errf(CondNotWellFormed, "malformed character reference")
	}
	var r rune
	for _, c := range digits {
		var v rune
		switch {
		case c >= '0' && c <= '9':
			v = rune(c - '0')
		case base == 16 && c >= 'a' && c <= 'f':
			v = rune(c-'a') + 10
		case base == 16 && c >= 'A' && c <= 'F':
			v = rune(c-'A') + 10
		default:
			return d.errf(CondNotWellFormed, "malformed character reference")
		}
		r = r*base + v
		if r > utf8.MaxRune {
			return d.errf(CondNotWellFormed, "character reference out of range")
		}
	}
	if !isChar(r) {
		return d.errf(CondNotWellFormed, "character reference to an invalid character")
	}
	sc.data = utf8.AppendRune(sc.data, r)
	return nil
}

// isChar reports whether r matches the XML 1.0 Char production.
func isChar(r rune) bool {
	switch {
	case r >= 0x20 && r <= 0xD7FF:
		return true
	case r == 0x9 || r == 0xA || r == 0xD:
		return true
	case r >= 0xE000 && r <= 0xFFFD:
		return true
	case r >= 0x10000 && r <= 0x10FFFF:
		return true
	}
	return false
}

// textPlain marks the bytes that character data copies without a closer
// look: printable ASCII other than '<', '&', ']', and tab and newline.
var textPlain = [256]bool{
	'\t': true, '\n': true,
	' ': true, '!': true, '"': true, '#': true, '$': true, '%': true, '\'': true,
	'(': true, ')': true, '*': true, '+': true, ',': true, '-': true, '.': true, '/': true,
	'0': true, '1': true, '2': true, '3': true, '4': true, '5': true, '6': true, '7': true,
	'8': true, '9': true, ':': true, ';': true, '=': true, '>': true, '?': true, '@': true,
	'A': true, 'B': true, 'C': true, 'D': true, 'E': true, 'F': true, 'G': true, 'H': true,
	'I': true, 'J': true, 'K': true, 'L': true, 'M': true, 'N': true, 'O': true, 'P': true,
	'Q': true, 'R': true, 'S': true, 'T': true, 'U': true, 'V': true, 'W': true, 'X': true,
	'Y': true, 'Z': true, '[': true, '\\': true, '^': true, '_': true, '`': true,
	'a': true, 'b': true, 'c': true, 'd': true, 'e': true, 'f': true, 'g': true, 'h': true,
	'i': true, 'j': true, 'k': true, 'l': true, 'm': true, 'n': true, 'o': true, 'p': true,
	'q': true, 'r': true, 's': true, 't': true, 'u': true, 'v': true, 'w': true, 'x': true,
	'y': true, 'z': true, '{': true, '|': true, '}': true, '~': true,
}

// predefinedEntities are the five entities every XML processor knows
// (XML 1.0 §4.6); any other entity reference is refused (RFC 6120 §11.1).
var predefinedEntities = [...]struct {
	name string
	char byte
}{{"lt", '<'}, {"gt", '>'}, {"amp", '&'}, {"quot", '"'}, {"apos", '\''}}
