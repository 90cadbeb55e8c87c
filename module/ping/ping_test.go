package ping

import (
	"context"
	"errors"
	"testing"

	"roost/internal/xmpptest"
	"roost/stanza"
	"roost/xmlstream"
)

func TestPing(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
		err  error
	}{
		{"get", `<iq type='get' id='p1' from='a@example.com/x' to='example.com'><ping xmlns='urn:xmpp:ping'/></iq>`,
			`<iq type="result" id="p1" to="a@example.com/x" from="example.com"/>`, nil},
		{"set is refused", `<iq type='set' id='p2' from='a@example.com/x' to='example.com'><ping xmlns='urn:xmpp:ping'/></iq>`,
			"", &stanza.Error{Condition: stanza.BadRequest}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := xmpptest.Stanza(t, tc.in)
			reply, err := Handler{}.HandleStanza(context.Background(), st)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if got := string(xmlstream.AppendElement(nil, reply, xmlstream.NSClient)); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}
