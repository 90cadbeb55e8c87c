package muc

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"roost/form"
)

// TestExportImportRoom: a record exported and imported again is the same
// record; what roost cannot take is skipped and said.
func TestExportImportRoom(t *testing.T) {
	at := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	full := record{Version: recordVersion, Config: Config{Name: "Family", Description: "us", Persistent: true, MembersOnly: true,
		Password: "s3cret", Moderated: true, NonAnonymous: true, MaxUsers: 30, AllowInvites: true, AllowPM: PMModerators,
		MaxHistory: 40, ChangeSubject: true, Logging: true, PresenceBroadcast: RolesOf(Moderator), GetMemberList: RolesOf()},
		Subject: "lunch", SubjectBy: "r@conference.h/alice", SubjectAt: at, Salt: []byte{1, 2, 3}, Created: at,
		Affiliations: []affRecord{{JID: "a@h", Affiliation: "owner", Nick: "A"}, {JID: "b@h", Affiliation: "none", Nick: "B"},
			{JID: "spam@x", Affiliation: "outcast", Reason: "spam"}}}
	plain := record{Version: recordVersion, Config: Config{Persistent: true, AllowPM: PMAnyone}, Created: at}
	for _, tc := range []struct {
		name string
		rec  record
	}{{"full", full}, {"plain", plain}} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := encodeRecord(tc.rec)
			if err != nil {
				t.Fatal(err)
			}
			e, err := ExportRoom(b)
			if err != nil {
				t.Fatal(err)
			}
			got, skipped, err := ImportRoom(e, Config{MaxHistory: 7})
			if err != nil || len(skipped) > 0 {
				t.Fatalf("import: %v, skipped %q", err, skipped)
			}
			if !bytes.Equal(got, b) {
				t.Errorf("record changed:\n%s\n%s", b, got)
			}
		})
	}

	f := form.New(form.TypeSubmit, FormConfig)
	f.Add(form.Field{Var: fName, Values: []string{"Kids"}}, form.Field{Var: fAllowPM, Values: []string{"everybody"}},
		form.Field{Var: fPasswordOn, Values: []string{"1"}}, form.Field{Var: "x-prosody#roomconfig_unknown", Values: []string{"1"}},
		form.Field{Var: fPersistent, Values: []string{"0"}})
	e := Exported{Config: f.Element(), Created: at, Affiliations: []ExportedAffiliation{
		{JID: "a@h", Affiliation: "owner"}, {JID: "a@h/phone", Affiliation: "member"}, {JID: "c@h", Affiliation: "king"},
		{JID: "a@h", Affiliation: "admin"}, {JID: "d@h", Affiliation: "none"}}}
	b, skipped, err := ImportRoom(e, Config{MaxHistory: 7})
	if err != nil {
		t.Fatal(err)
	}
	wantSkipped := []string{`muc#roomconfig_allowpm="everybody"`, `x-prosody#roomconfig_unknown="1"`,
		`muc#roomconfig_passwordprotectedroom="1"`,
		`affiliation of "a@h/phone": not a bare JID`, `affiliation "king" of c@h`, `second affiliation of a@h`, `affiliation "none" of d@h`}
	if diff := cmp.Diff(wantSkipped, skipped); diff != "" {
		t.Errorf("skipped (-want +got):\n%s", diff)
	}
	rec, affs, err := decodeRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Name: "Kids", Persistent: true, AllowPM: PMAnyone, MaxHistory: 7}
	if rec.Config != want || len(affs) != 1 {
		t.Errorf("got config %+v and %d affiliations, want %+v and 1", rec.Config, len(affs), want)
	}
}
