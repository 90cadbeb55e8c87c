package certs

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

func TestDescribeFailure(t *testing.T) {
	const dir = "https://acme.example/dir"
	opErr := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	tests := []struct {
		name       string
		err        error
		problems   []challengeProblem
		wantAdvice string // substring
		wantErr    string // substring of LastError
	}{
		{"port 80 closed", errors.New("no viable challenge"),
			[]challengeProblem{{"a.example", "http-01", "urn:ietf:params:acme:error:connection", "connection refused"}},
			"port 80 is not reachable from the internet", "a.example http-01: connection refused"},
		{"port 443 closed", errors.New("no viable challenge"),
			[]challengeProblem{{"a.example", "tls-alpn-01", "urn:ietf:params:acme:error:connection", "timeout"}},
			"port 443 is not reachable from the internet", "tls-alpn-01: timeout"},
		{"DNS points elsewhere", errors.New("x"),
			[]challengeProblem{{"a.example", "http-01", "urn:ietf:params:acme:error:unauthorized", "404"}},
			"DNS for a.example points elsewhere", "404"},
		{"no DNS record", errors.New("x"),
			[]challengeProblem{{"a.example", "tls-alpn-01", "urn:ietf:params:acme:error:dns", "NXDOMAIN"}},
			"publish an A (and AAAA) record for a.example", "NXDOMAIN"},
		{"last problem wins", errors.New("x"),
			[]challengeProblem{
				{"a.example", "tls-alpn-01", "urn:ietf:params:acme:error:connection", "refused"},
				{"a.example", "http-01", "urn:ietf:params:acme:error:caa", "CAA forbids"},
			},
			"CAA record", "tls-alpn-01: refused; a.example http-01: CAA forbids"},
		{"rate limited order", fmt.Errorf("obtain: %w", &acme.Error{StatusCode: 429, ProblemType: "urn:ietf:params:acme:error:rateLimited", Detail: "too many"}),
			nil, "rate limit", "too many"},
		{"CA unreachable", fmt.Errorf("obtain: %w", opErr), nil, "cannot be reached", "connection refused"},
		{"CA name does not resolve", fmt.Errorf("obtain: %w", &net.DNSError{Err: "no such host", Name: "acme.example"}), nil,
			"does not resolve", "no such host"},
		{"CA not trusted", fmt.Errorf("obtain: %w", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), nil,
			"not trusted", "certificate"},
		{"something else", errors.New("boom"), nil, "request failed", "boom"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			gotErr, gotAdvice := describeFailure("a.example", dir, tc.err, tc.problems)
			if !strings.Contains(gotAdvice, tc.wantAdvice) || !strings.Contains(gotAdvice, "reload") {
				t.Errorf("advice = %q, want it to contain %q and how to retry", gotAdvice, tc.wantAdvice)
			}
			if !strings.Contains(gotErr, tc.wantErr) {
				t.Errorf("LastError = %q, want it to contain %q", gotErr, tc.wantErr)
			}
		})
	}
}

