package srv

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/idna"
)

// Errors returned by this package. Callers match them with errors.Is; the
// returned errors wrap them with the name and type queried.
var (
	// ErrNoService means the domain published a single SRV record with the
	// target "." (RFC 2782) and nothing else usable: it says it offers no
	// XMPP service, so no fallback to the domain's own address is allowed
	// (RFC 6120 §3.2.1 step 3, XEP-0368 §5).
	ErrNoService = errors.New("domain says it offers no XMPP service")

	// ErrNotFound means the name queried does not exist (NXDOMAIN,
	// RFC 2308 §2.1).
	ErrNotFound = errors.New("no such domain")

	// ErrNoData means the name exists but has no records of the type queried
	// (RFC 2308 §2.2).
	ErrNoData = errors.New("no records of that type")

	// ErrServerFailure means the resolver answered SERVFAIL, REFUSED or
	// another error rcode; the answer says nothing about the name.
	ErrServerFailure = errors.New("resolver failure")

	// ErrBadResponse means the answer could not be used: it did not unpack,
	// or its records were unusable, or its CNAME chain was too long.
	ErrBadResponse = errors.New("bad response")

	// ErrInvalidDomain means a domain or host name is not a valid DNS name,
	// or could not be converted to its A-label form.
	ErrInvalidDomain = errors.New("invalid domain name")

	// ErrInvalidServer means [Options.Server] is not an IP address with an
	// optional port. A host name would need another resolver to find it.
	ErrInvalidServer = errors.New("invalid resolver address")
)

// Defaults for [Options].
const (
	DefaultTimeout   = 5 * time.Second
	DefaultCacheSize = 1024

	resolvConf      = "/etc/resolv.conf"
	fallbackServer  = "127.0.0.1:53"
	defaultDNSPort  = "53"
	serverPort      = 5269 // RFC 6120 §3.2.2, "xmpp-server"
	clientPort      = 5222 // RFC 6120 §3.2.2, "xmpp-client"
	xmppsServerName = "_xmpps-server._tcp."
	xmppServerName  = "_xmpp-server._tcp."
	xmppsClientName = "_xmpps-client._tcp."
	xmppClientName  = "_xmpp-client._tcp."
	maxNameLength   = 253 // RFC 1035 §2.3.4, without the trailing dot
	maxLabelLength  = 63
)

// A Target is one place to try to connect to, in the order returned.
type Target struct {
	// Host is the host to resolve with [Resolver.LookupHost]: an ASCII
	// host name without the trailing dot, or an IP literal when the domain
	// itself is one.
	Host string
	Port uint16
	// DirectTLS is true for targets from _xmpps-* records (XEP-0368): the
	// connection starts with TLS instead of STARTTLS.
	DirectTLS bool
}

// Options configures a [Resolver]. The zero value is usable.
type Options struct {
	// Server is the resolver's "ip:port". Empty means the first nameserver in
	// /etc/resolv.conf, or 127.0.0.1:53 if there is none. A bare IP address
	// means port 53. Queries go nowhere else.
	Server string

	// Timeout bounds each query, including its retry over TCP. Zero or less
	// means DefaultTimeout.
	Timeout time.Duration

	// CacheSize is the number of answers kept. Zero means DefaultCacheSize;
	// a negative value disables the cache.
	CacheSize int

	// Rand returns a uniform random int in [0, n), for the weighted
	// selection of RFC 2782. It must be safe for concurrent use. Nil means
	// math/rand/v2's IntN.
	Rand func(n int) int

	// Now returns the current time, for cache expiry. Nil means time.Now.
	Now func() time.Time
}

// A Resolver looks up XMPP services and addresses through one DNS resolver,
// caching the answers. It is safe for concurrent use.
type Resolver struct {
	server  string
	timeout time.Duration
	rand    func(int) int
	now     func() time.Time
	cache   *cache // nil when disabled
}

