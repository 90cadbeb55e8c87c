package admin

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/user"
	"strconv"
	"time"

	"roost/netconn"
)

// Operations.
const (
	OpUserAdd    = "user.add"
	OpUserDel    = "user.del"
	OpUserPasswd = "user.passwd"
	OpUserList   = "user.list"
	OpStatus     = "status"
	OpBackup     = "backup"
	OpCertStatus = "cert.status"

	OpRoomList    = "room.list"
	OpRoomInfo    = "room.info"
	OpRoomCreate  = "room.create"
	OpRoomDestroy = "room.destroy"
	// Invitations and the admin role.
	OpInviteCreate = "invite.create"
	OpInviteList   = "invite.list"
	OpInviteRevoke = "invite.revoke"
	OpAdminSet     = "admin.set"
	OpAdminList    = "admin.list"
	OpFeatures     = "features"
)

// Request is one admin request.
type Request struct {
	Op       string `json:"op"`
	User     string `json:"user,omitempty"`
	Password string `json:"password,omitempty"`
	// Room is a room's bare JID, or its name at the group chat service
	// of the first domain; Name and Reason go with room.create (User is
	// the owner) and room.destroy.
	Room   string `json:"room,omitempty"`
	Name   string `json:"name,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Admin is the role to set (admin.set), or whether an invitation
	// makes an admin (invite.create).
	Admin  bool          `json:"admin,omitempty"`
	Invite *InviteParams `json:"invite,omitempty"`
	// ID names an invitation (invite.revoke).
	ID string `json:"id,omitempty"`
}

// InviteParams describe a new invitation.
type InviteParams struct {
	// Inviter is the account the new one becomes a contact of; "" for
	// none.
	Inviter  string        `json:"inviter,omitempty"`
	Username string        `json:"username,omitempty"`
	Admin    bool          `json:"admin,omitempty"`
	Expires  time.Duration `json:"expires,omitempty"`
	Uses     int           `json:"uses,omitempty"`
}

// InviteLink is a new invitation: the only time its token is seen.
type InviteLink struct {
	ID      string    `json:"id"`
	URL     string    `json:"url"`
	URI     string    `json:"uri"`
	Expires time.Time `json:"expires"`
	Uses    int       `json:"uses"`
}

// InviteInfo describes an open invitation.
type InviteInfo struct {
	ID       string    `json:"id"`
	Created  time.Time `json:"created"`
	Expires  time.Time `json:"expires"`
	MaxUses  int       `json:"max_uses"`
	Used     int       `json:"used"`
	Inviter  string    `json:"inviter,omitempty"`
	Username string    `json:"username,omitempty"`
	Admin    bool      `json:"admin,omitempty"`
	Register bool      `json:"register,omitempty"`
}

// Response answers a Request.
type Response struct {
	Error   string            `json:"error,omitempty"`
	Users   []string          `json:"users,omitempty"`
	Status  map[string]string `json:"status,omitempty"`
	Size    int64             `json:"size,omitempty"`
	Certs   []CertStatus      `json:"certs,omitempty"`
	Rooms   []RoomStatus      `json:"rooms,omitempty"`
	Link    *InviteLink       `json:"link,omitempty"`
	Invites []InviteInfo      `json:"invites,omitempty"`
	// Features answers OpFeatures.
	Features *Features `json:"features,omitempty"`
}

// Features is what the server advertises to its clients, for `roost
// check`: the stream features after authentication (RFC 6120 §4.3) and
// service discovery (XEP-0030) of the first account domain, of an
// account, and of the services the domain lists. Names are written
// "{namespace}local" for stream features, "category/type" for identities.
type Features struct {
	Domain            string    `json:"domain"`
	Stream            []string  `json:"stream"`
	Server            []string  `json:"server"`
	Account           []string  `json:"account"`
	AccountIdentities []string  `json:"account_identities"`
	Services          []Service `json:"services"`
}

// Service is a hosted service as its disco#info describes it.
type Service struct {
	Domain     string   `json:"domain"`
	Identities []string `json:"identities"`
	Features   []string `json:"features"`
}

// RoomStatus describes a group chat room (XEP-0045), in the admin
// protocol's own type.
type RoomStatus struct {
	JID         string `json:"jid"`
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
	Subject     string `json:"subject,omitempty"`
	// Settings lists the settings that are on: persistent, public,
	// members-only, password, moderated, non-anonymous, logged.
	Settings []string `json:"settings,omitempty"`
	// MaxUsers is 0 for the service's limit.
	MaxUsers int `json:"max_users,omitempty"`
	// Locked: created, waiting for its owner to configure it.
	Locked       bool              `json:"locked,omitempty"`
	Created      time.Time         `json:"created,omitzero"`
	Occupants    []string          `json:"occupants,omitempty"`
	Affiliations []RoomAffiliation `json:"affiliations,omitempty"`
	// History is how many messages it keeps for people who join.
	History int `json:"history,omitempty"`
	// PresenceShownFor are the roles whose presence the room shows to
	// the others; MemberListFor those that may read its member list.
	PresenceShownFor []string `json:"presence_shown_for,omitempty"`
	MemberListFor    []string `json:"member_list_for,omitempty"`
}

// RoomAffiliation is one user's affiliation with a room.
type RoomAffiliation struct {
	JID         string `json:"jid"`
	Affiliation string `json:"affiliation"`
	Nick        string `json:"nick,omitempty"`
}

// CertStatus is the certificate served for one configured name (the
// server's certs.Status, in the admin protocol's own type so that admin
// depends on no other roost package).
type CertStatus struct {
	Name string `json:"name"`
	// Source is "acme", "files" or "self-signed"; Fallback says the
	// configured source has nothing for the name yet, so the self-signed
	// certificate is served instead.
	Source   string `json:"source"`
	Fallback bool   `json:"fallback,omitempty"`
	// Issuer is empty when no certificate exists yet.
	Issuer      string    `json:"issuer,omitempty"`
	NotBefore   time.Time `json:"not_before,omitzero"`
	NotAfter    time.Time `json:"not_after,omitzero"`
	Fingerprint string    `json:"fingerprint,omitempty"` // hex SHA-256 of the leaf
	// FingerprintSHA1 is the hex SHA-1 of the leaf, as some clients show it.
	FingerprintSHA1 string `json:"fingerprint_sha1,omitempty"`
	// NextAttempt is when an ACME renewal or retry is due.
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	// Advice says in plain words what to do about LastError or the source.
	Advice string `json:"advice,omitempty"`
}

// Backend performs admin operations. User names are a bare JID or a
// localpart of the default domain.
type Backend interface {
	AddUser(ctx context.Context, user, password string) error
	DeleteUser(ctx context.Context, user string) error
	SetPassword(ctx context.Context, user, password string) error
	Users(ctx context.Context) ([]string, error)
	Status(ctx context.Context) (map[string]string, error)
	// Backup writes a consistent copy of the store and returns its size.
	// size is called with the exact size before the first byte is written.
	Backup(ctx context.Context, w io.Writer, size func(int64) error) error
	// CertStatus reports the certificate served for every configured name.
	CertStatus(ctx context.Context) ([]CertStatus, error)
	// Features reports what the server advertises to clients.
	Features(ctx context.Context) (Features, error)
	RoomBackend
	Invites
}

// RoomBackend administers group chat rooms. Rooms are a bare JID or a
// name at the first domain's service; owners a bare JID or a localpart of
// the first domain.
type RoomBackend interface {
	Rooms(ctx context.Context) ([]RoomStatus, error)
	RoomInfo(ctx context.Context, room string) (RoomStatus, error)
	// CreateRoom creates a persistent room, ready to enter.
	CreateRoom(ctx context.Context, room, owner, name string) error
	// DestroyRoom removes a room, telling its occupants why.
	DestroyRoom(ctx context.Context, room, reason string) error
}

// Invites manages invitations and the admin role; the running server and
// the store opened directly both provide it.
type Invites interface {
	CreateInvite(ctx context.Context, p InviteParams) (InviteLink, error)
	ListInvites(ctx context.Context) ([]InviteInfo, error)
	RevokeInvite(ctx context.Context, id string) error
	SetAdmin(ctx context.Context, user string, admin bool) error
	Admins(ctx context.Context) ([]string, error)
}

// ErrRemote wraps an error reported by the server.
var ErrRemote = errors.New("server says")

// maxRequest bounds a request line.
const maxRequest = 64 << 10

// Listen creates the admin socket at path, replacing a stale one, with mode
// 0600, or 0660 owned by group when group is set.
func Listen(path, group string) (net.Listener, error) {
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		_ = c.Close()
		return nil, fmt.Errorf("admin socket %s: another server is running", path)
	}
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on admin socket: %w", err)
	}
	mode := os.FileMode(0o600)
	if group != "" {
		g, err := user.LookupGroup(group)
		if err != nil {
			_ = ln.Close()
			return nil, fmt.Errorf("admin socket group: %w", err)
		}
		gid, _ := strconv.Atoi(g.Gid)
		if err := os.Chown(path, -1, gid); err != nil {
			_ = ln.Close()
			return nil, fmt.Errorf("admin socket group: %w", err)
		}
		mode = 0o660
	}
	if err := os.Chmod(path, mode); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("admin socket mode: %w", err)
	}
	return ln, nil
}

