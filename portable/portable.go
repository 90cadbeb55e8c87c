package portable

import (
	"errors"
	"fmt"
	"time"

	"roost/xmlstream"
)

// Namespaces of the format and of the payloads it carries.
const (
	// NS is XEP-0227's namespace since version 1.0.
	NS = "urn:xmpp:pie:0"
	// NSLegacy is the namespace of the drafts, which older exports use.
	NSLegacy = "http://www.xmpp.org/extensions/xep-0227.html#ns"
	// NSSCRAM qualifies SCRAM credentials (XEP-0227 1.1).
	NSSCRAM = "urn:xmpp:pie:0#scram"
	// NSArchive qualifies the message archive (XEP-0227 1.1).
	NSArchive = "urn:xmpp:pie:0#mam"
	// NSRoost is roost's extension: what XEP-0227 has no place for.
	NSRoost = "urn:roost:pie:0"
	// NSXInclude is XInclude's namespace.
	NSXInclude = "http://www.w3.org/2001/XInclude"

	NSRoster      = "jabber:iq:roster"
	NSPrivate     = "jabber:iq:private"
	NSPrivacy     = "jabber:iq:privacy"
	NSVCard       = "vcard-temp"
	NSBlocking    = "urn:xmpp:blocking"
	NSPubsub      = "http://jabber.org/protocol/pubsub"
	NSPubsubOwner = "http://jabber.org/protocol/pubsub#owner"
	NSMAM         = "urn:xmpp:mam:2"
	NSForward     = "urn:xmpp:forward:0"
	NSDelay       = "urn:xmpp:delay"
	NSClient      = xmlstream.NSClient
	NSMUCAdmin    = "http://jabber.org/protocol/muc#admin"
	NSData        = "jabber:x:data"
)

// Errors; test for them with [errors.Is]. A decoding error is a
// *[SyntaxError] that wraps one of them or an encoding/xml error.
var (
	// ErrFormat means the document is well-formed XML but not XEP-0227
	// where the package needs it to be: a root that is not <server-data/>,
	// a user without a name, a host without a jid, a bad base64 key.
	ErrFormat = errors.New("not a XEP-0227 document")
	// ErrTooLarge means an element or a token is over
	// Options.MaxElementBytes, or nested deeper than Options.MaxDepth.
	ErrTooLarge = errors.New("element too large")
	// ErrInclude means an XInclude cannot be followed: Decode reads a
	// single stream, or the href leaves the file system.
	ErrInclude = errors.New("cannot follow xi:include")
	// ErrRestricted means the document has a DTD, which XEP-0227 data
	// never needs and which encoding/xml would not apply anyway.
	ErrRestricted = errors.New("restricted XML")
)

// SyntaxError says where decoding failed.
type SyntaxError struct {
	File string // "" for the stream given to Decode
	Line int
	Err  error
}

func (e *SyntaxError) Error() string {
	if e.File == "" {
		return fmt.Sprintf("line %d: %v", e.Line, e.Err)
	}
	return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
}

func (e *SyntaxError) Unwrap() error { return e.Err }

// Entry is one piece of a document. Its dynamic type is one of the types
// below; the entries of a user come between its *User and its *UserEnd.
type Entry interface{ entry() }

// User starts a user's entries (XEP-0227 §4.2).
type User struct {
	// Host is the domain, Name the localpart, as written (not prepared).
	Host, Name string
	// Password is the plaintext password attribute, which XEP-0227 1.1
	// discourages; HasPassword tells an empty one from none. Never log it.
	Password    string
	HasPassword bool
	// Created is when the account was made, from roost's extension; zero
	// if the document does not say.
	Created time.Time
}

// UserEnd ends a user's entries.
type UserEnd struct{}

// Credential is a user's SCRAM credentials for one hash (RFC 5802 §3).
type Credential struct {
	// Mechanism is the SASL mechanism, such as "SCRAM-SHA-1".
	Mechanism  string
	Iterations int
	Salt       []byte
	StoredKey  []byte
	ServerKey  []byte
}

// RosterItem is one roster item (RFC 6121 §2.1.2).
type RosterItem struct {
	JID, Name string
	// Subscription is none, to, from or both; Ask is "subscribe" for a
	// pending outbound request.
	Subscription, Ask string
	// Approved is a pre-approval (RFC 6121 §3.4).
	Approved bool
	Groups   []string
	// Hidden, roost's extension, marks an item that only holds
	// subscription state and is not in the user's roster.
	Hidden bool
}

// Request is an incoming subscription request waiting for the user's
// answer (XEP-0227 §4.8), from the bare JID From.
type Request struct {
	From string
	// Presence is the request as the exporting server kept it, with
	// whatever status text it carried.
	Presence *xmlstream.Element
}

// VCard is the user's vCard (XEP-0054), a <vCard xmlns='vcard-temp'/>.
type VCard struct{ Element *xmlstream.Element }

// Private is one fragment of private XML storage (XEP-0049).
type Private struct{ Element *xmlstream.Element }

// Blocked is one JID on the user's block list (XEP-0191).
type Blocked struct{ JID string }

