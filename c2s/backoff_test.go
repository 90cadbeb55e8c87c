package c2s

import (
	"encoding/base64"
	"strings"
	"sync"
	"testing"
	"time"

	"roost/internal/client"
	"roost/sasl"
	"roost/stream"
)

// recordBackoff is an Options.Backoff that records what c2s tells it and
// holds every attempt back by delay.
type recordBackoff struct {
	mu     sync.Mutex
	delay  time.Duration
	events []string // "delay|fail|ok account addr"
}

func (b *recordBackoff) note(what, account, addr string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.events = append(b.events, what+" "+account+" "+addr)
}

func (b *recordBackoff) Delay(account, addr string) time.Duration {
	b.note("delay", account, addr)
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.delay
}
func (b *recordBackoff) Failed(account, addr string)    { b.note("fail", account, addr) }
func (b *recordBackoff) Succeeded(account, addr string) { b.note("ok", account, addr) }

func (b *recordBackoff) take() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := strings.Join(b.events, "; ")
	b.events = nil
	return s
}

// TestLoginBackoff shows that every way of logging in asks the backoff
// once per attempt, before the credentials are checked, and reports how
// the attempt ended, for the account it named and the client's address:
// SASL with SCRAM and PLAIN, SASL2, and FAST tokens. net.Pipe's address
// is "pipe".
func TestLoginBackoff(t *testing.T) {
	b := &recordBackoff{}
	h, _, _ := fastHarness(t, func(o *Options) { o.Backoff = b })
	const j = "juliet@example.com"
	plain2 := func(user, pw string) string {
		return `<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>` +
			base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+pw)) + `</initial-response></authenticate>`
	}
	other, _, _ := sasl.NewToken(nil)
	tests := []struct {
		name string
		run  func(t *testing.T)
		want string
	}{
		{"SASL, SCRAM, wrong password", func(t *testing.T) {
			if _, err := h.login("juliet", "wrong password", "x", client.Options{}); err == nil {
				t.Fatal("logged in with a wrong password")
			}
		}, "delay " + j + " pipe; fail " + j + " pipe"},
		{"SASL, PLAIN, right password", func(t *testing.T) {
			c, err := h.login("juliet", "balcony!", "x", client.Options{Mechanism: sasl.Plain})
			if err != nil {
				t.Fatal(err)
			}
			_ = c.Close()
		}, "delay " + j + " pipe; ok " + j + " pipe"},
		{"SASL, unknown account", func(t *testing.T) {
			if _, err := h.login("nobody", "whatever1", "x", client.Options{}); err == nil {
				t.Fatal("logged in to no account")
			}
		}, "delay nobody@example.com pipe; fail nobody@example.com pipe"},
		{"SASL, bad base64: no account named", func(t *testing.T) {
			rc := fastRaw(t, h)
			rc.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%%%</auth>`)
			if el := rc.recv(); !el.Is(stream.NSSASL, "failure") {
				t.Fatalf("got %s, want a failure", el)
			}
		}, "fail  pipe"},
		{"SASL2, wrong password, then the right one on the same stream", func(t *testing.T) {
			rc := fastRaw(t, h)
			rc.send(plain2("juliet", "nope-nope"))
			if el := rc.recv(); !el.Is(nsSASL2, "failure") {
				t.Fatalf("got %s, want a failure", el)
			}
			rc.send(plain2("juliet", "balcony!"))
			if el := rc.recv(); !el.Is(nsSASL2, "success") {
				t.Fatalf("got %s, want a success", el)
			}
		}, "delay " + j + " pipe; fail " + j + " pipe; delay " + j + " pipe; ok " + j + " pipe"},
		{"FAST, wrong token", func(t *testing.T) {
			rc := fastRaw(t, h)
			rc.send(htAuthenticate(t, "juliet", other, "ua-1", `<fast xmlns='urn:xmpp:fast:0'/>`))
			if el := rc.recv(); !el.Is(nsSASL2, "failure") {
				t.Fatalf("got %s, want a failure", el)
			}
		}, "delay " + j + " pipe; fail " + j + " pipe"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b.take()
			tc.run(t)
			if got := b.take(); got != tc.want {
				t.Errorf("backoff heard:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// TestLoginHeldBack: an attempt the backoff holds back is counted in the
// metrics and still succeeds with the right password.
func TestLoginHeldBack(t *testing.T) {
	b := &recordBackoff{delay: time.Millisecond}
	h := newHarness(t, func(o *Options) { o.Backoff = b })
	c, err := h.login("juliet", "balcony!", "x", client.Options{})
	if err != nil {
		t.Fatalf("held back login: %v", err)
	}
	_ = c.Close()
	if got := h.srv.opts.Metrics.LoginsDelayed.Load(); got != 1 {
		t.Errorf("LoginsDelayed = %d, want 1", got)
	}
	if got := h.srv.opts.Metrics.LoginsOK.Load(); got != 1 {
		t.Errorf("LoginsOK = %d, want 1", got)
	}
}
