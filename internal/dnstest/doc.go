// Package dnstest runs a small DNS server on a loopback address for tests,
// in the spirit of net/http/httptest and coredns' plugin/pkg/dnstest.
//
// A [Server] answers from records that the test adds with [Server.AddSRV],
// [Server.AddA], [Server.AddAAAA] and [Server.AddCNAME]. It behaves like a
// recursive resolver that is authoritative for everything it knows:
//
//   - a name with records of the queried type gets them (NOERROR);
//   - a CNAME is chased inside the server, as a recursive resolver would, and
//     the whole chain is returned in the answer section (RFC 1034 §4.3.2);
//   - a known name without records of the queried type gets NOERROR with an
//     empty answer ("no data", RFC 2308 §2.2) and an SOA in the authority
//     section;
//   - an unknown name gets NXDOMAIN (RFC 2308 §2.1), also with an SOA, so
//     that clients can cache the negative answer for the SOA minimum
//     (see [Server.SetNegativeTTL]);
//   - [Server.SetRcode] overrides all of the above for one name and type,
//     to inject SERVFAIL, REFUSED and so on.
//
// Over UDP an answer larger than the client's advertised EDNS0 buffer (or
// 512 bytes without EDNS0) is truncated with the TC bit set (RFC 1035 §4.2.1,
// RFC 6891 §6.2.5), so adding many A records to one name exercises a client's
// retry over TCP. [Server.Queries] counts every query received, over both
// transports, so tests can assert that a client cached an answer.
//
// # Concurrency
//
// All methods are safe for concurrent use; records may be added while the
// server is answering. The server listens on UDP and TCP on the same port and
// is shut down by t.Cleanup (or earlier by [Server.Close]); its goroutines are
// waited for before Close returns.
//
// The package is only for tests: it is imported from _test.go files and
// calls t.Fatal on misuse.
package dnstest