// Privacy is one privacy list (XEP-0016), a <list/>; Default says it is
// the user's default list.
type Privacy struct {
	List    *xmlstream.Element
	Default bool
}

// PEPNode is part or all of one of the user's PEP nodes (XEP-0163): its
// configuration form (a node_config data form, nil if not given), the
// affiliations the owner gave, and the subscribers. The decoder returns
// one PEPNode per element Prosody writes (configure, affiliations,
// subscriptions), so an importer merges those with the same Node.
type PEPNode struct {
	Node          string
	Config        *xmlstream.Element
	Affiliations  []Affiliation
	Subscriptions []string
}

// Affiliation is a JID's affiliation with a node (XEP-0060 §4.1).
type Affiliation struct{ JID, Affiliation string }

// PEPItem is one item of a PEP node.
type PEPItem struct {
	Node, ID string
	// Published is when it was published, from roost's extension; zero if
	// the document does not say.
	Published time.Time
	// Payload is the item's content; nil for an empty item.
	Payload *xmlstream.Element
}

// Offline is one message waiting for the user (XEP-0227 §4.4), with the
// delay stamp (XEP-0203) the exporting server added, if any, inside it.
type Offline struct{ Message *xmlstream.Element }

// Archived is one message of the user's archive (XEP-0313, XEP-0227 1.1).
type Archived struct {
	// ID is the archive's identifier of the message, as the exporting
	// server showed it.
	ID string
	// Stamp is when it was archived, from the forwarded delay.
	Stamp   time.Time
	Message *xmlstream.Element
	// With and Resource are the other party, from roost's extension; ""
	// when the document does not say (an importer derives them from the
	// message's addresses).
	With, Resource string
}

// LastActivity is when the user last logged out and the status they left
// with (XEP-0012), from roost's extension.
type LastActivity struct {
	Stamp  time.Time
	Status string
}

// ArchivePrefs are the user's archiving preferences, a XEP-0441 <prefs/>.
type ArchivePrefs struct{ Element *xmlstream.Element }

// Doc is a piece of account data the exporting roost had no format for,
// kept as it was stored under Key, from roost's extension (key and value
// base64 in the document).
type Doc struct {
	Key   string
	Value []byte
}

// Room is a persistent group chat room (XEP-0045) of the service Service
// (a host of the document, such as conference.example.org), from roost's
// extension: neither XEP-0227 nor prosody-migrator nor ejabberd's
// export_piefxis carries rooms. Rooms stand beside users, never inside
// one.
type Room struct {
	// Service is the room's domain, Name its localpart, as written.
	Service, Name string
	// Config is the configuration as a submitted muc#roomconfig data form
	// (XEP-0045 §10.2, §15.5.3); nil if the document gives none.
	Config *xmlstream.Element
	// Subject is the room's subject (XEP-0045 §8.1); SubjectBy who set it
	// (the occupant JID the exporting server kept) and SubjectAt when,
	// zero if the document does not say.
	Subject, SubjectBy string
	SubjectAt          time.Time
	// Affiliations are the room's owners, admins, members and outcasts
	// (and people with only a reserved nickname), as XEP-0045 §9 and §10
	// list them.
	Affiliations []RoomAffiliation
	// Created is when the room was made; zero if the document does not say.
	Created time.Time
	// Salt is the exporting roost's per-room secret behind occupant ids
	// (XEP-0421), so that ids stay the same after a move; nil if none.
	Salt []byte
}

// RoomAffiliation is a bare JID's affiliation with a room (XEP-0045
// §5.2), with the nickname reserved for it (§7.12) and the reason given.
type RoomAffiliation struct{ JID, Affiliation, Nick, Reason string }

// Unknown is an element the package does not know, or knows but cannot
// read, skipped. Where says
// what it was in ("user", "host", "server-data", or the container such
// as "roster"); between a *User and its *UserEnd it belongs to that user.
type Unknown struct {
	Name  xmlstream.Name
	Where string
	// Reason is why a known element could not be read; "" for an element
	// the package does not know.
	Reason string
	File   string
	Line   int
}

func (*User) entry()         {}
func (*UserEnd) entry()      {}
func (*Credential) entry()   {}
func (*RosterItem) entry()   {}
func (*Request) entry()      {}
func (*VCard) entry()        {}
func (*Private) entry()      {}
func (*Blocked) entry()      {}
func (*Privacy) entry()      {}
func (*PEPNode) entry()      {}
func (*PEPItem) entry()      {}
func (*Offline) entry()      {}
func (*Archived) entry()     {}
func (*LastActivity) entry() {}
func (*ArchivePrefs) entry() {}
func (*Doc) entry()          {}
func (*Room) entry()         {}
func (*Unknown) entry()      {}

// Stamps are written as XEP-0082 date-times in UTC, with as many
// fractional digits as the time has, and read in any XEP-0082 form.
const stampLayout = time.RFC3339Nano

// FormatStamp writes t as a XEP-0082 date-time.
func FormatStamp(t time.Time) string { return t.UTC().Format(stampLayout) }

// ParseStamp reads a XEP-0082 date-time (time zone offsets and fractions
// of a second allowed).
func ParseStamp(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: stamp %.40q", ErrFormat, s)
	}
	return t.UTC(), nil
}
