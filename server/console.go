package server

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"roost/c2s"
	"roost/jid"
	"roost/module/admincmd"
	"roost/module/console"
	"roost/module/invite"
	"roost/module/muc"
	"roost/netconn"
	"roost/sasl"
	"roost/store"
	"roost/stream"
	"roost/xmlstream"
)

// errDisconnected ends a session an admin disconnected from the console.
var errDisconnected = &stream.Error{Condition: stream.PolicyViolation, Text: "an admin ended this session"}

// consoleAccounts gives the console the account manager and password
// checks against the stored SCRAM keys.
type consoleAccounts struct{ *Accounts }

// consoleBackoff gives the console the chat logins' table, keyed by
// address as c2s keys it (an IPv6 address by its /64), so that a guesser
// meets one count on both doors; nil when it is off.
func consoleBackoff(b c2s.Backoff) console.Backoff {
	if b == nil {
		return nil
	}
	return consoleAddrs{b}
}

type consoleAddrs struct{ c2s.Backoff }

func (c consoleAddrs) Delay(account, ip string) time.Duration {
	return c.Backoff.Delay(account, addrKey(ip))
}
func (c consoleAddrs) Failed(account, ip string)    { c.Backoff.Failed(account, addrKey(ip)) }
func (c consoleAddrs) Succeeded(account, ip string) { c.Backoff.Succeeded(account, addrKey(ip)) }

// addrKey is netconn.IPKey of an address the web server gave as text.
func addrKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	return netconn.IPKey(a)
}

func (c consoleAccounts) CheckPassword(ctx context.Context, user, password string) (bool, error) {
	j, err := c.Resolve(user)
	if err != nil {
		return false, nil
	}
	for _, h := range []sasl.Hash{sasl.SHA256, sasl.SHA1} {
		cred, found, err := c.SCRAMCredentials(ctx, j, h)
		if err != nil {
			return false, err
		}
		if found {
			return sasl.Verify(password, cred)
		}
	}
	return false, nil
}

// consoleSessions lists the router's sessions for the console.
type consoleSessions struct{ s *Server }

func (c consoleSessions) Sessions() []console.Session {
	list := c.s.router.Sessions()
	out := make([]console.Session, len(list))
	for i, si := range list {
		out[i] = console.Session{JID: si.Full, Since: si.Since, IP: remoteHost(si.Remote), Online: si.Available}
		if si.Presence != nil {
			// The app, as its entity capabilities name it (XEP-0115 §4).
			if caps := si.Presence.Child("http://jabber.org/protocol/caps", "c"); caps != nil {
				node := caps.Get("node")
				node = strings.TrimPrefix(strings.TrimPrefix(node, "https://"), "http://")
				out[i].Client = strings.TrimSuffix(node, "/")
			}
		}
	}
	return out
}

func (c consoleSessions) Disconnect(full jid.JID) bool {
	return c.s.router.CloseSession(full, errDisconnected)
}

// adminCmdAccounts gives the service administration commands the
// account manager and roster sizes.
type adminCmdAccounts struct {
	*Accounts
	st *store.Store
}

func (a adminCmdAccounts) RosterSize(ctx context.Context, user string) (int, error) {
	j, err := a.Resolve(user)
	if err != nil {
		return 0, err
	}
	if ok, err := a.AccountExists(ctx, j); err != nil || !ok {
		return 0, cmp.Or(err, fmt.Errorf("%w: %s", ErrNoSuchUser, j))
	}
	n := 0
	_, err = a.st.RosterItems(j.String(), func(string, []byte) error { n++; return nil })
	return n, err
}

// adminCmdSessions gives the service administration commands the
// router's sessions.
type adminCmdSessions struct{ s *Server }

func (c adminCmdSessions) Sessions() []admincmd.Session {
	list := c.s.router.Sessions()
	out := make([]admincmd.Session, len(list))
	for i, si := range list {
		out[i] = admincmd.Session{JID: si.Full, IP: remoteHost(si.Remote)}
	}
	return out
}

func (c adminCmdSessions) Deliver(full jid.JID, el *xmlstream.Element) bool {
	return c.s.router.Deliver(full, el)
}

func (c adminCmdSessions) End(full jid.JID) bool {
	return c.s.router.CloseSession(full, errDisconnected)
}

// remoteHost is the IP address of a host:port, or addr itself.
func remoteHost(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// consoleInvites makes the console's invitations.
type consoleInvites struct{ m *invite.Module }

func (c consoleInvites) CreateInvite(ctx context.Context, inviter string, admin bool, uses int) (console.InviteLink, error) {
	link, err := c.m.Create(ctx, invite.Params{Inviter: inviter, Admin: admin, Register: true, Uses: uses})
	return console.InviteLink{ID: link.ID, URL: link.URL, Expires: link.Expires}, err
}

func (c consoleInvites) ListInvites(ctx context.Context) ([]console.Invite, error) {
	list, err := c.m.List(ctx)
	out := make([]console.Invite, len(list))
	for i, in := range list {
		out[i] = console.Invite{ID: in.ID, Inviter: in.Inviter, Username: in.Username, Expires: in.Expires,
			MaxUses: in.MaxUses, Used: in.Used, Admin: in.Admin}
	}
	return out, err
}

func (c consoleInvites) RevokeInvite(ctx context.Context, id string) error {
	return c.m.Revoke(ctx, id)
}

// consoleRooms lists and closes group chats for the console.
type consoleRooms struct{ m *muc.MUC }

func (c consoleRooms) Rooms(context.Context) ([]console.Room, error) {
	list := c.m.Rooms()
	out := make([]console.Room, 0, len(list))
	for _, in := range list {
		j, err := jid.Parse(in.JID)
		if err != nil {
			return nil, fmt.Errorf("console: room %q: %w", in.JID, err)
		}
		out = append(out, console.Room{JID: j, Name: in.Config.Name, Occupants: in.Occupants})
	}
	return out, nil
}

func (c consoleRooms) Destroy(ctx context.Context, room jid.JID, reason string) error {
	return c.m.DestroyRoom(ctx, room, reason)
}

// consoleStatus is the console's overview: version, uptime,
// certificates, federation links, data size, and the checks that can be
// made while running.
func (s *Server) consoleStatus(context.Context) console.Status {
	st := console.Status{Version: s.opts.Version, Uptime: time.Since(s.started), Domains: s.cfg.Domains}
	certOK := true
	for _, c := range s.certs.Status() {
		problem := c.LastError
		if c.Fallback {
			problem = "self-signed stand-in: " + problem
		}
		if problem != "" {
			certOK = false
		}
		st.Certificates = append(st.Certificates, console.Certificate{Name: c.Name, Issuer: c.Issuer, Source: string(c.Source),
			Problem: problem, NotAfter: c.NotAfter})
	}
	if s.s2s != nil {
		for _, l := range s.s2s.Links() {
			st.Federation = append(st.Federation, console.Link{Remote: l.Remote, Ready: l.Ready})
		}
	}
	if n, ok := s.storeBytes(); ok {
		st.StoreBytes = n
	}
	st.Checks = []console.Check{
		{What: "Configuration", Result: "valid (the server started with it)", OK: true},
		{What: "Certificates", Result: map[bool]string{true: "every name has one", false: "a certificate has a problem: see below"}[certOK], OK: certOK},
		{What: "Federation", Result: map[bool]string{true: "on: chats with other servers work", false: "off: only this server's accounts can chat"}[s.s2s != nil], OK: true},
		{What: "Invitations", Result: map[bool]string{true: "on", false: "off"}[s.invites != nil], OK: true},
	}
	return st
}
