package muc

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"roost/form"
	"roost/stanza"
	"roost/xmlstream"
)

// admin has who send a muc#admin set with items and returns its answer.
func admin(h *harness, who string, items ...string) []*xmlstream.Element {
	h.t.Helper()
	h.send(who, `<iq type='set' id='adm' to='`+roomJID+`'><query xmlns='`+NSAdmin+`'>`+strings.Join(items, "")+`</query></iq>`)
	return find(h.take(who), "iq", roomJID)
}

func wantResult(t testing.TB, els []*xmlstream.Element) {
	t.Helper()
	if len(els) != 1 || els[0].Get("type") != "result" {
		t.Fatalf("want a result, got:\n%s", wires(els))
	}
}

// family starts a room with romeo (owner), juliet and a remote user in it.
func family(t *testing.T, edit ...func(*Options)) *harness {
	h := newHarness(t, edit...)
	h.create(romeo, "family", "Romeo")
	h.join(juliet, "family", "Juliet")
	h.join(remote, "family", "Mercutio")
	for _, who := range []string{romeo, juliet, remote} {
		h.take(who)
	}
	return h
}

func TestKick(t *testing.T) {
	h := family(t)
	wantResult(t, admin(h, romeo, `<item nick='Mercutio' role='none'><reason>too loud</reason></item>`))
	kicked := one(t, h.take(remote), "presence", roomJID+"/Mercutio")
	if kicked.Get("type") != "unavailable" || !slices.Equal(statuses(kicked), []int{110, 307}) {
		t.Errorf("the kicked occupant got %s", wire(kicked))
	}
	it := kicked.Child(NSUser, "x").Child(NSUser, "item")
	if it.Child(NSUser, "actor").Get("nick") != "Romeo" || it.ChildText(NSUser, "reason") != "too loud" {
		t.Errorf("no actor or reason: %s", wire(kicked))
	}
	if p := one(t, h.take(juliet), "presence", roomJID+"/Mercutio"); !slices.Equal(statuses(p), []int{307}) {
		t.Errorf("the others got %s", wire(p))
	}
	// Kicked, not banned: back in.
	if p := one(t, h.join(remote, "family", "Mercutio"), "presence", roomJID+"/Mercutio"); p.Get("type") != "" {
		t.Errorf("could not come back: %s", wire(p))
	}
}

func TestBan(t *testing.T) {
	h := family(t)
	wantResult(t, admin(h, romeo, `<item affiliation='outcast' jid='mercutio@example.net'><reason>brawling</reason></item>`))
	if p := one(t, h.take(remote), "presence", roomJID+"/Mercutio"); !slices.Equal(statuses(p), []int{110, 301}) || item(p) != "outcast none "+remote+" -" {
		t.Errorf("the banned occupant got %s", wire(p))
	}
	wantError(t, h.join(remote, "family", "Mercutio"), stanza.Forbidden)
	h.send(romeo, `<iq type='get' id='l' to='`+roomJID+`'><query xmlns='`+NSAdmin+`'><item affiliation='outcast'/></query></iq>`)
	res := one(t, h.take(romeo), "iq", roomJID)
	it := res.Child(NSAdmin, "query").Child(NSAdmin, "item")
	if it == nil || it.Get("jid") != "mercutio@example.net" || it.ChildText(NSAdmin, "reason") != "brawling" {
		t.Errorf("ban list: %s", wire(res))
	}
	// Lifting the ban.
	wantResult(t, admin(h, romeo, `<item affiliation='none' jid='mercutio@example.net'/>`))
	if p := one(t, h.join(remote, "family", "Mercutio"), "presence", roomJID+"/Mercutio"); p.Get("type") != "" {
		t.Errorf("could not come back: %s", wire(p))
	}
}

