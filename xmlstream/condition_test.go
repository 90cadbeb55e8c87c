package xmlstream

import "testing"

func TestCondition(t *testing.T) {
	const ns = "urn:ietf:params:xml:ns:xmpp-streams"
	app := New("urn:example:app", "too-many-cats")
	tests := []struct {
		name      string
		in        string // the content of <error/>; empty builds it with AppendCondition
		cond      string
		text      string
		app       *Element
		wantXML   string
		wantCond  string
		wantText  string
		wantApp   string // local name of the app condition read back
		roundTrip bool
	}{
		{name: "condition only", cond: "conflict", wantXML: `<error xmlns="jabber:client"><conflict xmlns="urn:ietf:params:xml:ns:xmpp-streams"/></error>`, wantCond: "conflict", roundTrip: true},
		{name: "with text and app", cond: "policy-violation", text: "slow down", app: app,
			wantXML:  `<error xmlns="jabber:client"><policy-violation xmlns="urn:ietf:params:xml:ns:xmpp-streams"/><text xmlns="urn:ietf:params:xml:ns:xmpp-streams" xml:lang="en">slow down</text><too-many-cats xmlns="urn:example:app"/></error>`,
			wantCond: "policy-violation", wantText: "slow down", wantApp: "too-many-cats", roundTrip: true},
		{name: "received: last condition wins", in: `<a xmlns='` + ns + `'/><b xmlns='` + ns + `'/><x xmlns='urn:o'/><y xmlns='urn:o'/>`, wantCond: "b", wantApp: "y"},
		{name: "received: no condition", in: `<text xmlns='` + ns + `'>why</text>`, wantText: "why"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var el *Element
			if tc.roundTrip {
				el = New(NSClient, "error").AppendCondition(ns, tc.cond, tc.text, tc.app)
				if got := string(AppendElement(nil, el, "")); got != tc.wantXML {
					t.Errorf("AppendCondition wrote\n%s\nwant\n%s", got, tc.wantXML)
				}
				var err error
				if el, err = Parse(AppendElement(nil, el, ""), Limits{}); err != nil {
					t.Fatal(err)
				}
			} else {
				var err error
				if el, err = Parse([]byte(`<error xmlns='jabber:client'>`+tc.in+`</error>`), Limits{}); err != nil {
					t.Fatal(err)
				}
			}
			cond, text, gotApp := el.ReadCondition(ns)
			appName := ""
			if gotApp != nil {
				appName = gotApp.Name.Local
			}
			if cond != tc.wantCond || text != tc.wantText || appName != tc.wantApp {
				t.Errorf("ReadCondition = %q, %q, %q; want %q, %q, %q", cond, text, appName, tc.wantCond, tc.wantText, tc.wantApp)
			}
		})
	}
}
