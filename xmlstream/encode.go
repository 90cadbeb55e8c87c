package xmlstream

import (
	"strconv"
	"unicode/utf8"
)

// AppendElement appends the serialisation of e to dst and returns the
// extended buffer. contentNS is the default namespace of the stream being
// written to (jabber:client, jabber:server or jabber:component:accept), or
// "" to write a standalone element with every namespace declared, the
// "stream" prefix of the streams namespace included (as a WebSocket
// message carries <stream:features/>, RFC 7395 §3.3.3).
func AppendElement(dst []byte, e *Element, contentNS string) []byte {
	return appendElement(dst, e, contentNS, contentNS != "", contentNS == "")
}

// AppendFrame appends e as a standalone element of a stream whose content
// namespace is contentNS, as a WebSocket message carries it (RFC 7395
// §3.3.3): every namespace declared, as by AppendElement(dst, e, ""), and
// a stanza in either content namespace written in contentNS (RFC 6120
// §4.8.3), so that a stanza read from a server stream reaches a client as
// jabber:client.
func AppendFrame(dst []byte, e *Element, contentNS string) []byte {
	if !IsContentNamespace(e.Name.Space) || e.Name.Space == contentNS {
		return appendElement(dst, e, "", false, true)
	}
	c := *e
	c.Name.Space = contentNS
	return appendElement(dst, &c, "", false, true)
}

// IsContentNamespace reports whether ns is one of the stanza content
// namespaces, which are interchangeable on the wire (RFC 6120 §4.8.3;
// XEP-0114 §3 for components).
func IsContentNamespace(ns string) bool { return ns == NSClient || ns == NSServer || ns == NSComponent }

func appendElement(dst []byte, e *Element, def string, inContent, standalone bool) []byte {
	dst = append(dst, '<')
	switch {
	case e.Name.Space == NSStream:
		// RFC 6120 §4.8.1: the streams namespace is always used through the
		// prefix the header declares; with no header, the element
		// declares it (again, if an ancestor did: that is allowed).
		dst = append(dst, "stream:"...)
		dst = append(dst, e.Name.Local...)
		if standalone {
			dst = append(dst, ` xmlns:stream="`+NSStream+`"`...)
		}
	case inContent && IsContentNamespace(e.Name.Space):
		dst = append(dst, e.Name.Local...)
	case e.Name.Space == def && !inContent:
		dst = append(dst, e.Name.Local...)
	default:
		dst = append(dst, e.Name.Local...)
		dst = append(dst, ` xmlns="`...)
		dst = AppendEscapedAttr(dst, e.Name.Space)
		dst = append(dst, '"')
		// A stanza nested in another namespace (a forwarded message)
		// declares its content namespace; its own content-namespace
		// children then inherit it whichever of the two they carry.
		def, inContent = e.Name.Space, IsContentNamespace(e.Name.Space)
	}
	dst = appendAttrs(dst, e.Attrs)
	if len(e.Children) == 0 {
		return append(dst, "/>"...)
	}
	dst = append(dst, '>')
	for _, n := range e.Children {
		if n.Elem != nil {
			dst = appendElement(dst, n.Elem, def, inContent, standalone)
		} else {
			dst = AppendEscapedText(dst, n.Text)
		}
	}
	dst = append(dst, "</"...)
	if e.Name.Space == NSStream {
		dst = append(dst, "stream:"...)
	}
	dst = append(dst, e.Name.Local...)
	return append(dst, '>')
}

func appendAttrs(dst []byte, attrs []Attr) []byte {
	var declared []string // namespaces given a prefix on this element
	for _, a := range attrs {
		dst = append(dst, ' ')
		switch a.Name.Space {
		case "":
		case NSXML:
			dst = append(dst, "xml:"...)
		default:
			k := -1
			for i, ns := range declared {
				if ns == a.Name.Space {
					k = i
				}
			}
			if k < 0 {
				k = len(declared)
				declared = append(declared, a.Name.Space)
				dst = append(dst, "xmlns:ns"...)
				dst = strconv.AppendInt(dst, int64(k), 10)
				dst = append(dst, `="`...)
				dst = AppendEscapedAttr(dst, a.Name.Space)
				dst = append(dst, `" `...)
			}
			dst = append(dst, "ns"...)
			dst = strconv.AppendInt(dst, int64(k), 10)
			dst = append(dst, ':')
		}
		dst = append(dst, a.Name.Local...)
		dst = append(dst, `="`...)
		dst = AppendEscapedAttr(dst, a.Value)
		dst = append(dst, '"')
	}
	return dst
}

// AppendEscapedText appends s escaped for character data. Characters that
// XML cannot carry are dropped and invalid UTF-8 becomes U+FFFD, so the
// output is always well-formed.
func AppendEscapedText(dst []byte, s string) []byte {
	return appendEscaped(dst, s, &textEsc)
}

// AppendEscapedAttr appends s escaped for a double-quoted attribute value.
func AppendEscapedAttr(dst []byte, s string) []byte {
	return appendEscaped(dst, s, &attrEsc)
}

func appendEscaped(dst []byte, s string, esc *[256]uint8) []byte {
	valid := utf8.ValidString(s)
	last := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		x := esc[c]
		if x == 0 {
			continue
		}
		if c >= utf8.RuneSelf {
			if valid {
				// Only U+FFFE and U+FFFF (EF BF BE/BF) are not XML
				// characters among valid multi-byte sequences.
				if c != 0xEF || i+2 >= len(s) || s[i+1] != 0xBF || s[i+2] < 0xBE {
					continue
				}
				dst = append(dst, s[last:i]...)
				i += 2
				last = i + 1
				continue
			}
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, s[last:i]...)
				dst = append(dst, "\uFFFD"...)
				last = i + 1
				continue
			}
			if !isChar(r) {
				dst = append(dst, s[last:i]...)
				last = i + size
			}
			i += size - 1
			continue
		}
		dst = append(dst, s[last:i]...)
		last = i + 1
		switch c {
		case '&':
			dst = append(dst, "&amp;"...)
		case '<':
			dst = append(dst, "&lt;"...)
		case '>':
			dst = append(dst, "&gt;"...)
		case '"':
			dst = append(dst, "&quot;"...)
		case '\t':
			dst = append(dst, "&#x9;"...)
		case '\n':
			dst = append(dst, "&#xA;"...)
		case '\r':
			dst = append(dst, "&#xD;"...)
		default:
			// A control character XML cannot carry: drop it.
		}
	}
	return append(dst, s[last:]...)
}

// Escape tables: 0 copies the byte as is; anything else needs a look.
var textEsc, attrEsc = escTables()

func escTables() (text, attr [256]uint8) {
	for c := range 256 {
		switch {
		case c >= utf8.RuneSelf:
			text[c], attr[c] = 1, 1
		case c < 0x20 && c != '\t' && c != '\n' && c != '\r':
			text[c], attr[c] = 1, 1
		}
	}
	for _, c := range []byte{'&', '<', '>', '\r'} {
		text[c] = 1
	}
	for _, c := range []byte{'&', '<', '"', '\t', '\n', '\r'} {
		attr[c] = 1
	}
	return text, attr
}
