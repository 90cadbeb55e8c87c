package sasl_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"roost/sasl"
)

// testIterations keeps PBKDF2 cheap in tests while staying legal.
const testIterations = sasl.MinIterations

var testSecret = []byte("0123456789abcdef0123456789abcdef")

// store is an in-memory credential store.
type store struct {
	mu    sync.Mutex
	users map[string]map[sasl.Hash]sasl.Credentials
	err   error            // returned by every lookup if set
	found map[string]error // per-user error returned along with found credentials
	calls int
}

func newStore(t testing.TB) *store {
	t.Helper()
	st := &store{users: map[string]map[sasl.Hash]sasl.Credentials{}, found: map[string]error{}}
	st.add(t, "juliet", "r0m30myr0m30", sasl.SHA1, sasl.SHA256)
	st.add(t, "ju,li=et", "pässwörd", sasl.SHA256)
	st.add(t, "romeo", "capulet", sasl.SHA1) // only SHA-1 credentials
	return st
}

func (st *store) add(t testing.TB, user, password string, hashes ...sasl.Hash) {
	t.Helper()
	m := map[sasl.Hash]sasl.Credentials{}
	for _, h := range hashes {
		c, err := sasl.NewCredentials(password, h, testIterations, nil)
		if err != nil {
			t.Fatal(err)
		}
		m[h] = c
	}
	st.users[user] = m
}

func (st *store) lookup(ctx context.Context, user string, h sasl.Hash) (sasl.Credentials, bool, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.calls++
	if st.err != nil {
		return sasl.Credentials{}, false, st.err
	}
	c, ok := st.users[user][h]
	if ok {
		return c, true, st.found[user]
	}
	return sasl.Credentials{}, false, nil
}

func serverOptions(st *store, b sasl.ChannelBinding, plusOffered bool) sasl.ServerOptions {
	return sasl.ServerOptions{
		Lookup:      st.lookup,
		Binding:     b,
		PlusOffered: plusOffered,
		Secret:      testSecret,
		Iterations:  testIterations,
		// Most tests pin the RFC 5802 behaviour; TestChannelBindingPolicy
		// covers the relaxed default.
		StrictChannelBinding: true,
	}
}

// TestChannelBindingPolicy checks the "y" flag under both policies: refused
// as a downgrade when strict, accepted (as a client without a channel
// binding type in common) otherwise, and never accepted with a bad proof.
func TestChannelBindingPolicy(t *testing.T) {
	both := sasl.ChannelBinding{TLSExporter: bytes.Repeat([]byte{1}, 32), TLSServerEndPoint: bytes.Repeat([]byte{2}, 32)}
	tests := []struct {
		name   string
		strict bool
		pass   string
		want   sasl.Condition // "" = success
	}{
		{"strict refuses y", true, "r0m30myr0m30", sasl.NotAuthorized},
		{"default accepts y", false, "r0m30myr0m30", ""},
		{"default still checks the proof", false, "wrong", sasl.NotAuthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := newStore(t)
			opts := serverOptions(st, both, true)
			opts.StrictChannelBinding = tc.strict
			srv, err := sasl.NewServer(sasl.SCRAMSHA256, opts)
			if err != nil {
				t.Fatal(err)
			}
			// Given binding data for a non-PLUS mechanism, the client says "y".
			cl, err := sasl.NewClient(sasl.SCRAMSHA256, "juliet", tc.pass, both)
			if err != nil {
				t.Fatal(err)
			}
			serr, _ := exchange(context.Background(), cl, srv)
			if tc.want == "" {
				if serr != nil {
					t.Fatalf("server: %v, want success", serr)
				}
				return
			}
			if !errors.Is(serr, &sasl.Error{Condition: tc.want}) {
				t.Fatalf("server: %v, want %s", serr, tc.want)
			}
		})
	}
}

