package checkdns

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"roost/srv"
)

// Level says how much a finding matters.
type Level uint8

// The levels, from harmless to blocking.
const (
	OK      Level = iota // works as it should
	Note                 // works, but worth knowing
	Problem              // something people will notice
)

// Finding is one line of the report.
type Finding struct {
	Level Level
	Text  string
}

// Section groups findings under a title.
type Section struct {
	Title    string
	Findings []Finding
}

// Report is the outcome of checking one domain.
type Report struct {
	Domain   string
	Sections []Section
}

// Problems counts the findings at level Problem.
func (r Report) Problems() int {
	n := 0
	for _, s := range r.Sections {
		for _, f := range s.Findings {
			if f.Level == Problem {
				n++
			}
		}
	}
	return n
}

// Options configure a Checker.
type Options struct {
	// DNSServer is the resolver's "ip:port"; empty means the first
	// nameserver of /etc/resolv.conf.
	DNSServer string
	// Roots are trusted for certificates; nil means the system roots.
	Roots *x509.CertPool
	// Services are the service labels hosted below every domain, such as
	// "conference": their names must resolve and be in the certificate.
	Services []string
	// Timeout bounds each lookup, connection and handshake (5s).
	Timeout time.Duration
	// Dial opens TCP connections; nil means a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Now is the current time, for certificate expiry; nil means time.Now.
	Now func() time.Time
}

// Checker checks domains. It is safe for concurrent use.
type Checker struct {
	opts   Options
	res    *srv.Resolver
	server string // for the raw SRV queries
}

// New returns a Checker.
func New(opts Options) (*Checker, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Dial == nil {
		d := net.Dialer{}
		opts.Dial = d.DialContext
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	res, err := srv.New(srv.Options{Server: opts.DNSServer, Timeout: opts.Timeout, CacheSize: -1})
	if err != nil {
		return nil, fmt.Errorf("configure the resolver: %w", err)
	}
	server := opts.DNSServer
	if server == "" {
		server = "127.0.0.1:53"
		if cfg, err := dns.ClientConfigFromFile("/etc/resolv.conf"); err == nil && len(cfg.Servers) > 0 {
			server = net.JoinHostPort(cfg.Servers[0], cfg.Port)
		}
	} else if _, _, err := net.SplitHostPort(server); err != nil {
		server = net.JoinHostPort(strings.Trim(server, "[]"), "53")
	}
	return &Checker{opts: opts, res: res, server: server}, nil
}

// kind is one of the two services a domain offers.
type kind struct {
	name        string // in the report
	direct, tcp string // SRV service labels
	port        uint16 // fallback port
	ns          string // stream content namespace
	lookup      func(*srv.Resolver, context.Context, string) ([]srv.Target, error)
}

// serviceKinds returns the client service, then the server service.
func serviceKinds() []kind {
	return []kind{
		{"clients", "_xmpps-client", "_xmpp-client", 5222, "jabber:client", (*srv.Resolver).LookupClient},
		{"other servers", "_xmpps-server", "_xmpp-server", 5269, "jabber:server", (*srv.Resolver).LookupServer},
	}
}

// Check looks at everything about domain that other machines see: its
// SRV records, the addresses they lead to, whether the ports answer, and
// the certificate served there. It never fails: what goes wrong is in the
// report.
func (c *Checker) Check(ctx context.Context, domain string) Report {
	r := Report{Domain: domain}
	dnsSec := Section{Title: "DNS records"}
	reach := Section{Title: "Connections"}
	certSec := Section{Title: "Certificate"}
	var certTargets []probe
	hostsSeen := map[string]bool{}
	for _, k := range serviceKinds() {
		c.srvRecords(ctx, &dnsSec, k, domain)
		targets, err := c.lookup(ctx, k, domain)
		if err != nil {
			dnsSec.add(Problem, "%s cannot find this server: %v.", capitalize(k.name), plainDNSError(err))
			continue
		}
		for _, t := range targets {
			addrs := c.hostAddresses(ctx, &dnsSec, hostsSeen, t.Host)
			p, ok := c.reachable(ctx, &reach, k, t, addrs)
			if ok {
				certTargets = append(certTargets, p)
			}
		}
	}
	c.services(ctx, &dnsSec, domain)
	c.certificates(ctx, &certSec, domain, certTargets)
	r.Sections = []Section{dnsSec, reach, certSec}
	return r
}

func (s *Section) add(l Level, format string, args ...any) {
	s.Findings = append(s.Findings, Finding{Level: l, Text: fmt.Sprintf(format, args...)})
}

func (c *Checker) lookup(ctx context.Context, k kind, domain string) ([]srv.Target, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*c.opts.Timeout)
	defer cancel()
	return k.lookup(c.res, ctx, domain)
}

