//go:build interop

package interop

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"roost/admin"
	"roost/internal/acmetest"
	"roost/internal/client"
	"roost/internal/dnstest"
	"roost/internal/xmpptest"
	"roost/jid"
)

// The ACME tests run the roost binary with tls.source = "acme" against
// Pebble (internal/acmetest). Pebble's validation authority resolves the
// test names with a dnstest server that points them at roost's loopback
// address, and connects to the standard ports there: 443 for tls-alpn-01,
// 80 for http-01 (the tests run as root in CI). Clients then verify the
// chain against Pebble's root.

const acmeDomain = "d.example"

// acmeNames are the names roost needs certificates for: the domain and the
// default service subdomains.
var acmeNames = []string{acmeDomain, "conference." + acmeDomain, "upload." + acmeDomain}

// closedPort is a port nothing listens on at the test addresses, for the
// challenge a test does not use, so that it cannot pass by accident.
const closedPort = 9

type acmeSetup struct {
	ip       string
	tlsALPN  bool // tls-alpn-01 on 443
	http01   bool // http-01 on 80
	validity time.Duration
}

type acmeEnv struct {
	pebble    *acmetest.Server
	roost     *Roost
	rootsFile string // Pebble's roots, PEM, for slixmpp
}

// startACME starts DNS, Pebble and roost for s, and waits until roost
// serves ACME certificates for every name.
func startACME(t *testing.T, s acmeSetup) *acmeEnv {
	t.Helper()
	dns := dnstest.NewServer(t, "127.0.0.1:0")
	for _, n := range acmeNames {
		dns.AddA(n, 60, s.ip)
	}
	po := acmetest.Options{DNSServer: dns.Addr, TLSPort: closedPort, HTTPPort: closedPort, Validity: s.validity}
	if s.tlsALPN {
		po.TLSPort = 443
	}
	if s.http01 {
		po.HTTPPort = 80
	}
	env := &acmeEnv{pebble: acmetest.Start(t, po)}
	env.rootsFile = filepath.Join(t.TempDir(), "pebble-roots.pem")
	if err := os.WriteFile(env.rootsFile, env.pebble.RootsPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	env.roost = startRoost(t, s.ip, acmeDomain, xmpptest.NewCA(t), func(rc *roostConfig) {
		rc.TLS = fmt.Sprintf("source = \"acme\"\n[tls.acme]\ndirectory = %q\nca_file = %q\nhttp_challenge = %v\ntls_alpn_challenge = %v\n",
			env.pebble.DirectoryURL, env.pebble.CAFile, s.http01, s.tlsALPN)
		rc.HTTPS = fmt.Sprintf("listen = [\"%s:443\"]\nhttp_listen = [\"%s:80\"]\n", s.ip, s.ip)
	})
	waitCerts(t, env.roost, "ACME certificates for every name", func(list []admin.CertStatus) bool {
		for _, c := range list {
			if c.Source != "acme" || c.Fallback {
				return false
			}
		}
		return len(list) == len(acmeNames)
	})
	return env
}

// certStatus runs `roost cert status -json`.
func certStatus(t *testing.T, r *Roost) []admin.CertStatus {
	t.Helper()
	out, err := exec.Command(roostBin, "cert", "status", "-json", "-config", r.Config).Output()
	if err != nil {
		t.Fatalf("roost cert status: %v\n%s", err, out)
	}
	var list []admin.CertStatus
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatalf("decode cert status %q: %v", out, err)
	}
	return list
}

// waitCerts polls `roost cert status` until cond holds (generously: two
// shared cores, Pebble and roost busy).
func waitCerts(t *testing.T, r *Roost, what string, cond func([]admin.CertStatus) bool) []admin.CertStatus {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		list := certStatus(t, r)
		if cond(list) {
			return list
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: cert status is\n%+v\nroost log:\n%s", what, list, tail(r.Log(), 60))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// dialTLS opens TLS to addr and returns the connection, whose chain was
// verified against roots for name at verifyAt (now when zero). An empty
// sni sends no server_name extension, as many XMPP peers do.
func dialTLS(t *testing.T, addr, sni, name string, alpn []string, roots *x509.CertPool, verifyAt time.Time) (*tls.Conn, error) {
	t.Helper()
	cfg := &tls.Config{
		ServerName: sni,
		NextProtos: alpn,
		MinVersion: tls.VersionTLS12,
		// Verified below, so that a missing SNI and a chosen time work.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return fmt.Errorf("no certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
				DNSName: name, Roots: roots, Intermediates: inter, CurrentTime: verifyAt,
			})
			return err
		},
	}
	return tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
}

