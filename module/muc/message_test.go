package muc

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"roost/internal/xmpptest"
	"roost/jid"
	"roost/module"
	"roost/stanza"
	"roost/store"
	"roost/xmlstream"
)

func TestGroupchat(t *testing.T) {
	h := newHarness(t)
	h.create(romeo, "family", "Romeo")
	h.join(juliet, "family", "Juliet")
	h.join(remote, "family", "Mercutio")
	h.take(romeo)
	h.take(juliet)
	// A forged stanza-id of the room and a forged occupant-id are
	// replaced; others' stanza-ids stay.
	h.send(juliet, `<message type='groupchat' to='`+roomJID+`' id='m1'><body>hello</body>`+
		`<stanza-id xmlns='urn:xmpp:sid:0' id='forged' by='`+roomJID+`'/>`+
		`<stanza-id xmlns='urn:xmpp:sid:0' id='theirs' by='juliet@example.org'/>`+
		`<occupant-id xmlns='urn:xmpp:occupant-id:0' id='forged'/></message>`)
	var ids []string
	var occIDs []string
	for _, who := range []string{romeo, juliet, remote} {
		m := one(t, h.take(who), "message", roomJID+"/Juliet")
		if body(m) != "hello" || m.Get("id") != "m1" || m.Get("type") != "groupchat" || m.Get("to") != who {
			t.Errorf("%s got %s", who, wire(m))
		}
		var byRoom, byJuliet int
		for c := range m.Elements() {
			if c.Is(nsStanzaID, "stanza-id") {
				switch c.Get("by") {
				case roomJID:
					byRoom++
					ids = append(ids, c.Get("id"))
				case "juliet@example.org":
					byJuliet++
				}
			}
			if c.Is(nsOccupantID, "occupant-id") {
				occIDs = append(occIDs, c.Get("id"))
			}
		}
		if byRoom != 1 || byJuliet != 1 {
			t.Errorf("%s: %d stanza-ids by the room, %d by juliet: %s", who, byRoom, byJuliet, wire(m))
		}
	}
	if len(ids) != 3 || ids[0] == "forged" || ids[0] != ids[1] || ids[1] != ids[2] {
		t.Errorf("stanza-ids %v: want one id, the room's, for every copy", ids)
	}
	if len(occIDs) != 3 || occIDs[0] == "forged" || occIDs[0] != occIDs[1] || occIDs[0] != occupantID(h.roomSalt("family"), mustBare(juliet)) {
		t.Errorf("occupant-ids %v", occIDs)
	}
}

func TestGroupchatRefused(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Defaults.Moderated = true })
	h.create(romeo, "family", "Romeo")
	h.join(juliet, "family", "Juliet")
	h.take(romeo)
	tests := []struct {
		name, from string
		want       stanza.Condition
	}{
		// Item 7 of the issue: a message to a room one is not in.
		{"not in the room", nurse, stanza.NotAcceptable},
		{"from another server, not in the room", remote, stanza.NotAcceptable},
		{"a visitor in a moderated room", juliet, stanza.Forbidden},
	}
	for _, tt := range tests {
		h.send(tt.from, `<message type='groupchat' to='`+roomJID+`'><body>let me in</body></message>`)
		got := h.take(tt.from)
		if tt.from == juliet {
			got = find(got, "message", roomJID)
		}
		wantError(t, got, tt.want)
	}
	if got := h.take(romeo); len(got) != 0 {
		t.Errorf("romeo got refused messages:\n%s", wires(got))
	}
	wantError(t, func() []*xmlstream.Element {
		h.send(romeo, `<message type='groupchat' to='nowhere@`+svc+`'><body>hi</body></message>`)
		return h.take(romeo)
	}(), stanza.ItemNotFound)
}

