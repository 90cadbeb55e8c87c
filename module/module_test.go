package module_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"roost/discoinfo"
	"roost/internal/xmpptest"
	"roost/jid"
	"roost/module"
	"roost/router"
	"roost/stanza"
	"roost/xmlstream"
)

// fake is a module whose Register is a function.
type fake struct {
	name string
	reg  func(r *module.Registry)
}

func (f fake) Name() string                { return f.name }
func (f fake) Register(r *module.Registry) { f.reg(r) }

func answer(text string) router.Handler {
	return module.HandlerFunc(func(_ context.Context, st *stanza.Stanza) (*xmlstream.Element, error) {
		return stanza.ResultIQ(st, xmlstream.New("urn:test", "answer").AppendText(text)), nil
	})
}

func TestConflicts(t *testing.T) {
	tests := []struct {
		name  string
		first func(r *module.Registry)
		again func(r *module.Registry)
		want  string // "" for no conflict
	}{
		{"same IQ key",
			func(r *module.Registry) { r.IQ(stanza.TypeGet, "urn:x", "q", answer("a")) },
			func(r *module.Registry) { r.IQ(stanza.TypeGet, "urn:x", "q", answer("b")) },
			`module: "one" and "two" both register IQ get {urn:x}q`},
		{"both types against one",
			func(r *module.Registry) { r.IQ(stanza.TypeSet, "urn:x", "q", answer("a")) },
			func(r *module.Registry) { r.IQ("", "urn:x", "q", answer("b")) },
			`module: "one" and "two" both register IQ get/set {urn:x}q`},
		{"get and set apart",
			func(r *module.Registry) { r.IQ(stanza.TypeGet, "urn:x", "q", answer("a")) },
			func(r *module.Registry) { r.IQ(stanza.TypeSet, "urn:x", "q", answer("b")) },
			""},
		{"offline storage",
			func(r *module.Registry) { r.Offline(module.InterceptorFunc(nil)) },
			func(r *module.Registry) { r.Offline(module.InterceptorFunc(nil)) },
			`module: "one" and "two" both register offline messages`},
		{"service domain",
			func(r *module.Registry) {
				r.Service(module.Service{Domain: "conference.example.org", Handler: answer("a")})
			},
			func(r *module.Registry) {
				r.Service(module.Service{Domain: "conference.example.org", Handler: answer("b")})
			},
			`module: "one" and "two" both register service conference.example.org`},
		{"HTTP pattern",
			func(r *module.Registry) { r.HTTP("/upload/", nil) },
			func(r *module.Registry) { r.HTTP("/upload/", nil) },
			`module: "one" and "two" both register HTTP /upload/`},
		{"Bind 2 feature",
			func(r *module.Registry) { r.BindFeature("urn:xmpp:carbons:2", inlineFunc(nil)) },
			func(r *module.Registry) { r.BindFeature("urn:xmpp:carbons:2", inlineFunc(nil)) },
			`module: "one" and "two" both register Bind 2 feature urn:xmpp:carbons:2`},
		{"Bind 2 features apart",
			func(r *module.Registry) { r.BindFeature("urn:xmpp:carbons:2", inlineFunc(nil)) },
			func(r *module.Registry) { r.BindFeature("urn:example:other", inlineFunc(nil)) },
			""},
		{"pre-auth handler",
			func(r *module.Registry) { r.PreAuth(nil) },
			func(r *module.Registry) { r.PreAuth(nil) },
			`module: "one" and "two" both register pre-authentication IQs`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var set module.Set
			set.Add(fake{"one", tc.first})
			set.Add(fake{"two", tc.again})
			err := set.Err()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Err = %v, want none", err)
			case tc.want != "" && (err == nil || err.Error() != tc.want):
				t.Errorf("Err = %v, want %q", err, tc.want)
			}
		})
	}
}

// inlineFunc adapts a function to module.BindHandler.
type inlineFunc func(ctx context.Context, full jid.JID, el *xmlstream.Element) *xmlstream.Element

func (f inlineFunc) EnableInline(ctx context.Context, full jid.JID, el *xmlstream.Element) *xmlstream.Element {
	return f(ctx, full, el)
}

