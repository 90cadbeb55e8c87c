package dnstest

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const (
	// maxChase bounds CNAME chasing inside the server. It is larger than any
	// sensible client bound so that clients' own limits can be tested.
	maxChase = 16

	// defaultNegativeTTL is the TTL and minimum of the SOA returned with
	// negative answers until SetNegativeTTL changes it.
	defaultNegativeTTL = 60

	// listenAttempts is how often NewServer retries when the kernel gives the
	// UDP socket a port that is already taken for TCP.
	listenAttempts = 5
)

// key identifies an RRset.
type key struct {
	name  string // lower-case, fully qualified
	qtype uint16
}

// A Server is a DNS server listening on UDP and TCP on one loopback address.
type Server struct {
	// Addr is the "host:port" the server listens on, for both UDP and TCP.
	Addr string

	t   testing.TB
	udp *dns.Server
	tcp *dns.Server
	wg  sync.WaitGroup

	closeOnce sync.Once
	queries   atomic.Int64

	mu     sync.RWMutex
	rrs    map[key][]dns.RR
	names  map[string]bool // names that exist (have any record or rcode)
	rcodes map[key]int
	negTTL uint32
}

// NewServer starts a server listening on addr, for example "127.0.0.1:0" for
// a kernel-chosen port, or "127.0.0.53:53" when the test runs as root. An
// empty addr means "127.0.0.1:0". The server is closed by t.Cleanup.
func NewServer(t testing.TB, addr string) *Server {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	pc, ln, err := listen(addr)
	if err != nil {
		t.Fatalf("dnstest: listen on %s: %v", addr, err)
	}
	s := &Server{
		Addr:   ln.Addr().String(),
		t:      t,
		rrs:    make(map[key][]dns.RR),
		names:  make(map[string]bool),
		rcodes: make(map[key]int),
		negTTL: defaultNegativeTTL,
	}
	h := dns.HandlerFunc(s.serveDNS)
	s.udp = &dns.Server{PacketConn: pc, Handler: h}
	s.tcp = &dns.Server{Listener: ln, Handler: h}
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			// The error is only interesting if the server never started, which
			// the select below reports.
			_ = srv.ActivateAndServe()
		}()
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			t.Fatalf("dnstest: server on %s did not start", s.Addr)
		}
	}
	t.Cleanup(s.Close)
	return s
}

// listen opens a UDP socket and a TCP listener on the same address. With port
// 0 the kernel picks the UDP port, and the TCP port may already be in use, so
// it retries a few times.
func listen(addr string) (net.PacketConn, net.Listener, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, err
	}
	var lastErr error
	for range listenAttempts {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, err
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		lastErr = err
		if port != "0" {
			break
		}
	}
	return nil, nil, lastErr
}

// Close shuts the server down and waits for its goroutines. It is safe to call
// more than once; t.Cleanup calls it too.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, srv := range []*dns.Server{s.udp, s.tcp} {
			if err := srv.ShutdownContext(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
				s.t.Errorf("dnstest: shut down %s: %v", s.Addr, err)
			}
		}
		s.wg.Wait()
	})
}

// Queries returns the number of queries received so far, over UDP and TCP.
// A client that retries over TCP after a truncated UDP answer counts twice.
func (s *Server) Queries() int {
	return int(s.queries.Load())
}

// AddSRV adds an SRV record (RFC 2782). The target "." declares that the
// service is not offered.
func (s *Server) AddSRV(name string, ttl uint32, prio, weight, port uint16, target string) {
	s.t.Helper()
	s.add(&dns.SRV{
		Hdr:      header(name, dns.TypeSRV, ttl),
		Priority: prio,
		Weight:   weight,
		Port:     port,
		Target:   dns.Fqdn(target),
	})
}

// AddA adds one A record per address; each ip must be an IPv4 literal.
func (s *Server) AddA(name string, ttl uint32, ips ...string) {
	s.t.Helper()
	for _, ip := range ips {
		a, err := netip.ParseAddr(ip)
		if err != nil || !a.Is4() {
			s.t.Fatalf("dnstest: AddA %s: %q is not an IPv4 address", name, ip)
			return
		}
		s.add(&dns.A{Hdr: header(name, dns.TypeA, ttl), A: a.AsSlice()})
	}
}

