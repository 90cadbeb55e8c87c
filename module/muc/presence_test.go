package muc

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"roost/jid"
	"roost/stanza"
	"roost/xmlstream"
)

const (
	romeo   = "romeo@example.org/orchard"
	juliet  = "juliet@example.org/balcony"
	nurse   = "nurse@example.org/house"
	remote  = "mercutio@example.net/street"
	roomJID = "family@" + svc
)

func TestCreateRoom(t *testing.T) {
	h := newHarness(t)
	got := h.join(romeo, "family", "Romeo")
	self := one(t, got, "presence", roomJID+"/Romeo")
	if diff := cmp.Diff([]int{100, 110, 170, 201}, statuses(self)); diff != "" {
		t.Errorf("self-presence codes (-want +got):\n%s", diff)
	}
	if got := item(self); got != "owner moderator "+romeo+" -" {
		t.Errorf("self item = %q", got)
	}
	subj := one(t, got, "message", roomJID)
	if s := subj.Child(subj.Name.Space, "subject"); s == nil || s.Text() != "" || body(subj) != "" {
		t.Errorf("want an empty subject last, got %s", wire(subj))
	}
	if wire(got[len(got)-1]) != wire(subj) {
		t.Errorf("the subject is not last:\n%s", wires(got))
	}

	// §10.1.1: locked until configured.
	wantError(t, h.join(juliet, "family", "Juliet"), stanza.ItemNotFound)
	if _, found, _ := h.st.Room(roomJID); found {
		t.Error("a locked room was stored")
	}
	h.send(romeo, `<iq type='set' id='c1' to='`+roomJID+`'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'/></query></iq>`)
	if res := h.take(romeo); len(res) != 1 || res[0].Get("type") != "result" || res[0].Get("id") != "c1" {
		t.Fatalf("instant room: got\n%s", wires(res))
	}
	if _, found, _ := h.st.Room(roomJID); !found {
		t.Error("the configured persistent room was not stored")
	}
	got = h.join(juliet, "family", "Juliet")
	if p := one(t, got, "presence", roomJID+"/Romeo"); item(p) != "owner moderator "+romeo+" -" {
		t.Errorf("juliet sees romeo as %q", item(p))
	}
	if p := one(t, got, "presence", roomJID+"/Juliet"); item(p) != "none participant "+juliet+" -" || !slices.Equal(statuses(p), []int{100, 110, 170}) {
		t.Errorf("juliet's self-presence: %s", wire(p))
	}
	if p := one(t, h.take(romeo), "presence", roomJID+"/Juliet"); item(p) != "none participant "+juliet+" -" || len(statuses(p)) != 0 {
		t.Errorf("romeo sees juliet join as %s", wire(p))
	}
}

func TestCancelCreation(t *testing.T) {
	h := newHarness(t)
	h.join(romeo, "family", "Romeo")
	h.send(romeo, `<iq type='set' id='c' to='`+roomJID+`'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='cancel'/></query></iq>`)
	got := h.take(romeo)
	if p := one(t, got, "presence", roomJID+"/Romeo"); p.Get("type") != "unavailable" || p.Child(NSUser, "x").Child(NSUser, "destroy") == nil {
		t.Errorf("cancelling creation: %s", wires(got))
	}
	if one(t, got, "iq", roomJID).Get("type") != "result" {
		t.Errorf("no result: %s", wires(got))
	}
	// The name is free again: juliet creates it.
	if p := one(t, h.join(juliet, "family", "Juliet"), "presence", roomJID+"/Juliet"); !slices.Contains(statuses(p), 201) {
		t.Errorf("the room was not created anew: %s", wire(p))
	}
}

