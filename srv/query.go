package srv

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/miekg/dns"
)

const (
	// udpSize is the EDNS0 buffer we advertise: the DNS flag day 2020 value,
	// which avoids IP fragmentation on common paths.
	udpSize = 1232

	// readSize is the UDP read buffer: larger than advertised, so that an
	// answer from a server that ignores our EDNS0 size is read whole rather
	// than cut short.
	readSize = 4096

	// maxCNAME bounds the CNAME chain followed inside one answer.
	maxCNAME = 8

	// maxTTL caps how long a positive answer is cached.
	maxTTL = 24 * time.Hour

	// maxNegativeTTL caps how long NXDOMAIN and no-data answers are cached.
	maxNegativeTTL = 5 * time.Minute
)

// question is what one query asks: a fully qualified, lower-case name and a
// type (SRV, A or AAAA).
type question struct {
	name  string
	qtype uint16
}

// answer is the usable content of a positive answer. It is shared with the
// cache: never modify its slices.
type answer struct {
	srv   []SRV        // for SRV
	addrs []netip.Addr // for A and AAAA
}

// result is a parsed response that can be cached.
type result struct {
	ans answer
	// neg is nil for a positive answer, else ErrNotFound or ErrNoData.
	neg error
	// ttl is how long the result may be cached; zero means not at all.
	ttl time.Duration
}

// queryPair runs two queries, in parallel unless one is cached, and returns
// their answers and errors.
func (r *Resolver) queryPair(ctx context.Context, qa, qb question) (a, b answer, errA, errB error) {
	if res, ok := r.cached(qa); ok {
		a, errA = res.ans, wrapNegative(qa, res.neg)
		b, errB = r.query(ctx, qb)
		return a, b, errA, errB
	}
	if res, ok := r.cached(qb); ok {
		b, errB = res.ans, wrapNegative(qb, res.neg)
		a, errA = r.query(ctx, qa)
		return a, b, errA, errB
	}
	return r.queryBoth(ctx, qa, qb)
}

// queryBoth runs qa on a goroutine and qb on this one. It is apart from
// queryPair so that the variables the goroutine shares move to the heap only
// when both queries miss the cache.
func (r *Resolver) queryBoth(ctx context.Context, qa, qb question) (answer, answer, error, error) {
	var (
		a    answer
		errA error
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		a, errA = r.query(ctx, qa)
	}()
	b, errB := r.query(ctx, qb)
	<-done
	return a, b, errA, errB
}

func (r *Resolver) cached(q question) (result, bool) {
	if r.cache == nil {
		return result{}, false
	}
	return r.cache.get(q, r.now())
}

// query answers q from the cache or from the resolver.
func (r *Resolver) query(ctx context.Context, q question) (answer, error) {
	if res, ok := r.cached(q); ok {
		return res.ans, wrapNegative(q, res.neg)
	}
	res, err := r.resolve(ctx, q)
	if err != nil {
		return answer{}, fmt.Errorf("query %s %s: %w", q.name, dns.TypeToString[q.qtype], err)
	}
	if r.cache != nil && res.ttl > 0 {
		r.cache.put(q, res, r.now().Add(res.ttl))
	}
	return res.ans, wrapNegative(q, res.neg)
}

func wrapNegative(q question, neg error) error {
	if neg == nil {
		return nil
	}
	return fmt.Errorf("query %s %s: %w", q.name, dns.TypeToString[q.qtype], neg)
}

// resolve sends q to the resolver over UDP, then over TCP if the answer was
// truncated (RFC 7766 §5), all within the timeout.
func (r *Resolver) resolve(ctx context.Context, q question) (result, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()

	m := new(dns.Msg)
	m.SetQuestion(q.name, q.qtype) // a crypto-random ID
	m.RecursionDesired = true
	m.SetEdns0(udpSize, false)

	resp, err := r.exchange(ctx, "udp", m)
	if err == nil && resp.Truncated {
		resp, err = r.exchange(ctx, "tcp", m)
	}
	if err != nil {
		return result{}, err
	}
	return parseResponse(q, resp)
}

// exchange sends m over network to the resolver and waits for the matching
// response. Unlike miekg/dns's ExchangeContext it also stops when ctx is
// cancelled, not only at its deadline.
func (r *Resolver) exchange(ctx context.Context, network string, m *dns.Msg) (*dns.Msg, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, r.server)
	if err != nil {
		return nil, fmt.Errorf("dial %s %s: %w", network, r.server, err)
	}
	defer nc.Close()
	if deadline, ok := ctx.Deadline(); ok {
		if err := nc.SetDeadline(deadline); err != nil {
			return nil, fmt.Errorf("set deadline: %w", err)
		}
	}
	// A deadline in the past unblocks a pending read or write at once.
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	co := &dns.Conn{Conn: nc, UDPSize: readSize}
	if err := co.WriteMsg(m); err != nil {
		return nil, ctxErr(ctx, fmt.Errorf("send query over %s: %w", network, err))
	}
	for {
		resp, err := co.ReadMsg()
		if resp == nil {
			return nil, ctxErr(ctx, fmt.Errorf("read response over %s: %w", network, err))
		}
		if !matches(m, resp) {
			if network == "udp" {
				// Not ours (late, or spoofed): keep waiting for the answer.
				continue
			}
			return nil, fmt.Errorf("read response over tcp: question or id mismatch: %w", ErrBadResponse)
		}
		if err != nil {
			// The header unpacked but the rest did not. A truncated UDP
			// answer is retried over TCP anyway.
			if resp.Truncated && network == "udp" {
				return resp, nil
			}
			return nil, fmt.Errorf("unpack response: %v: %w", err, ErrBadResponse)
		}
		return resp, nil
	}
}

