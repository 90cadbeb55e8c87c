package sasl

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
)

// Mechanism names (RFC 4422 §3.1), as advertised in <mechanisms/>.
const (
	SCRAMSHA256Plus = "SCRAM-SHA-256-PLUS" // RFC 7677
	SCRAMSHA256     = "SCRAM-SHA-256"      // RFC 7677
	SCRAMSHA1Plus   = "SCRAM-SHA-1-PLUS"   // RFC 5802
	SCRAMSHA1       = "SCRAM-SHA-1"        // RFC 5802
	Plain           = "PLAIN"              // RFC 4616
	External        = "EXTERNAL"           // RFC 4422 Appendix A, see ParseExternal

	// The hashed-token mechanisms of FAST (XEP-0484), from
	// draft-schmaus-kitten-sasl-ht: HMAC-SHA-256 of a token issued by
	// the server, bound to tls-exporter (EXPR), to tls-server-end-point
	// (ENDP), or to nothing (NONE).
	HTSHA256Expr = "HT-SHA-256-EXPR"
	HTSHA256Endp = "HT-SHA-256-ENDP"
	HTSHA256None = "HT-SHA-256-NONE"
)

// mechanism describes one of the password mechanisms.
type mechanism struct {
	name  string
	hash  Hash // SCRAM hash; PLAIN verifies against whichever is stored
	plus  bool // SCRAM with channel binding
	plain bool
	token bool   // a hashed-token mechanism (ht.go)
	cb    string // the channel-binding type a hashed-token mechanism binds to, "" for none
}

// lookupMechanism returns the password mechanism called name. Names are
// matched exactly: RFC 4422 §3.1 defines them in upper case.
func lookupMechanism(name string) (mechanism, bool) {
	switch name {
	case SCRAMSHA256Plus:
		return mechanism{name: name, hash: SHA256, plus: true}, true
	case SCRAMSHA256:
		return mechanism{name: name, hash: SHA256}, true
	case SCRAMSHA1Plus:
		return mechanism{name: name, hash: SHA1, plus: true}, true
	case SCRAMSHA1:
		return mechanism{name: name, hash: SHA1}, true
	case Plain:
		return mechanism{name: name, plain: true}, true
	case HTSHA256Expr:
		return mechanism{name: name, hash: SHA256, token: true, cb: BindingTLSExporter}, true
	case HTSHA256Endp:
		return mechanism{name: name, hash: SHA256, token: true, cb: BindingTLSServerEndPoint}, true
	case HTSHA256None:
		return mechanism{name: name, hash: SHA256, token: true}, true
	}
	return mechanism{}, false
}

// Mechanisms returns the password mechanisms to advertise in <mechanisms/>
// (RFC 6120 §6.4.1), strongest first: the -PLUS variants if b has any
// channel binding, then plain SCRAM, then PLAIN if plain is true. Offer
// PLAIN only on an encrypted stream (RFC 6120 §6.4.1, RFC 4616 §6); the
// caller knows whether it is one. If the -PLUS names are advertised, the
// [Server] must be told so with [ServerOptions].PlusOffered. EXTERNAL is
// not included: it depends on a verified certificate, which the caller
// checks.
func Mechanisms(b ChannelBinding, plain bool) []string {
	m := make([]string, 0, 5)
	if b.Available() {
		m = append(m, SCRAMSHA256Plus, SCRAMSHA1Plus)
	}
	m = append(m, SCRAMSHA256, SCRAMSHA1)
	if plain {
		m = append(m, Plain)
	}
	return m
}

// Lookup returns the stored credentials of a user for hash h. username is
// PRECIS-prepared (UsernameCaseMapped). found is false when the user has no
// credentials for h; err is for failures of the store itself and makes the
// exchange fail at once with temporary-auth-failure (RFC 6120 §6.5.11),
// unless it is an *[Error], which is reported as is. An *Error returned
// together with found == true and valid credentials is held back until the
// client has proven it knows the password, so that account-disabled or
// credentials-expired (RFC 6120 §6.5.2, §6.5.3) tell nothing to someone who
// merely guesses user names.
//
// A Lookup is called from many connections at once and must be safe for
// concurrent use. It must honour ctx.
type Lookup func(ctx context.Context, username string, h Hash) (cred Credentials, found bool, err error)