// TestInstantRoomWithoutMUC: a client that does not speak MUC (no <x/>)
// gets an instant room at once (§10.1.1).
func TestInstantRoomWithoutMUC(t *testing.T) {
	h := newHarness(t)
	h.send(romeo, `<presence to='`+roomJID+`/Romeo'/>`)
	if p := one(t, h.take(romeo), "presence", roomJID+"/Romeo"); !slices.Contains(statuses(p), 201) {
		t.Errorf("not created: %s", wire(p))
	}
	if one(t, h.join(juliet, "family", "Juliet"), "presence", roomJID+"/Juliet") == nil {
		t.Error("juliet could not join the instant room")
	}
}

func TestJoinOrder(t *testing.T) {
	h := newHarness(t)
	h.create(romeo, "family", "Romeo")
	h.send(romeo, `<message type='groupchat' to='`+roomJID+`' id='m1'><body>first</body></message>`)
	h.send(romeo, `<message type='groupchat' to='`+roomJID+`'><subject>Dinner</subject></message>`)
	h.take(romeo)
	got := h.join(juliet, "family", "Juliet")
	var order []string
	for _, el := range got {
		switch {
		case el.Name.Local == "presence" && el.Get("from") == roomJID+"/Romeo":
			order = append(order, "others")
		case el.Name.Local == "presence":
			order = append(order, "self")
		case body(el) != "":
			order = append(order, "history")
			if d := el.Child(nsDelay, "delay"); d == nil || d.Get("from") != roomJID || d.Get("stamp") != "2026-12-24T18:00:00.000Z" {
				t.Errorf("history without the room's delay stamp: %s", wire(el))
			}
			if el.Get("id") != "m1" || el.Child(nsStanzaID, "stanza-id") == nil {
				t.Errorf("history lost the ids: %s", wire(el))
			}
		case el.Child(el.Name.Space, "subject") != nil:
			order = append(order, "subject")
			if el.Get("from") != roomJID+"/Romeo" || el.ChildText(el.Name.Space, "subject") != "Dinner" {
				t.Errorf("subject: %s", wire(el))
			}
		}
	}
	if diff := cmp.Diff([]string{"others", "self", "history", "subject"}, order); diff != "" {
		t.Errorf("join order (-want +got):\n%s\n%s", diff, wires(got))
	}
}

func TestJoinErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(h *harness)
		from  string
		nick  string
		extra string
		want  stanza.Condition
	}{
		{"banned", func(h *harness) {
			h.send(romeo, `<iq type='set' id='b' to='`+roomJID+`'><query xmlns='`+NSAdmin+`'><item affiliation='outcast' jid='juliet@example.org'/></query></iq>`)
		}, juliet, "Juliet", "", stanza.Forbidden},
		{"banned server", func(h *harness) {
			h.send(romeo, `<iq type='set' id='b' to='`+roomJID+`'><query xmlns='`+NSAdmin+`'><item affiliation='outcast' jid='example.net'/></query></iq>`)
		}, remote, "Mercutio", "", stanza.Forbidden},
		{"members only", func(h *harness) { configure(h, romeo, "muc#roomconfig_membersonly", "1") }, juliet, "Juliet", "", stanza.RegistrationRequired},
		{"wrong password", func(h *harness) {
			configure(h, romeo, "muc#roomconfig_passwordprotectedroom", "1", "muc#roomconfig_roomsecret", "capulet")
		}, juliet, "Juliet", "<password>montague</password>", stanza.NotAuthorized},
		{"no password", func(h *harness) {
			configure(h, romeo, "muc#roomconfig_passwordprotectedroom", "1", "muc#roomconfig_roomsecret", "capulet")
		}, juliet, "Juliet", "", stanza.NotAuthorized},
		{"nick taken", func(*harness) {}, juliet, "Romeo", "", stanza.Conflict},
		{"nick reserved", func(h *harness) {
			h.send(romeo, `<iq type='set' id='r' to='`+roomJID+`'><query xmlns='`+NSAdmin+`'><item affiliation='member' jid='nurse@example.org' nick='Nurse'/></query></iq>`)
		}, juliet, "Nurse", "", stanza.Conflict},
		{"full", func(h *harness) {
			configure(h, romeo, "muc#roomconfig_maxusers", "2")
			h.join(nurse, "family", "Nurse")
		}, juliet, "Juliet", "", stanza.ServiceUnavailable},
		{"invisible nick", func(*harness) {}, juliet, "   ", "", stanza.NotAllowed},
		{"long nick", func(*harness) {}, juliet, strings.Repeat("n", 65), "", stanza.NotAcceptable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.create(romeo, "family", "Romeo")
			tt.setup(h)
			h.take(romeo)
			nick := tt.nick
			got := h.join(tt.from, "family", nick, tt.extra)
			wantError(t, got, tt.want)
			if got[0].Get("from") != roomJID+"/"+nick || got[0].Child(NS, "x") == nil {
				t.Errorf("error from %q, without the MUC <x/>: %s", got[0].Get("from"), wire(got[0]))
			}
			if n := h.roomOccupants("family"); tt.want != stanza.ServiceUnavailable && n != 1 {
				t.Errorf("%d occupants after a refused join, want 1", n)
			}
		})
	}
}