// exchange runs c against s until one side stops. It returns the server's
// error, the client's error and the data of the server's success.
func exchange(ctx context.Context, c *sasl.Client, s *sasl.Server) (serverErr, clientErr error) {
	var in []byte
	for range 4 {
		resp, err := c.Step(in)
		if err != nil {
			return nil, err
		}
		out, done, err := s.Step(ctx, resp)
		if err != nil {
			return err, nil
		}
		if done {
			if len(out) > 0 {
				_, err = c.Step(out)
			}
			return nil, err
		}
		in = out
	}
	return errors.New("exchange did not finish"), nil
}

func wantCondition(t *testing.T, err error, want sasl.Condition) *sasl.Error {
	t.Helper()
	var se *sasl.Error
	if !errors.As(err, &se) {
		t.Fatalf("err = %v (%T), want *sasl.Error with condition %s", err, err, want)
	}
	if se.Condition != want {
		t.Fatalf("condition = %s (%v), want %s", se.Condition, err, want)
	}
	return se
}

var (
	exporter = sasl.ChannelBinding{TLSExporter: bytes.Repeat([]byte{0xe1}, sasl.ExporterLen)}
	endPoint = sasl.ChannelBinding{TLSServerEndPoint: bytes.Repeat([]byte{0xe2}, 32)}
	both     = sasl.ChannelBinding{TLSExporter: exporter.TLSExporter, TLSServerEndPoint: endPoint.TLSServerEndPoint}
)

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name          string
		mech          string
		user, pass    string
		authzid       string
		clientBinding sasl.ChannelBinding
		serverBinding sasl.ChannelBinding
		plusOffered   bool
		wantUser      string
		wantVerified  bool
	}{
		{"SCRAM-SHA-256-PLUS tls-exporter", sasl.SCRAMSHA256Plus, "juliet", "r0m30myr0m30", "", exporter, both, true, "juliet", true},
		{"SCRAM-SHA-256-PLUS tls-server-end-point", sasl.SCRAMSHA256Plus, "juliet", "r0m30myr0m30", "", endPoint, both, true, "juliet", true},
		{"SCRAM-SHA-1-PLUS tls-exporter", sasl.SCRAMSHA1Plus, "juliet", "r0m30myr0m30", "", exporter, both, true, "juliet", true},
		{"SCRAM-SHA-1-PLUS tls-server-end-point", sasl.SCRAMSHA1Plus, "juliet", "r0m30myr0m30", "", endPoint, endPoint, true, "juliet", true},
		{"SCRAM-SHA-256 without binding", sasl.SCRAMSHA256, "juliet", "r0m30myr0m30", "", sasl.ChannelBinding{}, both, true, "juliet", true},
		{"SCRAM-SHA-256 y, -PLUS not offered", sasl.SCRAMSHA256, "juliet", "r0m30myr0m30", "", both, both, false, "juliet", true},
		{"SCRAM-SHA-1 without binding", sasl.SCRAMSHA1, "juliet", "r0m30myr0m30", "", sasl.ChannelBinding{}, sasl.ChannelBinding{}, false, "juliet", true},
		{"SCRAM-SHA-256 case-mapped username", sasl.SCRAMSHA256, "JULIET", "r0m30myr0m30", "", sasl.ChannelBinding{}, sasl.ChannelBinding{}, false, "juliet", true},
		{"SCRAM-SHA-256 escaped username and authzid", sasl.SCRAMSHA256Plus, "Ju,li=et", "pässwörd", "a,b=c@example.org", exporter, exporter, true, "ju,li=et", true},
		{"PLAIN", sasl.Plain, "juliet", "r0m30myr0m30", "", sasl.ChannelBinding{}, both, true, "juliet", false},
		{"PLAIN with authzid", sasl.Plain, "Juliet", "r0m30myr0m30", "juliet@example.org", sasl.ChannelBinding{}, sasl.ChannelBinding{}, false, "juliet", false},
		{"PLAIN against SHA-1 credentials", sasl.Plain, "romeo", "capulet", "", sasl.ChannelBinding{}, sasl.ChannelBinding{}, false, "romeo", false},
		{"PLAIN unicode password", sasl.Plain, "ju,li=et", "pässwörd", "", sasl.ChannelBinding{}, sasl.ChannelBinding{}, false, "ju,li=et", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := newStore(t)
			s, err := sasl.NewServer(tc.mech, serverOptions(st, tc.serverBinding, tc.plusOffered))
			if err != nil {
				t.Fatalf("NewServer: %v", err)
			}
			c, err := sasl.NewClient(tc.mech, tc.user, tc.pass, tc.clientBinding)
			if err != nil {
				t.Fatalf("NewClient: %v", err)
			}
			c.SetAuthzid(tc.authzid)
			serr, cerr := exchange(t.Context(), c, s)
			if serr != nil || cerr != nil {
				t.Fatalf("exchange: server error %v, client error %v; want none", serr, cerr)
			}
			if got := s.Username(); got != tc.wantUser {
				t.Errorf("Username() = %q, want %q", got, tc.wantUser)
			}
			if got := s.Authzid(); got != tc.authzid {
				t.Errorf("Authzid() = %q, want %q", got, tc.authzid)
			}
			if got := c.Verified(); got != tc.wantVerified {
				t.Errorf("client Verified() = %v, want %v", got, tc.wantVerified)
			}
			if _, _, err := s.Step(t.Context(), []byte("x")); !errors.Is(err, sasl.ErrDone) {
				t.Errorf("server Step after success = %v, want ErrDone", err)
			}
			if _, err := c.Step([]byte("x")); !errors.Is(err, sasl.ErrDone) {
				t.Errorf("client Step after success = %v, want ErrDone", err)
			}
		})
	}
}

