package adhoc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"roost/form"
	"roost/internal/xmpptest"
	"roost/jid"
	"roost/module"
	"roost/stanza"
	"roost/xmlstream"
)

const (
	nodeHello = "urn:test#hello"
	nodeEcho  = "urn:test#echo"
	nodeAdmin = "urn:test#admin"
)

func testCommands() []module.Command {
	return []module.Command{
		{Node: nodeHello, Name: "Hello", Run: func(_ context.Context, req jid.JID, _ *form.Form) (module.CommandResult, error) {
			return module.CommandResult{Note: "hello " + req.Bare().String()}, nil
		}},
		{Node: nodeEcho, Name: "Echo", Run: func(_ context.Context, _ jid.JID, f *form.Form) (module.CommandResult, error) {
			if f == nil {
				return module.CommandResult{Form: form.New(form.TypeForm, "").Add(form.Field{Var: "text", Type: form.TextSingle})}, nil
			}
			if f.Value("text") == "fail" {
				return module.CommandResult{}, errors.New("disk on fire")
			}
			if f.Value("text") == "" {
				return module.CommandResult{}, stanza.NewError(stanza.NotAcceptable, "say something")
			}
			return module.CommandResult{Note: "you said " + f.Value("text")}, nil
		}},
		{Node: nodeAdmin, Name: "Admin only",
			Allowed: func(_ context.Context, req jid.JID) bool { return req.Local() == "mum" },
			Run: func(context.Context, jid.JID, *form.Form) (module.CommandResult, error) {
				return module.CommandResult{Note: "done"}, nil
			}},
	}
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newTest(t *testing.T) (*Module, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)}
	return New(Options{Commands: testCommands(), Domains: []string{"home.test"}, Now: c.now, MaxSessions: 2, SessionTimeout: time.Minute}), c
}

// run sends a command IQ and returns the <command/> of the result, or
// the error.
func run(t *testing.T, m *Module, from, to, attrs, payload string) (*xmlstream.Element, error) {
	t.Helper()
	st := xmpptest.Stanza(t, fmt.Sprintf(`<iq type='set' id='c1' from='%s' to='%s'><command xmlns='%s' %s>%s</command></iq>`, from, to, NS, attrs, payload))
	reply, err := m.HandleStanza(context.Background(), st)
	if err != nil {
		return nil, err
	}
	if reply.Get("type") != "result" {
		t.Fatalf("reply %s is not a result", reply)
	}
	c := reply.Child(NS, "command")
	if c == nil {
		t.Fatalf("reply %s has no command", reply)
	}
	return c, nil
}

const submitText = `<x xmlns='jabber:x:data' type='submit'><field var='text'><value>%s</value></field></x>`

// wantErr checks a stanza error's condition and XEP-0050 condition.
func wantErr(t *testing.T, err error, cond stanza.Condition, specific string) {
	t.Helper()
	var se *stanza.Error
	if !errors.As(err, &se) || se.Condition != cond {
		t.Fatalf("error %v, want %s", err, cond)
	}
	got := ""
	if se.App != nil {
		got = se.App.Name.Local
		if se.App.Name.Space != NS {
			t.Errorf("specific condition in %q, want %q", se.App.Name.Space, NS)
		}
	}
	if got != specific {
		t.Fatalf("specific condition %q, want %q", got, specific)
	}
}

func TestCommandList(t *testing.T) {
	m, _ := newTest(t)
	tests := []struct {
		requester string
		want      []string
	}{
		{"mum@home.test/phone", []string{nodeHello, nodeEcho, nodeAdmin}},
		{"kid@home.test/tablet", []string{nodeHello, nodeEcho}},
		{"stranger@elsewhere.test/x", nil},
	}
	for _, tt := range tests {
		t.Run(tt.requester, func(t *testing.T) {
			items, ok := m.NodeItems(context.Background(), jid.MustParse(tt.requester), NS)
			if !ok {
				t.Fatal("the command list node is not served")
			}
			var got []string
			for _, it := range items {
				got = append(got, it.Node)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("commands %v, want %v", got, tt.want)
			}
			_, ok = m.NodeInfo(context.Background(), jid.MustParse(tt.requester), nodeAdmin)
			if ok != slices.Contains(tt.want, nodeAdmin) {
				t.Fatalf("disco#info of the admin node answered %v", ok)
			}
		})
	}
	info, ok := m.NodeInfo(context.Background(), jid.MustParse("kid@home.test/tablet"), nodeEcho)
	if !ok || len(info.Identities) != 1 || info.Identities[0].Type != "command-node" || !info.Has(NS) || !info.Has(form.NS) {
		t.Fatalf("disco#info of a command node: %+v", info)
	}
	if _, ok := m.NodeItems(context.Background(), jid.MustParse("kid@home.test/tablet"), "urn:nothing"); ok {
		t.Fatal("an unknown node is served")
	}
}

