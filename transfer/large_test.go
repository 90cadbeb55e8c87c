package transfer

import (
	"fmt"
	"io"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"roost/portable"
	"roost/xmlstream"
)

// heapWatch samples the heap's object bytes (live and not yet swept)
// until stopped, keeping the largest.
type heapWatch struct {
	stop chan struct{}
	done sync.WaitGroup
	max  uint64
}

func watchHeap() *heapWatch {
	runtime.GC()
	w := &heapWatch{stop: make(chan struct{})}
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	w.done.Add(1)
	go func() {
		defer w.done.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			w.max = max(w.max, s[0].Value.Uint64())
			select {
			case <-w.stop:
				return
			case <-t.C:
			}
		}
	}()
	return w
}

func (w *heapWatch) Max() uint64 {
	close(w.stop)
	w.done.Wait()
	return w.max
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// TestLargeExport imports a 500 MB XEP-0227 document, made on the fly
// and streamed through a pipe (never on disk, never whole in memory):
// five accounts of 100 MB of archived messages each, so that each
// spills into several transactions. Then it exports the store again.
// Both must stay within a heap far below the document's size. Under the
// race detector it runs on a tenth of the data.
func TestLargeExport(t *testing.T) {
	if testing.Short() {
		t.Skip("imports and exports 500 MB")
	}
	const accounts = 5
	perAccount := 100 << 20
	if raceEnabled {
		perAccount /= 10
	}
	body := strings.Repeat("All work and no play makes Jack a dull boy. ", 20) // ~900 bytes
	msg, err := xmlstream.Parse([]byte(`<message xmlns="jabber:client" from="bob@example.org/phone" to="alice@example.org" type="chat"><body>`+body+`</body></message>`), xmlstream.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	var written countingWriter
	go func() {
		enc := portable.NewEncoder(io.MultiWriter(pw, &written))
		start := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
		n := 0
		for a := range accounts {
			_ = enc.Encode(&portable.User{Host: "example.org", Name: fmt.Sprintf("user%d", a)})
			_ = enc.Encode(&portable.Credential{Mechanism: "SCRAM-SHA-1", Iterations: 4096, Salt: []byte("salt"),
				StoredKey: make([]byte, 20), ServerKey: make([]byte, 20)})
			for before := written.n; written.n-before < int64(perAccount); n++ {
				if err := enc.Encode(&portable.Archived{ID: fmt.Sprint(n), Stamp: start.Add(time.Duration(n) * time.Second), Message: msg}); err != nil {
					pw.CloseWithError(err)
					return
				}
			}
			_ = enc.Encode(&portable.UserEnd{})
		}
		pw.CloseWithError(enc.Close())
	}()

	st := openStore(t)
	w := watchHeap()
	began := time.Now()
	reps, sum, err := importAll(t, st, ReaderSource(pr, portable.Options{}), ImportOptions{})
	importHeap := w.Max()
	if err != nil || sum.Accounts[Moved] != accounts {
		t.Fatalf("import: %v, %v", sum, err)
	}
	var messages int
	for _, r := range reps {
		messages += r.Moved.Archived
	}
	t.Logf("imported %d MB, %d messages, in %v; heap at most %d MB", written.n>>20, messages, time.Since(began).Round(time.Second), importHeap>>20)
	if want := int64(accounts * perAccount); written.n < want {
		t.Fatalf("the document was %d bytes, want at least %d", written.n, want)
	}
	for _, r := range reps {
		s, err := st.ArchiveSummary(r.JID)
		if err != nil || s.Count != int64(r.Moved.Archived) {
			t.Errorf("%s: archive %+v, %v; report says %d", r.JID, s, err, r.Moved.Archived)
		}
	}

	w = watchHeap()
	began = time.Now()
	var out countingWriter
	if _, err := Export(st, NewWriterSink(&out), ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	exportHeap := w.Max()
	t.Logf("exported %d MB in %v; heap at most %d MB", out.n>>20, time.Since(began).Round(time.Second), exportHeap>>20)
	if out.n < written.n {
		t.Errorf("the export is %d bytes, the document imported %d", out.n, written.n)
	}
	// The store commits an account every 8 MiB (store.ImportOptions),
	// and bbolt needs about three times that for a commit; the rest is
	// one message at a time.
	const bound = 96 << 20
	if importHeap > bound || exportHeap > bound {
		t.Errorf("heap reached %d MB importing, %d MB exporting; the bound is %d MB", importHeap>>20, exportHeap>>20, bound>>20)
	}
}
