package muc

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"roost/archive"
	"roost/discoinfo"
	"roost/form"
	"roost/jid"
	"roost/stanza"
	"roost/store"
	"roost/xmlstream"
)

func TestDiscoInfo(t *testing.T) {
	h := family(t, func(o *Options) { o.Defaults.MembersOnly = false })
	h.send(romeo, `<message type='groupchat' to='`+roomJID+`'><subject>Dinner</subject></message>`)
	h.take(romeo)
	h.send(nurse, `<iq type='get' id='i' to='`+roomJID+`'><query xmlns='`+discoinfo.NSInfo+`'/></iq>`)
	res := one(t, h.take(nurse), "iq", roomJID)
	info, err := discoinfo.Parse(res.Child(discoinfo.NSInfo, "query"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]discoinfo.Identity{{Category: "conference", Type: "text", Name: "family"}}, info.Identities); diff != "" {
		t.Errorf("identities (-want +got):\n%s", diff)
	}
	for _, f := range []string{NS, featureSelfPing, featureStableID, nsStanzaID, nsOccupantID, nsRegister,
		"muc_persistent", "muc_hidden", "muc_open", "muc_unsecured", "muc_unmoderated", "muc_nonanonymous"} {
		if !info.Has(f) {
			t.Errorf("disco#info lacks %s: %v", f, info.Features)
		}
	}
	if len(info.Forms) != 1 || info.Forms[0].FormType() != FormInfo || info.Forms[0].Value("muc#roominfo_occupants") != "3" ||
		info.Forms[0].Value("muc#roominfo_subject") != "Dinner" {
		t.Errorf("room info form: %+v", info.Forms)
	}
	if _, err := info.Ver(); err != nil {
		t.Errorf("the room's disco#info cannot be hashed for caps: %v", err)
	}
	h.send(nurse, `<iq type='get' id='i' to='nowhere@`+svc+`'><query xmlns='`+discoinfo.NSInfo+`'/></iq>`)
	wantError(t, h.take(nurse), stanza.ItemNotFound)
}

func TestDiscoItems(t *testing.T) {
	h := newHarness(t)
	h.create(romeo, "family", "Romeo")
	configure(h, romeo, fPublic, "1", fName, "The family")
	h.create(romeo, "secret", "Romeo")
	h.join(juliet, "locked", "Juliet") // created, not configured: not listed
	h.send(nurse, `<iq type='get' id='i' to='`+svc+`'><query xmlns='`+discoinfo.NSItems+`'/></iq>`)
	res := one(t, h.take(nurse), "iq", svc)
	var items []string
	for it := range res.Child(discoinfo.NSItems, "query").Elements() {
		items = append(items, it.Get("jid")+" "+it.Get("name"))
	}
	if diff := cmp.Diff([]string{roomJID + " The family"}, items); diff != "" {
		t.Errorf("public rooms (-want +got):\n%s", diff)
	}
}

// TestServiceDisco: the service's own disco#info comes from what the
// module declares, and lists group chat.
func TestServiceDisco(t *testing.T) {
	h := newHarness(t)
	h.send(nurse, `<iq type='get' id='i' to='`+svc+`'><query xmlns='`+discoinfo.NSInfo+`'/></iq>`)
	res := one(t, h.take(nurse), "iq", svc)
	info, err := discoinfo.Parse(res.Child(discoinfo.NSInfo, "query"))
	if err != nil || !info.Has(NS) || len(info.Identities) != 1 || info.Identities[0].Category != "conference" {
		t.Errorf("service disco#info: %v %s", err, wire(res))
	}
}

