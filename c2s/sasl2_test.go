package c2s

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"roost/internal/client"
	"roost/internal/xmpptest"
	"roost/jid"
	"roost/sasl"
	"roost/stream"
	"roost/xmlstream"
)

// fakeTokens keeps FAST tokens in memory with the rules of the real store:
// bound to account, client and mechanism, with an expiry and a replay
// counter.
type fakeTokens struct {
	mu     sync.Mutex
	tokens map[string]*fakeToken // bare \x00 client
	now    time.Time
	rotate bool // Verify asks for rotation
	issued int
}

type fakeToken struct {
	mech    string
	key     []byte
	expires time.Time
	count   uint64
}

func newFakeTokens() *fakeTokens {
	return &fakeTokens{tokens: map[string]*fakeToken{}, now: time.Now()}
}

func (f *fakeTokens) Issue(_ context.Context, bare jid.JID, client, mech string) (string, time.Time, error) {
	token, key, err := sasl.NewToken(nil)
	if err != nil {
		return "", time.Time{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	exp := f.now.Add(time.Hour)
	f.tokens[bare.String()+"\x00"+client] = &fakeToken{mech: mech, key: key, expires: exp}
	f.issued++
	return token, exp, nil
}

func (f *fakeTokens) Verify(_ context.Context, bare jid.JID, client, mech string, count uint64, check func([]byte) bool) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.tokens[bare.String()+"\x00"+client]
	if t == nil || t.mech != mech || !check(t.key) {
		return false, nil
	}
	switch {
	case !f.now.Before(t.expires):
		return false, &sasl.Error{Condition: sasl.CredentialsExpired}
	case count > 0 && count <= t.count:
		return false, &sasl.Error{Condition: sasl.NotAuthorized, Text: "count used before"}
	}
	if count > 0 {
		t.count = count
	}
	return f.rotate, nil
}

func (f *fakeTokens) Invalidate(_ context.Context, bare jid.JID, client string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.tokens, bare.String()+"\x00"+client)
	return nil
}

// inlineRecorder is a module's Bind 2 feature that records requests.
type inlineRecorder struct {
	mu  sync.Mutex
	got []string
}

func (r *inlineRecorder) EnableInline(_ context.Context, full jid.JID, el *xmlstream.Element) *xmlstream.Element {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, full.String()+" "+el.Name.Local)
	return nil
}

const nsCarbons = "urn:xmpp:carbons:2"

// fastHarness is a harness with FAST tokens and a carbons-like Bind 2
// feature.
func fastHarness(t *testing.T, mod func(*Options)) (*harness, *fakeTokens, *inlineRecorder) {
	tk, rec := newFakeTokens(), &inlineRecorder{}
	h := newHarness(t, func(o *Options) {
		o.Tokens = tk
		o.BindFeatures = []BindFeature{{Var: nsCarbons, Handler: rec}}
		if mod != nil {
			mod(o)
		}
	})
	return h, tk, rec
}

