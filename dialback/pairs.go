package dialback

import "sync"

// Pair is a domain pair: stanzas flow from Sender to Target (XEP-0220
// §1.3). On an outbound stream the Sender is ours; on an inbound stream the
// Target is.
type Pair struct {
	Sender, Target string
}

// State is where a domain pair stands on one stream.
type State uint8

// The states of a pair.
const (
	// Idle: nothing asked, or a request failed; a new request may start.
	Idle State = iota
	// Pending: a request was sent (outbound) or received (inbound) and its
	// answer is awaited. Stanzas for the pair wait (outbound) or are
	// refused (inbound).
	Pending
	// Authorized: the pair is authorized on this stream, by dialback or by SASL
	// EXTERNAL; it stays so until the stream ends.
	Authorized
)

func (s State) String() string {
	switch s {
	case Idle:
		return "idle"
	case Pending:
		return "pending"
	case Authorized:
		return "authorized"
	}
	return "unknown"
}

// Pairs is the authorization table of one stream: the state machine of
// every domain pair negotiated on it. The transitions are
//
//	Idle    --Begin-->        Pending
//	Pending --Finish(true)--> Authorized
//	Pending --Finish(false)-> Idle
//	any     --Authenticate--> Authorized
//	Pending --Abort-->        Idle
//
// Everything else is refused: a second Begin while Pending ([ErrPending])
// or once Authorized ([ErrValid]), and a Finish for a pair that is not Pending
// ([ErrUnsolicited]) — the "unsolicited dialback" attacks of XEP-0220 §3.1
// are answers nobody asked for on that stream. The zero value is an empty
// table, safe for concurrent use.
type Pairs struct {
	mu sync.Mutex
	m  map[Pair]State
}

// State returns the state of pair.
func (p *Pairs) State(pair Pair) State {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.m[pair]
}

// Valid reports whether pair is authorized.
func (p *Pairs) Valid(pair Pair) bool { return p.State(pair) == Authorized }

// AnyValid reports whether any pair is authorized on the stream.
func (p *Pairs) AnyValid() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.m {
		if s == Authorized {
			return true
		}
	}
	return false
}

// SenderValid reports whether sender is authorized towards any target.
func (p *Pairs) SenderValid(sender string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for pair, s := range p.m {
		if s == Authorized && pair.Sender == sender {
			return true
		}
	}
	return false
}

// Begin moves pair from Idle to Pending.
func (p *Pairs) Begin(pair Pair) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch p.m[pair] {
	case Pending:
		return ErrPending
	case Authorized:
		return ErrValid
	}
	p.set(pair, Pending)
	return nil
}

// Finish records the answer for a pending pair.
func (p *Pairs) Finish(pair Pair, valid bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m[pair] != Pending {
		return ErrUnsolicited
	}
	if valid {
		p.set(pair, Authorized)
	} else {
		delete(p.m, pair)
	}
	return nil
}

// Authenticate marks pair Authorized without dialback, after SASL EXTERNAL
// (XEP-0178) authenticated the stream.
func (p *Pairs) Authenticate(pair Pair) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.set(pair, Authorized)
}

// Abort returns every Pending pair to Idle and returns them: the stream
// closed before their answers came.
func (p *Pairs) Abort() []Pair {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Pair
	for pair, s := range p.m {
		if s == Pending {
			out = append(out, pair)
			delete(p.m, pair)
		}
	}
	return out
}

func (p *Pairs) set(pair Pair, s State) {
	if p.m == nil {
		p.m = make(map[Pair]State)
	}
	p.m[pair] = s
}

// Verifications tracks the <db:verify/> requests sent on one stream, so
// that each answer is matched to its request by its from, to and id
// (XEP-0220 §2.1.2) and answers nobody asked for are refused. The zero
// value is ready; it is safe for concurrent use.
type Verifications struct {
	mu      sync.Mutex
	waiting map[verifyKey][]chan Element
	aborted bool
}

// verifyKey is a request's (to, from, id): its answer's (from, to, id).
type verifyKey struct{ authority, receiving, id string }

// Add registers the request req and returns the channel its answer will
// be delivered on. The channel is closed without a value if the stream
// ends first ([Verifications.Abort]).
func (v *Verifications) Add(req Element) <-chan Element {
	ch := make(chan Element, 1)
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.aborted {
		close(ch)
		return ch
	}
	if v.waiting == nil {
		v.waiting = make(map[verifyKey][]chan Element)
	}
	k := verifyKey{req.To, req.From, req.ID}
	v.waiting[k] = append(v.waiting[k], ch)
	return ch
}

// Resolve delivers the answer ans to the oldest request it matches, or
// returns [ErrUnsolicited].
func (v *Verifications) Resolve(ans Element) error {
	k := verifyKey{ans.From, ans.To, ans.ID}
	v.mu.Lock()
	defer v.mu.Unlock()
	list := v.waiting[k]
	if len(list) == 0 {
		return ErrUnsolicited
	}
	ch := list[0]
	if len(list) == 1 {
		delete(v.waiting, k)
	} else {
		v.waiting[k] = list[1:]
	}
	ch <- ans
	return nil
}

// Len returns the number of requests waiting for an answer.
func (v *Verifications) Len() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	for _, l := range v.waiting {
		n += len(l)
	}
	return n
}

// Abort ends every waiting request, and any added later, without an
// answer.
func (v *Verifications) Abort() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.aborted = true
	for k, list := range v.waiting {
		for _, ch := range list {
			close(ch)
		}
		delete(v.waiting, k)
	}
}