func TestSelfPing(t *testing.T) {
	h := family(t)
	tests := []struct {
		name, from, to string
		want           stanza.Condition
	}{
		{"joined", juliet, "Juliet", ""},
		{"not joined", nurse, "Nurse", stanza.NotAcceptable},
		{"joined under another nick", juliet, "Julia", stanza.ItemNotFound},
		{"after leaving", "juliet@example.org/old", "Juliet", stanza.NotAcceptable},
	}
	for _, tt := range tests {
		h.send(tt.from, `<iq type='get' id='sp' to='`+roomJID+`/`+tt.to+`'><ping xmlns='urn:xmpp:ping'/></iq>`)
		got := h.take(tt.from)
		if tt.want != "" {
			wantError(t, got, tt.want)
			continue
		}
		if len(got) != 1 || got[0].Get("type") != "result" || got[0].Get("from") != roomJID+"/"+tt.to || got[0].Get("id") != "sp" {
			t.Errorf("%s: %s", tt.name, wires(got))
		}
	}
	if got := h.take(romeo); len(got) != 0 {
		t.Errorf("a self-ping reached someone else:\n%s", wires(got))
	}
}

// TestIQRelay: an IQ to another occupant goes to its session from the
// asker's occupant JID, and the answer comes back to the asker with its
// own id; forged answers go nowhere.
func TestIQRelay(t *testing.T) {
	h := family(t)
	h.send(juliet, `<iq type='get' id='v1' to='`+roomJID+`/Mercutio'><query xmlns='jabber:iq:version'/></iq>`)
	fwd := one(t, h.take(remote), "iq", roomJID+"/Juliet")
	if fwd.Get("id") == "v1" || fwd.Get("to") != remote {
		t.Fatalf("relayed: %s", wire(fwd))
	}
	h.send(remote, `<iq type='result' id='`+fwd.Get("id")+`' to='`+roomJID+`/Juliet'><query xmlns='jabber:iq:version'><name>x</name></query></iq>`)
	res := one(t, h.take(juliet), "iq", roomJID+"/Mercutio")
	if res.Get("id") != "v1" || res.Get("type") != "result" {
		t.Errorf("answer: %s", wire(res))
	}
	// The same id answered by someone else, or to another nick, or made
	// up: dropped.
	for _, forged := range []struct{ from, to, id string }{
		{romeo, "Juliet", fwd.Get("id")},
		{remote, "Romeo", fwd.Get("id")},
		{remote, "Juliet", "bogus"},
		{remote, "Juliet", fwd.Get("id") + "x"},
	} {
		h.send(forged.from, `<iq type='result' id='`+forged.id+`' to='`+roomJID+`/`+forged.to+`'/>`)
	}
	for _, who := range []string{romeo, juliet, remote} {
		if got := find(h.take(who), "iq", ""); len(got) != 0 {
			t.Errorf("%s got a forged answer:\n%s", who, wires(got))
		}
	}
	// vCards go to the occupant's account.
	h.send(remote, `<iq type='get' id='vc' to='`+roomJID+`/Juliet'><vCard xmlns='vcard-temp'/></iq>`)
	if got := h.take(juliet); len(got) != 0 {
		t.Errorf("a vCard request went to juliet's client:\n%s", wires(got))
	}
}

