package invite

import (
	"context"
	"fmt"
	"time"

	"roost/form"
	"roost/jid"
	"roost/module"
	"roost/stanza"
)

// runInvite is the contact invitation command (XEP-0401 §5.1): any account
// gets a link at once, with no form. Someone who may make accounts gets a
// link that also makes one (ibr=y); anyone else a link for people who
// have an account elsewhere (XEP-0379).
func (m *Module) runInvite(ctx context.Context, requester jid.JID, _ *form.Form) (module.CommandResult, error) {
	return m.commandInvite(ctx, requester, Params{Inviter: requester.Bare().String(), Register: m.mayCreateAccounts(ctx, requester)})
}

// runCreateAccount is the account invitation command (XEP-0401 §5.5):
// a form (a name to reserve, whether the new account and the requester
// become contacts, and for admins whether it is an admin), then the link.
func (m *Module) runCreateAccount(ctx context.Context, requester jid.JID, submitted *form.Form) (module.CommandResult, error) {
	admin, _ := m.accounts.IsAdmin(ctx, requester.Bare().String())
	if submitted == nil {
		f := form.New(form.TypeForm, "")
		f.Title = "Invite someone to make an account"
		f.Instructions = []string{"Leave the user name empty to let them choose it."}
		f.Add(
			form.Field{Var: "username", Type: form.TextSingle, Label: "User name"},
			form.Field{Var: "roster-subscription", Type: form.Boolean, Label: "Add them to my contacts", Values: []string{"1"}},
		)
		if admin {
			f.Add(form.Field{Var: "admin", Type: form.Boolean, Label: "Make them an admin of this server", Values: []string{"0"}})
		}
		return module.CommandResult{Form: f}, nil
	}
	p := Params{Register: true, Domain: requester.Domain(), Username: submitted.Value("username")}
	contact, ok, err := submitted.Bool("roster-subscription")
	if err != nil {
		return module.CommandResult{}, stanza.NewError(stanza.BadRequest, err.Error())
	}
	if !ok || contact {
		p.Inviter = requester.Bare().String()
	}
	if p.Admin, _, err = submitted.Bool("admin"); err != nil {
		return module.CommandResult{}, stanza.NewError(stanza.BadRequest, err.Error())
	}
	if p.Admin && !admin {
		return module.CommandResult{}, stanza.NewError(stanza.Forbidden, "only an admin may invite an admin")
	}
	if p.Username != "" {
		if _, err := jid.New(p.Username, p.Domain, ""); err != nil {
			return module.CommandResult{}, &stanza.Error{Type: stanza.Modify, Condition: stanza.JIDMalformed, Text: "this user name is not allowed"}
		}
	}
	return m.commandInvite(ctx, requester, p)
}

// commandInvite creates the invitation p for requester, within the
// per-account limit for non-admins, and answers with XEP-0401's result
// form.
func (m *Module) commandInvite(ctx context.Context, requester jid.JID, p Params) (module.CommandResult, error) {
	bare := requester.Bare().String()
	if admin, _ := m.accounts.IsAdmin(ctx, bare); !admin {
		n, err := m.open(bare)
		if err != nil {
			return module.CommandResult{}, err
		}
		if n >= m.maxPerUser {
			return module.CommandResult{}, &stanza.Error{Type: stanza.Wait, Condition: stanza.ResourceConstraint,
				Text: fmt.Sprintf("you have %d open invitations, the most allowed: wait until they are used or expire", n)}
		}
	}
	link, err := m.Create(ctx, p)
	if err != nil {
		return module.CommandResult{}, err
	}
	f := form.New(form.TypeResult, FormInvitation)
	f.Add(
		form.Field{Var: "uri", Type: form.TextSingle, Label: "Invitation", Values: []string{link.URI}},
		form.Field{Var: "landing-url", Type: form.TextSingle, Label: "Link to share", Values: []string{link.URL}},
		// XEP-0401's examples call it expire, its registry expiry.
		form.Field{Var: "expire", Type: form.TextSingle, Label: "Valid until", Values: []string{link.Expires.UTC().Format(time.RFC3339)}},
		form.Field{Var: "expiry", Type: form.TextSingle, Values: []string{link.Expires.UTC().Format(time.RFC3339)}},
	)
	return module.CommandResult{Form: f, Note: "Share this link: " + link.URL}, nil
}
