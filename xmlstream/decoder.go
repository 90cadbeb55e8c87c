package xmlstream

import (
	"errors"
	"io"
	"sync"
	"unicode/utf8"
)

// Defaults for [Limits] fields left zero.
const (
	DefaultMaxStanzaBytes = 256 << 10
	DefaultMaxDepth       = 32
	DefaultMaxAttrs       = 32

	// readBufferSize is the read buffer a decoder borrows from a pool
	// while it parses. TLS already buffers a whole record below us, so
	// reading it in slices of this size costs copies, not system calls.
	readBufferSize = 1024
	// waitBufferSize is the fixed buffer a decoder waits with between
	// elements, when it has given its read buffer back: an idle stream
	// then holds only this.
	waitBufferSize = 64

	// maxBindings bounds the namespace declarations in scope inside one
	// top-level element, which keeps prefix lookups cheap whatever a peer
	// sends.
	maxBindings = 64

	// maxEntityName bounds how far an entity reference is read before it is
	// judged malformed.
	maxEntityName = 64
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
	if l.MaxStanzaBytes <= 0 {
		l.MaxStanzaBytes = DefaultMaxStanzaBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxAttrs <= 0 {
		l.MaxAttrs = DefaultMaxAttrs
	}
	return l
}

// binding is a namespace declaration made on the stream header, in scope for
// the whole stream.
type binding struct {
	prefix, uri string
}

// Decoder reads one XMPP stream. See the package documentation.
type Decoder struct {
	r    io.Reader
	lim  Limits
	buf  []byte // nil while idle; borrowed from readBufs
	wait [waitBufferSize]byte
	pos  int
	end  int
	base int64 // stream offset of buf[0]
	rerr error // sticky error from r

	// elemStart is the stream offset of the '<' that opened the top-level
	// element (or header) being read, or -1 between elements.
	elemStart int64

	headerRead  bool
	streamEmpty bool   // header was self-closing: the stream is already over
	streamQName string // raw name of the stream element, to match its end tag
	stream      []binding
}

// NewDecoder returns a decoder reading a stream from r.
func NewDecoder(r io.Reader, lim Limits) *Decoder {
	return &Decoder{
		r:         r,
		lim:       lim.withDefaults(),
		elemStart: -1,
	}
}

// Restart prepares for a new stream header on the same input, keeping any
// bytes already buffered (RFC 6120 §6.4.6: the stream restarts after SASL).
func (d *Decoder) Restart() {
	d.headerRead = false
	d.streamEmpty = false
	d.streamQName = ""
	d.stream = nil
	d.elemStart = -1
}

// Reset switches to a new input, such as the TLS layer after STARTTLS, and
// expects a new stream header. Buffered bytes are dropped: callers must
// check [Decoder.Buffered] first, because bytes sent after <starttls/> and
// before the TLS handshake must not be trusted (RFC 6120 §5.4.3.3).
func (d *Decoder) Reset(r io.Reader) {
	d.Restart()
	d.r = r
	d.base += int64(d.end)
	d.pos, d.end = 0, 0
	d.rerr = nil
	d.release()
}

// release gives the read buffer back to the pool; nothing unread may be
// in it.
func (d *Decoder) release() {
	if d.buf != nil {
		readBufs.Put((*[readBufferSize]byte)(d.buf))
		d.buf = nil
	}
}

// readBufs is shared by all decoders: it holds no state, only memory that
// idle decoders gave back.
var readBufs = sync.Pool{New: func() any { return new([readBufferSize]byte) }}

// Buffered returns how many bytes have been read from the input but not yet
// parsed.
func (d *Decoder) Buffered() int { return d.end - d.pos }

// Offset returns the stream offset of the next unparsed byte.
func (d *Decoder) Offset() int64 { return d.base + int64(d.pos) }

// ContentNamespace returns the default namespace declared on the stream
// header, normally jabber:client or jabber:server.
func (d *Decoder) ContentNamespace() string {
	for _, b := range d.stream {
		if b.prefix == "" {
			return b.uri
		}
	}
	return ""
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

// ReadElement reads the next top-level element of the stream, skipping
// whitespace keepalives. It returns [ErrStreamEnd] when the peer closes the
// stream, io.EOF when the input ends between elements, and
// io.ErrUnexpectedEOF when it ends inside one.
func (d *Decoder) ReadElement() (*Element, error) {
	if !d.headerRead {
		return nil, errors.New("xmlstream: ReadElement before ReadHeader")
	}
	if d.streamEmpty {
		return nil, ErrStreamEnd
	}
	if err := d.skipSpace(); err != nil {
		return nil, err
	}
	if d.buf[d.pos] != '<' {
		return nil, d.errf(CondBadFormat, "character data at stream level")
	}
	d.elemStart = d.Offset()
	if err := d.ensure(2); err != nil {
		return nil, eofErr(err)
	}
	switch d.buf[d.pos+1] {
	case '/':
		d.pos += 2
		return nil, d.streamEnd()
	case '?':
		return nil, d.errf(CondRestrictedXML, "processing instruction")
	case '!':
		if err := d.ensure(3); err == nil && d.buf[d.pos+2] == '[' {
			return nil, d.errf(CondBadFormat, "character data at stream level")
		}
		return nil, d.markupDecl()
	}
	sc := getScratch()
	defer putScratch(sc)
	if err := d.element(sc); err != nil {
		return nil, eofErr(err)
	}
	if err := d.checkSize(); err != nil {
		return nil, err
	}
	d.elemStart = -1
	return sc.build(string(sc.data)), nil
}

// element parses one top-level element, d.pos being at its '<'.
func (d *Decoder) element(sc *scratch) error {
	d.pos++
	selfClosing, err := d.startTag(sc, d.stream)
	if err != nil {
		return err
	}
	if selfClosing {
		return d.endElement(sc)
	}
	for {
		if err := d.text(sc); err != nil {
			return err
		}
		// d.buf[d.pos] is '<'.
		if err := d.ensure(2); err != nil {
			return err
		}
		switch d.buf[d.pos+1] {
		case '/':
			d.pos += 2
			if err := d.endTag(sc); err != nil {
				return err
			}
			if len(sc.stack) == 0 {
				return nil
			}
		case '?':
			return d.errf(CondRestrictedXML, "processing instruction")
		case '!':
			if err := d.cdata(sc); err != nil {
				return err
			}
		default:
			if len(sc.stack) >= d.lim.MaxDepth {
				return d.errf(CondPolicyViolation, "element nesting too deep")
			}
			d.pos++
			selfClosing, err := d.startTag(sc, d.stream)
			if err != nil {
				return err
			}
			if selfClosing {
				if err := d.endElement(sc); err != nil {
					return err
				}
			}
		}
	}
}

// streamEnd parses the rest of the closing stream tag, "</" consumed.
func (d *Decoder) streamEnd() error {
	sc := getScratch()
	defer putScratch(sc)
	q, err := d.name(sc)
	if err != nil {
		return eofErr(err)
	}
	if string(sc.data[q.off:q.off+q.n]) != d.streamQName {
		return d.errf(CondNotWellFormed, "end tag does not match the stream header")
	}
	if err := d.skipSpace(); err != nil {
		return eofErr(err)
	}
	if d.buf[d.pos] != '>' {
		return d.errf(CondNotWellFormed, "malformed end tag")
	}
	d.pos++
	d.elemStart = -1
	d.streamEmpty = true
	return ErrStreamEnd
}

// markupDecl reports the error for "<!" at d.pos that is not CDATA.
func (d *Decoder) markupDecl() error {
	if err := d.ensure(4); err == nil && d.buf[d.pos+2] == '-' && d.buf[d.pos+3] == '-' {
		return d.errf(CondRestrictedXML, "comment")
	}
	return d.errf(CondRestrictedXML, "document type or markup declaration")
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
		if d.pos == d.end {
			if err := d.fill(); err != nil {
				return err
			}
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

// startTag parses a start tag after its '<', records it as an event and,
// unless it is self-closing, pushes it on the open-element stack. outer are
// the stream-level bindings (nil while reading the header itself).
func (d *Decoder) startTag(sc *scratch, outer []binding) (selfClosing bool, err error) {
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

// name reads an XML name (possibly prefixed) into sc.data.
func (d *Decoder) name(sc *scratch) (ref, error) {
	if d.pos == d.end {
		if err := d.fill(); err != nil {
			return ref{}, err
		}
	}
	off := len(sc.data)
	if c := d.buf[d.pos]; c < utf8.RuneSelf && !isNameStart(c) {
		return ref{}, d.errf(CondNotWellFormed, "invalid name")
	}
	for {
		if d.pos == d.end {
			if err := d.fill(); err != nil {
				return ref{}, err
			}
		}
		b := d.buf[d.pos:d.end]
		i := 0
		for i < len(b) && b[i] < utf8.RuneSelf && isNameChar(b[i]) {
			i++
		}
		sc.data = append(sc.data, b[:i]...)
		d.pos += i
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

// attrValue reads an attribute value up to the closing quote, unescaping
// references and normalising whitespace (XML §3.3.3).
func (d *Decoder) attrValue(sc *scratch, quote byte) (ref, error) {
	off := len(sc.data)
	for {
		if d.pos == d.end {
			if err := d.fill(); err != nil {
				return ref{}, err
			}
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
		sc.data = append(sc.data, b[:i]...)
		d.pos += i
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

// text reads character data up to the next '<', recording a text event if
// there was any.
func (d *Decoder) text(sc *scratch) error {
	off := len(sc.data)
	for {
		if d.pos == d.end {
			if err := d.fill(); err != nil {
				return err
			}
		}
		b := d.buf[d.pos:d.end]
		i := 0
		for i < len(b) && textPlain[b[i]] {
			i++
		}
		sc.data = append(sc.data, b[:i]...)
		d.pos += i
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
		if d.pos == d.end {
			if err := d.fill(); err != nil {
				return err
			}
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
	switch string(name) {
	case "lt":
		sc.data = append(sc.data, '<')
		return nil
	case "gt":
		sc.data = append(sc.data, '>')
		return nil
	case "amp":
		sc.data = append(sc.data, '&')
		return nil
	case "quot":
		sc.data = append(sc.data, '"')
		return nil
	case "apos":
		sc.data = append(sc.data, '\'')
		return nil
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

// skipSpace skips whitespace and leaves at least one byte buffered.
func (d *Decoder) skipSpace() error {
	for {
		for d.pos < d.end && isSpace(d.buf[d.pos]) {
			d.pos++
		}
		if d.pos < d.end {
			return nil
		}
		if err := d.fill(); err != nil {
			return err
		}
	}
}

// ensure buffers at least n unread bytes (n is small).
func (d *Decoder) ensure(n int) error {
	for d.end-d.pos < n {
		if err := d.fillMore(); err != nil {
			return err
		}
	}
	return nil
}

// fill reads more input; it is called when the buffer is exhausted.
func (d *Decoder) fill() error { return d.fillMore() }

// fillMore reads more input, keeping unread bytes. It is the only place
// input enters the decoder, so the size limit is enforced here, before
// anything more is buffered.
func (d *Decoder) fillMore() error {
	if err := d.checkSize(); err != nil {
		return err
	}
	if d.rerr != nil {
		return d.rerr
	}
	if d.pos == d.end && d.elemStart < 0 {
		// Between elements with nothing unread: the peer may be silent
		// for hours. Wait with the small fixed buffer and give the read
		// buffer back meanwhile.
		d.base += int64(d.end)
		d.pos, d.end = 0, 0
		d.release()
	}
	into := d.wait[:]
	if d.buf != nil {
		if d.pos > 0 {
			n := copy(d.buf, d.buf[d.pos:d.end])
			d.base += int64(d.pos)
			d.pos, d.end = 0, n
		}
		into = d.buf[d.end:]
	}
	for range 100 {
		n, err := d.r.Read(into)
		if d.buf == nil && n > 0 {
			d.buf = readBufs.Get().(*[readBufferSize]byte)[:]
			copy(d.buf, into[:n])
		}
		d.end += n
		if err != nil {
			// A timeout between elements leaves the stream intact: the
			// caller may ping the peer and read on. Anywhere else the
			// error sticks.
			var te interface{ Timeout() bool }
			if !(d.elemStart < 0 && errors.As(err, &te) && te.Timeout()) {
				d.rerr = err
			}
			if n > 0 {
				return nil
			}
			return err
		}
		if n > 0 {
			return nil
		}
	}
	d.rerr = io.ErrNoProgress
	return d.rerr
}

func (d *Decoder) checkSize() error {
	if d.elemStart >= 0 && d.Offset()-d.elemStart > int64(d.lim.MaxStanzaBytes) {
		return d.errf(CondPolicyViolation, "stanza too large")
	}
	return nil
}

func (d *Decoder) errf(cond, reason string) error {
	if d.elemStart >= 0 && d.Offset()-d.elemStart > int64(d.lim.MaxStanzaBytes) {
		// Past the limit the element was too large whatever else is
		// wrong with it: say so, so the answer does not depend on how the
		// input happened to be split into reads.
		cond, reason = CondPolicyViolation, "stanza too large"
	}
	return &Error{Condition: cond, Reason: reason, Offset: d.Offset()}
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
	case NSStream:
		return NSStream
	case "db":
		return "db"
	case "jabber:server:dialback":
		return "jabber:server:dialback"
	}
	return s
}

// eofErr turns io.EOF met inside a construct into io.ErrUnexpectedEOF.
func eofErr(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\t' || c == '\r' }

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
