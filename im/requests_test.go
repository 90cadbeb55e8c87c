package im

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"roost/jid"
	"roost/xmlstream"
)

// trackingSession is a client session that tracks delivery, as c2s's do:
// what it is sent waits until the test settles it.
type trackingSession struct {
	mu      sync.Mutex
	got     int
	pushes  int // roster pushes (untracked)
	bytes   int // footprint of what is unsettled
	maxHeld int // the most footprint unsettled at once
	pending []tracked
}

type tracked struct {
	el *xmlstream.Element
	t  Tracker
}

func (s *trackingSession) Send(el *xmlstream.Element) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if el.Get("type") == "set" && el.Child(NSRoster, "query") != nil {
		s.pushes++
	}
	return true
}
func (s *trackingSession) Close(error) {}

func (s *trackingSession) SendTracked(el *xmlstream.Element, t Tracker) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if el.Name.Local == "presence" && el.Get("type") == "subscribe" {
		s.got++
	}
	s.pending = append(s.pending, tracked{el, t})
	s.bytes += el.Footprint()
	s.maxHeld = max(s.maxHeld, s.bytes)
	return true
}

// settle reports everything pending as delivered, as the client's
// acknowledgement would, and reports whether there was anything. Only the
// requests' handover tracks here: one tracker.
func (s *trackingSession) settle(t *testing.T) bool {
	s.mu.Lock()
	batch := s.pending
	s.pending, s.bytes = nil, 0
	s.mu.Unlock()
	if len(batch) == 0 {
		return false
	}
	els := make([]*xmlstream.Element, len(batch))
	for i, p := range batch {
		if p.t != batch[0].t {
			t.Fatal("two trackers for one login's requests")
		}
		els[i] = p.el
	}
	batch[0].t.Settled(els, true)
	return true
}

// worstRequest is a subscription request as large as the server stores
// one (limits.max_stanza_bytes, 256 KiB), thick with elements, which take
// the most memory once parsed.
func worstRequest(from string) []byte {
	const size = 256 << 10
	head := `<presence xmlns="jabber:client" from="` + from + `" to="juliet@example.com" type="subscribe"><x xmlns="urn:example:filler">`
	elems := strings.Repeat("<a/>", 4000)
	pad := size - len(head) - len(elems) - len(`</x><status></status></presence>`)
	return []byte(head + elems + `</x><status>` + strings.Repeat("s", pad) + "</status></presence>")
}

// TestLoginWithManyStoredRequests: a user with 1,000 subscription requests
// stored, each as large as the server stores one, logs in within a stated
// memory bound (docs/security.md): the roster is read a page at a time and
// the requests are handed over in batches, the next once the client has
// the last, so neither the store's copy nor the parsed requests are ever
// all in memory; the roster changes a versioned client asks for first are
// gathered without them. Every request arrives, once.
func TestLoginWithManyStoredRequests(t *testing.T) {
	const bound = 24 << 20 // docs/security.md states it
	n := 1000
	if raceEnabled {
		n = 100 // the race detector makes 1,000 take minutes; the bound is the same
	}
	w := newWorld(t)
	for i := range n {
		from := fmt.Sprintf("stranger%04d@elsewhere.example", i)
		rec, err := item{PendingIn: true, Request: worstRequest(from)}.encode()
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := w.st.UpdateRosterItem("juliet@example.com", from, func([]byte) ([]byte, error) { return rec, nil }); err != nil {
			t.Fatal(err)
		}
	}
	s := &trackingSession{}
	full := jid.MustParse("juliet@example.com/balcony")
	if err := w.r.Bind(context.Background(), full, s); err != nil {
		t.Fatal(err)
	}

	defer debug.SetGCPercent(debug.SetGCPercent(10)) // garbage shows as little as possible in the samples
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak atomic.Uint64
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	})
	start := time.Now()
	// A client that knew the roster before the requests came asks for
	// what changed since (§2.6): every request is a change.
	w.Send(full.String(), `<iq type='get' id='r1'><query xmlns='jabber:iq:roster' ver='1'/></iq>`)
	w.Send(full.String(), `<presence/>`)
	for s.settle(t) {
	}
	took := time.Since(start)
	close(stop)
	sampler.Wait()

	if s.got != n {
		t.Errorf("the session got %d subscription requests, want %d", s.got, n)
	}
	if s.pushes != n-1 { // the first request made version 1
		t.Errorf("the session got %d roster pushes for the changes since version 1, want %d", s.pushes, n-1)
	}
	grew := int64(peak.Load()) - int64(base)
	t.Logf("login with %d stored requests of %d bytes: heap grew at most %.1f MiB (bound %d MiB), held at most %.1f MiB for the client, in %v",
		n, len(worstRequest("stranger0000@elsewhere.example")), float64(grew)/(1<<20), bound>>20, float64(s.maxHeld)/(1<<20), took)
	if grew > bound {
		t.Errorf("the heap grew by %d bytes during the login; want at most %d", grew, bound)
	}
}
