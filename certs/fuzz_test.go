package certs

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzParseKeyPair: PEM from files and the cache never panics, and every
// failure is ErrBadKeyPair; a success has a parsed leaf matching the chain.
func FuzzParseKeyPair(f *testing.F) {
	ca := newTestCA(f)
	certPEM, keyPEM, _ := ca.issue(f, time.Now().Add(time.Hour), "a.example")
	f.Add(certPEM, keyPEM)
	f.Add(append(append([]byte{}, keyPEM...), certPEM...), []byte(nil))
	f.Add(keyPEM, certPEM)
	f.Add(certPEM[:len(certPEM)/2], keyPEM)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"), []byte("-----BEGIN EC PRIVATE KEY-----\nAA==\n-----END EC PRIVATE KEY-----\n"))
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, certPEM, keyPEM []byte) {
		if len(keyPEM) == 0 {
			keyPEM = certPEM // the combined cache layout
		}
		c, err := parseKeyPair(certPEM, keyPEM)
		if err != nil {
			if !errors.Is(err, ErrBadKeyPair) {
				t.Fatalf("error %v does not wrap ErrBadKeyPair", err)
			}
			return
		}
		if c.Leaf == nil || len(c.Certificate) == 0 || string(c.Leaf.Raw) != string(c.Certificate[0]) {
			t.Fatalf("parsed pair without a matching leaf: %+v", c)
		}
		if c.PrivateKey == nil {
			t.Fatal("parsed pair without a private key")
		}
	})
}

// FuzzDropChallenges: CA responses never panic the filter; a filtered
// object is JSON without tls-alpn-01 challenges, and filtering is idempotent.
func FuzzDropChallenges(f *testing.F) {
	f.Add([]byte(authzJSON))
	f.Add([]byte(`{"challenges":[{"type":"tls-alpn-01"},{"type":"http-01"}]}`))
	f.Add([]byte(`{"challenges":null}`))
	f.Add([]byte(`{"identifier":{"value":"x"},"challenges":[{"type":"http-01","error":{"type":"t","detail":"d"}}]}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"challenges":[{"type":"tls-alpn-01","type":"http-01"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		tr := &acmeTransport{dropALPN: true}
		_ = tr.inspect(body)
		if len(tr.takeProblems()) > maxProblems {
			t.Fatal("more problems recorded than maxProblems")
		}
		out, ok := dropChallenges(body, "tls-alpn-01")
		if !ok {
			return
		}
		var doc struct {
			Challenges []json.RawMessage `json:"challenges"`
		}
		if err := json.Unmarshal(out, &doc); err != nil {
			t.Fatalf("filtered output %q is not JSON: %v", out, err)
		}
		for _, raw := range doc.Challenges {
			var c struct {
				Type string `json:"type"`
			}
			if json.Unmarshal(raw, &c) == nil && c.Type == "tls-alpn-01" {
				t.Fatalf("filtered output %q still has a tls-alpn-01 challenge", out)
			}
		}
		again, ok := dropChallenges(out, "tls-alpn-01")
		if !ok || string(again) != string(out) {
			t.Fatalf("filtering twice changed %q to %q (ok %v)", out, again, ok)
		}
	})
}

// FuzzServerName: any SNI or Host header gets a certificate without error,
// the right one for a configured name in any case or with a trailing dot,
// and the ACME host policy admits exactly the configured names.
func FuzzServerName(f *testing.F) {
	m, err := New(Options{Domains: []string{"a.example"}, Subdomains: []string{"conference.a.example"},
		Source: SourceACME, ACME: ACMEOptions{HTTPChallenge: true}, Cache: newMemCache()})
	if err != nil {
		f.Fatal(err)
	}
	def, _ := m.GetCertificate(&tls.ClientHelloInfo{})
	for _, s := range []string{"", "a.example", "CONFERENCE.a.example.", "a.example:443", "[::1]:80", "xn--bcher-kva.example", "a.example..", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		c, err := m.GetCertificate(&tls.ClientHelloInfo{ServerName: name})
		if err != nil || c == nil {
			t.Fatalf("GetCertificate(%q) = %v, %v; want a certificate", name, c, err)
		}
		n := normalizeHost(name)
		if strings.ContainsAny(n, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") {
			t.Fatalf("normalizeHost(%q) = %q has upper case", name, n)
		}
		_, configured := m.index[n]
		if perr := m.hostPolicy(t.Context(), name); (perr == nil) != configured {
			t.Fatalf("hostPolicy(%q) = %v, configured = %v", name, perr, configured)
		}
		if !strings.Contains(name, ":") { // SNI carries no port
			if s, ok := m.table.Load().byName[n]; ok && c != s.cert {
				t.Fatalf("GetCertificate(%q) did not return %q's certificate", name, n)
			}
			if !configured && c != def {
				t.Fatalf("GetCertificate(%q) for an unknown name is not the default", name)
			}
		}
	})
}
