package sasl_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"roost/sasl"
)

// tokens is an in-memory token store keyed by username and mechanism.
type tokens struct {
	keys map[string][][]byte // user+" "+mechanism → keys, tried in order
	err  error               // returned after a match, if set
	got  []string            // what was looked up: user+" "+mechanism
}

func (tk *tokens) lookup(_ context.Context, user, mech string, check func([]byte) bool) error {
	tk.got = append(tk.got, user+" "+mech)
	for _, k := range tk.keys[user+" "+mech] {
		if check(k) {
			return tk.err
		}
	}
	return nil
}

func htOptions(tk *tokens, b sasl.ChannelBinding) sasl.ServerOptions {
	noPasswords := func(context.Context, string, sasl.Hash) (sasl.Credentials, bool, error) {
		return sasl.Credentials{}, false, nil
	}
	return sasl.ServerOptions{Lookup: noPasswords, Binding: b, Secret: testSecret, Tokens: tk.lookup}
}

func b64bytes(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func TestHashedTokenRoundTrip(t *testing.T) {
	token, key, err := sasl.NewToken(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(token) <= sha256.BlockSize {
		t.Fatalf("NewToken made a %d-byte token: it must exceed the 64-byte block so that only its hash need be kept", len(token))
	}
	other, _, _ := sasl.NewToken(nil)
	tests := []struct {
		name          string
		mech          string
		user, token   string
		clientBinding sasl.ChannelBinding
		serverBinding sasl.ChannelBinding
		wantCond      sasl.Condition // "" for success
	}{
		{"NONE", sasl.HTSHA256None, "juliet", token, sasl.ChannelBinding{}, both, ""},
		{"EXPR", sasl.HTSHA256Expr, "juliet", token, both, both, ""},
		{"ENDP", sasl.HTSHA256Endp, "juliet", token, endPoint, both, ""},
		{"case-mapped username", sasl.HTSHA256None, "JULIET", token, sasl.ChannelBinding{}, both, ""},
		{"wrong token", sasl.HTSHA256None, "juliet", other, sasl.ChannelBinding{}, both, sasl.NotAuthorized},
		{"unknown user", sasl.HTSHA256None, "romeo", token, sasl.ChannelBinding{}, both, sasl.NotAuthorized},
		{"another channel", sasl.HTSHA256Expr, "juliet", token,
			sasl.ChannelBinding{TLSExporter: bytes.Repeat([]byte{9}, 32)}, both, sasl.NotAuthorized},
		{"token of another mechanism", sasl.HTSHA256Endp, "juliet", other, endPoint, both, sasl.NotAuthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tk := &tokens{keys: map[string][][]byte{
				"juliet " + tc.mech:           {bytes.Repeat([]byte{7}, 32), key},
				"juliet " + sasl.HTSHA256Expr: {key},
			}}
			s, err := sasl.NewServer(tc.mech, htOptions(tk, tc.serverBinding))
			if err != nil {
				t.Fatalf("NewServer: %v", err)
			}
			c, err := sasl.NewClient(tc.mech, tc.user, tc.token, tc.clientBinding)
			if err != nil {
				t.Fatalf("NewClient: %v", err)
			}
			first, err := c.Step(nil)
			if err != nil {
				t.Fatal(err)
			}
			out, done, err := s.Step(t.Context(), first)
			if tc.wantCond != "" {
				wantCondition(t, err, tc.wantCond)
				return
			}
			if err != nil || !done {
				t.Fatalf("server Step = %v, %v; want done in one step", done, err)
			}
			if _, err := c.Step(out); err != nil {
				t.Fatalf("client rejects the server's answer: %v", err)
			}
			if !c.Verified() {
				t.Error("client not Verified after the server's answer")
			}
			if got := s.Username(); got != "juliet" {
				t.Errorf("Username() = %q, want juliet", got)
			}
			if want := "juliet " + tc.mech; len(tk.got) != 1 || tk.got[0] != want {
				t.Errorf("lookups = %q, want [%q]", tk.got, want)
			}
		})
	}
}

// TestHashedTokenWire checks the message against HMAC computed with the
// token itself, as clients do (@xmpp/client uses WebCrypto on the token
// string): keeping only HTKey must verify the same bytes.
func TestHashedTokenWire(t *testing.T) {
	token, key, err := sasl.NewToken(nil)
	if err != nil {
		t.Fatal(err)
	}
	cb := endPoint.TLSServerEndPoint
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("Initiator"))
	m.Write(cb)
	msg := append([]byte("juliet\x00"), m.Sum(nil)...)
	tk := &tokens{keys: map[string][][]byte{"juliet " + sasl.HTSHA256Endp: {key}}}
	s, err := sasl.NewServer(sasl.HTSHA256Endp, htOptions(tk, endPoint))
	if err != nil {
		t.Fatal(err)
	}
	out, done, err := s.Step(t.Context(), msg)
	if err != nil || !done {
		t.Fatalf("Step = %v, %v; want done", done, err)
	}
	m = hmac.New(sha256.New, []byte(token))
	m.Write([]byte("Responder"))
	m.Write(cb)
	if want := m.Sum(nil); !bytes.Equal(out, want) {
		t.Errorf("answer = %x, want HMAC(token, Responder||cb) = %x", out, want)
	}
	if short := sasl.HTKey("short"); string(short) != "short" {
		t.Errorf("HTKey of a short token = %q, want the token itself", short)
	}
}

