package version

import (
	"context"
	"errors"
	"testing"

	"roost/internal/xmpptest"
	"roost/stanza"
	"roost/xmlstream"
)

func TestHandleStanza(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		in   string
		want string
		err  stanza.Condition
	}{
		{"server", Options{Version: "1.2.3"},
			`<iq type='get' id='v1' from='juliet@example.com/balcony' to='example.com'><query xmlns='jabber:iq:version'/></iq>`,
			`<iq type="result" id="v1" to="juliet@example.com/balcony" from="example.com"><query xmlns="jabber:iq:version"><name>roost</name><version>1.2.3</version></query></iq>`, ""},
		{"defaults", Options{},
			`<iq type='get' id='v1' from='juliet@example.com/balcony' to='example.com'><query xmlns='jabber:iq:version'/></iq>`,
			`<iq type="result" id="v1" to="juliet@example.com/balcony" from="example.com"><query xmlns="jabber:iq:version"><name>roost</name><version>dev</version></query></iq>`, ""},
		{"os when configured", Options{Version: "1", OS: "Debian"},
			`<iq type='get' id='v1' from='juliet@example.com/balcony' to='example.com'><query xmlns='jabber:iq:version'/></iq>`,
			`<iq type="result" id="v1" to="juliet@example.com/balcony" from="example.com"><query xmlns="jabber:iq:version"><name>roost</name><version>1</version><os>Debian</os></query></iq>`, ""},
		{"account", Options{},
			`<iq type='get' id='v1' from='juliet@example.com/balcony' to='romeo@example.com'><query xmlns='jabber:iq:version'/></iq>`, "", stanza.ServiceUnavailable},
		{"no to is the own account", Options{},
			`<iq type='get' id='v1' from='juliet@example.com/balcony'><query xmlns='jabber:iq:version'/></iq>`, "", stanza.ServiceUnavailable},
		{"set", Options{},
			`<iq type='set' id='v1' from='juliet@example.com/balcony' to='example.com'><query xmlns='jabber:iq:version'/></iq>`, "", stanza.BadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reply, err := New(tc.opts).HandleStanza(context.Background(), xmpptest.Stanza(t, tc.in))
			if tc.err != "" {
				if !errors.Is(err, &stanza.Error{Condition: tc.err}) {
					t.Fatalf("err = %v, want %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := string(xmlstream.AppendElement(nil, reply, xmlstream.NSClient)); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}