func TestMembership(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Defaults.MembersOnly = true })
	h.create(romeo, "family", "Romeo")
	h.send(juliet, `<presence/>`)
	wantError(t, h.join(juliet, "family", "Juliet"), stanza.RegistrationRequired)
	wantResult(t, admin(h, romeo, `<item affiliation='member' jid='juliet@example.org'/>`, `<item affiliation='member' jid='nurse@example.org'/>`))
	// Not in the room: told by a message with status 101.
	m := one(t, h.take(juliet), "message", roomJID)
	if !slices.Equal(statuses(m), []int{101}) || item(m) != "member - juliet@example.org -" {
		t.Errorf("101: %s", wire(m))
	}
	if p := one(t, h.join(juliet, "family", "Juliet"), "presence", roomJID+"/Juliet"); item(p) != "member participant "+juliet+" -" {
		t.Errorf("member's presence: %s", wire(p))
	}
	h.take(romeo)
	h.send(romeo, `<iq type='get' id='l' to='`+roomJID+`'><query xmlns='`+NSAdmin+`'><item affiliation='member'/></query></iq>`)
	var members []string
	for it := range one(t, h.take(romeo), "iq", roomJID).Child(NSAdmin, "query").Elements() {
		members = append(members, it.Get("jid"))
	}
	if diff := cmp.Diff([]string{"juliet@example.org", "nurse@example.org"}, members); diff != "" {
		t.Errorf("member list (-want +got):\n%s", diff)
	}
	// Revoked in a members-only room: out with 321.
	wantResult(t, admin(h, romeo, `<item affiliation='none' jid='juliet@example.org'/>`))
	if p := one(t, h.take(juliet), "presence", roomJID+"/Juliet"); p.Get("type") != "unavailable" || !slices.Equal(statuses(p), []int{110, 321}) {
		t.Errorf("revoked member got %s", wire(p))
	}
}

func TestVoiceAndModeration(t *testing.T) {
	h := family(t, func(o *Options) { o.Defaults.Moderated = true })
	// Unaffiliated occupants of a moderated room are visitors.
	wantResult(t, admin(h, romeo, `<item nick='Juliet' role='participant'/>`))
	if p := one(t, h.take(juliet), "presence", roomJID+"/Juliet"); item(p) != "none participant "+juliet+" -" {
		t.Errorf("voice granted: %s", wire(p))
	}
	h.send(juliet, `<message type='groupchat' to='`+roomJID+`'><body>I may speak</body></message>`)
	if m := one(t, h.take(romeo), "message", roomJID+"/Juliet"); body(m) != "I may speak" {
		t.Errorf("%s", wire(m))
	}
	// Juliet, a participant, may not change roles.
	wantError(t, admin(h, juliet, `<item nick='Mercutio' role='none'/>`), stanza.Forbidden)
	// Moderator, granted and revoked by an admin.
	wantResult(t, admin(h, romeo, `<item nick='Juliet' role='moderator'/>`))
	if p := one(t, h.take(juliet), "presence", roomJID+"/Juliet"); item(p) != "none moderator "+juliet+" -" {
		t.Errorf("moderator granted: %s", wire(p))
	}
	// A moderator may silence a visitor but not an owner, nor grant
	// moderation.
	wantResult(t, admin(h, juliet, `<item nick='Mercutio' role='visitor'/>`))
	wantError(t, admin(h, juliet, `<item nick='Romeo' role='visitor'/>`), stanza.NotAllowed)
	wantError(t, admin(h, juliet, `<item nick='Mercutio' role='moderator'/>`), stanza.NotAllowed)
	h.send(juliet, `<iq type='get' id='l' to='`+roomJID+`'><query xmlns='`+NSAdmin+`'><item role='moderator'/></query></iq>`)
	var mods []string
	for it := range one(t, h.take(juliet), "iq", roomJID).Child(NSAdmin, "query").Elements() {
		mods = append(mods, it.Get("nick"))
	}
	if diff := cmp.Diff([]string{"Juliet", "Romeo"}, mods); diff != "" {
		t.Errorf("moderator list (-want +got):\n%s", diff)
	}
	wantResult(t, admin(h, romeo, `<item nick='Juliet' role='participant'/>`))
	h.send(juliet, `<iq type='get' id='l' to='`+roomJID+`'><query xmlns='`+NSAdmin+`'><item role='moderator'/></query></iq>`)
	wantError(t, find(h.take(juliet), "iq", roomJID), stanza.Forbidden)
}

