package muc

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"roost/form"
	"roost/jid"
	"roost/stanza"
)

// Config is a room's configuration (XEP-0045 §10.2, the muc#roomconfig
// fields of §15.5.3).
type Config struct {
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
	Persistent  bool   `json:"persistent,omitempty"`
	Public      bool   `json:"public,omitempty"`
	MembersOnly bool   `json:"members_only,omitempty"`
	// Password is required to enter when not empty.
	Password  string `json:"password,omitempty"`
	Moderated bool   `json:"moderated,omitempty"`
	// NonAnonymous lets every occupant see real JIDs (whois anyone);
	// otherwise only moderators do (semi-anonymous).
	NonAnonymous bool `json:"non_anonymous,omitempty"`
	// MaxUsers bounds the occupants; 0 means the service's limit.
	MaxUsers int `json:"max_users,omitempty"`
	// AllowInvites lets participants invite (in a members-only room,
	// members; otherwise only admins and owners may).
	AllowInvites bool `json:"allow_invites,omitempty"`
	// AllowPM is who may send private messages: PMAnyone, PMParticipants,
	// PMModerators or PMNone.
	AllowPM string `json:"allow_pm,omitempty"`
	// MaxHistory is the most history messages sent on join
	// (muc#maxhistoryfetch).
	MaxHistory int `json:"max_history"`
	// ChangeSubject lets participants change the subject; moderators
	// always may.
	ChangeSubject bool `json:"change_subject,omitempty"`
	// Logging keeps the room's messages in its archive on disk.
	Logging bool `json:"logging,omitempty"`
	// PresenceBroadcast is the roles whose presence the other occupants
	// get (muc#roomconfig_presencebroadcast); zero: every role, as
	// before the field existed. An occupant whose role is not in it
	// still gets its own presence and everyone else's.
	PresenceBroadcast Roles `json:"presence_broadcast,omitempty"`
	// GetMemberList is the roles of the occupants who may retrieve the
	// member list (muc#roomconfig_getmemberlist); zero: moderators (see
	// defaultGetMemberList).
	GetMemberList Roles `json:"get_member_list,omitempty"`
}

// Defaults of the Roles fields.
const (
	// defaultPresenceBroadcast: everyone's presence goes to everyone, as
	// in XEP-0045's example form (§10.2) and in Prosody and ejabberd.
	defaultPresenceBroadcast = rolesChosen | 1<<Moderator | 1<<Participant | 1<<Visitor
	// defaultGetMemberList: moderators. XEP-0045 sets no default (its
	// example form lists all roles); neither Prosody nor ejabberd offers
	// the field, and both give the member list to admins and owners only,
	// and to members when real JIDs are public (see room.adminGet, which
	// keeps Prosody's rule). The member list is a list of real JIDs:
	// moderators see occupants' real JIDs in every room (§5.1.1), so
	// giving it to them reveals nothing new, while participants and
	// visitors of a semi-anonymous room would learn what the room hides
	// from them. A family room's moderators are its owners and admins,
	// who could read the list already.
	defaultGetMemberList = rolesChosen | 1<<Moderator
)

// presenceBroadcast is the effective muc#roomconfig_presencebroadcast.
func (c Config) presenceBroadcast() Roles {
	return cmp.Or(c.PresenceBroadcast, defaultPresenceBroadcast)
}

// getMemberList is the effective muc#roomconfig_getmemberlist.
func (c Config) getMemberList() Roles { return cmp.Or(c.GetMemberList, defaultGetMemberList) }

// PresenceShownFor names the roles whose presence the room broadcasts
// (the effective muc#roomconfig_presencebroadcast), for the admin's view.
func (c Config) PresenceShownFor() []string { return c.presenceBroadcast().names() }

// MemberListFor names the roles that may read the member list (the
// effective muc#roomconfig_getmemberlist), for the admin's view.
func (c Config) MemberListFor() []string { return c.getMemberList().names() }