// Serve answers admin requests on ln until ctx is done, then waits for
// the requests under way. A temporary Accept error (running out of file
// descriptors) is retried, not the end of the server.
func Serve(ctx context.Context, ln net.Listener, b Backend, log *slog.Logger) error {
	conns := netconn.NewSet[net.Conn](0, log)
	stop := context.AfterFunc(ctx, func() {
		conns.Close()
		_ = ln.Close() // also when ctx ended before Serve registered it
	})
	defer stop()
	err := conns.Serve(ln, func(c net.Conn) {
		if _, ok := conns.Add(c, func() net.Conn { return c }); !ok {
			return
		}
		conns.Go(c, func() {
			defer c.Close()
			if err := serveConn(ctx, c, b); err != nil {
				log.Warn("admin request", "err", err)
			}
		})
	})
	// The requests under way finish; a backup may take a while.
	_ = conns.Shutdown(context.Background(), nil, nil)
	if errors.Is(err, netconn.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("accept admin connection: %w", err)
}

func serveConn(ctx context.Context, c net.Conn, b Backend) error {
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	line, err := bufio.NewReader(io.LimitReader(c, maxRequest)).ReadBytes('\n')
	if errors.Is(err, io.EOF) && len(line) == 0 {
		// Client.Running probes the socket by connecting and closing.
		return nil
	}
	if err != nil {
		return fmt.Errorf("read request: %w", err)
	}
	var req Request
	if err := json.Unmarshal(line, &req); err != nil {
		return respond(c, Response{Error: "malformed request"})
	}
	var resp Response
	switch req.Op {
	case OpUserAdd:
		err = b.AddUser(ctx, req.User, req.Password)
	case OpUserDel:
		err = b.DeleteUser(ctx, req.User)
	case OpUserPasswd:
		err = b.SetPassword(ctx, req.User, req.Password)
	case OpUserList:
		resp.Users, err = b.Users(ctx)
	case OpStatus:
		resp.Status, err = b.Status(ctx)
	case OpCertStatus:
		resp.Certs, err = b.CertStatus(ctx)
	case OpRoomList:
		resp.Rooms, err = b.Rooms(ctx)
	case OpRoomInfo:
		var r RoomStatus
		if r, err = b.RoomInfo(ctx, req.Room); err == nil {
			resp.Rooms = []RoomStatus{r}
		}
	case OpRoomCreate:
		err = b.CreateRoom(ctx, req.Room, req.User, req.Name)
	case OpRoomDestroy:
		err = b.DestroyRoom(ctx, req.Room, req.Reason)
	case OpInviteCreate:
		var link InviteLink
		if req.Invite == nil {
			err = errors.New("invite.create without parameters")
			break
		}
		link, err = b.CreateInvite(ctx, *req.Invite)
		resp.Link = &link
	case OpInviteList:
		resp.Invites, err = b.ListInvites(ctx)
	case OpInviteRevoke:
		err = b.RevokeInvite(ctx, req.ID)
	case OpAdminSet:
		err = b.SetAdmin(ctx, req.User, req.Admin)
	case OpAdminList:
		resp.Users, err = b.Admins(ctx)
	case OpFeatures:
		var f Features
		if f, err = b.Features(ctx); err == nil {
			resp.Features = &f
		}
	case OpBackup:
		_ = c.SetDeadline(time.Time{})
		started := false
		err = b.Backup(ctx, c, func(n int64) error {
			started = true
			return respond(c, Response{Size: n})
		})
		if started {
			return err // the header is out; the client sees a short copy
		}
	default:
		err = fmt.Errorf("unknown operation %q", req.Op)
	}
	if err != nil {
		resp = Response{Error: err.Error()}
	}
	return respond(c, resp)
}

func respond(w io.Writer, r Response) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// Client talks to a running server.
type Client struct {
	Path string
	// Timeout bounds the wait for the server's answer to a request
	// (responseTimeout when zero): a server that stopped answering must
	// not hang the command that asked it. A backup's data, which follows
	// the answer, is not bounded by it.
	Timeout time.Duration
}

// responseTimeout is the server's own bound on a request (serveConn).
const responseTimeout = time.Minute

// Running reports whether a server answers on the socket.
func (c Client) Running() bool {
	conn, err := net.DialTimeout("unix", c.Path, time.Second)
	if err != nil {
		return false
	}
	_ = conn.Close()
	return true
}

func (c Client) do(ctx context.Context, req Request) (Response, net.Conn, *bufio.Reader, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.Path)
	if err != nil {
		return Response{}, nil, nil, fmt.Errorf("connect to the server: %w", err)
	}
	_ = conn.SetDeadline(time.Now().Add(cmp.Or(c.Timeout, responseTimeout)))
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		_ = conn.Close()
		return Response{}, nil, nil, fmt.Errorf("send request: %w", err)
	}
	br := bufio.NewReader(conn)
	line, err := br.ReadBytes('\n')
	if err != nil {
		_ = conn.Close()
		return Response{}, nil, nil, fmt.Errorf("read response: %w", err)
	}
	if !stop() {
		// ctx ended just as the answer came: the deadline set is spent.
		_ = conn.Close()
		return Response{}, nil, nil, fmt.Errorf("read response: %w", ctx.Err())
	}
	_ = conn.SetDeadline(time.Time{})
	var resp Response
	if err := json.Unmarshal(line, &resp); err != nil {
		_ = conn.Close()
		return Response{}, nil, nil, fmt.Errorf("decode response: %w", err)
	}
	if resp.Error != "" {
		_ = conn.Close()
		return resp, nil, nil, fmt.Errorf("%w: %s", ErrRemote, resp.Error)
	}
	return resp, conn, br, nil
}