func TestOwnersAndAdmins(t *testing.T) {
	h := family(t)
	// Nobody else may change affiliations.
	wantError(t, admin(h, juliet, `<item affiliation='member' jid='nurse@example.org'/>`), stanza.Forbidden)
	wantResult(t, admin(h, romeo, `<item affiliation='admin' jid='juliet@example.org'/>`))
	if p := one(t, h.take(juliet), "presence", roomJID+"/Juliet"); item(p) != "admin moderator "+juliet+" -" {
		t.Errorf("admin: %s", wire(p))
	}
	// An admin may not touch owners or make admins; may not see the
	// owner list.
	wantError(t, admin(h, juliet, `<item affiliation='outcast' jid='romeo@example.org'/>`), stanza.NotAllowed)
	wantError(t, admin(h, juliet, `<item affiliation='admin' jid='nurse@example.org'/>`), stanza.NotAllowed)
	h.send(juliet, `<iq type='get' id='l' to='`+roomJID+`'><query xmlns='`+NSAdmin+`'><item affiliation='owner'/></query></iq>`)
	wantError(t, find(h.take(juliet), "iq", roomJID), stanza.Forbidden)
	// Nor kick an owner, whatever the role says.
	wantError(t, admin(h, juliet, `<item nick='Romeo' role='none'/>`), stanza.NotAllowed)
	// The last owner may not leave ownership; with a second, one may.
	wantError(t, admin(h, romeo, `<item affiliation='member' jid='romeo@example.org'/>`), stanza.Conflict)
	wantResult(t, admin(h, romeo, `<item affiliation='owner' jid='juliet@example.org'/>`))
	wantResult(t, admin(h, romeo, `<item affiliation='admin' jid='romeo@example.org'/>`))
	// All items or none: a bad second item leaves the first undone.
	wantError(t, admin(h, juliet, `<item affiliation='member' jid='nurse@example.org'/>`, `<item affiliation='queen' jid='x@example.org'/>`), stanza.BadRequest)
	h.send(juliet, `<iq type='get' id='l' to='`+roomJID+`'><query xmlns='`+NSAdmin+`'><item affiliation='member'/></query></iq>`)
	if q := one(t, h.take(juliet), "iq", roomJID).Child(NSAdmin, "query"); q.FirstChild() != nil {
		t.Errorf("a refused set was applied in part: %s", wire(q))
	}
}

func TestDestroy(t *testing.T) {
	h := family(t)
	wantError(t, func() []*xmlstream.Element {
		h.send(juliet, `<iq type='set' id='d' to='`+roomJID+`'><query xmlns='`+NSOwner+`'><destroy/></query></iq>`)
		return h.take(juliet)
	}(), stanza.Forbidden)
	h.send(romeo, `<iq type='set' id='d' to='`+roomJID+`'><query xmlns='`+NSOwner+`'><destroy jid='new@`+svc+`'><reason>We moved</reason></destroy></query></iq>`)
	wantResult(t, find(h.take(romeo), "iq", roomJID))
	for _, who := range []string{juliet, remote} {
		p := h.take(who)
		if len(p) != 1 || p[0].Get("type") != "unavailable" {
			t.Fatalf("%s got:\n%s", who, wires(p))
		}
		d := p[0].Child(NSUser, "x").Child(NSUser, "destroy")
		if d == nil || d.Get("jid") != "new@"+svc || d.ChildText(NSUser, "reason") != "We moved" || !strings.HasPrefix(item(p[0]), "none none") {
			t.Errorf("%s: %s", who, wire(p[0]))
		}
	}
	if _, found, _ := h.st.Room(roomJID); found {
		t.Error("the destroyed room is still stored")
	}
	h.send(juliet, `<message type='groupchat' to='`+roomJID+`'><body>hello?</body></message>`)
	wantError(t, h.take(juliet), stanza.ItemNotFound)
}

