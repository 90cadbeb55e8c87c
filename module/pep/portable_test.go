package pep

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"roost/xmlstream"
)

func TestNodeFormRoundTrip(t *testing.T) {
	for _, c := range []config{
		defaultConfig(),
		bookmarksConfig(),
		{Title: "Notes & things", Description: "d", Type: "urn:example", Access: accessRoster, Groups: []string{"Family", "Friends"},
			MaxItems: 20, Persist: true, SendLast: sendOnSub, Notify: true, Normal: true},
	} {
		n := newNode(c)
		n.Affs = map[string]string{"bob@example.org": affMember, "eve@example.org": affOutcast}
		n.Subs = []string{"bob@example.org", "carol@example.org/phone"}
		conf, affs, subs, err := NodeForm(n.encode())
		if err != nil {
			t.Fatal(err)
		}
		rec, skipped, err := NodeRecord(conf, affs, subs)
		if err != nil || len(skipped) > 0 {
			t.Fatalf("NodeRecord = %v, %v", skipped, err)
		}
		if diff := cmp.Diff(string(n.encode()), string(rec)); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	}
}

// TestNodeRecordProsody reads a node as Prosody 0.12's xep0227 driver
// writes it: every field listed, only the changed ones with a value.
func TestNodeRecordProsody(t *testing.T) {
	conf, err := xmlstream.Parse([]byte(`<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#node_config</value></field><field var='pubsub#title' type='text-single'/><field var='pubsub#max_items' type='text-single'><value>10</value></field><field var='pubsub#persist_items' type='boolean'/><field var='pubsub#access_model' type='list-single'><value>open</value></field><field var='pubsub#publish_model' type='list-single'/><field var='pubsub#send_last_published_item' type='list-single'/><field var='pubsub#deliver_notifications' type='boolean'><value>1</value></field><field var='pubsub#notify_retract' type='boolean'><value>1</value></field><field var='pubsub#itemreply' type='list-single'><value>owner</value></field></x>`), xmlstream.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	rec, skipped, err := NodeRecord(conf, map[string]string{"alice@example.org": "owner", "x@example.org": "publish-only"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{`affiliation "publish-only" of x@example.org`}, skipped); diff != "" {
		t.Errorf("skipped (-want +got):\n%s", diff)
	}
	n, err := decodeNode(rec)
	if err != nil {
		t.Fatal(err)
	}
	want := defaultConfig()
	want.MaxItems, want.Access = 10, accessOpen
	if diff := cmp.Diff(want, n.Config); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	if n.Affs != nil {
		t.Errorf("affiliations %v, want none (the owner is implicit)", n.Affs)
	}
	// An access model PEP does not offer keeps the default, said so.
	conf, _ = xmlstream.Parse([]byte(`<x xmlns='jabber:x:data' type='submit'><field var='pubsub#access_model'><value>authorize</value></field></x>`), xmlstream.Limits{})
	rec, skipped, err = NodeRecord(conf, nil, nil)
	if n, _ := decodeNode(rec); err != nil || len(skipped) != 1 || n.Config.Access != accessPresence {
		t.Errorf("authorize: %s, %v, %v", rec, skipped, err)
	}
	if rec, skipped, err := NodeRecord(nil, nil, nil); err != nil || len(skipped) > 0 || string(rec) != string(newNode(defaultConfig()).encode()) {
		t.Errorf("no form: %s, %v, %v", rec, skipped, err)
	}
}
