package metrics

import (
	"math"
	"net/http"
	"strconv"
	"sync/atomic"
)

// ContentType is the media type of what [Append] writes (the Prometheus
// text format, version 0.0.4).
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Counters are the server's event counts since it started. The zero value
// is ready; its fields are only ever added to.
type Counters struct {
	// StanzasRouted counts the stanzas the router was given to deliver:
	// from clients, peer servers, components and the server itself.
	StanzasRouted atomic.Uint64
	// LoginsOK counts successful client authentications (SASL or SASL2,
	// FAST tokens included).
	LoginsOK atomic.Uint64
	// LoginsBadCredentials counts failed authentications with the
	// not-authorized condition (RFC 6120 §6.5.10): a wrong password or an
	// unknown account.
	LoginsBadCredentials atomic.Uint64
	// LoginsFailedOther counts the other failed authentications that
	// count against the client's tries: malformed or aborted exchanges,
	// unsupported mechanisms.
	LoginsFailedOther atomic.Uint64
	// LoginsDelayed counts client authentications held back because of
	// earlier failures from their address or for their account (c2s
	// Options.Backoff).
	LoginsDelayed atomic.Uint64
	// C2SQueueFull counts client sessions closed because their client did
	// not read what was sent to it fast enough (the session's queue, in
	// stanzas or bytes, was full).
	C2SQueueFull atomic.Uint64
	// S2SQueueFull counts stanzas refused for a peer server because too
	// many were waiting for it (resource-constraint back to the sender).
	S2SQueueFull atomic.Uint64
	// C2SEvicted counts client connections that had not logged in,
	// closed to make room for a new one from the same address (c2s: a
	// crowd from one address must not lock a family out).
	C2SEvicted atomic.Uint64
	// DialbackRefused counts dialback requests (XEP-0220) refused because
	// too many from the same peer stream were being checked already.
	DialbackRefused atomic.Uint64
}

// Type is a metric family's type.
type Type string

// The types the server uses.
const (
	Counter Type = "counter"
	Gauge   Type = "gauge"
)

// Family is a metric family: samples of one metric with different labels.
type Family struct {
	// Name is the metric's name, [a-zA-Z_:][a-zA-Z0-9_:]*; a counter's
	// ends in _total. The caller's constant: it is not checked.
	Name    string
	Help    string
	Type    Type
	Samples []Sample
}

// Sample is one value of a family.
type Sample struct {
	// Labels are name-value pairs; names are the caller's constants,
	// values may be any UTF-8 text (they are escaped).
	Labels []Label
	Value  float64
}

// Label is a label name and value.
type Label struct{ Name, Value string }

// Append appends fams to dst in the text format and returns the result.
// A family without samples is left out: the format has no use for it.
func Append(dst []byte, fams []Family) []byte {
	for _, f := range fams {
		if len(f.Samples) == 0 {
			continue
		}
		dst = append(dst, "# HELP "...)
		dst = append(dst, f.Name...)
		dst = append(dst, ' ')
		dst = appendEscaped(dst, f.Help, false)
		dst = append(dst, "\n# TYPE "...)
		dst = append(dst, f.Name...)
		dst = append(dst, ' ')
		dst = append(dst, f.Type...)
		dst = append(dst, '\n')
		for _, s := range f.Samples {
			dst = append(dst, f.Name...)
			if len(s.Labels) > 0 {
				dst = append(dst, '{')
				for i, l := range s.Labels {
					if i > 0 {
						dst = append(dst, ',')
					}
					dst = append(dst, l.Name...)
					dst = append(dst, `="`...)
					dst = appendEscaped(dst, l.Value, true)
					dst = append(dst, '"')
				}
				dst = append(dst, '}')
			}
			dst = append(dst, ' ')
			dst = appendValue(dst, s.Value)
			dst = append(dst, '\n')
		}
	}
	return dst
}

// appendEscaped escapes backslash and newline (help text), and double
// quote too in a label value, as the text format requires.
func appendEscaped(dst []byte, s string, quote bool) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			dst = append(dst, `\\`...)
		case c == '\n':
			dst = append(dst, `\n`...)
		case c == '"' && quote:
			dst = append(dst, `\"`...)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// appendValue writes v as Go's shortest float, with the format's spelling
// of the special values.
func appendValue(dst []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(dst, "NaN"...)
	case math.IsInf(v, 1):
		return append(dst, "+Inf"...)
	case math.IsInf(v, -1):
		return append(dst, "-Inf"...)
	}
	return strconv.AppendFloat(dst, v, 'g', -1, 64)
}

// Handler serves the families collect returns, read at each request.
func Handler(collect func() []Family) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ContentType)
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(Append(nil, collect()))
	})
}

// Families returns the counters as metric families.
func (c *Counters) Families() []Family {
	n := func(v *atomic.Uint64) float64 { return float64(v.Load()) }
	return []Family{
		{Name: "roost_stanzas_routed_total", Help: "Stanzas given to the router to deliver.", Type: Counter,
			Samples: []Sample{{Value: n(&c.StanzasRouted)}}},
		{Name: "roost_logins_total", Help: "Client authentications by result: ok, bad_credentials (wrong password or unknown account), failed (other failures).", Type: Counter,
			Samples: []Sample{
				{Labels: []Label{{"result", "ok"}}, Value: n(&c.LoginsOK)},
				{Labels: []Label{{"result", "bad_credentials"}}, Value: n(&c.LoginsBadCredentials)},
				{Labels: []Label{{"result", "failed"}}, Value: n(&c.LoginsFailedOther)},
			}},
		{Name: "roost_logins_delayed_total", Help: "Client authentications held back after failed ones from the same address or for the same account (password guessing).", Type: Counter,
			Samples: []Sample{{Value: n(&c.LoginsDelayed)}}},
		{Name: "roost_drops_total", Help: "Sessions closed or requests refused because a limit was reached, by reason: a queue was full, an address had too many connections that had not logged in, a peer server had too many dialback requests waiting.", Type: Counter,
			Samples: []Sample{
				{Labels: []Label{{"reason", "c2s_queue_full"}}, Value: n(&c.C2SQueueFull)},
				{Labels: []Label{{"reason", "s2s_queue_full"}}, Value: n(&c.S2SQueueFull)},
				{Labels: []Label{{"reason", "c2s_crowd_evicted"}}, Value: n(&c.C2SEvicted)},
				{Labels: []Label{{"reason", "dialback_refused"}}, Value: n(&c.DialbackRefused)},
			}},
	}
}
