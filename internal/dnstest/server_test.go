package dnstest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"
)

// exchange sends one query over network ("udp" or "tcp") and fails the test
// on a transport error.
func exchange(t *testing.T, s *Server, network, name string, qtype uint16, edns uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	if edns != 0 {
		m.SetEdns0(edns, false)
	}
	c := &dns.Client{Net: network}
	resp, _, err := c.Exchange(m, s.Addr)
	if err != nil {
		t.Fatalf("exchange %s %s over %s: %v", name, dns.TypeToString[qtype], network, err)
	}
	return resp
}

// summary is the part of a response the tests compare.
type summary struct {
	Rcode     string
	Truncated bool
	Answer    []string
	SOA       bool
}

func summarize(m *dns.Msg) summary {
	s := summary{Rcode: dns.RcodeToString[m.Rcode], Truncated: m.Truncated}
	for _, rr := range m.Answer {
		s.Answer = append(s.Answer, rr.String())
	}
	for _, rr := range m.Ns {
		if _, ok := rr.(*dns.SOA); ok {
			s.SOA = true
		}
	}
	return s
}

func TestServerAnswers(t *testing.T) {
	s := NewServer(t, "127.0.0.1:0")
	s.AddSRV("_xmpp-server._tcp.a.example", 300, 5, 10, 5269, "xmpp.a.example")
	s.AddA("xmpp.a.example", 60, "192.0.2.1")
	s.AddAAAA("xmpp.a.example", 60, "2001:db8::1")
	s.AddCNAME("alias.a.example", 30, "xmpp.a.example")
	s.AddCNAME("dangling.a.example", 30, "gone.a.example")
	s.SetRcode("broken.a.example", dns.TypeA, dns.RcodeServerFailure)
	s.SetRcode("refused.a.example", dns.TypeANY, dns.RcodeRefused)

	tests := []struct {
		name  string
		qname string
		qtype uint16
		want  summary
	}{
		{"srv", "_xmpp-server._tcp.a.example", dns.TypeSRV, summary{
			Rcode:  "NOERROR",
			Answer: []string{"_xmpp-server._tcp.a.example.\t300\tIN\tSRV\t5 10 5269 xmpp.a.example."},
		}},
		{"a", "xmpp.a.example", dns.TypeA, summary{
			Rcode:  "NOERROR",
			Answer: []string{"xmpp.a.example.\t60\tIN\tA\t192.0.2.1"},
		}},
		{"aaaa mixed case", "XMPP.A.Example", dns.TypeAAAA, summary{
			Rcode:  "NOERROR",
			Answer: []string{"xmpp.a.example.\t60\tIN\tAAAA\t2001:db8::1"},
		}},
		{"cname chased", "alias.a.example", dns.TypeA, summary{
			Rcode: "NOERROR",
			Answer: []string{
				"alias.a.example.\t30\tIN\tCNAME\txmpp.a.example.",
				"xmpp.a.example.\t60\tIN\tA\t192.0.2.1",
			},
		}},
		{"cname to nowhere", "dangling.a.example", dns.TypeA, summary{
			Rcode:  "NXDOMAIN",
			Answer: []string{"dangling.a.example.\t30\tIN\tCNAME\tgone.a.example."},
			SOA:    true,
		}},
		{"no data", "xmpp.a.example", dns.TypeSRV, summary{Rcode: "NOERROR", SOA: true}},
		{"nxdomain", "nothing.a.example", dns.TypeA, summary{Rcode: "NXDOMAIN", SOA: true}},
		{"rcode for one type", "broken.a.example", dns.TypeA, summary{Rcode: "SERVFAIL"}},
		{"rcode for other type untouched", "broken.a.example", dns.TypeAAAA, summary{Rcode: "NXDOMAIN", SOA: true}},
		{"rcode for any type", "refused.a.example", dns.TypeSRV, summary{Rcode: "REFUSED"}},
	}
	for _, tt := range tests {
		for _, network := range []string{"udp", "tcp"} {
			t.Run(tt.name+"/"+network, func(t *testing.T) {
				got := summarize(exchange(t, s, network, tt.qname, tt.qtype, 1232))
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("answer mismatch (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestServerTruncatesOverUDP(t *testing.T) {
	s := NewServer(t, "")
	var ips []string
	for i := range 200 {
		ips = append(ips, fmt.Sprintf("10.0.%d.%d", i/250, i%250+1))
	}
	s.AddA("big.a.example", 60, ips...)

	tests := []struct {
		name          string
		network       string
		edns          uint16
		wantTruncated bool
		wantAll       bool
	}{
		{"udp without edns", "udp", 0, true, false},
		{"udp with edns 1232", "udp", 1232, true, false},
		{"tcp", "tcp", 1232, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := exchange(t, s, tt.network, "big.a.example", dns.TypeA, tt.edns)
			if resp.Truncated != tt.wantTruncated {
				t.Errorf("truncated = %v, want %v", resp.Truncated, tt.wantTruncated)
			}
			if got := len(resp.Answer) == len(ips); got != tt.wantAll {
				t.Errorf("got %d of %d records, want all: %v", len(resp.Answer), len(ips), tt.wantAll)
			}
		})
	}
}

func TestServerCountsQueries(t *testing.T) {
	s := NewServer(t, "127.0.0.1:0")
	s.AddA("xmpp.a.example", 60, "192.0.2.1")
	const n = 8
	var wg sync.WaitGroup
	for i := range n {
		network := "udp"
		if i%2 == 1 {
			network = "tcp"
		}
		wg.Go(func() {
			m := new(dns.Msg)
			m.SetQuestion("xmpp.a.example.", dns.TypeA)
			c := &dns.Client{Net: network}
			if _, _, err := c.Exchange(m, s.Addr); err != nil {
				t.Errorf("exchange over %s: %v", network, err)
			}
		})
	}
	wg.Wait()
	if got := s.Queries(); got != n {
		t.Errorf("Queries() = %d, want %d", got, n)
	}
}

func TestServerNegativeTTL(t *testing.T) {
	s := NewServer(t, "127.0.0.1:0")
	s.SetNegativeTTL(7200)
	resp := exchange(t, s, "udp", "nothing.a.example", dns.TypeA, 0)
	if len(resp.Ns) != 1 {
		t.Fatalf("authority = %v, want one SOA", resp.Ns)
	}
	soa, ok := resp.Ns[0].(*dns.SOA)
	if !ok {
		t.Fatalf("authority = %v, want an SOA", resp.Ns[0])
	}
	if soa.Minttl != 7200 || soa.Hdr.Ttl != 7200 {
		t.Errorf("SOA ttl, minimum = %d, %d, want 7200, 7200", soa.Hdr.Ttl, soa.Minttl)
	}
}

func TestServerSetRcodeClear(t *testing.T) {
	s := NewServer(t, "127.0.0.1:0")
	s.AddA("xmpp.a.example", 60, "192.0.2.1")
	s.SetRcode("xmpp.a.example", dns.TypeA, dns.RcodeServerFailure)
	if got := exchange(t, s, "udp", "xmpp.a.example", dns.TypeA, 0).Rcode; got != dns.RcodeServerFailure {
		t.Errorf("rcode with override = %s, want SERVFAIL", dns.RcodeToString[got])
	}
	s.SetRcode("xmpp.a.example", dns.TypeA, dns.RcodeSuccess)
	if got := exchange(t, s, "udp", "xmpp.a.example", dns.TypeA, 0); got.Rcode != dns.RcodeSuccess || len(got.Answer) != 1 {
		t.Errorf("after clearing: rcode %s, %d answers, want NOERROR and 1", dns.RcodeToString[got.Rcode], len(got.Answer))
	}
}

func TestServerClose(t *testing.T) {
	s := NewServer(t, "127.0.0.1:0")
	s.Close()
	s.Close() // idempotent; t.Cleanup calls it again
	m := new(dns.Msg)
	m.SetQuestion("a.example.", dns.TypeA)
	c := &dns.Client{Net: "tcp"}
	if _, _, err := c.Exchange(m, s.Addr); err == nil {
		t.Errorf("exchange after Close succeeded, want an error")
	}
}