// leaf returns the verified leaf certificate served at addr.
func leaf(t *testing.T, addr, sni, name string, alpn []string, roots *x509.CertPool, verifyAt time.Time) *x509.Certificate {
	t.Helper()
	c, err := dialTLS(t, addr, sni, name, alpn, roots, verifyAt)
	if err != nil {
		t.Fatalf("TLS to %s (SNI %q, ALPN %q): %v", addr, sni, alpn, err)
	}
	defer c.Close()
	if len(alpn) > 0 && c.ConnectionState().NegotiatedProtocol != alpn[0] {
		t.Errorf("%s negotiated %q, want %q", addr, c.ConnectionState().NegotiatedProtocol, alpn[0])
	}
	return c.ConnectionState().PeerCertificates[0]
}

// httpsClient speaks HTTPS (h2 preferred) to ip:443 whatever the URL's
// host, trusting roots.
func httpsClient(ip string, roots *x509.CertPool) *http.Client {
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, net.JoinHostPort(ip, "443"))
		},
	}
	return &http.Client{Transport: tr, Timeout: 15 * time.Second}
}

func get(t *testing.T, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp, string(body)
}

// TestInteropACMETLSALPN: roost obtains certificates for the domain and its
// subdomains with tls-alpn-01 on its shared port 443; Go and slixmpp
// clients verify them on 5223 and on 443, where XMPP and HTTPS share the
// port by ALPN.
func TestInteropACMETLSALPN(t *testing.T) {
	const ip = "127.0.0.5"
	env := startACME(t, acmeSetup{ip: ip, tlsALPN: true})
	r, roots := env.roost, env.pebble.Roots
	r.AddUser(t, "alice", "alice-secret")

	t.Run("each name its own certificate on 5223", func(t *testing.T) {
		for _, name := range acmeNames {
			l := leaf(t, ip+":5223", name, name, []string{"xmpp-client"}, roots, time.Time{})
			if !strings.HasPrefix(l.Issuer.CommonName, "Pebble Intermediate") || !slices.Equal(l.DNSNames, []string{name}) {
				t.Errorf("%s: issuer %q, names %v; want Pebble's intermediate and exactly %s", name, l.Issuer.CommonName, l.DNSNames, name)
			}
		}
	})
	t.Run("no SNI gets the domain's certificate", func(t *testing.T) {
		for _, port := range []string{"5223", "443"} {
			leaf(t, ip+":"+port, "", acmeDomain, []string{"xmpp-client"}, roots, time.Time{})
		}
	})
	t.Run("Go client logs in over 443 with ALPN xmpp-client", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := client.Dial(ctx, ip+":443", client.Options{
			JID: jid.MustParse("alice@" + acmeDomain + "/go"), Password: "alice-secret", DirectTLS: true,
			TLS: &tls.Config{RootCAs: roots, ServerName: acmeDomain, NextProtos: []string{"xmpp-client"}, MinVersion: tls.VersionTLS12},
		})
		if err != nil {
			t.Fatalf("login over 443: %v", err)
		}
		defer c.Close()
		if c.JID.Bare().String() != "alice@"+acmeDomain {
			t.Errorf("bound %s", c.JID)
		}
	})
	for _, port := range []string{"5223", "443"} {
		t.Run("slixmpp verifies the chain on "+port, func(t *testing.T) {
			ev := slix(t, "login", "--host", ip, "--port", port, "--direct-tls", "--alpn", "xmpp-client",
				"--ca", env.rootsFile, "--jid", "alice@"+acmeDomain+"/slix", "--password", "alice-secret")
			assertEvents(t, ev, []map[string]any{{"event": "login", "jid": "alice@" + acmeDomain + "/slix"}})
		})
	}
	t.Run("HTTPS beside XMPP on 443", func(t *testing.T) {
		hc := httpsClient(ip, roots)
		resp, body := get(t, hc, "https://"+acmeDomain+"/.well-known/host-meta")
		if resp.StatusCode != 200 || resp.Proto != "HTTP/2.0" || !strings.Contains(body, "<XRD xmlns=\"http://docs.oasis-open.org/ns/xri/xrd-1.0\"") {
			t.Errorf("host-meta: %s %s %q; want 200 over HTTP/2 with an XRD", resp.Proto, resp.Status, body)
		}
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" {
			t.Errorf("host-meta CORS header %q, want *", got)
		}
		resp, body = get(t, hc, "https://"+acmeDomain+"/health")
		var h struct {
			Status       string `json:"status"`
			Certificates []struct {
				Name, Source string
			} `json:"certificates"`
		}
		if err := json.Unmarshal([]byte(body), &h); err != nil || resp.StatusCode != 200 {
			t.Fatalf("health: %s %q (%v)", resp.Status, body, err)
		}
		if h.Status != "ok" || len(h.Certificates) != len(acmeNames) || h.Certificates[0].Source != "acme" {
			t.Errorf("health = %+v, want ok with %d ACME certificates", h, len(acmeNames))
		}
		// /metrics, read by the Prometheus parser: the logins above, and
		// the expiry of each name's certificate as clients see it.
		resp, body = get(t, hc, "https://"+acmeDomain+"/metrics")
		p := expfmt.NewTextParser(model.LegacyValidation)
		fams, err := p.TextToMetricFamilies(strings.NewReader(body))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("metrics: %s %q (%v)", resp.Status, body, err)
		}
		var ok float64
		for _, m := range fams["roost_logins_total"].GetMetric() {
			if m.GetLabel()[0].GetValue() == "ok" {
				ok = m.GetCounter().GetValue()
			}
		}
		if ok < 1 {
			t.Errorf("metrics: %v successful logins, want at least the Go client's\n%s", ok, body)
		}
		expiry := map[string]float64{}
		for _, m := range fams["roost_certificate_expiry_seconds"].GetMetric() {
			expiry[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
		}
		for _, name := range acmeNames {
			l := leaf(t, ip+":5223", name, name, []string{"xmpp-client"}, roots, time.Time{})
			if got, want := expiry[name], float64(l.NotAfter.Unix()); got != want {
				t.Errorf("metrics: %s expires at %v, want %v (the served certificate's)", name, got, want)
			}
		}
	})
	t.Run("xmpp-server is not offered with federation off", func(t *testing.T) {
		c, err := dialTLS(t, ip+":443", acmeDomain, acmeDomain, []string{"xmpp-server"}, roots, time.Time{})
		if err == nil {
			c.Close()
			t.Fatal("a handshake offering only xmpp-server succeeded")
		}
	})
	t.Run("cert status in plain words", func(t *testing.T) {
		out, err := exec.Command(roostBin, "cert", "status", "-config", r.Config).CombinedOutput()
		if err != nil {
			t.Fatalf("roost cert status: %v\n%s", err, out)
		}
		for _, want := range []string{"roost is running", "\nupload." + acmeDomain + "\n", "ACME (obtained and renewed automatically)", "issuer       Pebble Intermediate", "renewal"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("cert status lacks %q:\n%s", want, out)
			}
		}
	})
	if !strings.Contains(r.Log(), "answered a tls-alpn-01 validation") {
		t.Errorf("roost log shows no tls-alpn-01 validation on its shared port")
	}
}

