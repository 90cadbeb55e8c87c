package jid

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/secure/bidirule"
	"golang.org/x/text/secure/precis"
	"golang.org/x/text/unicode/bidi"
	"golang.org/x/text/unicode/norm"
)

// The PRECIS and IDNA configurations. They are package variables only so that
// the slow path does not rebuild them on every call; nothing assigns to them
// after initialisation and both types are safe for concurrent use.
var (
	// localProfile is UsernameCaseMapped (RFC 8265 §3.3) minus the x/text
	// BidiRule option, which wrongly applies the Bidi Rule to left-to-right
	// strings (golang/go#17383). enforceLocal applies it as §3.3.2 says.
	localProfile = precis.NewIdentifier(precis.FoldWidth, precis.LowerCase(), precis.Norm(norm.NFC))

	// domainProfile is IDNA2008 lookup processing with the non-transitional
	// UTS #46 mapping (case, width, NFC: RFC 7622 §3.2.2 via RFC 5895),
	// STD3 ASCII rules, hyphen and CONTEXTJ checks and the Bidi Rule. Empty
	// labels are checked by enforceDomain, and DNS length limits are
	// deliberately not applied (see the package documentation).
	domainProfile = idna.New(
		idna.MapForLookup(),
		idna.Transitional(false),
		idna.BidiRule(),
		idna.VerifyDNSLength(false),
		idna.RemoveLeadingDots(false),
	)
)

// localForbidden are the characters RFC 7622 §3.3.1 excludes from localparts
// on top of the IdentifierClass.
const localForbidden = `"&'/:<>@`

// Parse parses and canonicalises s as a JID (RFC 7622 §3). A canonical ASCII
// address is accepted without allocating, and the returned JID then shares s.
func Parse(s string) (JID, error) {
	j, err := parse(s, true)
	if err != nil {
		return JID{}, fmt.Errorf("parse jid: %w", err)
	}
	return j, nil
}

// ParseDomain parses s as the address of a server or service, a JID with
// neither localpart nor resourcepart, and returns its canonical domainpart
// (RFC 7622 §3.2). An address with a localpart or resourcepart fails with
// [ErrNotDomain]; other failures are those of [Parse]. A canonical ASCII
// domain is returned without allocating: the result is then s itself.
func ParseDomain(s string) (string, error) {
	j, err := parse(s, true)
	if err != nil {
		return "", fmt.Errorf("parse domain: %w", err)
	}
	if j.domainStart != 0 || int(j.domainEnd) != len(j.s) {
		return "", fmt.Errorf("parse domain: %w", ErrNotDomain)
	}
	return j.s, nil
}

// New builds a JID from its parts, canonicalising each of them as [Parse]
// does. An empty local or resource means the part is absent; the domain is
// mandatory. A single trailing '.' is removed from the domain.
func New(local, domain, resource string) (JID, error) {
	j, err := assemble("", local, domain, resource, true)
	if err != nil {
		return JID{}, fmt.Errorf("new jid: %w", err)
	}
	return j, nil
}

// WithResource returns j with its resourcepart replaced by the canonical form
// of r (RFC 7622 §3.4). To remove the resourcepart use [JID.Bare]: an empty r
// is an error, so that a missing value is never silently turned into a bare
// JID.
func (j JID) WithResource(r string) (JID, error) {
	if j.s == "" {
		return JID{}, fmt.Errorf("set resource: domainpart: %w", ErrEmptyPart)
	}
	if r == "" {
		return JID{}, fmt.Errorf("set resource: resourcepart: %w", ErrEmptyPart)
	}
	cr, err := canonResource(r, true)
	if err != nil {
		return JID{}, fmt.Errorf("set resource: %w", err)
	}
	return JID{s: j.s[:j.domainEnd] + "/" + cr, domainStart: j.domainStart, domainEnd: j.domainEnd}, nil
}

// parse implements Parse. With fast false every part goes through PRECIS or
// IDNA; the tests use that to check the fast path against it.
func parse(s string, fast bool) (JID, error) {
	// RFC 7622 §3.1: match the separators before any transformation. The
	// resourcepart starts after the first '/' (§3.4), the localpart ends at
	// the first '@' before it (§3.3).
	rest, res, hasRes := strings.Cut(s, "/")
	local, domain, hasLocal := strings.Cut(rest, "@")
	if !hasLocal {
		local, domain = "", rest
	}
	if hasLocal && local == "" {
		return JID{}, fmt.Errorf("localpart: %w", ErrEmptyPart)
	}
	if hasRes && res == "" {
		return JID{}, fmt.Errorf("resourcepart: %w", ErrEmptyPart)
	}
	return assemble(s, local, domain, res, fast)
}

