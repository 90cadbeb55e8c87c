package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"roost/admin"
	"roost/config"
	"roost/module/invite"
	"roost/store"
)

// AdminOps are the admin operations on invitations and roles, over the
// store: the running server's admin backend serves them, and the command
// line uses them directly while the server is stopped.
type AdminOps struct {
	accounts *Accounts
	invites  *invite.Module // nil when invitations are off
}

// NewAdminOps returns the operations over st for a stopped server.
func NewAdminOps(st *store.Store, cfg config.Config) (*AdminOps, error) {
	a, err := NewAccounts(st, cfg.Domains)
	if err != nil {
		return nil, err
	}
	var inv *invite.Module
	if cfg.Invites.Enabled {
		if inv, err = newInvites(st, a, nil, cfg, slog.New(slog.DiscardHandler)); err != nil {
			return nil, err
		}
	}
	return &AdminOps{accounts: a, invites: inv}, nil
}

// errNoInvites answers invitation requests when invitations are off.
var errNoInvites = errors.New("invitations are turned off ([invites] enabled = false)")

// CreateInvite makes an invitation to make an account. With an inviter,
// the new account and the inviter become mutual contacts.
func (o *AdminOps) CreateInvite(ctx context.Context, p admin.InviteParams) (admin.InviteLink, error) {
	if o.invites == nil {
		return admin.InviteLink{}, errNoInvites
	}
	if p.Inviter != "" {
		j, err := o.accounts.Resolve(p.Inviter)
		if err != nil {
			return admin.InviteLink{}, err
		}
		if ok, _ := o.accounts.AccountExists(ctx, j); !ok {
			return admin.InviteLink{}, fmt.Errorf("%w: %s", ErrNoSuchUser, j)
		}
		p.Inviter = j.String()
	}
	link, err := o.invites.Create(ctx, invite.Params{
		Inviter: p.Inviter, Username: p.Username, Admin: p.Admin, Register: true, Expires: p.Expires, Uses: p.Uses,
	})
	if err != nil {
		return admin.InviteLink{}, err
	}
	return admin.InviteLink{ID: link.ID, URL: link.URL, URI: link.URI, Expires: link.Expires, Uses: link.Uses}, nil
}

// ListInvites lists the open invitations.
func (o *AdminOps) ListInvites(ctx context.Context) ([]admin.InviteInfo, error) {
	if o.invites == nil {
		return nil, errNoInvites
	}
	list, err := o.invites.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]admin.InviteInfo, len(list))
	for i, in := range list {
		out[i] = admin.InviteInfo{ID: in.ID, Created: in.Created, Expires: in.Expires, MaxUses: in.MaxUses, Used: in.Used,
			Inviter: in.Inviter, Username: in.Username, Admin: in.Admin, Register: in.Register}
	}
	return out, nil
}

// RevokeInvite withdraws an invitation by its ID.
func (o *AdminOps) RevokeInvite(ctx context.Context, id string) error {
	if o.invites == nil {
		return errNoInvites
	}
	return o.invites.Revoke(ctx, id)
}

// SetAdmin gives an account the admin role or takes it away.
func (o *AdminOps) SetAdmin(ctx context.Context, user string, isAdmin bool) error {
	return o.accounts.SetAdmin(ctx, user, isAdmin)
}

// Admins lists the accounts with the admin role.
func (o *AdminOps) Admins(ctx context.Context) ([]string, error) { return o.accounts.Admins(ctx) }