func TestSubject(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Defaults.ChangeSubject = false })
	h.create(romeo, "family", "Romeo")
	h.join(juliet, "family", "Juliet")
	h.take(romeo)
	h.send(juliet, `<message type='groupchat' to='`+roomJID+`'><subject>Mine</subject></message>`)
	wantError(t, h.take(juliet), stanza.Forbidden)
	h.send(romeo, `<message type='groupchat' to='`+roomJID+`' id='s'><subject>Christmas dinner</subject></message>`)
	for _, who := range []string{romeo, juliet} {
		m := one(t, h.take(who), "message", roomJID+"/Romeo")
		if m.ChildText(m.Name.Space, "subject") != "Christmas dinner" || body(m) != "" {
			t.Errorf("%s: %s", who, wire(m))
		}
	}
	// A subject with a body is a message, not a change (§8.1).
	h.send(juliet, `<message type='groupchat' to='`+roomJID+`'><subject>x</subject><body>just saying</body></message>`)
	if m := one(t, h.take(romeo), "message", roomJID+"/Juliet"); body(m) != "just saying" {
		t.Errorf("%s", wire(m))
	}
	got := h.join(nurse, "family", "Nurse")
	last := got[len(got)-1]
	if last.ChildText(last.Name.Space, "subject") != "Christmas dinner" || last.Get("from") != roomJID+"/Romeo" {
		t.Errorf("the subject on join: %s", wire(last))
	}
}

func TestHistory(t *testing.T) {
	h := newHarness(t)
	h.create(romeo, "family", "Romeo")
	for i := 1; i <= 7; i++ {
		h.advance(time.Minute)
		h.send(romeo, fmt.Sprintf(`<message type='groupchat' to='%s'><body>message %d</body></message>`, roomJID, i))
	}
	h.send(romeo, `<message type='groupchat' to='`+roomJID+`'><active xmlns='http://jabber.org/protocol/chatstates'/></message>`)
	h.send(romeo, `<message type='groupchat' to='`+roomJID+`'><body>not kept</body><no-store xmlns='urn:xmpp:hints'/></message>`)
	h.take(romeo)
	// The history keeps 5 (Options.History); the clock is at 18:07.
	tests := []struct {
		name    string
		history string
		want    []int
	}{
		{"default", "", []int{3, 4, 5, 6, 7}},
		{"maxstanzas", "<history maxstanzas='2'/>", []int{6, 7}},
		{"maxstanzas 0", "<history maxstanzas='0'/>", nil},
		{"maxchars 0", "<history maxchars='0'/>", nil},
		{"maxchars for two", "<history maxchars='900'/>", []int{6, 7}},
		{"seconds", "<history seconds='150'/>", []int{5, 6, 7}},
		{"since", "<history since='2026-12-24T18:04:00Z'/>", []int{4, 5, 6, 7}},
		{"since and maxstanzas", "<history since='2026-12-24T18:04:00Z' maxstanzas='1'/>", []int{7}},
		{"nonsense", "<history maxstanzas='lots' seconds='-1' since='yesterday'/>", []int{3, 4, 5, 6, 7}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			who := fmt.Sprintf("guest%d@example.org/r", i)
			var got []int
			for _, m := range find(h.join(who, "family", fmt.Sprintf("Guest%d", i), tt.history), "message", roomJID+"/Romeo") {
				var n int
				if _, err := fmt.Sscanf(body(m), "message %d", &n); err != nil {
					t.Fatalf("unexpected history message %s", wire(m))
				}
				if m.Child(nsDelay, "delay") == nil {
					t.Errorf("no delay: %s", wire(m))
				}
				got = append(got, n)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("history %v, want %v", got, tt.want)
			}
			h.take(romeo)
		})
	}
}

func TestPrivateMessages(t *testing.T) {
	h := newHarness(t)
	h.create(romeo, "family", "Romeo")
	h.join(juliet, "family", "Juliet")
	h.join(remote, "family", "Mercutio")
	h.take(romeo)
	h.take(juliet)
	h.send(remote, `<message type='chat' to='`+roomJID+`/Juliet' id='pm'><body>psst</body></message>`)
	m := one(t, h.take(juliet), "message", roomJID+"/Mercutio")
	if body(m) != "psst" || m.Get("type") != "chat" || m.Child(NSUser, "x") == nil || m.Child(nsOccupantID, "occupant-id") == nil {
		t.Errorf("juliet got %s", wire(m))
	}
	if got := h.take(romeo); len(got) != 0 {
		t.Errorf("romeo saw a private message:\n%s", wires(got))
	}
	tests := []struct {
		name, from, to string
		typ            string
		want           stanza.Condition
	}{
		{"not in the room", nurse, "Juliet", "chat", stanza.NotAcceptable},
		{"nobody by that nick", juliet, "Tybalt", "chat", stanza.ItemNotFound},
		{"groupchat to a nick", juliet, "Romeo", "groupchat", stanza.BadRequest},
	}
	for _, tt := range tests {
		h.send(tt.from, `<message type='`+tt.typ+`' to='`+roomJID+`/`+tt.to+`'><body>hi</body></message>`)
		wantError(t, h.take(tt.from), tt.want)
	}
	configure(h, romeo, "muc#roomconfig_allowpm", "moderators")
	h.take(juliet)
	h.send(juliet, `<message type='chat' to='`+roomJID+`/Romeo'><body>hi</body></message>`)
	wantError(t, find(h.take(juliet), "message", roomJID+"/Romeo"), stanza.NotAllowed)
	h.send(romeo, `<message type='chat' to='`+roomJID+`/Juliet'><body>moderators may</body></message>`)
	if m := one(t, h.take(juliet), "message", roomJID+"/Romeo"); body(m) != "moderators may" {
		t.Errorf("%s", wire(m))
	}
}

