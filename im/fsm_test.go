package im

import (
	"strings"
	"testing"
)

// state parses the notation of RFC 6121 Appendix A: "None", "None + Pending
// Out" (written "None+PO"), "To+PI", "Both", with "+Pre" for a pre-approval.
func state(t *testing.T, s string) item {
	t.Helper()
	var it item
	parts := strings.Split(s, "+")
	switch parts[0] {
	case "None":
	case "To":
		it.Sub = subTo
	case "From":
		it.Sub = subFrom
	case "Both":
		it.Sub = subBoth
	default:
		t.Fatalf("bad state %q", s)
	}
	for _, p := range parts[1:] {
		switch p {
		case "PO":
			it.Ask = true
		case "PI":
			it.PendingIn, it.Request = true, []byte("<presence type='subscribe'/>")
		case "Pre":
			it.Approved = true
		default:
			t.Fatalf("bad state %q", s)
		}
	}
	return it
}

func notation(it item) string {
	s := map[sub]string{subNone: "None", subTo: "To", subFrom: "From", subBoth: "Both"}[it.Sub]
	if it.Ask {
		s += "+PO"
	}
	if it.PendingIn {
		s += "+PI"
	}
	if it.Approved {
		s += "+Pre"
	}
	return s
}

// TestOutbound is Appendix A.2: what the user's server does with
// subscription stanzas the user sends. route: the stanza goes on to the
// contact.
func TestOutbound(t *testing.T) {
	tests := []struct {
		typ, from, to string
		route         bool
	}{
		// A.2.1 subscribe (always routed, see outbound)
		{"subscribe", "None", "None+PO", true},
		{"subscribe", "None+PO", "None+PO", true},
		{"subscribe", "None+PI", "None+PO+PI", true},
		{"subscribe", "None+PO+PI", "None+PO+PI", true},
		{"subscribe", "To", "To", true},
		{"subscribe", "To+PI", "To+PI", true},
		{"subscribe", "From", "From+PO", true},
		{"subscribe", "From+PO", "From+PO", true},
		{"subscribe", "Both", "Both", true},
		// A.2.2 unsubscribe
		{"unsubscribe", "None", "None", false},
		{"unsubscribe", "None+PO", "None", true},
		{"unsubscribe", "None+PI", "None+PI", false},
		{"unsubscribe", "None+PO+PI", "None+PI", true},
		{"unsubscribe", "To", "None", true},
		{"unsubscribe", "To+PI", "None+PI", true},
		{"unsubscribe", "From", "From", false},
		{"unsubscribe", "From+PO", "From", true},
		{"unsubscribe", "Both", "From", true},
		// A.2.3 subscribed (pre-approval where nothing is pending, §3.4)
		{"subscribed", "None", "None+Pre", false},
		{"subscribed", "None+PO", "None+PO+Pre", false},
		{"subscribed", "None+PI", "From", true},
		{"subscribed", "None+PO+PI", "From+PO", true},
		{"subscribed", "To", "To+Pre", false},
		{"subscribed", "To+PI", "Both", true},
		{"subscribed", "From", "From", false},
		{"subscribed", "From+PO", "From+PO", false},
		{"subscribed", "Both", "Both", false},
		// A.2.4 unsubscribed
		{"unsubscribed", "None", "None", false},
		{"unsubscribed", "None+PO", "None+PO", false},
		{"unsubscribed", "None+PI", "None", true},
		{"unsubscribed", "None+PO+PI", "None+PO", true},
		{"unsubscribed", "To", "To", false},
		{"unsubscribed", "To+PI", "To", true},
		{"unsubscribed", "From", "None", true},
		{"unsubscribed", "From+PO", "None+PO", true},
		{"unsubscribed", "Both", "To", true},
		// Denying cancels a pre-approval.
		{"unsubscribed", "None+Pre", "None", false},
		{"unsubscribed", "To+Pre", "To", false},
	}
	for _, tc := range tests {
		t.Run(tc.typ+" in "+tc.from, func(t *testing.T) {
			got, o := outbound(state(t, tc.from), tc.typ)
			if notation(got) != tc.to || o.route != tc.route {
				t.Errorf("got %s route=%v, want %s route=%v", notation(got), o.route, tc.to, tc.route)
			}
			if o.changed != (tc.from != tc.to || tc.typ == "subscribe" && !state(t, tc.from).InRoster) {
				t.Errorf("changed = %v", o.changed)
			}
		})
	}
}