// ServerOptions configure a [Server].
type ServerOptions struct {
	// Lookup fetches credentials. Required.
	Lookup Lookup
	// Binding is what the client's connection can be bound to.
	Binding ChannelBinding
	// PlusOffered records whether the -PLUS mechanisms were advertised on
	// this stream. It requires Binding to have data.
	PlusOffered bool
	// StrictChannelBinding refuses a client that says "y" (it supports
	// channel binding but believes the server does not) although -PLUS was
	// offered, as RFC 5802 §6 requires: someone may have stripped the -PLUS
	// mechanisms from the list. It is a policy, off by default, because
	// XEP-0440 §3 lets a client that shares no channel-binding type with
	// the server fall back this way, and widely deployed clients do: those
	// that know only tls-unique, which TLS 1.3 does not define (slixmpp 1.8,
	// older libstrophe), try -PLUS, fail, and retry with "y".
	StrictChannelBinding bool
	// Secret keys the fake credentials of unknown users. Required, at least
	// 16 bytes, stable across restarts (otherwise an unknown user's salt
	// changes when the server restarts and a real one's does not), and
	// never shown to anyone.
	Secret []byte
	// Iterations is the iteration count shown for unknown users. Set it to
	// the count [NewCredentials] is called with, so that real and fake
	// users look alike. Zero means [DefaultIterations].
	Iterations int
	// Rand is the source of the server nonce. Nil means crypto/rand.Reader.
	Rand io.Reader
	// Downgrade, if set, is what the stream advertised: the server puts
	// its hash into the server-first-message of SCRAM (XEP-0474).
	Downgrade *Downgrade
	// Tokens verifies hashed tokens; the HT mechanisms need it.
	Tokens TokenLookup
}

// minSecretLen is the shortest ServerOptions.Secret accepted.
const minSecretLen = 16

// serverNonceLen is how many random bytes make the server's part of the
// nonce; RFC 5802 §5.1 asks for it to be unpredictable, 18 bytes or more.
const serverNonceLen = 24

// Server is the receiving entity's side of one SASL exchange with a
// password mechanism (SCRAM-SHA-256(-PLUS), SCRAM-SHA-1(-PLUS), PLAIN).
// It holds no password, only stored keys. A Server is used for one exchange
// by one goroutine; it is not safe for concurrent use.
type Server struct {
	mech        mechanism
	lookup      Lookup
	binding     ChannelBinding
	plusOffered bool
	strict      bool
	secret      []byte
	iterations  int
	downgrade   *Downgrade
	tokens      TokenLookup

	state  serverState
	snonce string // server part of the nonce, drawn by NewServer

	// Carried from the client-first to the client-final step.
	gs2Header  string // as received, part of the expected "c=" value
	cbData     []byte // expected cbind-data, nil without channel binding
	nonce      string // c-nonce + s-nonce
	authPrefix string // client-first-message-bare "," server-first-message ","
	cred       Credentials
	found      bool
	deferred   error
	user       string // prepared, not yet authenticated
	az         string

	// Set once the exchange has succeeded.
	username, authzid string
}

type serverState uint8

const (
	stateStart        serverState = iota
	stateAwaitInitial             // sent an empty challenge, waiting for the first message
	stateClientFinal              // sent server-first-message
	stateDone                     // succeeded
	stateFailed
)

