package console

import (
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"roost/jid"
)

func (m *Module) overview(w http.ResponseWriter, r *http.Request, s *session) {
	p := m.pageFor(s, "Server status", "status")
	st := m.opts.Status(r.Context())
	online := 0
	for _, ss := range m.opts.Sessions.Sessions() {
		if ss.Online {
			online++
		}
	}
	users, _ := m.opts.Accounts.Users(r.Context())
	p.Data = struct {
		Status
		Accounts, Online int
		Soon             time.Time
	}{st, len(users), online, m.now().Add(14 * 24 * time.Hour)}
	m.render(w, r, http.StatusOK, "overview", p)
}

// account is one row of the accounts page.
type account struct {
	JID, Name     string
	Admin, Online bool
}

func (m *Module) accounts(w http.ResponseWriter, r *http.Request, s *session) {
	p := m.pageFor(s, "Accounts", "accounts")
	users, err := m.opts.Accounts.Users(r.Context())
	if err != nil {
		p.Error = "The accounts could not be read: " + err.Error()
	}
	online := map[string]bool{}
	for _, ss := range m.opts.Sessions.Sessions() {
		online[ss.JID.Bare().String()] = true
	}
	rows := make([]account, 0, len(users))
	for _, u := range users {
		admin, _ := m.opts.Accounts.IsAdmin(r.Context(), u)
		name, _, _ := strings.Cut(u, "@")
		rows = append(rows, account{JID: u, Name: name, Admin: admin, Online: online[u]})
	}
	p.Data = struct {
		Accounts []account
		Domain   string
	}{rows, m.opts.Domains[0]}
	m.render(w, r, http.StatusOK, "accounts", p)
}

// accountAction serves the accounts page's forms: add, reset password,
// make or unmake admin, delete.
func (m *Module) accountAction(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := r.Context()
	user := m.resolve(r.PostFormValue("user"))
	back := "/admin/accounts"
	if user == "" {
		m.done(w, r, s, back, "That is not a user name this server can have: use letters and digits.")
		return
	}
	var err error
	msg := ""
	switch r.PostFormValue("action") {
	case "add":
		pw := r.PostFormValue("password")
		if err = m.opts.Accounts.AddUser(ctx, user, pw); err == nil {
			msg = "Account " + user + " made. Give them the address and the password."
			if r.PostFormValue("admin") == "on" {
				err = m.opts.Accounts.SetAdmin(ctx, user, true)
			}
		}
	case "password":
		if err = m.opts.Accounts.SetPassword(ctx, user, r.PostFormValue("password")); err == nil {
			msg = "New password set for " + user + ". Their apps must log in again with it."
		}
	case "admin", "unadmin":
		if user == s.user {
			msg = "You cannot change your own role here: ask another admin, or use roost admin on the server."
			break
		}
		give := r.PostFormValue("action") == "admin"
		if err = m.opts.Accounts.SetAdmin(ctx, user, give); err == nil {
			msg = user + " is now an admin."
			if !give {
				msg = user + " is no longer an admin."
			}
		}
	case "delete":
		switch {
		case user == s.user:
			msg = "You cannot delete your own account while logged in with it."
		case r.PostFormValue("confirm") != user:
			msg = "Not deleted: type the full address " + user + " to confirm."
		default:
			if err = m.opts.Accounts.DeleteUser(ctx, user); err == nil {
				msg = "Account " + user + " deleted, with its contacts and messages."
			}
		}
	default:
		http.Error(w, "unknown action", http.StatusBadRequest)
		return
	}
	if err != nil {
		msg = "That did not work: " + err.Error() + "."
	}
	m.done(w, r, s, back, msg)
}

// onlineRow is one row of the online page.
type onlineRow struct {
	Session
	Resource string
}

func (m *Module) online(w http.ResponseWriter, r *http.Request, s *session) {
	p := m.pageFor(s, "Who is online", "online")
	list := m.opts.Sessions.Sessions()
	slices.SortFunc(list, func(a, b Session) int { return strings.Compare(a.JID.String(), b.JID.String()) })
	rows := make([]onlineRow, len(list))
	for i, ss := range list {
		rows[i] = onlineRow{Session: ss, Resource: ss.JID.Resource()}
	}
	p.Data = rows
	m.render(w, r, http.StatusOK, "online", p)
}

