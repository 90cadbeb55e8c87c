package checkdns

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"
)

var testNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// leaf makes a certificate for names, valid from notBefore to notAfter,
// signed by ca (nil: self-signed).
func leaf(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, notBefore, notAfter time.Time, names ...string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "test " + strings.Join(names, ",")},
		DNSNames: names, NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: ca == nil,
	}
	parent, signer := tmpl, key
	if ca != nil {
		parent, signer = ca, caKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

func TestJudge(t *testing.T) {
	day := 24 * time.Hour
	ca, caKey := leaf(t, nil, nil, testNow.Add(-365*day), testNow.Add(365*day), "ca")
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	good, _ := leaf(t, ca, caKey, testNow.Add(-10*day), testNow.Add(80*day), "a.example", "conference.a.example")
	wrong, _ := leaf(t, ca, caKey, testNow.Add(-10*day), testNow.Add(80*day), "b.example")
	self, _ := leaf(t, nil, nil, testNow.Add(-10*day), testNow.Add(80*day), "a.example", "conference.a.example")
	expiring, _ := leaf(t, ca, caKey, testNow.Add(-85*day), testNow.Add(5*day), "a.example", "conference.a.example")
	expired, _ := leaf(t, ca, caKey, testNow.Add(-95*day), testNow.Add(-5*day), "a.example")
	tests := []struct {
		name string
		cert *x509.Certificate
		want []string // a finding starting with each, in order
	}{
		{"valid", good, []string{"ok valid for a.example", "ok It expires on 2026-08-20", "ok It also covers conference.a.example", "PROBLEM It does not cover upload.a.example"}},
		{"another name", wrong, []string{"PROBLEM The certificate on port 5222 of x is not for a.example (it is for b.example)"}},
		{"self-signed", self, []string{"PROBLEM The certificate on port 5222 of x is self-signed"}},
		{"about to expire", expiring, []string{"ok valid", "PROBLEM It expires in 5 days"}},
		{"expired", expired, []string{"PROBLEM The certificate on port 5222 of x is not trusted: it has expired", "PROBLEM It expired on 2026-05-27"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &Checker{opts: Options{Roots: roots, Services: []string{"conference", "upload"}, Now: func() time.Time { return testNow }}}
			var sec Section
			c.judge(&sec, "port 5222 of x", "a.example", []*x509.Certificate{tc.cert})
			var got []string
			for _, f := range sec.Findings {
				got = append(got, label(f.Level)+" "+f.Text)
			}
			i := 0
			for _, g := range got {
				if i < len(tc.want) && matches(g, tc.want[i]) {
					i++
				}
			}
			if i < len(tc.want) {
				t.Errorf("findings:\n%s\nwant, in order, lines like:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// matches reports whether finding starts with want's level and contains
// the rest of want.
func matches(finding, want string) bool {
	level, text, _ := strings.Cut(want, " ")
	return strings.HasPrefix(finding, level+" ") && strings.Contains(finding, text)
}

// TestStartTLS drives the STARTTLS probe against scripted servers.
func TestStartTLS(t *testing.T) {
	header := "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='x' from='a.example' version='1.0'>"
	tests := []struct {
		name     string
		features string
		answer   string
		wantErr  string
	}{
		{"proceeds", "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>", "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>", ""},
		{"no STARTTLS", "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/></stream:features>", "", "does not offer encryption"},
		{"refuses", "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>", "<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>", "refused STARTTLS"},
		{"stream error", "<stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>", "", "stream error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client, server := net.Pipe()
			defer client.Close()
			go func() {
				defer server.Close()
				r := bufio.NewReader(server)
				buf := make([]byte, 4096)
				_, _ = r.Read(buf) // the stream header
				_, _ = server.Write([]byte(header + tc.features))
				if tc.answer != "" {
					_, _ = r.Read(buf) // <starttls/>
					_, _ = server.Write([]byte(tc.answer))
				}
			}()
			_ = client.SetDeadline(time.Now().Add(10 * time.Second))
			err := startTLS(client, "a.example", "jabber:client")
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("startTLS: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("startTLS: %v, want an error saying %q", err, tc.wantErr)
			}
		})
	}
}

func TestReportText(t *testing.T) {
	r := Report{Domain: "a.example", Sections: []Section{{Title: "DNS records", Findings: []Finding{
		{OK, "fine."}, {Note, "worth knowing."}, {Problem, "broken."}, {Problem, "also broken."},
	}}}}
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := "Checking a.example\n\nDNS records\n  ok       fine.\n  note     worth knowing.\n  PROBLEM  broken.\n  PROBLEM  also broken.\n\n2 problems found.\n"
	if b.String() != want {
		t.Errorf("WriteText =\n%s\nwant\n%s", b.String(), want)
	}
	r.Sections[0].Findings = r.Sections[0].Findings[:2]
	b.Reset()
	_ = r.WriteText(&b)
	if !strings.HasSuffix(b.String(), "All good: a.example can be reached by clients and other servers.\n") {
		t.Errorf("WriteText without problems ends with %q", b.String())
	}
}
