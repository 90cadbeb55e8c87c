package muc

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"roost/form"
	"roost/stanza"
	"roost/xmlstream"
)

// submit has owner submit a configuration form of fields and returns the
// room's answer.
func submit(h *harness, owner string, fields ...form.Field) []*xmlstream.Element {
	h.t.Helper()
	f := form.New(form.TypeSubmit, FormConfig).Add(fields...)
	q := xmlstream.New(NSOwner, "query").Append(f.Element())
	h.send(owner, `<iq type='set' id='cfg' to='`+roomJID+`'>`+string(xmlstream.AppendElement(nil, q, xmlstream.NSClient))+`</iq>`)
	return find(h.take(owner), "iq", roomJID)
}

func field(v string, values ...string) form.Field { return form.Field{Var: v, Values: values} }

// getForm returns the room's configuration form as owner gets it.
func getForm(t *testing.T, h *harness, owner string) *form.Form {
	t.Helper()
	h.send(owner, `<iq type='get' id='f' to='`+roomJID+`'><query xmlns='`+NSOwner+`'/></iq>`)
	res := one(t, h.take(owner), "iq", roomJID)
	f, err := form.Find(res.Child(NSOwner, "query"), FormConfig)
	if err != nil || f == nil {
		t.Fatalf("no config form: %v\n%s", err, wire(res))
	}
	return f
}

// affList returns the JIDs of an affiliation list as who reads it, or
// the error condition.
func affList(t *testing.T, h *harness, who, aff string) ([]string, stanza.Condition) {
	t.Helper()
	h.send(who, `<iq type='get' id='l' to='`+roomJID+`'><query xmlns='`+NSAdmin+`'><item affiliation='`+aff+`'/></query></iq>`)
	res := one(t, h.take(who), "iq", roomJID)
	if c := errCondition(res); c != "" {
		return nil, stanza.Condition(c)
	}
	out := []string{}
	for it := range res.Child(NSAdmin, "query").Elements() {
		out = append(out, it.Get("jid"))
	}
	return out, ""
}

