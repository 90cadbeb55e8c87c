package xmlstream

// binding is a namespace declaration made on the stream header, in scope for
// the whole stream.
type binding struct {
	prefix, uri string
}

// ReadHeader reads an optional XML declaration and the stream header, and
// returns the header as an element without children. Namespace
// declarations on the header stay in scope until the next Restart or Reset.
func (d *Decoder) ReadHeader() (*Element, error) {
	d.Restart()
	if err := d.ensure(1); err != nil {
		return nil, err
	}
	if d.buf[d.pos] == 0xEF {
		if err := d.ensure(3); err != nil {
			return nil, eofErr(err)
		}
		if d.buf[d.pos+1] != 0xBB || d.buf[d.pos+2] != 0xBF {
			return nil, d.errf(CondNotWellFormed, "invalid byte before the stream header")
		}
		d.pos += 3 // UTF-8 byte order mark
	}
	if err := d.skipSpace(); err != nil {
		return nil, err
	}
	if err := d.ensure(2); err != nil {
		return nil, eofErr(err)
	}
	if d.buf[d.pos] != '<' {
		return nil, d.errf(CondNotWellFormed, "expected a stream header")
	}
	if d.buf[d.pos+1] == '?' {
		if err := d.xmlDecl(); err != nil {
			return nil, err
		}
		if err := d.skipSpace(); err != nil {
			return nil, eofErr(err)
		}
	}
	if err := d.ensure(2); err != nil {
		return nil, eofErr(err)
	}
	if d.buf[d.pos] != '<' {
		return nil, d.errf(CondNotWellFormed, "expected a stream header")
	}
	switch d.buf[d.pos+1] {
	case '?':
		return nil, d.errf(CondRestrictedXML, "processing instruction")
	case '!':
		return nil, d.markupDecl()
	case '/':
		return nil, d.errf(CondNotWellFormed, "end tag before the stream header")
	}

	d.elemStart = d.Offset()
	d.pos++
	sc := getScratch()
	defer putScratch(sc)
	selfClosing, err := d.startTag(sc, nil)
	if err != nil {
		return nil, eofErr(err)
	}
	if err := d.checkSize(); err != nil {
		return nil, err
	}
	d.elemStart = -1
	// The stream element stays open (unless it was self-closing); build it
	// as if it were empty.
	sc.ev = append(sc.ev, event{kind: evEnd})
	top := sc.stack[0] // build reuses the stack
	s := string(sc.data)
	el := sc.build(s)
	d.streamQName = s[top.qoff : top.qoff+top.qn]
	d.stream = make([]binding, 0, len(sc.ns))
	for _, b := range sc.ns {
		d.stream = append(d.stream, binding{prefix: intern(b.prefix.str(s)), uri: intern(b.uri.str(s))})
	}
	d.streamQName = intern(d.streamQName)
	d.headerRead = true
	d.streamEmpty = selfClosing
	return el, nil
}

// xmlDecl parses "<?xml ...?>" at d.pos. Anything else starting with "<?"
// is a processing instruction.
func (d *Decoder) xmlDecl() error {
	if err := d.ensure(6); err != nil || string(d.buf[d.pos:d.pos+5]) != "<?xml" || !isSpace(d.buf[d.pos+5]) {
		return d.errf(CondRestrictedXML, "processing instruction")
	}
	d.elemStart = d.Offset()
	d.pos += 5
	sc := getScratch()
	defer putScratch(sc)
	for {
		if err := d.skipSpace(); err != nil {
			return eofErr(err)
		}
		if d.buf[d.pos] == '?' {
			if err := d.ensure(2); err != nil {
				return eofErr(err)
			}
			if d.buf[d.pos+1] != '>' {
				return d.errf(CondNotWellFormed, "malformed XML declaration")
			}
			d.pos += 2
			d.elemStart = -1
			return nil
		}
		sc.data = sc.data[:0]
		n, err := d.name(sc)
		if err != nil {
			return eofErr(err)
		}
		key := string(sc.data[n.off : n.off+n.n])
		if err := d.skipSpace(); err != nil {
			return eofErr(err)
		}
		if d.buf[d.pos] != '=' {
			return d.errf(CondNotWellFormed, "malformed XML declaration")
		}
		d.pos++
		if err := d.skipSpace(); err != nil {
			return eofErr(err)
		}
		q := d.buf[d.pos]
		if q != '"' && q != '\'' {
			return d.errf(CondNotWellFormed, "malformed XML declaration")
		}
		d.pos++
		v, err := d.attrValue(sc, q)
		if err != nil {
			return eofErr(err)
		}
		val := string(sc.data[v.off : v.off+v.n])
		switch key {
		case "version":
			if val != "1.0" {
				return d.errf(CondNotWellFormed, "unsupported XML version")
			}
		case "encoding":
			if !equalFold(val, "utf-8") {
				return d.errf(CondUnsupportedEncoding, "only UTF-8 is allowed")
			}
		case "standalone":
		default:
			return d.errf(CondNotWellFormed, "malformed XML declaration")
		}
		if err := d.checkSize(); err != nil {
			return err
		}
	}
}

// intern returns the constant for the names and namespaces every stream
// header declares, so that a stream does not keep its header's text alive
// for as long as it lasts.
func intern(s string) string {
	switch s {
	case "":
		return ""
	case "stream":
		return "stream"
	case "stream:stream":
		return "stream:stream"
	case NSClient:
		return NSClient
	case NSServer:
		return NSServer
	case NSComponent:
		return NSComponent
	case NSStream:
		return NSStream
	case "db":
		return "db"
	case "jabber:server:dialback":
		return "jabber:server:dialback"
	}
	return s
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