func TestInvitations(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Defaults.MembersOnly = true })
	h.create(romeo, "family", "Romeo")
	h.send(juliet, `<presence/>`) // available, so that a message to her bare JID reaches her
	h.send(romeo, `<message to='`+roomJID+`'><x xmlns='`+NSUser+`'><invite to='juliet@example.org'><reason>Dinner at eight</reason></invite></x></message>`)
	inv := one(t, h.take(juliet), "message", roomJID)
	x := inv.Child(NSUser, "x")
	if i := x.Child(NSUser, "invite"); i == nil || i.Get("from") != "romeo@example.org" || i.ChildText(NSUser, "reason") != "Dinner at eight" {
		t.Errorf("mediated invitation: %s", wire(inv))
	}
	if d := inv.Child(nsConference, "x"); d == nil || d.Get("jid") != roomJID {
		t.Errorf("no XEP-0249 element for older clients: %s", wire(inv))
	}
	if !strings.Contains(body(inv), roomJID) {
		t.Errorf("body %q", body(inv))
	}
	// Invited into a members-only room: a member now.
	if p := one(t, h.join(juliet, "family", "Juliet"), "presence", roomJID+"/Juliet"); item(p) != "member participant "+juliet+" -" {
		t.Errorf("invitee's presence: %s", wire(p))
	}
	// Declining goes back to the inviter.
	h.send(nurse, `<message to='`+roomJID+`'><x xmlns='`+NSUser+`'><decline to='romeo@example.org/orchard'><reason>busy</reason></decline></x></message>`)
	dec := one(t, h.take(romeo), "message", roomJID)
	if d := dec.Child(NSUser, "x").Child(NSUser, "decline"); d == nil || d.Get("from") != "nurse@example.org" || d.ChildText(NSUser, "reason") != "busy" {
		t.Errorf("decline: %s", wire(dec))
	}
	// Someone outside a members-only room may not invite.
	h.send(nurse, `<message to='`+roomJID+`'><x xmlns='`+NSUser+`'><invite to='nurse@example.org'/></x></message>`)
	wantError(t, h.take(nurse), stanza.NotAcceptable)
	// Nor may a member when the room allows no invitations but by admins.
	configure(h, romeo, "muc#roomconfig_allowinvites", "0")
	h.take(juliet)
	h.send(juliet, `<message to='`+roomJID+`'><x xmlns='`+NSUser+`'><invite to='nurse@example.org'/></x></message>`)
	wantError(t, h.take(juliet), stanza.Forbidden)
}

// TestRoomIsolation: what one room does, another does not see.
func TestRoomIsolation(t *testing.T) {
	h := newHarness(t)
	h.create(romeo, "family", "Romeo")
	h.create(juliet, "friends", "Juliet")
	h.send(romeo, `<message type='groupchat' to='`+roomJID+`'><body>only family</body></message>`)
	if got := h.take(juliet); len(got) != 0 {
		t.Errorf("juliet in another room got:\n%s", wires(got))
	}
}

