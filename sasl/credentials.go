package sasl

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"

	"golang.org/x/text/secure/precis"
)

// Hash names the hash function of a SCRAM family (RFC 5802 §4): the
// mechanism SCRAM-SHA-1 uses SHA1, SCRAM-SHA-256 (RFC 7677) uses SHA256.
type Hash string

// The supported hashes. The values are the hash names of the IANA "Hash
// Function Textual Names" registry that the mechanism names are built from.
const (
	SHA1   Hash = "SHA-1"
	SHA256 Hash = "SHA-256"
)

// Iteration counts for PBKDF2 (Hi() in RFC 5802 §2.2).
const (
	// MinIterations is the floor RFC 7677 §4 and RFC 5802 §9 set for the
	// iteration count. Credentials below it are refused everywhere: by
	// [NewCredentials], by a [Server] reading them from the store and by a
	// [Client] told to use them.
	MinIterations = 4096
	// DefaultIterations is the count to create new credentials with and the
	// default [ServerOptions].Iterations. The server itself never runs
	// PBKDF2 for SCRAM (the client does); it pays this cost only for PLAIN
	// and when credentials are created, which keeps a Raspberry Pi able to
	// absorb a burst of PLAIN logins while making offline guessing 2.4
	// times dearer than the RFC floor.
	DefaultIterations = 10000
	// MaxIterations caps the count so that a hostile server cannot make a
	// Client, and a corrupted store cannot make a Server running PLAIN, spin
	// for minutes.
	MaxIterations = 1_000_000
)

// SaltLen is the length in bytes of the salt [NewCredentials] draws.
const SaltLen = 16

// Credentials are what the server stores for one user and one [Hash]
// (RFC 5802 §3): salt, iteration count, StoredKey = H(ClientKey) and
// ServerKey. They let the server verify a client proof and prove itself,
// but not recover the password or impersonate the client to another server
// (unless the server is also given a ClientKey, which it never is).
type Credentials struct {
	Hash       Hash
	Salt       []byte
	Iterations int
	StoredKey  []byte
	ServerKey  []byte
}

// NewCredentials derives SCRAM credentials for password with a fresh salt
// of [SaltLen] bytes read from rand (crypto/rand.Reader if nil). The password
// is prepared with the PRECIS OpaqueString profile (RFC 8265 §4.2), which
// XMPP uses in place of SASLprep (RFC 6120 §6.3.8 as updated by RFC 7622).
// Call it once per [Hash] the server offers, with the same iteration count
// as [ServerOptions].Iterations.
func NewCredentials(password string, h Hash, iterations int, rand io.Reader) (Credentials, error) {
	if !h.valid() {
		return Credentials{}, fmt.Errorf("new credentials: %w", ErrHash)
	}
	if iterations < MinIterations || iterations > MaxIterations {
		return Credentials{}, fmt.Errorf("new credentials: %w", ErrIterations)
	}
	pw, err := preparePassword(password)
	if err != nil {
		return Credentials{}, fmt.Errorf("new credentials: %w", err)
	}
	salt := make([]byte, SaltLen)
	if _, err := io.ReadFull(orDefault(rand), salt); err != nil {
		return Credentials{}, fmt.Errorf("read salt: %w", err)
	}
	return deriveCredentials(pw, h, salt, iterations)
}

// deriveCredentials computes credentials from an already prepared password
// (RFC 5802 §3):
//
//	SaltedPassword := Hi(Normalize(password), salt, i)
//	ClientKey      := HMAC(SaltedPassword, "Client Key")
//	StoredKey      := H(ClientKey)
//	ServerKey      := HMAC(SaltedPassword, "Server Key")
func deriveCredentials(prepared string, h Hash, salt []byte, iterations int) (Credentials, error) {
	salted, err := saltedPassword(h, prepared, salt, iterations)
	if err != nil {
		return Credentials{}, err
	}
	return Credentials{
		Hash:       h,
		Salt:       salt,
		Iterations: iterations,
		StoredKey:  h.sum(clientKey(h, salted)),
		ServerKey:  mac(h, salted, "Server Key"),
	}, nil
}

// saltedPassword is Hi() of RFC 5802 §2.2, which is PBKDF2 (RFC 8018 §5.2)
// with HMAC-H as the PRF and the hash's output size as dkLen.
func saltedPassword(h Hash, prepared string, salt []byte, iterations int) ([]byte, error) {
	k, err := pbkdf2.Key(h.newFunc(), prepared, salt, iterations, h.size())
	if err != nil {
		return nil, fmt.Errorf("derive salted password: %w", err)
	}
	return k, nil
}

// clientKey is HMAC(SaltedPassword, "Client Key") (RFC 5802 §3).
func clientKey(h Hash, salted []byte) []byte {
	return mac(h, salted, "Client Key")
}

// mac returns HMAC-H(key, msg).
func mac(h Hash, key []byte, msg string) []byte {
	m := hmac.New(h.newFunc(), key)
	io.WriteString(m, msg)
	return m.Sum(nil)
}