// TestFailures covers exchanges that must fail, with the condition the
// server reports and the step (1: first message, 2: final) it fails at.
func TestFailures(t *testing.T) {
	tests := []struct {
		name          string
		mech          string
		user, pass    string
		clientBinding sasl.ChannelBinding
		serverBinding sasl.ChannelBinding
		plusOffered   bool
		want          sasl.Condition
		wantText      string
	}{
		{"SCRAM-SHA-256 wrong password", sasl.SCRAMSHA256, "juliet", "wrong", sasl.ChannelBinding{}, sasl.ChannelBinding{}, false, sasl.NotAuthorized, ""},
		{"SCRAM-SHA-1 wrong password", sasl.SCRAMSHA1, "juliet", "wrong", sasl.ChannelBinding{}, sasl.ChannelBinding{}, false, sasl.NotAuthorized, ""},
		{"SCRAM-SHA-256-PLUS wrong password", sasl.SCRAMSHA256Plus, "juliet", "wrong", exporter, exporter, true, sasl.NotAuthorized, ""},
		{"PLAIN wrong password", sasl.Plain, "juliet", "wrong", sasl.ChannelBinding{}, sasl.ChannelBinding{}, false, sasl.NotAuthorized, ""},
		{"SCRAM-SHA-256 unknown user", sasl.SCRAMSHA256, "nobody", "r0m30myr0m30", sasl.ChannelBinding{}, sasl.ChannelBinding{}, false, sasl.NotAuthorized, ""},
		{"SCRAM-SHA-1-PLUS unknown user", sasl.SCRAMSHA1Plus, "nobody", "x", endPoint, endPoint, true, sasl.NotAuthorized, ""},
		{"PLAIN unknown user", sasl.Plain, "nobody", "r0m30myr0m30", sasl.ChannelBinding{}, sasl.ChannelBinding{}, false, sasl.NotAuthorized, ""},
		{"SCRAM-SHA-256 without SHA-256 credentials", sasl.SCRAMSHA256, "romeo", "capulet", sasl.ChannelBinding{}, sasl.ChannelBinding{}, false, sasl.NotAuthorized, ""},
		{"downgrade: y while -PLUS offered", sasl.SCRAMSHA256, "juliet", "r0m30myr0m30", both, both, true, sasl.NotAuthorized, "channel binding downgrade detected"},
		{"downgrade on SCRAM-SHA-1", sasl.SCRAMSHA1, "juliet", "r0m30myr0m30", exporter, exporter, true, sasl.NotAuthorized, "channel binding downgrade detected"},
		{"tampered tls-exporter data", sasl.SCRAMSHA256Plus, "juliet", "r0m30myr0m30", sasl.ChannelBinding{TLSExporter: bytes.Repeat([]byte{0xee}, 32)}, exporter, true, sasl.NotAuthorized, "channel binding mismatch"},
		{"tampered tls-server-end-point data", sasl.SCRAMSHA1Plus, "juliet", "r0m30myr0m30", sasl.ChannelBinding{TLSServerEndPoint: []byte{1}}, endPoint, true, sasl.NotAuthorized, "channel binding mismatch"},
		{"binding type unavailable on server", sasl.SCRAMSHA256Plus, "juliet", "r0m30myr0m30", exporter, endPoint, true, sasl.NotAuthorized, "unsupported channel binding type"},
		{"invalid username", sasl.SCRAMSHA256, "ju liet", "r0m30myr0m30", sasl.ChannelBinding{}, sasl.ChannelBinding{}, false, sasl.NotAuthorized, "invalid username"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := newStore(t)
			s, err := sasl.NewServer(tc.mech, serverOptions(st, tc.serverBinding, tc.plusOffered))
			if err != nil {
				t.Fatalf("NewServer: %v", err)
			}
			c, err := sasl.NewClient(tc.mech, tc.user, tc.pass, tc.clientBinding)
			if err != nil {
				// The client refuses names PRECIS rejects; speak for it.
				c, err = sasl.NewClient(tc.mech, "x", tc.pass, tc.clientBinding)
				if err != nil {
					t.Fatal(err)
				}
				first, _ := c.Step(nil)
				_, _, serr := s.Step(t.Context(), bytes.Replace(first, []byte("n=x,"), []byte("n="+tc.user+","), 1))
				se := wantCondition(t, serr, tc.want)
				if se.Text != tc.wantText {
					t.Errorf("Text = %q, want %q", se.Text, tc.wantText)
				}
				return
			}
			serr, cerr := exchange(t.Context(), c, s)
			if cerr != nil {
				t.Fatalf("client error %v before the server failed", cerr)
			}
			se := wantCondition(t, serr, tc.want)
			if se.Text != tc.wantText {
				t.Errorf("Text = %q, want %q", se.Text, tc.wantText)
			}
			if s.Username() != "" || s.Authzid() != "" {
				t.Errorf("after failure Username() = %q, Authzid() = %q; want empty", s.Username(), s.Authzid())
			}
			if c.Verified() {
				t.Error("client Verified() after failure")
			}
			if _, _, err := s.Step(t.Context(), []byte("x")); !errors.Is(err, sasl.ErrDone) {
				t.Errorf("Step after failure = %v, want ErrDone", err)
			}
		})
	}
}

