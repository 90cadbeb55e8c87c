package jid

import (
	"errors"
	"strconv"
)

// Errors returned by [Parse], [ParseDomain], [New], [JID.WithResource] and
// [JID.UnmarshalText]. Each returned error wraps exactly one of them, and a
// server maps any of them to the stanza error jid-malformed (RFC 6120
// §8.3.3.8).
var (
	// ErrEmptyPart means a part that is present, or the mandatory
	// domainpart, is zero octets long (RFC 7622 §3.1): "@example.org",
	// "juliet@", "example.org/", or a domainpart that is only ".".
	ErrEmptyPart = errors.New("part is empty")

	// ErrTooLong means a part is longer than 1023 octets after
	// canonicalisation (RFC 7622 §3.1).
	ErrTooLong = errors.New("part is longer than 1023 octets")

	// ErrInvalidLocal means the localpart is not valid UTF-8, violates the
	// UsernameCaseMapped profile (RFC 8265 §3.3) or contains one of the
	// characters " & ' / : < > @ (RFC 7622 §3.3.1).
	ErrInvalidLocal = errors.New("invalid localpart")

	// ErrInvalidDomain means the domainpart is neither a valid IPv6
	// IP-literal nor a valid IDNA2008 domain name (RFC 7622 §3.2).
	ErrInvalidDomain = errors.New("invalid domainpart")

	// ErrInvalidResource means the resourcepart is not valid UTF-8 or
	// violates the OpaqueString profile (RFC 8265 §4.2, RFC 7622 §3.4).
	ErrInvalidResource = errors.New("invalid resourcepart")

	// ErrNotDomain means an address that must be a bare domain, such as a
	// stream header's to or from (RFC 6120 §4.7.1, §4.7.2) or a dialback
	// element's (XEP-0220 §2.1), has a localpart or a resourcepart.
	ErrNotDomain = errors.New("not a domain")
)

// maxPart is the longest a canonical part may be, in octets (RFC 7622 §3.1).
const maxPart = 1023

// JID is an XMPP address in canonical form. The zero value is the empty
// address: it has no parts, [JID.IsZero] reports true, and it is never
// returned together with a nil error by the constructors.
//
// JIDs are immutable and comparable; == and [JID.Equal] agree.
type JID struct {
	// s is the canonical text: [local "@"] domain ["/" resource].
	s string
	// domainStart and domainEnd delimit the domainpart in s. domainStart
	// is 0 when there is no localpart (otherwise it is one past the '@');
	// domainEnd is len(s) when there is no resourcepart (otherwise it is
	// the index of the '/'). Both are derived from s alone.
	domainStart, domainEnd uint16
}

// MustParse is like [Parse] but panics if s is not a valid JID. It is meant
// for constants in tests and defaults, never for data from the network.
func MustParse(s string) JID {
	j, err := Parse(s)
	if err != nil {
		panic("jid: MustParse(" + strconv.Quote(s) + "): " + err.Error())
	}
	return j
}

// Local returns the localpart, or "" if there is none.
func (j JID) Local() string {
	if j.domainStart == 0 {
		return ""
	}
	return j.s[:j.domainStart-1]
}

// Domain returns the domainpart, or "" for the zero JID.
func (j JID) Domain() string {
	return j.s[j.domainStart:j.domainEnd]
}

// Resource returns the resourcepart, or "" if there is none.
func (j JID) Resource() string {
	if int(j.domainEnd) == len(j.s) {
		return ""
	}
	return j.s[j.domainEnd+1:]
}

// Bare returns the JID without its resourcepart. It does not allocate.
func (j JID) Bare() JID {
	return JID{s: j.s[:j.domainEnd], domainStart: j.domainStart, domainEnd: j.domainEnd}
}

// DomainJID returns the JID made of the domainpart alone, for example the
// address of the server that hosts j. It does not allocate.
func (j JID) DomainJID() JID {
	return JID{s: j.s[j.domainStart:j.domainEnd], domainEnd: j.domainEnd - j.domainStart}
}

// String returns the canonical text of the JID, "" for the zero JID. It does
// not allocate.
func (j JID) String() string {
	return j.s
}

// Equal reports whether j and o are the same address. Because both are
// canonical this is an octet-for-octet comparison (RFC 7622 §3.1); it does not
// allocate and gives the same answer as j == o.
func (j JID) Equal(o JID) bool {
	return j.s == o.s
}

// IsZero reports whether j is the zero JID.
func (j JID) IsZero() bool {
	return j.s == ""
}

// IsBare reports whether j is a non-zero JID without a resourcepart.
func (j JID) IsBare() bool {
	return j.s != "" && int(j.domainEnd) == len(j.s)
}

// AppendText implements [encoding.TextAppender]: it appends the canonical
// text to b, so serialisers can write a JID without an intermediate copy.
func (j JID) AppendText(b []byte) ([]byte, error) {
	return append(b, j.s...), nil
}

// MarshalText implements [encoding.TextMarshaler]. The zero JID marshals to
// empty text.
func (j JID) MarshalText() ([]byte, error) {
	return []byte(j.s), nil
}

// UnmarshalText implements [encoding.TextUnmarshaler] with [Parse]. Empty
// text yields the zero JID, the inverse of [JID.MarshalText], so an optional
// address in a configuration file may be left empty; callers that require an
// address check [JID.IsZero]. On error *j is left unchanged.
func (j *JID) UnmarshalText(text []byte) error {
	if len(text) == 0 {
		*j = JID{}
		return nil
	}
	p, err := Parse(string(text))
	if err != nil {
		return err
	}
	*j = p
	return nil
}