// TestBindFeatures: what modules offer inline in Bind 2 comes out of the
// set in registration order, with handlers that get the request element
// and the bound JID; a registration without a handler is refused.
func TestBindFeatures(t *testing.T) {
	var set module.Set
	var got []string
	for _, ns := range []string{"urn:xmpp:carbons:2", "urn:example:later"} {
		set.Add(fake{ns, func(r *module.Registry) {
			r.BindFeature(ns, inlineFunc(func(_ context.Context, full jid.JID, el *xmlstream.Element) *xmlstream.Element {
				got = append(got, full.String()+" "+el.Name.Space+" "+el.Name.Local)
				return xmlstream.New(ns, "enabled")
			}))
		}})
	}
	if err := set.Err(); err != nil {
		t.Fatal(err)
	}
	features := set.BindFeatures()
	if len(features) != 2 || features[0].Var != "urn:xmpp:carbons:2" || features[1].Var != "urn:example:later" {
		t.Fatalf("BindFeatures = %+v, want carbons then later", features)
	}
	full := jid.MustParse("alice@example.org/phone")
	for _, f := range features {
		res := f.Handler.EnableInline(t.Context(), full, xmlstream.New(f.Var, "enable"))
		if res == nil || !res.Is(f.Var, "enabled") {
			t.Errorf("%s answered %v, want its <enabled/>", f.Var, res)
		}
	}
	want := []string{"alice@example.org/phone urn:xmpp:carbons:2 enable", "alice@example.org/phone urn:example:later enable"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("handlers saw %q, want %q", got, want)
	}
	var bad module.Set
	bad.Add(fake{"bad", func(r *module.Registry) { r.BindFeature("urn:x", nil) }})
	if err := bad.Err(); err == nil || !strings.Contains(err.Error(), "without a namespace or handler") {
		t.Errorf("Err = %v, want a refusal of a feature without a handler", err)
	}
}

func TestBadIQType(t *testing.T) {
	var set module.Set
	set.Add(fake{"one", func(r *module.Registry) { r.IQ(stanza.TypeResult, "urn:x", "q", answer("a")) }})
	if err := set.Err(); err == nil || !strings.Contains(err.Error(), "serve get or set") {
		t.Errorf("Err = %v, want a refusal of a result handler", err)
	}
}

// recorder is a session that keeps what it is sent.
type recorder struct {
	mu  sync.Mutex
	got []*xmlstream.Element
}

func (r *recorder) Send(el *xmlstream.Element) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, el)
	return true
}
func (r *recorder) Close(error) {}

func (r *recorder) last(t *testing.T) *xmlstream.Element {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.got) == 0 {
		t.Fatal("nothing delivered")
	}
	return r.got[len(r.got)-1]
}

// installed installs set on a router for example.org with one session,
// alice@example.org/phone, whose deliveries rec records.
func installed(t *testing.T, set *module.Set) (*router.Router, jid.JID, *recorder) {
	t.Helper()
	r := router.New(router.Options{Domains: []string{"example.org"}})
	set.Install(r)
	alice := jid.MustParse("alice@example.org/phone")
	rec := &recorder{}
	if err := r.Bind(context.Background(), alice, rec); err != nil {
		t.Fatal(err)
	}
	return r, alice, rec
}

