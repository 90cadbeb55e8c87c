package sasl

import (
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
)

// Client is the initiating entity's side of one SASL exchange with a
// password mechanism. roost itself only serves SASL; the client exists for
// the load tool and for tests. A Client is used by one goroutine for one
// exchange.
type Client struct {
	mech     mechanism
	username string // prepared
	password string // prepared; dropped once the salted password is known
	authzid  string
	keys     *KeyCache // nil derives the keys every time

	cbFlag byte   // 'n', 'y' or 'p'
	cbName string // with 'p'
	cbData []byte // with 'p'

	cnonce string
	state  clientState

	gs2Header string
	bare      string // client-first-message-bare
	serverSig []byte // expected ServerSignature
	verified  bool

	ht        *htClient  // for a hashed-token mechanism
	downgrade *Downgrade // what the client saw advertised (XEP-0474)
	checked   bool       // the server's downgrade hash matched
}

type clientState uint8

const (
	clientStart       clientState = iota
	clientServerFirst             // sent client-first-message
	clientServerFinal             // sent client-final-message
	clientDone
	clientFailed
)

// clientNonceLen is the number of random bytes in the client nonce.
const clientNonceLen = 24

// NewClient starts an exchange for mechanism with the given credentials,
// prepared here as the server prepares them (UsernameCaseMapped,
// OpaqueString). For a hashed-token mechanism (HT-*), password is the
// token the server issued, used as it is. For a -PLUS mechanism the client binds to tls-exporter if
// b has it, else tls-server-end-point; pass only the type the server
// supports (XEP-0440) to force it. For plain SCRAM, a b with data makes the
// client say "y" (it supports channel binding but believes the server does
// not, RFC 5802 §6): pass an empty b unless that is true.
func NewClient(mechanism, username, password string, b ChannelBinding) (*Client, error) {
	m, ok := lookupMechanism(mechanism)
	if !ok {
		return nil, failure(InvalidMechanism, "")
	}
	user, err := prepareUsername(username)
	if err != nil {
		return nil, fmt.Errorf("new client: %w", err)
	}
	if m.token {
		ht, err := newHTClient(m, password, b)
		if err != nil {
			return nil, err
		}
		return &Client{mech: m, username: user, ht: ht}, nil
	}
	pw, err := preparePassword(password)
	if err != nil {
		return nil, fmt.Errorf("new client: %w", err)
	}
	c := &Client{mech: m, username: user, password: pw, cbFlag: 'n'}
	switch {
	case m.plain:
	case m.plus:
		c.cbFlag = 'p'
		t := b.Types() // best first
		if len(t) == 0 {
			return nil, fmt.Errorf("new client: %w", ErrChannelBinding)
		}
		c.cbName, c.cbData = t[0], b.data(t[0])
	case b.Available():
		c.cbFlag = 'y'
	}
	if !m.plain {
		var nonce [clientNonceLen]byte
		rand.Read(nonce[:]) // never fails (crypto/rand docs)
		c.cnonce = base64.StdEncoding.EncodeToString(nonce[:])
	}
	return c, nil
}

// SetAuthzid sets the authorization identity to request (RFC 6120 §6.3.8);
// by default none is sent. It must be called before the first Step.
func (c *Client) SetAuthzid(authzid string) { c.authzid = authzid }

// SetDowngrade makes a SCRAM client check the server's downgrade
// protection hash (XEP-0474 §5.2) against d, what the stream advertised:
// a server-first-message whose "h" differs fails with ErrDowngrade. A
// server that sends none is accepted; [Client.DowngradeChecked] tells. It
// must be called before the first Step.
func (c *Client) SetDowngrade(d Downgrade) { c.downgrade = &d }

// DowngradeChecked reports whether the server sent a downgrade protection
// hash and it matched what SetDowngrade was given.
func (c *Client) DowngradeChecked() bool { return c.checked }

// SetKeyCache makes a SCRAM client take its keys from kc, and leave the
// keys it derives there ([KeyCache]). It must be called before the first
// Step.
func (c *Client) SetKeyCache(kc *KeyCache) { c.keys = kc }