func TestSingleStage(t *testing.T) {
	m, _ := newTest(t)
	c, err := run(t, m, "kid@home.test/tablet", "home.test", fmt.Sprintf("node='%s' action='execute'", nodeHello), "")
	if err != nil {
		t.Fatal(err)
	}
	if c.Get("status") != StatusCompleted || c.Get("sessionid") == "" || c.ChildText(NS, "note") != "hello kid@home.test" {
		t.Fatalf("reply %s: want completed with the note", c)
	}
	if m.Waiting() != 0 {
		t.Fatalf("%d sessions wait after a one-stage command", m.Waiting())
	}
}

func TestTwoStages(t *testing.T) {
	m, _ := newTest(t)
	from := "kid@home.test/tablet"
	c, err := run(t, m, from, "home.test", fmt.Sprintf("node='%s'", nodeEcho), "")
	if err != nil {
		t.Fatal(err)
	}
	id := c.Get("sessionid")
	if c.Get("status") != StatusExecuting || id == "" {
		t.Fatalf("first stage %s: want executing with a session", c)
	}
	if a := c.Child(NS, "actions"); a == nil || a.Get("execute") != ActionComplete || a.Child(NS, ActionComplete) == nil {
		t.Fatalf("first stage %s: want actions with complete", c)
	}
	if x := c.Child(form.NS, "x"); x == nil || x.Get("type") != form.TypeForm {
		t.Fatalf("first stage %s: want a form", c)
	}
	attrs := fmt.Sprintf("node='%s' sessionid='%s' action='complete'", nodeEcho, id)

	// Another resource of the same account cannot continue it.
	_, err = run(t, m, "kid@home.test/laptop", "home.test", attrs, fmt.Sprintf(submitText, "hi"))
	wantErr(t, err, stanza.BadRequest, "bad-sessionid")

	c, err = run(t, m, from, "home.test", attrs, fmt.Sprintf(submitText, "hi"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Get("status") != StatusCompleted || c.Get("sessionid") != id || c.ChildText(NS, "note") != "you said hi" {
		t.Fatalf("second stage %s: want completed with the note", c)
	}
	// A session is used once.
	_, err = run(t, m, from, "home.test", attrs, fmt.Sprintf(submitText, "again"))
	wantErr(t, err, stanza.BadRequest, "bad-sessionid")
}

func TestStageErrors(t *testing.T) {
	tests := []struct {
		name     string
		from     string
		attrs    string // %s is the session ID
		payload  string
		cond     stanza.Condition
		specific string
		keeps    bool // the session still waits afterwards
	}{
		{"no form", "kid@home.test/tablet", "action='complete' sessionid='%s'", "", stanza.BadRequest, "bad-payload", true},
		{"form not submitted", "kid@home.test/tablet", "action='complete' sessionid='%s'", `<x xmlns='jabber:x:data' type='form'/>`, stanza.BadRequest, "bad-payload", true},
		{"malformed form", "kid@home.test/tablet", "action='complete' sessionid='%s'", `<x xmlns='jabber:x:data' type='submit'><field var='text'/><field var='text'/></x>`, stanza.BadRequest, "", false},
		{"prev", "kid@home.test/tablet", "action='prev' sessionid='%s'", "", stanza.BadRequest, "bad-action", true},
		{"unknown action", "kid@home.test/tablet", "action='jump' sessionid='%s'", "", stanza.BadRequest, "malformed-action", true},
		{"forged session", "kid@home.test/tablet", "action='complete' sessionid='x%s'", fmt.Sprintf(submitText, "a"), stanza.BadRequest, "bad-sessionid", true},
		{"command's own error", "kid@home.test/tablet", "action='complete' sessionid='%s'", fmt.Sprintf(submitText, ""), stanza.NotAcceptable, "", false},
		{"internal failure", "kid@home.test/tablet", "action='complete' sessionid='%s'", fmt.Sprintf(submitText, "fail"), stanza.InternalServerError, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := newTest(t)
			c, err := run(t, m, "kid@home.test/tablet", "home.test", fmt.Sprintf("node='%s'", nodeEcho), "")
			if err != nil {
				t.Fatal(err)
			}
			_, err = run(t, m, tt.from, "home.test", fmt.Sprintf("node='%s' ", nodeEcho)+fmt.Sprintf(tt.attrs, c.Get("sessionid")), tt.payload)
			wantErr(t, err, tt.cond, tt.specific)
			if got := m.Waiting() == 1; got != tt.keeps {
				t.Fatalf("session still waits: %v, want %v", got, tt.keeps)
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	tests := []struct {
		name, from, to, attrs string
		cond                  stanza.Condition
		specific              string
	}{
		{"not allowed", "kid@home.test/tablet", "home.test", "node='" + nodeAdmin + "'", stanza.Forbidden, ""},
		{"another server's user", "mum@elsewhere.test/x", "home.test", "node='" + nodeHello + "'", stanza.Forbidden, ""},
		{"unknown command", "mum@home.test/phone", "home.test", "node='urn:nothing'", stanza.ItemNotFound, ""},
		{"no node", "mum@home.test/phone", "home.test", "", stanza.ItemNotFound, ""},
		{"to an account", "mum@home.test/phone", "kid@home.test", "node='" + nodeHello + "'", stanza.ServiceUnavailable, ""},
		{"start with complete", "mum@home.test/phone", "home.test", "node='" + nodeEcho + "' action='complete'", stanza.BadRequest, "malformed-action"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := newTest(t)
			_, err := run(t, m, tt.from, tt.to, tt.attrs, "")
			wantErr(t, err, tt.cond, tt.specific)
		})
	}
	m, _ := newTest(t)
	c, err := run(t, m, "mum@home.test/phone", "home.test", "node='"+nodeAdmin+"'", "")
	if err != nil || c.ChildText(NS, "note") != "done" {
		t.Fatalf("the admin's command: %v, %v", c, err)
	}
}

func TestCancelAndExpiry(t *testing.T) {
	m, clk := newTest(t)
	from := "kid@home.test/tablet"
	start := func() string {
		c, err := run(t, m, from, "home.test", "node='"+nodeEcho+"'", "")
		if err != nil {
			t.Fatal(err)
		}
		return c.Get("sessionid")
	}
	id := start()
	c, err := run(t, m, from, "home.test", fmt.Sprintf("node='%s' sessionid='%s' action='cancel'", nodeEcho, id), "")
	if err != nil || c.Get("status") != StatusCanceled {
		t.Fatalf("cancel: %v, %v; want canceled", c, err)
	}
	if m.Waiting() != 0 {
		t.Fatal("a canceled session still waits")
	}

	id = start()
	clk.t = clk.t.Add(time.Minute)
	_, err = run(t, m, from, "home.test", fmt.Sprintf("node='%s' sessionid='%s' action='complete'", nodeEcho, id), fmt.Sprintf(submitText, "late"))
	wantErr(t, err, stanza.NotAllowed, "session-expired")

	// At most two wait per account: the oldest gives way.
	first := start()
	clk.t = clk.t.Add(time.Second)
	start()
	clk.t = clk.t.Add(time.Second)
	start()
	if m.Waiting() != 2 {
		t.Fatalf("%d sessions wait, want 2", m.Waiting())
	}
	_, err = run(t, m, from, "home.test", fmt.Sprintf("node='%s' sessionid='%s'", nodeEcho, first), fmt.Sprintf(submitText, "x"))
	wantErr(t, err, stanza.BadRequest, "bad-sessionid")
}

// FuzzHandleStanza: whatever a client sends in a command, the answer is
// a result or a stanza error.
func FuzzHandleStanza(f *testing.F) {
	f.Add("node='" + nodeEcho + "'")
	f.Add("node='" + nodeEcho + "' action='complete' sessionid='abc'><x xmlns='jabber:x:data' type='submit'/")
	f.Add("action='cancel'")
	f.Fuzz(func(t *testing.T, attrs string) {
		d := xmlstream.NewDecoder(strings.NewReader(`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'><iq type='set' id='f' from='kid@home.test/t' to='home.test'><command xmlns='`+NS+`' `+attrs+`></command></iq>`), xmlstream.Limits{})
		if _, err := d.ReadHeader(); err != nil {
			return
		}
		iq, err := d.ReadElement()
		if err != nil {
			return
		}
		st, err := stanza.Parse(iq)
		if err != nil || iq.Child(NS, "command") == nil {
			return
		}
		m, _ := newTest(t)
		for range 2 {
			reply, err := m.HandleStanza(context.Background(), &st)
			var se *stanza.Error
			if err != nil && !errors.As(err, &se) {
				t.Fatalf("error %v is no stanza error", err)
			}
			if err == nil && reply.Child(NS, "command") == nil {
				t.Fatalf("result %s has no command", reply)
			}
		}
	})
}
