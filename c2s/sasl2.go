package c2s

import (
	"context"
	"encoding/base64"
	"slices"
	"strconv"
	"strings"

	"roost/netconn"
	"roost/sasl"
	"roost/stream"
	"roost/xmlstream"
)

// XEP-0388 Extensible SASL Profile (SASL2). The client's <authenticate/>
// names the mechanism, carries the initial response, identifies the client
// (<user-agent id='...'/>) and asks, inline, for what should follow a
// successful authentication: binding a resource with Bind 2 (bind2.go),
// resuming a stream-management session (XEP-0198), a FAST token or the
// use of one (fast.go). Challenges and responses go back and forth as in
// SASL; the <success/> then carries the authorization identifier (the
// full JID once bound or resumed) and the outcome of each inline request,
// and the stream goes on without a restart, with the features of an
// authenticated stream right after the success. A FAST login with Bind 2
// is thus one round trip from <authenticate/> to a bound session.
//
// roost needs no <continue/> tasks: every account keeps SCRAM keys for
// both hashes, so there is nothing to upgrade (XEP-0388 §3.7), and there
// is no second factor. A client that sends anything but <response/> or
// <abort/> during the exchange ends the stream (§3.4).

// maxUserAgentID bounds the user-agent id a client names itself by; the
// XEP suggests a UUID (36 characters).
const maxUserAgentID = 256

// authRequest is a parsed <authenticate xmlns='urn:xmpp:sasl:2'/>.
type authRequest struct {
	mechanism string
	initial   []byte // nil: no initial response
	userAgent string // the id of <user-agent/>, "" if none
	bind      *xmlstream.Element
	resume    *xmlstream.Element
	// FAST (XEP-0484): the mechanism of <request-token/>; whether <fast/>
	// marked a token login, its count and whether it asks to invalidate.
	tokenMech  string
	fast       bool
	count      uint64
	invalidate bool
}

// parseAuthenticate reads el; a request that makes no sense yields the
// failure to send.
func parseAuthenticate(el *xmlstream.Element) (*authRequest, *sasl.Error) {
	req := &authRequest{mechanism: el.Get("mechanism")}
	if req.mechanism == "" {
		return nil, &sasl.Error{Condition: sasl.InvalidMechanism, Text: "no mechanism named"}
	}
	for ch := range el.Elements() {
		switch ch.Name {
		case xmlstream.Name{Space: nsSASL2, Local: "initial-response"}:
			b, ok := decodeSASL2(ch.Text())
			if !ok {
				return nil, &sasl.Error{Condition: sasl.IncorrectEncoding}
			}
			req.initial = b
		case xmlstream.Name{Space: nsSASL2, Local: "user-agent"}:
			id := ch.Get("id")
			if len(id) > maxUserAgentID {
				return nil, &sasl.Error{Condition: sasl.MalformedRequest, Text: "user-agent id too long"}
			}
			req.userAgent = id
		case xmlstream.Name{Space: nsBind2, Local: "bind"}:
			req.bind = ch
		case xmlstream.Name{Space: nsSM, Local: "resume"}:
			req.resume = ch
		case xmlstream.Name{Space: nsFAST, Local: "request-token"}:
			req.tokenMech = ch.Get("mechanism")
		case xmlstream.Name{Space: nsFAST, Local: "fast"}:
			req.fast = true
			req.invalidate = isTrue(ch.Get("invalidate"))
			if c := ch.Get("count"); c != "" {
				n, err := strconv.ParseUint(c, 10, 64)
				if err != nil || n == 0 {
					return nil, &sasl.Error{Condition: sasl.MalformedRequest, Text: "count must be a positive integer"}
				}
				req.count = n
			}
		}
	}
	return req, nil
}

func isTrue(v string) bool { return v == "true" || v == "1" }

// decodeSASL2 decodes base64 data of SASL2. Unlike SASL's "=", an empty
// element is an empty string (XEP-0388 §2.2). Whitespace is dropped: the
// XEP's own examples wrap the data over lines.
func decodeSASL2(t string) ([]byte, bool) {
	if strings.ContainsAny(t, " \t\r\n") {
		t = strings.Map(func(r rune) rune {
			if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
				return -1
			}
			return r
		}, t)
	}
	if t == "" {
		return []byte{}, true
	}
	b, err := base64.StdEncoding.Strict().DecodeString(t)
	return b, err == nil
}