func TestConfigForm(t *testing.T) {
	h := family(t)
	h.send(juliet, `<iq type='get' id='f' to='`+roomJID+`'><query xmlns='`+NSOwner+`'/></iq>`)
	wantError(t, h.take(juliet), stanza.Forbidden)
	h.send(romeo, `<iq type='get' id='f' to='`+roomJID+`'><query xmlns='`+NSOwner+`'/></iq>`)
	res := one(t, h.take(romeo), "iq", roomJID)
	f, err := form.Find(res.Child(NSOwner, "query"), FormConfig)
	if err != nil || f == nil {
		t.Fatalf("no config form: %v\n%s", err, wire(res))
	}
	for _, v := range []string{fName, fDesc, fPersistent, fPublic, fMembersOnly, fPasswordOn, fPassword, fModerated, fWhois,
		fMaxUsers, fAllowInvites, fAllowPM, fMaxHistory, fChangeSubject, fLogging} {
		if !f.Has(v) {
			t.Errorf("the form lacks %s", v)
		}
	}
	if f.Value(fPersistent) != "1" || f.Value(fWhois) != "anyone" || f.Value(fMaxHistory) != "5" {
		t.Errorf("form values: persistent %q whois %q history %q", f.Value(fPersistent), f.Value(fWhois), f.Value(fMaxHistory))
	}
	before, _ := h.m.Room(mustRoom("family"))

	// Bad forms change nothing (item 7 of the issue).
	bad := [][]string{
		{fName, "New name", "muc#roomconfig_unknown", "1"},
		{fName, "New name", fPersistent, "maybe"},
		{fName, "New name", fWhois, "everybody"},
		{fName, "New name", fMaxUsers, "100000"},
		{fName, "New name", fMaxHistory, "-3"},
		{fName, "New name", fAllowPM, "friends"},
		{fName, "New name", fPasswordOn, "1"},
		{fName, strings.Repeat("n", 201)},
	}
	for _, kv := range bad {
		wantError(t, configure(h, romeo, kv...), stanza.BadRequest)
	}
	h.send(romeo, `<iq type='set' id='cfg' to='`+roomJID+`'><query xmlns='`+NSOwner+`'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:other</value></field></x></query></iq>`)
	wantError(t, h.take(romeo), stanza.BadRequest)
	after, _ := h.m.Room(mustRoom("family"))
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("a refused form changed the room (-before +after):\n%s", diff)
	}
	if got := h.take(juliet); len(got) != 0 {
		t.Errorf("occupants heard of a refused change:\n%s", wires(got))
	}

	// Changes are announced with their codes (§10.2.1).
	wantResult(t, configure(h, romeo, fName, "The family", fLogging, "0", fWhois, "moderators"))
	m := one(t, h.take(juliet), "message", roomJID)
	if !slices.Equal(statuses(m), []int{104, 171, 173}) {
		t.Errorf("announcement %s", wire(m))
	}
	// Semi-anonymous now: juliet no longer sees real JIDs.
	h.send(romeo, `<presence to='`+roomJID+`/Romeo'><show>away</show></presence>`)
	if p := one(t, h.take(juliet), "presence", roomJID+"/Romeo"); item(p) != "owner moderator - -" {
		t.Errorf("semi-anonymous presence: %s", wire(p))
	}
	// Members-only now: the unaffiliated leave with 322.
	wantResult(t, configure(h, romeo, fMembersOnly, "1"))
	for _, who := range []string{juliet, remote} {
		p := find(h.take(who), "presence", "")
		if len(p) == 0 || !slices.Contains(statuses(p[len(p)-1]), 322) {
			t.Errorf("%s not removed with 322:\n%s", who, wires(p))
		}
	}
	in, _ := h.m.Room(mustRoom("family"))
	if in.Config.Name != "The family" || in.Config.Logging || in.Config.NonAnonymous || !in.Config.MembersOnly || len(in.Occupants) != 1 {
		t.Errorf("room after the changes: %+v", in)
	}
}

// TestTemporaryNotStored: a room configured temporary leaves the store;
// persistent again, it is back.
func TestTemporaryNotStored(t *testing.T) {
	h := family(t)
	wantResult(t, configure(h, romeo, fPersistent, "0"))
	if _, found, _ := h.st.Room(roomJID); found {
		t.Error("a temporary room is stored")
	}
	wantResult(t, configure(h, romeo, fPersistent, "1"))
	if _, found, _ := h.st.Room(roomJID); !found {
		t.Error("the room made persistent again is not stored")
	}
}

// TestVoiceRequest: a visitor asks for voice (§8.6), the moderators get
// the form, one approves, the visitor may speak.
func TestVoiceRequest(t *testing.T) {
	h := family(t, func(o *Options) { o.Defaults.Moderated = true })
	h.send(juliet, `<message to='`+roomJID+`'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>`+FormRequest+`</value></field>`+
		`<field var='muc#role'><value>participant</value></field></x></message>`)
	req := one(t, h.take(romeo), "message", roomJID)
	f, err := form.Find(req, FormRequest)
	if err != nil || f == nil || f.Value("muc#roomnick") != "Juliet" || f.Value("muc#jid") != juliet {
		t.Fatalf("the moderator got %s (%v)", wire(req), err)
	}
	if got := h.take(remote); len(got) != 0 {
		t.Errorf("a visitor got the voice request:\n%s", wires(got))
	}
	// A visitor may not approve; the moderator does.
	answer := `<message to='` + roomJID + `'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>` + FormRequest + `</value></field>` +
		`<field var='muc#role'><value>participant</value></field><field var='muc#roomnick'><value>Juliet</value></field>` +
		`<field var='muc#request_allow'><value>true</value></field></x></message>`
	h.send(remote, answer)
	wantError(t, h.take(remote), stanza.Forbidden)
	h.send(romeo, answer)
	if p := one(t, h.take(juliet), "presence", roomJID+"/Juliet"); item(p) != "none participant "+juliet+" -" {
		t.Errorf("after approval: %s", wire(p))
	}
}