func TestSASL2Login(t *testing.T) {
	tests := []struct {
		name  string
		mech  string
		bind2 bool
		tag   string
		want  string // the bound JID; a resource prefix when it ends in "/"
	}{
		{"SCRAM-SHA-256, legacy bind", sasl.SCRAMSHA256, false, "", "juliet@example.com/balcony"},
		{"SCRAM-SHA-1-PLUS, legacy bind", sasl.SCRAMSHA1Plus, false, "", "juliet@example.com/balcony"},
		{"PLAIN, legacy bind", sasl.Plain, false, "", "juliet@example.com/balcony"},
		{"SCRAM-SHA-256-PLUS, Bind 2", sasl.SCRAMSHA256Plus, true, "Awesome", "juliet@example.com/Awesome/"},
		{"SCRAM-SHA-1, Bind 2 without a tag", sasl.SCRAMSHA1, true, "", "juliet@example.com/"},
		{"Bind 2 with a tag no resource may hold", sasl.SCRAMSHA256, true, strings.Repeat("long", 300), "juliet@example.com/"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, _, _ := fastHarness(t, nil)
			c, err := h.login("juliet", "balcony!", "balcony", client.Options{
				SASL2: true, Mechanism: tc.mech, Bind2: tc.bind2, Tag: tc.tag, UserAgent: "d4565fa7-4d72-4749-b3d3-740edbf87770",
				SSDP: tc.mech != sasl.Plain,
			})
			if err != nil {
				t.Fatal(err)
			}
			got := c.JID.String()
			if strings.HasSuffix(tc.want, "/") {
				if !strings.HasPrefix(got, tc.want) || len(got) != len(tc.want)+12 {
					t.Errorf("bound %s, want %s and a 12-character id", got, tc.want)
				}
			} else if got != tc.want {
				t.Errorf("bound %s, want %s", got, tc.want)
			}
			if aid := c.Success.ChildText(nsSASL2, "authorization-identifier"); tc.bind2 && aid != got {
				t.Errorf("authorization identifier %s, want the full JID %s", aid, got)
			}
			// The stream works: the session answers.
			if err := c.Send(xmlstream.New(xmlstream.NSClient, "iq").SetAttr("type", "set").SetAttr("id", "s").
				Append(xmlstream.New(stream.NSSession, "session"))); err != nil {
				t.Fatal(err)
			}
			if el, err := c.Recv(); err != nil || el.Get("id") != "s" {
				t.Fatalf("after login: %v, %v", el, err)
			}
		})
	}
}

// TestSASL2Features: SASL2 is offered next to SASL with the same
// mechanisms, with Bind 2 and its inline features, resumption and FAST.
func TestSASL2Features(t *testing.T) {
	h, _, _ := fastHarness(t, nil)
	rc := rawStream(t, h.pipe(false))
	rc.features()
	rc = rawStream(t, rc.startTLS(h.clientTLS))
	f := rc.features()
	auth := f.Child(nsSASL2, "authentication")
	if auth == nil {
		t.Fatalf("features %s: no SASL2", f)
	}
	var mechs, sasl1 []string
	for m := range auth.Elements() {
		if m.Name.Local == "mechanism" {
			mechs = append(mechs, m.Text())
		}
	}
	for m := range f.Child(stream.NSSASL, "mechanisms").Elements() {
		sasl1 = append(sasl1, m.Text())
	}
	if strings.Join(mechs, " ") != strings.Join(sasl1, " ") {
		t.Errorf("SASL2 mechanisms %q, SASL %q: want the same", mechs, sasl1)
	}
	inline := auth.Child(nsSASL2, "inline")
	var vars []string
	for fe := range inline.Child(nsBind2, "bind").Child(nsBind2, "inline").Elements() {
		vars = append(vars, fe.Get("var"))
	}
	if got := strings.Join(vars, " "); got != nsCSI+" "+nsSM+" "+nsCarbons {
		t.Errorf("Bind 2 inline features %q", got)
	}
	if inline.Child(nsSM, "sm") == nil {
		t.Errorf("no inline stream resumption in %s", inline)
	}
	var fast []string
	for m := range inline.Child(nsFAST, "fast").Elements() {
		fast = append(fast, m.Text())
	}
	if got := strings.Join(fast, " "); got != "HT-SHA-256-EXPR HT-SHA-256-ENDP HT-SHA-256-NONE" {
		t.Errorf("FAST mechanisms %q", got)
	}

	// Without tokens and resumption, neither is offered.
	h2 := newHarness(t, func(o *Options) { o.ResumeTimeout = -1 })
	rc = rawStream(t, h2.pipe(false))
	rc.features()
	rc = rawStream(t, rc.startTLS(h2.clientTLS))
	inline = rc.features().Child(nsSASL2, "authentication").Child(nsSASL2, "inline")
	if inline.Child(nsSM, "sm") != nil || inline.Child(nsFAST, "fast") != nil {
		t.Errorf("inline %s offers what the server does not do", inline)
	}
}