// srvRecords reports the raw SRV records of one service, "." included.
func (c *Checker) srvRecords(ctx context.Context, sec *Section, k kind, domain string) {
	found := false
	for _, label := range []string{k.tcp, k.direct} {
		name := label + "._tcp." + domain
		records, err := c.querySRV(ctx, name)
		if err != nil {
			sec.add(Problem, "Looking up %s failed: %v.", name, err)
			continue
		}
		for _, rec := range records {
			found = true
			how := "STARTTLS"
			if label == k.direct {
				how = "direct TLS"
			}
			if rec.Target == "." {
				sec.add(Note, "%s says this domain offers no service for %s with %s (target \".\").", name, k.name, how)
				continue
			}
			sec.add(OK, "%s sends %s to %s, port %d (%s, priority %d, weight %d).",
				name, k.name, strings.TrimSuffix(rec.Target, "."), rec.Port, how, rec.Priority, rec.Weight)
		}
	}
	if !found {
		sec.add(Note, "There is no SRV record for %s (_xmpp-%s._tcp.%s): they will connect to %s itself on port %d. That works if %s points at this server.",
			k.name, strings.TrimPrefix(k.tcp, "_xmpp-"), domain, domain, k.port, domain)
	}
}

func (c *Checker) querySRV(ctx context.Context, name string) ([]*dns.SRV, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeSRV)
	m.SetEdns0(1232, false)
	cl := &dns.Client{Timeout: c.opts.Timeout}
	in, _, err := cl.ExchangeContext(ctx, m, c.server)
	if err == nil && in.Truncated {
		cl.Net = "tcp"
		in, _, err = cl.ExchangeContext(ctx, m, c.server)
	}
	if err != nil {
		return nil, fmt.Errorf("no answer from the DNS server %s", c.server)
	}
	switch in.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
	default:
		return nil, fmt.Errorf("the DNS server answered %s", dns.RcodeToString[in.Rcode])
	}
	var out []*dns.SRV
	for _, rr := range in.Answer {
		if s, ok := rr.(*dns.SRV); ok {
			out = append(out, s)
		}
	}
	return out, nil
}

// hostAddresses reports (once per host) and returns its addresses.
func (c *Checker) hostAddresses(ctx context.Context, sec *Section, seen map[string]bool, host string) []netip.Addr {
	lctx, cancel := context.WithTimeout(ctx, 2*c.opts.Timeout)
	defer cancel()
	addrs, err := c.res.LookupHost(lctx, host)
	if seen[host] {
		return addrs
	}
	seen[host] = true
	if err != nil {
		sec.add(Problem, "%s has no address (no A or AAAA record): %v. Nobody can connect to it.", host, plainDNSError(err))
		return nil
	}
	var v4, v6 []string
	private := false
	for _, a := range addrs {
		if a.Is4() || a.Is4In6() {
			v4 = append(v4, a.String())
		} else {
			v6 = append(v6, a.String())
		}
		private = private || a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast()
	}
	if len(v4) > 0 {
		sec.add(OK, "%s has the IPv4 address %s.", host, strings.Join(v4, ", "))
	}
	if len(v6) > 0 {
		sec.add(OK, "%s has the IPv6 address %s.", host, strings.Join(v6, ", "))
	}
	if private {
		sec.add(Note, "%s points to a private address: only devices in the same network can reach it, not the rest of the internet.", host)
	}
	return addrs
}

// probe is a port that answered, for the certificate check.
type probe struct {
	kind   kind
	target srv.Target
	addr   string
}

// reachable tries each address of a target and reports whether one
// answers.
func (c *Checker) reachable(ctx context.Context, sec *Section, k kind, t srv.Target, addrs []netip.Addr) (probe, bool) {
	how := "STARTTLS"
	if t.DirectTLS {
		how = "direct TLS"
	}
	what := fmt.Sprintf("port %d of %s (%s, %s)", t.Port, t.Host, k.name, how)
	if len(addrs) == 0 {
		return probe{}, false
	}
	var failures []string
	public := false
	for _, a := range addrs {
		addr := netip.AddrPortFrom(a, t.Port).String()
		dctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
		nc, err := c.opts.Dial(dctx, "tcp", addr)
		cancel()
		if err == nil {
			_ = nc.Close()
			sec.add(OK, "%s answers at %s.", capitalize(what), addr)
			return probe{kind: k, target: t, addr: addr}, true
		}
		public = public || !(a.IsPrivate() || a.IsLoopback())
		failures = append(failures, addr+": "+plainDialError(err))
	}
	sec.add(Problem, "%s does not answer (%s). Is roost running, and does your router forward port %d to this machine?",
		capitalize(what), strings.Join(failures, "; "), t.Port)
	if public {
		sec.add(Note, "If you run this check inside your home network, your router may not let you reach your own public address (no \"NAT loopback\"): check from outside, for example from a phone on mobile data.")
	}
	return probe{}, false
}

