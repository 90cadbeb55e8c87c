package sasl

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
)

// This file holds the hashed-token mechanisms (draft-schmaus-kitten-sasl-ht,
// used by FAST, XEP-0484). The client sends, in one message,
//
//	authcid NUL HMAC-SHA-256(token, "Initiator" || cb-data)
//
// and the server answers in its success data with
//
//	HMAC-SHA-256(token, "Responder" || cb-data)
//
// where cb-data is the channel binding the mechanism names (empty for
// -NONE). One round trip, and no PBKDF2: the token is a long random secret
// the server issued, not a password.
//
// # Stored keys
//
// HMAC hashes a key longer than its block (64 bytes for SHA-256) before
// using it (RFC 2104 §2), so for such a token HMAC(token, m) equals
// HMAC(SHA-256(token), m). [NewToken] makes tokens that long, and a server
// keeps only [HTKey] of each: the token itself is never stored. The key is
// still a verifier that logs in by these mechanisms to this server (any
// HMAC verifier is), but it is useless anywhere else and reveals nothing
// of the token.

// htKeyLen is the length of the key HMAC-SHA-256 uses for a token longer
// than its block: the token's SHA-256.
const htKeyLen = sha256.Size

// tokenBytes is the randomness of a token from NewToken: 60 bytes, 80
// characters of base64, above the 64-byte block of SHA-256.
const tokenBytes = 60

// maxAuthcidLen bounds the username of a hashed-token message: a localpart
// is at most 1023 bytes (RFC 7622 §3.3).
const maxAuthcidLen = 1023

// HTMechanisms returns the hashed-token mechanisms to advertise for FAST,
// channel-bound first: -EXPR and -ENDP when b has that binding, and -NONE,
// which needs none.
func HTMechanisms(b ChannelBinding) []string {
	m := make([]string, 0, 3)
	if len(b.TLSExporter) > 0 {
		m = append(m, HTSHA256Expr)
	}
	if len(b.TLSServerEndPoint) > 0 {
		m = append(m, HTSHA256Endp)
	}
	return append(m, HTSHA256None)
}

// IsHT reports whether mechanism is one of the hashed-token mechanisms.
func IsHT(mechanism string) bool {
	m, ok := lookupMechanism(mechanism)
	return ok && m.token
}

// NewToken returns a new token for the hashed-token mechanisms, to give to
// the client, and the key to keep in its place ([HTKey]). rand nil means
// crypto/rand.Reader.
func NewToken(rand io.Reader) (token string, key []byte, err error) {
	var b [tokenBytes]byte
	if _, err := io.ReadFull(orDefault(rand), b[:]); err != nil {
		return "", nil, fmt.Errorf("make token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(b[:])
	return token, HTKey(token), nil
}

// HTKey returns the key HMAC-SHA-256 uses for token: its SHA-256 when it is
// longer than the hash's 64-byte block, else the token itself (which is
// why a server should only issue tokens from [NewToken]).
func HTKey(token string) []byte {
	if len(token) > sha256.BlockSize {
		k := sha256.Sum256([]byte(token))
		return k[:]
	}
	return []byte(token)
}

// TokenLookup verifies a hashed token for the HT mechanisms. For the
// PRECIS-prepared username and the mechanism the client chose, it calls
// check with the key ([HTKey]) of each token the user may log in with by
// that mechanism, until check returns true, and then records the use.
//
// It returns nil both when check accepted a token and when none matched:
// the server tells the two apart by check's answer. An *[Error] is
// reported as it is: credentials-expired for a token that matched but has
// expired, not-authorized for one that may not be used again (a replayed
// count). Any other error fails the exchange with temporary-auth-failure.
//
// A TokenLookup is shared by many connections and must be safe for
// concurrent use.
type TokenLookup func(ctx context.Context, username, mechanism string, check func(key []byte) bool) error

// hashedToken verifies the one message of an HT mechanism and returns the
// server's answer.
func (s *Server) hashedToken(ctx context.Context, msg []byte) ([]byte, bool, error) {
	authcid, proof, ok := bytes.Cut(msg, []byte{0})
	if !ok || len(authcid) == 0 || len(authcid) > maxAuthcidLen || len(proof) != htKeyLen {
		return nil, false, malformed("expected authcid NUL token hash")
	}
	user, err := prepareUsername(string(authcid))
	if err != nil {
		return nil, false, &Error{Condition: NotAuthorized, Text: "invalid username", Err: err}
	}
	cb := s.binding.data(s.mech.cb) // checked by NewServer
	initiator := htMessage("Initiator", cb)
	var key []byte
	err = s.tokens(ctx, user, s.mech.name, func(k []byte) bool {
		if len(k) == 0 || !hmac.Equal(macBytes(k, initiator), proof) {
			return false
		}
		key = k
		return true
	})
	if err != nil {
		var se *Error
		if errors.As(err, &se) {
			return nil, false, err
		}
		return nil, false, &Error{Condition: TemporaryAuthFailure, Err: fmt.Errorf("look up tokens: %w", err)}
	}
	if key == nil {
		return nil, false, failure(NotAuthorized, "")
	}
	s.username = user
	return macBytes(key, htMessage("Responder", cb)), true, nil
}

// htMessage is label || cb-data.
func htMessage(label string, cb []byte) []byte {
	return append([]byte(label), cb...)
}

// macBytes returns HMAC-SHA-256(key, msg).
func macBytes(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

// htClient is a [Client]'s state for a hashed-token mechanism.
type htClient struct {
	token string
	cb    []byte
	want  []byte // the server's expected answer
}

// newHTClient prepares the client side of mechanism m for token.
func newHTClient(m mechanism, token string, b ChannelBinding) (*htClient, error) {
	if token == "" {
		return nil, fmt.Errorf("new client: empty token: %w", ErrPassword)
	}
	h := &htClient{token: token}
	if m.cb != "" {
		if h.cb = b.data(m.cb); h.cb == nil {
			return nil, fmt.Errorf("new client: %s: %w", m.cb, ErrChannelBinding)
		}
	}
	return h, nil
}

// first returns the client's one message.
func (h *htClient) first(username string) []byte {
	key := HTKey(h.token)
	h.want = macBytes(key, htMessage("Responder", h.cb))
	out := append([]byte(username), 0)
	return append(out, macBytes(key, htMessage("Initiator", h.cb))...)
}

// final checks the server's answer.
func (h *htClient) final(in []byte) error {
	if !hmac.Equal(in, h.want) {
		return fmt.Errorf("step client: %w", ErrServerSignature)
	}
	return nil
}