// Step takes the raw data of the server's last <challenge/> or <success/>
// (nil for the first call, which produces the initial response) and returns
// the next response. For SCRAM the third call takes the
// server-final-message and checks the server's signature; see [Client.Verified].
// After the exchange, Step returns [ErrDone].
func (c *Client) Step(in []byte) (out []byte, err error) {
	switch c.state {
	case clientDone, clientFailed:
		return nil, ErrDone
	}
	out, err = c.step(in)
	if err != nil {
		c.state = clientFailed
		c.password = ""
	}
	return out, err
}

func (c *Client) step(in []byte) ([]byte, error) {
	switch c.state {
	case clientStart:
		if len(in) != 0 {
			return nil, fmt.Errorf("step client: unexpected challenge before initial response: %w", ErrServerMessage)
		}
		if c.ht != nil {
			c.state = clientServerFinal
			return c.ht.first(c.username), nil
		}
		if c.mech.plain {
			c.state = clientDone
			pm := plainMessage{authzid: c.authzid, authcid: c.username, passwd: c.password}
			c.password = ""
			return appendPlain(nil, &pm), nil
		}
		cf := clientFirst{cbFlag: c.cbFlag, cbName: c.cbName, authzid: c.authzid, username: c.username, nonce: c.cnonce}
		out := appendClientFirst(nil, &cf)
		c.gs2Header = string(appendGS2Header(nil, &cf))
		c.bare = string(out[len(c.gs2Header):])
		c.state = clientServerFirst
		return out, nil
	case clientServerFirst:
		out, err := c.serverFirst(string(in))
		if err != nil {
			return nil, err
		}
		c.state = clientServerFinal
		return out, nil
	default: // clientServerFinal
		if c.ht != nil {
			if err := c.ht.final(in); err != nil {
				return nil, err
			}
			c.verified, c.state = true, clientDone
			return nil, nil
		}
		if err := c.serverFinal(string(in)); err != nil {
			return nil, err
		}
		c.state = clientDone
		return nil, nil
	}
}

// serverFirst computes the client-final-message (RFC 5802 §3).
func (c *Client) serverFirst(msg string) ([]byte, error) {
	sf, err := parseServerFirst(msg)
	if err != nil {
		return nil, err
	}
	// The server's nonce must extend ours (RFC 5802 §5.1 "r").
	if !strings.HasPrefix(sf.nonce, c.cnonce) || len(sf.nonce) == len(c.cnonce) {
		return nil, serverMessageError("server-first-message", "nonce does not extend the client nonce")
	}
	if c.downgrade != nil {
		if err := c.checkDowngrade(sf.ext); err != nil {
			return nil, err
		}
	}
	h := c.mech.hash
	ck, sk, err := c.keys.keys(h, c.password, sf.salt, sf.iterations)
	c.password = ""
	if err != nil {
		return nil, err
	}
	cbind := append([]byte(c.gs2Header), c.cbData...)
	out := appendClientFinalWithoutProof(nil, cbind, sf.nonce, nil)
	authMessage := c.bare + "," + msg + "," + string(out)
	proof := mac(h, h.sum(ck), authMessage) // ClientSignature
	for i := range proof {
		proof[i] ^= ck[i]
	}
	c.serverSig = mac(h, sk, authMessage)
	out = append(out, ",p="...)
	return base64.StdEncoding.AppendEncode(out, proof), nil
}

// serverFinal checks the server-final-message.
func (c *Client) serverFinal(msg string) error {
	sf, err := parseServerFinal(msg)
	if err != nil {
		return err
	}
	if sf.err != "" {
		return fmt.Errorf("step client: %q: %w", sf.err, ErrServerFailure)
	}
	if !hmac.Equal(sf.verifier, c.serverSig) {
		return fmt.Errorf("step client: %w", ErrServerSignature)
	}
	c.verified = true
	return nil
}

// Verified reports whether the server proved that it knows the user's
// credentials (the SCRAM ServerSignature, RFC 5802 §3, or the
// hashed-token answer) and, with -PLUS or a bound HT mechanism, that it
// sees the same TLS channel. It is false for PLAIN, which has no
// such proof, and until Step has accepted the server-final-message. A
// client must not trust a <success/> from a SCRAM server that is not
// Verified.
func (c *Client) Verified() bool { return c.verified }

// serverMessageError wraps ErrServerMessage with where and what.
func serverMessageError(msg, what string) error {
	return fmt.Errorf("parse %s: %s: %w", msg, what, ErrServerMessage)
}