// services checks that the service subdomains resolve, so that other
// servers reach them (a chat room's users elsewhere, file downloads).
func (c *Checker) services(ctx context.Context, sec *Section, domain string) {
	for _, label := range c.opts.Services {
		name := label + "." + domain
		targets, err := c.lookup(ctx, serviceKinds()[1], name)
		var addrs []netip.Addr
		if err == nil && len(targets) > 0 {
			lctx, cancel := context.WithTimeout(ctx, 2*c.opts.Timeout)
			addrs, err = c.res.LookupHost(lctx, targets[0].Host)
			cancel()
		}
		if err != nil || len(addrs) == 0 {
			sec.add(Problem, "%s has no DNS record, so other servers and clients cannot reach this service. Add a CNAME record for %s pointing to %s (or an A record with your address).",
				name, name, domain)
			continue
		}
		sec.add(OK, "%s resolves (to %s).", name, addrs[0])
	}
}

// certificates checks what each port that answered serves.
func (c *Checker) certificates(ctx context.Context, sec *Section, domain string, probes []probe) {
	if len(probes) == 0 {
		sec.add(Problem, "No port answered, so the certificate could not be checked.")
		return
	}
	seen := map[string]bool{}
	for _, p := range probes {
		what := fmt.Sprintf("port %d of %s", p.target.Port, p.target.Host)
		chain, err := c.fetchCertificate(ctx, p, domain)
		if err != nil {
			sec.add(Problem, "Could not get the certificate from %s: %v.", what, err)
			continue
		}
		fp := string(chain[0].Raw)
		if seen[fp] {
			sec.add(OK, "%s serves the same certificate.", capitalize(what))
			continue
		}
		seen[fp] = true
		c.judge(sec, what, domain, chain)
	}
}

