// Package discoinfo is the data of service discovery (XEP-0030): what an
// entity says about itself in a disco#info result — identities, features
// and extended information forms (XEP-0128) — and the entity capabilities
// verification string computed from it (XEP-0115 §5).
//
// The server's own disco answers (module/disco), each hosted service
// (group chat, upload, ...), and the caps cache that personal eventing
// uses to learn what contacts want (XEP-0163 §4) all read and write this
// one model, so the sort order and the hash are written once.
//
// # Invariants
//
// [Info.Query] writes identities sorted by category/type/xml:lang/name and
// features by octet, without duplicates, so that a reply is always valid
// input for [Info.Ver]. [Parse] keeps what it reads as it is, and [Info.Ver]
// refuses what XEP-0115 §5.4 calls invalid (a duplicate identity, a
// duplicate feature, two forms of one FORM_TYPE, a FORM_TYPE that is not
// hidden) instead of hashing it, so that a poisoned disco#info answer
// cannot be cached under another entity's verification string.
package discoinfo
