// Package s2s federates roost with other XMPP servers: server-to-server
// streams (RFC 6120) authenticated by SASL EXTERNAL (XEP-0178) or Server
// Dialback (XEP-0220, package dialback), over STARTTLS on port 5269 or
// direct TLS on 5270 (XEP-0368).
//
// It never imports router, store or server: it declares the [Router] it
// delivers inbound stanzas to and the [Resolver] it discovers peers with,
// takes its certificates as a *tls.Config, and implements router.Remote
// ([Server.SendRemote]).
//
// # Outbound
//
// Stanzas for another domain go to the route of their domain pair (our
// domain, theirs). A route waits, with a queue bounded in stanzas and in
// bytes ([Options.QueueDepth], [Options.QueueBytes]; an established
// stream's queue is bounded too, and a stanza that does not fit bounces
// with resource-constraint), while its stream is set up:
//   - discovery: _xmpps-server and _xmpp-server SRV records, merged by
//     priority and weight, or the domain itself on 5269 (package srv);
//     each target is tried in turn, DNS and TCP together bounded by
//     [Options.ConnectTimeout]; addresses that are not on the public
//     internet (loopback, private, link-local; see publicAddr) are
//     skipped unless [Options.AllowPrivateAddresses];
//   - TLS, always: STARTTLS, or a handshake with ALPN "xmpp-server" for
//     direct TLS targets. The peer's certificate is checked against
//     [Options.RootCAs] for the remote domain (RFC 6125 DNS-ID); with
//     [Options.RequireValidCertificates] a peer that fails the check is
//     dropped, otherwise we carry on with dialback;
//   - authentication: SASL EXTERNAL when the peer offers it, which it does
//     when it accepts our certificate; otherwise, or when EXTERNAL fails,
//     a dialback key.
//
// Once the pair is authorized the queue goes out in order and later
// stanzas follow directly. Another of our domains (a service such as
// conference.example.org) sending to the same remote domain is added to an
// authenticated stream by dialback (XEP-0220 §2.5, sender multiplexing)
// when the peer announced dialback error handling, instead of opening a
// second stream. Every failure bounces the waiting stanzas to their
// senders through the Router: remote-server-not-found when the domain
// cannot be resolved or its certificate is refused, remote-server-timeout
// when it was resolved but no stream came of it (refused, silent, not
// XMPP, or too slow: one condition and one text for all, so that the
// answer does not tell open ports from closed ones) or when it refuses us,
// internal-server-error for a dialback key it calls invalid (XEP-0220
// §2.1.1). A stream that carried no stanza for [Options.IdleTimeout]
// closes; its routes are removed first, under the lock SendRemote takes,
// so that no stanza is queued on a closing stream.
//
// # Inbound
//
// An inbound stream must start TLS before anything else (only a
// <db:verify/> is answered in the clear: some servers open a connection
// just for that). Whitespace sent with <starttls/>, or with <proceed/> on
// an outbound stream, is dropped (RFC 6120 §11.7); any other byte before
// the handshake ends the stream with policy-violation (§5.4.3.3).
// Inbound streams count against [Options.MaxConnsPerIP] per address (an
// IPv6 /64 counting as one), and every stream is read at most at
// [Options.ReadRate], as client streams are. The peer's certificate, if any, is checked accepting
// serverAuth as well as clientAuth, since public CAs no longer issue
// clientAuth. SASL EXTERNAL is offered when it is valid for the domain the
// stream claims to come from. A <db:result/> is checked with the
// Authoritative Server over our outbound stream to that domain, on its own
// goroutine, or accepted at once when the certificate already covers the
// domain (XEP-0344 §2.4); an invalid key ends the stream with
// not-authorized. At most [Options.MaxPendingDialback] checks wait at once
// per stream (one more is a resource-constraint dialback error), and
// streams opened for checks take at most half of [Options.MaxOutbound];
// a check still under way at the negotiation deadline of a stream that
// authenticated nothing ends with the stream. We answer <db:verify/> for our own domains by recomputing
// the key.
//
// Every stanza must name a hosted domain in its to (else host-unknown) and
// come from a domain authenticated on this stream (else invalid-from, or
// not-authorized if nothing is authenticated yet); both
// addresses must be present and valid (else improper-addressing). Only
// then is it routed. Negotiation, from accept to the first authorized
// pair, is bounded by [Options.NegotiationTimeout], so a peer that stalls
// is dropped; afterwards a stream silent for [Options.IdleTimeout] is
// closed.
//
// # Concurrency
//
// Each stream has its own goroutine, which negotiates and then reads, and
// a writer goroutine that drains the stream's queue in batches with write
// deadlines and sends whitespace keepalives. Dialback checks run on
// goroutines of their own, so that two servers checking each other's keys
// over each other's streams cannot deadlock. The route table is guarded by
// the server's mutex, which may be held while taking a stream's locks but
// never the other way round. A panic is recovered per stream and closes
// only that stream.
package s2s
