package muc

import (
	"context"
	"fmt"
	"testing"
	"time"

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

// presenceFanout builds a room of n local occupants whose presence
// broadcast is cast (nil: the default) and returns a presence change of
// the occupant from (user0 is the owner, a moderator; the others are
// participants).
func presenceFanout(tb testing.TB, n int, cast []string, from int) (*harness, *stanza.Stanza) {
	tb.Helper()
	h, _ := fanout(tb, n)
	if cast != nil {
		wantResult(tb, submit(h, "user0@example.org/r", field(fPresenceCast, cast...)))
		h.discard()
	}
	st := xmpptest.Stanza(tb, fmt.Sprintf(`<presence to='%s/User%d'><show>away</show><status>Cooking</status></presence>`, roomJID, from))
	st.From = jid.MustParse(fmt.Sprintf("user%d@example.org/r", from))
	return h, st
}

var presenceCases = []struct {
	name string
	cast []string
	from int
	// hidden: only the occupant itself gets it.
	hidden bool
}{
	{"default", nil, 1, false},
	{"moderators only, a participant's", []string{"moderator"}, 1, true},
	{"moderators only, a moderator's", []string{"moderator"}, 0, false},
}

// seen is how many of n occupants get the presence.
func seen(n int, hidden bool) int {
	if hidden {
		return 1
	}
	return n
}

// BenchmarkPresence50 is an occupant's presence change in a room of 50
// local occupants: to everyone by default, to itself alone when its role
// is not broadcast (muc#roomconfig_presencebroadcast).
func BenchmarkPresence50(b *testing.B) {
	for _, tc := range presenceCases {
		b.Run(tc.name, func(b *testing.B) {
			h, st := presenceFanout(b, 50, tc.cast, tc.from)
			svc := h.m.services[0]
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				h.advance(time.Minute) // a token for every change
				if _, err := svc.HandleStanza(ctx, st); err != nil {
					b.Fatal(err)
				}
				h.discard()
			}
			b.ReportMetric(float64(seen(50, tc.hidden)), "deliveries/op")
		})
	}
}

// TestPresenceFanoutAllocations: a presence broadcast costs the same
// allocations in a room of 5 and of 50 whatever the roles broadcast, and
// filtering by role adds none.
func TestPresenceFanoutAllocations(t *testing.T) {
	allocs := map[string]float64{}
	for _, tc := range presenceCases {
		for _, n := range []int{5, 50} {
			h, st := presenceFanout(t, n, tc.cast, tc.from)
			svc := h.m.services[0]
			ctx := context.Background()
			want := seen(n, tc.hidden)
			allocs[fmt.Sprint(tc.name, " ", n)] = testing.AllocsPerRun(50, func() {
				h.advance(time.Minute)
				if _, err := svc.HandleStanza(ctx, st); err != nil {
					t.Fatal(err)
				}
				if got := h.discard(); got != want {
					t.Fatalf("%s: %d deliveries, want %d", tc.name, got, want)
				}
			})
		}
		if a5, a50 := allocs[fmt.Sprint(tc.name, " 5")], allocs[fmt.Sprint(tc.name, " 50")]; a50 > a5 {
			t.Errorf("%s: %v allocations with 5 occupants, %v with 50: the fan-out copies per recipient", tc.name, a5, a50)
		}
	}
	if d, m := allocs["default 50"], allocs["moderators only, a moderator's 50"]; m > d {
		t.Errorf("a broadcast filtered by role costs %v allocations, unfiltered %v", m, d)
	}
	t.Logf("allocations per presence change: %v", allocs)
}
