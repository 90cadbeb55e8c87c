package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"time"

	"roost/admin"
)

func cmdCheck(args []string, stdout, stderr io.Writer) error {
	cmd := newCommand("check", stderr)
	_, cfg, err := cmd.load(args, nil)
	if err != nil {
		return err
	}
	name := configPath(*cmd.config)
	if name == "" {
		name = "built-in defaults"
	}
	// The full path: with the built-in defaults data_dir is "data", and
	// "data in data" told a parent nothing about where the family's
	// messages are.
	dataDir := cfg.DataDir
	if abs, err := filepath.Abs(dataDir); err == nil {
		dataDir = abs
	}
	fmt.Fprintf(stdout, "%s: ok (domains %v, data in %s)\n", name, cfg.Domains, dataDir)
	c := admin.Client{Path: cfg.Admin.Socket}
	if !c.Running() {
		fmt.Fprintln(stdout, "\nroost is not running: start it and run roost check again to see what phones will see.")
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f, err := c.Features(ctx)
	if err != nil {
		return fmt.Errorf("check: ask the running server: %w", err)
	}
	printServerInfo(stdout, f)
	return nil
}

// serverInfo is one row of Conversations' server info screen (Account →
// Server info), and how Conversations decides it from the stream features
// and service discovery.
type serverInfo struct {
	name string
	on   func(f admin.Features) bool
	// hint says what to configure when the row is unavailable.
	hint string
}

func serverInfoRows() []serverInfo {
	stream := func(ns, local string) func(admin.Features) bool {
		return func(f admin.Features) bool { return slices.Contains(f.Stream, "{"+ns+"}"+local) }
	}
	server := func(feature string) func(admin.Features) bool {
		return func(f admin.Features) bool { return slices.Contains(f.Server, feature) }
	}
	account := func(feature string) func(admin.Features) bool {
		return func(f admin.Features) bool { return slices.Contains(f.Account, feature) }
	}
	return []serverInfo{
		{"Roster Versioning", stream("urn:xmpp:features:rosterver", "ver"), ""},
		{"Carbon Messages", server("urn:xmpp:carbons:2"), ""},
		{"Message Archive Management", account("urn:xmpp:mam:2"), "[mam] enabled = true"},
		{"Client State Indication", stream("urn:xmpp:csi:0", "csi"), ""},
		{"Blocking Command", server("urn:xmpp:blocking"), ""},
		{"Stream Management", stream("urn:xmpp:sm:3", "sm"), ""},
		{"External Service Discovery", server("urn:xmpp:extdisco:2"), "a TURN server in [turn], for calls"},
		{"Personal Eventing Protocol", func(f admin.Features) bool { return slices.Contains(f.AccountIdentities, "pubsub/pep") }, ""},
		{"PEP Publish Options", account("http://jabber.org/protocol/pubsub#publish-options"), ""},
		{"HTTP File Upload", func(f admin.Features) bool {
			return slices.Contains(f.Server, "urn:xmpp:http:upload:0") || slices.ContainsFunc(f.Services, func(s admin.Service) bool {
				return slices.Contains(s.Features, "urn:xmpp:http:upload:0")
			})
		}, ""},
		{"Push Notifications", func(f admin.Features) bool {
			return slices.Contains(f.Account, "urn:xmpp:push:0") || slices.Contains(f.Server, "urn:xmpp:push:0")
		}, ""},
	}
}

// printServerInfo writes the rows as a phone shows them for the server.
func printServerInfo(w io.Writer, f admin.Features) {
	fmt.Fprintf(w, "\nWhat phones see for %s (Conversations: Account → Server info):\n", f.Domain)
	for _, r := range serverInfoRows() {
		state := "available"
		if !r.on(f) {
			state = "unavailable"
			if r.hint != "" {
				state += " (set " + r.hint + ")"
			}
		}
		fmt.Fprintf(w, "  %-28s %s\n", r.name, state)
	}
}