// TestInstall: handlers, interceptors in order, a hosted service and its
// disco#info, all through a real router.
func TestInstall(t *testing.T) {
	var order []string
	var seenBySvc []string
	svc := module.HandlerFunc(func(_ context.Context, st *stanza.Stanza) (*xmlstream.Element, error) {
		seenBySvc = append(seenBySvc, st.Kind.String()+" "+st.Type+" "+st.To.String())
		if st.Kind == stanza.IQ && (st.Type == stanza.TypeGet || st.Type == stanza.TypeSet) {
			return stanza.ResultIQ(st, nil), nil
		}
		return nil, nil
	})
	var set module.Set
	set.Add(fake{"first", func(r *module.Registry) {
		r.IQ(stanza.TypeGet, "urn:x", "q", answer("get"))
		r.Outbound(module.InterceptorFunc(func(context.Context, *stanza.Stanza) (bool, error) {
			order = append(order, "first")
			return false, nil
		}))
		r.ServerFeatures("urn:x")
		r.AccountFeatures("urn:x:account")
	}})
	set.Add(fake{"second", func(r *module.Registry) {
		r.IQ(stanza.TypeSet, "urn:x", "q", answer("set"))
		r.Outbound(module.InterceptorFunc(func(context.Context, *stanza.Stanza) (bool, error) {
			order = append(order, "second")
			return false, nil
		}))
		r.Service(module.Service{
			Domain: "conference.example.org", Parent: "example.org", Name: "Chats",
			Info:    discoinfo.Info{Identities: []discoinfo.Identity{{Category: "conference", Type: "text", Name: "Chats"}}, Features: []string{"http://jabber.org/protocol/muc"}},
			Handler: svc,
		})
	}})
	if err := set.Err(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(set.Names(), ","); got != "first,second" {
		t.Errorf("Names = %s", got)
	}
	cat := set.Catalog()
	if !cat.Server.Has("urn:x") || !cat.Account.Has("urn:x:account") || len(cat.ServicesOf("example.org")) != 1 || len(cat.ServicesOf("other.org")) != 0 {
		t.Errorf("catalog %+v", cat)
	}

	r, alice, rec := installed(t, &set)
	send := func(xml string) *xmlstream.Element {
		st := xmpptest.Stanza(t, xml)
		st.From = alice
		r.FromClient(context.Background(), st)
		return rec.last(t)
	}
	if got := send(`<iq type='get' id='1' to='example.org'><q xmlns='urn:x'/></iq>`); got.ChildText("urn:test", "answer") != "get" {
		t.Errorf("get answered %s", got)
	}
	if got := send(`<iq type='set' id='2' to='example.org'><q xmlns='urn:x'/></iq>`); got.ChildText("urn:test", "answer") != "set" {
		t.Errorf("set answered %s", got)
	}
	if strings.Join(order, ",") != "first,second,first,second" {
		t.Errorf("interceptors ran %v, want in module order", order)
	}
	info := send(`<iq type='get' id='3' to='conference.example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	in, err := discoinfo.Parse(info.FirstChild())
	if err != nil || !in.Has("http://jabber.org/protocol/muc") || len(in.Identities) != 1 {
		t.Errorf("service disco#info %s (%v)", info, err)
	}
	if got := send(`<iq type='get' id='4' to='room@conference.example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`); got.Get("type") != "result" {
		t.Errorf("room disco#info %s", got)
	}
	send(`<message type='groupchat' to='room@conference.example.org'><body>hi</body></message>`)
	st := xmpptest.Stanza(t, `<iq type='result' id='5' to='conference.example.org'/>`)
	st.From = alice
	r.FromClient(context.Background(), st)
	want := []string{"iq get room@conference.example.org", "message groupchat room@conference.example.org", "iq result conference.example.org"}
	if strings.Join(seenBySvc, "|") != strings.Join(want, "|") {
		t.Errorf("the service saw\n%q\nwant\n%q", seenBySvc, want)
	}
}

// TestServiceErrors: a service's error goes back to the sender.
func TestServiceErrors(t *testing.T) {
	var set module.Set
	set.Add(fake{"svc", func(r *module.Registry) {
		r.Service(module.Service{Domain: "upload.example.org", Handler: module.HandlerFunc(func(context.Context, *stanza.Stanza) (*xmlstream.Element, error) {
			return nil, stanza.NewError(stanza.NotAcceptable, "too big")
		})})
	}})
	r, alice, rec := installed(t, &set)
	st := xmpptest.Stanza(t, `<iq type='get' id='1' to='upload.example.org'><request xmlns='urn:xmpp:http:upload:0'/></iq>`)
	st.From = alice
	r.FromClient(context.Background(), st)
	got := rec.last(t)
	if se := stanza.ParseError(got); se == nil || !errors.Is(se, &stanza.Error{Condition: stanza.NotAcceptable}) || got.Get("from") != "upload.example.org" {
		t.Errorf("reply %s, want not-acceptable from the service", got)
	}
}

// TestStops: shutdown steps come out named by their module, in module
// order.
func TestStops(t *testing.T) {
	var set module.Set
	var ran []string
	for _, name := range []string{"rooms", "push"} {
		set.Add(fake{name, func(r *module.Registry) {
			r.Stop("tell", func(context.Context) error { ran = append(ran, name); return nil })
		}})
	}
	var names []string
	for _, s := range set.Stops() {
		names = append(names, s.Name)
		if err := s.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Join(names, ",") != "rooms/tell,push/tell" || strings.Join(ran, ",") != "rooms,push" {
		t.Errorf("stops %v ran %v", names, ran)
	}
}

func TestPageHeaders(t *testing.T) {
	h := http.Header{}
	module.PageHeaders(h)
	for _, tc := range []struct{ name, want string }{
		{"Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"},
		{"X-Content-Type-Options", "nosniff"},
		{"Referrer-Policy", "no-referrer"},
		{"Cache-Control", "no-store"},
	} {
		if got := h.Get(tc.name); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}
