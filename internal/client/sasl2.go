package client

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"roost/jid"
	"roost/sasl"
	"roost/stream"
	"roost/xmlstream"
)

// advertised returns what the features offered for SASL (the
// <mechanisms/> of namespace space, or SASL2's <authentication/>) and
// XEP-0440, as XEP-0474 hashes it.
func (c *Conn) advertised(space, local string) sasl.Downgrade {
	var d sasl.Downgrade
	if m := c.Features.Child(space, local); m != nil {
		for el := range m.Elements() {
			if el.Name.Local == "mechanism" {
				d.Mechanisms = append(d.Mechanisms, el.Text())
			}
		}
	}
	if cb := c.Features.Child("urn:xmpp:sasl-cb:0", "sasl-channel-binding"); cb != nil {
		for el := range cb.Elements() {
			d.ChannelBindings = append(d.ChannelBindings, el.Get("type"))
		}
	}
	return d
}

// Authenticate2 runs one SASL2 exchange (XEP-0388) with what o asks for
// inline: Bind 2, a resumption, a FAST token or a login with one. On
// success c.Success is the server's <success/>, c.JID its authorization
// identifier, c.Token the FAST token it gave, and c.Features the features
// that followed it (the stream is not restarted).
func (c *Conn) Authenticate2(o Options) error {
	if c.Features.Child(NSSASL2, "authentication") == nil {
		return fmt.Errorf("authenticate: %w: SASL2 not offered", ErrUnexpected)
	}
	mech := o.Mechanism
	if mech == "" {
		mech = sasl.SCRAMSHA256
	}
	var b sasl.ChannelBinding
	if strings.HasSuffix(mech, "-PLUS") || strings.HasPrefix(mech, "HT-") && !strings.HasSuffix(mech, "-NONE") {
		b = c.Binding
	}
	secret := o.Password
	if o.Token != "" {
		secret = o.Token
	}
	cl, err := sasl.NewClient(mech, o.JID.Local(), secret, b)
	if err != nil {
		return err
	}
	cl.SetKeyCache(o.KeyCache)
	if o.SSDP {
		cl.SetDowngrade(c.advertised(NSSASL2, "authentication"))
	}
	first, err := cl.Step(nil)
	if err != nil {
		return err
	}
	auth := xmlstream.New(NSSASL2, "authenticate").SetAttr("mechanism", mech).
		Append(xmlstream.New(NSSASL2, "initial-response").AppendText(base64.StdEncoding.EncodeToString(first)))
	if o.UserAgent != "" {
		ua := xmlstream.New(NSSASL2, "user-agent").SetAttr("id", o.UserAgent)
		if o.Software != "" {
			ua.Append(xmlstream.New(NSSASL2, "software").AppendText(o.Software))
		}
		if o.Device != "" {
			ua.Append(xmlstream.New(NSSASL2, "device").AppendText(o.Device))
		}
		auth.Append(ua)
	}
	if o.Resume != nil {
		auth.Append(o.Resume)
	}
	if o.Bind2 {
		bind := xmlstream.New(NSBind2, "bind")
		if o.Tag != "" {
			bind.Append(xmlstream.New(NSBind2, "tag").AppendText(o.Tag))
		}
		auth.Append(bind.Append(o.Inline...))
	}
	if o.RequestToken != "" {
		auth.Append(xmlstream.New(NSFAST, "request-token").SetAttr("mechanism", o.RequestToken))
	}
	if o.Token != "" {
		fast := xmlstream.New(NSFAST, "fast")
		if o.Count > 0 {
			fast.SetAttr("count", strconv.FormatUint(o.Count, 10))
		}
		if o.Invalidate {
			fast.SetAttr("invalidate", "true")
		}
		auth.Append(fast)
	}
	el, err := c.exchange(cl, auth, NSSASL2, base64.StdEncoding.EncodeToString)
	if err != nil {
		return err
	}
	switch {
	case el.Is(NSSASL2, "success"):
		return c.success2(o, mech, cl, el)
	case el.Is(NSSASL2, "failure"):
		return fmt.Errorf("%w: %s", ErrAuth, failureCondition(el))
	default:
		return fmt.Errorf("authenticate: %w: got %s", ErrUnexpected, el)
	}
}

// failureCondition is the RFC 6120 condition of a SASL2 <failure/>.
func failureCondition(el *xmlstream.Element) string {
	for ch := range el.Elements() {
		if ch.Name.Space == stream.NSSASL {
			return ch.Name.Local
		}
	}
	return "undefined"
}

// success2 checks a SASL2 success and reads the features after it.
func (c *Conn) success2(o Options, mech string, cl *sasl.Client, el *xmlstream.Element) error {
	if err := finishSASL(cl, mech, el.ChildText(NSSASL2, "additional-data"), o.SSDP); err != nil {
		return err
	}
	aid, err := jid.Parse(el.ChildText(NSSASL2, "authorization-identifier"))
	if err != nil {
		return fmt.Errorf("client: authorization identifier: %w", err)
	}
	c.Success, c.JID = el, aid
	if tok := el.Child(NSFAST, "token"); tok != nil {
		c.Token = tok.Get("token")
		if c.TokenExpiry, err = time.Parse(time.RFC3339, tok.Get("expiry")); err != nil {
			return fmt.Errorf("client: token expiry: %w", err)
		}
	}
	f, err := c.Recv()
	if err != nil {
		return err
	}
	if !f.Is(xmlstream.NSStream, "features") {
		return fmt.Errorf("read features: %w: got %s", ErrUnexpected, f)
	}
	c.Features = f
	return nil
}
