package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"roost/admin"
	"roost/config"
	"roost/jid"
	"roost/module/muc"
	"roost/store"
)

// errNoRooms: group chat is off in the configuration.
var errNoRooms = errors.New("group chat is off ([muc] enabled = false)")

// Rooms administers group chat rooms for `roost room`: the running
// server's, or those in the store of a stopped one (nobody is in a room
// then, and no one is told anything).
type Rooms struct {
	m        *muc.MUC
	cfg      config.Config
	accounts *Accounts
}

// NewRooms opens the rooms of a stopped server's store.
func NewRooms(st *store.Store, cfg config.Config) (*Rooms, error) {
	if !cfg.MUC.Enabled {
		return nil, errNoRooms
	}
	accounts, err := NewAccounts(st, cfg.Domains)
	if err != nil {
		return nil, err
	}
	m, err := muc.New(mucOptions(cfg, st, slog.New(slog.DiscardHandler)))
	if err != nil {
		return nil, fmt.Errorf("open rooms: %w", err)
	}
	return &Rooms{m: m, cfg: cfg, accounts: accounts}, nil
}

// rooms returns the running server's room administration.
func (s *Server) roomAdmin() (*Rooms, error) {
	if s.rooms == nil {
		return nil, errNoRooms
	}
	return &Rooms{m: s.rooms, cfg: s.cfg, accounts: s.accounts}, nil
}

// room turns "family" or "family@conference.example.org" into a room JID.
func (r *Rooms) room(name string) (jid.JID, error) {
	if !strings.Contains(name, "@") && len(r.cfg.Domains) > 0 {
		name += "@" + r.cfg.MUC.Subdomain + "." + r.cfg.Domains[0]
	}
	j, err := jid.Parse(name)
	if err != nil || j.Local() == "" || j.Resource() != "" {
		return jid.JID{}, fmt.Errorf("room %q: want a name or name@%s.<domain>", name, r.cfg.MUC.Subdomain)
	}
	return j, nil
}

// Rooms lists every room.
func (r *Rooms) Rooms(context.Context) ([]admin.RoomStatus, error) {
	var out []admin.RoomStatus
	for _, in := range r.m.Rooms() {
		out = append(out, roomStatus(in))
	}
	return out, nil
}

// RoomInfo describes a room.
func (r *Rooms) RoomInfo(_ context.Context, name string) (admin.RoomStatus, error) {
	j, err := r.room(name)
	if err != nil {
		return admin.RoomStatus{}, err
	}
	in, err := r.m.Room(j)
	if err != nil {
		return admin.RoomStatus{}, err
	}
	return roomStatus(in), nil
}

// CreateRoom creates a persistent room. The owner is a local account
// ("alice" or alice@example.org, which must exist), a user of another
// server, or "" for none.
func (r *Rooms) CreateRoom(ctx context.Context, name, owner, title string) error {
	j, err := r.room(name)
	if err != nil {
		return err
	}
	var o jid.JID
	if owner != "" {
		if !strings.Contains(owner, "@") || slices.Contains(r.cfg.Domains, owner[strings.LastIndexByte(owner, '@')+1:]) {
			if o, err = r.accounts.Resolve(owner); err != nil {
				return err
			}
			if ok, err := r.accounts.AccountExists(ctx, o); err != nil || !ok {
				return fmt.Errorf("owner %s: %w", o, ErrNoSuchUser)
			}
		} else if o, err = jid.Parse(owner); err != nil || o.Resource() != "" {
			return fmt.Errorf("owner %q: %w", owner, ErrBadUser)
		}
	}
	return r.m.CreateRoom(ctx, j, o, title)
}

// DestroyRoom destroys a room.
func (r *Rooms) DestroyRoom(ctx context.Context, name, reason string) error {
	j, err := r.room(name)
	if err != nil {
		return err
	}
	return r.m.DestroyRoom(ctx, j, reason)
}

// roomStatus converts a room's description to the admin protocol's type.
func roomStatus(in muc.RoomInfo) admin.RoomStatus {
	c := in.Config
	out := admin.RoomStatus{JID: in.JID, Name: c.Name, Description: c.Description, Subject: in.Subject,
		MaxUsers: c.MaxUsers, Locked: in.Locked, Created: in.Created, Occupants: in.Occupants, History: in.History,
		PresenceShownFor: c.PresenceShownFor(), MemberListFor: c.MemberListFor()}
	for _, s := range []struct {
		on   bool
		name string
	}{
		{c.Persistent, "persistent"}, {c.Public, "public"}, {c.MembersOnly, "members-only"}, {in.Protected, "password"},
		{c.Moderated, "moderated"}, {c.NonAnonymous, "non-anonymous"}, {c.Logging, "logged"},
	} {
		if s.on {
			out.Settings = append(out.Settings, s.name)
		}
	}
	for _, a := range in.Affiliations {
		out.Affiliations = append(out.Affiliations, admin.RoomAffiliation{JID: a.JID, Affiliation: a.Affiliation, Nick: a.Nick})
	}
	return out
}