func (m *Module) disconnect(w http.ResponseWriter, r *http.Request, s *session) {
	full, err := jid.Parse(r.PostFormValue("jid"))
	msg := "That session had already ended."
	if err == nil && full.Resource() != "" && m.opts.Sessions.Disconnect(full) {
		msg = "Disconnected " + full.String() + ". The app may connect again unless its password changed."
	}
	m.done(w, r, s, "/admin/online", msg)
}

// inviteRow is one row of the invitations page.
type inviteRow struct {
	Invite
	Left int
}

func (m *Module) invites(w http.ResponseWriter, r *http.Request, s *session) {
	p := m.pageFor(s, "Invitations", "invites")
	data := struct {
		Enabled bool
		Invites []inviteRow
		New     *InviteLink
		QR      template.HTML
	}{Enabled: m.opts.Invites != nil}
	if m.opts.Invites != nil {
		list, err := m.opts.Invites.ListInvites(r.Context())
		if err != nil {
			p.Error = "The invitations could not be read: " + err.Error()
		}
		for _, in := range list {
			data.Invites = append(data.Invites, inviteRow{Invite: in, Left: in.MaxUses - in.Used})
		}
		// A new link is shown once, right after it was made.
		m.mu.Lock()
		link := s.newLink
		s.newLink = ""
		m.mu.Unlock()
		if link != "" {
			data.New = &InviteLink{URL: link}
			data.QR = qr(link)
		}
	}
	p.Data = data
	m.render(w, r, http.StatusOK, "invites", p)
}

func (m *Module) inviteAction(w http.ResponseWriter, r *http.Request, s *session) {
	if m.opts.Invites == nil {
		m.done(w, r, s, "/admin/invites", "Invitations are turned off in the configuration.")
		return
	}
	switch r.PostFormValue("action") {
	case "create":
		uses, err := strconv.Atoi(r.PostFormValue("uses"))
		if err != nil || uses < 1 {
			uses = 1
		}
		inviter := ""
		if r.PostFormValue("contact") == "on" {
			inviter = s.user
		}
		link, err := m.opts.Invites.CreateInvite(r.Context(), inviter, r.PostFormValue("admin") == "on", uses)
		if err != nil {
			m.done(w, r, s, "/admin/invites", "The invitation could not be made: "+err.Error()+".")
			return
		}
		// Kept in the session until the page after the redirect shows
		// it and its QR code, once.
		m.mu.Lock()
		s.newLink = link.URL
		m.mu.Unlock()
		m.done(w, r, s, "/admin/invites", "New invitation made. Send the link, or show the code to scan.")
	case "revoke":
		msg := "Invitation withdrawn: its link no longer works."
		if err := m.opts.Invites.RevokeInvite(r.Context(), r.PostFormValue("id")); err != nil {
			msg = "Not withdrawn: " + err.Error() + "."
		}
		m.done(w, r, s, "/admin/invites", msg)
	default:
		http.Error(w, "unknown action", http.StatusBadRequest)
	}
}

func (m *Module) rooms(w http.ResponseWriter, r *http.Request, s *session) {
	p := m.pageFor(s, "Group chats", "rooms")
	data := struct {
		Enabled bool
		Rooms   []Room
	}{Enabled: m.opts.Rooms != nil}
	if m.opts.Rooms != nil {
		rooms, err := m.opts.Rooms.Rooms(r.Context())
		if err != nil {
			p.Error = "The group chats could not be read: " + err.Error()
		}
		data.Rooms = rooms
	}
	p.Data = data
	m.render(w, r, http.StatusOK, "rooms", p)
}

func (m *Module) roomAction(w http.ResponseWriter, r *http.Request, s *session) {
	room, err := jid.Parse(r.PostFormValue("room"))
	msg := "Group chat " + room.String() + " closed; its members were told."
	switch {
	case m.opts.Rooms == nil:
		msg = "Group chat is not available on this server."
	case err != nil || r.PostFormValue("action") != "destroy":
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	default:
		if err := m.opts.Rooms.Destroy(r.Context(), room, "closed by an admin"); err != nil {
			msg = "Not closed: " + err.Error() + "."
		}
	}
	m.done(w, r, s, "/admin/rooms", msg)
}
