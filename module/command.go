package module

import (
	"context"

	"roost/form"
	"roost/jid"
)

// Command is an ad-hoc command (XEP-0050) offered on the account domains,
// such as "add a user" (XEP-0133) or "create an invitation" (XEP-0401).
// A module declares it with [Registry.Command]; the module that serves
// the commands protocol lists it, checks Allowed, keeps the command's
// session and calls Run.
//
// A command has at most two stages, which is all XEP-0133 and XEP-0401
// need: Run is called with a nil form when the command is executed, and
// returns either a form to fill in (its Form of type "form") or the
// outcome at once; it is called again with the form the requester
// submitted, and returns the outcome.
type Command struct {
	// Node names the command (XEP-0050 §2.2).
	Node string
	// Name is the human-readable name in the command list.
	Name string
	// Allowed reports whether requester may see and run the command; the
	// commands protocol answers forbidden otherwise (XEP-0050 §4.6). Nil
	// allows every local account.
	Allowed func(ctx context.Context, requester jid.JID) bool
	// Run executes one stage for requester. A *stanza.Error it returns is
	// the answer (bad-request for a form it cannot use, ...).
	Run func(ctx context.Context, requester jid.JID, submitted *form.Form) (CommandResult, error)
}

// CommandResult is what one stage of a command produced.
type CommandResult struct {
	// Form is a form to fill in (type "form": the command goes on) or
	// data to show (type "result"); nil for none.
	Form *form.Form
	// Note is a message for the requester (XEP-0050 §3.4), of NoteType
	// "info" (the default), "warn" or "error".
	Note, NoteType string
}

// Next reports whether the command waits for a submitted form.
func (r CommandResult) Next() bool { return r.Form != nil && r.Form.Type == form.TypeForm }