// TestConcurrentOrder: messages sent at once from several occupants reach
// every occupant in the same order.
func TestConcurrentOrder(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Defaults.Logging = false })
	senders := []string{romeo, juliet, nurse, "tybalt@example.org/street"}
	h.create(senders[0], "family", "S0")
	for i, s := range senders[1:] {
		h.join(s, "family", fmt.Sprintf("S%d", i+1))
	}
	for _, s := range senders {
		h.take(s)
	}
	var wg sync.WaitGroup
	for i, s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range 50 {
				st := xmpptest.Stanza(t, fmt.Sprintf(`<message type='groupchat' to='%s'><body>%d-%d</body></message>`, roomJID, i, n))
				st.From = jid.MustParse(s)
				h.r.FromClient(context.Background(), st)
			}
		}()
	}
	wg.Wait()
	var first []string
	for _, s := range senders {
		var got []string
		for _, m := range find(h.take(s), "message", "") {
			got = append(got, body(m))
		}
		if len(got) != 200 {
			t.Fatalf("%s got %d messages, want 200", s, len(got))
		}
		if first == nil {
			first = got
		} else if !slices.Equal(first, got) {
			t.Errorf("%s saw another order than %s", s, senders[0])
		}
	}
}

// TestRetention: with KeepFor, a join leaves out messages past it at
// once, the sweep deletes them from the room's archive (on the real
// store), keeps the rest and every account's archive, and after a
// restart the history is what the archive kept.
func TestRetention(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.KeepFor = 48 * time.Hour })
	h.create(romeo, "family", "Romeo")
	for i := 1; i <= 4; i++ {
		h.advance(12 * time.Hour)
		h.send(romeo, fmt.Sprintf(`<message type='groupchat' to='%s'><body>message %d</body></message>`, roomJID, i))
	}
	if _, err := h.st.AppendArchive(store.ArchiveRecord{Owner: "juliet@example.org", With: "romeo@example.org",
		Stanza: []byte(`<message xmlns="jabber:client"><body>old, and not a room's</body></message>`)}, h.now().Add(-365*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	// Messages 1..4 were sent at 12h, 24h, 36h, 48h; at 72h the first two
	// are older than two days.
	h.advance(24*time.Hour + time.Minute)
	h.take(romeo)
	bodies := func(els []*xmlstream.Element) []string {
		var out []string
		for _, m := range find(els, "message", roomJID+"/Romeo") {
			out = append(out, body(m))
		}
		return out
	}
	if got, want := bodies(h.join(juliet, "family", "Juliet")), []string{"message 3", "message 4"}; !slices.Equal(got, want) {
		t.Errorf("history on join %q, want %q", got, want)
	}
	if err := h.st.SyncArchive(context.Background()); err != nil {
		t.Fatal(err)
	}
	n, err := h.m.trim(context.Background())
	if err != nil || n != 2 {
		t.Fatalf("trim = %d, %v; want 2 deleted", n, err)
	}
	var kept []string
	items, _, err := h.st.ArchivePage(roomJID, store.ArchiveQuery{Max: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		kept = append(kept, string(it.Stanza))
	}
	if len(kept) != 2 || !strings.Contains(kept[0], "message 3") || !strings.Contains(kept[1], "message 4") {
		t.Errorf("the room's archive kept %q, want messages 3 and 4", kept)
	}
	if items, _, err := h.st.ArchivePage("juliet@example.org", store.ArchiveQuery{Max: 10}); err != nil || len(items) != 1 {
		t.Errorf("juliet's own archive: %d messages, %v; want 1, untouched", len(items), err)
	}
	h.restart()
	if got, want := bodies(h.join(nurse, "family", "Nurse")), []string{"message 3", "message 4"}; !slices.Equal(got, want) {
		t.Errorf("history after a restart %q, want %q", got, want)
	}
}

// TestRetentionJob: the sweep is registered only when there is something
// to apply it with.
func TestRetentionJob(t *testing.T) {
	tests := []struct {
		name    string
		keep    time.Duration
		trimmer bool
		archive bool
		want    bool
	}{
		{"kept forever", 0, true, true, false},
		{"kept a year", 365 * 24 * time.Hour, true, true, true},
		{"no trimmer", time.Hour, false, true, false},
		{"no archive", time.Hour, true, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newHarness(t).st
			opts := Options{Domains: []string{"example.org"}, Store: st, KeepFor: tt.keep}
			if tt.trimmer {
				opts.Trimmer = st
			}
			if tt.archive {
				opts.Archive = archiveAdapter{st, time.Now}
			}
			m, err := New(opts)
			if err != nil {
				t.Fatal(err)
			}
			var set module.Set
			set.Add(m)
			got := slices.ContainsFunc(set.Jobs(), func(j module.Job) bool { return j.Name == "muc/retention" })
			if got != tt.want {
				t.Errorf("retention job registered: %v, want %v", got, tt.want)
			}
		})
	}
}
