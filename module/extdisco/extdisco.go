package extdisco

import (
	"context"
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // HMAC-SHA1 is what coturn's use-auth-secret checks
	"encoding/base64"
	"strconv"
	"time"

	"roost/jid"
	"roost/module"
	"roost/stanza"
	"roost/xmlstream"
)

// NS is external service discovery (XEP-0215).
const NS = "urn:xmpp:extdisco:2"

// Service is one external service as configured.
type Service struct {
	// Type is "stun", "turn" or "turns" (XEP-0215 §7).
	Type string
	Host string
	Port int
	// Transport is "udp" or "tcp".
	Transport string
	// Restricted services need credentials, made with Options.Secret.
	Restricted bool
}

// Local tells whether a domain is one of the server's account domains;
// *router.Router's IsLocal satisfies it.
type Local func(domain string) bool

// Options configure the module.
type Options struct {
	Services []Service
	// Secret is the TURN server's shared secret (coturn's
	// static-auth-secret).
	Secret []byte
	// Lifetime is how long credentials are valid (24h).
	Lifetime time.Duration
	Local    Local
	Now      func() time.Time
}

// Module answers external service discovery.
type Module struct{ opts Options }

// New returns the module.
func New(opts Options) *Module {
	if opts.Lifetime <= 0 {
		opts.Lifetime = 24 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Module{opts: opts}
}

// Name implements module.Module.
func (m *Module) Name() string { return "extdisco" }

// Register implements module.Module.
func (m *Module) Register(r *module.Registry) {
	r.IQ(stanza.TypeGet, NS, "services", module.HandlerFunc(m.services))
	r.IQ(stanza.TypeGet, NS, "credentials", module.HandlerFunc(m.credentials))
	r.ServerFeatures(NS)
}

// check refuses requests from outside the server, or to an account.
func (m *Module) check(st *stanza.Stanza) error {
	if st.From.IsZero() || !m.opts.Local(st.From.Domain()) {
		return stanza.NewError(stanza.Forbidden, "external services are for this server's accounts")
	}
	if !st.To.IsZero() && (st.To.Local() != "" || st.To.Resource() != "") {
		return stanza.NewError(stanza.ServiceUnavailable, "")
	}
	return nil
}

// services answers a request for the list of services (§3.1), with the
// credentials of restricted ones inline.
func (m *Module) services(_ context.Context, st *stanza.Stanza) (*xmlstream.Element, error) {
	if err := m.check(st); err != nil {
		return nil, err
	}
	typ := st.El.FirstChild().Get("type")
	out := xmlstream.New(NS, "services")
	if typ != "" {
		out.SetAttr("type", typ)
	}
	for _, s := range m.opts.Services {
		if typ == "" || s.Type == typ {
			out.Append(m.service(s, st.From.Bare()))
		}
	}
	return stanza.ResultIQ(st, out), nil
}

// credentials answers a request for the credentials of one service
// (§3.2): by host and type, and port if given.
func (m *Module) credentials(_ context.Context, st *stanza.Stanza) (*xmlstream.Element, error) {
	if err := m.check(st); err != nil {
		return nil, err
	}
	want := st.El.FirstChild().Child(NS, "service")
	if want == nil || want.Get("host") == "" || want.Get("type") == "" {
		return nil, stanza.NewError(stanza.BadRequest, "name the service by host and type")
	}
	port := want.Get("port")
	for _, s := range m.opts.Services {
		if s.Host == want.Get("host") && s.Type == want.Get("type") && (port == "" || port == strconv.Itoa(s.Port)) {
			return stanza.ResultIQ(st, xmlstream.New(NS, "credentials").Append(m.service(s, st.From.Bare()))), nil
		}
	}
	return nil, stanza.NewError(stanza.ItemNotFound, "no such service")
}

// service writes one service, with fresh credentials if it needs them.
func (m *Module) service(s Service, user jid.JID) *xmlstream.Element {
	el := xmlstream.New(NS, "service").SetAttr("type", s.Type).SetAttr("host", s.Host).
		SetAttr("port", strconv.Itoa(s.Port)).SetAttr("transport", s.Transport)
	if s.Restricted {
		expires := m.opts.Now().Add(m.opts.Lifetime)
		name, password := Credentials(m.opts.Secret, user, expires)
		el.SetAttr("restricted", "1").SetAttr("username", name).SetAttr("password", password).
			SetAttr("expires", expires.UTC().Format(time.RFC3339))
	}
	return el
}

// Credentials returns the TURN username and password for user valid until
// expires, in coturn's use-auth-secret scheme: "expiry:user" and
// base64(HMAC-SHA1(secret, username)).
func Credentials(secret []byte, user jid.JID, expires time.Time) (username, password string) {
	username = strconv.FormatInt(expires.Unix(), 10) + ":" + user.Bare().String()
	mac := hmac.New(sha1.New, secret)
	mac.Write([]byte(username))
	return username, base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