func TestRegister(t *testing.T) {
	h := newHarness(t)
	h.create(romeo, "family", "Romeo")
	h.send(juliet, `<iq type='get' id='r' to='`+roomJID+`'><query xmlns='jabber:iq:register'/></iq>`)
	res := one(t, h.take(juliet), "iq", roomJID)
	f, err := form.Find(res.Child(nsRegister, "query"), FormRegister)
	if err != nil || f == nil || !f.Has("muc#register_roomnick") {
		t.Fatalf("registration form: %v %s", err, wire(res))
	}
	register := func(who, nick string) {
		h.send(who, `<iq type='set' id='r' to='`+roomJID+`'><query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'>`+
			`<field var='FORM_TYPE'><value>`+FormRegister+`</value></field><field var='muc#register_roomnick'><value>`+nick+`</value></field></x></query></iq>`)
	}
	register(juliet, "Jules")
	wantResult(t, h.take(juliet))
	h.send(juliet, `<iq type='get' id='r' to='`+roomJID+`'><query xmlns='jabber:iq:register'/></iq>`)
	q := one(t, h.take(juliet), "iq", roomJID).Child(nsRegister, "query")
	if q.Child(nsRegister, "registered") == nil || q.ChildText(nsRegister, "username") != "Jules" {
		t.Errorf("registration: %s", wire(q))
	}
	h.send(juliet, `<iq type='get' id='n' to='`+roomJID+`'><query xmlns='`+discoinfo.NSInfo+`' node='x-roomuser-item'/></iq>`)
	if id := one(t, h.take(juliet), "iq", roomJID).Child(discoinfo.NSInfo, "query").Child(discoinfo.NSInfo, "identity"); id == nil || id.Get("name") != "Jules" {
		t.Errorf("reserved nick discovery: %v", id)
	}
	// Registered: a member, and the nick is reserved.
	register(nurse, "Jules")
	wantError(t, h.take(nurse), stanza.Conflict)
	wantError(t, h.join(nurse, "family", "Jules"), stanza.Conflict)
	// Joining under another nick, juliet gets hers (210).
	p := one(t, h.join(juliet, "family", "Juliet"), "presence", roomJID+"/Jules")
	if !slices.Contains(statuses(p), 210) || item(p) != "member participant "+juliet+" -" {
		t.Errorf("joining with a reserved nick: %s", wire(p))
	}
	h.send(juliet, `<iq type='set' id='r' to='`+roomJID+`'><query xmlns='jabber:iq:register'><remove/></query></iq>`)
	wantResult(t, find(h.take(juliet), "iq", roomJID))
	if in, _ := h.m.Room(mustRoom("family")); len(in.Affiliations) != 1 {
		t.Errorf("affiliations after unregistering: %+v", in.Affiliations)
	}
}

// TestRestart: the room, its configuration, affiliations, subject and
// history survive a restart; its occupants do not.
func TestRestart(t *testing.T) {
	h := family(t)
	configure(h, romeo, fName, "The family", fMembersOnly, "1")
	wantResult(t, admin(h, romeo, `<item affiliation='member' jid='juliet@example.org' nick='Juliet'/>`))
	h.send(romeo, `<message type='groupchat' to='`+roomJID+`'><subject>Holidays</subject></message>`)
	h.send(romeo, `<message type='groupchat' to='`+roomJID+`'><body>see you all</body></message>`)
	before, _ := h.m.Room(mustRoom("family"))
	h.restart()
	after, err := h.m.Room(mustRoom("family"))
	if err != nil {
		t.Fatal(err)
	}
	before.Occupants = nil
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("room after a restart (-before +after):\n%s", diff)
	}
	// XEP-0410: a client that thinks it is still in learns it is not.
	h.send(juliet, `<iq type='get' id='sp' to='`+roomJID+`/Juliet'><ping xmlns='urn:xmpp:ping'/></iq>`)
	wantError(t, h.take(juliet), stanza.NotAcceptable)
	got := h.join(juliet, "family", "Juliet")
	if m := find(got, "message", roomJID+"/Romeo"); len(m) != 2 || body(m[0]) != "see you all" || m[1].ChildText(m[1].Name.Space, "subject") != "Holidays" {
		t.Errorf("history and subject after a restart:\n%s", wires(got))
	}
	if p := one(t, got, "presence", roomJID+"/Juliet"); item(p) != "member participant "+juliet+" -" {
		t.Errorf("member after a restart: %s", wire(p))
	}
	wantError(t, h.join(nurse, "family", "Nurse"), stanza.RegistrationRequired)
}

func TestAccountDeleted(t *testing.T) {
	h := family(t)
	wantResult(t, admin(h, romeo, `<item affiliation='admin' jid='juliet@example.org'/>`))
	h.take(juliet)
	h.m.AccountDeleted(t.Context(), mustBare(juliet))
	if p := one(t, h.take(romeo), "presence", roomJID+"/Juliet"); p.Get("type") != "unavailable" {
		t.Errorf("the deleted account's occupant: %s", wire(p))
	}
	in, _ := h.m.Room(mustRoom("family"))
	for _, a := range in.Affiliations {
		if a.JID == "juliet@example.org" {
			t.Errorf("the deleted account keeps %+v", a)
		}
	}
}

