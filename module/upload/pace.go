package upload

import (
	"io"
	"net/http"
	"sync"
	"time"
)

// A pacer holds a transfer to a timeout and a minimum rate, the defence
// against clients that hold a connection open by trickling bytes
// (slowloris). Before each read or write it moves the connection's
// deadline to the earlier of
//
//   - now + idle: some bytes must move within idle, and
//   - start + idle + n/rate: after a grace of idle, the average since the
//     start must stay at rate bytes per second or more,
//
// so a transfer that stalls or crawls ends with a timeout error, and one
// of any size that keeps its pace is never cut. The server's own read and
// write timeouts, which suit small requests, would cut a large file on a
// slow link; the pacer replaces them for the one request.
type pacer struct {
	set   func(time.Time) error
	idle  time.Duration
	rate  int64
	start time.Time
	n     int64
}

func newPacer(set func(time.Time) error, idle time.Duration, rate int64) *pacer {
	return &pacer{set: set, idle: idle, rate: rate, start: time.Now()}
}

// deadline is when the next bytes must have moved, at now.
func (p *pacer) deadline(now time.Time) time.Time {
	d := now.Add(p.idle)
	if p.rate > 0 {
		byRate := p.start.Add(p.idle + time.Duration(float64(p.n)/float64(p.rate)*float64(time.Second)))
		if byRate.Before(d) {
			d = byRate
		}
	}
	return d
}

// next sets the deadline before an operation. A connection without
// deadlines (http.ErrNotSupported, as in tests) is left as it is.
func (p *pacer) next() { _ = p.set(p.deadline(time.Now())) }

// pacedReader reads a request body under a pacer.
type pacedReader struct {
	r io.Reader
	p *pacer
}

func (r *pacedReader) Read(b []byte) (int, error) {
	r.p.next()
	n, err := r.r.Read(b)
	r.p.n += int64(n)
	return n, err
}

// pacedWriter writes a response under a pacer.
type pacedWriter struct {
	http.ResponseWriter
	p *pacer
}

func (w *pacedWriter) Write(b []byte) (int, error) {
	w.p.next()
	n, err := w.ResponseWriter.Write(b)
	w.p.n += int64(n)
	return n, err
}

// ReadFrom copies r through a pooled buffer and the paced Write, so that
// http.ServeContent (which would allocate a 32 KiB buffer for a writer
// without ReadFrom) costs no buffer per download.
func (w *pacedWriter) ReadFrom(r io.Reader) (int64, error) {
	return copyPooled(struct{ io.Writer }{w}, r)
}

// copyBufs are the transfer buffers of uploads and downloads.
var copyBufs = sync.Pool{New: func() any { return new([32 << 10]byte) }}

// copyPooled is io.Copy with a buffer from copyBufs. dst and src must not
// implement io.ReaderFrom or io.WriterTo in a way that recurses here.
func copyPooled(dst io.Writer, src io.Reader) (int64, error) {
	buf := copyBufs.Get().(*[32 << 10]byte)
	defer copyBufs.Put(buf)
	return io.CopyBuffer(dst, src, buf[:])
}

// writeError marks an error of the file being written, so that io.Copy's
// result tells a full disk from a client that went away.
type writeError struct{ err error }

func (e *writeError) Error() string { return "write: " + e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

// writeTagger wraps a body's write errors in *writeError.
type writeTagger struct{ w io.Writer }

func (t writeTagger) Write(b []byte) (int, error) {
	n, err := t.w.Write(b)
	if err != nil {
		return n, &writeError{err}
	}
	return n, nil
}
