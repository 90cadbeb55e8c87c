package muc

import (
	"context"
	"fmt"
	"slices"
	"time"

	"roost/jid"
)

// RoomInfo describes a room for its administrator (`roost room info`).
type RoomInfo struct {
	JID     string
	Config  Config
	Subject string
	Locked  bool
	// Protected: entering needs a password (Config.Password is not
	// given out).
	Protected    bool
	Created      time.Time
	Occupants    []string // nicks
	Affiliations []AffiliationInfo
	// History is how many messages the room keeps for history on join.
	History int
}

// AffiliationInfo is one affiliation of a room.
type AffiliationInfo struct {
	JID, Affiliation, Nick string
}

func (r *room) info() RoomInfo {
	in := RoomInfo{JID: r.jid.String(), Config: r.cfg, Subject: r.subject, Locked: r.locked, Protected: r.cfg.Password != "",
		Created: r.created, History: len(r.history)}
	in.Config.Password = ""
	for n := range r.occupants {
		in.Occupants = append(in.Occupants, n)
	}
	slices.Sort(in.Occupants)
	for _, a := range r.record().Affiliations {
		in.Affiliations = append(in.Affiliations, AffiliationInfo{JID: a.JID, Affiliation: a.Affiliation, Nick: a.Nick})
	}
	return in
}

// Rooms describes every room of every service, in JID order.
func (m *MUC) Rooms() []RoomInfo {
	var out []RoomInfo
	for _, s := range m.services {
		for _, r := range s.all() {
			r.mu.Lock()
			if !r.destroyed {
				out = append(out, r.info())
			}
			r.mu.Unlock()
		}
	}
	return out
}

// roomAt returns the service and localpart of a room's JID.
func (m *MUC) roomAt(room jid.JID) (*service, error) {
	s := m.serviceOf(room.Domain())
	if s == nil || room.Local() == "" || room.Resource() != "" {
		return nil, fmt.Errorf("%w: %s", ErrNoService, room)
	}
	return s, nil
}

// Room describes one room.
func (m *MUC) Room(room jid.JID) (RoomInfo, error) {
	s, err := m.roomAt(room)
	if err != nil {
		return RoomInfo{}, err
	}
	r := s.lockRoom(room.Local())
	if r == nil {
		return RoomInfo{}, fmt.Errorf("%w: %s", ErrNoRoom, room)
	}
	defer r.mu.Unlock()
	return r.info(), nil
}

// CreateRoom creates a persistent room owned by owner (the zero JID for
// none), ready to enter (not locked), named name. The administrator may
// create rooms whoever the configuration lets create them.
func (m *MUC) CreateRoom(ctx context.Context, room, owner jid.JID, name string) error {
	s, err := m.roomAt(room)
	if err != nil {
		return err
	}
	r, err := s.create(room.Local(), owner, false)
	if err != nil {
		return fmt.Errorf("create room %s: %w", room, err)
	}
	defer s.release(ctx, r)
	if n := len([]rune(name)); n > maxNameLength {
		r.destroyed = true
		return fmt.Errorf("create room %s: name of %d characters, at most %d allowed", room, n, maxNameLength)
	}
	r.cfg.Name, r.cfg.Persistent = name, true
	if err := r.save(); err != nil {
		r.destroyed = true
		return err
	}
	m.log.Info("room created", "room", r.jid.String(), "by", "admin")
	return nil
}

// DestroyRoom destroys a room (§10.9), telling its occupants why.
func (m *MUC) DestroyRoom(ctx context.Context, room jid.JID, reason string) error {
	s, err := m.roomAt(room)
	if err != nil {
		return err
	}
	r := s.lockRoom(room.Local())
	if r == nil {
		return fmt.Errorf("%w: %s", ErrNoRoom, room)
	}
	defer s.release(ctx, r)
	return r.destroy(ctx, jid.JID{}, reason, "")
}
