// Package srv discovers where to connect to an XMPP domain, using DNS SRV
// records (RFC 6120 §3.2, RFC 2782, XEP-0368) looked up with
// github.com/miekg/dns through one configured resolver.
//
// # Discovery
//
// [Resolver.LookupServer] queries _xmpps-server._tcp (direct TLS, XEP-0368)
// and _xmpp-server._tcp (STARTTLS, RFC 6120 §3.2.1) for the domain in
// parallel, merges both record sets and orders them with [Order] as if they
// were one set: by priority, then by weighted random selection within a
// priority (RFC 2782, "Usage rules"; XEP-0368 §3 rule 1). Each [Target] says
// whether it expects direct TLS. [Resolver.LookupClient] does the same for
// _xmpps-client and _xmpp-client; it backs `roost check dns`.
//
// The outcomes, in order of precedence:
//
//   - At least one usable record: the ordered targets. A lookup that failed
//     while the other produced records is ignored, because connecting to a
//     published target beats failing.
//   - No usable record and a lookup failed (SERVFAIL, timeout, ...): that
//     error. Without an answer we cannot know whether to fall back.
//   - A service answered with a single record whose target is "." and the
//     other has nothing usable: [ErrNoService]. RFC 2782 says such a record
//     means the service "is decidedly not available at this domain"; RFC 6120
//     §3.2.1 step 3 makes the initiator abort, and XEP-0368 §5 forbids the
//     A/AAAA fallback when _xmpps-* says ".". A "." for one service does not
//     hide the other service's records (XEP-0368 §5: "Direct TLS is not
//     supported ... look up _xmpp-client (or _xmpp-server) records").
//   - Neither name has SRV records (NXDOMAIN or no data): the RFC 6120 §3.2.2
//     fallback, the domain itself on port 5269 (5222 for clients) without
//     direct TLS.
//
// A domain that is an IP literal or "localhost" (RFC 6761 §6.3) gets the
// fallback target without any query. Internationalised domains are queried
// by their A-labels (RFC 5891 §5, the idna.Lookup profile); [Target.Host] is
// always ASCII, without the trailing dot.
//
// [Resolver.LookupHost] resolves a target's A and AAAA records in parallel
// through the same resolver and interleaves the families, IPv6 first
// (RFC 8305 §4), so that a Happy Eyeballs dialer can use the list as is.
//
// # Transport
//
// Every query goes only to [Options.Server]: over UDP with EDNS0 and a
// 1232-byte buffer (the DNS flag day 2020 value), and again over TCP when the
// answer comes back truncated (RFC 7766 §5). Each query, both transports
// together, is bounded by [Options.Timeout] and by the caller's context;
// cancellation interrupts a blocked read. An answer is accepted only if its
// ID, its question and the flag saying it is a response match the query; over
// UDP non-matching datagrams are dropped and the wait continues, which,
// with crypto-random IDs and kernel-random ports, is the usual defence
// against spoofed answers.
//
// CNAMEs in the answer section are followed within that answer, at most
// eight hops, and only records on the chain from the queried name are used;
// anything else in the answer is ignored. The resolver is expected to be
// recursive, so it has already chased the chain. NXDOMAIN ([ErrNotFound]) is
// kept apart from "the name exists but has no such records" ([ErrNoData]) and
// from server failures ([ErrServerFailure]); transport errors and context
// errors are returned wrapped, so errors.Is(err, context.DeadlineExceeded)
// works.
//
// # Cache
//
// Answers are cached per (name, type) in a bounded least-recently-used cache
// ([Options.CacheSize] entries) for their TTL: the smallest TTL on the CNAME
// chain and the RRset, at most one day; a TTL above 2^31-1 counts as zero
// (RFC 2181 §8). NXDOMAIN and no-data answers are cached for the smaller of
// the SOA's TTL and minimum field, at most five minutes (RFC 2308 §5), and
// not at all without an SOA. Server failures and transport errors are not
// cached. Time comes from [Options.Now].
//
// # Concurrency
//
// A [Resolver] is safe for concurrent use; the cache is guarded by a mutex.
// A lookup that needs two queries runs one of them on a goroutine it waits
// for before returning, so no goroutine outlives a call. Concurrent lookups
// of the same uncached name are not merged: s2s dials each remote domain
// once, so the saving would not pay for the complexity.
package srv
