package c2s

import (
	"context"
	"log/slog"
	"time"

	"roost/jid"
	"roost/sasl"
	"roost/xmlstream"
)

// XEP-0484 FAST. A client that authenticated through SASL2 asks for a
// token (<request-token/>, for one of the HT mechanisms offered in the
// <fast/> inline feature) and gets it in the <success/>. On its next
// connection it logs in with that token in one round trip: the HT
// mechanism's one message, marked by <fast/>, with its user-agent id,
// which the token is bound to. The server gives a new token with the
// success when the one used is due for rotation, and drops the client's
// tokens when it asks (<fast invalidate='true'/>). What tokens are and how
// they are kept is [Tokens]'s business.

// Tokens keeps the FAST tokens of the accounts' clients. client is the
// user-agent id the client sent (XEP-0388 §2.3), which a token is bound
// to: a token is only good for the client it was issued to.
type Tokens interface {
	// Issue gives the account's client a new token for mechanism (one of
	// the HT mechanisms) and returns it with its expiry.
	Issue(ctx context.Context, bare jid.JID, client, mechanism string) (token string, expires time.Time, err error)
	// Verify looks for the token the client proves it holds: it calls
	// check with the key (sasl.HTKey) of each token of the client issued
	// for mechanism until check returns true, then records the use and
	// the client's replay counter (count, 0 if it sent none). rotate
	// says the token used should be replaced. An expired token or a
	// counter not above the highest one used with the token is reported
	// as a *sasl.Error (credentials-expired, not-authorized).
	Verify(ctx context.Context, bare jid.JID, client, mechanism string, count uint64, check func(key []byte) bool) (rotate bool, err error)
	// Invalidate drops the client's tokens.
	Invalidate(ctx context.Context, bare jid.JID, client string) error
}

// tokenLookup adapts Tokens to the HT mechanisms for a login by the
// client that sent req; rotate learns whether the token is due for
// rotation.
func (n *negotiation) tokenLookup(req *authRequest, rotate *bool) sasl.TokenLookup {
	return func(ctx context.Context, username, mechanism string, check func([]byte) bool) error {
		bare, err := jid.New(username, n.domain, "")
		if err != nil {
			return nil // no such account: nothing matches
		}
		if err := n.holdBack(ctx, bare); err != nil {
			return err
		}
		r, err := n.srv.opts.Tokens.Verify(ctx, bare, req.userAgent, mechanism, req.count, check)
		*rotate = r
		return err
	}
}

// fastToken handles the FAST part of a successful SASL2 authentication:
// it drops the token the client asked to invalidate, and issues the one it
// requested or that replaces a token due for rotation. It returns the
// <token/> for the success, or nil.
func (n *negotiation) fastToken(ctx context.Context, req *authRequest, rotate bool) *xmlstream.Element {
	tokens := n.srv.opts.Tokens
	if tokens == nil || req.userAgent == "" {
		return nil
	}
	fast := sasl.IsHT(req.mechanism)
	mech := req.tokenMech
	if fast && req.invalidate {
		// §3.6: the token is gone, and no new one comes unless asked for.
		if err := tokens.Invalidate(ctx, n.bare, req.userAgent); err != nil {
			n.logger().Warn("invalidating a FAST token", "err", err)
		}
	} else if mech == "" && fast && rotate {
		mech = req.mechanism // §3.5: rotation, as if the client had asked
	}
	if mech == "" {
		return nil
	}
	token, expires, err := tokens.Issue(ctx, n.bare, req.userAgent, mech)
	if err != nil {
		n.logger().Warn("issuing a FAST token", "err", err)
		return nil
	}
	n.debugAttrs(ctx, "FAST token issued", slog.String("mechanism", mech), slog.Time("expires", expires))
	return xmlstream.New(nsFAST, "token").
		SetAttr("expiry", expires.UTC().Format(time.RFC3339)).
		SetAttr("token", token)
}
