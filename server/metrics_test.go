package server

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"roost/config"
	"roost/internal/client"
	"roost/metrics"
	"roost/xmlstream"
)

// TestMetricsAfterTraffic reads /metrics on the HTTPS port with the
// Prometheus parser after real logins and stanzas.
func TestMetricsAfterTraffic(t *testing.T) {
	r := start(t, t.TempDir())
	ctx := context.Background()
	for _, u := range []string{"alice", "bob"} {
		if err := r.srv.accounts.AddUser(ctx, u, u+"-secret"); err != nil {
			t.Fatal(err)
		}
	}
	alice, err := r.login(t, "alice@example.org/laptop", "alice-secret")
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	for range 3 {
		if _, err := r.login(t, "bob@example.org/phone", "wrong"); !errors.Is(err, client.ErrAuth) {
			t.Fatalf("wrong password: %v, want refused", err)
		}
	}
	// Three failures from this address: the next login waits a second
	// (limits.login_delay_max, on by default), then succeeds.
	bob, err := r.login(t, "bob@example.org/phone", "bob-secret")
	if err != nil {
		t.Fatalf("bob after the delay: %v", err)
	}
	defer bob.Close()
	// A ping answered proves the router had it.
	if err := alice.Send(xmlstream.New(xmlstream.NSClient, "iq").SetAttr("type", "get").SetAttr("id", "p1").SetAttr("to", "example.org").
		Append(xmlstream.New("urn:xmpp:ping", "ping"))); err != nil {
		t.Fatal(err)
	}
	_ = alice.SetDeadline(time.Now().Add(5 * time.Second))
	if pong := recvKind(t, alice, "iq"); pong.Get("type") != "result" {
		t.Fatalf("ping answer %v", pong)
	}

	resp, err := (&http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // our own self-signed test certificate
	}}).Get("https://" + r.addr(ListenHTTPS) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != metrics.ContentType {
		t.Fatalf("GET /metrics: %s, Content-Type %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	value := func(name, label, lv string) float64 {
		t.Helper()
		f := fams[name]
		if f == nil {
			t.Fatalf("no %s in %v", name, fams)
		}
		for _, m := range f.GetMetric() {
			if label == "" || (len(m.GetLabel()) == 1 && m.GetLabel()[0].GetName() == label && m.GetLabel()[0].GetValue() == lv) {
				if f.GetType() == dto.MetricType_COUNTER {
					return m.GetCounter().GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
		t.Fatalf("no %s{%s=%q} in %v", name, label, lv, f)
		return 0
	}
	leaf, ok := r.srv.certs.Leaf("example.org")
	if !ok {
		t.Fatal("no certificate for example.org")
	}
	got := map[string]float64{
		"logins ok":              value("roost_logins_total", "result", "ok"),
		"logins bad_credentials": value("roost_logins_total", "result", "bad_credentials"),
		"logins failed":          value("roost_logins_total", "result", "failed"),
		"logins delayed":         value("roost_logins_delayed_total", "", ""),
		"c2s sessions":           value("roost_sessions", "kind", "c2s"),
		"s2s_out sessions":       value("roost_sessions", "kind", "s2s_out"),
		"c2s queue full":         value("roost_drops_total", "reason", "c2s_queue_full"),
		"expiry example.org":     value("roost_certificate_expiry_seconds", "name", "example.org"),
		"start":                  value("roost_start_time_seconds", "", ""),
		"archived":               value("roost_archive_messages", "", ""),
	}
	want := map[string]float64{
		"logins ok": 2, "logins bad_credentials": 3, "logins failed": 0, "logins delayed": 1,
		"c2s sessions": 2, "s2s_out sessions": 0, "c2s queue full": 0,
		"expiry example.org": float64(leaf.NotAfter.Unix()),
		"start":              float64(r.srv.started.Unix()),
		"archived":           0, // a ping is not archived
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
	if n := value("roost_stanzas_routed_total", "", ""); n < 1 {
		t.Errorf("stanzas routed = %v, want at least the ping", n)
	}
	if n := value("roost_store_bytes", "", ""); n < 4096 {
		t.Errorf("store bytes = %v, want a bbolt file's size", n)
	}
}

// TestMetricsSwitch: [metrics] enabled = false leaves /metrics unserved.
func TestMetricsSwitch(t *testing.T) {
	for _, enabled := range []bool{true, false} {
		cfg := config.Default()
		cfg.Metrics.Enabled = enabled
		s := &Server{cfg: cfg}
		if got := s.metricsHandler() != nil; got != enabled {
			t.Errorf("enabled = %v: handler %v, want %v", enabled, got, enabled)
		}
	}
}

// TestConsoleSharesLoginBackoff: wrong chat passwords from an address make
// the web console hold back that address's next password check too: a
// guesser meets one count on both doors.
func TestConsoleSharesLoginBackoff(t *testing.T) {
	r := start(t, t.TempDir())
	ctx := context.Background()
	if err := r.srv.accounts.AddUser(ctx, "mum", "mum-secret"); err != nil {
		t.Fatal(err)
	}
	web := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // our own self-signed test certificate
	}}
	consoleLogin := func() (int, time.Duration) {
		t.Helper()
		start := time.Now()
		resp, err := web.PostForm("https://"+r.addr(ListenHTTPS)+"/admin/login", url.Values{"username": {"mum"}, "password": {"wrong"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, time.Since(start)
	}
	if code, took := consoleLogin(); code != http.StatusUnauthorized || took > 900*time.Millisecond {
		t.Fatalf("first console attempt: status %d after %v, want 401 at once", code, took)
	}
	for range 2 {
		if _, err := r.login(t, "mum@example.org/phone", "wrong"); !errors.Is(err, client.ErrAuth) {
			t.Fatalf("wrong password: %v, want refused", err)
		}
	}
	// Three failures from this address, one of them on the console: the
	// next check waits a second (limits.login_delay_max, on by default).
	if code, took := consoleLogin(); code != http.StatusUnauthorized || took < 900*time.Millisecond {
		t.Fatalf("console attempt after three failures: status %d after %v, want 401 after about 1s", code, took)
	}
}
