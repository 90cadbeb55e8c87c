package loadtool

import (
	"fmt"
	"net"
	"strings"

	"github.com/miekg/dns"
)

// startDNS answers A queries for the bench domains on addr (UDP and TCP),
// so that federation between servers on loopback never asks a resolver
// beyond it. Anything else under a bench domain gets an empty answer, and
// any other name NXDOMAIN: an SRV lookup therefore finds nothing and
// servers fall back to the domain's address and port 5269 (RFC 6120
// §3.2.2).
func startDNS(addr string, names map[string]string) (stop func(), err error) {
	h := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		m.Authoritative = true
		if len(q.Question) != 1 {
			m.Rcode = dns.RcodeFormatError
			_ = w.WriteMsg(m)
			return
		}
		qq := q.Question[0]
		name := strings.ToLower(strings.TrimSuffix(qq.Name, "."))
		ip, ok := names[name]
		switch {
		case !ok:
			m.Rcode = dns.RcodeNameError
		case qq.Qtype == dns.TypeA && qq.Qclass == dns.ClassINET:
			m.Answer = append(m.Answer, &dns.A{
				Hdr: dns.RR_Header{Name: qq.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
				A:   net.ParseIP(ip).To4(),
			})
		}
		_ = w.WriteMsg(m)
	})
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for dns: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		_ = pc.Close()
		return nil, fmt.Errorf("listen for dns: %w", err)
	}
	udp := &dns.Server{PacketConn: pc, Handler: h}
	tcp := &dns.Server{Listener: ln, Handler: h}
	done := make(chan struct{}, 2)
	go func() { _ = udp.ActivateAndServe(); done <- struct{}{} }()
	go func() { _ = tcp.ActivateAndServe(); done <- struct{}{} }()
	return func() {
		_ = udp.Shutdown()
		_ = tcp.Shutdown()
		<-done
		<-done
	}, nil
}
