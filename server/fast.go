package server

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"time"

	"roost/jid"
	"roost/sasl"
	"roost/store"
)

// fastTokens keeps the FAST tokens (XEP-0484) of c2s in the store. A
// token is made by sasl.NewToken and kept as its HMAC key; the client it
// is bound to is named in the store by a hash of its user-agent id, so
// that no client-chosen string becomes a key. A token that has less than
// half its lifetime left when used is rotated.
type fastTokens struct {
	st       *store.Store
	lifetime time.Duration
	now      func() time.Time
}

// clientKey names a client in the store: the SHA-256 of its user-agent id.
func clientKey(userAgent string) string {
	h := sha256.Sum256([]byte(userAgent))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// Issue implements c2s.Tokens.
func (f fastTokens) Issue(_ context.Context, bare jid.JID, client, mechanism string) (string, time.Time, error) {
	token, key, err := sasl.NewToken(nil)
	if err != nil {
		return "", time.Time{}, err
	}
	now := f.now()
	// Whole seconds: the expiry goes to the client in XEP-0082 form.
	expires := now.Add(f.lifetime).Truncate(time.Second)
	t := store.FastToken{Mechanism: mechanism, Key: key, Expires: expires}
	if err := f.st.PutFastToken(bare.String(), clientKey(client), t, now); err != nil {
		return "", time.Time{}, fmt.Errorf("issue FAST token: %w", err)
	}
	return token, expires, nil
}

// Verify implements c2s.Tokens: a token only matches for the mechanism it
// was issued for (XEP-0484 §3.4).
func (f fastTokens) Verify(_ context.Context, bare jid.JID, client, mechanism string, count uint64, check func([]byte) bool) (bool, error) {
	now := f.now()
	t, res, err := f.st.UseFastToken(bare.String(), clientKey(client), count, now, func(t store.FastToken) bool {
		return t.Mechanism == mechanism && check(t.Key)
	})
	switch {
	case err != nil:
		return false, fmt.Errorf("verify FAST token: %w", err)
	case res == store.FastExpired:
		return false, &sasl.Error{Condition: sasl.CredentialsExpired, Text: "the token has expired: log in with the password"}
	case res == store.FastReplayed:
		return false, &sasl.Error{Condition: sasl.NotAuthorized, Text: "the token was already used with this count"}
	case res == store.FastAccepted:
		return t.Expires.Sub(now) < f.lifetime/2, nil
	}
	return false, nil
}

// Invalidate implements c2s.Tokens.
func (f fastTokens) Invalidate(_ context.Context, bare jid.JID, client string) error {
	if err := f.st.DeleteFastTokens(bare.String(), clientKey(client)); err != nil {
		return fmt.Errorf("invalidate FAST token: %w", err)
	}
	return nil
}
