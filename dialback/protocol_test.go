package dialback

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"roost/stanza"
)

func TestPairsTransitions(t *testing.T) {
	ab := Pair{Sender: "a.example", Target: "b.example"}
	type step struct {
		op    string // begin, ok, fail, auth, abort
		want  error
		state State
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"dialback succeeds", []step{{"begin", nil, Pending}, {"ok", nil, Authorized}}},
		{"dialback fails, may retry", []step{{"begin", nil, Pending}, {"fail", nil, Idle}, {"begin", nil, Pending}}},
		{"second request while pending", []step{{"begin", nil, Pending}, {"begin", ErrPending, Pending}}},
		{"request once authorized", []step{{"auth", nil, Authorized}, {"begin", ErrValid, Authorized}}},
		{"unsolicited valid answer", []step{{"ok", ErrUnsolicited, Idle}}},
		{"answer after the answer", []step{{"begin", nil, Pending}, {"fail", nil, Idle}, {"ok", ErrUnsolicited, Idle}}},
		{"answer for an authorized pair", []step{{"auth", nil, Authorized}, {"fail", ErrUnsolicited, Authorized}}},
		{"stream closes while pending", []step{{"begin", nil, Pending}, {"abort", nil, Idle}, {"ok", ErrUnsolicited, Idle}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p Pairs
			for i, s := range tc.steps {
				var err error
				switch s.op {
				case "begin":
					err = p.Begin(ab)
				case "ok":
					err = p.Finish(ab, true)
				case "fail":
					err = p.Finish(ab, false)
				case "auth":
					p.Authenticate(ab)
				case "abort":
					if got := p.Abort(); len(got) != 1 || got[0] != ab {
						t.Errorf("step %d: Abort() = %v, want [%v]", i, got, ab)
					}
				}
				if !errors.Is(err, s.want) || (s.want == nil && err != nil) {
					t.Fatalf("step %d (%s): err = %v, want %v", i, s.op, err, s.want)
				}
				if got := p.State(ab); got != s.state {
					t.Fatalf("step %d (%s): state = %s, want %s", i, s.op, got, s.state)
				}
			}
			if other := (Pair{Sender: "c.example", Target: "b.example"}); p.State(other) != Idle {
				t.Errorf("another pair changed state")
			}
		})
	}
}

func TestPairsQueries(t *testing.T) {
	var p Pairs
	if p.AnyValid() || p.SenderValid("a.example") {
		t.Fatal("empty table reports an authorized pair")
	}
	_ = p.Begin(Pair{"a.example", "b.example"})
	if p.AnyValid() {
		t.Error("a pending pair counts as authorized")
	}
	p.Authenticate(Pair{"conference.a.example", "b.example"})
	if !p.AnyValid() || !p.SenderValid("conference.a.example") || p.SenderValid("a.example") {
		t.Errorf("AnyValid %v, SenderValid(conference) %v, SenderValid(a) %v", p.AnyValid(), p.SenderValid("conference.a.example"), p.SenderValid("a.example"))
	}
}

func TestVerifications(t *testing.T) {
	var v Verifications
	req := Element{Kind: Verify, From: "b.example", To: "a.example", ID: "s1", Key: "k"}
	first, second := v.Add(req), v.Add(req)
	other := v.Add(Element{Kind: Verify, From: "b.example", To: "a.example", ID: "s2", Key: "k"})
	if v.Len() != 3 {
		t.Fatalf("Len = %d, want 3", v.Len())
	}
	tests := []struct {
		name string
		ans  Element
		want error
	}{
		{"answer from another domain", Element{Kind: Verify, From: "evil.example", To: "b.example", ID: "s1", Type: Valid}, ErrUnsolicited},
		{"answer with another id", Element{Kind: Verify, From: "a.example", To: "b.example", ID: "s9", Type: Valid}, ErrUnsolicited},
		{"answer not swapped", Element{Kind: Verify, From: "b.example", To: "a.example", ID: "s1", Type: Valid}, ErrUnsolicited},
		{"first answer", Element{Kind: Verify, From: "a.example", To: "b.example", ID: "s1", Type: Valid}, nil},
		{"second answer", Element{Kind: Verify, From: "a.example", To: "b.example", ID: "s1", Type: Invalid}, nil},
		{"third answer", Element{Kind: Verify, From: "a.example", To: "b.example", ID: "s1", Type: Valid}, ErrUnsolicited},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := v.Resolve(tc.ans); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Errorf("Resolve = %v, want %v", err, tc.want)
			}
		})
	}
	if got := (<-first).Type; got != Valid {
		t.Errorf("first request got %s, want valid (answers go in order)", got)
	}
	if got := (<-second).Type; got != Invalid {
		t.Errorf("second request got %s, want invalid", got)
	}
	v.Abort()
	if _, ok := <-other; ok {
		t.Error("an aborted request got an answer")
	}
	if _, ok := <-v.Add(req); ok {
		t.Error("a request added after Abort got an answer")
	}
}