func TestManage(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Create = CreateAdmin })
	ctx := t.Context()
	if err := h.m.CreateRoom(ctx, mustRoom("family"), mustBare(romeo), "The family"); err != nil {
		t.Fatal(err)
	}
	if err := h.m.CreateRoom(ctx, mustRoom("family"), mustBare(romeo), ""); err == nil {
		t.Error("created a room twice")
	}
	if err := h.m.CreateRoom(ctx, jid.MustParse("x@elsewhere.example"), mustBare(romeo), ""); err == nil {
		t.Error("created a room at another service")
	}
	// Created by the admin, ready to enter for its owner.
	if p := one(t, h.join(romeo, "family", "Romeo"), "presence", roomJID+"/Romeo"); item(p) != "owner moderator "+romeo+" -" {
		t.Errorf("%s", wire(p))
	}
	rooms := h.m.Rooms()
	if len(rooms) != 1 || rooms[0].JID != roomJID || rooms[0].Config.Name != "The family" || !slices.Equal(rooms[0].Occupants, []string{"Romeo"}) {
		t.Errorf("rooms: %+v", rooms)
	}
	if err := h.m.DestroyRoom(ctx, mustRoom("family"), "closing"); err != nil {
		t.Fatal(err)
	}
	if p := one(t, h.take(romeo), "presence", roomJID+"/Romeo"); p.Child(NSUser, "x").Child(NSUser, "destroy").ChildText(NSUser, "reason") != "closing" {
		t.Errorf("%s", wire(p))
	}
	if _, err := h.m.Room(mustRoom("family")); err == nil {
		t.Error("the destroyed room is still there")
	}
	h.restart()
	if rooms := h.m.Rooms(); len(rooms) != 0 {
		t.Errorf("rooms after a restart: %+v", rooms)
	}
}

// TestJoinFlood: many joins at once, and join-leave cycles, leave the room
// consistent and bounded.
func TestJoinFlood(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.MaxOccupants = 20 })
	h.create(romeo, "family", "Romeo")
	refused := 0
	for i := range 100 {
		who := fmt.Sprintf("guest%d@example.org/r", i)
		got := h.join(who, "family", fmt.Sprintf("Guest%d", i))
		if len(got) == 1 && errCondition(got[0]) == string(stanza.ServiceUnavailable) {
			refused++
		}
	}
	if n := h.roomOccupants("family"); n != 20 || refused != 81 {
		t.Errorf("%d occupants, %d refused; want 20 and 81", n, refused)
	}
	for range 50 {
		h.join(juliet, "family", "Juliet") // full: refused
		h.send(romeo, `<presence type='unavailable' to='`+roomJID+`/Romeo'/>`)
		h.join(romeo, "family", "Romeo") // the owner enters a full room
	}
	if n := h.roomOccupants("family"); n != 20 {
		t.Errorf("%d occupants after join-leave cycles, want 20", n)
	}
	h.send(romeo, `<message type='groupchat' to='`+roomJID+`'><body>still working</body></message>`)
	if m := find(h.take(romeo), "message", roomJID+"/Romeo"); len(m) == 0 || body(m[len(m)-1]) != "still working" {
		t.Error("the room stopped working")
	}
}

