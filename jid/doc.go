// Package jid implements XMPP addresses (JIDs) as defined by RFC 7622, with
// the PRECIS profiles of RFC 8264/8265 and IDNA2008 domain names.
//
// A [JID] is an immutable, comparable value. It is canonicalised exactly once,
// when it is created by [Parse], [New] or [JID.WithResource]; every other
// operation ([JID.Bare], [JID.DomainJID], [JID.Equal], [JID.String], the part
// accessors) only slices a string that is already canonical and never
// allocates. Two JIDs name the same entity exactly when their canonical forms
// are identical octet for octet (RFC 7622 §3.1), so [JID.Equal] and the ==
// operator agree, and a JID can be used directly as a map key.
//
// Any error from this package means the address is invalid; a server maps it
// to the stanza error condition jid-malformed (RFC 6120 §8.3.3.8) or, in a
// stream header, to the stream error improper-addressing. Every error wraps
// exactly one of the sentinels [ErrEmptyPart], [ErrTooLong], [ErrInvalidLocal],
// [ErrInvalidDomain] or [ErrInvalidResource]; test for them with [errors.Is].
// Other errors found in the chain (from golang.org/x/text or x/net/idna) are
// informational and not part of the API.
//
// # Splitting
//
// The separators are matched before any transformation (RFC 7622 §3.1,
// implementation note), because mapping can produce '@' or '/' from other
// code points: the resourcepart is everything after the first '/', the
// localpart everything before the first '@' that precedes that '/'. The
// resourcepart may itself contain '@' and '/'. Each present part must be 1 to
// 1023 octets long after canonicalisation (§3.1), so "@example.org",
// "juliet@" and "example.org/" are rejected with [ErrEmptyPart].
//
// # Canonical form
//
// Localpart (§3.3): the UsernameCaseMapped profile of RFC 8265 §3.3: width
// mapping, Unicode lowercasing, NFC, the IdentifierClass of RFC 8264, and the
// Bidi Rule of RFC 5893, which RFC 8265 §3.3.2 applies only to strings that
// contain right-to-left characters. x/text's built-in profile applies the
// Bidi Rule to every non-ASCII string and so rejects valid left-to-right
// usernames such as "1é" or "müller_" (golang/go#17383); this package builds
// the same profile without that option and applies the Bidi Rule itself. The
// characters " & ' / : < > @ are then refused (§3.3.1), after mapping, so that
// fullwidth look-alikes cannot smuggle them in.
//
// Domainpart (§3.2): a single trailing '.' is removed first (§3.2, "MUST be
// stripped ... before any other canonicalization steps"). An IP-literal in
// brackets must hold an IPv6 address without a zone and is rewritten to the
// RFC 5952 text form ("[::1]"). Anything else is processed as an IDNA2008
// domain name with the UTS #46 non-transitional mapping, which covers the
// case, width and NFC mappings asked for by §3.2.2 (RFC 5895), the STD3 rules
// (letters, digits and hyphen only in ASCII), the hyphen rules that make a
// label NR-LDH (no leading or trailing '-', no "--" in positions 3-4 unless it
// is an A-label), CONTEXTJ and the Bidi Rule. A-labels are decoded: the
// canonical domainpart is always made of U-labels, as §3.2.1 requires ("each
// A-label MUST be converted to a U-label"), so "xn--caf-dma.example" and
// "Café.example" are the same JID, "café.example". Dotted IPv4 addresses are
// valid LDH names and kept as given. Empty labels are refused. Label and name
// lengths are not limited to the DNS maxima (63/253 octets), only to the 1023
// octets of §3.1; code that resolves a domainpart converts it to A-labels and
// handles that error there.
//
// Resourcepart (§3.4): the OpaqueString profile of RFC 8265 §4.2: non-ASCII
// spaces mapped to U+0020, NFC, the FreeformClass. Case is preserved.
//
// The canonical form is a fixed point: parsing a JID's text gives the same
// JID. When a part's rules change it, they are applied a second time, and an
// input whose result would change again is refused with the part's sentinel.
// This catches library corners such as x/net/idna checking the Bidi Rule
// before mapping, which lets "xℵy" (U+2135, left-to-right) map to "xאy"
// (Hebrew, right-to-left), a label that itself fails the rule.
//
// # Fast path
//
// Parse is on the routing path of every stanza, and almost every address seen
// there is already canonical ASCII. Each part is therefore first checked by a
// byte loop that can only accept: a localpart of printable ASCII outside the
// §3.3.1 set, a domainpart of LDH labels with well-placed hyphens, a
// resourcepart of printable ASCII or space. Uppercase ASCII in the localpart
// or domainpart is lowercased by the same loop. Everything the loop cannot
// prove (non-ASCII, an "xn--" label, hyphens in positions 3-4, an odd
// character, an over-long part) goes to the PRECIS/IDNA code, which alone
// decides errors. When no part changes, the JID shares the caller's string, so
// parsing an already canonical ASCII address performs no allocation. The fuzz
// target checks that both paths give the same result for every input.
//
// # Layout and concurrency
//
// A JID holds its canonical text "local@domain/resource" as one string plus
// the offsets where the domainpart starts and ends (uint16: a JID is at most
// 3*1023+2 octets). The offsets are a pure function of the string, because a
// canonical localpart contains no '@' or '/' and a canonical domainpart
// neither. JIDs are values: they are safe to copy and to use from any number
// of goroutines.
package jid
