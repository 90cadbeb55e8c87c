package muc

import (
	"errors"
	"reflect"
	"testing"

	"roost/form"
	"roost/stanza"
	"roost/xmlstream"
)

// FuzzDecodeRecord: a stored room record either decodes or fails with
// errRecord, never panics, and what decodes encodes to a record that
// decodes the same.
func FuzzDecodeRecord(f *testing.F) {
	f.Add([]byte(`{"v":1,"config":{"name":"Family","persistent":true,"allow_pm":"anyone","max_history":20},` +
		`"affiliations":[{"jid":"romeo@example.org","affiliation":"owner"},{"jid":"example.net","affiliation":"outcast"},` +
		`{"jid":"juliet@example.org","affiliation":"member","nick":"Jules"}],"salt":"c2FsdA==","created":"2026-12-24T18:00:00Z"}`))
	f.Add([]byte(`{"v":2}`))
	f.Add([]byte(`{"v":1,"config":{"allow_pm":"anyone"},"affiliations":[{"jid":"Romeo@Example.org","affiliation":"owner"}]}`))
	f.Add([]byte(`{"v":1,"config":{"allow_pm":"anyone"},"affiliations":[{"jid":"r@e.org/x","affiliation":"owner"}]}`))
	f.Add([]byte(`{"v":1,"config":{"allow_pm":"anyone","presence_broadcast":["moderator","visitor"],"get_member_list":[]}}`))
	f.Add([]byte(`{"v":1,"config":{"allow_pm":"anyone","presence_broadcast":["moderator","participant","visitor"],"get_member_list":null}}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, affs, err := decodeRecord(b)
		if err != nil {
			if !errors.Is(err, errRecord) {
				t.Fatalf("error %v is not errRecord", err)
			}
			return
		}
		r := newRoom(nil, mustRoom("r"), rec.Config, rec.Salt, rec.Created)
		r.affs = affs
		r.subject, r.subjectBy, r.subjectAt = rec.Subject, rec.SubjectBy, rec.SubjectAt
		again, err := encodeRecord(r.record())
		if err != nil {
			t.Fatal(err)
		}
		rec2, affs2, err := decodeRecord(again)
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v\n%s", err, again)
		}
		if !reflect.DeepEqual(affs, affs2) || rec2.Config != rec.Config || rec2.Subject != rec.Subject {
			t.Fatalf("round trip changed the record:\n%s\n%s", b, again)
		}
	})
}

// FuzzApplyConfig: a submitted configuration form is applied or refused
// with bad-request, never half-applied; an accepted configuration
// submitted again as its own form gives itself back.
func FuzzApplyConfig(f *testing.F) {
	f.Add(`<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>` + FormConfig + `</value></field>` +
		`<field var='muc#roomconfig_roomname'><value>Family</value></field><field var='muc#roomconfig_maxusers'><value>20</value></field>` +
		`<field var='muc#roomconfig_whois'><value>anyone</value></field></x>`)
	f.Add(`<x xmlns='jabber:x:data' type='submit'><field var='muc#roomconfig_passwordprotectedroom'><value>1</value></field>` +
		`<field var='muc#roomconfig_roomsecret'><value>s</value></field></x>`)
	f.Add(`<x xmlns='jabber:x:data' type='submit'><field var='muc#maxhistoryfetch'><value>9999</value></field></x>`)
	f.Add(`<x xmlns='jabber:x:data' type='submit'><field var='other'><value>1</value></field></x>`)
	f.Add(`<x xmlns='jabber:x:data' type='submit'><field var='muc#roomconfig_presencebroadcast'><value>moderator</value><value>visitor</value></field>` +
		`<field var='muc#roomconfig_getmemberlist'/><field var='muc#roomconfig_roomowners'><value>a@example.org</value></field></x>`)
	lim := limits{maxUsers: 100, maxHistory: 50, maxName: 200}
	base := openDefaults()
	base.MaxHistory = 20
	f.Fuzz(func(t *testing.T, s string) {
		el, err := xmlstream.Parse([]byte(s), xmlstream.Limits{})
		if err != nil {
			return
		}
		fm, err := form.Parse(el)
		if err != nil {
			return
		}
		cfg, err := base.Apply(fm, lim)
		if err != nil {
			var se *stanza.Error
			if !errors.As(err, &se) || se.Condition != stanza.BadRequest {
				t.Fatalf("refusal %v is not bad-request", err)
			}
			return
		}
		if cfg.MaxUsers > lim.maxUsers || cfg.MaxHistory > lim.maxHistory || cfg.MaxHistory < 0 {
			t.Fatalf("accepted out-of-range limits: %+v", cfg)
		}
		own := cfg.Form("", lim)
		own.Type = form.TypeSubmit
		back, err := openDefaults().Apply(own, lim)
		if err != nil {
			t.Fatalf("the form of an accepted configuration is refused: %v", err)
		}
		if back != cfg {
			t.Fatalf("round trip: %+v\nwant %+v", back, cfg)
		}
	})
}
