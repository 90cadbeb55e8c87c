package im

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestStoredItemRoundTrip(t *testing.T) {
	for _, it := range []StoredItem{
		{Name: "Bob", Groups: []string{"Family", "Friends"}, Subscription: "both", InRoster: true},
		{Subscription: "none", Ask: true, Approved: true, InRoster: true},
		{Subscription: "none", PendingIn: true, Request: []byte(`<presence xmlns="jabber:client" type="subscribe"/>`)},
		{Subscription: "from", InRoster: false},
	} {
		b, err := it.Encode()
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeStoredItem(b)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(it, got); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	}
	if b, err := (StoredItem{Subscription: "none"}).Encode(); err != nil || b != nil {
		t.Errorf("an empty item encodes to %q, %v; want nothing", b, err)
	}
	for _, bad := range []StoredItem{{Subscription: "remove"}, {}} {
		if _, err := bad.Encode(); err == nil {
			t.Errorf("%+v encoded", bad)
		}
	}
	if _, err := DecodeStoredItem([]byte(`{"s":9}`)); err == nil {
		t.Error("subscription 9 decoded")
	}
}