func TestIssuerCache(t *testing.T) {
	ctx := context.Background()
	mem := newMemCache()
	base := acmeCache{mem}
	for k, v := range map[string]string{"a.example": "cert", "acme_account+key": "account"} {
		if err := base.Put(ctx, k, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	ic := &issuerCache{acmeCache: base}

	get := func(key string) string {
		v, err := ic.Get(ctx, key)
		if errors.Is(err, autocert.ErrCacheMiss) {
			return "miss"
		}
		if err != nil {
			return "error"
		}
		return string(v)
	}
	// While open: certificates hidden, account visible, tokens recorded.
	if got := get("a.example"); got != "miss" {
		t.Errorf("open Get(a.example) = %s, want miss (renewal must issue anew)", got)
	}
	if got := get("acme_account+key"); got != "account" {
		t.Errorf("open Get(account) = %s, want account", got)
	}
	for _, k := range []string{"a.example+token", "tok+http-01"} {
		if err := ic.Put(ctx, k, []byte("t")); err != nil {
			t.Fatal(err)
		}
	}
	if err := ic.Put(ctx, "a.example", []byte("new cert")); err != nil {
		t.Fatal(err)
	}
	ic.deleteTokens()
	want := []string{"acme/a.example", "acme/acme_account+key"}
	got := mem.keys()
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cache keys after deleteTokens (-want +got):\n%s", diff)
	}

	// Closed: read-only, certificates visible (autocert's timer adopts them).
	ic.close()
	if got := get("a.example"); got != "new cert" {
		t.Errorf("closed Get(a.example) = %s, want the stored certificate", got)
	}
	if err := ic.Put(ctx, "a.example", []byte("late")); !errors.Is(err, ErrIssuerClosed) {
		t.Errorf("closed Put = %v, want ErrIssuerClosed", err)
	}
	if err := ic.Delete(ctx, "a.example"); err != nil {
		t.Errorf("closed Delete = %v, want nil (ignored)", err)
	}
	if v, ok, _ := mem.Blob("acme/a.example"); !ok || string(v) != "new cert" {
		t.Errorf("after closed Put/Delete cache holds %q, %v; want the certificate untouched", v, ok)
	}
}

// authzJSON is an authorization object as Pebble sends it.
const authzJSON = `{"status":"invalid","identifier":{"type":"dns","value":"a.example"},
"challenges":[
 {"type":"http-01","url":"https://ca/chal/1","token":"t1","status":"invalid",
  "error":{"type":"urn:ietf:params:acme:error:connection","detail":"refused","status":400}},
 {"type":"tls-alpn-01","url":"https://ca/chal/2","token":"t2","status":"pending"},
 {"type":"dns-01","url":"https://ca/chal/3","token":"t3","status":"pending"}],
"expires":"2030-01-01T00:00:00Z"}`

func TestACMETransport(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/authz":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, authzJSON)
		case "/slow":
			select {
			case <-r.Context().Done():
			case <-release:
			}
		default:
			w.Header().Set("Content-Type", "application/pem-certificate-chain")
			io.WriteString(w, "PEM")
		}
	}))
	defer srv.Close()
	defer close(release)

	tests := []struct {
		name     string
		dropALPN bool
		want     []string
	}{
		{"keep all", false, []string{"http-01", "tls-alpn-01", "dns-01"}},
		{"drop tls-alpn-01", true, []string{"http-01", "dns-01"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			tr := &acmeTransport{base: srv.Client().Transport, ctx: ctx, dropALPN: tc.dropALPN}
			client := &http.Client{Transport: tr}
			resp, err := client.Get(srv.URL + "/authz")
			if err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Identifier struct{ Value string }
				Challenges []struct{ Type, URL string }
			}
			err = json.NewDecoder(resp.Body).Decode(&doc)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("decode filtered authorization: %v", err)
			}
			var got []string
			for _, c := range doc.Challenges {
				got = append(got, c.Type)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" || doc.Identifier.Value != "a.example" {
				t.Errorf("challenges (-want +got):\n%s identifier %q", diff, doc.Identifier.Value)
			}
			probs := tr.takeProblems()
			wantProbs := []challengeProblem{{"a.example", "http-01", "urn:ietf:params:acme:error:connection", "refused"}}
			if diff := cmp.Diff(wantProbs, probs, cmp.AllowUnexported(challengeProblem{})); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}

			// Non-JSON bodies stream through untouched.
			resp, err = client.Get(srv.URL + "/cert")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) != "PEM" {
				t.Errorf("certificate body = %q, want PEM", body)
			}
		})
	}

	t.Run("closing cancels and refuses", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		tr := &acmeTransport{base: srv.Client().Transport, ctx: ctx}
		client := &http.Client{Transport: tr}
		errc := make(chan error, 1)
		go func() {
			resp, err := client.Get(srv.URL + "/slow")
			if err == nil {
				resp.Body.Close()
			}
			errc <- err
		}()
		time.Sleep(50 * time.Millisecond)
		cancel()
		select {
		case err := <-errc:
			if err == nil {
				t.Error("in-flight request succeeded after the issuer closed")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("in-flight request not cancelled when the issuer closed")
		}
		if _, err := client.Get(srv.URL + "/authz"); !errors.Is(err, ErrIssuerClosed) {
			t.Errorf("request after close = %v, want ErrIssuerClosed", err)
		}
	})
}

func TestDropChallenges(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
		want int // challenges left
	}{
		{"authorization", authzJSON, true, 2},
		{"no challenges key", `{"status":"valid"}`, false, 0},
		{"challenges not array", `{"challenges":{}}`, false, 0},
		{"not an object", `[1,2]`, false, 0},
		{"only tls-alpn", `{"challenges":[{"type":"tls-alpn-01"}]}`, true, 0},
		{"odd entries kept", `{"challenges":[1,"x",{"type":"tls-alpn-01"}]}`, true, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, ok := dropChallenges([]byte(tc.in), "tls-alpn-01")
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			var doc struct{ Challenges []json.RawMessage }
			if err := json.Unmarshal(out, &doc); err != nil {
				t.Fatalf("output %s is not JSON: %v", out, err)
			}
			if len(doc.Challenges) != tc.want || strings.Contains(string(out), "tls-alpn-01") {
				t.Errorf("output %s has %d challenges, want %d and no tls-alpn-01", out, len(doc.Challenges), tc.want)
			}
		})
	}
}

