package muc

import (
	"encoding/json"
	"fmt"
	"slices"
)

// Namespaces and form types (XEP-0045 §19, XEP-0359, XEP-0421, XEP-0249,
// XEP-0203, XEP-0199, XEP-0334).
const (
	NS           = "http://jabber.org/protocol/muc"
	NSUser       = NS + "#user"
	NSAdmin      = NS + "#admin"
	NSOwner      = NS + "#owner"
	FormConfig   = NS + "#roomconfig"
	FormInfo     = NS + "#roominfo"
	FormRegister = NS + "#register"
	FormRequest  = NS + "#request"

	// Disco features of a room besides the muc_ ones.
	featureStableID = NS + "#stable_id"
	featureSelfPing = NS + "#self-ping-optimization"

	nsRegister   = "jabber:iq:register"
	nsStanzaID   = "urn:xmpp:sid:0"
	nsOccupantID = "urn:xmpp:occupant-id:0"
	nsDelay      = "urn:xmpp:delay"
	nsPing       = "urn:xmpp:ping"
	nsConference = "jabber:x:conference"
	nsVCard      = "vcard-temp"
	nsPubsub     = "http://jabber.org/protocol/pubsub"
	nsVCard4     = "urn:ietf:params:xml:ns:vcard-4.0"

	// nodeReservedNick is the disco#info node that tells a user the nick
	// they registered (XEP-0045 §7.12).
	nodeReservedNick = "x-roomuser-item"
)

// Status codes (XEP-0045 §15.6.2, the registrar's mucstatus list).
const (
	statusNonAnonymous   = 100 // anyone may see the occupant's real JID
	statusAffiliation    = 101 // affiliation changed while not in the room
	statusConfigChanged  = 104 // a configuration change unrelated to privacy
	statusSelf           = 110 // the presence is the recipient's own
	statusLogging        = 170 // the room is logged
	statusNotLogging     = 171
	statusNowNonAnon     = 172
	statusNowSemiAnon    = 173
	statusCreated        = 201
	statusNickAssigned   = 210 // the service changed the requested nick
	statusBanned         = 301
	statusNickChanged    = 303
	statusKicked         = 307
	statusAffiliationOut = 321 // removed by an affiliation change
	statusMembersOnly    = 322 // removed when the room became members-only
	statusShutdown       = 332
)

// Affiliation is a long-lived relation of a user to a room (XEP-0045
// §5.2), ordered by rank.
type Affiliation uint8

// Affiliations.
const (
	Outcast Affiliation = iota
	NoAffiliation
	Member
	Admin
	Owner
)

var affiliationNames = [...]string{"outcast", "none", "member", "admin", "owner"}

func (a Affiliation) String() string {
	if int(a) < len(affiliationNames) {
		return affiliationNames[a]
	}
	return fmt.Sprintf("affiliation(%d)", a)
}

// ParseAffiliation reads an affiliation's name.
func ParseAffiliation(s string) (Affiliation, bool) {
	for i, n := range affiliationNames {
		if n == s {
			return Affiliation(i), true
		}
	}
	return 0, false
}

// Role is an occupant's relation to a room while in it (XEP-0045 §5.1),
// ordered by rank; RoleNone is not in the room.
type Role uint8

// Roles.
const (
	RoleNone Role = iota
	Visitor
	Participant
	Moderator
)

var roleNames = [...]string{"none", "visitor", "participant", "moderator"}

func (r Role) String() string {
	if int(r) < len(roleNames) {
		return roleNames[r]
	}
	return fmt.Sprintf("role(%d)", r)
}

func parseRole(s string) (Role, bool) {
	for i, n := range roleNames {
		if n == s {
			return Role(i), true
		}
	}
	return 0, false
}

// PM policies (muc#roomconfig_allowpm): who may send private messages.
const (
	PMAnyone       = "anyone"
	PMParticipants = "participants"
	PMModerators   = "moderators"
	PMNone         = "none"
)

// Creators says who may create rooms.
type Creators string

// Who may create rooms.
const (
	// CreateLocal: users of the account domains the service belongs to.
	CreateLocal Creators = "local"
	// CreateAnyone: anyone, also from other servers.
	CreateAnyone Creators = "anyone"
	// CreateAdmin: nobody over XMPP; the administrator creates rooms
	// with [MUC.CreateRoom].
	CreateAdmin Creators = "admin"
)

// Roles is a set of roles: the value of the muc#roomconfig fields that
// name roles, muc#roomconfig_presencebroadcast and
// muc#roomconfig_getmemberlist (XEP-0045 §15.5.3).
//
// The zero value means the field's default, so that a Config made in code
// or read from a record stored before the field existed behaves as the
// default says; a set chosen in a form, even an empty one, carries
// rolesChosen. [Config.Apply] stores a choice equal to the default as
// zero, so that one configuration has one value.
type Roles uint8

// rolesChosen marks a set chosen in a form, as against the default.
const rolesChosen Roles = 1 << 7

// roleChoices are the roles a Roles field offers, in the form's order.
var roleChoices = [...]Role{Moderator, Participant, Visitor}

// RolesOf returns the chosen set of roles.
func RolesOf(roles ...Role) Roles {
	s := rolesChosen
	for _, r := range roles {
		s |= 1 << r
	}
	return s
}

// Has reports whether r is in s (s chosen, not the zero default).
func (s Roles) Has(r Role) bool { return r != RoleNone && s&(1<<r) != 0 }

// names returns the roles of s by name, in the form's order.
func (s Roles) names() []string {
	out := make([]string, 0, len(roleChoices))
	for _, r := range roleChoices {
		if s.Has(r) {
			out = append(out, r.String())
		}
	}
	return out
}

// parseRoles reads the values of a Roles field.
func parseRoles(values []string) (Roles, error) {
	s := rolesChosen
	for _, v := range values {
		r, ok := parseRole(v)
		if !ok || !slices.Contains(roleChoices[:], r) {
			return 0, fmt.Errorf("%q is not moderator, participant or visitor", v)
		}
		s |= 1 << r
	}
	return s, nil
}

// MarshalJSON writes a chosen set as the list of its roles' names.
func (s Roles) MarshalJSON() ([]byte, error) { return json.Marshal(s.names()) }

// UnmarshalJSON reads a list of roles' names: a chosen set.
func (s *Roles) UnmarshalJSON(b []byte) error {
	var names []string
	if err := json.Unmarshal(b, &names); err != nil {
		return fmt.Errorf("read roles: %w", err)
	}
	if names == nil {
		*s = 0 // null: the default
		return nil
	}
	r, err := parseRoles(names)
	if err != nil {
		return fmt.Errorf("read roles: %w", err)
	}
	*s = r
	return nil
}
