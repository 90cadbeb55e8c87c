package disco

import (
	"context"
	"errors"
	"strings"
	"testing"

	"roost/discoinfo"
	"roost/internal/xmpptest"
	"roost/jid"
	"roost/module"
	"roost/stanza"
	"roost/xmlstream"
)

// subs is a fake roster: "user contact" → subscription.
type subs map[string]string

func (s subs) lookup(_ context.Context, user, contact jid.JID) (string, error) {
	if user.String() == "broken@example.com" {
		return "", errors.New("disk on fire")
	}
	if v, ok := s[user.String()+" "+contact.String()]; ok {
		return v, nil
	}
	return "none", nil
}

func newHandler(t testing.TB) *Handler {
	t.Helper()
	h, err := New(Options{
		Catalog: module.Catalog{
			Server:   discoinfo.Info{Features: []string{"urn:xmpp:ping", "jabber:iq:version", "urn:xmpp:ping"}},
			Account:  discoinfo.Info{Features: []string{"jabber:iq:last"}},
			Services: []module.Service{{Domain: "conference.example.com", Parent: "example.com", Name: "Chatrooms"}},
		},
		CapsNode: "https://roost.test",
		Subscription: subs{
			"juliet@example.com romeo@example.com":   "from",
			"juliet@example.com nurse@example.com":   "both",
			"juliet@example.com tybalt@example.com":  "to",
			"juliet@example.com paris@example.com":   "none",
			"juliet@example.com mercutio@remote.net": "from",
		}.lookup,
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func encode(el *xmlstream.Element) string {
	return string(xmlstream.AppendElement(nil, el, xmlstream.NSClient))
}

const (
	serverInfo = `<query xmlns="http://jabber.org/protocol/disco#info">` +
		`<identity category="server" type="im" name="roost"/>` +
		`<feature var="http://jabber.org/protocol/disco#info"/>` +
		`<feature var="http://jabber.org/protocol/disco#items"/>` +
		`<feature var="jabber:iq:version"/>` +
		`<feature var="urn:xmpp:ping"/></query>`
	accountInfo = `<query xmlns="http://jabber.org/protocol/disco#info">` +
		`<identity category="account" type="registered"/>` +
		`<feature var="http://jabber.org/protocol/disco#info"/>` +
		`<feature var="http://jabber.org/protocol/disco#items"/>` +
		`<feature var="jabber:iq:last"/></query>`
)

func TestHandleStanza(t *testing.T) {
	h := newHandler(t)
	capsNode := "https://roost.test#" + h.Ver()
	tests := []struct {
		name string
		in   string
		want string // the reply's payload
		err  stanza.Condition
	}{
		{"server info", `<iq type='get' id='1' from='juliet@example.com/balcony' to='example.com'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
			serverInfo, ""},
		{"server info for the caps node", `<iq type='get' id='1' from='juliet@example.com/balcony' to='example.com'><query xmlns='http://jabber.org/protocol/disco#info' node='` + capsNode + `'/></iq>`,
			strings.Replace(serverInfo, `#info">`, `#info" node="`+capsNode+`">`, 1), ""},
		{"server info from another server's user", `<iq type='get' id='1' from='someone@remote.net/x' to='example.com'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
			serverInfo, ""},
		{"unknown node", `<iq type='get' id='1' from='juliet@example.com/balcony' to='example.com'><query xmlns='http://jabber.org/protocol/disco#info' node='https://roost.test#wrong'/></iq>`,
			"", stanza.ItemNotFound},
		{"server items", `<iq type='get' id='1' from='juliet@example.com/balcony' to='example.com'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`,
			`<query xmlns="http://jabber.org/protocol/disco#items"><item jid="conference.example.com" name="Chatrooms"/></query>`, ""},
		{"server items of an unknown node", `<iq type='get' id='1' from='juliet@example.com/balcony' to='example.com'><query xmlns='http://jabber.org/protocol/disco#items' node='x'/></iq>`,
			"", stanza.ItemNotFound},
		{"set is refused", `<iq type='set' id='1' from='juliet@example.com/balcony' to='example.com'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
			"", stanza.BadRequest},
		{"own account, no to", `<iq type='get' id='1' from='juliet@example.com/balcony'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
			accountInfo, ""},
		{"own account, bare to", `<iq type='get' id='1' from='juliet@example.com/balcony' to='juliet@example.com'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
			accountInfo, ""},
		{"contact with from", `<iq type='get' id='1' from='romeo@example.com/orchard' to='juliet@example.com'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
			accountInfo, ""},
		{"contact with both", `<iq type='get' id='1' from='nurse@example.com/kitchen' to='juliet@example.com'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
			accountInfo, ""},
		{"remote contact with from", `<iq type='get' id='1' from='mercutio@remote.net/x' to='juliet@example.com'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
			accountInfo, ""},
		{"contact with to only", `<iq type='get' id='1' from='tybalt@example.com/street' to='juliet@example.com'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
			"", stanza.ServiceUnavailable},
		{"stranger", `<iq type='get' id='1' from='paris@example.com/church' to='juliet@example.com'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
			"", stanza.ServiceUnavailable},
		{"account node", `<iq type='get' id='1' from='juliet@example.com/balcony' to='juliet@example.com'><query xmlns='http://jabber.org/protocol/disco#info' node='x'/></iq>`,
			"", stanza.ItemNotFound},
		{"account items for a stranger are empty", `<iq type='get' id='1' from='paris@example.com/church' to='juliet@example.com'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`,
			`<query xmlns="http://jabber.org/protocol/disco#items"/>`, ""},
		{"wrong payload", `<iq type='get' id='1' from='juliet@example.com/balcony' to='example.com'><query xmlns='urn:example'/></iq>`,
			"", stanza.ServiceUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { checkReply(t, h, tc.in, tc.want, tc.err) })
	}
}

// checkReply has h answer in, and checks the answer: a result to the
// sender carrying want, or the error cond.
func checkReply(t *testing.T, h *Handler, in, want string, cond stanza.Condition) {
	t.Helper()
	st := xmpptest.Stanza(t, in)
	reply, err := h.HandleStanza(context.Background(), st)
	if cond != "" {
		if !errors.Is(err, &stanza.Error{Condition: cond}) {
			t.Fatalf("err = %v, want %s", err, cond)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if reply.Get("type") != "result" || reply.Get("id") != "1" || reply.Get("to") != st.From.String() {
		t.Errorf("reply %s is not a result to the sender", encode(reply))
	}
	if got := encode(reply.FirstChild()); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestSubscriptionError(t *testing.T) {
	h := newHandler(t)
	st := xmpptest.Stanza(t, `<iq type='get' id='1' from='romeo@example.com/orchard' to='broken@example.com'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	_, err := h.HandleStanza(context.Background(), st)
	var se *stanza.Error
	if err == nil || errors.As(err, &se) {
		t.Fatalf("err = %v, want an internal error", err)
	}
}

func TestNoSubscriptionLookup(t *testing.T) {
	h, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := xmpptest.Stanza(t, `<iq type='get' id='1' from='romeo@example.com/orchard' to='juliet@example.com'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	if _, err := h.HandleStanza(context.Background(), st); !errors.Is(err, &stanza.Error{Condition: stanza.ServiceUnavailable}) {
		t.Fatalf("err = %v, want service-unavailable", err)
	}
}

// TestCapsMatchesInfo recomputes the advertised string from the reply a
// client would fetch, as slixmpp and Conversations do before caching it.
func TestCapsMatchesInfo(t *testing.T) {
	h := newHandler(t)
	c := h.Caps()
	if !c.Is(NSCaps, "c") || c.Get("hash") != "sha-1" || c.Get("node") != "https://roost.test" || c.Get("ver") != h.Ver() {
		t.Fatalf("caps feature %s", encode(c))
	}
	st := xmpptest.Stanza(t, `<iq type='get' id='1' from='juliet@example.com/balcony' to='example.com'><query xmlns='http://jabber.org/protocol/disco#info' node='https://roost.test#`+h.Ver()+`'/></iq>`)
	reply, err := h.HandleStanza(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	info, err := discoinfo.Parse(reply.FirstChild())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := info.Ver(); err != nil || got != c.Get("ver") {
		t.Errorf("recomputed %s (%v), advertised %s", got, err, c.Get("ver"))
	}
}

// TestItemsPerDomain: a domain lists only its own services.
func TestItemsPerDomain(t *testing.T) {
	h := newHandler(t)
	st := xmpptest.Stanza(t, `<iq type='get' id='1' from='juliet@example.com/balcony' to='other.example'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`)
	reply, err := h.HandleStanza(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := encode(reply.FirstChild()), `<query xmlns="http://jabber.org/protocol/disco#items"/>`; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func BenchmarkServerInfo(b *testing.B) {
	h := newHandler(b)
	st := xmpptest.Stanza(b, `<iq type='get' id='1' from='juliet@example.com/balcony' to='example.com'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.HandleStanza(ctx, st); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzHandleStanza(f *testing.F) {
	f.Add(`<query xmlns='http://jabber.org/protocol/disco#info' node='x'/>`, "juliet@example.com")
	f.Add(`<query xmlns='http://jabber.org/protocol/disco#items'/>`, "example.com")
	f.Add(`<query xmlns='http://jabber.org/protocol/disco#info'><feature var='x'/></query>`, "")
	h, err := New(Options{Subscription: subs{}.lookup})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, payload, to string) {
		d := xmlstream.NewDecoder(strings.NewReader(`<s xmlns='jabber:client'><iq type='get' id='f' from='romeo@example.com/x'>`+payload+`</iq>`), xmlstream.Limits{})
		if _, err := d.ReadHeader(); err != nil {
			return
		}
		el, err := d.ReadElement()
		if err != nil {
			return
		}
		st, err := stanza.Parse(el)
		if err != nil {
			return
		}
		if j, err := jid.Parse(to); err == nil {
			st.To = j
		}
		reply, err := h.HandleStanza(context.Background(), &st)
		var se *stanza.Error
		if err != nil && !errors.As(err, &se) {
			t.Fatalf("untyped error %v", err)
		}
		if err == nil && (reply == nil || reply.Get("type") != "result") {
			t.Fatalf("no error and reply %v", reply)
		}
	})
}

// fakeNodes holds juliet's nodes: "open" anyone may see, "secret" only
// juliet.
type fakeNodes struct{}

func (fakeNodes) Nodes(_ context.Context, account, requester jid.JID) ([]module.NodeItem, error) {
	out := []module.NodeItem{{Node: "open", Name: "Open node"}}
	if requester.Bare().Equal(account) {
		out = append(out, module.NodeItem{Node: "secret"})
	}
	return out, nil
}

func (fakeNodes) NodeInfo(_ context.Context, account, requester jid.JID, node string) (discoinfo.Info, error) {
	if node == "open" || (node == "secret" && requester.Bare().Equal(account)) {
		return discoinfo.Info{Identities: []discoinfo.Identity{{Category: "pubsub", Type: "leaf"}}}, nil
	}
	return discoinfo.Info{}, stanza.NewError(stanza.ItemNotFound, "")
}

func TestAccountNodes(t *testing.T) {
	h, err := New(Options{Catalog: module.Catalog{Nodes: fakeNodes{}}})
	if err != nil {
		t.Fatal(err)
	}
	const leaf = `<identity category="pubsub" type="leaf"/><feature var="http://jabber.org/protocol/disco#info"/><feature var="http://jabber.org/protocol/disco#items"/></query>`
	tests := []struct {
		name string
		in   string
		want string
		err  stanza.Condition
	}{
		{"owner lists every node", `<iq type='get' id='1' from='juliet@example.com/balcony'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`,
			`<query xmlns="http://jabber.org/protocol/disco#items"><item jid="juliet@example.com" node="open" name="Open node"/><item jid="juliet@example.com" node="secret"/></query>`, ""},
		{"a stranger sees what it may", `<iq type='get' id='1' from='paris@remote.net/x' to='juliet@example.com'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`,
			`<query xmlns="http://jabber.org/protocol/disco#items"><item jid="juliet@example.com" node="open" name="Open node"/></query>`, ""},
		{"node info for a stranger, no presence needed", `<iq type='get' id='1' from='paris@remote.net/x' to='juliet@example.com'><query xmlns='http://jabber.org/protocol/disco#info' node='open'/></iq>`,
			`<query xmlns="http://jabber.org/protocol/disco#info" node="open">` + leaf, ""},
		{"hidden node", `<iq type='get' id='1' from='paris@remote.net/x' to='juliet@example.com'><query xmlns='http://jabber.org/protocol/disco#info' node='secret'/></iq>`,
			"", stanza.ItemNotFound},
		{"the account itself still needs presence", `<iq type='get' id='1' from='paris@remote.net/x' to='juliet@example.com'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
			"", stanza.ServiceUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { checkReply(t, h, tc.in, tc.want, tc.err) })
	}
}
