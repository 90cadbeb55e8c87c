package netconn

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// fakeConn reads from a buffer, counting read calls, and records the read
// deadlines set on it.
type fakeConn struct {
	net.Conn
	mu        sync.Mutex
	data      bytes.Reader
	deadlines []time.Time
	reads     int
}

func (f *fakeConn) Read(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	return f.data.Read(p)
}

func (f *fakeConn) SetReadDeadline(t time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deadlines = append(f.deadlines, t)
	return nil
}

func (f *fakeConn) last() (time.Time, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.deadlines) == 0 {
		return time.Time{}, 0
	}
	return f.deadlines[len(f.deadlines)-1], len(f.deadlines)
}

func TestReaderRate(t *testing.T) {
	tests := []struct {
		name         string
		rate, burst  int
		total        int
		minSec, maxS float64 // bounds of the pauses, in seconds
		maxRead      int
	}{
		// Reading 5000 bytes from a full bucket of 1000 owes 4000 bytes
		// at 1000 B/s. The pauses are not really taken, so the reads all
		// happen at about the same time: the last one waits for the whole
		// debt. The bounds leave room for the tokens the real time between
		// reads adds.
		{"over the burst pauses", 1000, 1000, 5000, 3.9, 4.0, 1000},
		{"burst below the rate is the rate", 2000, 10, 6000, 1.9, 2.0, 2000},
		{"within the burst reads at once", 1000, 8000, 8000, 0, 0, 4096},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fc := &fakeConn{}
			fc.data.Reset(make([]byte, tc.total))
			r := NewReader(fc, tc.rate, tc.burst)
			var slept time.Duration // the longest pause
			r.sleep = func(d time.Duration) { slept = max(slept, d) }
			buf := make([]byte, 4096)
			got := 0
			for {
				n, err := r.Read(buf)
				if n > tc.maxRead {
					t.Fatalf("one read returned %d bytes, more than the bucket holds (%d)", n, tc.maxRead)
				}
				got += n
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if got != tc.total {
				t.Errorf("read %d bytes, want %d", got, tc.total)
			}
			if s := slept.Seconds(); s < tc.minSec || s > tc.maxS {
				t.Errorf("the last read paused %.3fs, want %.1f to %.1f", s, tc.minSec, tc.maxS)
			}
		})
	}
}

func TestReaderUnlimitedPassesThrough(t *testing.T) {
	fc := &fakeConn{}
	fc.data.Reset(make([]byte, 10000))
	r := NewReader(fc, 0, 0)
	n, err := r.Read(make([]byte, 8192))
	if n != 8192 || err != nil {
		t.Fatalf("Read = %d, %v; want 8192 bytes at once", n, err)
	}
	if _, k := fc.last(); k != 0 {
		t.Errorf("%d deadlines set without an idle time, want none", k)
	}
}

func TestReaderDeadlines(t *testing.T) {
	fc := &fakeConn{}
	fc.data.Reset(make([]byte, 100))
	r := NewReader(fc, 0, 0)
	buf := make([]byte, 1)

	start := time.Now()
	r.SetIdle(time.Minute)
	d, n := fc.last()
	if n != 1 || d.Before(start.Add(time.Minute)) {
		t.Fatalf("after SetIdle: %d deadlines, last %v; want one a minute ahead", n, d)
	}
	// Reads within the slack (a second) leave the deadline alone.
	for range 5 {
		if _, err := r.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	if _, n := fc.last(); n != 1 {
		t.Errorf("reads within the slack set %d more deadlines, want none", n-1)
	}
	// A stale deadline moves on the next read.
	r.mu.Lock()
	r.moved = time.Now().Add(-2 * time.Second)
	r.mu.Unlock()
	if _, err := r.Read(buf); err != nil {
		t.Fatal(err)
	}
	if _, n := fc.last(); n != 2 {
		t.Errorf("a read after the slack set %d deadlines in all, want 2", n)
	}

	// An absolute deadline is not moved by reads.
	abs := time.Now().Add(time.Hour)
	r.SetDeadline(abs)
	r.mu.Lock()
	r.moved = time.Time{}
	r.mu.Unlock()
	if _, err := r.Read(buf); err != nil {
		t.Fatal(err)
	}
	if d, _ := fc.last(); !d.Equal(abs) {
		t.Errorf("deadline %v after a read, want the absolute %v", d, abs)
	}

	// Linger is final: later SetIdle, SetDeadline and Linger change nothing.
	r.Linger(50 * time.Millisecond)
	lingered, n := fc.last()
	if lingered.After(time.Now().Add(50 * time.Millisecond)) {
		t.Errorf("linger deadline %v, want within 50ms", lingered)
	}
	r.SetIdle(time.Minute)
	r.SetDeadline(time.Now().Add(time.Hour))
	r.Linger(time.Hour)
	if _, err := r.Read(buf); err != nil {
		t.Fatal(err)
	}
	if _, m := fc.last(); m != n {
		t.Errorf("%d deadlines set after Linger, want none", m-n)
	}
	// Interrupt always cuts.
	r.Interrupt()
	if d, m := fc.last(); m != n+1 || d.After(time.Now()) {
		t.Errorf("Interrupt set deadline %v (%d set), want now", d, m-n)
	}
}

// TestReaderDrain: after the closing tag the reader waits for the peer to
// close, discarding what it sends; after Interrupt it does not wait.
func TestReaderDrain(t *testing.T) {
	t.Run("until the peer closes", func(t *testing.T) {
		a, b := net.Pipe()
		defer a.Close()
		r := NewReader(a, 0, 0)
		go func() {
			_, _ = b.Write([]byte("</stream:stream>"))
			_ = b.Close()
		}()
		done := make(chan struct{})
		go func() { r.Drain(); close(done) }()
		select {
		case <-done:
		case <-time.After(LingerTime / 2):
			t.Fatal("Drain still waiting after the peer closed")
		}
	})
	t.Run("after Interrupt", func(t *testing.T) {
		a, b := net.Pipe()
		defer a.Close()
		defer b.Close()
		r := NewReader(a, 0, 0)
		r.Interrupt()
		done := make(chan struct{})
		go func() { r.Drain(); close(done) }()
		select {
		case <-done:
		case <-time.After(LingerTime / 2):
			t.Fatal("Drain waited after Interrupt")
		}
		if _, err := r.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) || !IsTimeout(err) {
			t.Errorf("read after Interrupt: %v, want a timeout", err)
		}
	})
}

// TestReaderReadAllocs: the read path allocates nothing, with the rate
// limit and the sliding deadline on, as on every client session.
func TestReaderReadAllocs(t *testing.T) {
	fc := &fakeConn{}
	fc.data.Reset(make([]byte, 1<<20))
	r := NewReader(fc, 1<<30, 1<<30)
	r.SetIdle(time.Minute)
	buf := make([]byte, 64)
	if n := testing.AllocsPerRun(1000, func() {
		if _, err := r.Read(buf); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Read allocates %v times, want 0", n)
	}
}

func BenchmarkReaderRead(b *testing.B) {
	fc := &fakeConn{}
	r := NewReader(fc, 1<<30, 1<<30)
	r.SetIdle(time.Minute)
	buf := make([]byte, 1024)
	data := make([]byte, 1024)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		fc.data.Reset(data)
		if _, err := r.Read(buf); err != nil {
			b.Fatal(err)
		}
	}
}