// firstStep runs the client's first message through s and returns the
// server-first-message.
func firstStep(t *testing.T, s *sasl.Server, c *sasl.Client) string {
	t.Helper()
	first, err := c.Step(nil)
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := s.Step(t.Context(), first)
	if err != nil {
		t.Fatalf("Step(client-first): %v", err)
	}
	return string(out)
}

// saltAndCount cuts the nonce off a server-first-message.
func saltAndCount(t *testing.T, sf string) (nonce, rest string) {
	t.Helper()
	nonce, rest, ok := strings.Cut(sf, ",")
	if !ok {
		t.Fatalf("server-first-message %q has no salt", sf)
	}
	return nonce, rest
}

func TestUnknownUserIndistinguishable(t *testing.T) {
	st := newStore(t)
	run := func(user, pass string) (sf string, err error) {
		s, err := sasl.NewServer(sasl.SCRAMSHA256, serverOptions(st, sasl.ChannelBinding{}, false))
		if err != nil {
			t.Fatal(err)
		}
		c, err := sasl.NewClient(sasl.SCRAMSHA256, user, pass, sasl.ChannelBinding{})
		if err != nil {
			t.Fatal(err)
		}
		sf = firstStep(t, s, c)
		final, err := c.Step([]byte(sf))
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = s.Step(t.Context(), final)
		return sf, err
	}

	sf1, err1 := run("nobody", "pw")
	sf2, err2 := run("Nobody", "other") // same prepared name
	nonce1, params1 := saltAndCount(t, sf1)
	nonce2, params2 := saltAndCount(t, sf2)
	if params1 != params2 {
		t.Errorf("unknown user: salt and count differ between attempts: %q vs %q", params1, params2)
	}
	if nonce1 == nonce2 {
		t.Errorf("server nonce repeated: %q", nonce1)
	}
	if want := fmt.Sprintf(",i=%d", testIterations); !strings.HasSuffix(params1, want) {
		t.Errorf("unknown user params %q, want iteration count suffix %q", params1, want)
	}
	_, paramsOther := saltAndCount(t, must(run("somebody", "pw")))
	if paramsOther == params1 {
		t.Errorf("two unknown users got the same salt %q", params1)
	}

	_, errWrong := run("juliet", "wrong")
	wantCondition(t, err1, sasl.NotAuthorized)
	wantCondition(t, err2, sasl.NotAuthorized)
	// Same condition, text and (absent) cause: nothing tells them apart.
	if d := cmp.Diff(errWrong, err1); d != "" {
		t.Errorf("unknown user and wrong password errors differ (-wrong +unknown):\n%s", d)
	}

	// A different secret gives a different fake salt.
	opts := serverOptions(st, sasl.ChannelBinding{}, false)
	opts.Secret = bytes.Repeat([]byte{7}, 32)
	s, err := sasl.NewServer(sasl.SCRAMSHA256, opts)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := sasl.NewClient(sasl.SCRAMSHA256, "nobody", "pw", sasl.ChannelBinding{})
	if _, params := saltAndCount(t, firstStep(t, s, c)); params == params1 {
		t.Errorf("fake salt does not depend on the secret: %q", params)
	}
}