// TestInteropACMEHTTP01: the same with http-01 on port 80, which also
// redirects everything else to https.
func TestInteropACMEHTTP01(t *testing.T) {
	const ip = "127.0.0.6"
	env := startACME(t, acmeSetup{ip: ip, http01: true})
	r, roots := env.roost, env.pebble.Roots
	r.AddUser(t, "alice", "alice-secret")

	for _, name := range acmeNames {
		leaf(t, ip+":5223", name, name, []string{"xmpp-client"}, roots, time.Time{})
		leaf(t, ip+":443", name, name, []string{"h2"}, roots, time.Time{})
	}
	ev := slix(t, "login", "--host", ip, "--port", "5223", "--direct-tls",
		"--ca", env.rootsFile, "--jid", "alice@"+acmeDomain+"/slix", "--password", "alice-secret")
	assertEvents(t, ev, []map[string]any{{"event": "login", "jid": "alice@" + acmeDomain + "/slix"}})

	plain := &http.Client{
		Timeout:       15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	for _, tc := range []struct {
		host     string
		wantCode int
		wantLoc  string
	}{
		{acmeDomain, 308, "https://" + acmeDomain + "/some/path?q=1"},
		{"conference." + acmeDomain, 308, "https://conference." + acmeDomain + "/some/path?q=1"},
		{"elsewhere.example", 404, ""},
	} {
		req, err := http.NewRequest("GET", "http://"+ip+"/some/path?q=1", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = tc.host
		resp, err := plain.Do(req)
		if err != nil {
			t.Fatalf("GET port 80 for %s: %v", tc.host, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.wantCode || resp.Header.Get("Location") != tc.wantLoc {
			t.Errorf("port 80, host %s: %s, Location %q; want %d, %q", tc.host, resp.Status, resp.Header.Get("Location"), tc.wantCode, tc.wantLoc)
		}
	}
}

// serialAt returns the serial of d.example's certificate on 5223 and on 443
// (XMPP and HTTPS), checking that all three agree.
func serialAt(t *testing.T, ip string, roots *x509.CertPool, verifyAt time.Time) *big.Int {
	t.Helper()
	s := leaf(t, ip+":5223", acmeDomain, acmeDomain, []string{"xmpp-client"}, roots, verifyAt).SerialNumber
	for _, alpn := range []string{"xmpp-client", "h2"} {
		if got := leaf(t, ip+":443", acmeDomain, acmeDomain, []string{alpn}, roots, verifyAt).SerialNumber; got.Cmp(s) != 0 {
			t.Errorf("443 (%s) serves serial %v, 5223 serves %v", alpn, got, s)
		}
	}
	return s
}

// TestInteropACMERenewal: a short-lived certificate is renewed before it
// expires, and c2s and HTTPS serve the new one without a restart.
func TestInteropACMERenewal(t *testing.T) {
	const ip = "127.0.0.7"
	// Renewal is due at half the lifetime (renew_before is capped there).
	env := startACME(t, acmeSetup{ip: ip, tlsALPN: true, validity: 40 * time.Second})
	r, roots := env.roost, env.pebble.Roots
	pid := r.cmd.Process.Pid
	first := serialAt(t, ip, roots, time.Time{})
	firstStatus := certStatus(t, r)[0]

	deadline := time.Now().Add(2 * time.Minute)
	for {
		l := leaf(t, ip+":5223", acmeDomain, acmeDomain, []string{"xmpp-client"}, roots, time.Time{})
		if l.SerialNumber.Cmp(first) != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("certificate %v not renewed; roost log:\n%s", first, tail(r.Log(), 60))
		}
		time.Sleep(500 * time.Millisecond)
	}
	second := serialAt(t, ip, roots, time.Time{})
	if second.Cmp(first) == 0 {
		t.Fatalf("serial %v unchanged", second)
	}
	now := certStatus(t, r)[0]
	if !now.NotAfter.After(firstStatus.NotAfter) || now.Fingerprint == firstStatus.Fingerprint || now.LastError != "" {
		t.Errorf("cert status after renewal %+v, before %+v; want a later expiry, a new fingerprint, no error", now, firstStatus)
	}
	if r.cmd.Process.Pid != pid || strings.Count(r.Log(), "roost is ready") != 1 {
		t.Errorf("roost restarted during the renewal")
	}
}

// TestInteropACMEUnreachableCA: when the CA goes away, roost keeps serving
// the certificate it has, retries, and `roost cert status` says what
// failed and what to do, also once the server is stopped.
func TestInteropACMEUnreachableCA(t *testing.T) {
	const ip = "127.0.0.8"
	env := startACME(t, acmeSetup{ip: ip, tlsALPN: true, validity: 40 * time.Second})
	r, roots := env.roost, env.pebble.Roots
	l := leaf(t, ip+":5223", acmeDomain, acmeDomain, []string{"xmpp-client"}, roots, time.Time{})
	// Verify at a moment inside the lifetime: the certificate may expire
	// while the test waits, and serving it is what is checked.
	inside := l.NotBefore.Add(time.Second)
	env.pebble.Stop()

	list := waitCerts(t, r, "the failed renewal", func(list []admin.CertStatus) bool {
		return list[0].LastError != ""
	})
	st := list[0]
	if st.Source != "acme" || st.Fallback || !strings.Contains(st.Advice, "cannot be reached") || st.NextAttempt.IsZero() {
		t.Errorf("cert status %+v; want the ACME certificate still served, reachability advice and a retry", st)
	}
	if got := serialAt(t, ip, roots, inside); got.Cmp(l.SerialNumber) != 0 {
		t.Errorf("serving serial %v after the failure, want the one it had, %v", got, l.SerialNumber)
	}
	if !strings.Contains(r.Log(), "ACME certificate request failed") {
		t.Errorf("the failure is not in the log")
	}

	out, err := exec.Command(roostBin, "cert", "status", "-config", r.Config).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "last error") || !strings.Contains(string(out), "cannot be reached") {
		t.Errorf("roost cert status (%v):\n%s\nwant the last error and advice", err, out)
	}
	t.Logf("roost cert status with the CA gone:\n%s", out)

	// Stopped, the status comes from the data file, failure included.
	r.stop(t)
	stopped := certStatus(t, r)[0]
	if stopped.Fingerprint != st.Fingerprint || stopped.LastError == "" || stopped.Source != "acme" {
		t.Errorf("status while stopped %+v; want the stored certificate %s and the last error", stopped, st.Fingerprint)
	}
}