func (c Client) simple(ctx context.Context, req Request) (Response, error) {
	resp, conn, _, err := c.do(ctx, req)
	if conn != nil {
		_ = conn.Close()
	}
	return resp, err
}

// AddUser creates an account.
func (c Client) AddUser(ctx context.Context, user, password string) error {
	_, err := c.simple(ctx, Request{Op: OpUserAdd, User: user, Password: password})
	return err
}

// DeleteUser removes an account and all its data.
func (c Client) DeleteUser(ctx context.Context, user string) error {
	_, err := c.simple(ctx, Request{Op: OpUserDel, User: user})
	return err
}

// SetPassword changes a password.
func (c Client) SetPassword(ctx context.Context, user, password string) error {
	_, err := c.simple(ctx, Request{Op: OpUserPasswd, User: user, Password: password})
	return err
}

// Users lists the accounts.
func (c Client) Users(ctx context.Context) ([]string, error) {
	resp, err := c.simple(ctx, Request{Op: OpUserList})
	return resp.Users, err
}

// Status reports the server's state.
func (c Client) Status(ctx context.Context) (map[string]string, error) {
	resp, err := c.simple(ctx, Request{Op: OpStatus})
	return resp.Status, err
}

// Backup copies the store of the running server to w.
func (c Client) Backup(ctx context.Context, w io.Writer, size func(int64) error) error {
	resp, conn, br, err := c.do(ctx, Request{Op: OpBackup})
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := size(resp.Size); err != nil {
		return err
	}
	n, err := io.Copy(w, io.LimitReader(br, resp.Size))
	if err != nil {
		return fmt.Errorf("receive backup: %w", err)
	}
	if n != resp.Size {
		return fmt.Errorf("receive backup: got %d of %d bytes", n, resp.Size)
	}
	return nil
}

