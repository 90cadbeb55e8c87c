package component

import (
	"context"
	"errors"
	"testing"

	"roost/internal/xmpptest"
	"roost/module"
	"roost/stanza"
	"roost/xmlstream"
)

// link is a fake connection table: connected domains take everything.
type link struct {
	connected map[string]bool
	sent      []*xmlstream.Element
}

func (l *link) Send(domain string, el *xmlstream.Element) bool {
	if !l.connected[domain] {
		return false
	}
	l.sent = append(l.sent, el)
	return true
}

func TestRegister(t *testing.T) {
	var set module.Set
	set.Add(New(Options{Components: []Component{
		{Domain: "irc.example.org", Parent: "example.org", Name: "IRC"},
		{Domain: "bridge.example.net"},
	}, Link: &link{}}))
	if err := set.Err(); err != nil {
		t.Fatal(err)
	}
	c := set.Catalog()
	if got := c.ServicesOf("example.org"); len(got) != 1 || got[0].Domain != "irc.example.org" || got[0].Name != "IRC" {
		t.Errorf("services of example.org: %+v", got)
	}
	for _, s := range c.Services {
		if len(s.Info.Identities) != 0 {
			t.Errorf("%s declares identities %v: a component answers its own disco#info", s.Domain, s.Info.Identities)
		}
	}
	if len(c.Services) != 2 {
		t.Errorf("%d services, want 2", len(c.Services))
	}
}

func TestHandler(t *testing.T) {
	named := Component{Domain: "irc.example.org", Name: "IRC gateway"}
	unnamed := Component{Domain: "irc.example.org"}
	const (
		msg       = `<message from='a@example.org/r' to='#c%irc.x@irc.example.org' id='m'><body>hi</body></message>`
		info      = `<iq type='get' id='i' from='a@example.org/r' to='irc.example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`
		infoNode  = `<iq type='get' id='i' from='a@example.org/r' to='irc.example.org'><query xmlns='http://jabber.org/protocol/disco#info' node='x'/></iq>`
		infoOfJID = `<iq type='get' id='i' from='a@example.org/r' to='#c%irc.x@irc.example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`
	)
	tests := []struct {
		name      string
		c         Component
		connected bool
		in        string
		want      string // the reply, if any
		err       error
	}{
		{"connected: to the component", named, true, msg, "", stanza.ErrReplied},
		{"connected: disco#info too", named, true, info, "", stanza.ErrReplied},
		{"away: message", named, false, msg, "", errUnavailable},
		{"away: disco#info with a name", named, false, info,
			`<iq type="result" id="i" to="a@example.org/r" from="irc.example.org"><query xmlns="http://jabber.org/protocol/disco#info"><identity category="component" type="generic" name="IRC gateway"/><feature var="http://jabber.org/protocol/disco#info"/></query></iq>`, nil},
		{"away: disco#info without a name", unnamed, false, info, "", errUnavailable},
		{"away: disco#info of a node", named, false, infoNode, "", errUnavailable},
		{"away: disco#info of a JID at it", named, false, infoOfJID, "", errUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &link{connected: map[string]bool{"irc.example.org": tt.connected}}
			h := handler{c: tt.c, link: l}
			st := xmpptest.Stanza(t, tt.in)
			reply, err := h.HandleStanza(context.Background(), st)
			if !errors.Is(err, tt.err) {
				t.Errorf("error %v, want %v", err, tt.err)
			}
			got := ""
			if reply != nil {
				got = string(xmlstream.AppendElement(nil, reply, xmlstream.NSClient))
			}
			if got != tt.want {
				t.Errorf("reply\n%s\nwant\n%s", got, tt.want)
			}
			if tt.connected && (len(l.sent) != 1 || l.sent[0].Get("id") != st.ID) {
				t.Errorf("sent to the component: %v, want the stanza", l.sent)
			}
		})
	}
	var se *stanza.Error
	if !errors.As(errUnavailable, &se) || se.Type != stanza.Wait || se.Condition != stanza.RemoteServerTimeout {
		t.Errorf("errUnavailable = %v, want wait remote-server-timeout as Prosody answers", errUnavailable)
	}
}
