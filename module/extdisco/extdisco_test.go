package extdisco

import (
	"context"
	"errors"
	"testing"
	"time"

	"roost/internal/xmpptest"
	"roost/jid"
	"roost/stanza"
	"roost/xmlstream"
)

func TestCredentials(t *testing.T) {
	// The vector was computed apart, with Python's hmac and hashlib.
	user, pass := Credentials([]byte("family-secret"), jid.MustParse("alice@example.org/phone"), time.Unix(1700000000, 0))
	if user != "1700000000:alice@example.org" || pass != "9SWqZlhu7weFdwZVjfWUq1s4ADE=" {
		t.Errorf("Credentials = %q, %q", user, pass)
	}
}

func newTest() *Module {
	now := time.Unix(1700000000, 0)
	return New(Options{
		Services: []Service{
			{Type: "stun", Host: "turn.example.org", Port: 3478, Transport: "udp"},
			{Type: "turn", Host: "turn.example.org", Port: 3478, Transport: "udp", Restricted: true},
			{Type: "turns", Host: "turn.example.org", Port: 5349, Transport: "tcp", Restricted: true},
		},
		Secret:   []byte("family-secret"),
		Lifetime: time.Hour,
		Local:    func(d string) bool { return d == "example.org" },
		Now:      func() time.Time { return now.Add(-time.Hour) },
	})
}

func ask(t *testing.T, m *Module, from, to, payload string, h func(context.Context, *stanza.Stanza) (*xmlstream.Element, error)) (string, error) {
	t.Helper()
	st := xmpptest.Stanza(t, `<iq type='get' id='x'>`+payload+`</iq>`)
	st.From = jid.MustParse(from)
	if to != "" {
		st.To = jid.MustParse(to)
	}
	res, err := h(context.Background(), st)
	if err != nil {
		return "", err
	}
	return res.FirstChild().String(), nil
}

func TestServices(t *testing.T) {
	m := newTest()
	const creds = `restricted="1" username="1700000000:alice@example.org" password="9SWqZlhu7weFdwZVjfWUq1s4ADE=" expires="2023-11-14T22:13:20Z"`
	tests := []struct {
		name, from, to, payload string
		h                       func(context.Context, *stanza.Stanza) (*xmlstream.Element, error)
		want                    string
		cond                    stanza.Condition
	}{
		{"all", "alice@example.org/phone", "example.org", `<services xmlns='urn:xmpp:extdisco:2'/>`, m.services,
			`<services xmlns="urn:xmpp:extdisco:2"><service type="stun" host="turn.example.org" port="3478" transport="udp"/>` +
				`<service type="turn" host="turn.example.org" port="3478" transport="udp" ` + creds + `/>` +
				`<service type="turns" host="turn.example.org" port="5349" transport="tcp" ` + creds + `/></services>`, ""},
		{"of a type", "alice@example.org/phone", "", `<services xmlns='urn:xmpp:extdisco:2' type='stun'/>`, m.services,
			`<services xmlns="urn:xmpp:extdisco:2" type="stun"><service type="stun" host="turn.example.org" port="3478" transport="udp"/></services>`, ""},
		{"none of a type", "alice@example.org/phone", "", `<services xmlns='urn:xmpp:extdisco:2' type='ftp'/>`, m.services,
			`<services xmlns="urn:xmpp:extdisco:2" type="ftp"/>`, ""},
		{"credentials", "alice@example.org/phone", "example.org",
			`<credentials xmlns='urn:xmpp:extdisco:2'><service host='turn.example.org' type='turns'/></credentials>`, m.credentials,
			`<credentials xmlns="urn:xmpp:extdisco:2"><service type="turns" host="turn.example.org" port="5349" transport="tcp" ` + creds + `/></credentials>`, ""},
		{"credentials, wrong port", "alice@example.org/phone", "",
			`<credentials xmlns='urn:xmpp:extdisco:2'><service host='turn.example.org' type='turn' port='9'/></credentials>`, m.credentials, "", stanza.ItemNotFound},
		{"credentials, no service", "alice@example.org/phone", "",
			`<credentials xmlns='urn:xmpp:extdisco:2'/>`, m.credentials, "", stanza.BadRequest},
		{"from another server", "eve@evil.example/x", "example.org", `<services xmlns='urn:xmpp:extdisco:2'/>`, m.services, "", stanza.Forbidden},
		{"credentials from another server", "eve@evil.example/x", "example.org",
			`<credentials xmlns='urn:xmpp:extdisco:2'><service host='turn.example.org' type='turn'/></credentials>`, m.credentials, "", stanza.Forbidden},
		{"to an account", "alice@example.org/phone", "bob@example.org", `<services xmlns='urn:xmpp:extdisco:2'/>`, m.services, "", stanza.ServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ask(t, m, tt.from, tt.to, tt.payload, tt.h)
			var se *stanza.Error
			switch {
			case tt.cond != "" && (!errors.As(err, &se) || se.Condition != tt.cond):
				t.Errorf("got %s, %v; want %s", got, err, tt.cond)
			case tt.cond == "" && (err != nil || got != tt.want):
				t.Errorf("got %s, %v\nwant %s", got, err, tt.want)
			}
		})
	}
}