// Fields of the configuration form (XEP-0045 §15.5.3).
const (
	fName          = "muc#roomconfig_roomname"
	fDesc          = "muc#roomconfig_roomdesc"
	fPersistent    = "muc#roomconfig_persistentroom"
	fPublic        = "muc#roomconfig_publicroom"
	fMembersOnly   = "muc#roomconfig_membersonly"
	fPasswordOn    = "muc#roomconfig_passwordprotectedroom"
	fPassword      = "muc#roomconfig_roomsecret"
	fModerated     = "muc#roomconfig_moderatedroom"
	fWhois         = "muc#roomconfig_whois"
	fMaxUsers      = "muc#roomconfig_maxusers"
	fAllowInvites  = "muc#roomconfig_allowinvites"
	fAllowPM       = "muc#roomconfig_allowpm"
	fMaxHistory    = "muc#maxhistoryfetch"
	fChangeSubject = "muc#roomconfig_changesubject"
	fLogging       = "muc#roomconfig_enablelogging"
	fPresenceCast  = "muc#roomconfig_presencebroadcast"
	fGetMemberList = "muc#roomconfig_getmemberlist"
	// The owners and admins are the room's affiliations, not part of
	// Config: the room adds them to the form and applies them
	// (room.configForm, room.listChanges).
	fRoomOwners = "muc#roomconfig_roomowners"
	fRoomAdmins = "muc#roomconfig_roomadmins"
)

// limits bound what a configuration may ask for.
type limits struct {
	maxUsers   int // the service's occupants per room
	maxHistory int // messages a room keeps
	maxName    int // characters of a name or description
}

// maxUsersChoices are the options offered for muc#roomconfig_maxusers, up
// to the service's limit.
var maxUsersChoices = []int{5, 10, 20, 30, 50, 100, 200, 500, 1000}

// Form returns the configuration form of c (§10.2) for a room's owner.
func (c Config) Form(title string, lim limits) *form.Form {
	f := form.New(form.TypeForm, FormConfig)
	f.Title = title
	f.Instructions = []string{"Complete and submit this form to configure the room."}
	boolean := func(v, label string, b bool) form.Field {
		return form.Field{Var: v, Type: form.Boolean, Label: label, Values: []string{form.FormatBool(b)}}
	}
	maxUsers := form.Field{Var: fMaxUsers, Type: form.ListSingle, Label: "Maximum number of occupants",
		Values: []string{strconv.Itoa(c.maxUsers(lim))}}
	people := func(n int) form.Option {
		return form.Option{Label: strconv.Itoa(n) + " people", Value: strconv.Itoa(n)}
	}
	for _, n := range maxUsersChoices {
		if n < lim.maxUsers {
			maxUsers.Options = append(maxUsers.Options, people(n))
		}
	}
	maxUsers.Options = append(maxUsers.Options, people(lim.maxUsers))
	if n := c.maxUsers(lim); !maxUsers.Allowed(strconv.Itoa(n)) {
		maxUsers.Options = append(maxUsers.Options, people(n))
	}
	whois := "moderators"
	if c.NonAnonymous {
		whois = "anyone"
	}
	f.Add(
		form.Field{Var: fName, Type: form.TextSingle, Label: "Name", Values: []string{c.Name}},
		form.Field{Var: fDesc, Type: form.TextSingle, Label: "Description", Values: []string{c.Description}},
		boolean(fPersistent, "Keep the room when the last person leaves", c.Persistent),
		boolean(fPublic, "List the room in the directory of rooms", c.Public),
		boolean(fMembersOnly, "Only members may enter", c.MembersOnly),
		boolean(fPasswordOn, "A password is needed to enter", c.Password != ""),
		form.Field{Var: fPassword, Type: form.TextPrivate, Label: "Password", Values: []string{c.Password}},
		boolean(fModerated, "Only people given a voice may speak", c.Moderated),
		form.Field{Var: fWhois, Type: form.ListSingle, Label: "Who may see the occupants' real addresses",
			Values: []string{whois}, Options: []form.Option{{Label: "Moderators only", Value: "moderators"}, {Label: "Anyone", Value: "anyone"}}},
		maxUsers,
		boolean(fAllowInvites, "Occupants may invite others", c.AllowInvites),
		form.Field{Var: fAllowPM, Type: form.ListSingle, Label: "Who may send private messages",
			Values: []string{c.AllowPM}, Options: []form.Option{
				{Label: "Anyone", Value: PMAnyone}, {Label: "Participants", Value: PMParticipants},
				{Label: "Moderators", Value: PMModerators}, {Label: "Nobody", Value: PMNone}}},
		form.Field{Var: fMaxHistory, Type: form.TextSingle, Label: fmt.Sprintf("Messages shown to someone who joins (at most %d)", lim.maxHistory),
			Values: []string{strconv.Itoa(c.MaxHistory)}},
		boolean(fChangeSubject, "Participants may change the subject", c.ChangeSubject),
		boolean(fLogging, "Keep the room's messages (archive)", c.Logging),
		rolesField(fPresenceCast, "Whose presence the others see (joining, leaving, status)", c.presenceBroadcast()),
		rolesField(fGetMemberList, "Who in the room may see the list of members", c.getMemberList()),
	)
	return f
}

