package loadtool

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // SCRAM-SHA-1 is the mechanism every server offers (RFC 6120 §6.3.8)
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"sync"
)

// SASL mechanisms the tool speaks.
const (
	MechSCRAMSHA1   = "SCRAM-SHA-1"
	MechSCRAMSHA256 = "SCRAM-SHA-256"
	MechPlain       = "PLAIN"
)

// scramKeys is what SCRAM needs from the password, once the salt and
// iteration count are known (RFC 5802 §3).
type scramKeys struct{ clientKey, serverKey []byte }

type keyID struct {
	mech, password, salt string
	iter                 int
}

// keyCache remembers derived SCRAM keys. RFC 5802 §5.1 lets a client cache
// them; without it every login would cost the client thousands of HMACs
// (PBKDF2), which on a shared machine would come out of the server's CPU.
type keyCache struct {
	mu sync.Mutex
	m  map[keyID]scramKeys
}

func (c *keyCache) get(id keyID, derive func() scramKeys) scramKeys {
	c.mu.Lock()
	k, ok := c.m[id]
	c.mu.Unlock()
	if ok {
		return k
	}
	k = derive()
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[keyID]scramKeys)
	}
	c.m[id] = k
	c.mu.Unlock()
	return k
}

// saslClient runs one SASL exchange (RFC 4422) for the client side:
// start returns the initial response, step answers each challenge, and
// finish checks the additional data of <success/>.
type saslClient struct {
	mech, user, password string
	cache                *keyCache

	nonce, clientFirstBare string
	serverSignature        []byte
}

func newSASLClient(mech, user, password string, cache *keyCache) (*saslClient, error) {
	switch mech {
	case MechSCRAMSHA1, MechSCRAMSHA256, MechPlain:
	default:
		return nil, fmt.Errorf("start sasl %q: %w", mech, ErrMechanism)
	}
	return &saslClient{mech: mech, user: user, password: password, cache: cache}, nil
}

func (c *saslClient) newHash() func() hash.Hash {
	if c.mech == MechSCRAMSHA256 {
		return sha256.New
	}
	return sha1.New
}

func (c *saslClient) start() []byte {
	if c.mech == MechPlain {
		return []byte("\x00" + c.user + "\x00" + c.password)
	}
	var b [18]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	c.nonce = base64.RawStdEncoding.EncodeToString(b[:])
	c.clientFirstBare = "n=" + saslName(c.user) + ",r=" + c.nonce
	// "n,,": no channel binding, no authorization identity.
	return []byte("n,," + c.clientFirstBare)
}

// step answers the server-first message with the client-final message.
func (c *saslClient) step(challenge []byte) ([]byte, error) {
	if c.mech == MechPlain || c.serverSignature != nil {
		return nil, fmt.Errorf("answer challenge: %w", ErrSASLProtocol)
	}
	serverFirst := string(challenge)
	attrs, err := scramAttrs(serverFirst)
	if err != nil {
		return nil, err
	}
	nonce, salt64, iterS := attrs['r'], attrs['s'], attrs['i']
	if !strings.HasPrefix(nonce, c.nonce) || len(nonce) == len(c.nonce) {
		return nil, fmt.Errorf("check server nonce: %w", ErrSASLProtocol)
	}
	salt, err := base64.StdEncoding.DecodeString(salt64)
	if err != nil || len(salt) == 0 {
		return nil, fmt.Errorf("decode salt: %w", ErrSASLProtocol)
	}
	iter, err := strconv.Atoi(iterS)
	if err != nil || iter < 1 || iter > 10_000_000 {
		return nil, fmt.Errorf("parse iteration count: %w", ErrSASLProtocol)
	}
	h := c.newHash()
	keys := c.cache.get(keyID{c.mech, c.password, string(salt), iter}, func() scramKeys {
		salted, _ := pbkdf2.Key(h, c.password, salt, iter, h().Size())
		return scramKeys{clientKey: hmacSum(h, salted, "Client Key"), serverKey: hmacSum(h, salted, "Server Key")}
	})
	withoutProof := "c=biws,r=" + nonce // biws is base64("n,,")
	authMessage := c.clientFirstBare + "," + serverFirst + "," + withoutProof
	sum := h()
	sum.Write(keys.clientKey)
	storedKey := sum.Sum(nil)
	proof := hmacSum(h, storedKey, authMessage)
	for i := range proof {
		proof[i] ^= keys.clientKey[i]
	}
	c.serverSignature = hmacSum(h, keys.serverKey, authMessage)
	return []byte(withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof)), nil
}

// finish verifies the server-final message, which proves that the server
// knew the password too.
func (c *saslClient) finish(data []byte) error {
	if c.mech == MechPlain {
		return nil
	}
	if c.serverSignature == nil {
		return fmt.Errorf("verify server: %w", ErrSASLProtocol)
	}
	attrs, err := scramAttrs(string(data))
	if err != nil {
		return err
	}
	if e, ok := attrs['e']; ok {
		return fmt.Errorf("verify server: %w: %s", ErrAuth, e)
	}
	v, err := base64.StdEncoding.DecodeString(attrs['v'])
	if err != nil || subtle.ConstantTimeCompare(v, c.serverSignature) != 1 {
		return fmt.Errorf("verify server signature: %w", ErrSASLProtocol)
	}
	return nil
}

func hmacSum(h func() hash.Hash, key []byte, msg string) []byte {
	m := hmac.New(h, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// saslName escapes a user name for SCRAM (RFC 5802 §5.1).
func saslName(s string) string {
	return strings.NewReplacer("=", "=3D", ",", "=2C").Replace(s)
}

// scramAttrs splits a SCRAM message into its single-letter attributes.
func scramAttrs(msg string) (map[byte]string, error) {
	attrs := make(map[byte]string, 4)
	for f := range strings.SplitSeq(msg, ",") {
		if len(f) < 2 || f[1] != '=' {
			return nil, fmt.Errorf("parse scram message: %w", ErrSASLProtocol)
		}
		if _, dup := attrs[f[0]]; !dup {
			attrs[f[0]] = f[2:]
		}
	}
	return attrs, nil
}
