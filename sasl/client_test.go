package sasl_test

import (
	"errors"
	"strings"
	"testing"

	"roost/sasl"
)

// clientNonce starts a SCRAM-SHA-256 client and returns it with its nonce.
func clientNonce(t *testing.T) (*sasl.Client, string) {
	t.Helper()
	c, err := sasl.NewClient(sasl.SCRAMSHA256, "juliet", "r0m30myr0m30", sasl.ChannelBinding{})
	if err != nil {
		t.Fatal(err)
	}
	first, err := c.Step(nil)
	if err != nil {
		t.Fatal(err)
	}
	_, nonce, ok := strings.Cut(string(first), ",r=")
	if !ok {
		t.Fatalf("client-first-message %q has no nonce", first)
	}
	return c, nonce
}

func TestClientRejectsServerFirst(t *testing.T) {
	tests := []struct {
		name string
		msg  func(nonce string) string
	}{
		{"nonce not extended", func(n string) string { return "r=" + n + ",s=QSXCR+Q6sek8bf92,i=4096" }},
		{"foreign nonce", func(n string) string { return "r=X" + n + ",s=QSXCR+Q6sek8bf92,i=4096" }},
		{"iterations below minimum", func(n string) string { return "r=" + n + "srv,s=QSXCR+Q6sek8bf92,i=1" }},
		{"iterations above maximum", func(n string) string { return "r=" + n + "srv,s=QSXCR+Q6sek8bf92,i=100000000" }},
		{"mandatory extension", func(n string) string { return "m=x,r=" + n + "srv,s=QSXCR+Q6sek8bf92,i=4096" }},
		{"missing salt", func(n string) string { return "r=" + n + "srv,i=4096" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, nonce := clientNonce(t)
			out, err := c.Step([]byte(tc.msg(nonce)))
			if !errors.Is(err, sasl.ErrServerMessage) {
				t.Fatalf("Step = %q, %v; want ErrServerMessage", out, err)
			}
			if _, err := c.Step(nil); !errors.Is(err, sasl.ErrDone) {
				t.Errorf("Step after failure = %v, want ErrDone", err)
			}
		})
	}
}

func TestClientServerFinal(t *testing.T) {
	tests := []struct {
		name string
		msg  string
		want error
	}{
		{"wrong signature", "v=" + b64(32), sasl.ErrServerSignature},
		{"short signature", "v=" + b64(20), sasl.ErrServerSignature},
		{"server error", "e=invalid-proof", sasl.ErrServerFailure},
		{"garbage", "hello", sasl.ErrServerMessage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, nonce := clientNonce(t)
			if _, err := c.Step([]byte("r=" + nonce + "srv,s=QSXCR+Q6sek8bf92,i=4096")); err != nil {
				t.Fatal(err)
			}
			_, err := c.Step([]byte(tc.msg))
			if !errors.Is(err, tc.want) {
				t.Fatalf("Step(%q) = %v, want %v", tc.msg, err, tc.want)
			}
			if c.Verified() {
				t.Error("Verified() = true after a bad server-final-message")
			}
		})
	}
}

func TestClientFirstMessage(t *testing.T) {
	tests := []struct {
		name       string
		mech       string
		user       string
		authzid    string
		b          sasl.ChannelBinding
		wantPrefix string
	}{
		{"no binding", sasl.SCRAMSHA256, "juliet", "", sasl.ChannelBinding{}, "n,,n=juliet,r="},
		{"binding, server without -PLUS", sasl.SCRAMSHA1, "juliet", "", endPoint, "y,,n=juliet,r="},
		{"prefers tls-exporter", sasl.SCRAMSHA256Plus, "juliet", "", both, "p=tls-exporter,,n=juliet,r="},
		{"tls-server-end-point only", sasl.SCRAMSHA1Plus, "juliet", "", endPoint, "p=tls-server-end-point,,n=juliet,r="},
		{"escapes", sasl.SCRAMSHA256, "Ju,li=et", "a=b,c", sasl.ChannelBinding{}, "n,a=a=3Db=2Cc,n=ju=2Cli=3Det,r="},
		{"PLAIN", sasl.Plain, "Juliet", "juliet@example.org", sasl.ChannelBinding{}, "juliet@example.org\x00juliet\x00r0m30"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := sasl.NewClient(tc.mech, tc.user, "r0m30myr0m30", tc.b)
			if err != nil {
				t.Fatal(err)
			}
			c.SetAuthzid(tc.authzid)
			out, err := c.Step(nil)
			if err != nil || !strings.HasPrefix(string(out), tc.wantPrefix) {
				t.Fatalf("Step(nil) = %q, %v; want prefix %q", out, err, tc.wantPrefix)
			}
		})
	}
}

func TestNewClientErrors(t *testing.T) {
	tests := []struct {
		name       string
		mech, user string
		pass       string
		b          sasl.ChannelBinding
		want       error
	}{
		{"unknown mechanism", "CRAM-MD5", "juliet", "pw", sasl.ChannelBinding{}, &sasl.Error{Condition: sasl.InvalidMechanism}},
		{"-PLUS without binding", sasl.SCRAMSHA256Plus, "juliet", "pw", sasl.ChannelBinding{}, sasl.ErrChannelBinding},
		{"empty username", sasl.SCRAMSHA256, "", "pw", sasl.ChannelBinding{}, sasl.ErrUsername},
		{"space in username", sasl.Plain, "ju liet", "pw", sasl.ChannelBinding{}, sasl.ErrUsername},
		{"empty password", sasl.SCRAMSHA1, "juliet", "", sasl.ChannelBinding{}, sasl.ErrPassword},
		{"control character in password", sasl.SCRAMSHA1, "juliet", "a\x00b", sasl.ChannelBinding{}, sasl.ErrPassword},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := sasl.NewClient(tc.mech, tc.user, tc.pass, tc.b)
			if !errors.Is(err, tc.want) {
				t.Fatalf("NewClient = %v, %v; want %v", c, err, tc.want)
			}
		})
	}
}

func TestClientUnexpectedChallenge(t *testing.T) {
	c, err := sasl.NewClient(sasl.SCRAMSHA256, "juliet", "pw", sasl.ChannelBinding{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Step([]byte("r=abc")); !errors.Is(err, sasl.ErrServerMessage) {
		t.Fatalf("Step(non-empty) before the initial response = %v, want ErrServerMessage", err)
	}
}