// TestRoomArchive: a logged room's messages are in the shared archive
// under their stanza-ids, and XEP-0313 on the room's JID finds them.
func TestRoomArchive(t *testing.T) {
	h := family(t)
	var live []string
	for i := range 3 {
		h.advance(time.Minute)
		h.send(romeo, fmt.Sprintf(`<message type='groupchat' to='%s'><body>archived %d</body></message>`, roomJID, i))
		m := one(t, h.take(juliet), "message", roomJID+"/Romeo")
		sid := m.Child(nsStanzaID, "stanza-id")
		if sid == nil || sid.Get("by") != roomJID {
			t.Fatalf("no stanza-id by the room: %s", wire(m))
		}
		live = append(live, sid.Get("id"))
	}
	h.send(romeo, `<message type='groupchat' to='`+roomJID+`'><active xmlns='http://jabber.org/protocol/chatstates'/></message>`)
	h.take(juliet)
	h.take(romeo)

	h.send(juliet, `<iq type='set' id='q' to='`+roomJID+`'><query xmlns='urn:xmpp:mam:2' queryid='f'/></iq>`)
	got := h.take(juliet)
	var ids, bodies []string
	for _, m := range find(got, "message", roomJID) {
		res := m.Child(archive.NS, "result")
		fwd := res.Child(archive.NSForward, "forwarded")
		inner := fwd.Child(xmlstream.NSClient, "message")
		if res.Get("queryid") != "f" || inner == nil || inner.Get("from") != roomJID+"/Romeo" || inner.Child(nsOccupantID, "occupant-id") == nil {
			t.Errorf("result %s", wire(m))
			continue
		}
		ids = append(ids, res.Get("id"))
		bodies = append(bodies, body(inner))
	}
	if diff := cmp.Diff(live, ids); diff != "" {
		t.Errorf("archive ids vs the live stanza-ids (-live +archive):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"archived 0", "archived 1", "archived 2"}, bodies); diff != "" {
		t.Errorf("archived bodies (-want +got):\n%s", diff)
	}
	fin := one(t, got, "iq", roomJID).Child(archive.NS, "fin")
	if fin == nil || fin.Get("complete") != "true" {
		t.Errorf("fin: %s", wires(got))
	}
	// Paging: the last two.
	h.send(juliet, `<iq type='set' id='q2' to='`+roomJID+`'><query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><max>2</max><before/></set></query></iq>`)
	if n := len(find(h.take(juliet), "message", roomJID)); n != 2 {
		t.Errorf("a page of 2 gave %d results", n)
	}
	h.send(juliet, `<iq type='get' id='md' to='`+roomJID+`'><metadata xmlns='urn:xmpp:mam:2'/></iq>`)
	md := one(t, h.take(juliet), "iq", roomJID).Child(archive.NS, "metadata")
	if md.Child(archive.NS, "start").Get("id") != live[0] || md.Child(archive.NS, "end").Get("id") != live[2] {
		t.Errorf("metadata %s", wire(md))
	}
	h.send(juliet, `<iq type='get' id='f' to='`+roomJID+`'><query xmlns='urn:xmpp:mam:2'/></iq>`)
	if f, err := form.Find(one(t, h.take(juliet), "iq", roomJID).Child(archive.NS, "query"), archive.NS); err != nil || f == nil || !f.Has("with") {
		t.Errorf("query form: %v", err)
	}
	h.send(juliet, `<iq type='set' id='bad' to='`+roomJID+`'><query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><after>nonsense</after></set></query></iq>`)
	wantError(t, h.take(juliet), stanza.ItemNotFound)

	// Members-only: a stranger may not read it.
	configure(h, romeo, fMembersOnly, "1")
	h.send(nurse, `<iq type='set' id='q' to='`+roomJID+`'><query xmlns='urn:xmpp:mam:2'/></iq>`)
	wantError(t, h.take(nurse), stanza.Forbidden)
	// Not logged: no archive to read.
	configure(h, romeo, fLogging, "0")
	h.send(romeo, `<iq type='set' id='q' to='`+roomJID+`'><query xmlns='urn:xmpp:mam:2'/></iq>`)
	wantError(t, find(h.take(romeo), "iq", roomJID), stanza.ServiceUnavailable)

	// Destroyed: its archive goes with it.
	h.send(romeo, `<iq type='set' id='d' to='`+roomJID+`'><query xmlns='`+NSOwner+`'><destroy/></query></iq>`)
	h.take(romeo)
	if items, _, err := h.st.ArchivePage(roomJID, store.ArchiveQuery{Max: 10}); err != nil || len(items) != 0 {
		t.Errorf("the destroyed room's archive: %d messages, %v", len(items), err)
	}
}
