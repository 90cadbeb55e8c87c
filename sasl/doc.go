// Package sasl implements the SASL mechanisms roost authenticates with:
// SCRAM-SHA-256 and SCRAM-SHA-1, with and without channel binding, PLAIN,
// the hashed-token mechanisms of FAST, and the parsing half of EXTERNAL. It is pure: no network, no store, no
// logging. The caller moves base64-decoded bytes between the XML stream and
// a [Server], and supplies credentials through a [Lookup].
//
// # Standards
//
//   - RFC 4422 (SASL): the exchange model; Appendix A, EXTERNAL ([ParseExternal]).
//   - RFC 5802 (SCRAM) and RFC 7677 (SCRAM-SHA-256): [Server], [Client],
//     [Credentials]. The message grammar of RFC 5802 §7 is in scram.go.
//   - RFC 5056, RFC 5929 §4 (tls-server-end-point), RFC 9266 (tls-exporter):
//     [ChannelBinding], [TLSServerEndPoint], [TLSBinding]. tls-unique is not
//     supported (undefined for TLS 1.3).
//   - RFC 4616 (PLAIN), verified against the stored SCRAM keys.
//   - RFC 8265 (PRECIS): UsernameCaseMapped for usernames, as XMPP prepares
//     localparts (RFC 7622 §3.3), and OpaqueString for passwords, in place
//     of SASLprep.
//   - RFC 6120 §6.5: the failure conditions, as [Error] and [Condition].
//   - XEP-0440: [ChannelBinding.Types] lists what to advertise.
//   - XEP-0474 (SCRAM downgrade protection): with [ServerOptions].Downgrade
//     the server-first-message carries "h", the hash of the advertised
//     mechanisms and channel-binding types ([Downgrade]); a [Client] given
//     the same with [Client.SetDowngrade] checks it.
//   - draft-schmaus-kitten-sasl-ht, as XEP-0484 (FAST) uses it:
//     HT-SHA-256-EXPR, -ENDP and -NONE (ht.go), one message each way,
//     verified through a [TokenLookup]; [NewToken] and [HTKey] make tokens
//     a server never needs to store (see ht.go on stored keys).
//
// # Use
//
// A c2s stream advertises [Mechanisms], then for <auth mechanism='M'/>
// creates a [Server] with [NewServer](M, opts), passing PlusOffered as
// whether the -PLUS names were in the list. It feeds each decoded
// <auth/>/<response/> payload to [Server.Step] and sends what comes back as
// <challenge/>, or as <success/> once done. A failure is an *[Error] whose
// Condition becomes the <failure/> child and whose Text may become <text/>;
// its Err is for logs only. After success, [Server.Username] is the
// authenticated, prepared localpart and [Server.Authzid] what the client
// asked to act as, which the caller must check (invalid-authzid).
//
// # Security properties
//
//   - The server never sees or keeps a password for SCRAM, only StoredKey
//     and ServerKey. For PLAIN it holds the prepared password for one PBKDF2
//     run and drops it.
//   - An unknown user is indistinguishable from a wrong password: the
//     exchange goes on with fake credentials derived by HMAC from
//     [ServerOptions].Secret and the username (same salt and iteration count
//     every time), and fails at the final step with the same not-authorized
//     [Error]. PLAIN runs PBKDF2 on the fake credentials, so it costs the
//     same. Store errors for a found user that the caller returns as *Error
//     (account-disabled, credentials-expired) are held back until the
//     password is proven.
//   - Proofs, keys and channel-binding data are compared with hmac.Equal.
//   - Channel binding (RFC 5802 §6): "p=" is only accepted on a -PLUS
//     mechanism and for a type this connection has; "y" when -PLUS was
//     offered is a downgrade and fails; "c=" must match the server's own
//     data byte for byte.
//   - Parsing is strict and bounded (8 KiB per message, at most 8
//     extensions, canonical base64, only "=2C"/"=3D" escapes). The reserved
//     "m=" attribute, repeated or misplaced attributes, non-printable nonces
//     and a wrong nonce echo fail with malformed-request.
//   - Error texts never carry credentials, nonces or proofs.
//   - A hashed-token message is one bounded line (a username of at most
//     1023 bytes, NUL, a 32-byte HMAC); the HMAC is compared with
//     hmac.Equal against each key the lookup offers.
//
// # Failure conditions
//
// malformed-request for anything that violates the grammar or the
// mechanism (including "p=" on a non-PLUS mechanism, "n"/"y" on a -PLUS one
// and a wrong nonce echo); not-authorized for a wrong proof or password, an
// unknown user, an invalid username, a channel-binding downgrade, an
// unsupported or unavailable channel-binding type, and mismatching
// channel-binding data; invalid-mechanism from [NewServer];
// temporary-auth-failure when the [Lookup] or the random source fails.
// The other conditions belong to the caller: incorrect-encoding when the
// base64 of the XML payload does not decode, aborted on <abort/>,
// encryption-required or mechanism-too-weak by its TLS policy, and
// invalid-authzid after checking [Server.Authzid].
//
// # Concurrency
//
// Package functions are safe for concurrent use. A [Server] or [Client]
// belongs to one exchange on one goroutine. A [Lookup] is shared and must be
// safe for concurrent use.
package sasl