// NewServer starts an exchange for mechanism, the name the client chose
// in <auth mechanism='...'/>. An unknown mechanism, or a -PLUS one that was
// not offered, yields an *[Error] with invalid-mechanism (RFC 6120 §6.5.7);
// bad options wrap [ErrOptions].
func NewServer(mechanism string, opts ServerOptions) (*Server, error) {
	m, ok := lookupMechanism(mechanism)
	if !ok {
		return nil, failure(InvalidMechanism, "")
	}
	switch {
	case opts.Lookup == nil:
		return nil, fmt.Errorf("new server: no lookup: %w", ErrOptions)
	case len(opts.Secret) < minSecretLen:
		return nil, fmt.Errorf("new server: secret shorter than %d bytes: %w", minSecretLen, ErrOptions)
	case opts.PlusOffered && !opts.Binding.Available():
		return nil, fmt.Errorf("new server: -PLUS offered without channel binding: %w", ErrOptions)
	}
	iterations := opts.Iterations
	if iterations == 0 {
		iterations = DefaultIterations
	}
	if iterations < MinIterations || iterations > MaxIterations {
		return nil, fmt.Errorf("new server: %w", ErrIterations)
	}
	if m.plus && !opts.PlusOffered {
		return nil, failure(InvalidMechanism, "channel binding not offered")
	}
	if m.token && (opts.Tokens == nil || m.cb != "" && opts.Binding.data(m.cb) == nil) {
		return nil, failure(InvalidMechanism, "")
	}
	s := &Server{
		mech:        m,
		lookup:      opts.Lookup,
		binding:     opts.Binding,
		plusOffered: opts.PlusOffered,
		strict:      opts.StrictChannelBinding,
		secret:      opts.Secret,
		iterations:  iterations,
		downgrade:   opts.Downgrade,
		tokens:      opts.Tokens,
	}
	if !m.plain && !m.token {
		var b [serverNonceLen]byte
		if _, err := io.ReadFull(orDefault(opts.Rand), b[:]); err != nil {
			return nil, &Error{Condition: TemporaryAuthFailure, Err: fmt.Errorf("read nonce: %w", err)}
		}
		s.snonce = base64.StdEncoding.EncodeToString(b[:])
	}
	return s, nil
}

// Mechanism returns the name of the mechanism in use.
func (s *Server) Mechanism() string { return s.mech.name }

// Step processes one message from the client, in raw form (the caller
// base64-decodes <auth/> and <response/> data, RFC 6120 §6.4.2), and
// returns the data for the next <challenge/>, or, with done set, the
// additional data for <success/> (RFC 6120 §6.3.10): "v=..." for SCRAM, nil
// for PLAIN.
//
// An <auth/> without initial response is passed as empty in; Step then
// returns an empty, non-nil out, which the caller sends as an empty
// challenge ("=", RFC 6120 §6.4.3).
//
// A failure is an *[Error] to send as <failure/>. After a failure or a
// success the exchange is over and Step returns [ErrDone].
func (s *Server) Step(ctx context.Context, in []byte) (out []byte, done bool, err error) {
	if s.state == stateDone || s.state == stateFailed {
		return nil, false, ErrDone
	}
	out, done, err = s.step(ctx, in)
	switch {
	case err != nil:
		s.state = stateFailed
		s.forget()
	case done:
		s.state = stateDone
		s.forget()
	}
	return out, done, err
}

func (s *Server) step(ctx context.Context, in []byte) ([]byte, bool, error) {
	switch s.state {
	case stateStart, stateAwaitInitial:
		if len(in) == 0 {
			if s.state == stateAwaitInitial {
				return nil, false, malformed("empty response")
			}
			s.state = stateAwaitInitial
			return []byte{}, false, nil
		}
		switch {
		case s.mech.plain:
			return s.plain(ctx, string(in))
		case s.mech.token:
			return s.hashedToken(ctx, in)
		}
		out, err := s.clientFirst(ctx, string(in))
		if err != nil {
			return nil, false, err
		}
		s.state = stateClientFinal
		return out, false, nil
	default: // stateClientFinal
		out, err := s.clientFinal(string(in))
		return out, err == nil, err
	}
}

// forget drops the keys and transcript once the exchange is over. The
// slices belong to the Lookup's store and are not zeroed.
func (s *Server) forget() {
	s.cred = Credentials{}
	s.cbData = nil
	s.authPrefix = ""
	s.deferred = nil
}