// ctxErr prefers the context's error, so that callers can match
// context.Canceled and context.DeadlineExceeded.
func ctxErr(ctx context.Context, err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		// Every deadline on the connection comes from ctx, whose own timer
		// may fire a moment after the socket's: wait for it.
		<-ctx.Done()
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return err
}

// matches reports whether resp answers m: same ID, a response, and the same
// question (names compared case-insensitively, RFC 4343).
func matches(m, resp *dns.Msg) bool {
	if resp.Id != m.Id || !resp.Response || len(resp.Question) != 1 {
		return false
	}
	q, rq := m.Question[0], resp.Question[0]
	return rq.Qtype == q.Qtype && rq.Qclass == q.Qclass && strings.EqualFold(rq.Name, q.Name)
}

// parseResponse extracts the records answering q from resp, following CNAMEs
// from q.name within the answer section. The error is ErrServerFailure or
// ErrBadResponse; negative answers are results, so that they can be cached.
func parseResponse(q question, resp *dns.Msg) (result, error) {
	switch resp.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
	default:
		return result{}, fmt.Errorf("rcode %s: %w", rcodeString(resp.Rcode), ErrServerFailure)
	}
	if len(resp.Question) != 1 || resp.Question[0].Qtype != q.qtype || !strings.EqualFold(resp.Question[0].Name, q.name) {
		return result{}, fmt.Errorf("question mismatch: %w", ErrBadResponse)
	}

	minTTL := maxTTL
	name := q.name
	var rrs []dns.RR
	for hops := 0; ; hops++ {
		var cname *dns.CNAME
		for _, rr := range resp.Answer {
			h := rr.Header()
			if h.Class != dns.ClassINET || !strings.EqualFold(h.Name, name) {
				continue // not on the chain: ignore, never trust
			}
			if h.Rrtype == q.qtype {
				rrs = append(rrs, rr)
				minTTL = min(minTTL, ttl(h.Ttl))
			} else if c, ok := rr.(*dns.CNAME); ok && cname == nil {
				cname = c
			}
		}
		if len(rrs) > 0 || cname == nil {
			break
		}
		if hops == maxCNAME {
			return result{}, fmt.Errorf("follow cname from %s: more than %d hops: %w", q.name, maxCNAME, ErrBadResponse)
		}
		minTTL = min(minTTL, ttl(cname.Hdr.Ttl))
		name = cname.Target
	}

	// RFC 2308 §2.1: NXDOMAIN is about the last name of the chain, and
	// outweighs any records.
	if resp.Rcode == dns.RcodeNameError || len(rrs) == 0 {
		neg := ErrNoData
		if resp.Rcode == dns.RcodeNameError {
			neg = ErrNotFound
		}
		return result{neg: neg, ttl: min(minTTL, negativeTTL(resp, name))}, nil
	}

	var res result
	for _, rr := range rrs {
		switch rr := rr.(type) {
		case *dns.SRV:
			res.ans.srv = append(res.ans.srv, SRV{
				Target:   strings.ToLower(rr.Target),
				Port:     rr.Port,
				Priority: rr.Priority,
				Weight:   rr.Weight,
			})
		case *dns.A:
			if a, ok := netip.AddrFromSlice(rr.A); ok && a.Unmap().Is4() {
				res.ans.addrs = append(res.ans.addrs, a.Unmap())
			}
		case *dns.AAAA:
			if a, ok := netip.AddrFromSlice(rr.AAAA); ok && a.Is6() && !a.Is4In6() {
				res.ans.addrs = append(res.ans.addrs, a)
			}
		}
	}
	if len(res.ans.srv)+len(res.ans.addrs) == 0 {
		return result{}, fmt.Errorf("parse %s records: none usable: %w", dns.TypeToString[q.qtype], ErrBadResponse)
	}
	res.ttl = minTTL
	return res, nil
}

// ttl converts a record's TTL; RFC 2181 §8 says a value with the top bit set
// is to be treated as zero.
func ttl(v uint32) time.Duration {
	if v > math.MaxInt32 {
		return 0
	}
	return min(time.Duration(v)*time.Second, maxTTL)
}

// negativeTTL is how long a negative answer about name may be cached: the
// smaller of the SOA's TTL and minimum field (RFC 2308 §5), at most five
// minutes, and zero without an SOA for an enclosing zone, since such an
// answer "SHOULD NOT be cached".
func negativeTTL(resp *dns.Msg, name string) time.Duration {
	for _, rr := range resp.Ns {
		soa, ok := rr.(*dns.SOA)
		if !ok || soa.Hdr.Class != dns.ClassINET || !dns.IsSubDomain(soa.Hdr.Name, name) {
			continue
		}
		return min(ttl(soa.Hdr.Ttl), ttl(soa.Minttl), maxNegativeTTL)
	}
	return 0
}

func rcodeString(rcode int) string {
	if s, ok := dns.RcodeToString[rcode]; ok {
		return s
	}
	return fmt.Sprint(rcode)
}
