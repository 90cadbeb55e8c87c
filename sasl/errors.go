package sasl

import "errors"

// Condition is a SASL failure condition of RFC 6120 §6.5. The receiving
// entity sends it as the child of <failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>.
type Condition string

// The defined conditions, RFC 6120 §6.5.1 to §6.5.11.
const (
	Aborted              Condition = "aborted"                // §6.5.1
	AccountDisabled      Condition = "account-disabled"       // §6.5.2
	CredentialsExpired   Condition = "credentials-expired"    // §6.5.3
	EncryptionRequired   Condition = "encryption-required"    // §6.5.4
	IncorrectEncoding    Condition = "incorrect-encoding"     // §6.5.5
	InvalidAuthzid       Condition = "invalid-authzid"        // §6.5.6
	InvalidMechanism     Condition = "invalid-mechanism"      // §6.5.7
	MalformedRequest     Condition = "malformed-request"      // §6.5.8
	MechanismTooWeak     Condition = "mechanism-too-weak"     // §6.5.9
	NotAuthorized        Condition = "not-authorized"         // §6.5.10
	TemporaryAuthFailure Condition = "temporary-auth-failure" // §6.5.11
)

// Error is a SASL failure to report to the peer as <failure/> (RFC 6120
// §6.4.5). Condition and Text may be sent on the wire; Text never contains
// credentials or anything derived from them. Err is the local cause (a store
// failure, say), for logs only: it is never sent.
type Error struct {
	Condition Condition
	Text      string
	Err       error
}

// Error implements error.
func (e *Error) Error() string {
	s := "sasl: " + string(e.Condition)
	if e.Text != "" {
		s += ": " + e.Text
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the local cause, if any.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same condition, or with an
// empty condition (which matches any SASL failure). Text and Err are ignored,
// so errors.Is(err, &sasl.Error{Condition: sasl.NotAuthorized}) is the way to
// test for a condition.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok || t == nil {
		return false
	}
	return t.Condition == "" || t.Condition == e.Condition
}

// Sentinel errors for local failures: bad arguments, misuse, and what a
// [Client] finds wrong with the server. Failures to report to the peer are
// *[Error] values instead.
var (
	// ErrHash means a [Hash] other than [SHA1] or [SHA256].
	ErrHash = errors.New("sasl: unsupported hash")
	// ErrIterations means an iteration count outside [MinIterations, MaxIterations].
	ErrIterations = errors.New("sasl: iteration count out of range")
	// ErrPassword means the password is empty or rejected by the PRECIS
	// OpaqueString profile (RFC 8265 §4.2).
	ErrPassword = errors.New("sasl: invalid password")
	// ErrUsername means the username is empty or rejected by the PRECIS
	// UsernameCaseMapped profile (RFC 8265 §3.3).
	ErrUsername = errors.New("sasl: invalid username")
	// ErrOptions means ServerOptions are incomplete or inconsistent.
	ErrOptions = errors.New("sasl: invalid options")
	// ErrCredentials means a [Lookup] returned credentials that do not fit
	// the requested hash (wrong key sizes, empty salt, bad iteration count).
	ErrCredentials = errors.New("sasl: invalid stored credentials")
	// ErrChannelBinding means a -PLUS mechanism was asked of a [Client]
	// with no channel binding data, or, wrapped in a server's *Error, that
	// the client asked for a channel-binding type this connection lacks
	// (before any credential was checked).
	ErrChannelBinding = errors.New("sasl: no channel binding available")
	// ErrDone means Step was called after the exchange had finished,
	// successfully or not.
	ErrDone = errors.New("sasl: exchange already finished")
	// ErrServerMessage means the server sent a malformed SCRAM message.
	ErrServerMessage = errors.New("sasl: malformed server message")
	// ErrServerFailure means the server-final-message carried "e=" (RFC 5802 §7).
	ErrServerFailure = errors.New("sasl: server reported failure")
	// ErrServerSignature means the server's "v=" did not verify: it does not
	// know the credentials, or the exchange was tampered with.
	ErrServerSignature = errors.New("sasl: server signature mismatch")
	// ErrDowngrade means the server's downgrade protection hash (XEP-0474)
	// does not match what the client saw advertised: someone between them
	// changed the list of mechanisms or channel-binding types.
	ErrDowngrade = errors.New("sasl: mechanisms or channel bindings changed on the way (XEP-0474)")
)

// failure returns an *Error with the given condition and text.
func failure(c Condition, text string) *Error {
	return &Error{Condition: c, Text: text}
}

// malformed returns a malformed-request failure (RFC 6120 §6.5.8).
func malformed(text string) *Error {
	return failure(MalformedRequest, text)
}