// TestACMEUnreachableFirstRun: with no certificate yet and a CA that cannot
// be reached, the self-signed fallback is served and Status says why.
func TestACMEUnreachableFirstRun(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dir := "https://" + ln.Addr().String() + "/dir"
	ln.Close() // now refuses connections

	m, err := New(Options{
		Domains: []string{"a.example"}, Subdomains: []string{"conference.a.example"},
		Source: SourceACME, ACME: ACMEOptions{DirectoryURL: dir, TLSALPNChallenge: true},
		Cache: newMemCache(), Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	st := statusOf(t, m, "a.example")
	if st.Source != SourceSelfSigned || !st.Fallback || !strings.Contains(st.Advice, "until the first ACME certificate") {
		t.Errorf("before Run: Status = %+v; want the self-signed fallback waiting for ACME", st)
	}
	m.backoffBase, m.backoffMax = 20*time.Millisecond, 50*time.Millisecond
	runManager(t, m)

	waitFor(t, 20*time.Second, "the failure to be reported", func() bool {
		return statusOf(t, m, "conference.a.example").LastError != ""
	})
	for _, name := range []string{"a.example", "conference.a.example"} {
		st := statusOf(t, m, name)
		if st.Source != SourceSelfSigned || !st.Fallback {
			t.Errorf("%s: Source %q Fallback %v, want the self-signed fallback", name, st.Source, st.Fallback)
		}
		if !strings.Contains(st.LastError, "connection refused") || !strings.Contains(st.Advice, "cannot be reached") ||
			!strings.Contains(st.Advice, "self-signed") {
			t.Errorf("%s: LastError %q Advice %q; want the refused connection, reachability advice and the fallback named", name, st.LastError, st.Advice)
		}
	}
	if got := servedSerial(t, m, ""); got.Cmp(m.selfSigned.Leaf.SerialNumber) != 0 {
		t.Errorf("served %v, want the self-signed certificate", got)
	}
	// Retries continue with backoff: the next attempt moves forward.
	first := statusOf(t, m, "a.example").NextAttempt
	waitFor(t, 20*time.Second, "a retry", func() bool {
		return statusOf(t, m, "a.example").NextAttempt.After(first)
	})
}

// TestTLSALPNChallengeServed: a hello offering only "acme-tls/1" gets the
// RFC 8737 challenge certificate an issuer stored, other hellos the regular
// certificate; with tls-alpn-01 disabled nothing is routed to autocert.
func TestTLSALPNChallengeServed(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	client := &acme.Client{Key: key}
	tokenCert, err := client.TLSALPN01ChallengeCert("token", "a.example")
	if err != nil {
		t.Fatal(err)
	}
	tokenCert.Leaf, _ = x509.ParseCertificate(tokenCert.Certificate[0])

	for _, tc := range []struct {
		name      string
		alpn      bool
		wantToken bool
	}{
		{"enabled", true, true},
		{"disabled", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cache := newMemCache()
			if err := cache.PutBlob("acme/a.example+token", pemOf(t, &tokenCert)); err != nil {
				t.Fatal(err)
			}
			m, err := New(Options{Domains: []string{"a.example"}, Source: SourceACME,
				ACME: ACMEOptions{TLSALPNChallenge: tc.alpn, HTTPChallenge: !tc.alpn}, Cache: cache})
			if err != nil {
				t.Fatal(err)
			}
			c, err := m.GetCertificate(&tls.ClientHelloInfo{ServerName: "a.example", SupportedProtos: []string{acme.ALPNProto}})
			if err != nil {
				t.Fatalf("GetCertificate for the validation hello: %v", err)
			}
			gotToken := string(c.Certificate[0]) == string(tokenCert.Certificate[0])
			if gotToken != tc.wantToken {
				t.Errorf("validation hello served the token certificate = %v, want %v", gotToken, tc.wantToken)
			}
			c, err = m.GetCertificate(&tls.ClientHelloInfo{ServerName: "a.example", SupportedProtos: []string{"xmpp-client", acme.ALPNProto}})
			if err != nil || string(c.Certificate[0]) == string(tokenCert.Certificate[0]) {
				t.Errorf("regular hello got the token certificate (err %v)", err)
			}
		})
	}
}
