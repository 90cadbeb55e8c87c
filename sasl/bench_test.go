package sasl_test

import (
	"bytes"
	"context"
	"testing"

	"roost/sasl"
)

// constReader is an endless source of one byte, so that the server nonce,
// and with it the client's final message, is the same in every iteration.
type constReader byte

func (r constReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

// benchServer returns options for a store of one user whose credentials use
// DefaultIterations, as production ones do.
func benchServer(b *testing.B) sasl.ServerOptions {
	b.Helper()
	creds := map[sasl.Hash]sasl.Credentials{}
	for _, h := range []sasl.Hash{sasl.SHA1, sasl.SHA256} {
		c, err := sasl.NewCredentials("r0m30myr0m30", h, sasl.DefaultIterations, nil)
		if err != nil {
			b.Fatal(err)
		}
		creds[h] = c
	}
	return sasl.ServerOptions{
		Lookup: func(_ context.Context, user string, h sasl.Hash) (sasl.Credentials, bool, error) {
			c, ok := creds[h]
			return c, ok && user == "juliet", nil
		},
		Binding:     sasl.ChannelBinding{TLSExporter: bytes.Repeat([]byte{1}, sasl.ExporterLen)},
		PlusOffered: true,
		Secret:      testSecret,
		Rand:        constReader(0x42),
	}
}

// BenchmarkServerSCRAM measures the server's whole share of a SCRAM
// exchange: NewServer, client-first, client-final. The client's messages
// are computed once beforehand.
func BenchmarkServerSCRAM(b *testing.B) {
	for _, mech := range []string{sasl.SCRAMSHA256, sasl.SCRAMSHA256Plus, sasl.SCRAMSHA1} {
		b.Run(mech, func(b *testing.B) {
			opts := benchServer(b)
			var cb sasl.ChannelBinding
			if mech == sasl.SCRAMSHA256Plus {
				cb = opts.Binding
			}
			c, err := sasl.NewClient(mech, "juliet", "r0m30myr0m30", cb)
			if err != nil {
				b.Fatal(err)
			}
			s, err := sasl.NewServer(mech, opts)
			if err != nil {
				b.Fatal(err)
			}
			first, _ := c.Step(nil)
			sf, _, err := s.Step(b.Context(), first)
			if err != nil {
				b.Fatal(err)
			}
			final, err := c.Step(sf)
			if err != nil {
				b.Fatal(err)
			}
			ctx := b.Context()
			b.ReportAllocs()
			for b.Loop() {
				s, err := sasl.NewServer(mech, opts)
				if err != nil {
					b.Fatal(err)
				}
				if _, _, err := s.Step(ctx, first); err != nil {
					b.Fatal(err)
				}
				if _, done, err := s.Step(ctx, final); !done || err != nil {
					b.Fatalf("final step: done %v, err %v", done, err)
				}
			}
		})
	}
}

// BenchmarkServerPlain measures PLAIN verification, dominated by PBKDF2 at
// DefaultIterations, for a known and an unknown user (which should cost
// the same).
func BenchmarkServerPlain(b *testing.B) {
	for _, tc := range []struct {
		name string
		msg  string
		ok   bool
	}{
		{"known", "\x00juliet\x00r0m30myr0m30", true},
		{"unknown", "\x00nobody\x00r0m30myr0m30", false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			opts := benchServer(b)
			ctx := b.Context()
			msg := []byte(tc.msg)
			b.ReportAllocs()
			for b.Loop() {
				s, err := sasl.NewServer(sasl.Plain, opts)
				if err != nil {
					b.Fatal(err)
				}
				if _, done, _ := s.Step(ctx, msg); done != tc.ok {
					b.Fatalf("done = %v, want %v", done, tc.ok)
				}
			}
		})
	}
}

// BenchmarkClientSCRAM measures the client side, dominated by PBKDF2.
func BenchmarkClientSCRAM(b *testing.B) {
	opts := benchServer(b)
	s, err := sasl.NewServer(sasl.SCRAMSHA256, opts)
	if err != nil {
		b.Fatal(err)
	}
	c, _ := sasl.NewClient(sasl.SCRAMSHA256, "juliet", "r0m30myr0m30", sasl.ChannelBinding{})
	first, _ := c.Step(nil)
	sf, _, err := s.Step(b.Context(), first)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		c, _ := sasl.NewClient(sasl.SCRAMSHA256, "juliet", "r0m30myr0m30", sasl.ChannelBinding{})
		first, _ := c.Step(nil)
		// Reuse the server-first-message with this client's nonce in it.
		msg := append([]byte("r="), first[len("n,,n=juliet,r="):]...)
		msg = append(msg, sf[len("r=")+len(first)-len("n,,n=juliet,r="):]...)
		if _, err := c.Step(msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkServerHashedToken measures the server's share of a FAST login:
// NewServer and the one message of HT-SHA-256-EXPR, against a store of two
// tokens (the XEP-0484 slots "new" and "current").
func BenchmarkServerHashedToken(b *testing.B) {
	opts := benchServer(b)
	token, key, err := sasl.NewToken(nil)
	if err != nil {
		b.Fatal(err)
	}
	other := bytes.Repeat([]byte{7}, 32)
	opts.Tokens = func(_ context.Context, _, _ string, check func([]byte) bool) error {
		if !check(other) {
			check(key)
		}
		return nil
	}
	c, err := sasl.NewClient(sasl.HTSHA256Expr, "juliet", token, opts.Binding)
	if err != nil {
		b.Fatal(err)
	}
	msg, _ := c.Step(nil)
	b.ReportAllocs()
	for b.Loop() {
		s, err := sasl.NewServer(sasl.HTSHA256Expr, opts)
		if err != nil {
			b.Fatal(err)
		}
		if _, done, err := s.Step(b.Context(), msg); !done || err != nil {
			b.Fatalf("Step = %v, %v", done, err)
		}
	}
}
