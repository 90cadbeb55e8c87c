// Package backoff slows down password guessing: it remembers recent failed
// logins per account and per address and tells the caller how long to hold
// the next attempt back. It delays; it never refuses. A stranger who
// guesses a family member's password can make that member's logins wait
// at most [Options.Max], never lock them out.
//
// # Policy
//
// A [Table] keeps, for each address (an IPv4 address or an IPv6 /64, as
// the caller keys it) and for each account, the number of failed logins
// and the time of the last one. Failures older than [Options.Window]
// since the last one are forgotten. The first [Free] failures cost
// nothing, for typing mistakes; after that, an attempt waits until
// [Base]·2^(n-Free-1) after the last failure, at most Options.Max: the
// delay grows exponentially with guessing and is counted from the last
// failure, so that someone who comes back a little later does not wait
// at all.
//
// An attempt waits for the larger of its address's delay and its
// account's. The account's delay is skipped for an address the account
// logged in from successfully within [KnownFor]: the family's own
// devices at home are not slowed down by someone guessing elsewhere,
// while a guesser spread over many addresses still meets the account's
// delay from each of them. A login from a new address during such an
// attack waits at most Options.Max.
//
// Attempts in flight at the same time wait for the same moment: this
// bounds sequential guessing; the caller bounds parallel guessing (per
// connection failures, connections per address).
//
// # Memory
//
// The table holds at most [Options.MaxEntries] keys. Expired keys are
// swept when it is full; if that is not enough, the least recently active
// ones are dropped, which forgets some failures but never delays anyone
// wrongly.
//
// # Concurrency
//
// A Table is safe for concurrent use; one mutex guards it, held for a map
// lookup or two. The clock is [Options.Now], so tests need no sleeps.
package backoff