func TestBind2StableResource(t *testing.T) {
	h, _, _ := fastHarness(t, nil)
	login := func(ua, tag string) *client.Conn {
		t.Helper()
		c, err := h.login("juliet", "balcony!", "", client.Options{SASL2: true, Bind2: true, UserAgent: ua, Tag: tag})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	phone := login("11111111-phone", "Conv")
	again := login("11111111-phone", "Conv")
	laptop := login("22222222-laptop", "Conv")
	romeo, err := h.login("romeo", "orchard!", "", client.Options{SASL2: true, Bind2: true, UserAgent: "11111111-phone", Tag: "Conv"})
	if err != nil {
		t.Fatal(err)
	}
	anon1, anon2 := login("", "Conv"), login("", "Conv")
	if phone.JID.String() != again.JID.String() {
		t.Errorf("the same device bound %s, then %s: want one resource", phone.JID, again.JID)
	}
	xmpptest.ExpectStreamError(t, phone, stream.Conflict) // §3: its older session ends
	if laptop.JID.Equal(phone.JID) {
		t.Errorf("two devices share %s", laptop.JID)
	}
	if romeo.JID.Resource() == phone.JID.Resource() {
		t.Errorf("two accounts' devices with one id share the resource %s", romeo.JID.Resource())
	}
	if anon1.JID.Equal(anon2.JID) {
		t.Errorf("clients without a user-agent id share %s", anon1.JID)
	}
	if strings.Contains(phone.JID.String(), "11111111") {
		t.Errorf("the resource %s shows the user-agent id", phone.JID)
	}
}

// TestBind2Inline: carbons (a module's feature), client state and stream
// management are on when the session starts, and <bound/> says what
// stream management does.
func TestBind2Inline(t *testing.T) {
	h, _, rec := fastHarness(t, nil)
	c, err := h.login("juliet", "balcony!", "", client.Options{SASL2: true, Bind2: true, UserAgent: "ua-1", Tag: "T",
		Inline: []*xmlstream.Element{
			xmlstream.New(nsCarbons, "enable"),
			xmlstream.New(nsCSI, "inactive"),
			xmlstream.New(nsSM, "enable").SetAttr("resume", "true"),
			xmlstream.New("urn:example:unknown", "enable"),
		}})
	if err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	got := strings.Join(rec.got, "|")
	rec.mu.Unlock()
	if want := c.JID.String() + " enable"; got != want {
		t.Errorf("the carbons feature saw %q, want %q", got, want)
	}
	enabled := c.Success.Child(nsBind2, "bound").Child(nsSM, "enabled")
	if enabled == nil || enabled.Get("resume") != "true" || enabled.Get("id") == "" {
		t.Fatalf("bound %s: want a resumable <enabled/>", c.Success.Child(nsBind2, "bound"))
	}
	if c.Features.Child(nsSM, "sm") != nil || c.Features.Child(stream.NSBind, "bind") != nil {
		t.Errorf("features after the bound success %s still offer binding or stream management", c.Features)
	}
	h.router.mu.Lock()
	sess := h.router.sessions[c.JID.String()].(*session)
	h.router.mu.Unlock()
	sess.mu.Lock()
	inactive := sess.csi.inactive
	sess.mu.Unlock()
	if !inactive {
		t.Error("the session did not start inactive")
	}
	// Counting runs: an urgent stanza to the session comes with <r/>.
	sess.Send(xmlstream.New(xmlstream.NSClient, "message").SetAttr("to", c.JID.String()).
		Append(xmlstream.New(xmlstream.NSClient, "body").AppendText("hi")))
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if el, err := c.Recv(); err != nil || el.Name.Local != "message" {
		t.Fatalf("got %v, %v; want the message", el, err)
	}
	if el, err := c.Recv(); err != nil || !el.Is(nsSM, "r") {
		t.Fatalf("got %v, %v; want the server's <r/>", el, err)
	}
}

// TestSASL2Resume: a session lost with stream management is resumed in
// the authentication: the success names the session and carries
// <resumed/>, and what the client missed follows.
func TestSASL2Resume(t *testing.T) {
	h, _, _ := fastHarness(t, nil)
	c, err := h.login("juliet", "balcony!", "", client.Options{SASL2: true, Bind2: true, UserAgent: "ua-1",
		Inline: []*xmlstream.Element{xmlstream.New(nsSM, "enable").SetAttr("resume", "true")}})
	if err != nil {
		t.Fatal(err)
	}
	id := c.Success.Child(nsBind2, "bound").Child(nsSM, "enabled").Get("id")
	full := c.JID
	// The connection is lost; a message arrives meanwhile.
	_ = c.NetConn().Close()
	h.router.mu.Lock()
	sess := h.router.sessions[full.String()]
	h.router.mu.Unlock()
	sess.Send(xmlstream.New(xmlstream.NSClient, "message").SetAttr("to", full.String()).SetAttr("id", "missed").
		Append(xmlstream.New(xmlstream.NSClient, "body").AppendText("while you were away")))

	r, err := h.login("juliet", "balcony!", "", client.Options{SASL2: true, Bind2: true, UserAgent: "ua-1",
		Resume: xmlstream.New(nsSM, "resume").SetAttr("previd", id).SetAttr("h", "0")})
	if err != nil {
		t.Fatal(err)
	}
	if !r.JID.Equal(full) {
		t.Errorf("authorization identifier %s, want the resumed session's %s", r.JID, full)
	}
	if res := r.Success.Child(nsSM, "resumed"); res == nil || res.Get("previd") != id {
		t.Fatalf("success %s: want <resumed previd=%q/>", r.Success, id)
	}
	if r.Success.Child(nsBind2, "bound") != nil {
		t.Errorf("a resumed session was bound anew: %s", r.Success)
	}
	_ = r.SetDeadline(time.Now().Add(5 * time.Second))
	if el, err := r.Recv(); err != nil || el.Get("id") != "missed" {
		t.Fatalf("after resuming got %v, %v; want the missed message", el, err)
	}

	// An unknown session: the failure, then Bind 2 as asked.
	n, err := h.login("juliet", "balcony!", "", client.Options{SASL2: true, Bind2: true, UserAgent: "ua-2",
		Resume: xmlstream.New(nsSM, "resume").SetAttr("previd", "gone").SetAttr("h", "0")})
	if err != nil {
		t.Fatal(err)
	}
	if n.Success.Child(nsSM, "failed") == nil || n.Success.Child(nsBind2, "bound") == nil {
		t.Errorf("success %s: want <failed/> for the resumption and <bound/>", n.Success)
	}
}

// TestFASTLogin: a token asked for at a password login logs the same
// device in again, by each HT mechanism, and is renewed when due.
func TestFASTLogin(t *testing.T) {
	for _, mech := range []string{sasl.HTSHA256Expr, sasl.HTSHA256Endp, sasl.HTSHA256None} {
		t.Run(mech, func(t *testing.T) {
			h, tk, _ := fastHarness(t, nil)
			first, err := h.login("juliet", "balcony!", "", client.Options{SASL2: true, Bind2: true, UserAgent: "ua-1", RequestToken: mech})
			if err != nil {
				t.Fatal(err)
			}
			if first.Token == "" || !first.TokenExpiry.After(time.Now()) {
				t.Fatalf("success %s: want a token with a future expiry", first.Success)
			}
			again, err := h.login("juliet", "", "", client.Options{SASL2: true, Bind2: true, UserAgent: "ua-1", Mechanism: mech, Token: first.Token, Count: 1})
			if err != nil {
				t.Fatalf("FAST login: %v", err)
			}
			if !again.JID.Equal(first.JID) {
				t.Errorf("FAST login bound %s, want the device's %s", again.JID, first.JID)
			}
			if again.Token != "" {
				t.Errorf("a token not due for rotation was replaced")
			}
			tk.mu.Lock()
			tk.rotate = true
			tk.mu.Unlock()
			rotated, err := h.login("juliet", "", "", client.Options{SASL2: true, Bind2: true, UserAgent: "ua-1", Mechanism: mech, Token: first.Token, Count: 2})
			if err != nil {
				t.Fatal(err)
			}
			if rotated.Token == "" || rotated.Token == first.Token {
				t.Errorf("a token due for rotation: success %s, want a new token", rotated.Success)
			}
		})
	}
}

// fastRaw opens a raw stream up to the SASL2 features.
func fastRaw(t *testing.T, h *harness) *rawConn {
	t.Helper()
	rc := rawStream(t, h.pipe(false))
	rc.features()
	rc = rawStream(t, rc.startTLS(h.clientTLS))
	rc.features()
	return rc
}

// htAuthenticate is a FAST <authenticate/> for token by mechanism NONE.
func htAuthenticate(t *testing.T, user, token, ua, fast string) string {
	t.Helper()
	c, err := sasl.NewClient(sasl.HTSHA256None, user, token, sasl.ChannelBinding{})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := c.Step(nil)
	if err != nil {
		t.Fatal(err)
	}
	s := fmt.Sprintf(`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='HT-SHA-256-NONE'><initial-response>%s</initial-response>`,
		base64.StdEncoding.EncodeToString(msg))
	if ua != "" {
		s += fmt.Sprintf(`<user-agent id='%s'/>`, ua)
	}
	return s + `<bind xmlns='urn:xmpp:bind:0'/>` + fast + `</authenticate>`
}

// issue gets a token for juliet's device ua by a password login.
func issue(t *testing.T, h *harness, ua string) string {
	t.Helper()
	c, err := h.login("juliet", "balcony!", "", client.Options{SASL2: true, UserAgent: ua, RequestToken: sasl.HTSHA256None, NoBind: true})
	if err != nil {
		t.Fatal(err)
	}
	if c.Token == "" {
		t.Fatal("no token issued")
	}
	_ = c.Close()
	return c.Token
}

// TestFASTRaw drives token logins by hand: one round trip from
// <authenticate/> to a bound session, and every way a token is refused.
func TestFASTRaw(t *testing.T) {
	const fast = `<fast xmlns='urn:xmpp:fast:0'/>`
	other, _, _ := sasl.NewToken(nil)
	tests := []struct {
		name  string
		auth  func(token string) string
		prep  func(tk *fakeTokens)
		cond  string // "" for success
		after func(t *testing.T, h *harness, token string)
	}{
		{"one round trip", func(tok string) string { return htAuthenticate(t, "juliet", tok, "ua-1", fast) }, nil, "", nil},
		{"wrong token", func(string) string { return htAuthenticate(t, "juliet", other, "ua-1", fast) }, nil, "not-authorized", nil},
		{"token of another device", func(tok string) string { return htAuthenticate(t, "juliet", tok, "ua-2", fast) }, nil, "not-authorized", nil},
		{"token of another account", func(tok string) string { return htAuthenticate(t, "romeo", tok, "ua-1", fast) }, nil, "not-authorized", nil},
		{"expired token", func(tok string) string { return htAuthenticate(t, "juliet", tok, "ua-1", fast) },
			func(tk *fakeTokens) { tk.now = tk.now.Add(2 * time.Hour) }, "credentials-expired", nil},
		{"replayed counter", func(tok string) string {
			return htAuthenticate(t, "juliet", tok, "ua-1", `<fast xmlns='urn:xmpp:fast:0' count='5'/>`)
		}, func(tk *fakeTokens) {
			for _, tok := range tk.tokens {
				tok.count = 5
			}
		}, "not-authorized", nil},
		{"bad counter", func(tok string) string {
			return htAuthenticate(t, "juliet", tok, "ua-1", `<fast xmlns='urn:xmpp:fast:0' count='-1'/>`)
		}, nil, "malformed-request", nil},
		{"no <fast/>", func(tok string) string { return htAuthenticate(t, "juliet", tok, "ua-1", "") }, nil, "malformed-request", nil},
		{"no user-agent", func(tok string) string { return htAuthenticate(t, "juliet", tok, "", fast) }, nil, "malformed-request", nil},
		{"token of another mechanism", func(tok string) string {
			s := htAuthenticate(t, "juliet", tok, "ua-1", fast)
			return strings.Replace(s, "HT-SHA-256-NONE", "HT-SHA-256-ENDP", 1)
		}, nil, "not-authorized", nil},
		{"invalidated", func(tok string) string {
			return htAuthenticate(t, "juliet", tok, "ua-1", `<fast xmlns='urn:xmpp:fast:0' invalidate='true'/>`)
		}, nil, "", func(t *testing.T, h *harness, tok string) {
			_, err := h.login("juliet", "", "", client.Options{SASL2: true, Bind2: true, UserAgent: "ua-1", Mechanism: sasl.HTSHA256None, Token: tok})
			if !errors.Is(err, client.ErrAuth) || !strings.Contains(err.Error(), "not-authorized") {
				t.Errorf("the invalidated token logs in again: %v", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, tk, _ := fastHarness(t, nil)
			token := issue(t, h, "ua-1")
			if tc.prep != nil {
				tk.mu.Lock()
				tc.prep(tk)
				tk.mu.Unlock()
			}
			rc := fastRaw(t, h)
			rc.send(tc.auth(token))
			el := rc.recv()
			if tc.cond != "" {
				if !el.Is(nsSASL2, "failure") || el.Child(stream.NSSASL, tc.cond) == nil {
					t.Fatalf("got %s, want a SASL2 failure %s", el, tc.cond)
				}
				return
			}
			// The answer to the one <authenticate/> is the success itself,
			// bound, then the features: no challenge, no second trip.
			if !el.Is(nsSASL2, "success") || el.Child(nsBind2, "bound") == nil || el.ChildText(nsSASL2, "additional-data") == "" {
				t.Fatalf("got %s, want a bound success with the server's proof", el)
			}
			if f := rc.recv(); !f.Is(xmlstream.NSStream, "features") {
				t.Fatalf("after the success got %s, want features", f)
			}
			if tc.after != nil {
				tc.after(t, h, token)
			}
		})
	}
}

// TestSASL2Failures: what a SASL2 exchange refuses, with RFC 6120
// conditions, and the failures that end the stream.
func TestSASL2Failures(t *testing.T) {
	scram := func(user string) string {
		return fmt.Sprintf(`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-256'><initial-response>%s</initial-response></authenticate>`,
			base64.StdEncoding.EncodeToString([]byte("n,,n="+user+",r=abcdefgh")))
	}
	tests := []struct {
		name   string
		send   []string
		cond   string           // the SASL2 failure, or
		stream stream.Condition // the stream error
	}{
		{"unknown mechanism", []string{`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='X-NOPE'/>`}, "invalid-mechanism", ""},
		{"no mechanism", []string{`<authenticate xmlns='urn:xmpp:sasl:2'/>`}, "invalid-mechanism", ""},
		{"bad base64", []string{`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>%%%</initial-response></authenticate>`}, "incorrect-encoding", ""},
		{"wrong password", []string{`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>` +
			base64.StdEncoding.EncodeToString([]byte("\x00juliet\x00nope-nope")) + `</initial-response></authenticate>`}, "not-authorized", ""},
		{"abort", []string{scram("juliet"), `<abort xmlns='urn:xmpp:sasl:2'/>`}, "aborted", ""},
		{"a stanza during the exchange", []string{scram("juliet"), `<message to='romeo@example.com'/>`}, "", stream.PolicyViolation},
		{"too long a user-agent id", []string{`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><user-agent id='` + strings.Repeat("x", 300) + `'/></authenticate>`}, "malformed-request", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, _, _ := fastHarness(t, nil)
			rc := fastRaw(t, h)
			for i, s := range tc.send {
				rc.send(s)
				if i < len(tc.send)-1 {
					if el := rc.recv(); !el.Is(nsSASL2, "challenge") {
						t.Fatalf("got %s, want a challenge", el)
					}
				}
			}
			if tc.stream != "" {
				rc.expectStreamError(tc.stream)
				return
			}
			el := rc.recv()
			if !el.Is(nsSASL2, "failure") || el.Child(stream.NSSASL, tc.cond) == nil {
				t.Fatalf("got %s, want a SASL2 failure %s", el, tc.cond)
			}
		})
	}
	// Failures count against MaxAuthFailures as in SASL.
	h, _, _ := fastHarness(t, func(o *Options) { o.MaxAuthFailures = 2 })
	rc := fastRaw(t, h)
	bad := `<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>` +
		base64.StdEncoding.EncodeToString([]byte("\x00juliet\x00nope-nope")) + `</initial-response></authenticate>`
	rc.send(bad)
	if el := rc.recv(); !el.Is(nsSASL2, "failure") {
		t.Fatalf("got %s, want a failure", el)
	}
	rc.send(bad)
	if el := rc.recv(); !el.Is(nsSASL2, "failure") {
		t.Fatalf("got %s, want a failure", el)
	}
	rc.expectStreamError(stream.PolicyViolation)
}

// TestSSDP: the SCRAM exchange of SASL and of SASL2 carries the hash of
// what was advertised (XEP-0474); a client that saw a list with the
// channel-bound mechanisms stripped notices the difference.
func TestSSDP(t *testing.T) {
	for _, sasl2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("SASL2 %v", sasl2), func(t *testing.T) {
			h, _, _ := fastHarness(t, nil)
			o := client.Options{SASL2: sasl2, SSDP: true, Mechanism: sasl.SCRAMSHA256}
			if _, err := h.login("juliet", "balcony!", "x", o); err != nil {
				t.Fatalf("login checking the hash: %v", err)
			}
			// A middleman strips the -PLUS mechanisms from the features.
			c, err := client.Secure(t.Context(), h.pipe(false), client.Options{JID: jid.MustParse("example.com"), TLS: h.clientTLS})
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range []*xmlstream.Element{c.Features.Child(stream.NSSASL, "mechanisms"), c.Features.Child(nsSASL2, "authentication")} {
				kept := f.Children[:0]
				for _, ch := range f.Children {
					if ch.Elem == nil || !strings.HasSuffix(ch.Elem.Text(), "-PLUS") {
						kept = append(kept, ch)
					}
				}
				f.Children = kept
			}
			o.JID, o.Password = jid.MustParse("juliet@example.com"), "balcony!"
			if sasl2 {
				err = c.Authenticate2(o)
			} else {
				err = c.Authenticate(o)
			}
			if !errors.Is(err, sasl.ErrDowngrade) {
				t.Errorf("after the mechanisms were stripped: %v, want ErrDowngrade", err)
			}
		})
	}
}