func must(sf string, _ error) string { return sf }

func TestDeferredLookupError(t *testing.T) {
	for _, mech := range []string{sasl.SCRAMSHA256, sasl.Plain} {
		t.Run(mech, func(t *testing.T) {
			st := newStore(t)
			st.found["juliet"] = &sasl.Error{Condition: sasl.AccountDisabled, Text: "disabled by the admin"}
			for _, tc := range []struct {
				pass string
				want sasl.Condition
			}{
				{"wrong", sasl.NotAuthorized},
				{"r0m30myr0m30", sasl.AccountDisabled},
			} {
				s, err := sasl.NewServer(mech, serverOptions(st, sasl.ChannelBinding{}, false))
				if err != nil {
					t.Fatal(err)
				}
				c, err := sasl.NewClient(mech, "juliet", tc.pass, sasl.ChannelBinding{})
				if err != nil {
					t.Fatal(err)
				}
				serr, _ := exchange(t.Context(), c, s)
				wantCondition(t, serr, tc.want)
				if s.Username() != "" {
					t.Errorf("Username() = %q after failure", s.Username())
				}
			}
		})
	}
}

func TestLookupFailures(t *testing.T) {
	errStore := errors.New("disk on fire")
	tests := []struct {
		name     string
		mutate   func(*store)
		ctx      func() context.Context
		want     sasl.Condition
		wantWrap error
	}{
		{"store error", func(st *store) { st.err = errStore }, context.Background, sasl.TemporaryAuthFailure, errStore},
		{"store returns *Error for unknown user", func(st *store) { st.err = &sasl.Error{Condition: sasl.CredentialsExpired} }, context.Background, sasl.CredentialsExpired, nil},
		{"wrong hash stored", func(st *store) {
			c := st.users["juliet"][sasl.SHA1]
			st.users["juliet"][sasl.SHA256] = c
		}, context.Background, sasl.TemporaryAuthFailure, sasl.ErrCredentials},
		{"low iteration count stored", func(st *store) {
			c := st.users["juliet"][sasl.SHA256]
			c.Iterations = 1
			st.users["juliet"][sasl.SHA256] = c
		}, context.Background, sasl.TemporaryAuthFailure, sasl.ErrCredentials},
		{"short key stored", func(st *store) {
			c := st.users["juliet"][sasl.SHA256]
			c.StoredKey = c.StoredKey[:20]
			st.users["juliet"][sasl.SHA256] = c
		}, context.Background, sasl.TemporaryAuthFailure, sasl.ErrCredentials},
		{"cancelled context", func(*store) {}, func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, sasl.TemporaryAuthFailure, context.Canceled},
	}
	for _, tc := range tests {
		for _, mech := range []string{sasl.SCRAMSHA256, sasl.Plain} {
			t.Run(tc.name+"/"+mech, func(t *testing.T) {
				st := newStore(t)
				tc.mutate(st)
				s, err := sasl.NewServer(mech, serverOptions(st, sasl.ChannelBinding{}, false))
				if err != nil {
					t.Fatal(err)
				}
				c, _ := sasl.NewClient(mech, "juliet", "r0m30myr0m30", sasl.ChannelBinding{})
				first, _ := c.Step(nil)
				_, _, err = s.Step(tc.ctx(), first)
				se := wantCondition(t, err, tc.want)
				if tc.wantWrap != nil && !errors.Is(err, tc.wantWrap) {
					t.Errorf("err = %v, want it to wrap %v", err, tc.wantWrap)
				}
				if se.Text != "" {
					t.Errorf("Text = %q, want none (causes stay local)", se.Text)
				}
			})
		}
	}
}

