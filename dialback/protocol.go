package dialback

import (
	"context"
	"errors"

	"roost/stanza"
)

// Verifier is what the Receiving Server needs from the network: it sends
// req, a <db:verify/> request, to the Authoritative Server of req.To
// (XEP-0220 §2.1.2, steps 2 and 3) and returns the answer, which must
// correlate to req (from and to swapped, same id; [Verifications] ensures
// it). An error means no answer came: the server could not be found or
// reached, the stream failed, or ctx ended. s2s implements it.
type Verifier interface {
	Verify(ctx context.Context, req Element) (Element, error)
}

// Initiate starts step 1 of XEP-0220 for pair on an outbound stream whose
// response header carried streamID: it marks the pair Pending in p and
// returns the <db:result/> request carrying our key.
func (k *Keyer) Initiate(p *Pairs, pair Pair, streamID string) (Element, error) {
	if err := p.Begin(pair); err != nil {
		return Element{}, err
	}
	return Element{
		Kind: Result,
		From: pair.Sender,
		To:   pair.Target,
		Key:  k.Key(pair.Target, pair.Sender, streamID),
	}, nil
}

// Outcome applies the answer to our <db:result/> (step 4) received on the
// outbound stream whose table is p, and returns the pair it concerns. An
// answer for a pair not Pending on this stream is [ErrUnsolicited] and
// changes nothing.
func Outcome(p *Pairs, ans Element) (Pair, error) {
	pair := Pair{Sender: ans.To, Target: ans.From}
	if ans.Kind != Result || ans.Type == Request {
		return pair, ErrUnsolicited
	}
	return pair, p.Finish(pair, ans.Type == Valid)
}

// Answer answers a <db:verify/> request as the Authoritative Server
// (XEP-0220 §2.2.2): valid if req.Key is the key we would have made for
// req.From as Receiving Server, req.To (ours) as Originating Server and
// the stream req.ID; an item-not-found error if we do not host req.To.
func (k *Keyer) Answer(req Element, hosted func(domain string) bool) Element {
	if !hosted(req.To) {
		return req.Answer(Error, stanza.NewError(stanza.ItemNotFound, "this server does not host "+req.To))
	}
	if k.Check(req.From, req.To, req.ID, req.Key) {
		return req.Answer(Valid, nil)
	}
	return req.Answer(Invalid, nil)
}

// Receiver is the Receiving Server's side of dialback on one server's
// inbound streams (XEP-0220 §2.2.1). It is configuration only: the state
// lives in each stream's [Pairs].
type Receiver struct {
	// Hosted reports whether we host domain.
	Hosted func(domain string) bool
	// Trusted reports whether the peer on the stream has already proven
	// that it holds sender, by a certificate valid for it (XEP-0344 §2.4:
	// no need to ask the Authoritative Server). Nil trusts nobody.
	Trusted func(sender string) bool
	// RequireTrust refuses requests from untrusted senders with
	// not-authorized instead of verifying their keys (the
	// require_valid_certificates policy).
	RequireTrust bool
	// Verifier reaches Authoritative Servers.
	Verifier Verifier
}

// Decision is what to do with a <db:result/> request right away.
type Decision uint8

// The decisions [Receiver.Receive] makes.
const (
	// Answer: send the returned answer now.
	Answer Decision = iota + 1
	// Check: ask the Authoritative Server with [Receiver.Check], without
	// blocking the stream, and send what it returns.
	Check
	// Drop: a repeated request while one is pending; send nothing, the
	// answer to the first one will serve (answers carry no request id).
	Drop
)

// Receive handles step 1: the <db:result/> request req, received on the
// inbound stream whose table is p.
func (r *Receiver) Receive(p *Pairs, req Element) (Element, Decision) {
	if !r.Hosted(req.To) {
		// §2.2.1: a dialback error, not a stream error, since the stream
		// may carry other pairs.
		return req.Answer(Error, stanza.NewError(stanza.ItemNotFound, "this server does not host "+req.To)), Answer
	}
	trusted := r.Trusted != nil && r.Trusted(req.From)
	if r.RequireTrust && !trusted {
		return req.Answer(Error, stanza.NewError(stanza.NotAuthorized, "a certificate valid for "+req.From+" is required")), Answer
	}
	pair := Pair{Sender: req.From, Target: req.To}
	switch err := p.Begin(pair); {
	case errors.Is(err, ErrValid):
		return req.Answer(Valid, nil), Answer
	case err != nil:
		return Element{}, Drop
	}
	if trusted {
		_ = p.Finish(pair, true)
		return req.Answer(Valid, nil), Answer
	}
	return Element{}, Check
}

// Check runs steps 2 to 4 for a request that [Receiver.Receive] decided
// to check: it asks the Authoritative Server whether req.Key is valid for
// the stream streamID, records the outcome in p and returns the answer for
// the Initiating Server. On an Invalid answer the caller must close the
// stream (§2.2.1: the peer tried to spoof req.From). A failure to get an
// answer from the Authoritative Server is a remote-server-not-found
// dialback error whatever went wrong (§2.4: "If an error is encountered
// in Step 3 ... the Receiving Server MUST send a <remote-server-not-found/>
// dialback error"), with one text: the peer chose req.From, and so the
// host we tried to reach; an answer that told a refused connection from
// one that timed out would scan that host's ports for it.
func (r *Receiver) Check(ctx context.Context, p *Pairs, streamID string, req Element) Element {
	pair := Pair{Sender: req.From, Target: req.To}
	verify := Element{Kind: Verify, From: req.To, To: req.From, ID: streamID, Key: req.Key}
	ans, err := r.Verifier.Verify(ctx, verify)
	switch {
	case err != nil:
		_ = p.Finish(pair, false)
		return req.Answer(Error, stanza.NewError(stanza.RemoteServerNotFound, "could not verify the key with "+req.From))
	case ans.Kind != Verify || ans.From != req.From || ans.To != req.To || ans.ID != streamID:
		// The Verifier matched it; refuse anything else all the same.
		_ = p.Finish(pair, false)
		return req.Answer(Error, stanza.NewError(stanza.RemoteServerNotFound, "no answer from "+req.From))
	case ans.Type == Valid:
		_ = p.Finish(pair, true)
		return req.Answer(Valid, nil)
	case ans.Type == Invalid:
		_ = p.Finish(pair, false)
		return req.Answer(Invalid, nil)
	default:
		// An error from the Authoritative Server (item-not-found: it does
		// not host req.From) is remote-server-not-found here (§2.4).
		_ = p.Finish(pair, false)
		return req.Answer(Error, stanza.NewError(stanza.RemoteServerNotFound, "the authoritative server for "+req.From+" refused to verify"))
	}
}
