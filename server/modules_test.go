package server

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"roost/admin"
	"roost/discoinfo"
	"roost/internal/client"
	"roost/module/disco"
	"roost/module/last"
	"roost/module/register"
	"roost/stanza"
	"roost/store"
	"roost/xmlstream"
)

// iq sends an IQ and returns the answer with its id, skipping whatever
// else arrives meanwhile (presence, pushes).
func iq(t *testing.T, c *client.Conn, typ, to string, payload *xmlstream.Element) *xmlstream.Element {
	t.Helper()
	id := fmt.Sprintf("t%d", time.Now().UnixNano())
	el := xmlstream.New(xmlstream.NSClient, "iq").SetAttr("type", typ).SetAttr("id", id)
	if to != "" {
		el.SetAttr("to", to)
	}
	if err := c.Send(el.Append(payload)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	for {
		got, err := c.Recv()
		if err != nil {
			t.Fatalf("waiting for the answer to %s: %v", el, err)
		}
		if got.Is(xmlstream.NSClient, "iq") && got.Get("id") == id {
			return got
		}
	}
}

// recvMatching reads until f accepts a stanza.
func recvMatching(t *testing.T, c *client.Conn, f func(*xmlstream.Element) bool) *xmlstream.Element {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	for {
		got, err := c.Recv()
		if err != nil {
			t.Fatalf("waiting for a stanza: %v", err)
		}
		if f(got) {
			return got
		}
	}
}

func addUsers(t *testing.T, r *running, users ...string) {
	t.Helper()
	adm := admin.Client{Path: r.cfg.Admin.Socket}
	for _, u := range users {
		if err := adm.AddUser(context.Background(), u, u+"-secret"); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDiscoAndCaps: the server advertises exactly what the mux serves,
// and the caps in the stream features match its disco#info.
func TestDiscoAndCaps(t *testing.T) {
	r := start(t, t.TempDir())
	addUsers(t, r, "alice")
	c, err := r.login(t, "alice@example.org/laptop", "alice-secret")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	info := iq(t, c, "get", "example.org", xmlstream.New(disco.NSInfo, "query"))
	parsed, err := discoinfo.Parse(info.FirstChild())
	if err != nil {
		t.Fatal(err)
	}
	features := parsed.Features
	want := []string{
		"http://jabber.org/protocol/commands",
		"http://jabber.org/protocol/disco#info", "http://jabber.org/protocol/disco#items",
		"http://jabber.org/protocol/pubsub#publish-options",
		"jabber:iq:last", "jabber:iq:private", "jabber:iq:register", "jabber:iq:version",
		"msgoffline", "urn:xmpp:blocking", "urn:xmpp:carbons:2", "urn:xmpp:ping", "vcard-temp",
	}
	if !slices.Equal(features, want) {
		t.Errorf("features\n%v\nwant\n%v", features, want)
	}
	// Every advertised IQ namespace has a handler.
	served := map[string]bool{"msgoffline": true, "http://jabber.org/protocol/pubsub#publish-options": true}
	for _, n := range r.srv.modules.IQs() {
		served[n.Space] = true
	}
	for _, f := range features {
		if !served[f] {
			t.Errorf("%s is advertised but nothing serves it", f)
		}
	}
	// And every IQ namespace served is advertised, on the server or on
	// the account, but the roster, which RFC 6121 makes part of every
	// server, and pubsub#owner, which XEP-0060 advertises through its
	// pubsub# features.
	account := iq(t, c, "get", "", xmlstream.New(disco.NSInfo, "query"))
	accInfo, err := discoinfo.Parse(account.FirstChild())
	if err != nil {
		t.Fatal(err)
	}
	for n := range served {
		if !slices.Contains(features, n) && !slices.Contains(accInfo.Features, n) &&
			n != "jabber:iq:roster" && n != "http://jabber.org/protocol/pubsub#owner" {
			t.Errorf("%s is served but not advertised", n)
		}
	}
	caps := c.Features.Child(disco.NSCaps, "c")
	if caps == nil {
		t.Fatalf("no caps in the stream features %s", c.Features)
	}
	if got, err := parsed.Ver(); err != nil || got != caps.Get("ver") {
		t.Errorf("caps ver %s, disco#info hashes to %s (%v)", caps.Get("ver"), got, err)
	}
}

// TestVCardSurvivesRestart: a vCard set by one user is read by another,
// also after the server restarts.
func TestVCardSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	r := start(t, dir)
	addUsers(t, r, "alice", "bob")
	alice, err := r.login(t, "alice@example.org/laptop", "alice-secret")
	if err != nil {
		t.Fatal(err)
	}
	card := xmlstream.New("vcard-temp", "vCard").Append(xmlstream.New("vcard-temp", "FN").AppendText("Alice Liddell"))
	if res := iq(t, alice, "set", "", card); res.Get("type") != "result" {
		t.Fatalf("vCard set: %s", res)
	}
	_ = alice.Close()
	r.stop(t)

	r = start(t, dir)
	bob, err := r.login(t, "bob@example.org/phone", "bob-secret")
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	res := iq(t, bob, "get", "alice@example.org", xmlstream.New("vcard-temp", "vCard"))
	if got := res.FirstChild().ChildText("vcard-temp", "FN"); res.Get("type") != "result" || got != "Alice Liddell" {
		t.Fatalf("bob reads %s", res)
	}
}

// TestBlockingEndToEnd: a block stops messages both ways with the XEP-0191
// errors, and is forgotten with the account.
func TestBlockingEndToEnd(t *testing.T) {
	r := start(t, t.TempDir())
	addUsers(t, r, "alice", "bob")
	alice, err := r.login(t, "alice@example.org/laptop", "alice-secret")
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	bob, err := r.login(t, "bob@example.org/phone", "bob-secret")
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	block := xmlstream.New("urn:xmpp:blocking", "block").Append(xmlstream.New("urn:xmpp:blocking", "item").SetAttr("jid", "bob@example.org"))
	if res := iq(t, alice, "set", "", block); res.Get("type") != "result" {
		t.Fatalf("block: %s", res)
	}
	msg := func(to string) *xmlstream.Element {
		return xmlstream.New(xmlstream.NSClient, "message").SetAttr("to", to).SetAttr("type", "chat").SetAttr("id", "m-"+to).
			Append(xmlstream.New(xmlstream.NSClient, "body").AppendText("hello"))
	}
	if err := bob.Send(msg("alice@example.org")); err != nil {
		t.Fatal(err)
	}
	e := recvMatching(t, bob, func(el *xmlstream.Element) bool { return el.Is(xmlstream.NSClient, "message") })
	if se := stanza.ParseError(e); e.Get("type") != "error" || se.Condition != stanza.ServiceUnavailable {
		t.Errorf("bob writing to alice got %s", e)
	}
	if err := alice.Send(msg("bob@example.org")); err != nil {
		t.Fatal(err)
	}
	e = recvMatching(t, alice, func(el *xmlstream.Element) bool { return el.Is(xmlstream.NSClient, "message") })
	if se := stanza.ParseError(e); e.Get("type") != "error" || se.Condition != stanza.NotAcceptable || !se.App.Is("urn:xmpp:blocking:errors", "blocked") {
		t.Errorf("alice writing to bob got %s", e)
	}

	// Deleted and made again, alice starts with an empty list.
	_ = alice.Close()
	again := recreate(t, r, "alice@example.org/laptop")
	defer again.Close()
	res := iq(t, again, "get", "", xmlstream.New("urn:xmpp:blocking", "blocklist"))
	if res.Get("type") != "result" || res.FirstChild().FirstChild() != nil {
		t.Errorf("a recreated account inherits the old block list: %s", res)
	}
}

// TestLastActivityAfterLogout: the account's last logout is recorded
// and served to the account itself.
func TestLastActivityAfterLogout(t *testing.T) {
	r := start(t, t.TempDir())
	addUsers(t, r, "alice")
	c, err := r.login(t, "alice@example.org/laptop", "alice-secret")
	if err != nil {
		t.Fatal(err)
	}
	bye := xmlstream.New(xmlstream.NSClient, "presence").SetAttr("type", "unavailable").
		Append(xmlstream.New(xmlstream.NSClient, "status").AppendText("gone fishing"))
	if err := c.Send(xmlstream.New(xmlstream.NSClient, "presence")); err != nil {
		t.Fatal(err)
	}
	if err := c.Send(bye); err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	// A second session that never becomes available asks.
	var res *xmlstream.Element
	for range 50 {
		c2, err := r.login(t, "alice@example.org/desk", "alice-secret")
		if err != nil {
			t.Fatal(err)
		}
		res = iq(t, c2, "get", "alice@example.org", xmlstream.New("jabber:iq:last", "query"))
		_ = c2.Close()
		if res.Get("type") == "result" {
			break
		}
		time.Sleep(100 * time.Millisecond) // the first session may still be ending
	}
	if q := res.FirstChild(); res.Get("type") != "result" || q.Text() != "gone fishing" || q.Get("seconds") == "" {
		t.Fatalf("last activity: %s", res)
	}
}

func TestAdapters(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "roost.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := (lastStore{st}).SetLastActivities([]last.Logout{{User: "gone@example.org", At: time.Now()}}); err != nil {
		t.Errorf("recording the last activity of a deleted account: %v, want nil", err)
	}
	tests := []struct {
		in   error
		want error
	}{
		{nil, nil},
		{fmt.Errorf("%w: alice@example.org", ErrUserExists), register.ErrExists},
		{ErrWeakPassword, register.ErrWeakPassword},
		{fmt.Errorf("%w: x", ErrBadUser), register.ErrBadUser},
		{ErrNoSuchUser, ErrNoSuchUser},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.in), func(t *testing.T) {
			got := registerErr(tc.in)
			if !errors.Is(got, tc.want) || (tc.in != nil && !errors.Is(got, tc.in)) {
				t.Errorf("registerErr(%v) = %v, want it to match %v", tc.in, got, tc.want)
			}
		})
	}
}