// Check reports whether c can be used to authenticate with its hash: a
// supported one, keys of its size, a salt and an iteration count in the
// bounds the server accepts. roost import checks credentials from other
// servers with it.
func (c Credentials) Check() error { return c.check(c.Hash) }

// Supported reports whether roost authenticates with h.
func (h Hash) Supported() bool { return h.valid() }

// check reports whether c can be used with hash h: a store handing back
// garbage must not crash the server or make it spin on PBKDF2.
func (c Credentials) check(h Hash) error {
	switch {
	case c.Hash != h:
		return fmt.Errorf("check credentials: hash %q, want %q: %w", c.Hash, h, ErrCredentials)
	case len(c.Salt) == 0 || len(c.Salt) > maxSaltLen:
		return fmt.Errorf("check credentials: salt of %d bytes: %w", len(c.Salt), ErrCredentials)
	case c.Iterations < MinIterations || c.Iterations > MaxIterations:
		return fmt.Errorf("check credentials: %d iterations: %w", c.Iterations, ErrCredentials)
	case len(c.StoredKey) != h.size() || len(c.ServerKey) != h.size():
		return fmt.Errorf("check credentials: key size: %w", ErrCredentials)
	}
	return nil
}

// maxSaltLen bounds the salt a server accepts from its store or a client
// from a server. Real salts are 16 to 32 bytes.
const maxSaltLen = 256

// fakeCredentials returns credentials for a user who does not exist, so that
// the exchange can go on exactly as for a wrong password (RFC 5802 §9 asks
// servers not to reveal whether a user exists; the "unknown-user" server
// error is only for servers that do not care). They are a pure function of
// (secret, hash, username): a client asking twice sees the same salt and
// iteration count, as it would for a real account. The keys are random-looking
// values no password maps to, so the proof check fails in constant time at
// the final step like any other wrong proof.
func fakeCredentials(secret []byte, h Hash, username string, iterations int) Credentials {
	derive := func(label string, n int) []byte {
		m := hmac.New(sha256.New, secret)
		io.WriteString(m, "roost sasl fake credentials\x00")
		io.WriteString(m, label)
		m.Write([]byte{0})
		io.WriteString(m, string(h))
		m.Write([]byte{0})
		io.WriteString(m, username)
		return m.Sum(nil)[:n]
	}
	return Credentials{
		Hash:       h,
		Salt:       derive("salt", SaltLen),
		Iterations: iterations,
		StoredKey:  derive("stored key", h.size()),
		ServerKey:  derive("server key", h.size()),
	}
}

// valid reports whether h is a supported hash.
func (h Hash) valid() bool { return h == SHA1 || h == SHA256 }

// size is the output size of h in bytes, 0 if h is not supported.
func (h Hash) size() int {
	switch h {
	case SHA1:
		return sha1.Size
	case SHA256:
		return sha256.Size
	}
	return 0
}

// newFunc returns the constructor of h; h must be valid.
func (h Hash) newFunc() func() hash.Hash {
	if h == SHA1 {
		return sha1.New
	}
	return sha256.New
}

// sum returns H(b).
func (h Hash) sum(b []byte) []byte {
	if h == SHA1 {
		s := sha1.Sum(b)
		return s[:]
	}
	s := sha256.Sum256(b)
	return s[:]
}

// preparePassword applies the PRECIS OpaqueString profile (RFC 8265 §4.2).
func preparePassword(password string) (string, error) {
	p, err := precis.OpaqueString.String(password)
	if err != nil || p == "" {
		return "", fmt.Errorf("prepare password: %w", ErrPassword)
	}
	return p, nil
}

// prepareUsername applies the PRECIS UsernameCaseMapped profile (RFC 8265
// §3.3), as XMPP does for localparts (RFC 7622 §3.3.1), so that "Juliet"
// and "juliet" name the same account.
func prepareUsername(username string) (string, error) {
	u, err := precis.UsernameCaseMapped.String(username)
	if err != nil || u == "" || len(u) > maxUsernameLen {
		return "", fmt.Errorf("prepare username: %w", ErrUsername)
	}
	return u, nil
}

// maxUsernameLen is the longest localpart RFC 7622 §3.3 allows.
const maxUsernameLen = 1023

// orDefault returns r, or crypto/rand.Reader if r is nil.
func orDefault(r io.Reader) io.Reader {
	if r == nil {
		return rand.Reader
	}
	return r
}

// Verify reports whether password is the one c was derived from: the
// check PLAIN makes (RFC 4616 over RFC 5802 §3's stored keys), for other
// ways of logging in with the account's password, such as a web console.
// It costs one PBKDF2 run at c's iteration count, and compares in
// constant time.
func Verify(password string, c Credentials) (bool, error) {
	if err := c.check(c.Hash); err != nil {
		return false, err
	}
	pw, err := preparePassword(password)
	if err != nil {
		return false, nil // no stored password prepares to an invalid one
	}
	salted, err := saltedPassword(c.Hash, pw, c.Salt, c.Iterations)
	if err != nil {
		return false, err
	}
	return hmac.Equal(c.Hash.sum(clientKey(c.Hash, salted)), c.StoredKey), nil
}