// authenticate2 runs a SASL2 exchange and what the client asked for
// inline. It returns true when the stream is bound (by Bind 2), false when
// it goes on unbound (after a failure the client may retry, or a success
// without Bind 2), errHandedOver when it resumed another session, or an
// error that ends the stream.
func (n *negotiation) authenticate2(ctx context.Context, el *xmlstream.Element) (bool, error) {
	n.attempt = ""
	req, serr := parseAuthenticate(el)
	if serr != nil {
		return false, n.sasl2Failure(serr.Condition, serr.Text, true)
	}
	mech := req.mechanism
	var tokens sasl.TokenLookup
	rotate := false
	if sasl.IsHT(mech) {
		switch {
		case !slices.Contains(n.srv.features.fastMechs[n.cbMask], mech):
			return false, n.sasl2Failure(sasl.InvalidMechanism, "", true)
		case !req.fast:
			return false, n.sasl2Failure(sasl.MalformedRequest, "a token login needs <fast xmlns='urn:xmpp:fast:0'/>", true)
		case req.userAgent == "":
			return false, n.sasl2Failure(sasl.MalformedRequest, "a token login needs a user-agent id", true)
		}
		tokens = n.tokenLookup(req, &rotate)
	} else if !slices.Contains(n.mechanisms(), mech) {
		return false, n.sasl2Failure(sasl.InvalidMechanism, "", true)
	}
	if req.tokenMech != "" && !slices.Contains(n.srv.features.fastMechs[n.cbMask], req.tokenMech) {
		n.debug("FAST token requested for a mechanism not offered", "mechanism", req.tokenMech)
		req.tokenMech = ""
	}
	srv, err := n.saslServer(mech, tokens)
	if err != nil {
		return false, n.sasl2Failure(sasl.InvalidMechanism, "", true)
	}
	data := req.initial
	for {
		out, done, err := srv.Step(ctx, data)
		if err != nil {
			cond, text, counts := n.stepFailure(mech, err)
			return false, n.sasl2Failure(cond, text, counts)
		}
		if done {
			bare, serr := n.authorized(srv)
			if serr != nil {
				return false, n.sasl2Failure(serr.Condition, serr.Text, true)
			}
			if err := n.authenticatedAs(bare, mech, true); err != nil {
				return false, err
			}
			return n.sasl2Success(ctx, req, out, rotate)
		}
		if err := n.writeElement(xmlstream.New(nsSASL2, "challenge").AppendText(base64.StdEncoding.EncodeToString(out))); err != nil {
			return false, err
		}
		el, err := n.t.readElement()
		if err != nil {
			return false, err
		}
		switch {
		case el.Is(nsSASL2, "abort"):
			return false, n.sasl2Failure(sasl.Aborted, "", true)
		case !el.Is(nsSASL2, "response"):
			// §3.4: nothing but responses during the exchange.
			return false, &stream.Error{Condition: stream.PolicyViolation, Text: "only <response/> or <abort/> during authentication"}
		}
		var ok bool
		if data, ok = decodeSASL2(el.Text()); !ok {
			return false, n.sasl2Failure(sasl.IncorrectEncoding, "", true)
		}
	}
}

// sasl2Failure sends a SASL2 <failure/> with an RFC 6120 §6.5 condition
// (XEP-0388 §3.6) and, if it counts, counts it as saslFailure does.
func (n *negotiation) sasl2Failure(cond sasl.Condition, text string, counts bool) error {
	var tooMany error
	if counts {
		tooMany = n.countFailure(cond)
	}
	f := xmlstream.New(nsSASL2, "failure").Append(xmlstream.New(stream.NSSASL, string(cond)))
	if text != "" {
		f.Append(xmlstream.New(nsSASL2, "text").AppendText(text))
	}
	if err := n.writeElement(f); err != nil {
		return err
	}
	return tooMany
}

// success is the <success/> of a SASL2 exchange, less its
// authorization identifier and the outcome of Bind 2 or a resumption,
// which come last.
type success struct {
	additional []byte             // the mechanism's success data
	token      *xmlstream.Element // FAST
	smFailed   *xmlstream.Element // a resumption that failed
}

// element builds the <success/> for the authorization identifier aid.
func (s *success) element(aid string, outcome *xmlstream.Element) *xmlstream.Element {
	el := xmlstream.New(nsSASL2, "success")
	if len(s.additional) > 0 {
		el.Append(xmlstream.New(nsSASL2, "additional-data").AppendText(base64.StdEncoding.EncodeToString(s.additional)))
	}
	return el.Append(
		xmlstream.New(nsSASL2, "authorization-identifier").AppendText(aid),
		s.token, s.smFailed, outcome)
}

// sasl2Success answers a successful SASL2 authentication: the FAST token,
// then a resumption (XEP-0198 §5, which takes the connection over) or
// Bind 2, whichever the client asked for, and the success with the
// features of the stream as it now is.
func (n *negotiation) sasl2Success(ctx context.Context, req *authRequest, out []byte, rotate bool) (bool, error) {
	s := &success{additional: out, token: n.fastToken(ctx, req, rotate)}
	if req.resume != nil {
		n.sasl2 = s
		resumed, failed := n.resumeSession(req.resume)
		if resumed {
			return false, errHandedOver
		}
		n.sasl2, s.smFailed = nil, failed
	}
	if req.bind != nil {
		bound, ok := n.bind2(ctx, req)
		if ok {
			n.sasl2Bound(s, bound)
			return true, nil
		}
		return false, n.writeUnbound(s, bound)
	}
	return false, n.writeUnbound(s, nil)
}

// writeUnbound sends the success of an authentication that bound nothing,
// and the features for binding and the rest; the stream goes on without
// a restart (XEP-0388 §3.6.1).
func (n *negotiation) writeUnbound(s *success, outcome *xmlstream.Element) error {
	bp := netconn.GetBuffer()
	defer netconn.PutBuffer(bp)
	b := n.t.appendElement((*bp)[:0], s.element(n.bare.String(), outcome))
	b = n.t.appendPrepared(b, n.srv.features.postAuth)
	*bp = b
	return n.write(b)
}

// sasl2Bound queues the success of a login bound by Bind 2, and the
// features of a bound session, ahead of whatever the router has queued
// for the session already.
func (n *negotiation) sasl2Bound(s *success, bound *xmlstream.Element) {
	features := n.srv.features.bound[0]
	if n.count.on {
		features = n.srv.features.bound[1]
	}
	n.mu.Lock()
	success := s.element(n.full.String(), bound)
	n.q.items = append([]*xmlstream.Element{success, features}, n.q.items...)
	n.q.bytes += success.Footprint() + features.Footprint() // limits.queue_bytes
	if n.count.on {
		// Stream management was enabled inline: the <enabled/> is in the
		// success, so the writer counts from the first batch on.
		n.unacked.on = true
	}
	n.mu.Unlock()
}