// judge reports whether a certificate chain is trusted and covers the
// domain and its services.
func (c *Checker) judge(sec *Section, what, domain string, chain []*x509.Certificate) {
	leaf := chain[0]
	inter := x509.NewCertPool()
	for _, ic := range chain[1:] {
		inter.AddCert(ic)
	}
	now := c.opts.Now()
	issuer := leaf.Issuer.CommonName
	if issuer == "" {
		issuer = leaf.Issuer.String()
	}
	_, err := leaf.Verify(x509.VerifyOptions{
		DNSName: domain, Roots: c.opts.Roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	var hostErr x509.HostnameError
	switch {
	case err == nil:
		sec.add(OK, "The certificate on %s is valid for %s (issued by %s).", what, domain, issuer)
	case errors.As(err, &hostErr):
		sec.add(Problem, "The certificate on %s is not for %s (it is for %s). Clients will refuse it, and other servers will only talk to this one through dialback.",
			what, domain, strings.Join(certNames(leaf), ", "))
	case leaf.CheckSignatureFrom(leaf) == nil:
		sec.add(Problem, "The certificate on %s is self-signed. Clients will warn about it, and other servers accept this server only through dialback (some refuse). Get one from Let's Encrypt: set tls.source = \"acme\".", what)
	default:
		sec.add(Problem, "The certificate on %s is not trusted: %v. Clients will warn about it, and other servers accept this server only through dialback.", what, plainCertError(err))
	}
	// Certificates are renewed when a third of their life is left (ACME
	// clients' habit, and roost's); with a sixth left, renewal is failing.
	// Relative, because lifetimes range from days to a year.
	switch left := leaf.NotAfter.Sub(now); {
	case left <= 0:
		sec.add(Problem, "It expired on %s.", leaf.NotAfter.Format(time.DateOnly))
	case left < leaf.NotAfter.Sub(leaf.NotBefore)/6:
		sec.add(Problem, "It expires in %d days (%s) and has not been renewed yet.", int(left.Hours()/24), leaf.NotAfter.Format(time.DateOnly))
	default:
		sec.add(OK, "It expires on %s, in %d days.", leaf.NotAfter.Format(time.DateOnly), int(left.Hours()/24))
	}
	for _, label := range c.opts.Services {
		name := label + "." + domain
		if leaf.VerifyHostname(name) == nil {
			sec.add(OK, "It also covers %s.", name)
		} else {
			sec.add(Problem, "It does not cover %s, so the %s service cannot be reached securely from other servers.", name, label)
		}
	}
}

func certNames(leaf *x509.Certificate) []string {
	names := slices.Clone(leaf.DNSNames)
	if len(names) == 0 && leaf.Subject.CommonName != "" {
		names = []string{leaf.Subject.CommonName}
	}
	if len(names) == 0 {
		names = []string{"no name at all"}
	}
	return names
}

// fetchCertificate connects to a port that answered and gets its
// certificate chain: with STARTTLS, opening a stream for domain
// (RFC 6120 §5), or with a direct TLS handshake (XEP-0368).
func (c *Checker) fetchCertificate(ctx context.Context, p probe, domain string) ([]*x509.Certificate, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*c.opts.Timeout)
	defer cancel()
	nc, err := c.opts.Dial(ctx, "tcp", p.addr)
	if err != nil {
		return nil, errors.New(plainDialError(err))
	}
	defer nc.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	cfg := &tls.Config{
		ServerName:         domain,
		InsecureSkipVerify: true, //nolint:gosec // the chain is judged afterwards, to explain what is wrong with it
		MinVersion:         tls.VersionTLS12,
	}
	if p.target.DirectTLS {
		cfg.NextProtos = []string{strings.TrimPrefix(p.kind.tcp, "_")} // xmpp-client or xmpp-server
	} else if err := startTLS(nc, domain, p.kind.ns); err != nil {
		return nil, err
	}
	tc := tls.Client(nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("the TLS handshake failed: %w", err)
	}
	chain := tc.ConnectionState().PeerCertificates
	if len(chain) == 0 {
		return nil, errors.New("no certificate was sent")
	}
	return chain, nil
}

// startTLS opens a stream and asks for TLS, with just enough XML to do so.
func startTLS(nc net.Conn, domain, ns string) error {
	if _, err := fmt.Fprintf(nc, "<?xml version='1.0'?><stream:stream xmlns='%s' xmlns:stream='http://etherx.jabber.org/streams' to='%s' version='1.0'>", ns, xmlAttr(domain)); err != nil {
		return err
	}
	// The server sends nothing after <proceed/> until the handshake, so
	// the decoder's read-ahead cannot swallow TLS bytes.
	d := xml.NewDecoder(nc)
	offered, inFeatures := false, false
	for {
		tok, err := d.Token()
		if err != nil {
			return fmt.Errorf("the server did not open a stream: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch {
			case t.Name.Local == "features":
				inFeatures = true
			case inFeatures && t.Name.Local == "starttls":
				offered = true
			case t.Name.Local == "error" && !inFeatures:
				return errors.New("the server answered with a stream error")
			}
		case xml.EndElement:
			if t.Name.Local != "features" {
				continue
			}
			if !offered {
				return errors.New("the server does not offer encryption (STARTTLS)")
			}
			if _, err := io.WriteString(nc, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"); err != nil {
				return err
			}
			for {
				tok, err := d.Token()
				if err != nil {
					return fmt.Errorf("no answer to STARTTLS: %w", err)
				}
				if se, ok := tok.(xml.StartElement); ok {
					if se.Name.Local == "proceed" {
						return nil
					}
					return errors.New("the server refused STARTTLS")
				}
			}
		}
	}
}

func xmlAttr(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return strings.ReplaceAll(b.String(), "'", "&apos;")
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func plainDNSError(err error) string {
	switch {
	case errors.Is(err, srv.ErrNotFound):
		return "the name does not exist in DNS"
	case errors.Is(err, srv.ErrNoData):
		return "the name exists but has no such record"
	case errors.Is(err, srv.ErrNoService):
		return "its DNS says it offers no XMPP service"
	case errors.Is(err, context.DeadlineExceeded):
		return "the DNS server did not answer in time"
	case errors.Is(err, srv.ErrServerFailure):
		return "the DNS server reported a failure"
	}
	return err.Error()
}

func plainDialError(err error) string {
	s := err.Error()
	switch {
	case strings.Contains(s, "refused"):
		return "connection refused: nothing listens there"
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(s, "timeout"):
		return "no answer: a firewall may drop the connection"
	case strings.Contains(s, "unreachable"):
		return "network unreachable"
	}
	return s
}

func plainCertError(err error) string {
	var ua x509.UnknownAuthorityError
	var inv x509.CertificateInvalidError
	switch {
	case errors.As(err, &ua):
		return "it is signed by an authority this machine does not know"
	case errors.As(err, &inv) && inv.Reason == x509.Expired:
		return "it has expired or is not valid yet"
	}
	return err.Error()
}

// WriteText writes the report in plain words.
func (r Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Checking %s\n", r.Domain)
	for _, s := range r.Sections {
		fmt.Fprintf(&b, "\n%s\n", s.Title)
		for _, f := range s.Findings {
			fmt.Fprintf(&b, "  %-8s %s\n", label(f.Level), f.Text)
		}
	}
	switch n := r.Problems(); n {
	case 0:
		fmt.Fprintf(&b, "\nAll good: %s can be reached by clients and other servers.\n", r.Domain)
	case 1:
		b.WriteString("\n1 problem found.\n")
	default:
		b.WriteString("\n" + strconv.Itoa(n) + " problems found.\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func label(l Level) string {
	switch l {
	case OK:
		return "ok"
	case Note:
		return "note"
	}
	return "PROBLEM"
}