func TestHashedTokenFailures(t *testing.T) {
	token, key, _ := sasl.NewToken(nil)
	good := func() []byte {
		c, err := sasl.NewClient(sasl.HTSHA256None, "juliet", token, sasl.ChannelBinding{})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := c.Step(nil)
		return b
	}()
	tests := []struct {
		name  string
		msg   []byte
		err   error
		cond  sasl.Condition
		local bool // the cause is kept for logs
	}{
		{"no NUL", []byte("juliet"), nil, sasl.MalformedRequest, false},
		{"no username", append([]byte{0}, bytes.Repeat([]byte{1}, 32)...), nil, sasl.MalformedRequest, false},
		{"short hash", []byte("juliet\x00abc"), nil, sasl.MalformedRequest, false},
		{"expired", good, &sasl.Error{Condition: sasl.CredentialsExpired}, sasl.CredentialsExpired, false},
		{"replayed", good, &sasl.Error{Condition: sasl.NotAuthorized, Text: "count replayed"}, sasl.NotAuthorized, false},
		{"store failure", good, errors.New("disk on fire"), sasl.TemporaryAuthFailure, true},
		{"invalid username", append([]byte("ju\u0007\u0000"), bytes.Repeat([]byte{1}, 32)...), nil, sasl.NotAuthorized, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tk := &tokens{keys: map[string][][]byte{"juliet " + sasl.HTSHA256None: {key}}, err: tc.err}
			s, err := sasl.NewServer(sasl.HTSHA256None, htOptions(tk, sasl.ChannelBinding{}))
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = s.Step(t.Context(), tc.msg)
			se := wantCondition(t, err, tc.cond)
			if (se.Err != nil) != tc.local {
				t.Errorf("local cause %v, want one: %v", se.Err, tc.local)
			}
		})
	}
}

func TestHashedTokenMechanisms(t *testing.T) {
	tk := &tokens{}
	tests := []struct {
		name string
		b    sasl.ChannelBinding
		want []string
	}{
		{"none", sasl.ChannelBinding{}, []string{sasl.HTSHA256None}},
		{"exporter", exporter, []string{sasl.HTSHA256Expr, sasl.HTSHA256None}},
		{"both", both, []string{sasl.HTSHA256Expr, sasl.HTSHA256Endp, sasl.HTSHA256None}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := sasl.HTMechanisms(tc.b)
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("HTMechanisms = %q, want %q", got, tc.want)
			}
			for _, m := range []string{sasl.HTSHA256Expr, sasl.HTSHA256Endp, sasl.HTSHA256None} {
				_, err := sasl.NewServer(m, htOptions(tk, tc.b))
				offered := strings.Contains(strings.Join(tc.want, " "), m)
				if offered && err != nil {
					t.Errorf("NewServer(%s) = %v, want a server", m, err)
				}
				if !offered {
					wantCondition(t, err, sasl.InvalidMechanism)
				}
			}
		})
	}
	// Without a token lookup no HT mechanism is served.
	_, err := sasl.NewServer(sasl.HTSHA256None, sasl.ServerOptions{Lookup: newStore(t).lookup, Secret: testSecret})
	wantCondition(t, err, sasl.InvalidMechanism)
	if !sasl.IsHT(sasl.HTSHA256Endp) || sasl.IsHT(sasl.SCRAMSHA256) {
		t.Error("IsHT does not tell HT mechanisms from SCRAM")
	}
}

