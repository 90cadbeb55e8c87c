package server

import (
	"net"
	"slices"
	"strings"
	"testing"

	"roost/config"
	"roost/discoinfo"
	"roost/internal/xmpptest"
	"roost/stanza"
	"roost/stream"
	"roost/xmlstream"
)

// TestComponents: a component is a hosted service: listed in its parent
// domain's disco#items, answered for while it is away, and once connected
// it exchanges stanzas with local users.
func TestComponents(t *testing.T) {
	r := startWith(t, t.TempDir(), func(o *Options) {
		o.Config.Components = []config.Component{
			{Domain: "irc.example.org", Secret: "irc-secret", Listen: []string{"127.0.0.1:0"}, Name: "IRC gateway"},
			{Domain: "bridge.example.net", Secret: "bridge-secret", Listen: []string{"127.0.0.1:0"}},
		}
	})
	if names := serviceNames(r.cfg); !slices.Contains(names, "irc.example.org") || !slices.Contains(names, "bridge.example.net") {
		t.Errorf("serviceNames = %v, want the component domains in it", names)
	}
	addUsers(t, r, "alice")
	alice, err := r.login(t, "alice@example.org/laptop", "alice-secret")
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()

	items := iq(t, alice, "get", "example.org", xmlstream.New(discoinfo.NSItems, "query"))
	var listed []string
	for it := range items.FirstChild().Elements() {
		listed = append(listed, it.Get("jid")+"="+it.Get("name"))
	}
	if !slices.Contains(listed, "irc.example.org=IRC gateway") || slices.ContainsFunc(listed, func(s string) bool { return strings.HasPrefix(s, "bridge") }) {
		t.Errorf("disco#items of example.org: %v, want irc.example.org (named) and not bridge.example.net (no parent)", listed)
	}

	t.Run("away", func(t *testing.T) {
		info := iq(t, alice, "get", "irc.example.org", xmlstream.New(discoinfo.NSInfo, "query"))
		parsed, err := discoinfo.Parse(info.FirstChild())
		if err != nil || len(parsed.Identities) != 1 ||
			parsed.Identities[0] != (discoinfo.Identity{Category: "component", Type: "generic", Name: "IRC gateway"}) {
			t.Errorf("disco#info while away: %v (%v), want the component/generic identity", info, err)
		}
		if err := alice.Send(xmlstream.New(xmlstream.NSClient, "message").SetAttr("to", "#chan%irc.libera.chat@irc.example.org").
			SetAttr("id", "away1").Append(xmlstream.New(xmlstream.NSClient, "body").AppendText("anyone?"))); err != nil {
			t.Fatal(err)
		}
		got := recvMatching(t, alice, func(el *xmlstream.Element) bool { return el.Get("id") == "away1" })
		e := got.Child(xmlstream.NSClient, "error")
		if got.Get("type") != "error" || e.Get("type") != string(stanza.Wait) || e.Child(stanza.NSStanzas, string(stanza.RemoteServerTimeout)) == nil {
			t.Errorf("message to an absent component answered %v, want a wait remote-server-timeout (as Prosody)", got)
		}
	})

	comp := xmpptest.ConnectComponent(t, r.addr(ListenComponent), "irc.example.org", "irc-secret")
	t.Run("connected", func(t *testing.T) {
		if err := alice.Send(xmlstream.New(xmlstream.NSClient, "message").SetAttr("to", "#chan%irc.libera.chat@irc.example.org").
			SetAttr("type", "groupchat").Append(xmlstream.New(xmlstream.NSClient, "body").AppendText("hello irc"))); err != nil {
			t.Fatal(err)
		}
		got := comp.Next()
		if !got.Is(xmlstream.NSComponent, "message") || got.Get("from") != "alice@example.org/laptop" ||
			got.ChildText(xmlstream.NSComponent, "body") != "hello irc" {
			t.Errorf("the component got %v", got)
		}
		comp.Send(`<message from='#chan%irc.libera.chat@irc.example.org/bob' to='alice@example.org/laptop' type='groupchat'><body>hello xmpp</body></message>`)
		m := recvMatching(t, alice, func(el *xmlstream.Element) bool { return el.Is(xmlstream.NSClient, "message") })
		if m.Get("from") != "#chan%irc.libera.chat@irc.example.org/bob" || m.ChildText(xmlstream.NSClient, "body") != "hello xmpp" {
			t.Errorf("alice got %v", m)
		}
		// disco#info is the component's to answer now.
		if err := alice.Send(xmlstream.New(xmlstream.NSClient, "iq").SetAttr("type", "get").SetAttr("id", "d1").
			SetAttr("to", "irc.example.org").Append(xmlstream.New(discoinfo.NSInfo, "query"))); err != nil {
			t.Fatal(err)
		}
		q := comp.Next()
		if q.Get("id") != "d1" || q.Child(discoinfo.NSInfo, "query") == nil {
			t.Fatalf("the component got %v, want the disco#info request", q)
		}
		comp.Send(`<iq type='result' id='d1' from='irc.example.org' to='alice@example.org/laptop'><query xmlns='http://jabber.org/protocol/disco#info'><identity category='conference' type='irc' name='biboumi'/></query></iq>`)
		ans := recvMatching(t, alice, func(el *xmlstream.Element) bool { return el.Get("id") == "d1" })
		if id := ans.FirstChild().Child(discoinfo.NSInfo, "identity"); id.Get("type") != "irc" {
			t.Errorf("alice got %v, want the component's own answer", ans)
		}
		// To the other component, away: the error comes back.
		comp.Send(`<message from='irc.example.org' to='bridge.example.net' id='b1'><body>x</body></message>`)
		if e := comp.Next(); e.Get("id") != "b1" || e.Get("type") != "error" {
			t.Errorf("the component got %v, want an error for b1", e)
		}
	})

	r.stop(t)
	comp.ExpectStreamError(stream.SystemShutdown)
}

// TestComponentSocketActivation: a socket passed as "component" serves
// every configured component, whatever their listen addresses say.
func TestComponentSocketActivation(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := startWith(t, t.TempDir(), func(o *Options) {
		o.Listeners = map[string][]net.Listener{ListenComponent: {ln}}
		o.Config.Components = []config.Component{
			{Domain: "irc.example.org", Secret: "irc-secret", Listen: []string{"127.0.0.1:1"}},
			{Domain: "bridge.example.net", Secret: "bridge-secret", Listen: []string{"127.0.0.1:2"}},
		}
	})
	if got := r.addr(ListenComponent); got != ln.Addr().String() {
		t.Errorf("component listener %s, want the passed socket %s", got, ln.Addr())
	}
	xmpptest.ConnectComponent(t, ln.Addr().String(), "irc.example.org", "irc-secret")
	xmpptest.ConnectComponent(t, ln.Addr().String(), "bridge.example.net", "bridge-secret")
}

func TestParentDomain(t *testing.T) {
	domains := []string{"example.org", "home.example.org", "example.net"}
	for domain, want := range map[string]string{
		"irc.example.org":      "example.org",
		"irc.home.example.org": "home.example.org",
		"irc.example.com":      "",
		"xexample.org":         "",
	} {
		if got := parentDomain(domains, domain); got != want {
			t.Errorf("parentDomain(%q) = %q, want %q", domain, got, want)
		}
	}
}