// TestInbound is Appendix A.3: what the user's server does with
// subscription stanzas a contact sends to the user. deliver: the stanza
// goes to the user.
func TestInbound(t *testing.T) {
	tests := []struct {
		typ, from, to string
		deliver       bool
		autoReply     string
	}{
		// A.3.1 subscribe
		{"subscribe", "None", "None+PI", true, ""},
		{"subscribe", "None+PO", "None+PO+PI", true, ""},
		{"subscribe", "None+PI", "None+PI", false, ""},
		{"subscribe", "None+PO+PI", "None+PO+PI", false, ""},
		{"subscribe", "To", "To+PI", true, ""},
		{"subscribe", "To+PI", "To+PI", false, ""},
		{"subscribe", "From", "From", false, "subscribed"},
		{"subscribe", "From+PO", "From+PO", false, "subscribed"},
		{"subscribe", "Both", "Both", false, "subscribed"},
		// ... with a pre-approval (§3.4)
		{"subscribe", "None+Pre", "From", false, "subscribed"},
		{"subscribe", "None+PO+Pre", "From+PO", false, "subscribed"},
		{"subscribe", "To+Pre", "Both", false, "subscribed"},
		// A.3.2 unsubscribe
		{"unsubscribe", "None", "None", false, ""},
		{"unsubscribe", "None+PO", "None+PO", false, ""},
		{"unsubscribe", "None+PI", "None", true, ""},
		{"unsubscribe", "None+PO+PI", "None+PO", true, ""},
		{"unsubscribe", "To", "To", false, ""},
		{"unsubscribe", "To+PI", "To", true, ""},
		{"unsubscribe", "From", "None", true, ""},
		{"unsubscribe", "From+PO", "None+PO", true, ""},
		{"unsubscribe", "Both", "To", true, ""},
		// A.3.3 subscribed
		{"subscribed", "None", "None", false, ""},
		{"subscribed", "None+PO", "To", true, ""},
		{"subscribed", "None+PI", "None+PI", false, ""},
		{"subscribed", "None+PO+PI", "To+PI", true, ""},
		{"subscribed", "To", "To", false, ""},
		{"subscribed", "To+PI", "To+PI", false, ""},
		{"subscribed", "From", "From", false, ""},
		{"subscribed", "From+PO", "Both", true, ""},
		{"subscribed", "Both", "Both", false, ""},
		// A.3.4 unsubscribed
		{"unsubscribed", "None", "None", false, ""},
		{"unsubscribed", "None+PO", "None", true, ""},
		{"unsubscribed", "None+PI", "None+PI", false, ""},
		{"unsubscribed", "None+PO+PI", "None+PI", true, ""},
		{"unsubscribed", "To", "None", true, ""},
		{"unsubscribed", "To+PI", "None+PI", true, ""},
		{"unsubscribed", "From", "From", false, ""},
		{"unsubscribed", "From+PO", "From", true, ""},
		{"unsubscribed", "Both", "From", true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.typ+" in "+tc.from, func(t *testing.T) {
			got, o := inbound(state(t, tc.from), tc.typ, []byte("<presence/>"))
			if notation(got) != tc.to || o.route != tc.deliver || o.autoReply != tc.autoReply {
				t.Errorf("got %s deliver=%v reply=%q, want %s deliver=%v reply=%q",
					notation(got), o.route, o.autoReply, tc.to, tc.deliver, tc.autoReply)
			}
			if o.changed != (tc.from != tc.to) {
				t.Errorf("changed = %v", o.changed)
			}
			if got.PendingIn && len(got.Request) == 0 {
				t.Error("a pending request was not kept for redelivery")
			}
			if !got.PendingIn && len(got.Request) != 0 {
				t.Error("a request was kept without being pending")
			}
		})
	}
}

func TestItemEncoding(t *testing.T) {
	it := item{Name: "Romeo", Groups: []string{"Friends", "Verona"}, Sub: subBoth, Ask: true, InRoster: true}
	b, err := it.encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := decodeItem(b)
	if err != nil || !same(it, back) {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
	if b, _ := (item{}).encode(); b != nil {
		t.Errorf("an empty item encodes to %q, want nil (deleted)", b)
	}
	got := it.element("romeo@example.net").String()
	want := `<item xmlns="jabber:iq:roster" jid="romeo@example.net" name="Romeo" subscription="both" ask="subscribe"><group>Friends</group><group>Verona</group></item>`
	if got != want {
		t.Errorf("element:\ngot  %s\nwant %s", got, want)
	}
}