// Username returns the authenticated, PRECIS-prepared username once Step
// has returned done, "" before.
func (s *Server) Username() string { return s.username }

// Authzid returns the authorization identity the client asked for, "" if
// none, once Step has returned done. It is not checked here: the caller
// must verify that Username may act as it (RFC 6120 §6.4.6) and otherwise
// fail with invalid-authzid.
func (s *Server) Authzid() string { return s.authzid }

// clientFirst handles a client-first-message and returns the
// server-first-message (RFC 5802 §5).
func (s *Server) clientFirst(ctx context.Context, msg string) ([]byte, error) {
	cf, err := parseClientFirst(msg)
	if err != nil {
		return nil, err
	}
	if err := s.checkBindingFlag(&cf); err != nil {
		return nil, err
	}
	user, err := prepareUsername(cf.username)
	if err != nil {
		// No account can have this name, so refusing now reveals nothing
		// about which accounts exist.
		return nil, &Error{Condition: NotAuthorized, Text: "invalid username", Err: err}
	}
	cred, found, deferred, err := s.credentials(ctx, user, s.mech.hash)
	if err != nil {
		return nil, err
	}
	if !found {
		cred = fakeCredentials(s.secret, s.mech.hash, user, s.iterations)
	}
	s.gs2Header = cf.header
	s.nonce = cf.nonce + s.snonce
	s.cred, s.found, s.deferred = cred, found, deferred
	s.user, s.az = user, cf.authzid

	sf := serverFirst{nonce: s.nonce, salt: cred.Salt, iterations: cred.Iterations}
	if s.downgrade != nil {
		// XEP-0474 §5.1: "h" carries the hash of what was advertised. Being
		// part of AuthMessage, it is signed by the proofs of both sides.
		sf.ext = []string{"h=" + s.downgrade.hash(s.mech.hash)}
	}
	out := appendServerFirst(nil, &sf)
	s.authPrefix = cf.bare + "," + string(out) + ","
	return out, nil
}

// checkBindingFlag applies the channel-binding rules of RFC 5802 §6 to the
// gs2-cbind-flag, and records the binding data the client-final-message
// must carry.
func (s *Server) checkBindingFlag(cf *clientFirst) error {
	switch cf.cbFlag {
	case 'p':
		if !s.mech.plus {
			return malformed("channel binding requires a -PLUS mechanism")
		}
		d := s.binding.data(cf.cbName)
		if d == nil {
			// e=unsupported-channel-binding-type
			return &Error{Condition: NotAuthorized, Text: "unsupported channel binding type", Err: ErrChannelBinding}
		}
		s.cbData = d
	case 'y':
		if s.mech.plus {
			return malformed("-PLUS mechanism without channel binding")
		}
		// "If the flag is set to "y" and the server supports channel
		// binding, the server MUST fail authentication": the client
		// would have used -PLUS had it seen it offered, so someone
		// removed it (e=server-does-support-channel-binding). Only in
		// strict mode: see ServerOptions.StrictChannelBinding.
		if s.plusOffered && s.strict {
			return failure(NotAuthorized, "channel binding downgrade detected")
		}
	default: // 'n'
		if s.mech.plus {
			return malformed("-PLUS mechanism without channel binding")
		}
	}
	return nil
}

// credentials calls the Lookup and sorts its result; see [Lookup].
func (s *Server) credentials(ctx context.Context, user string, h Hash) (cred Credentials, found bool, deferred, err error) {
	if err := ctx.Err(); err != nil {
		return Credentials{}, false, nil, &Error{Condition: TemporaryAuthFailure, Err: err}
	}
	cred, found, err = s.lookup(ctx, user, h)
	if err != nil {
		var se *Error
		if !errors.As(err, &se) {
			return Credentials{}, false, nil, &Error{Condition: TemporaryAuthFailure, Err: fmt.Errorf("look up credentials: %w", err)}
		}
		if !found {
			return Credentials{}, false, nil, err
		}
		deferred = err
	}
	if !found {
		return Credentials{}, false, nil, nil
	}
	if err := cred.check(h); err != nil {
		return Credentials{}, false, nil, &Error{Condition: TemporaryAuthFailure, Err: err}
	}
	return cred, true, deferred, nil
}

