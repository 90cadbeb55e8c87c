package pep

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"roost/discoinfo"
	"roost/im"
	"roost/internal/xmpptest"
	"roost/jid"
	"roost/module"
	"roost/router"
	"roost/stanza"
	"roost/store"
	"roost/xmlstream"
)

// world: example.com hosts juliet, romeo, nurse and benvolio, served by a
// real store, router, im and pep; every other domain is "remote", and
// what goes there is recorded.
type world struct {
	xmpptest.Clients[router.Session]
	t      testing.TB
	st     *store.Store
	r      *router.Router
	pep    *Module
	mu     sync.Mutex
	remote []*stanza.Stanza
	blocks map[string]bool // "user|other"
	now    time.Time
}

func (w *world) SendRemote(_ context.Context, st *stanza.Stanza) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.remote = append(w.remote, st)
	return nil
}

// testLimits are small, so that tests reach them.
var testLimits = Limits{MaxNodes: 6, MaxItems: 5, MaxItemBytes: 600, MaxSubscribers: 3, CapsCache: 10, MaxWatchers: 20}

func newWorld(t testing.TB) *world {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "roost.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	for _, u := range []string{"juliet@example.com", "romeo@example.com", "nurse@example.com", "benvolio@example.com"} {
		if err := st.CreateAccount(store.Account{Username: u}); err != nil {
			t.Fatal(err)
		}
	}
	w := &world{t: t, st: st, blocks: map[string]bool{},
		now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	w.r = router.New(router.Options{Domains: []string{"example.com"}})
	w.r.SetRemote(w)
	w.Clients = xmpptest.Clients[router.Session]{T: t, R: w.r}
	blocked := func(u, o jid.JID) bool { return w.blocks[u.String()+"|"+o.Bare().String()] }
	w.pep = New(Options{
		Store: st, Router: w.r, Rosters: im.Rosters{Store: st}, VCards: st,
		LegacyBookmarks: func(_ context.Context, user jid.JID) (*xmlstream.Element, error) {
			b, found, err := st.PrivateXML(user.String(), "{storage:bookmarks}storage")
			if err != nil || !found {
				return nil, err
			}
			return xmlstream.Parse(b, xmlstream.Limits{})
		},
		Blocked: blocked,
		Limits:  testLimits,
		Now:     func() time.Time { return w.now },
	})
	var set module.Set
	set.Add(w.pep)
	set.Add(im.New(im.Options{Store: st, Router: w.r, Blocked: blocked}))
	if err := set.Err(); err != nil {
		t.Fatal(err)
	}
	set.Install(w.r)
	return w
}

// iq sends an IQ from full and returns the answer it got.
func (w *world) iq(full, xml string) *xmlstream.Element {
	w.t.Helper()
	st := xmpptest.Stanza(w.t, xml)
	w.Send(full, xml)
	el := w.Sessions[full].TakeFirst(func(el *xmlstream.Element) bool {
		return el.Name.Local == "iq" && el.Get("id") == st.ID && (el.Get("type") == "result" || el.Get("type") == "error")
	})
	if el == nil {
		w.t.Fatalf("no answer to %s", xml)
	}
	return el
}

// ok sends an IQ that must succeed and returns its payload.
func (w *world) ok(full, xml string) *xmlstream.Element {
	w.t.Helper()
	r := w.iq(full, xml)
	if r.Get("type") != "result" {
		w.t.Fatalf("%s\ngot %s", xml, r)
	}
	return r.FirstChild()
}

// fails sends an IQ that must fail with cond (and app, the pubsub#errors
// condition, if not "") and returns the error's text.
func (w *world) fails(full, xml string, cond stanza.Condition, app string) string {
	w.t.Helper()
	r := w.iq(full, xml)
	e := stanza.ParseError(r)
	if r.Get("type") != "error" || e.Condition != cond {
		w.t.Fatalf("%s\ngot %s, want error %s", xml, r, cond)
	}
	if app != "" && (e.App == nil || e.App.Name != xmlstream.Name{Space: NSErrors, Local: app}) {
		w.t.Fatalf("%s\ngot %s, want pubsub#errors %s", xml, r, app)
	}
	return e.Text
}

// takeRemote returns and forgets what went to other servers.
func (w *world) takeRemote() []*stanza.Stanza {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.remote
	w.remote = nil
	return r
}

// events returns and forgets the pubsub events full received, as
// "node/id", "node/-id" (retracted), "delete node", "purge node", with
// " (delayed)" for a last item sent on presence; the payload's local
// name follows the id in brackets when there is one.
func (w *world) events(full string) []string {
	var out []string
	for _, el := range w.Sessions[full].Take() {
		out = append(out, eventSummary(el)...)
	}
	return out
}

func eventSummary(el *xmlstream.Element) []string {
	ev := el.Child(NSEvent, "event")
	if ev == nil {
		return nil
	}
	delayed := ""
	if el.Child(nsDelay, "delay") != nil {
		delayed = " (delayed)"
	}
	var out []string
	for ch := range ev.Elements() {
		node := ch.Get("node")
		switch ch.Name.Local {
		case "items":
			for it := range ch.Elements() {
				switch it.Name.Local {
				case "item":
					s := node + "/" + it.Get("id")
					if p := it.FirstChild(); p != nil {
						s += "[" + p.Name.Local + "]"
					}
					out = append(out, s+delayed)
				case "retract":
					out = append(out, node+"/-"+it.Get("id"))
				}
			}
		default:
			out = append(out, ch.Name.Local+" "+node)
		}
	}
	return out
}

