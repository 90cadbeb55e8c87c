package server

import (
	"net/http"
	"os"
	"path/filepath"

	"roost/metrics"
)

// metricsHandler serves /metrics, or is nil when [metrics] is off.
func (s *Server) metricsHandler() http.Handler {
	if !s.cfg.Metrics.Enabled {
		return nil
	}
	return metrics.Handler(s.collectMetrics)
}

// collectMetrics reads the gauges, each cheap (counts the router and s2s
// keep, one stat of the store file, the archives' kept totals, the
// certificates' dates), and the counters.
func (s *Server) collectMetrics() []metrics.Family {
	gauge := func(name, help string, samples ...metrics.Sample) metrics.Family {
		return metrics.Family{Name: name, Help: help, Type: metrics.Gauge, Samples: samples}
	}
	kind := func(k string, v int) metrics.Sample {
		return metrics.Sample{Labels: []metrics.Label{{Name: "kind", Value: k}}, Value: float64(v)}
	}
	var in, out int
	if s.s2s != nil {
		in, out = s.s2s.Stats()
	}
	fams := []metrics.Family{
		gauge("roost_start_time_seconds", "When the server started, in seconds since the Unix epoch.",
			metrics.Sample{Value: float64(s.started.Unix())}),
		gauge("roost_sessions", "Current sessions: c2s (bound client resources), s2s_in and s2s_out (streams with other servers).",
			kind("c2s", s.router.SessionCount()), kind("s2s_in", in), kind("s2s_out", out)),
	}
	if n, ok := s.storeBytes(); ok {
		fams = append(fams, gauge("roost_store_bytes", "Size of the database file.", metrics.Sample{Value: float64(n)}))
	}
	if n, size, err := s.store.ArchiveTotals(); err != nil {
		s.log.Warn("metrics: archive totals", "err", err)
	} else {
		fams = append(fams,
			gauge("roost_archive_messages", "Messages in the chat histories (XEP-0313) of accounts and rooms.", metrics.Sample{Value: float64(n)}),
			gauge("roost_archive_bytes", "Size of the archived messages.", metrics.Sample{Value: float64(size)}))
	}
	expiry := gauge("roost_certificate_expiry_seconds", "When the certificate served for a name expires, in seconds since the Unix epoch.")
	for _, c := range s.certs.Status() {
		if !c.NotAfter.IsZero() {
			expiry.Samples = append(expiry.Samples, metrics.Sample{Labels: []metrics.Label{{Name: "name", Value: c.Name}}, Value: float64(c.NotAfter.Unix())})
		}
	}
	fams = append(fams, expiry)
	return append(fams, s.metrics.Families()...)
}

// storeBytes is the size of the store's file.
func (s *Server) storeBytes() (int64, bool) {
	fi, err := os.Stat(filepath.Join(s.cfg.DataDir, StoreFile))
	if err != nil {
		return 0, false
	}
	return fi.Size(), true
}
