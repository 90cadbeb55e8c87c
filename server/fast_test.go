package server

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	"roost/admin"
	"roost/internal/client"
	"roost/jid"
	"roost/sasl"
	"roost/xmlstream"
)

// sasl2Login logs in over STARTTLS with SASL2 and Bind 2, as the device
// ua; token, if set, is a FAST token to log in with.
func (r *running) sasl2Login(t *testing.T, bare, password, ua, token string, o client.Options) (*client.Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	o.JID, o.Password = jid.MustParse(bare), password
	o.TLS = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} //nolint:gosec // our own self-signed test certificate
	o.SASL2, o.Bind2, o.UserAgent, o.Tag = true, true, ua, "test"
	if token != "" {
		o.Token, o.Mechanism = token, sasl.HTSHA256Expr
	}
	return client.Dial(ctx, r.addr(ListenC2S), o)
}

// TestFASTTokens: a device's token logs it in again; a password change
// takes every token away, and so does deleting the account.
func TestFASTTokens(t *testing.T) {
	r := start(t, t.TempDir())
	adm := admin.Client{Path: r.cfg.Admin.Socket}
	ctx := context.Background()
	if err := adm.AddUser(ctx, "alice", "alice-secret"); err != nil {
		t.Fatal(err)
	}
	first, err := r.sasl2Login(t, "alice@example.org", "alice-secret", "phone-1", "", client.Options{RequestToken: sasl.HTSHA256Expr})
	if err != nil {
		t.Fatal(err)
	}
	if first.Token == "" {
		t.Fatalf("success %s: want a token", first.Success)
	}
	if d := time.Until(first.TokenExpiry); d < 20*24*time.Hour || d > 21*24*time.Hour {
		t.Errorf("token expires in %s, want the configured 21 days", d)
	}
	again, err := r.sasl2Login(t, "alice@example.org", "", "phone-1", first.Token, client.Options{})
	if err != nil {
		t.Fatalf("FAST login: %v", err)
	}
	if !again.JID.Equal(first.JID) {
		t.Errorf("FAST login bound %s, want the device's resource %s", again.JID, first.JID)
	}
	if _, err := r.sasl2Login(t, "alice@example.org", "", "laptop-2", first.Token, client.Options{}); !errors.Is(err, client.ErrAuth) {
		t.Errorf("another device with the phone's token: %v, want a refusal", err)
	}

	if err := adm.SetPassword(ctx, "alice", "new-secret"); err != nil {
		t.Fatal(err)
	}
	_, err = r.sasl2Login(t, "alice@example.org", "", "phone-1", first.Token, client.Options{})
	if !errors.Is(err, client.ErrAuth) || !strings.Contains(err.Error(), "not-authorized") {
		t.Errorf("the token after a password change: %v, want not-authorized", err)
	}

	fresh, err := r.sasl2Login(t, "alice@example.org", "new-secret", "phone-1", "", client.Options{RequestToken: sasl.HTSHA256Expr})
	if err != nil {
		t.Fatal(err)
	}
	if err := adm.DeleteUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := adm.AddUser(ctx, "alice", "alice-secret"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.sasl2Login(t, "alice@example.org", "", "phone-1", fresh.Token, client.Options{}); !errors.Is(err, client.ErrAuth) {
		t.Errorf("a token of a deleted account logs into the new one: %v", err)
	}
}

// TestBind2Carbons: carbons enabled inline by Bind 2 through the carbons
// module's Bind 2 feature: the session gets copies of what its account
// sends from elsewhere.
func TestBind2Carbons(t *testing.T) {
	r := start(t, t.TempDir())
	cs := online(t, r, "alice@example.org/laptop", "bob@example.org/pc")
	laptop := cs[0]
	phone, err := r.sasl2Login(t, "alice@example.org", "alice-secret", "phone-1", "", client.Options{
		Inline: []*xmlstream.Element{xmlstream.New("urn:xmpp:carbons:2", "enable")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := laptop.SendRaw([]byte(`<message to='bob@example.org/pc' type='chat' id='c1'><body>copied?</body></message>`)); err != nil {
		t.Fatal(err)
	}
	_ = phone.SetDeadline(time.Now().Add(5 * time.Second))
	m := recvKind(t, phone, "message")
	sent := m.Child("urn:xmpp:carbons:2", "sent")
	if sent == nil || !strings.Contains(sent.String(), "copied?") {
		t.Fatalf("the phone got %s; want a <sent/> carbon copy of the laptop's message", m)
	}
}