// rolesField is a list-multi field of roles (presencebroadcast,
// getmemberlist).
func rolesField(v, label string, s Roles) form.Field {
	fl := form.Field{Var: v, Type: form.ListMulti, Label: label, Values: s.names()}
	for _, r := range roleChoices {
		fl.Options = append(fl.Options, form.Option{Label: roleLabels[r], Value: r.String()})
	}
	return fl
}

var roleLabels = [...]string{Moderator: "Moderators", Participant: "Participants", Visitor: "Visitors"}

// maxUsers is the effective occupant limit.
func (c Config) maxUsers(lim limits) int {
	if c.MaxUsers <= 0 || c.MaxUsers > lim.maxUsers {
		return lim.maxUsers
	}
	return c.MaxUsers
}

// badConfig is the error for a submitted configuration that cannot be
// applied (XEP-0045 §10.2: bad-request; nothing is changed).
func badConfig(format string, args ...any) *stanza.Error {
	return &stanza.Error{Type: stanza.Modify, Condition: stanza.BadRequest, Text: fmt.Sprintf(format, args...)}
}

// Apply returns c changed by the submitted form f. Any field it does not
// know, or a value it cannot take, fails the whole form with bad-request
// and returns c as it was.
func (c Config) Apply(f *form.Form, lim limits) (Config, error) {
	next, err := c.apply(f, lim)
	if err != nil {
		return c, err
	}
	return next, nil
}

func (c Config) apply(f *form.Form, lim limits) (Config, error) {
	if ft := f.FormType(); ft != "" && ft != FormConfig {
		return c, badConfig("the form is of type %q, not %s", ft, FormConfig)
	}
	passwordOn := c.Password != ""
	password := c.Password
	for _, fl := range f.Fields {
		if fl.Var == "" {
			continue // a fixed field, as some clients echo them
		}
		switch fl.Var {
		case fPresenceCast, fGetMemberList, fRoomOwners, fRoomAdmins:
			// Multi-valued: checked below.
		default:
			if len(fl.Values) > 1 {
				return c, badConfig("field %s: one value expected", fl.Var)
			}
		}
		v := fl.Value()
		var err error
		switch fl.Var {
		case form.FormTypeVar:
		case fName:
			c.Name, err = text(v, lim.maxName)
		case fDesc:
			c.Description, err = text(v, lim.maxName)
		case fPersistent:
			c.Persistent, err = boolValue(v)
		case fPublic:
			c.Public, err = boolValue(v)
		case fMembersOnly:
			c.MembersOnly, err = boolValue(v)
		case fPasswordOn:
			passwordOn, err = boolValue(v)
		case fPassword:
			password, err = text(v, lim.maxName)
		case fModerated:
			c.Moderated, err = boolValue(v)
		case fWhois:
			switch v {
			case "moderators":
				c.NonAnonymous = false
			case "anyone":
				c.NonAnonymous = true
			default:
				err = fmt.Errorf("want moderators or anyone")
			}
		case fMaxUsers:
			if v == "none" || v == "" {
				c.MaxUsers = 0
			} else {
				c.MaxUsers, err = number(v, 1, lim.maxUsers)
			}
			if c.MaxUsers == lim.maxUsers {
				c.MaxUsers = 0 // the service's limit, as it may change
			}
		case fAllowInvites:
			c.AllowInvites, err = boolValue(v)
		case fAllowPM:
			if !slices.Contains([]string{PMAnyone, PMParticipants, PMModerators, PMNone}, v) {
				err = fmt.Errorf("want anyone, participants, moderators or none")
			}
			c.AllowPM = v
		case fMaxHistory:
			c.MaxHistory, err = number(v, 0, lim.maxHistory)
		case fChangeSubject:
			c.ChangeSubject, err = boolValue(v)
		case fLogging:
			c.Logging, err = boolValue(v)
		case fPresenceCast:
			c.PresenceBroadcast, err = chooseRoles(fl.Values, defaultPresenceBroadcast)
		case fGetMemberList:
			c.GetMemberList, err = chooseRoles(fl.Values, defaultGetMemberList)
		case fRoomOwners, fRoomAdmins:
			// Not c's: checked here so that a bad list fails the whole
			// form; the room applies them (room.listChanges).
			_, err = userJIDs(fl.Values)
		default:
			return c, badConfig("unknown field %s", fl.Var)
		}
		if err != nil {
			return c, badConfig("field %s: %q: %v", fl.Var, strings.Join(fl.Values, " "), err)
		}
	}
	if err := checkLists(f); err != nil {
		return c, err
	}
	c.Password = ""
	if passwordOn {
		if password == "" {
			return c, badConfig("field %s: a password-protected room needs a password", fPassword)
		}
		c.Password = password
	}
	return c, nil
}

