// Package metrics counts what the server does and writes the counts in the
// Prometheus text exposition format (version 0.0.4, the format every
// Prometheus-compatible scraper reads), for the /metrics page.
//
// # Counting
//
// [Counters] is a struct of atomic counters that the server makes once
// and hands to the packages that count (router, c2s, s2s) through their
// Options: no global registry, no init. Counting an event is one atomic
// add on a field, with no allocation and no lock, so that the routing
// path stays as cheap as before (router's zero-allocation test covers
// it). Counters only grow, from the server's start.
//
// # Writing
//
// [Append] writes [Family] values: a # HELP and # TYPE line, then one
// line per sample, with label values and help text escaped as the format
// requires (backslash, double quote in label values, newline). Gauges
// that are cheap to read at scrape time (sessions, store size,
// certificate expiry) are not kept here: the server reads them when the
// page is asked for and passes them to Append with the counters.
//
// The format is written by hand rather than with the Prometheus client
// library: a dozen metrics do not need its registry, reflection and
// dependencies in the binary of a Raspberry Pi. Tests read the output
// back with the Prometheus parser (github.com/prometheus/common/expfmt).
//
// # Concurrency
//
// Counters may be incremented and read from any goroutine. Append is a
// pure function.
package metrics