// New returns a Resolver configured by opts.
func New(opts Options) (*Resolver, error) {
	server := opts.Server
	server = cmp.Or(server, serverFromResolvConf(resolvConf))
	server, err := normalizeServer(server)
	if err != nil {
		return nil, fmt.Errorf("configure resolver %q: %w", opts.Server, err)
	}
	r := &Resolver{
		server:  server,
		timeout: opts.Timeout,
		rand:    opts.Rand,
		now:     opts.Now,
	}
	r.timeout = cmp.Or(max(r.timeout, 0), DefaultTimeout)
	if r.rand == nil {
		r.rand = rand.IntN
	}
	if r.now == nil {
		r.now = time.Now
	}
	switch {
	case opts.CacheSize == 0:
		r.cache = newCache(DefaultCacheSize)
	case opts.CacheSize > 0:
		r.cache = newCache(opts.CacheSize)
	}
	return r, nil
}

// serverFromResolvConf returns the first nameserver of the resolv.conf file
// at path as "ip:port", or the loopback resolver if there is none.
func serverFromResolvConf(path string) string {
	cfg, err := dns.ClientConfigFromFile(path)
	if err != nil || len(cfg.Servers) == 0 {
		return fallbackServer
	}
	port := cfg.Port
	port = cmp.Or(port, defaultDNSPort)
	return net.JoinHostPort(cfg.Servers[0], port)
}

// normalizeServer checks that server is an IP address with an optional port:
// resolving a host name would send traffic to some other resolver.
func normalizeServer(server string) (string, error) {
	if ap, err := netip.ParseAddrPort(server); err == nil {
		if ap.Port() == 0 {
			return "", ErrInvalidServer
		}
		return ap.String(), nil
	}
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(server, "["), "]")); err == nil {
		return net.JoinHostPort(a.String(), defaultDNSPort), nil
	}
	return "", ErrInvalidServer
}

// LookupServer returns where to connect to domain's XMPP server, in the order
// to try them: the _xmpps-server and _xmpp-server SRV records merged and
// ordered per RFC 2782 and XEP-0368, or the domain itself on port 5269 when
// it has no SRV records (RFC 6120 §3.2.2). See the package documentation for
// the precedence of errors and fallbacks.
func (r *Resolver) LookupServer(ctx context.Context, domain string) ([]Target, error) {
	return r.lookupService(ctx, domain, xmppsServerName, xmppServerName, serverPort)
}

// LookupClient is LookupServer for client connections: _xmpps-client and
// _xmpp-client, falling back to port 5222.
func (r *Resolver) LookupClient(ctx context.Context, domain string) ([]Target, error) {
	return r.lookupService(ctx, domain, xmppsClientName, xmppClientName, clientPort)
}

func (r *Resolver) lookupService(ctx context.Context, domain, directPrefix, plainPrefix string, port uint16) ([]Target, error) {
	host, special, err := normalizeHost(domain)
	if err != nil {
		return nil, fmt.Errorf("look up service for %q: %w", domain, err)
	}
	if special {
		// An IP literal has no SRV records, and localhost names must not be
		// sent to a resolver (RFC 6761 §6.3): connect directly.
		return []Target{{Host: host, Port: port}}, nil
	}

	// XEP-0368 §3: look up both services; they are ordered as one set.
	direct, plain, directErr, plainErr := r.queryPair(ctx,
		question{directPrefix + host + ".", dns.TypeSRV},
		question{plainPrefix + host + ".", dns.TypeSRV})

	records := make([]SRV, 0, len(direct.srv)+len(plain.srv))
	for _, rec := range direct.srv {
		rec.DirectTLS = true
		records = append(records, rec)
	}
	records = append(records, plain.srv...)
	if targets := appendOrdered(make([]Target, 0, len(records)), records, r.rand); len(targets) > 0 {
		return targets, nil
	}

	// Nothing usable. A failure might have hidden records, so report it
	// rather than guess.
	for _, err := range []error{plainErr, directErr} {
		if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrNoData) {
			return nil, err
		}
	}
	// RFC 6120 §3.2.1 step 3 and XEP-0368 §5: a "." target (which appendOrdered
	// dropped) forbids the fallback.
	if len(records) > 0 {
		return nil, fmt.Errorf("look up service for %s: %w", host, ErrNoService)
	}
	// RFC 6120 §3.2.2: no SRV records at all, fall back to the domain.
	return []Target{{Host: host, Port: port}}, nil
}