// TestMalformedExchanges feeds hand-written messages to a server.
func TestMalformedExchanges(t *testing.T) {
	tests := []struct {
		name        string
		mech        string
		binding     sasl.ChannelBinding
		plusOffered bool
		first       string
		// final, if set, replaces the client-final-message; %s is the
		// combined nonce and the proof is garbage of the right size.
		final string
		want  sasl.Condition
	}{
		{name: "p= on SCRAM-SHA-256", mech: sasl.SCRAMSHA256, binding: exporter, plusOffered: true, first: "p=tls-exporter,,n=juliet,r=abc", want: sasl.MalformedRequest},
		{name: "n on -PLUS", mech: sasl.SCRAMSHA256Plus, binding: exporter, plusOffered: true, first: "n,,n=juliet,r=abc", want: sasl.MalformedRequest},
		{name: "y on -PLUS", mech: sasl.SCRAMSHA256Plus, binding: exporter, plusOffered: true, first: "y,,n=juliet,r=abc", want: sasl.MalformedRequest},
		{name: "unknown cb-name", mech: sasl.SCRAMSHA256Plus, binding: both, plusOffered: true, first: "p=tls-unique,,n=juliet,r=abc", want: sasl.NotAuthorized},
		{name: "mandatory extension", mech: sasl.SCRAMSHA256, first: "n,,m=x,n=juliet,r=abc", want: sasl.MalformedRequest},
		{name: "bad username escape", mech: sasl.SCRAMSHA256, first: "n,,n=jul=iet,r=abc", want: sasl.MalformedRequest},
		{name: "non-printable nonce", mech: sasl.SCRAMSHA256, first: "n,,n=juliet,r=a\x01c", want: sasl.MalformedRequest},
		{name: "wrong nonce echo", mech: sasl.SCRAMSHA256, first: "n,,n=juliet,r=abc", final: "c=biws,r=abcX,p=" + b64(32), want: sasl.MalformedRequest},
		{name: "client nonce only", mech: sasl.SCRAMSHA256, first: "n,,n=juliet,r=abc", final: "c=biws,r=abc,p=" + b64(32), want: sasl.MalformedRequest},
		{name: "c= claims y after n", mech: sasl.SCRAMSHA256, first: "n,,n=juliet,r=abc", final: "c=eSws,r=%s,p=" + b64(32), want: sasl.NotAuthorized},
		{name: "c= drops authzid", mech: sasl.SCRAMSHA256, first: "n,a=romeo,n=juliet,r=abc", final: "c=biws,r=%s,p=" + b64(32), want: sasl.NotAuthorized},
		{name: "c= without binding data on -PLUS", mech: sasl.SCRAMSHA256Plus, binding: exporter, plusOffered: true, first: "p=tls-exporter,,n=juliet,r=abc", final: "c=" + base64.StdEncoding.EncodeToString([]byte("p=tls-exporter,,")) + ",r=%s,p=" + b64(32), want: sasl.NotAuthorized},
		{name: "short proof", mech: sasl.SCRAMSHA256, first: "n,,n=juliet,r=abc", final: "c=biws,r=%s,p=" + b64(20), want: sasl.MalformedRequest},
		{name: "garbage proof", mech: sasl.SCRAMSHA256, first: "n,,n=juliet,r=abc", final: "c=biws,r=%s,p=" + b64(32), want: sasl.NotAuthorized},
		{name: "proof not last", mech: sasl.SCRAMSHA256, first: "n,,n=juliet,r=abc", final: "c=biws,r=%s,p=" + b64(32) + ",x=y", want: sasl.MalformedRequest},
		{name: "PLAIN one NUL", mech: sasl.Plain, first: "juliet\x00r0m30myr0m30", want: sasl.MalformedRequest},
		{name: "PLAIN invalid UTF-8", mech: sasl.Plain, first: "\x00juliet\x00r0m30\xff", want: sasl.MalformedRequest},
		{name: "PLAIN invalid username", mech: sasl.Plain, first: "\x00ju liet\x00r0m30myr0m30", want: sasl.NotAuthorized},
		{name: "PLAIN password rejected by PRECIS", mech: sasl.Plain, first: "\x00juliet\x00r0m30\u0007", want: sasl.NotAuthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := sasl.NewServer(tc.mech, serverOptions(newStore(t), tc.binding, tc.plusOffered))
			if err != nil {
				t.Fatal(err)
			}
			out, _, err := s.Step(t.Context(), []byte(tc.first))
			if tc.final == "" {
				wantCondition(t, err, tc.want)
				return
			}
			if err != nil {
				t.Fatalf("Step(client-first) = %v, want success", err)
			}
			nonce, _, _ := strings.Cut(strings.TrimPrefix(string(out), "r="), ",")
			final := tc.final
			if strings.Contains(final, "%s") {
				final = fmt.Sprintf(final, nonce)
			}
			_, _, err = s.Step(t.Context(), []byte(final))
			wantCondition(t, err, tc.want)
		})
	}
}

