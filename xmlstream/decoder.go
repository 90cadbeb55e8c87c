package xmlstream

import (
	"errors"
	"io"
)

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
	declOK      bool   // a fragment's XML declaration may come next
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
	d.headerRead, d.declOK = false, false
	d.streamEmpty = false
	d.streamQName = ""
	d.stream = nil
	d.elemStart = -1
}

// Reset switches to a new input, such as the TLS layer after STARTTLS, and
// expects a new stream header. Buffered bytes are dropped: callers must
// check [Decoder.DropBufferedSpace] first, because bytes sent after
// <starttls/> and before the TLS handshake must not be trusted (RFC 6120
// §5.4.3.3).
func (d *Decoder) Reset(r io.Reader) {
	d.Restart()
	d.r = r
	d.base += int64(d.end)
	d.pos, d.end = 0, 0
	d.rerr = nil
	d.release()
}

// ResetFragment switches to a new input that holds standalone elements
// rather than a stream: no stream header is read, and each element has only
// the namespace declarations it makes itself in scope. An XML declaration
// may come first. ReadElement then returns the elements one by one and
// io.EOF at the end of r. This is how a WebSocket message is read: RFC 7395
// §3.3.3 makes each one a standalone XML document. Buffered bytes are
// dropped, as by Reset.
func (d *Decoder) ResetFragment(r io.Reader) {
	d.Reset(r)
	d.headerRead, d.declOK = true, true
}

// Buffered returns how many bytes have been read from the input but not yet
// parsed.
func (d *Decoder) Buffered() int { return d.end - d.pos }

// DropBufferedSpace discards the whitespace at the front of what is
// buffered and not yet parsed, as ReadElement would between elements
// (RFC 6120 §11.7), and returns how many bytes stay buffered. It reads
// nothing from the input.
func (d *Decoder) DropBufferedSpace() int {
	for d.pos < d.end && isSpace(d.buf[d.pos]) {
		d.pos++
	}
	return d.end - d.pos
}

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
	if d.declOK {
		if err := d.fragmentDecl(); err != nil {
			return nil, err
		}
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

// fragmentDecl reads the XML declaration that may open a fragment (see
// ResetFragment), leaving at least one byte buffered after it. RFC 7395
// §3.3.3 advises against sending one, but allows it.
func (d *Decoder) fragmentDecl() error {
	d.declOK = false
	if d.buf[d.pos] != '<' {
		return nil
	}
	if err := d.ensure(2); err != nil {
		return eofErr(err)
	}
	if d.buf[d.pos+1] != '?' {
		return nil
	}
	if err := d.xmlDecl(); err != nil {
		return err
	}
	return d.skipSpace()
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

func (d *Decoder) errf(cond, reason string) error {
	if d.elemStart >= 0 && d.Offset()-d.elemStart > int64(d.lim.MaxStanzaBytes) {
		// Past the limit the element was too large whatever else is
		// wrong with it: say so, so the answer does not depend on how the
		// input happened to be split into reads.
		cond, reason = CondPolicyViolation, "stanza too large"
	}
	return &Error{Condition: cond, Reason: reason, Offset: d.Offset()}
}

// eofErr turns io.EOF met inside a construct into io.ErrUnexpectedEOF.
func eofErr(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
