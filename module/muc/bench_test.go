package muc

import (
	"context"
	"fmt"
	"testing"

	"roost/internal/xmpptest"
	"roost/jid"
	"roost/stanza"
)

// fanout builds a room of n local occupants and returns a groupchat
// message from the first, ready to hand to the service.
func fanout(tb testing.TB, n int) (*harness, *stanza.Stanza) {
	tb.Helper()
	h := newHarness(tb, func(o *Options) {
		o.MaxOccupants = n + 1
		o.Defaults.Logging = false // the broadcast, not the disk
	})
	for i := range n {
		who := fmt.Sprintf("user%d@example.org/r", i)
		if i == 0 {
			h.create(who, "family", "User0")
		} else {
			h.join(who, "family", fmt.Sprintf("User%d", i))
		}
	}
	for full, s := range h.sessions {
		s.mu.Lock()
		s.got = nil
		s.refuse = false
		s.mu.Unlock()
		_ = full
	}
	st := xmpptest.Stanza(tb, `<message type='groupchat' to='`+roomJID+`' id='m'><body>Dinner is ready, come down please!</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>`)
	st.From = jid.MustParse("user0@example.org/r")
	return h, st
}

// discard drops what the sessions received, keeping the count.
func (h *harness) discard() int {
	n := 0
	for _, s := range h.sessions {
		s.mu.Lock()
		n += len(s.got)
		s.got = s.got[:0]
		s.mu.Unlock()
	}
	return n
}

// BenchmarkGroupchat50 is a message to a room of 50 local occupants: the
// per-message work of the fan-out.
func BenchmarkGroupchat50(b *testing.B) {
	h, st := fanout(b, 50)
	svc := h.m.services[0]
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svc.HandleStanza(ctx, st); err != nil {
			b.Fatal(err)
		}
		h.discard()
	}
	b.ReportMetric(50, "deliveries/op")
}

// TestFanoutAllocations: a broadcast costs the same allocations in a room
// of 5 and of 50: the stanza is built once, and the recipients' envelopes
// come in one slab.
func TestFanoutAllocations(t *testing.T) {
	allocs := map[int]float64{}
	for _, n := range []int{5, 50} {
		h, st := fanout(t, n)
		svc := h.m.services[0]
		ctx := context.Background()
		allocs[n] = testing.AllocsPerRun(50, func() {
			if _, err := svc.HandleStanza(ctx, st); err != nil {
				t.Fatal(err)
			}
			if got := h.discard(); got != n {
				t.Fatalf("%d deliveries, want %d", got, n)
			}
		})
	}
	if allocs[50] > allocs[5] {
		t.Errorf("allocations per message: %v with 5 occupants, %v with 50: the fan-out copies per recipient", allocs[5], allocs[50])
	}
	t.Logf("allocations per message: %v", allocs)
}
