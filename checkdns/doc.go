// Package checkdns explains, in plain words, whether an XMPP domain can be
// reached: it backs `roost check dns`. For a domain it reports
//   - the SRV records for clients and for other servers (RFC 6120 §3.2,
//     XEP-0368), "." targets included, or the fallback to the domain
//     itself when there are none;
//   - the A and AAAA records of every target, flagging private addresses
//     that the internet cannot reach;
//   - whether each target's port accepts a TCP connection, with a hint
//     about port forwarding and NAT loopback when it does not;
//   - the certificate served there, fetched with STARTTLS (an XMPP stream
//     opened for the domain) or direct TLS: whether it is trusted, is for
//     the domain, covers the service subdomains and is about to expire;
//   - whether the service subdomains (conference., upload.) resolve.
//
// Lookups go through package srv with one configured resolver, so the
// report shows what roost itself and most peers would do. A [Checker]
// never fails: every error becomes a [Finding] in the [Report]. Each
// network operation is bounded by [Options.Timeout]. A Checker holds no
// state between checks and is safe for concurrent use.
package checkdns