func TestInitiateAndOutcome(t *testing.T) {
	k := NewKeyer([]byte("secret"))
	var p Pairs
	pair := Pair{Sender: "a.example", Target: "b.example"}
	req, err := k.Initiate(&p, pair, "sid")
	if err != nil {
		t.Fatal(err)
	}
	want := Element{Kind: Result, From: "a.example", To: "b.example", Key: k.Key("b.example", "a.example", "sid")}
	if diff := cmp.Diff(want, req); diff != "" {
		t.Fatalf("Initiate mismatch (-want +got):\n%s", diff)
	}
	if _, err := k.Initiate(&p, pair, "sid"); !errors.Is(err, ErrPending) {
		t.Errorf("second Initiate: %v, want ErrPending", err)
	}
	tests := []struct {
		name  string
		ans   Element
		want  error
		state State
	}{
		{"a request is not an answer", Element{Kind: Result, From: "b.example", To: "a.example", Key: "x"}, ErrUnsolicited, Pending},
		{"a verify is not a result", Element{Kind: Verify, From: "b.example", To: "a.example", ID: "sid", Type: Valid}, ErrUnsolicited, Pending},
		{"answer for a pair never asked", Element{Kind: Result, From: "b.example", To: "evil.example", Type: Valid}, ErrUnsolicited, Pending},
		{"valid", Element{Kind: Result, From: "b.example", To: "a.example", Type: Valid}, nil, Authorized},
		{"again", Element{Kind: Result, From: "b.example", To: "a.example", Type: Valid}, ErrUnsolicited, Authorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Outcome(&p, tc.ans)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Errorf("Outcome error = %v, want %v", err, tc.want)
			}
			if err == nil && got != pair {
				t.Errorf("Outcome pair = %v, want %v", got, pair)
			}
			if s := p.State(pair); s != tc.state {
				t.Errorf("state = %s, want %s", s, tc.state)
			}
		})
	}
}

func TestKeyerAnswer(t *testing.T) {
	k := NewKeyer([]byte("secret"))
	hosted := func(d string) bool { return d == "a.example" }
	good := k.Key("b.example", "a.example", "sid")
	tests := []struct {
		name     string
		req      Element
		wantType Type
		wantCond stanza.Condition
	}{
		{"our key", Element{Kind: Verify, From: "b.example", To: "a.example", ID: "sid", Key: good}, Valid, ""},
		{"wrong key", Element{Kind: Verify, From: "b.example", To: "a.example", ID: "sid", Key: good[1:] + "0"}, Invalid, ""},
		{"asked by another receiving server", Element{Kind: Verify, From: "c.example", To: "a.example", ID: "sid", Key: good}, Invalid, ""},
		{"not ours", Element{Kind: Verify, From: "b.example", To: "x.example", ID: "sid", Key: good}, Error, stanza.ItemNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := k.Answer(tc.req, hosted)
			if got.Type != tc.wantType || got.From != tc.req.To || got.To != tc.req.From || got.ID != tc.req.ID {
				t.Fatalf("Answer = %+v, want type %s with addresses swapped and id kept", got, tc.wantType)
			}
			if tc.wantCond != "" && (got.Err == nil || got.Err.Condition != tc.wantCond) {
				t.Errorf("Answer error = %v, want %s", got.Err, tc.wantCond)
			}
		})
	}
}

// fakeVerifier answers as an Authoritative Server would, or fails.
type fakeVerifier struct {
	keys  *Keyer
	err   error
	wrong bool // answer for another stream id
	calls int
}