func b64(n int) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x5a}, n)) }

func TestEmptyInitialResponse(t *testing.T) {
	for _, mech := range []string{sasl.SCRAMSHA256, sasl.Plain} {
		t.Run(mech, func(t *testing.T) {
			st := newStore(t)
			s, err := sasl.NewServer(mech, serverOptions(st, sasl.ChannelBinding{}, false))
			if err != nil {
				t.Fatal(err)
			}
			out, done, err := s.Step(t.Context(), nil)
			if err != nil || done || out == nil || len(out) != 0 {
				t.Fatalf("Step(nil) = %q (nil: %v), %v, %v; want empty non-nil challenge", out, out == nil, done, err)
			}
			c, _ := sasl.NewClient(mech, "juliet", "r0m30myr0m30", sasl.ChannelBinding{})
			if serr, cerr := exchange(t.Context(), c, s); serr != nil || cerr != nil {
				t.Fatalf("exchange after empty challenge: %v, %v", serr, cerr)
			}

			s, _ = sasl.NewServer(mech, serverOptions(st, sasl.ChannelBinding{}, false))
			s.Step(t.Context(), nil)
			_, _, err = s.Step(t.Context(), []byte{})
			wantCondition(t, err, sasl.MalformedRequest)
		})
	}
}

// recordingReader hands out a fixed byte and counts what it gave.
type recordingReader struct{ n int }