// TestApplyRoles: the role-list fields (presencebroadcast, getmemberlist)
// through Apply and back through Form; bad values refuse the whole form.
func TestApplyRoles(t *testing.T) {
	lim := limits{maxUsers: 100, maxHistory: 50, maxName: 200}
	tests := []struct {
		name   string
		fields []form.Field
		want   Config // the fields that change from openDefaults()
		err    bool
		// formCast and formList are the values the form shows then.
		formCast, formList []string
	}{
		{name: "defaults", formCast: []string{"moderator", "participant", "visitor"}, formList: []string{"moderator"}},
		{name: "moderators only", fields: []form.Field{field(fPresenceCast, "moderator")},
			want: Config{PresenceBroadcast: RolesOf(Moderator)}, formCast: []string{"moderator"}, formList: []string{"moderator"}},
		{name: "nobody", fields: []form.Field{field(fPresenceCast), field(fGetMemberList)},
			want: Config{PresenceBroadcast: RolesOf(), GetMemberList: RolesOf()}, formCast: []string{}, formList: []string{}},
		{name: "the defaults chosen are the defaults", fields: []form.Field{field(fPresenceCast, "visitor", "moderator", "participant"), field(fGetMemberList, "moderator")},
			formCast: []string{"moderator", "participant", "visitor"}, formList: []string{"moderator"}},
		{name: "repeated values", fields: []form.Field{field(fGetMemberList, "participant", "participant", "visitor")},
			want: Config{GetMemberList: RolesOf(Participant, Visitor)}, formCast: []string{"moderator", "participant", "visitor"}, formList: []string{"participant", "visitor"}},
		{name: "unknown role", fields: []form.Field{field(fName, "x"), field(fPresenceCast, "moderator", "owner")}, err: true},
		{name: "role none", fields: []form.Field{field(fGetMemberList, "none")}, err: true},
		{name: "empty role", fields: []form.Field{field(fGetMemberList, "")}, err: true},
		{name: "two values for a single field", fields: []form.Field{field(fName, "a", "b")}, err: true},
		{name: "owner list with a full JID", fields: []form.Field{field(fName, "x"), field(fRoomOwners, "romeo@example.org/orchard")}, err: true},
		{name: "owner list with no JID", fields: []form.Field{field(fRoomOwners, "@@")}, err: true},
		{name: "admin who is owner too", fields: []form.Field{field(fRoomOwners, "a@example.org"), field(fRoomAdmins, "b@example.org", "a@example.org")}, err: true},
		{name: "owner and admin lists leave Config alone", fields: []form.Field{field(fRoomOwners, "a@example.org"), field(fRoomAdmins, "b@example.org")},
			formCast: []string{"moderator", "participant", "visitor"}, formList: []string{"moderator"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := openDefaults()
			got, err := base.Apply(form.New(form.TypeSubmit, FormConfig).Add(tt.fields...), lim)
			if tt.err {
				var se *stanza.Error
				if !errors.As(err, &se) || se.Condition != stanza.BadRequest || got != base {
					t.Fatalf("got %+v, %v; want bad-request and the configuration unchanged", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := base
			want.PresenceBroadcast, want.GetMemberList = tt.want.PresenceBroadcast, tt.want.GetMemberList
			if got != want {
				t.Errorf("got %+v\nwant %+v", got, want)
			}
			f := got.Form("", lim)
			if diff := cmp.Diff(tt.formCast, f.Values(fPresenceCast)); diff != "" {
				t.Errorf("form's %s (-want +got):\n%s", fPresenceCast, diff)
			}
			if diff := cmp.Diff(tt.formList, f.Values(fGetMemberList)); diff != "" {
				t.Errorf("form's %s (-want +got):\n%s", fGetMemberList, diff)
			}
			if fl := f.Field(fPresenceCast); fl.Type != form.ListMulti || len(fl.Options) != 3 {
				t.Errorf("field %+v", fl)
			}
			f.Type = form.TypeSubmit
			back, err := base.Apply(f, lim)
			if err != nil || back != got {
				t.Errorf("the form submitted back gives %+v, %v; want %+v", back, err, got)
			}
		})
	}
}

// TestRecordRoles: the role lists are stored with the room; a record
// written before they existed loads with the defaults; a stored list
// naming an unknown role is an invalid record.
func TestRecordRoles(t *testing.T) {
	old := `{"v":1,"config":{"name":"Family","persistent":true,"allow_pm":"anyone","max_history":20},"salt":"AQI=","created":"2024-05-01T12:00:00Z"}`
	tests := []struct {
		name           string
		rec            string
		wantCast       Roles
		wantList       Roles
		wantErr        bool
		effCast, effLs []string
	}{
		{name: "record from before the fields", rec: old,
			effCast: []string{"moderator", "participant", "visitor"}, effLs: []string{"moderator"}},
		{name: "chosen", rec: strings.Replace(old, `"max_history":20`, `"max_history":20,"presence_broadcast":["moderator"],"get_member_list":["participant","visitor"]`, 1),
			wantCast: RolesOf(Moderator), wantList: RolesOf(Participant, Visitor), effCast: []string{"moderator"}, effLs: []string{"participant", "visitor"}},
		{name: "chosen empty", rec: strings.Replace(old, `"max_history":20`, `"max_history":20,"presence_broadcast":[]`, 1),
			wantCast: RolesOf(), effCast: []string{}, effLs: []string{"moderator"}},
		{name: "the default written out", rec: strings.Replace(old, `"max_history":20`, `"max_history":20,"get_member_list":["moderator"]`, 1),
			effCast: []string{"moderator", "participant", "visitor"}, effLs: []string{"moderator"}},
		{name: "unknown role", rec: strings.Replace(old, `"max_history":20`, `"max_history":20,"presence_broadcast":["owner"]`, 1), wantErr: true},
		{name: "not a list", rec: strings.Replace(old, `"max_history":20`, `"max_history":20,"get_member_list":7`, 1), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, _, err := decodeRecord([]byte(tt.rec))
			if tt.wantErr {
				if !errors.Is(err, errRecord) {
					t.Fatalf("decode: %v, want %v", err, errRecord)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c := rec.Config
			if c.PresenceBroadcast != tt.wantCast || c.GetMemberList != tt.wantList {
				t.Errorf("got %08b %08b, want %08b %08b", c.PresenceBroadcast, c.GetMemberList, tt.wantCast, tt.wantList)
			}
			if diff := cmp.Diff(tt.effCast, c.presenceBroadcast().names()); diff != "" {
				t.Errorf("presence broadcast (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.effLs, c.getMemberList().names()); diff != "" {
				t.Errorf("member list roles (-want +got):\n%s", diff)
			}
			b, err := encodeRecord(rec)
			if err != nil {
				t.Fatal(err)
			}
			again, _, err := decodeRecord(b)
			if err != nil || again.Config != c {
				t.Errorf("round trip: %+v, %v; want %+v\n%s", again.Config, err, c, b)
			}
		})
	}

	// Through the store: chosen lists survive a restart.
	h := family(t)
	wantResult(t, submit(h, romeo, field(fPresenceCast, "moderator", "participant"), field(fGetMemberList)))
	h.restart()
	in, err := h.m.Room(mustRoom("family"))
	if err != nil {
		t.Fatal(err)
	}
	if in.Config.PresenceBroadcast != RolesOf(Moderator, Participant) || in.Config.GetMemberList != RolesOf() {
		t.Errorf("after a restart: %+v", in.Config)
	}
}

// TestOwnerAdminLists: the owner and admin lists of the configuration
// form change affiliations as muc#admin items would, with the same
// notifications and rules, all or nothing with the rest of the form.
func TestOwnerAdminLists(t *testing.T) {
	h := family(t)
	f := getForm(t, h, romeo)
	if diff := cmp.Diff([]string{"romeo@example.org"}, f.Values(fRoomOwners)); diff != "" {
		t.Errorf("owners in the form (-want +got):\n%s", diff)
	}
	if fl := f.Field(fRoomAdmins); fl == nil || fl.Type != form.JIDMulti || len(fl.Values) != 0 {
		t.Errorf("admins field: %+v", fl)
	}
	for _, v := range []string{fPresenceCast, fGetMemberList, fRoomOwners, fRoomAdmins} {
		if !f.Has(v) {
			t.Errorf("the form lacks %s", v)
		}
	}

	// Juliet, in the room, becomes owner; the nurse, away, admin.
	h.send(nurse, `<presence/>`)
	wantResult(t, submit(h, romeo, field(fRoomOwners, "romeo@example.org", "juliet@example.org"), field(fRoomAdmins, "nurse@example.org")))
	if p := one(t, h.take(juliet), "presence", roomJID+"/Juliet"); item(p) != "owner moderator "+juliet+" -" || !slices.Contains(statuses(p), 110) {
		t.Errorf("juliet's own presence: %s", wire(p))
	}
	if p := one(t, h.take(remote), "presence", roomJID+"/Juliet"); item(p) != "owner moderator "+juliet+" -" {
		t.Errorf("the others see juliet as %s", wire(p))
	}
	if m := one(t, h.take(nurse), "message", roomJID); !slices.Equal(statuses(m), []int{101}) || item(m) != "admin - nurse@example.org -" {
		t.Errorf("the nurse, away, got %s", wire(m))
	}
	if got, _ := affList(t, h, juliet, "owner"); !slices.Equal(got, []string{"juliet@example.org", "romeo@example.org"}) {
		t.Errorf("owners as juliet sees them: %q", got)
	}

	before, _ := h.m.Room(mustRoom("family"))
	h.take(romeo)
	h.take(juliet)
	h.take(remote)
	bad := []struct {
		name   string
		fields []form.Field
		cond   stanza.Condition
	}{
		{"no owner left", []form.Field{field(fName, "New"), field(fRoomOwners)}, stanza.Conflict},
		{"no owner left, all moved to admins", []form.Field{field(fRoomOwners), field(fRoomAdmins, "romeo@example.org", "juliet@example.org")}, stanza.Conflict},
		// An empty <value/> is no JID (an empty line of a client's text
		// box), so this list is empty: not bad-request but no owner.
		{"no owner but an empty value", []form.Field{field(fRoomOwners, "", " ")}, stanza.Conflict},
		{"invalid JID", []form.Field{field(fName, "New"), field(fRoomOwners, "romeo@example.org", "juliet@example.org/balcony")}, stanza.BadRequest},
		{"bad value elsewhere", []form.Field{field(fRoomAdmins), field(fWhois, "everybody")}, stanza.BadRequest},
		{"in both lists", []form.Field{field(fRoomOwners, "romeo@example.org"), field(fRoomAdmins, "romeo@example.org")}, stanza.BadRequest},
	}
	for _, tt := range bad {
		got := submit(h, romeo, tt.fields...)
		if len(got) != 1 || errCondition(got[0]) != string(tt.cond) {
			t.Errorf("%s: want %s, got\n%s", tt.name, tt.cond, wires(got))
		}
	}
	after, _ := h.m.Room(mustRoom("family"))
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("a refused form changed the room (-before +after):\n%s", diff)
	}
	for _, who := range []string{romeo, juliet, remote} {
		if got := h.take(who); len(got) != 0 {
			t.Errorf("%s heard of a refused form:\n%s", who, wires(got))
		}
	}

	// An owner leaves the list: a member now, moderation gone. The
	// nurse, left out of the admins, too. Saved with the room.
	wantResult(t, submit(h, juliet, field(fRoomOwners, "juliet@example.org"), field(fRoomAdmins)))
	if p := one(t, h.take(romeo), "presence", roomJID+"/Romeo"); item(p) != "member participant "+romeo+" -" {
		t.Errorf("romeo's own presence: %s", wire(p))
	}
	h.restart()
	in, _ := h.m.Room(mustRoom("family"))
	want := []AffiliationInfo{{JID: "juliet@example.org", Affiliation: "owner"}, {JID: "nurse@example.org", Affiliation: "member"},
		{JID: "romeo@example.org", Affiliation: "member"}}
	if diff := cmp.Diff(want, in.Affiliations); diff != "" {
		t.Errorf("affiliations after a restart (-want +got):\n%s", diff)
	}
	// Only owners submit the form.
	h.join(romeo, "family", "Romeo")
	wantError(t, submit(h, romeo, field(fRoomOwners, "romeo@example.org")), stanza.Forbidden)
}

// TestPresenceBroadcast: an occupant whose role is not broadcast is
// neither seen arriving, changing nor leaving, yet gets its own presence
// and everyone else's; a role change or a configuration change shows or
// hides it.
func TestPresenceBroadcast(t *testing.T) {
	h := newHarness(t)
	h.create(romeo, "family", "Romeo")
	wantResult(t, submit(h, romeo, field(fPresenceCast, "moderator")))
	h.take(romeo)

	got := h.join(juliet, "family", "Juliet")
	if p := one(t, got, "presence", roomJID+"/Juliet"); item(p) != "none participant "+juliet+" -" || !slices.Contains(statuses(p), 110) {
		t.Errorf("juliet's own presence: %s", wire(p))
	}
	if p := one(t, got, "presence", roomJID+"/Romeo"); item(p) != "owner moderator "+romeo+" -" {
		t.Errorf("juliet does not see romeo: %s", wire(p))
	}
	got = h.join(remote, "family", "Mercutio")
	if p := find(got, "presence", roomJID+"/Juliet"); len(p) != 0 {
		t.Errorf("a newcomer sees hidden juliet:\n%s", wires(p))
	}
	for _, who := range []string{romeo, juliet} {
		if p := find(h.take(who), "presence", roomJID+"/Mercutio"); len(p) != 0 {
			t.Errorf("%s saw mercutio arrive:\n%s", who, wires(p))
		}
	}
	h.send(juliet, `<presence to='`+roomJID+`/Juliet'><show>away</show></presence>`)
	if p := one(t, h.take(juliet), "presence", roomJID+"/Juliet"); p.ChildText(p.Name.Space, "show") != "away" {
		t.Errorf("juliet's own change: %s", wire(p))
	}
	if got := h.take(romeo); len(got) != 0 {
		t.Errorf("romeo saw juliet's change:\n%s", wires(got))
	}
	// A probe does not reveal her either.
	h.send(remote, `<presence type='probe' to='`+roomJID+`/Juliet'/>`)
	if got := h.take(remote); len(got) != 0 {
		t.Errorf("a probe revealed juliet:\n%s", wires(got))
	}

	// Made moderator, juliet appears; a participant again, she goes.
	wantResult(t, admin(h, romeo, `<item nick='Juliet' role='moderator'/>`))
	if p := one(t, h.take(remote), "presence", roomJID+"/Juliet"); p.Get("type") != "" || item(p) != "none moderator "+juliet+" -" {
		t.Errorf("juliet as moderator: %s", wire(p))
	}
	wantResult(t, admin(h, romeo, `<item nick='Juliet' role='participant'/>`))
	if p := one(t, h.take(remote), "presence", roomJID+"/Juliet"); p.Get("type") != "unavailable" {
		t.Errorf("juliet no longer shown: %s", wire(p))
	}

	// Leaving unseen: only her own sessions hear of it.
	h.take(juliet)
	h.send(juliet, `<presence type='unavailable' to='`+roomJID+`/Juliet'/>`)
	if p := one(t, h.take(juliet), "presence", roomJID+"/Juliet"); p.Get("type") != "unavailable" || !slices.Contains(statuses(p), 110) {
		t.Errorf("juliet's own leave: %s", wire(p))
	}
	for _, who := range []string{romeo, remote} {
		if got := h.take(who); len(got) != 0 {
			t.Errorf("%s saw juliet leave:\n%s", who, wires(got))
		}
	}

	// Everyone broadcast again: mercutio appears to romeo (who is a
	// moderator and so may also see him by his real JID).
	h.join(juliet, "family", "Juliet")
	h.take(romeo)
	h.send(romeo, `<iq type='set' id='cfg' to='`+roomJID+`'><query xmlns='`+NSOwner+`'><x xmlns='jabber:x:data' type='submit'>`+
		`<field var='`+fPresenceCast+`'><value>participant</value></field></x></query></iq>`)
	got = h.take(romeo)
	wantResult(t, find(got, "iq", roomJID))
	if p := find(got, "presence", roomJID+"/Mercutio"); len(p) != 1 || p[0].Get("type") != "" {
		t.Errorf("mercutio not shown after the change:\n%s", wires(got))
	}
	if p := find(got, "presence", roomJID+"/Juliet"); len(p) != 1 || p[0].Get("type") != "" {
		t.Errorf("juliet not shown after the change:\n%s", wires(got))
	}
	// Romeo, a moderator no longer broadcast, goes from the others' view.
	if p := find(h.take(juliet), "presence", roomJID+"/Romeo"); len(p) != 1 || p[0].Get("type") != "unavailable" {
		t.Errorf("romeo still shown to juliet after the change:\n%s", wires(p))
	}
}

// TestMemberListByRole: who in the room may read the member list follows
// muc#roomconfig_getmemberlist; other lists stay the admins'.
func TestMemberListByRole(t *testing.T) {
	tests := []struct {
		name  string
		roles []string // nil: the default
		role  string   // juliet's role
		ok    bool
	}{
		{"default, participant", nil, "participant", false},
		{"default, moderator", nil, "moderator", true},
		{"participants, participant", []string{"participant"}, "participant", true},
		{"participants, moderator", []string{"participant"}, "moderator", false},
		{"visitors, visitor", []string{"visitor"}, "visitor", true},
		{"visitors, participant", []string{"visitor"}, "participant", false},
		{"nobody, moderator", []string{}, "moderator", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := family(t)
			wantResult(t, admin(h, romeo, `<item affiliation='member' jid='nurse@example.org'/>`))
			if tt.roles != nil {
				wantResult(t, submit(h, romeo, field(fGetMemberList, tt.roles...)))
			}
			if tt.role != "participant" {
				wantResult(t, admin(h, romeo, `<item nick='Juliet' role='`+tt.role+`'/>`))
			}
			got, cond := affList(t, h, juliet, "member")
			switch {
			case tt.ok && !slices.Equal(got, []string{"nurse@example.org"}):
				t.Errorf("member list: %q, %s", got, cond)
			case !tt.ok && cond != stanza.Forbidden:
				t.Errorf("member list: %q, %s; want forbidden", got, cond)
			}
			if _, cond := affList(t, h, juliet, "owner"); cond != stanza.Forbidden {
				t.Errorf("owner list: %s, want forbidden", cond)
			}
			// Someone not in the room has no role.
			if _, cond := affList(t, h, nurse, "member"); cond != stanza.Forbidden {
				t.Errorf("a member away: %s, want forbidden", cond)
			}
		})
	}
}

// ownersOf returns the room's owners.
func ownersOf(h *harness) []string {
	in, _ := h.m.Room(mustRoom("family"))
	var out []string
	for _, a := range in.Affiliations {
		if a.Affiliation == "owner" {
			out = append(out, a.JID)
		}
	}
	return out
}

// TestListChangesSameRules: the form's lists and the muc#admin items
// end in the same affiliations.
func TestListChangesSameRules(t *testing.T) {
	viaForm, viaAdmin := family(t), family(t)
	wantResult(t, submit(viaForm, romeo, field(fRoomOwners, "juliet@example.org", "romeo@example.org")))
	wantResult(t, admin(viaAdmin, romeo, `<item affiliation='owner' jid='juliet@example.org'/>`))
	if a, b := ownersOf(viaForm), ownersOf(viaAdmin); !slices.Equal(a, b) {
		t.Errorf("owners via the form %q, via muc#admin %q", a, b)
	}
	for _, h := range []*harness{viaForm, viaAdmin} {
		if p := one(t, h.take(juliet), "presence", roomJID+"/Juliet"); item(p) != "owner moderator "+juliet+" -" {
			t.Errorf("juliet: %s", wire(p))
		}
	}
}