func (f *fakeVerifier) Verify(_ context.Context, req Element) (Element, error) {
	f.calls++
	if f.err != nil {
		return Element{}, f.err
	}
	ans := f.keys.Answer(req, func(string) bool { return true })
	if f.wrong {
		ans.ID += "x"
	}
	return ans, nil
}

func TestReceiver(t *testing.T) {
	authority := NewKeyer([]byte("b's secret"))
	good := authority.Key("a.example", "b.example", "sid")
	req := Element{Kind: Result, From: "b.example", To: "a.example", Key: good}
	tests := []struct {
		name         string
		req          Element
		trusted      bool
		requireTrust bool
		preset       State
		verifier     fakeVerifier
		wantDecision Decision
		wantType     Type
		wantCond     stanza.Condition
		wantState    State
		wantCalls    int
	}{
		{name: "verified with the authoritative server", req: req, wantDecision: Check, wantType: Valid, wantState: Authorized, wantCalls: 1},
		{name: "wrong key", req: Element{Kind: Result, From: "b.example", To: "a.example", Key: "0" + good[1:]}, wantDecision: Check, wantType: Invalid, wantState: Idle, wantCalls: 1},
		{name: "not our domain", req: Element{Kind: Result, From: "b.example", To: "x.example", Key: good}, wantDecision: Answer, wantType: Error, wantCond: stanza.ItemNotFound, wantState: Idle},
		{name: "trusted certificate needs no verification", req: req, trusted: true, wantDecision: Answer, wantType: Valid, wantState: Authorized},
		{name: "untrusted refused by policy", req: req, requireTrust: true, wantDecision: Answer, wantType: Error, wantCond: stanza.NotAuthorized, wantState: Idle},
		{name: "trusted accepted by policy", req: req, trusted: true, requireTrust: true, wantDecision: Answer, wantType: Valid, wantState: Authorized},
		{name: "repeated while pending", req: req, preset: Pending, wantDecision: Drop, wantState: Pending},
		{name: "repeated once authorized", req: req, preset: Authorized, wantDecision: Answer, wantType: Valid, wantState: Authorized},
		{name: "authoritative server unreachable", req: req, verifier: fakeVerifier{err: errors.New("connection refused")}, wantDecision: Check, wantType: Error, wantCond: stanza.RemoteServerNotFound, wantState: Idle, wantCalls: 1},
		{name: "authoritative server too slow", req: req, verifier: fakeVerifier{err: fmt.Errorf("verify: %w", context.DeadlineExceeded)}, wantDecision: Check, wantType: Error, wantCond: stanza.RemoteServerNotFound, wantState: Idle, wantCalls: 1},
		{name: "answer for another stream", req: req, verifier: fakeVerifier{wrong: true}, wantDecision: Check, wantType: Error, wantCond: stanza.RemoteServerNotFound, wantState: Idle, wantCalls: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := tc.verifier
			v.keys = authority
			r := Receiver{
				Hosted:       func(d string) bool { return d == "a.example" },
				Trusted:      func(string) bool { return tc.trusted },
				RequireTrust: tc.requireTrust,
				Verifier:     &v,
			}
			var p Pairs
			pair := Pair{Sender: tc.req.From, Target: tc.req.To}
			switch tc.preset {
			case Pending:
				_ = p.Begin(pair)
			case Authorized:
				p.Authenticate(pair)
			}
			ans, d := r.Receive(&p, tc.req)
			if d != tc.wantDecision {
				t.Fatalf("decision = %d, want %d", d, tc.wantDecision)
			}
			if d == Check {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				ans = r.Check(ctx, &p, "sid", tc.req)
			}
			if d != Drop {
				if ans.Kind != Result || ans.Type != tc.wantType || ans.From != tc.req.To || ans.To != tc.req.From {
					t.Errorf("answer = %+v, want a %s result from %s to %s", ans, tc.wantType, tc.req.To, tc.req.From)
				}
				if tc.wantCond != "" && (ans.Err == nil || ans.Err.Condition != tc.wantCond) {
					t.Errorf("answer error = %v, want %s", ans.Err, tc.wantCond)
				}
			}
			if s := p.State(pair); s != tc.wantState {
				t.Errorf("state = %s, want %s", s, tc.wantState)
			}
			if v.calls != tc.wantCalls {
				t.Errorf("verifier called %d times, want %d", v.calls, tc.wantCalls)
			}
		})
	}
}
