package netconn

import "sync"

// maxPooledBuffer is the largest buffer given back to the pool: a rare
// huge batch should not pin its memory for every later write.
const maxPooledBuffer = 64 << 10

// buffers is shared by every connection: it holds no state, only memory
// that writers gave back, so that a connection holds a write buffer only
// while it writes.
var buffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// GetBuffer returns an empty write buffer. Give it back with PutBuffer,
// storing the grown slice in it first (*bp = b).
func GetBuffer() *[]byte { return buffers.Get().(*[]byte) }

// PutBuffer gives a buffer from GetBuffer back for reuse.
func PutBuffer(bp *[]byte) {
	if cap(*bp) > maxPooledBuffer {
		return
	}
	*bp = (*bp)[:0]
	buffers.Put(bp)
}