func boolValue(v string) (bool, error) { return form.ParseBool(v) }

// chooseRoles reads a Roles field; the default is stored as zero.
func chooseRoles(values []string, def Roles) (Roles, error) {
	s, err := parseRoles(values)
	if err != nil || s == def {
		return 0, err
	}
	return s, nil
}

// userJIDs reads a jid-multi list of owners or admins: bare JIDs, each
// once, in order.
func userJIDs(values []string) ([]jid.JID, error) {
	out := make([]jid.JID, 0, len(values))
	for _, v := range values {
		if strings.TrimSpace(v) == "" {
			// An empty <value/>: what a client sends for an empty line
			// of the list's text box, not a JID.
			continue
		}
		j, err := jid.Parse(v)
		switch {
		case err != nil || j.Resource() != "":
			// As in a muc#admin item (room.checkAdminItem).
			return nil, fmt.Errorf("%q is not a bare JID", v)
		}
		if !slices.ContainsFunc(out, j.Equal) {
			out = append(out, j)
		}
	}
	return out, nil
}

// checkLists refuses a form that names someone both owner and admin.
func checkLists(f *form.Form) error {
	if !f.Has(fRoomOwners) || !f.Has(fRoomAdmins) {
		return nil
	}
	owners, _ := userJIDs(f.Values(fRoomOwners))
	admins, _ := userJIDs(f.Values(fRoomAdmins))
	for _, j := range admins {
		if slices.ContainsFunc(owners, j.Equal) {
			return badConfig("%s is in both %s and %s", j, fRoomOwners, fRoomAdmins)
		}
	}
	return nil
}

// text accepts a single-line value of at most max characters.
func text(v string, max int) (string, error) {
	if strings.ContainsAny(v, "\n\r") {
		return "", fmt.Errorf("one line expected")
	}
	if n := len([]rune(v)); n > max {
		return "", fmt.Errorf("%d characters, at most %d allowed", n, max)
	}
	return v, nil
}

func number(v string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("not a number")
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("must be from %d to %d", lo, hi)
	}
	return n, nil
}

// changeCodes returns the status codes that announce the change from
// old to c to the occupants (XEP-0045 §10.2.1).
func (c Config) changeCodes(old Config) []int {
	var codes []int
	if c.Logging != old.Logging {
		if c.Logging {
			codes = append(codes, statusLogging)
		} else {
			codes = append(codes, statusNotLogging)
		}
	}
	if c.NonAnonymous != old.NonAnonymous {
		if c.NonAnonymous {
			codes = append(codes, statusNowNonAnon)
		} else {
			codes = append(codes, statusNowSemiAnon)
		}
	}
	rest, prev := c, old
	rest.Logging, rest.NonAnonymous, prev.Logging, prev.NonAnonymous = false, false, false, false
	if rest != prev {
		codes = append(codes, statusConfigChanged)
	}
	return codes
}

// features returns the muc_ features that describe c (XEP-0045 §6.4,
// §15.5.4).
func (c Config) features() []string {
	pick := func(b bool, yes, no string) string {
		if b {
			return yes
		}
		return no
	}
	return []string{
		pick(c.Persistent, "muc_persistent", "muc_temporary"),
		pick(c.Public, "muc_public", "muc_hidden"),
		pick(c.MembersOnly, "muc_membersonly", "muc_open"),
		pick(c.Password != "", "muc_passwordprotected", "muc_unsecured"),
		pick(c.Moderated, "muc_moderated", "muc_unmoderated"),
		pick(c.NonAnonymous, "muc_nonanonymous", "muc_semianonymous"),
	}
}