// assemble canonicalises the parts and joins them. orig is the text they were
// split from, or "" when they come from New; if no part changes, the result
// shares orig instead of allocating. An empty local or res means absent.
func assemble(orig, local, domain, res string, fast bool) (JID, error) {
	var cl, cr string
	var err error
	if local != "" {
		if cl, err = canonLocal(local, fast); err != nil {
			return JID{}, err
		}
	}
	cd, err := canonDomain(domain, fast)
	if err != nil {
		return JID{}, err
	}
	if res != "" {
		if cr, err = canonResource(res, fast); err != nil {
			return JID{}, err
		}
	}

	var s string
	switch {
	case orig != "" && cl == local && cd == domain && cr == res:
		s = orig
	case cl != "" && cr != "":
		s = cl + "@" + cd + "/" + cr
	case cl != "":
		s = cl + "@" + cd
	case cr != "":
		s = cd + "/" + cr
	default:
		s = cd
	}
	// Each part is at most maxPart octets, so the offsets fit in uint16.
	var start uint16
	if cl != "" {
		start = uint16(len(cl) + 1)
	}
	return JID{s: s, domainStart: start, domainEnd: start + uint16(len(cd))}, nil
}

// checkLen enforces the 1..1023 octet bound of RFC 7622 §3.1 on a canonical
// part.
func checkLen(part, s string) (string, error) {
	switch {
	case s == "":
		return "", fmt.Errorf("%s: %w", part, ErrEmptyPart)
	case len(s) > maxPart:
		return "", fmt.Errorf("%s: %w", part, ErrTooLong)
	}
	return s, nil
}

// canonLocal returns the canonical form of a non-empty localpart.
func canonLocal(l string, fast bool) (string, error) {
	if fast {
		if c, ok := fastLocal(l); ok {
			return c, nil
		}
	}
	return enforceLocal(l)
}

// fastLocal accepts a localpart made of printable ASCII other than the
// §3.3.1 characters, lowercasing A-Z. For such strings UsernameCaseMapped
// reduces to ASCII lowercasing: every printable ASCII character is in the
// IdentifierClass (RFC 8264 §9.11, ASCII7), width mapping and NFC leave ASCII
// alone, and the Bidi Rule does not apply to left-to-right text. It reports
// false for anything else, leaving the decision to enforceLocal.
func fastLocal(l string) (string, bool) {
	if len(l) == 0 || len(l) > maxPart {
		return "", false
	}
	upper := false
	for i := 0; i < len(l); i++ {
		switch c := l[i]; {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case 'A' <= c && c <= 'Z':
			upper = true
		case c < 0x21 || c > 0x7e:
			return "", false
		case c == '"', c == '&', c == '\'', c == '/', c == ':', c == '<', c == '>', c == '@':
			return "", false
		}
	}
	if upper {
		return strings.ToLower(l), true
	}
	return l, true
}

// enforceLocal applies the UsernameCaseMapped profile (RFC 8265 §3.3) and the
// additional exclusions of RFC 7622 §3.3.1.
func enforceLocal(l string) (string, error) {
	return enforce("localpart", l, mapLocal, ErrInvalidLocal)
}

// mapLocal is one pass of the localpart rules.
func mapLocal(l string) (string, error) {
	out, err := localProfile.String(l)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidLocal, err)
	}
	// RFC 8265 §3.3.2 rule 6: apply the Bidi Rule to strings that contain
	// right-to-left characters, and only to those.
	if bidirule.DirectionString(out) == bidi.RightToLeft && !bidirule.ValidString(out) {
		return "", fmt.Errorf("%w: %w", ErrInvalidLocal, bidirule.ErrInvalid)
	}
	// RFC 7622 §3.3.1, checked after mapping so that, for example, a
	// fullwidth '@' cannot become a separator in the canonical form.
	if i := strings.IndexAny(out, localForbidden); i >= 0 {
		return "", fmt.Errorf("%w: forbidden character %q", ErrInvalidLocal, out[i])
	}
	return out, nil
}

// enforce is the slow path of every part: the input must be valid UTF-8,
// pass (the part's rules) is applied until the result is stable, and the
// result must not be empty and must fit the length limit. name is the part
// for error messages and invalid its sentinel.
func enforce(name, in string, pass func(string) (string, error), invalid error) (string, error) {
	if !utf8.ValidString(in) {
		return "", fmt.Errorf("%w: not valid UTF-8", invalid)
	}
	out, err := stable(in, pass, invalid)
	if err != nil {
		return "", err
	}
	if out == "" {
		// Only a domainpart can come out empty, when the UTS #46 mapping
		// ignores every code point (U+00AD SOFT HYPHEN, say): the PRECIS
		// profiles of the other parts never delete a code point they
		// accept.
		return "", fmt.Errorf("%s: %w", name, ErrEmptyPart)
	}
	return checkLen(name, out)
}

// stable applies one pass of a part's rules and makes sure the result is a
// fixed point, so that parsing a JID's canonical text always gives the same
// JID. A pass that changes nothing is trivially stable; otherwise the rules
// are applied once more. The libraries are not idempotent in every corner:
// x/net/idna, for one, checks the Bidi Rule before its mapping, so U+2135
// ALEF SYMBOL (left-to-right) passes but maps to U+05D0 HEBREW LETTER ALEF
// (right-to-left), which may then violate the rule. Such inputs are refused
// with the part's sentinel.
func stable(in string, pass func(string) (string, error), invalid error) (string, error) {
	out, err := pass(in)
	if err != nil || out == in {
		return out, err
	}
	again, err := pass(out)
	if err != nil || again != out {
		return "", fmt.Errorf("%w: canonical form is not stable", invalid)
	}
	return out, nil
}

