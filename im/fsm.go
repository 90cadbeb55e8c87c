package im

// The subscription state machine of RFC 6121 Appendix A. Each function
// takes the item the user holds for a contact and returns the new item and
// what the server must do. They are pure: the callers apply them inside a
// store transaction and act on the result afterwards.

// outcome says what a transition requires besides storing the item.
type outcome struct {
	changed bool // the item changed: store it, push it if in the roster
	route   bool // route the stanza on (outbound) or deliver it (inbound)
	// autoReply is a presence type the server sends back on the user's
	// behalf (inbound subscribe when already approved: "subscribed").
	autoReply string
	// sendPresence: the contact just got a subscription to the user: send
	// the user's current presence. sendUnavailable: it just lost it.
	sendPresence, sendUnavailable bool
}

// outbound applies a subscription stanza the user sends to the contact
// (Appendix A.2).
func outbound(it item, typ string) (item, outcome) {
	old := it
	var o outcome
	switch typ {
	case "subscribe": // A.2.1
		if !it.Sub.hasTo() {
			it.Ask = true
		}
		it.InRoster = true
		// The request is routed in every state: a contact's server that
		// already approved answers subscribed again, which heals a roster
		// that got out of step (§3.1.2).
		o.route = true
	case "unsubscribe": // A.2.2
		o.route = it.Sub.hasTo() || it.Ask
		it.Sub, it.Ask = it.Sub.withTo(false), false
	case "subscribed": // A.2.3
		switch {
		case it.Sub.hasFrom():
			// Already approved: nothing to say.
		case it.PendingIn:
			it.Sub, it.PendingIn, it.Request, it.Approved = it.Sub.withFrom(true), false, nil, false
			it.InRoster = true
			o.route, o.sendPresence = true, true
		default:
			// No request to approve: a pre-approval (§3.4), not routed.
			it.Approved = true
		}
	case "unsubscribed": // A.2.4
		switch {
		case it.Sub.hasFrom():
			it.Sub = it.Sub.withFrom(false)
			o.route, o.sendUnavailable = true, true
		case it.PendingIn:
			it.PendingIn, it.Request = false, nil
			o.route = true
		}
		// Denying also cancels a pre-approval (§3.4).
		it.Approved = false
	}
	o.changed = !same(old, it)
	return it, o
}

// inbound applies a subscription stanza the contact sends to the user
// (Appendix A.3). request is the serialised stanza, kept for a subscribe
// that waits for the user.
func inbound(it item, typ string, request []byte) (item, outcome) {
	old := it
	var o outcome
	switch typ {
	case "subscribe": // A.3.1
		switch {
		case it.Sub.hasFrom():
			o.autoReply = "subscribed"
		case it.Approved:
			it.Sub, it.Approved = it.Sub.withFrom(true), false
			o.autoReply, o.sendPresence = "subscribed", true
		case !it.PendingIn:
			it.PendingIn, it.Request = true, request
			o.route = true
		}
	case "unsubscribe": // A.3.2: the contact no longer wants our presence
		if it.Sub.hasFrom() || it.PendingIn {
			it.Sub, it.PendingIn, it.Request = it.Sub.withFrom(false), false, nil
			o.route = true
		}
	case "subscribed": // A.3.3: the contact approved our request
		if it.Ask {
			it.Sub, it.Ask = it.Sub.withTo(true), false
			o.route = true
		}
	case "unsubscribed": // A.3.4: the contact denied or revoked
		if it.Sub.hasTo() || it.Ask {
			it.Sub, it.Ask = it.Sub.withTo(false), false
			o.route = true
		}
	}
	o.changed = !same(old, it)
	return it, o
}

func same(a, b item) bool {
	if a.Name != b.Name || a.Sub != b.Sub || a.Ask != b.Ask || a.PendingIn != b.PendingIn ||
		a.Approved != b.Approved || a.InRoster != b.InRoster || string(a.Request) != string(b.Request) ||
		len(a.Groups) != len(b.Groups) {
		return false
	}
	for i := range a.Groups {
		if a.Groups[i] != b.Groups[i] {
			return false
		}
	}
	return true
}
