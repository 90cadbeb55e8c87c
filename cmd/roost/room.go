package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"roost/admin"
	"roost/server"
	"roost/store"
)

// roomAdmin is what the room subcommands need; both a running server
// (over the admin socket) and the store of a stopped one provide it.
type roomAdmin interface {
	Rooms(ctx context.Context) ([]admin.RoomStatus, error)
	RoomInfo(ctx context.Context, room string) (admin.RoomStatus, error)
	CreateRoom(ctx context.Context, room, owner, name string) error
	DestroyRoom(ctx context.Context, room, reason string) error
}

func cmdRoom(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCommand("room", stderr)
	owner := c.fs.String("owner", "", "the new room's owner (create)")
	name := c.fs.String("name", "", "the new room's name, as shown to people (create)")
	reason := c.fs.String("reason", "", "why the room goes, shown to the people in it (destroy)")
	pos, cfg, err := c.load(args, func(pos []string) bool {
		// list takes no ROOM, the other operations one.
		return len(pos) == 1 && pos[0] == "list" || len(pos) == 2 && pos[0] != "list"
	})
	if err != nil {
		return err
	}
	op, pos := pos[0], pos[1:]
	run := func(ra roomAdmin) error {
		return roomOp(ctx, ra, op, pos, *owner, *name, *reason, stdout, stderr)
	}
	return withData(cfg, true, func(c admin.Client) error { return run(c) }, func(st *store.Store) error {
		r, err := server.NewRooms(st, cfg)
		if err != nil {
			return err
		}
		return run(r)
	})
}

// roomOp runs one room operation through ra.
func roomOp(ctx context.Context, ra roomAdmin, op string, pos []string, owner, name, reason string, stdout, stderr io.Writer) error {
	switch op {
	case "list":
		rooms, err := ra.Rooms(ctx)
		if err != nil {
			return err
		}
		if len(rooms) == 0 {
			fmt.Fprintln(stdout, "no rooms")
		}
		for _, r := range rooms {
			fmt.Fprintf(stdout, "%s\t%s\t%d in it\t%s\n", r.JID, r.Name, len(r.Occupants), strings.Join(r.Settings, ", "))
		}
	case "info":
		r, err := ra.RoomInfo(ctx, pos[0])
		if err != nil {
			return err
		}
		printRoom(stdout, r)
	case "create":
		if err := ra.CreateRoom(ctx, pos[0], owner, name); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: created\n", pos[0])
	case "destroy":
		if err := ra.DestroyRoom(ctx, pos[0], reason); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: destroyed\n", pos[0])
	default:
		fmt.Fprintf(stderr, "roost: unknown room command %q\n\n%s", op, usage)
		return errUsage
	}
	return nil
}

func printRoom(w io.Writer, r admin.RoomStatus) {
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "%-13s %s\n", k+":", v)
		}
	}
	line("room", r.JID)
	line("name", r.Name)
	line("description", r.Description)
	line("subject", r.Subject)
	line("settings", strings.Join(r.Settings, ", "))
	if r.Locked {
		line("state", "waiting for its owner to configure it")
	}
	if r.MaxUsers > 0 {
		line("max people", fmt.Sprint(r.MaxUsers))
	}
	if !r.Created.IsZero() {
		line("created", r.Created.UTC().Format("2006-01-02 15:04 UTC"))
	}
	line("history", fmt.Sprintf("%d messages kept", r.History))
	line("presence of", strings.Join(r.PresenceShownFor, ", "))
	line("member list", "seen by "+strings.Join(r.MemberListFor, ", "))
	line("in it now", strings.Join(r.Occupants, ", "))
	for _, a := range r.Affiliations {
		v := a.JID
		if a.Nick != "" {
			v += " (" + a.Nick + ")"
		}
		line(a.Affiliation, v)
	}
}