// FuzzParseAuthenticate: any <authenticate/> either parses or yields a
// SASL failure to send; never a panic. What parses keeps its fields within
// their bounds, and the initial response decodes to what it encodes.
func FuzzParseAuthenticate(f *testing.F) {
	for _, s := range []string{
		`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-1'><initial-response>biwsbj11c2VyLHI9YWJj</initial-response><user-agent id='d4565fa7'><software>A</software></user-agent><bind xmlns='urn:xmpp:bind:0'><tag>A</tag></bind></authenticate>`,
		`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='HT-SHA-256-NONE'><initial-response>
		  dXNlcgBhYmM=
		</initial-response><fast xmlns='urn:xmpp:fast:0' count='12' invalidate='1'/><resume xmlns='urn:xmpp:sm:3' previd='x' h='3'/></authenticate>`,
		`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response/><request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-256-ENDP'/></authenticate>`,
		`<authenticate xmlns='urn:xmpp:sasl:2'/>`,
		`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='X'><fast xmlns='urn:xmpp:fast:0' count='0'/></authenticate>`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		el, err := xmlstream.Parse([]byte(in), xmlstream.Limits{})
		if err != nil {
			return
		}
		req, serr := parseAuthenticate(el)
		if serr != nil {
			if serr.Condition == "" {
				t.Fatalf("parse %q: failure without a condition", in)
			}
			return
		}
		if req.mechanism == "" || len(req.userAgent) > maxUserAgentID || (req.count > 0 || req.invalidate) && !req.fast {
			t.Fatalf("parse %q: %+v out of bounds", in, req)
		}
		if req.initial != nil {
			again, ok := decodeSASL2(base64.StdEncoding.EncodeToString(req.initial))
			if !ok || string(again) != string(req.initial) {
				t.Fatalf("parse %q: initial response does not round-trip", in)
			}
		}
	})
}