// befriend makes a and b, local accounts, subscribed to each other.
func (w *world) befriend(a, b string) {
	w.t.Helper()
	for _, p := range [][2]string{{a, b}, {b, a}} {
		from, to := p[0], p[1]
		fs, ts := from+"/setup", to+"/setup"
		w.Connect(fs)
		w.Connect(ts)
		w.Send(fs, `<presence to='`+to+`' type='subscribe'/>`)
		w.Send(ts, `<presence to='`+from+`' type='subscribed'/>`)
		w.Disconnect(fs)
		w.Disconnect(ts)
	}
}

// follow makes local user subscribed to remote's presence and remote to
// user's, as if remote's server had answered.
func (w *world) follow(user, remote string) {
	w.t.Helper()
	s := user + "/setup"
	w.Connect(s)
	w.Send(s, `<presence to='`+remote+`' type='subscribe'/>`)
	w.Inbound(`<presence from='` + remote + `' to='` + user + `' type='subscribed'/>`)
	w.Inbound(`<presence from='` + remote + `' to='` + user + `' type='subscribe'/>`)
	w.Send(s, `<presence to='`+remote+`' type='subscribed'/>`)
	w.Disconnect(s)
	w.takeRemote()
}

// client is a client version: its disco#info and the caps that name it.
type client struct {
	info      discoinfo.Info
	node, ver string
}

func newClient(features ...string) client {
	info := discoinfo.Info{
		Identities: []discoinfo.Identity{{Category: "client", Type: "pc", Name: "test"}},
		Features:   append([]string{"urn:xmpp:ping"}, features...),
	}.Normalized()
	ver, err := info.Ver()
	if err != nil {
		panic(err)
	}
	return client{info: info, node: "https://client.example", ver: ver}
}

func (c client) caps() string {
	return fmt.Sprintf(`<c xmlns='%s' hash='sha-1' node='%s' ver='%s'/>`, NSCaps, c.node, c.ver)
}

// online connects full (if it is not) and sends initial presence with
// c's caps, answering the disco#info request PEP may send for them.
func (w *world) online(full string, c client) {
	w.t.Helper()
	if w.Sessions[full] == nil {
		w.Connect(full)
	}
	w.Send(full, `<presence>`+c.caps()+`</presence>`)
	w.answerDisco(full, c)
}

// answerDisco answers, from full, a disco#info request it received.
func (w *world) answerDisco(full string, c client) bool {
	w.t.Helper()
	q := w.Sessions[full].TakeFirst(func(el *xmlstream.Element) bool {
		return el.Name.Local == "iq" && el.Get("type") == "get" && el.Child(discoinfo.NSInfo, "query") != nil
	})
	if q == nil {
		return false
	}
	if node := q.FirstChild().Get("node"); node != c.node+"#"+c.ver {
		w.t.Errorf("disco#info asks about node %q, want %q", node, c.node+"#"+c.ver)
	}
	res := xmlstream.New(xmlstream.NSClient, "iq").SetAttr("type", "result").SetAttr("id", q.Get("id")).SetAttr("to", q.Get("from")).
		Append(c.info.Query(c.node + "#" + c.ver))
	w.Send(full, res.String())
	return true
}

// discoAsked returns the disco#info requests full received, as their ids.
func discoAsked(els []*xmlstream.Element) int {
	n := 0
	for _, el := range els {
		if el.Name.Local == "iq" && el.Child(discoinfo.NSInfo, "query") != nil {
			n++
		}
	}
	return n
}

func expect(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	slices.Sort(got)
	slices.Sort(want)
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("%s:\ngot  %q\nwant %q", what, got, want)
	}
}

// publish is an IQ publishing payload as item id (none when "") of node,
// with publish-options fields (var=value pairs).
func publish(node, id, payload string, opts ...string) string {
	item := "<item>"
	if id != "" {
		item = "<item id='" + id + "'>"
	}
	po := ""
	if len(opts) > 0 {
		po = "<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>" + FormPublishOptions + "</value></field>"
		for i := 0; i+1 < len(opts); i += 2 {
			po += "<field var='" + opts[i] + "'><value>" + opts[i+1] + "</value></field>"
		}
		po += "</x></publish-options>"
	}
	return "<iq type='set' id='pub'><pubsub xmlns='" + NS + "'><publish node='" + node + "'>" + item + payload + "</item></publish>" + po + "</pubsub></iq>"
}

// items is an IQ getting node's items from owner (to="" for one's own).
func items(to, node, extra string) string {
	t := ""
	if to != "" {
		t = " to='" + to + "'"
	}
	return "<iq type='get' id='items'" + t + "><pubsub xmlns='" + NS + "'><items node='" + node + "'" + extra + "</pubsub></iq>"
}

// itemIDs lists the ids and payloads of an items result.
func itemIDs(ps *xmlstream.Element) []string {
	var out []string
	for it := range ps.Child(NS, "items").Elements() {
		s := it.Get("id")
		if p := it.FirstChild(); p != nil {
			s += "=" + p.ChildText(p.Name.Space, "title") + p.Text()
		}
		out = append(out, s)
	}
	return out
}

// owner is an IQ in the pubsub#owner namespace.
func owner(typ, body string) string {
	return "<iq type='" + typ + "' id='own'><pubsub xmlns='" + NSOwner + "'>" + body + "</pubsub></iq>"
}

// configForm is a submitted node_config form with fields var=value.
func configForm(kv ...string) string {
	s := "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>" + FormNodeConfig + "</value></field>"
	for i := 0; i+1 < len(kv); i += 2 {
		s += "<field var='" + kv[i] + "'><value>" + kv[i+1] + "</value></field>"
	}
	return s + "</x>"
}

func jidOf(s string) jid.JID { return jid.MustParse(s) }