// CertStatus reports the certificates the running server serves.
func (c Client) CertStatus(ctx context.Context) ([]CertStatus, error) {
	resp, err := c.simple(ctx, Request{Op: OpCertStatus})
	return resp.Certs, err
}

// Rooms lists the group chat rooms.
func (c Client) Rooms(ctx context.Context) ([]RoomStatus, error) {
	resp, err := c.simple(ctx, Request{Op: OpRoomList})
	return resp.Rooms, err
}

// RoomInfo describes one room.
func (c Client) RoomInfo(ctx context.Context, room string) (RoomStatus, error) {
	resp, err := c.simple(ctx, Request{Op: OpRoomInfo, Room: room})
	if err != nil {
		return RoomStatus{}, err
	}
	if len(resp.Rooms) != 1 {
		return RoomStatus{}, fmt.Errorf("room info: %d rooms in the answer", len(resp.Rooms))
	}
	return resp.Rooms[0], nil
}

// CreateRoom creates a persistent room owned by owner.
func (c Client) CreateRoom(ctx context.Context, room, owner, name string) error {
	_, err := c.simple(ctx, Request{Op: OpRoomCreate, Room: room, User: owner, Name: name})
	return err
}

// DestroyRoom destroys a room.
func (c Client) DestroyRoom(ctx context.Context, room, reason string) error {
	_, err := c.simple(ctx, Request{Op: OpRoomDestroy, Room: room, Reason: reason})
	return err
}