func TestNoNick(t *testing.T) {
	h := newHarness(t)
	h.create(romeo, "family", "Romeo")
	h.send(juliet, `<presence to='`+roomJID+`'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	wantError(t, h.take(juliet), stanza.JIDMalformed)
}

func TestCreatePolicy(t *testing.T) {
	tests := []struct {
		name   string
		create Creators
		from   string
		want   stanza.Condition
	}{
		{"local user, local policy", CreateLocal, juliet, ""},
		{"remote user, local policy", CreateLocal, remote, stanza.NotAllowed},
		{"remote user, anyone", CreateAnyone, remote, ""},
		{"local user, admin only", CreateAdmin, juliet, stanza.NotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(o *Options) { o.Create = tt.create })
			got := h.join(tt.from, "family", "Someone")
			if tt.want != "" {
				wantError(t, got, tt.want)
				return
			}
			if p := one(t, got, "presence", roomJID+"/Someone"); !slices.Contains(statuses(p), 201) {
				t.Errorf("not created: %s", wires(got))
			}
		})
	}
}

func TestRoomsPerUser(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.MaxRoomsPerUser = 2 })
	h.create(romeo, "one", "Romeo")
	h.create(romeo, "two", "Romeo")
	wantError(t, h.join(romeo, "three", "Romeo"), stanza.ResourceConstraint)
	// Destroying one frees a place.
	h.send(romeo, `<iq type='set' id='d' to='one@`+svc+`'><query xmlns='`+NSOwner+`'><destroy/></query></iq>`)
	h.take(romeo)
	if p := one(t, h.join(romeo, "three", "Romeo"), "presence", "three@"+svc+"/Romeo"); !slices.Contains(statuses(p), 201) {
		t.Errorf("not created after destroying another: %s", wire(p))
	}
}

func TestNickChange(t *testing.T) {
	h := newHarness(t)
	h.create(romeo, "family", "Romeo")
	h.join(juliet, "family", "Juliet")
	h.take(romeo)
	h.send(juliet, `<presence to='`+roomJID+`/Jules'/>`)
	cases := []struct {
		who      string
		els      []*xmlstream.Element
		wantSelf []int
	}{
		{"juliet", h.take(juliet), []int{110}},
		{"romeo", h.take(romeo), nil},
	}
	for _, c := range cases {
		who, els, wantSelf := c.who, c.els, c.wantSelf
		if len(els) != 2 {
			t.Fatalf("%s got %d stanzas:\n%s", who, len(els), wires(els))
		}
		old, neu := els[0], els[1]
		if old.Get("from") != roomJID+"/Juliet" || old.Get("type") != "unavailable" ||
			!slices.Equal(statuses(old), slices.Sorted(slices.Values(append([]int{303}, wantSelf...)))) || item(old) != "none participant "+juliet+" Jules" {
			t.Errorf("%s: old nick: %s", who, wire(old))
		}
		if neu.Get("from") != roomJID+"/Jules" || neu.Get("type") != "" || !slices.Equal(statuses(neu), wantSelf) {
			t.Errorf("%s: new nick: %s", who, wire(neu))
		}
	}
	h.send(juliet, `<presence to='`+roomJID+`/Romeo'/>`)
	wantError(t, h.take(juliet), stanza.Conflict)
	h.send(juliet, `<message type='groupchat' to='`+roomJID+`'><body>still here</body></message>`)
	if m := one(t, h.take(romeo), "message", roomJID+"/Jules"); body(m) != "still here" {
		t.Errorf("message after the nick change: %s", wire(m))
	}
}

func TestMultiSession(t *testing.T) {
	const phone = "juliet@example.org/phone"
	h := newHarness(t)
	h.create(romeo, "family", "Romeo")
	h.join(juliet, "family", "Juliet")
	h.take(romeo)
	got := h.join(phone, "family", "Juliet")
	if p := one(t, got, "presence", roomJID+"/Juliet"); !slices.Contains(statuses(p), 110) || item(p) != "none participant "+phone+" -" {
		t.Errorf("second session's self-presence: %s", wire(p))
	}
	if one(t, got, "presence", roomJID+"/Romeo") == nil {
		t.Error("second session did not get the occupant list")
	}
	if others := h.take(romeo); len(others) != 0 {
		t.Errorf("romeo saw the second device join:\n%s", wires(others))
	}
	if n := h.roomOccupants("family"); n != 2 {
		t.Errorf("%d occupants, want 2", n)
	}
	h.send(romeo, `<message type='groupchat' to='`+roomJID+`'><body>both of you</body></message>`)
	for _, s := range []string{juliet, phone} {
		if m := one(t, h.take(s), "message", roomJID+"/Romeo"); body(m) != "both of you" {
			t.Errorf("%s: %s", s, wire(m))
		}
	}
	h.take(romeo)
	// The phone leaves: only it hears; the occupant stays.
	h.send(phone, `<presence type='unavailable' to='`+roomJID+`/Juliet'/>`)
	if p := one(t, h.take(phone), "presence", roomJID+"/Juliet"); p.Get("type") != "unavailable" {
		t.Errorf("phone's leave: %s", wire(p))
	}
	if got := h.take(romeo); len(got) != 0 {
		t.Errorf("romeo saw one device leave:\n%s", wires(got))
	}
	h.send(juliet, `<presence type='unavailable' to='`+roomJID+`/Juliet'><status>bye</status></presence>`)
	p := one(t, h.take(romeo), "presence", roomJID+"/Juliet")
	if p.Get("type") != "unavailable" || p.ChildText(p.Name.Space, "status") != "bye" || item(p) != "none none "+juliet+" -" {
		t.Errorf("romeo sees juliet leave as %s", wire(p))
	}
}

func TestTemporaryRoomGoesWhenEmpty(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Defaults.Persistent = false })
	h.create(romeo, "family", "Romeo")
	h.send(romeo, `<presence type='unavailable' to='`+roomJID+`/Romeo'/>`)
	h.take(romeo)
	if len(h.m.Rooms()) != 0 {
		t.Errorf("rooms after the last occupant left: %+v", h.m.Rooms())
	}
	if p := one(t, h.join(juliet, "family", "Juliet"), "presence", roomJID+"/Juliet"); !slices.Contains(statuses(p), 201) {
		t.Errorf("joining the gone room did not create it anew: %s", wire(p))
	}
}

// TestPresenceStorm: a flood of presence changes from one occupant reaches
// the others as a handful of broadcasts and its last state; the room keeps
// working meanwhile.
func TestPresenceStorm(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.PresencePerMinute = 3000 }) // a token every 20ms
	h.create(romeo, "family", "Romeo")
	h.join(juliet, "family", "Juliet")
	h.take(romeo)
	for i := range 200 {
		h.send(juliet, fmt.Sprintf(`<presence to='%s/Juliet'><status>%d</status></presence>`, roomJID, i))
	}
	h.send(juliet, `<message type='groupchat' to='`+roomJID+`'><body>after the storm</body></message>`)
	got := h.take(romeo)
	if n := len(find(got, "presence", "")); n > presenceBurst {
		t.Errorf("romeo got %d presences for 200 changes, want at most %d", n, presenceBurst)
	}
	if m := find(got, "message", roomJID+"/Juliet"); len(m) != 1 {
		t.Errorf("the message after the storm: %s", wires(got))
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		h.advance(time.Second)
		got = append(got, h.take(romeo)...)
		if ps := find(got, "presence", ""); len(ps) > 0 && ps[len(ps)-1].ChildText(ps[0].Name.Space, "status") == "199" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the last presence never arrived:\n%s", wires(got))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSessionGone: a local session that refuses a stanza is gone, and
// leaves the room.
func TestSessionGone(t *testing.T) {
	h := newHarness(t)
	h.create(romeo, "family", "Romeo")
	h.join(juliet, "family", "Juliet")
	h.take(romeo)
	h.sessions[juliet].refuse = true
	h.send(romeo, `<message type='groupchat' to='`+roomJID+`'><body>anyone?</body></message>`)
	got := h.take(romeo)
	if p := one(t, got, "presence", roomJID+"/Juliet"); p.Get("type") != "unavailable" {
		t.Errorf("romeo sees %s", wire(p))
	}
	if n := h.roomOccupants("family"); n != 1 {
		t.Errorf("%d occupants, want 1", n)
	}
}

// TestErrorFromOccupant: an occupant whose server answers with an error
// (it is gone) leaves the room; the error does not loop.
func TestErrorFromOccupant(t *testing.T) {
	h := newHarness(t)
	h.create(romeo, "family", "Romeo")
	h.join(remote, "family", "Mercutio")
	h.take(romeo)
	h.send(remote, `<message type='error' to='`+roomJID+`/Romeo'><error type='cancel'><remote-server-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`)
	if p := one(t, h.take(romeo), "presence", roomJID+"/Mercutio"); p.Get("type") != "unavailable" {
		t.Errorf("romeo sees %s", wire(p))
	}
}

func TestShutdown(t *testing.T) {
	h := newHarness(t)
	h.create(romeo, "family", "Romeo")
	h.join(remote, "family", "Mercutio")
	h.take(romeo)
	if err := h.m.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, who := range []string{romeo, remote} {
		got := h.take(who)
		for _, p := range find(got, "presence", "") {
			if p.Get("type") != "unavailable" {
				t.Errorf("%s: %s", who, wire(p))
			}
		}
		own := roomJID + "/Romeo"
		if who == remote {
			own = roomJID + "/Mercutio"
		}
		if p := one(t, got, "presence", own); !slices.Equal(statuses(p), []int{110, 332}) {
			t.Errorf("%s: own shutdown presence %s", who, wire(p))
		}
	}
}

// roomOccupants counts the occupants of a room.
func (h *harness) roomOccupants(local string) int {
	in, err := h.m.Room(mustRoom(local))
	if err != nil {
		h.t.Fatal(err)
	}
	return len(in.Occupants)
}

// configure has owner submit the configuration fields given as pairs.
func configure(h *harness, owner string, kv ...string) []*xmlstream.Element {
	h.t.Helper()
	var b strings.Builder
	b.WriteString(`<iq type='set' id='cfg' to='` + roomJID + `'><query xmlns='` + NSOwner + `'><x xmlns='jabber:x:data' type='submit'>`)
	b.WriteString(`<field var='FORM_TYPE'><value>` + FormConfig + `</value></field>`)
	for i := 0; i+1 < len(kv); i += 2 {
		b.WriteString(`<field var='` + kv[i] + `'><value>` + kv[i+1] + `</value></field>`)
	}
	b.WriteString(`</x></query></iq>`)
	h.send(owner, b.String())
	return find(h.take(owner), "iq", roomJID)
}

func mustRoom(local string) jid.JID { return jid.MustParse(local + "@" + svc) }