func TestHashedTokenClientRejectsForgedAnswer(t *testing.T) {
	token, _, _ := sasl.NewToken(nil)
	c, err := sasl.NewClient(sasl.HTSHA256None, "juliet", token, sasl.ChannelBinding{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Step(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Step(bytes.Repeat([]byte{1}, 32)); !errors.Is(err, sasl.ErrServerSignature) {
		t.Errorf("forged answer: %v, want ErrServerSignature", err)
	}
	if c.Verified() {
		t.Error("Verified after a forged answer")
	}
	if _, err := sasl.NewClient(sasl.HTSHA256Expr, "juliet", token, endPoint); !errors.Is(err, sasl.ErrChannelBinding) {
		t.Errorf("EXPR client without tls-exporter: %v, want ErrChannelBinding", err)
	}
}

// The example of XEP-0474 §5.3: SHA-1 of
// "SCRAM-SHA-1\x1eSCRAM-SHA-1-PLUS\x1ftls-exporter\x1etls-server-end-point".
const ssdpExample = "G6k/rBLDqgOhRRaCuuatSDFkJ08="

func TestDowngradeProtection(t *testing.T) {
	advertised := sasl.Downgrade{
		Mechanisms:      []string{sasl.SCRAMSHA1Plus, sasl.SCRAMSHA1},
		ChannelBindings: []string{sasl.BindingTLSServerEndPoint, sasl.BindingTLSExporter},
	}
	tests := []struct {
		name    string
		mech    string
		server  *sasl.Downgrade
		client  *sasl.Downgrade
		wantErr error
		checked bool
	}{
		{"same lists", sasl.SCRAMSHA1, &advertised, &advertised, nil, true},
		{"mechanism removed on the way", sasl.SCRAMSHA1, &advertised,
			&sasl.Downgrade{Mechanisms: []string{sasl.SCRAMSHA1}, ChannelBindings: advertised.ChannelBindings}, sasl.ErrDowngrade, false},
		{"binding types removed on the way", sasl.SCRAMSHA1, &advertised,
			&sasl.Downgrade{Mechanisms: advertised.Mechanisms}, sasl.ErrDowngrade, false},
		{"server without SSDP", sasl.SCRAMSHA1, nil, &advertised, nil, false},
		{"client without SSDP", sasl.SCRAMSHA1, &advertised, nil, nil, false},
		{"SHA-256", sasl.SCRAMSHA256, &advertised, &advertised, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := serverOptions(newStore(t), sasl.ChannelBinding{}, false)
			opts.Downgrade = tc.server
			s, err := sasl.NewServer(tc.mech, opts)
			if err != nil {
				t.Fatal(err)
			}
			c, err := sasl.NewClient(tc.mech, "juliet", "r0m30myr0m30", sasl.ChannelBinding{})
			if err != nil {
				t.Fatal(err)
			}
			if tc.client != nil {
				c.SetDowngrade(*tc.client)
			}
			serr, cerr := exchange(t.Context(), c, s)
			if serr != nil {
				t.Fatalf("server error %v", serr)
			}
			if !errors.Is(cerr, tc.wantErr) || (tc.wantErr == nil && cerr != nil) {
				t.Fatalf("client error %v, want %v", cerr, tc.wantErr)
			}
			if got := c.DowngradeChecked(); got != tc.checked {
				t.Errorf("DowngradeChecked() = %v, want %v", got, tc.checked)
			}
		})
	}
	// The hash is the one of the XEP's example.
	s, err := sasl.NewServer(sasl.SCRAMSHA1, func() sasl.ServerOptions {
		o := serverOptions(newStore(t), sasl.ChannelBinding{}, false)
		o.Downgrade = &advertised
		return o
	}())
	if err != nil {
		t.Fatal(err)
	}
	sf, _, err := s.Step(t.Context(), []byte("n,,n=juliet,r=abc"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(sf), ",h="+ssdpExample) {
		t.Errorf("server-first-message %q does not end with h=%s", sf, ssdpExample)
	}
}

// TestDowngradeHashSigned changes the server's "h" on the way: the proof
// covers the server-first-message, so the server refuses the client.
func TestDowngradeHashSigned(t *testing.T) {
	opts := serverOptions(newStore(t), sasl.ChannelBinding{}, false)
	opts.Downgrade = &sasl.Downgrade{Mechanisms: []string{sasl.SCRAMSHA256, sasl.SCRAMSHA256Plus}}
	s, err := sasl.NewServer(sasl.SCRAMSHA256, opts)
	if err != nil {
		t.Fatal(err)
	}
	c, err := sasl.NewClient(sasl.SCRAMSHA256, "juliet", "r0m30myr0m30", sasl.ChannelBinding{})
	if err != nil {
		t.Fatal(err)
	}
	first, _ := c.Step(nil)
	sf, _, err := s.Step(t.Context(), first)
	if err != nil {
		t.Fatal(err)
	}
	// A middleman who stripped SCRAM-SHA-256-PLUS also rewrites h to what
	// the client would expect of the shorter list.
	i := bytes.LastIndex(sf, []byte(",h="))
	d := sha256.Sum256([]byte(sasl.SCRAMSHA256))
	forged := append(append([]byte{}, sf[:i]...), ",h="+b64bytes(d[:])...)
	final, err := c.Step(forged)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = s.Step(t.Context(), final)
	wantCondition(t, err, sasl.NotAuthorized)
}