// LookupHost returns the addresses of host from its AAAA and A records,
// queried in parallel through the resolver and interleaved IPv6 first
// (RFC 8305 §4). An IP literal is returned as is, and "localhost" (or a name
// under it) is the loopback addresses, without a query (RFC 6761 §6.3). If one
// family fails and the other has addresses, the addresses are returned.
func (r *Resolver) LookupHost(ctx context.Context, host string) ([]netip.Addr, error) {
	name, special, err := normalizeHost(host)
	if err != nil {
		return nil, fmt.Errorf("look up host %q: %w", host, err)
	}
	if special {
		if a, err := netip.ParseAddr(name); err == nil {
			return []netip.Addr{a}, nil
		}
		return []netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 1}), netip.IPv6Loopback()}, nil
	}
	v6, v4, err6, err4 := r.queryPair(ctx,
		question{name + ".", dns.TypeAAAA},
		question{name + ".", dns.TypeA})
	if len(v6.addrs)+len(v4.addrs) > 0 {
		return interleave(v6.addrs, v4.addrs), nil
	}
	// No addresses: report a real failure first, then NXDOMAIN, then no data.
	for _, err := range []error{err4, err6} {
		if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrNoData) {
			return nil, err
		}
	}
	for _, err := range []error{err4, err6} {
		if errors.Is(err, ErrNotFound) {
			return nil, err
		}
	}
	if err4 != nil {
		return nil, err4
	}
	// Unreachable: a successful query always has records.
	return nil, fmt.Errorf("look up host %s: %w", name, ErrNoData)
}

// interleave alternates the two lists, starting with a.
func interleave(a, b []netip.Addr) []netip.Addr {
	out := make([]netip.Addr, 0, len(a)+len(b))
	for i := 0; i < len(a) || i < len(b); i++ {
		if i < len(a) {
			out = append(out, a[i])
		}
		if i < len(b) {
			out = append(out, b[i])
		}
	}
	return out
}

// normalizeHost returns the ASCII form of a domain or host name, lower-case
// and without a trailing dot. special reports an IP literal (returned
// without brackets) or a localhost name, which must not be queried.
func normalizeHost(s string) (host string, special bool, err error) {
	s = strings.TrimSuffix(s, ".")
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		a, err := netip.ParseAddr(s[1 : len(s)-1])
		if err != nil || !a.Is6() {
			return "", false, ErrInvalidDomain
		}
		return a.String(), true, nil
	}
	// Only parse what could be an address: a failed parse allocates, and
	// this is on the path of every cached lookup.
	if strings.IndexByte(s, ':') >= 0 {
		a, err := netip.ParseAddr(s) // no host name has a colon
		if err != nil {
			return "", false, ErrInvalidDomain
		}
		return a.String(), true, nil
	}
	if strings.IndexFunc(s, isNotDigitOrDot) < 0 {
		if a, err := netip.ParseAddr(s); err == nil {
			return a.String(), true, nil
		}
	}
	if !isASCII(s) {
		// RFC 5891 §5: domain names are looked up by their A-labels.
		a, err := idna.Lookup.ToASCII(s)
		if err != nil {
			return "", false, fmt.Errorf("convert %q to A-labels: %v: %w", s, err, ErrInvalidDomain)
		}
		s = a
	}
	s = strings.ToLower(s)
	if !validName(s) {
		return "", false, ErrInvalidDomain
	}
	if s == "localhost" || strings.HasSuffix(s, ".localhost") {
		return s, true, nil
	}
	return s, false, nil
}

func isNotDigitOrDot(r rune) bool {
	return (r < '0' || r > '9') && r != '.'
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// validName reports whether s, lower-case and without the trailing dot, is a
// host name we are willing to query: letters, digits, '-' and '_' in labels
// of 1 to 63 bytes, 253 bytes at most (RFC 1035 §2.3.4). '_' is allowed
// because SRV targets are not always host names (RFC 2181 §11).
func validName(s string) bool {
	if s == "" || len(s) > maxNameLength {
		return false
	}
	label := 0
	for i := range len(s) {
		c := s[i]
		switch {
		case c == '.':
			if label == 0 {
				return false
			}
			label = 0
			continue
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
		label++
		if label > maxLabelLength {
			return false
		}
	}
	return label > 0
}
