package xmlstream

import (
	"errors"
	"io"
	"sync"
)

const (
	// readBufferSize is the read buffer a decoder borrows from a pool
	// while it parses. TLS already buffers a whole record below us, so
	// reading it in slices of this size costs copies, not system calls.
	readBufferSize = 1024
	// waitBufferSize is the fixed buffer a decoder waits with between
	// elements, when it has given its read buffer back: an idle stream
	// then holds only this.
	waitBufferSize = 64
)

// readBufs is shared by all decoders: it holds no state, only memory that
// idle decoders gave back.
var readBufs = sync.Pool{New: func() any { return new([readBufferSize]byte) }}

// release gives the read buffer back to the pool; nothing unread may be
// in it.
func (d *Decoder) release() {
	if d.buf != nil {
		readBufs.Put((*[readBufferSize]byte)(d.buf))
		d.buf = nil
	}
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

// take moves the next n buffered bytes into sc.data.
func (d *Decoder) take(sc *scratch, n int) {
	sc.data = append(sc.data, d.buf[d.pos:d.pos+n]...)
	d.pos += n
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
			// error sticks. (io.EOF first: it ends every fragment, and
			// isTimeout allocates.)
			if err == io.EOF || d.elemStart >= 0 || !isTimeout(err) {
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

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\t' || c == '\r' }