func (r *recordingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 0xa5
	}
	r.n += len(p)
	return len(p), nil
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("entropy exhausted") }

func TestServerNonce(t *testing.T) {
	rr := &recordingReader{}
	opts := serverOptions(newStore(t), sasl.ChannelBinding{}, false)
	opts.Rand = rr
	s, err := sasl.NewServer(sasl.SCRAMSHA256, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rr.n < 18 {
		t.Errorf("server read %d random bytes for its nonce, want at least 18", rr.n)
	}
	out, _, err := s.Step(t.Context(), []byte("n,,n=juliet,r=abc"))
	if err != nil {
		t.Fatal(err)
	}
	want := "r=abc" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xa5}, rr.n)) + ","
	if !strings.HasPrefix(string(out), want) {
		t.Errorf("server-first-message = %q, want prefix %q", out, want)
	}

	opts.Rand = failingReader{}
	_, err = sasl.NewServer(sasl.SCRAMSHA256, opts)
	wantCondition(t, err, sasl.TemporaryAuthFailure)
}

func TestNewServerErrors(t *testing.T) {
	st := newStore(t)
	tests := []struct {
		name   string
		mech   string
		mutate func(*sasl.ServerOptions)
		want   error
	}{
		{"unknown mechanism", "DIGEST-MD5", nil, &sasl.Error{Condition: sasl.InvalidMechanism}},
		{"lower-case name", "scram-sha-256", nil, &sasl.Error{Condition: sasl.InvalidMechanism}},
		{"EXTERNAL is not a password mechanism", sasl.External, nil, &sasl.Error{Condition: sasl.InvalidMechanism}},
		{"-PLUS not offered", sasl.SCRAMSHA256Plus, func(o *sasl.ServerOptions) { o.Binding = exporter }, &sasl.Error{Condition: sasl.InvalidMechanism}},
		{"no lookup", sasl.SCRAMSHA256, func(o *sasl.ServerOptions) { o.Lookup = nil }, sasl.ErrOptions},
		{"short secret", sasl.Plain, func(o *sasl.ServerOptions) { o.Secret = []byte("short") }, sasl.ErrOptions},
		{"plus offered without binding", sasl.SCRAMSHA256, func(o *sasl.ServerOptions) { o.PlusOffered = true }, sasl.ErrOptions},
		{"iterations too low", sasl.SCRAMSHA256, func(o *sasl.ServerOptions) { o.Iterations = 100 }, sasl.ErrIterations},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := serverOptions(st, sasl.ChannelBinding{}, false)
			if tc.mutate != nil {
				tc.mutate(&opts)
			}
			s, err := sasl.NewServer(tc.mech, opts)
			if !errors.Is(err, tc.want) {
				t.Fatalf("NewServer = %v, %v; want error %v", s, err, tc.want)
			}
		})
	}
}

func TestMechanisms(t *testing.T) {
	tests := []struct {
		name  string
		b     sasl.ChannelBinding
		plain bool
		want  []string
	}{
		{"nothing", sasl.ChannelBinding{}, false, []string{"SCRAM-SHA-256", "SCRAM-SHA-1"}},
		{"plain", sasl.ChannelBinding{}, true, []string{"SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"}},
		{"binding", endPoint, true, []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"}},
		{"empty binding slices", sasl.ChannelBinding{TLSExporter: []byte{}}, false, []string{"SCRAM-SHA-256", "SCRAM-SHA-1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if d := cmp.Diff(tc.want, sasl.Mechanisms(tc.b, tc.plain)); d != "" {
				t.Errorf("Mechanisms mismatch (-want +got):\n%s", d)
			}
		})
	}
}