// canonResource returns the canonical form of a non-empty resourcepart.
func canonResource(r string, fast bool) (string, error) {
	if fast && fastResource(r) {
		return r, nil
	}
	return enforceResource(r)
}

// fastResource reports whether r is printable ASCII or space, which the
// OpaqueString profile leaves unchanged (all of it is in the FreeformClass,
// and the space mapping and NFC are identities on ASCII).
func fastResource(r string) bool {
	if len(r) == 0 || len(r) > maxPart {
		return false
	}
	for i := 0; i < len(r); i++ {
		if c := r[i]; c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// enforceResource applies the OpaqueString profile (RFC 8265 §4.2) as RFC
// 7622 §3.4 requires.
func enforceResource(r string) (string, error) {
	return enforce("resourcepart", r, mapResource, ErrInvalidResource)
}

// mapResource is one pass of the resourcepart rules.
func mapResource(r string) (string, error) {
	out, err := precis.OpaqueString.String(r)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidResource, err)
	}
	return out, nil
}

// canonDomain returns the canonical form of a domainpart (RFC 7622 §3.2).
func canonDomain(d string, fast bool) (string, error) {
	// §3.2: a final label separator "MUST be stripped from the domainpart
	// ... before any other canonicalization steps are taken". Only one: a
	// name that still ends in '.' has an empty label and is refused below.
	d = strings.TrimSuffix(d, ".")
	if d == "" {
		return "", fmt.Errorf("domainpart: %w", ErrEmptyPart)
	}
	if d[0] == '[' {
		return ipLiteral(d)
	}
	if fast {
		if c, ok := fastDomain(d); ok {
			return c, nil
		}
	}
	return enforceDomain(d)
}

// ipLiteral validates an IP-literal domainpart (§3.2, RFC 3986 §3.2.2) and
// returns it with the address in the RFC 5952 text form, sharing d when it is
// already in that form. Only IPv6 is allowed in brackets; zones and IPvFuture
// are refused.
func ipLiteral(d string) (string, error) {
	if len(d) < 2 || d[len(d)-1] != ']' {
		return "", fmt.Errorf("%w: unterminated IP-literal", ErrInvalidDomain)
	}
	inner := d[1 : len(d)-1]
	a, err := netip.ParseAddr(inner)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidDomain, err)
	}
	if !a.Is6() || a.Zone() != "" {
		return "", fmt.Errorf("%w: IP-literal is not a zoneless IPv6 address", ErrInvalidDomain)
	}
	var buf [64]byte
	t := a.AppendTo(buf[:0])
	if string(t) == inner {
		return d, nil
	}
	return "[" + string(t) + "]", nil
}

// fastDomain accepts a domainpart made of NR-LDH labels: ASCII letters,
// digits and hyphens, labels not empty, not starting or ending with '-', and
// without "--" in positions 3-4 (which also excludes A-labels, whose
// decoding needs IDNA). It lowercases A-Z, which is what the UTS #46 mapping
// does to ASCII. It reports false for anything else, leaving the decision to
// enforceDomain.
func fastDomain(d string) (string, bool) {
	if len(d) > maxPart {
		return "", false
	}
	upper := false
	start := 0
	for i := 0; i < len(d); i++ {
		switch c := d[i]; {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-':
		case 'A' <= c && c <= 'Z':
			upper = true
		case c == '.':
			if !fastLabel(d[start:i]) {
				return "", false
			}
			start = i + 1
		default:
			return "", false
		}
	}
	if !fastLabel(d[start:]) {
		return "", false
	}
	if upper {
		return strings.ToLower(d), true
	}
	return d, true
}

// fastLabel reports whether an LDH label is certainly an NR-LDH label.
func fastLabel(l string) bool {
	n := len(l)
	return n > 0 && l[0] != '-' && l[n-1] != '-' && (n < 4 || l[2] != '-' || l[3] != '-')
}

// enforceDomain processes a domain name with IDNA2008 (RFC 7622 §3.2.1 and
// §3.2.2) and returns it in U-label form.
func enforceDomain(d string) (string, error) {
	return enforce("domainpart", d, mapDomain, ErrInvalidDomain)
}

// mapDomain is one pass of the domainpart rules for a name (not an
// IP-literal). It returns "" without error for a name whose code points are
// all ignored by the mapping.
func mapDomain(d string) (string, error) {
	out, err := domainProfile.ToUnicode(d)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidDomain, err)
	}
	if out == "" {
		return "", nil
	}
	if out[0] == '.' || out[len(out)-1] == '.' || strings.Contains(out, "..") {
		return "", fmt.Errorf("%w: empty label", ErrInvalidDomain)
	}
	// The STD3 rules already exclude both; the check documents that the
	// split in parse depends on it.
	if strings.ContainsAny(out, "@/") {
		return "", fmt.Errorf("%w: separator in domainpart", ErrInvalidDomain)
	}
	return out, nil
}