// clientFinal verifies a client-final-message and returns the
// server-final-message (RFC 5802 §3, §5.1).
func (s *Server) clientFinal(msg string) ([]byte, error) {
	cf, err := parseClientFinal(msg)
	if err != nil {
		return nil, err
	}
	if cf.nonce != s.nonce {
		return nil, malformed("nonce mismatch")
	}
	// "c": base64 of the gs2-header followed by the channel-binding data,
	// which the server checks against its own view of the connection.
	want := make([]byte, 0, len(s.gs2Header)+len(s.cbData))
	want = append(append(want, s.gs2Header...), s.cbData...)
	if !hmac.Equal(cf.cbind, want) {
		// e=channel-bindings-dont-match
		return nil, failure(NotAuthorized, "channel binding mismatch")
	}
	h := s.mech.hash
	if len(cf.proof) != h.size() {
		return nil, malformed("invalid proof length")
	}
	//	AuthMessage     := client-first-message-bare + "," +
	//	                   server-first-message + "," +
	//	                   client-final-message-without-proof
	//	ClientSignature := HMAC(StoredKey, AuthMessage)
	//	ClientKey       := ClientProof XOR ClientSignature
	// and the proof is good if H(ClientKey) equals StoredKey.
	authMessage := s.authPrefix + cf.withoutProof
	key := mac(h, s.cred.StoredKey, authMessage)
	for i := range key {
		key[i] ^= cf.proof[i]
	}
	ok := hmac.Equal(h.sum(key), s.cred.StoredKey)
	if !ok || !s.found {
		// Unknown user and wrong password fail here, identically.
		return nil, failure(NotAuthorized, "")
	}
	if s.deferred != nil {
		return nil, s.deferred
	}
	s.username, s.authzid = s.user, s.az
	// ServerSignature := HMAC(ServerKey, AuthMessage), sent as "v=".
	out := []byte("v=")
	return base64.StdEncoding.AppendEncode(out, mac(h, s.cred.ServerKey, authMessage)), nil
}

// plain verifies a PLAIN message (RFC 4616 §2) against the stored SCRAM
// credentials: SHA-256 ones if the user has them, else SHA-1. An unknown
// user costs the same PBKDF2 run against fake credentials.
func (s *Server) plain(ctx context.Context, msg string) ([]byte, bool, error) {
	pm, err := parsePlain(msg)
	if err != nil {
		return nil, false, err
	}
	user, err := prepareUsername(pm.authcid)
	if err != nil {
		return nil, false, &Error{Condition: NotAuthorized, Text: "invalid username", Err: err}
	}
	pw, err := preparePassword(pm.passwd)
	if err != nil {
		return nil, false, &Error{Condition: NotAuthorized, Err: err}
	}
	cred, found, deferred, err := s.credentials(ctx, user, SHA256)
	if err == nil && !found {
		cred, found, deferred, err = s.credentials(ctx, user, SHA1)
	}
	if err != nil {
		return nil, false, err
	}
	if !found {
		cred = fakeCredentials(s.secret, SHA256, user, s.iterations)
	}
	salted, err := saltedPassword(cred.Hash, pw, cred.Salt, cred.Iterations)
	if err != nil {
		return nil, false, &Error{Condition: TemporaryAuthFailure, Err: err}
	}
	ok := hmac.Equal(cred.Hash.sum(clientKey(cred.Hash, salted)), cred.StoredKey)
	if !ok || !found {
		return nil, false, failure(NotAuthorized, "")
	}
	if deferred != nil {
		return nil, false, deferred
	}
	s.username, s.authzid = user, pm.authzid
	return nil, true, nil
}
