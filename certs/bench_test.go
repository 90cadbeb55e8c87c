package certs

import (
	"crypto/tls"
	"testing"
)

func BenchmarkGetCertificate(b *testing.B) {
	m, err := New(Options{Domains: []string{"a.example", "b.example"}, Subdomains: []string{"conference.a.example", "upload.a.example"},
		Cache: newMemCache()})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct{ name, sni string }{
		{"exact", "conference.a.example"},
		{"noSNI", ""},
		{"unknown", "other.example"},
		{"upperCase", "Conference.A.Example"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			hello := &tls.ClientHelloInfo{ServerName: bc.sni}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.GetCertificate(hello); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