// CreateInvite makes an invitation.
func (c Client) CreateInvite(ctx context.Context, p InviteParams) (InviteLink, error) {
	resp, err := c.simple(ctx, Request{Op: OpInviteCreate, Invite: &p})
	if err != nil {
		return InviteLink{}, err
	}
	if resp.Link == nil {
		return InviteLink{}, errors.New("create invitation: no invitation in the answer")
	}
	return *resp.Link, nil
}

// ListInvites lists the open invitations.
func (c Client) ListInvites(ctx context.Context) ([]InviteInfo, error) {
	resp, err := c.simple(ctx, Request{Op: OpInviteList})
	return resp.Invites, err
}

// RevokeInvite withdraws an invitation.
func (c Client) RevokeInvite(ctx context.Context, id string) error {
	_, err := c.simple(ctx, Request{Op: OpInviteRevoke, ID: id})
	return err
}

// SetAdmin gives user the admin role or takes it away.
func (c Client) SetAdmin(ctx context.Context, user string, admin bool) error {
	_, err := c.simple(ctx, Request{Op: OpAdminSet, User: user, Admin: admin})
	return err
}

// Admins lists the accounts with the admin role.
func (c Client) Admins(ctx context.Context) ([]string, error) {
	resp, err := c.simple(ctx, Request{Op: OpAdminList})
	return resp.Users, err
}

// Features reports what the running server advertises to clients.
func (c Client) Features(ctx context.Context) (Features, error) {
	resp, err := c.simple(ctx, Request{Op: OpFeatures})
	if err != nil {
		return Features{}, err
	}
	if resp.Features == nil {
		return Features{}, fmt.Errorf("features: %w: empty answer", ErrRemote)
	}
	return *resp.Features, nil
}
