// Package loadtool loads XMPP servers and measures them, for roost's
// side-by-side benchmarks against Prosody, ejabberd and a TLS relay (the
// floor). cmd/roostbench is its command line; `make bench-peers` runs
// [RunSuite].
//
// # Loads
//
// The tool speaks c2s itself ([Dialer], [Session], built on
// internal/client): STARTTLS (RFC 6120 §5) or direct TLS (XEP-0368), SASL
// SCRAM-SHA-1, SCRAM-SHA-256 or PLAIN (RFC 5802, RFC 4616), resource
// binding (§7), initial presence (RFC 6121 §4.2) and in-band registration
// (XEP-0077) to create accounts. Its SCRAM client (package sasl's) caches
// the keys derived from each password and salt in a [sasl.KeyCache] (RFC
// 5802 §5.1), so that thousands of client-side PBKDF2 rounds per login do
// not compete with the server for the same cores. Sessions answer the
// server's pings (XEP-0199) and close their streams politely (§4.4).
//
//   - [Conns]: N idle, authenticated, available sessions opened at a
//     bounded rate; the server's resident memory before and after gives
//     the memory per session.
//   - [Msgs]: P pairs of sessions send each other chat messages to the
//     bare JID, with at most W in flight per direction, either as fast as
//     the server answers or at a fixed offered rate; it reports delivered
//     messages per second, latency percentiles and messages per server
//     CPU-second. With different servers for the two sides of each pair it
//     measures federation; against a [Relay] it measures the floor.
//   - [Logins]: C workers log in back to back (TCP, TLS, SASL, bind, stream
//     close): logins per second and per server CPU-second. With
//     [LoginOptions] the logins are SASL2 with Bind 2 (XEP-0388, XEP-0386),
//     or FAST reconnections with a token the [Dialer] got at each account's
//     first login (XEP-0484).
//   - [MAM]: one account's archive (XEP-0313) is filled with 100,000 chat
//     messages sent to it, unmeasured but timed, and one session of the
//     account then pages backwards through it, 50 messages a query (RSM
//     before, XEP-0059), as a phone does when its user scrolls back:
//     latency per page and pages per server CPU-second. Every page but
//     the oldest must be full. A server that cannot archive the messages
//     within a bound is reported with the rate it reached.
//
// A message carries a marker in its body (run, pair, direction, sequence,
// send time), which the receiver finds in the parsed body or, for the
// relay, by scanning raw bytes; latencies are measured from the time a
// message was sent, or was due at a fixed rate, to the time its receiver
// read it. Histograms have bounded memory and about 1.6 % resolution.
//
// # Measuring any server
//
// Server figures come from /proc ([Proc]): CPU time is utime+stime of
// /proc/<pid>/stat, memory is VmRSS of /proc/<pid>/status, and the process
// is found from the socket listening on the client port, so Lua, Erlang
// and Go servers are measured alike. The tool runs on the same machine,
// usually on the same cores; its own cost per message is a parse of the
// received stanza and a TLS record each way.
//
// # The suite
//
// [RunSuite] issues every server a certificate of the same kind from a
// throwaway CA (ECDSA P-256; RSA-2048 for a second login load, after a
// restart), renders the configuration templates of bench/peers, and
// then, one server at a time on its own loopback address (127.0.73.x):
// starts it, creates the same accounts, restarts it to measure start-up
// and memory with its accounts in place, runs the same loads, and stops
// it. A DNS server on loopback answers for the bench domains, so that
// federation never leaves the machine. Processes run in their own process
// group with a parent-death signal, and are stopped on every path out.
// [Report.Table] and [Report.Markdown] print the side-by-side table, with
// roost's ratio to the best peer, its share of the floor and the targets of
// issue 7.
//
// # Bounds and concurrency
//
// Every loop is bounded in time (a measured window, drain and close
// deadlines, per-login timeouts) and in count (MaxMessages, MaxLogins,
// N sessions). Each session has one reader goroutine; senders, login
// workers and receivers are owned and waited for by the load that started
// them. Loads are meant for loopback only.
package loadtool
