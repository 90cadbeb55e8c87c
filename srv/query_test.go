package srv

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"
)

// msg builds a response to name/qtype with rcode and the given records,
// written in zone-file syntax; records starting with "ns:" go to the
// authority section.
func msg(t testing.TB, name string, qtype uint16, rcode int, records ...string) *dns.Msg {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	m := new(dns.Msg)
	m.SetRcode(q, rcode)
	for _, s := range records {
		section := &m.Answer
		if len(s) > 3 && s[:3] == "ns:" {
			section, s = &m.Ns, s[3:]
		}
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatalf("parse %q: %v", s, err)
		}
		*section = append(*section, rr)
	}
	return m
}

func TestParseResponse(t *testing.T) {
	const srvName = "_xmpp-server._tcp.a.example."
	soa := "ns:a.example. 3600 IN SOA ns.a.example. h.a.example. 1 2 3 4 60"
	tests := []struct {
		name    string
		q       question
		resp    *dns.Msg
		want    result
		wantErr error
	}{
		{
			name: "srv records, smallest ttl",
			q:    question{srvName, dns.TypeSRV},
			resp: msg(t, srvName, dns.TypeSRV, dns.RcodeSuccess,
				srvName+" 300 IN SRV 0 5 5269 XMPP.a.example.",
				srvName+" 100 IN SRV 1 0 5270 b.a.example."),
			want: result{ans: answer{srv: []SRV{
				{Target: "xmpp.a.example.", Port: 5269, Priority: 0, Weight: 5},
				{Target: "b.a.example.", Port: 5270, Priority: 1},
			}}, ttl: 100 * time.Second},
		},
		{
			name: "records off the chain ignored",
			q:    question{"xmpp.a.example.", dns.TypeA},
			resp: msg(t, "xmpp.a.example.", dns.TypeA, dns.RcodeSuccess,
				"evil.example. 300 IN A 203.0.113.1",
				"xmpp.a.example. 300 IN AAAA 2001:db8::1",
				"xmpp.a.example. 300 IN A 192.0.2.1"),
			want: result{ans: answer{addrs: []netip.Addr{netip.MustParseAddr("192.0.2.1")}}, ttl: 300 * time.Second},
		},
		{
			name: "cname chain in any order",
			q:    question{"alias.a.example.", dns.TypeAAAA},
			resp: msg(t, "alias.a.example.", dns.TypeAAAA, dns.RcodeSuccess,
				"end.b.example. 300 IN AAAA 2001:db8::2",
				"mid.b.example. 50 IN CNAME end.b.example.",
				"ALIAS.a.example. 300 IN CNAME mid.b.example."),
			want: result{ans: answer{addrs: []netip.Addr{netip.MustParseAddr("2001:db8::2")}}, ttl: 50 * time.Second},
		},
		{
			name: "cname to nothing is no data",
			q:    question{"alias.a.example.", dns.TypeA},
			resp: msg(t, "alias.a.example.", dns.TypeA, dns.RcodeSuccess,
				"alias.a.example. 300 IN CNAME end.b.example.",
				"ns:b.example. 300 IN SOA ns.b.example. h.b.example. 1 2 3 4 30"),
			want: result{neg: ErrNoData, ttl: 30 * time.Second},
		},
		{
			name: "nxdomain with soa",
			q:    question{srvName, dns.TypeSRV},
			resp: msg(t, srvName, dns.TypeSRV, dns.RcodeNameError, soa),
			want: result{neg: ErrNotFound, ttl: 60 * time.Second},
		},
		{
			name: "nxdomain outweighs records",
			q:    question{srvName, dns.TypeSRV},
			resp: msg(t, srvName, dns.TypeSRV, dns.RcodeNameError, srvName+" 300 IN SRV 0 5 5269 x.a.example.", soa),
			want: result{neg: ErrNotFound, ttl: 60 * time.Second},
		},
		{
			name: "soa ttl smaller than its minimum",
			q:    question{srvName, dns.TypeSRV},
			resp: msg(t, srvName, dns.TypeSRV, dns.RcodeNameError, "ns:a.example. 10 IN SOA ns.a.example. h.a.example. 1 2 3 4 60"),
			want: result{neg: ErrNotFound, ttl: 10 * time.Second},
		},
		{
			name: "nxdomain without soa not cached",
			q:    question{srvName, dns.TypeSRV},
			resp: msg(t, srvName, dns.TypeSRV, dns.RcodeNameError),
			want: result{neg: ErrNotFound},
		},
		{
			name: "soa of an unrelated zone ignored",
			q:    question{srvName, dns.TypeSRV},
			resp: msg(t, srvName, dns.TypeSRV, dns.RcodeSuccess, "ns:b.example. 300 IN SOA ns.b.example. h.b.example. 1 2 3 4 30"),
			want: result{neg: ErrNoData},
		},
		{
			name:    "servfail",
			q:       question{srvName, dns.TypeSRV},
			resp:    msg(t, srvName, dns.TypeSRV, dns.RcodeServerFailure),
			wantErr: ErrServerFailure,
		},
		{
			name:    "refused",
			q:       question{srvName, dns.TypeSRV},
			resp:    msg(t, srvName, dns.TypeSRV, dns.RcodeRefused),
			wantErr: ErrServerFailure,
		},
		{
			name:    "question mismatch",
			q:       question{srvName, dns.TypeSRV},
			resp:    msg(t, "other.example.", dns.TypeSRV, dns.RcodeSuccess),
			wantErr: ErrBadResponse,
		},
		{
			name: "cname chain of nine hops",
			q:    question{"c0.a.example.", dns.TypeA},
			resp: msg(t, "c0.a.example.", dns.TypeA, dns.RcodeSuccess,
				"c0.a.example. 60 IN CNAME c1.a.example.", "c1.a.example. 60 IN CNAME c2.a.example.",
				"c2.a.example. 60 IN CNAME c3.a.example.", "c3.a.example. 60 IN CNAME c4.a.example.",
				"c4.a.example. 60 IN CNAME c5.a.example.", "c5.a.example. 60 IN CNAME c6.a.example.",
				"c6.a.example. 60 IN CNAME c7.a.example.", "c7.a.example. 60 IN CNAME c8.a.example.",
				"c8.a.example. 60 IN CNAME c9.a.example.", "c9.a.example. 60 IN A 192.0.2.1"),
			wantErr: ErrBadResponse,
		},
		{
			name: "cname chain of eight hops",
			q:    question{"c1.a.example.", dns.TypeA},
			resp: msg(t, "c1.a.example.", dns.TypeA, dns.RcodeSuccess,
				"c1.a.example. 60 IN CNAME c2.a.example.",
				"c2.a.example. 60 IN CNAME c3.a.example.", "c3.a.example. 60 IN CNAME c4.a.example.",
				"c4.a.example. 60 IN CNAME c5.a.example.", "c5.a.example. 60 IN CNAME c6.a.example.",
				"c6.a.example. 60 IN CNAME c7.a.example.", "c7.a.example. 60 IN CNAME c8.a.example.",
				"c8.a.example. 60 IN CNAME c9.a.example.", "c9.a.example. 30 IN A 192.0.2.1"),
			want: result{ans: answer{addrs: []netip.Addr{netip.MustParseAddr("192.0.2.1")}}, ttl: 30 * time.Second},
		},
	}
	opts := cmp.Options{
		cmp.AllowUnexported(result{}, answer{}),
		cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
		cmp.Comparer(func(a, b error) bool { return a == b }),
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseResponse(tt.q, tt.resp)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("parseResponse() error = %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got, opts); diff != "" {
				t.Errorf("parseResponse() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzParseResponse feeds raw DNS messages to the answer parsing. Properties:
// no panic; an error is ErrServerFailure or ErrBadResponse; a negative
// result is ErrNotFound or ErrNoData with no records and a TTL of at most
// five minutes; a positive result has records of the type asked, within the
// TTL cap, whose SRV records Order accepts.
func FuzzParseResponse(f *testing.F) {
	const srvName = "_xmpp-server._tcp.a.example."
	seeds := []*dns.Msg{
		msg(f, srvName, dns.TypeSRV, dns.RcodeSuccess,
			srvName+" 300 IN SRV 0 5 5269 xmpp.a.example.",
			srvName+" 100 IN SRV 0 0 0 ."),
		msg(f, srvName, dns.TypeSRV, dns.RcodeNameError, "ns:a.example. 3600 IN SOA ns.a.example. h.a.example. 1 2 3 4 60"),
		msg(f, "alias.a.example.", dns.TypeA, dns.RcodeSuccess,
			"alias.a.example. 300 IN CNAME end.b.example.", "end.b.example. 60 IN A 192.0.2.1"),
		msg(f, "alias.a.example.", dns.TypeAAAA, dns.RcodeSuccess,
			"alias.a.example. 300 IN CNAME alias.a.example.", "alias.a.example. 60 IN A 192.0.2.1"),
		msg(f, "x.a.example.", dns.TypeAAAA, dns.RcodeServerFailure),
	}
	for _, m := range seeds {
		b, err := m.Pack()
		if err != nil {
			f.Fatalf("pack seed: %v", err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m := new(dns.Msg)
		if err := m.Unpack(data); err != nil {
			return
		}
		// Ask the question the message answers, when it is one we ask.
		q := question{srvName, dns.TypeSRV}
		if len(m.Question) == 1 {
			switch m.Question[0].Qtype {
			case dns.TypeSRV, dns.TypeA, dns.TypeAAAA:
				q = question{m.Question[0].Name, m.Question[0].Qtype}
			}
		}
		res, err := parseResponse(q, m)
		if err != nil {
			if !errors.Is(err, ErrServerFailure) && !errors.Is(err, ErrBadResponse) {
				t.Fatalf("parseResponse error %v is not a package sentinel", err)
			}
			return
		}
		if res.ttl < 0 || res.ttl > maxTTL {
			t.Fatalf("ttl %v out of range", res.ttl)
		}
		if res.neg != nil {
			if res.neg != ErrNotFound && res.neg != ErrNoData {
				t.Fatalf("negative result %v", res.neg)
			}
			if len(res.ans.srv)+len(res.ans.addrs) > 0 || res.ttl > maxNegativeTTL {
				t.Fatalf("negative result with records or ttl %v: %+v", res.ttl, res)
			}
			return
		}
		switch q.qtype {
		case dns.TypeSRV:
			if len(res.ans.srv) == 0 || len(res.ans.addrs) != 0 {
				t.Fatalf("SRV answer %+v", res.ans)
			}
			targets := Order(res.ans.srv, func(n int) int { return n - 1 })
			if len(targets) > len(res.ans.srv) {
				t.Fatalf("Order made %d targets from %d records", len(targets), len(res.ans.srv))
			}
		case dns.TypeA, dns.TypeAAAA:
			if len(res.ans.addrs) == 0 || len(res.ans.srv) != 0 {
				t.Fatalf("address answer %+v", res.ans)
			}
			for _, a := range res.ans.addrs {
				if a.Is4() != (q.qtype == dns.TypeA) || a.Is4In6() {
					t.Fatalf("%s answer holds %v", dns.TypeToString[q.qtype], a)
				}
			}
		}
	})
}
