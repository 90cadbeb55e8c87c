package sasl

import (
	"crypto/hmac"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
)

// Downgrade is what one SASL profile of a stream advertised, for SASL
// SCRAM Downgrade Protection (XEP-0474, SSDP): the mechanisms of the SASL
// or SASL2 feature the client authenticates with, and the channel-binding
// types of the XEP-0440 feature (nil when the stream had none). The server
// signs a hash of both into the SCRAM exchange; a client that saw
// different lists, because someone in the middle removed the strong
// choices, notices.
type Downgrade struct {
	Mechanisms      []string
	ChannelBindings []string
}

// hash returns the base64 of H(S) where S, per XEP-0474 §5.1, is the
// mechanisms sorted by octet and joined by U+001E, then, if channel-binding
// types were advertised, U+001F and those types sorted and joined the same
// way. The separators cannot occur in XML, so no name can forge them.
func (d Downgrade) hash(h Hash) string {
	var b strings.Builder
	b.WriteString(strings.Join(slices.Sorted(slices.Values(d.Mechanisms)), "\x1e"))
	if len(d.ChannelBindings) > 0 {
		b.WriteByte(0x1f)
		b.WriteString(strings.Join(slices.Sorted(slices.Values(d.ChannelBindings)), "\x1e"))
	}
	return base64.StdEncoding.EncodeToString(h.sum([]byte(b.String())))
}

// checkDowngrade compares the server's "h" extension, if any, with the
// hash of what the client saw (XEP-0474 §5.2).
func (c *Client) checkDowngrade(ext []string) error {
	for _, e := range ext {
		v, ok := strings.CutPrefix(e, "h=")
		if !ok {
			continue
		}
		if !hmac.Equal([]byte(v), []byte(c.downgrade.hash(c.mech.hash))) {
			return fmt.Errorf("step client: %w", ErrDowngrade)
		}
		c.checked = true
	}
	return nil
}