// AddAAAA adds one AAAA record per address; each ip must be an IPv6 literal.
func (s *Server) AddAAAA(name string, ttl uint32, ips ...string) {
	s.t.Helper()
	for _, ip := range ips {
		a, err := netip.ParseAddr(ip)
		if err != nil || !a.Is6() || a.Is4In6() {
			s.t.Fatalf("dnstest: AddAAAA %s: %q is not an IPv6 address", name, ip)
			return
		}
		s.add(&dns.AAAA{Hdr: header(name, dns.TypeAAAA, ttl), AAAA: a.AsSlice()})
	}
}

// AddCNAME makes name an alias of target. The server chases the alias when
// answering other types, so loops and long chains can be served to test a
// client's limits.
func (s *Server) AddCNAME(name string, ttl uint32, target string) {
	s.t.Helper()
	s.add(&dns.CNAME{Hdr: header(name, dns.TypeCNAME, ttl), Target: dns.Fqdn(target)})
}

// SetRcode makes the server answer queries for name and qtype with rcode
// (for example dns.RcodeServerFailure) and an empty message. A qtype of
// dns.TypeANY applies to every type queried for name. dns.RcodeSuccess
// removes the override.
func (s *Server) SetRcode(name string, qtype uint16, rcode int) {
	k := key{canonical(name), qtype}
	s.mu.Lock()
	defer s.mu.Unlock()
	if rcode == dns.RcodeSuccess {
		delete(s.rcodes, k)
		return
	}
	s.rcodes[k] = rcode
}

// SetNegativeTTL sets the TTL and the minimum field of the SOA record sent
// with NXDOMAIN and no-data answers (RFC 2308 §5); the default is 60 seconds.
func (s *Server) SetNegativeTTL(ttl uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.negTTL = ttl
}

func (s *Server) add(rr dns.RR) {
	h := rr.Header()
	if _, ok := dns.IsDomainName(h.Name); !ok {
		s.t.Fatalf("dnstest: %q is not a domain name", h.Name)
		return
	}
	k := key{h.Name, h.Rrtype}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rrs[k] = append(s.rrs[k], rr)
	s.names[h.Name] = true
}

func header(name string, rrtype uint16, ttl uint32) dns.RR_Header {
	return dns.RR_Header{Name: canonical(name), Rrtype: rrtype, Class: dns.ClassINET, Ttl: ttl}
}

func canonical(name string) string {
	return strings.ToLower(dns.Fqdn(name))
}

// serveDNS answers one query. It runs on the miekg/dns server goroutines.
func (s *Server) serveDNS(w dns.ResponseWriter, req *dns.Msg) {
	s.queries.Add(1)
	resp := s.answer(req)

	// RFC 6891 §6.2.5: a UDP answer must fit the requestor's payload size,
	// 512 bytes without EDNS0; Truncate sets TC when records are dropped.
	if w.LocalAddr().Network() == "udp" {
		size := dns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil {
			size = int(opt.UDPSize())
		}
		resp.Truncate(size)
	}
	// A write error means the client went away; nothing to tell it.
	_ = w.WriteMsg(resp)
}

func (s *Server) answer(req *dns.Msg) *dns.Msg {
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.Authoritative = true
	resp.RecursionAvailable = true
	if opt := req.IsEdns0(); opt != nil {
		resp.SetEdns0(dns.DefaultMsgSize, false)
	}
	if len(req.Question) != 1 {
		resp.Rcode = dns.RcodeFormatError
		return resp
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)

	s.mu.RLock()
	defer s.mu.RUnlock()
	if rc, ok := s.rcodes[key{name, q.Qtype}]; ok {
		resp.Rcode = rc
		return resp
	}
	if rc, ok := s.rcodes[key{name, dns.TypeANY}]; ok {
		resp.Rcode = rc
		return resp
	}

	cur := name
	for range maxChase {
		if rrs := s.rrs[key{cur, q.Qtype}]; len(rrs) > 0 {
			resp.Answer = append(resp.Answer, rrs...)
			return resp
		}
		cname := s.rrs[key{cur, dns.TypeCNAME}]
		if len(cname) == 0 || q.Qtype == dns.TypeCNAME {
			break
		}
		resp.Answer = append(resp.Answer, cname[0])
		cur = strings.ToLower(cname[0].(*dns.CNAME).Target)
	}
	if !s.names[cur] {
		resp.Rcode = dns.RcodeNameError
	}
	resp.Ns = []dns.RR{&dns.SOA{
		Hdr:     dns.RR_Header{Name: ".", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: s.negTTL},
		Ns:      "ns.dnstest.",
		Mbox:    "hostmaster.dnstest.",
		Serial:  1,
		Refresh: 3600,
		Retry:   600,
		Expire:  86400,
		Minttl:  s.negTTL,
	}}
	return resp
}
