package loadtool

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"roost/xmlstream"
)

// MsgsOptions configure a message load: Pairs pairs of sessions, the
// first of each pair on A and the second on B, send chat messages to each
// other's bare JID. A and B are the same server for the routing load, and
// two servers for federation.
type MsgsOptions struct {
	A, B Target
	// AUsers and BUsers name the accounts (local parts) of each pair's
	// sessions on A and B; both need at least Pairs entries.
	AUsers, BUsers []string
	Password       string
	Pairs          int
	// Window is the most messages in flight in each direction of a pair
	// (sent, not yet received).
	Window int
	// Rate is the total offered load in messages per second, spread evenly
	// over the directions; 0 sends as fast as the windows allow.
	// Latencies at a fixed rate are measured from when each message was
	// sent, or was due if the sender had fallen behind (its window full),
	// so a server that falls behind is charged for the backlog.
	Rate float64
	// Relay makes A a relay (the floor) instead of an XMPP server.
	Relay bool
	// Run: at most 10 million messages by default.
	Run
}

// Run is what the message loads (Msgs, MUC) share: their timing, their
// bounds, how they connect and what they measure.
type Run struct {
	// Warmup runs the load unmeasured; Duration is the measured window
	// (10s).
	Warmup, Duration time.Duration
	// Drain bounds the wait for messages in flight after the window (10s).
	Drain time.Duration
	// MaxMessages bounds the messages sent in the whole run (the load's
	// default when 0).
	MaxMessages int64
	// Concurrency bounds parallel logins while the sessions are set up (8).
	Concurrency int
	Dialer      *Dialer
	Proc        Proc
}

// defaults fills what is unset, with maxMessages for MaxMessages.
func (r *Run) defaults(maxMessages int64) {
	r.Duration = cmp.Or(max(r.Duration, 0), 10*time.Second)
	r.Drain = cmp.Or(max(r.Drain, 0), 10*time.Second)
	r.MaxMessages = cmp.Or(max(r.MaxMessages, 0), maxMessages)
	r.Concurrency = cmp.Or(max(r.Concurrency, 0), 8)
	if r.Dialer == nil {
		r.Dialer = &Dialer{}
	}
}

// MsgsResult is what a message load measured.
type MsgsResult struct {
	Pairs, Window int
	Offered       float64 // messages per second; 0 for as fast as possible
	// Seconds is the measured window's length.
	Seconds float64
	// Sent and Delivered count messages sent and received within the
	// window; Lost counts messages of the whole run never received.
	Sent, Delivered, Lost int64
	// Rate is Delivered per second.
	Rate    float64
	Latency Latency
	// CPU is the CPU time each measured server used within the window, by
	// target name; PerCPU is Delivered divided by their sum in seconds.
	CPU    map[string]time.Duration
	PerCPU float64
	// TLS describes the negotiated TLS of the first session.
	TLS string
	// Errors counts session failures; FirstError describes the first.
	Errors     int64
	FirstError string
}

func (o *MsgsOptions) defaults() error {
	if o.Pairs <= 0 || len(o.AUsers) < o.Pairs || len(o.BUsers) < o.Pairs {
		return fmt.Errorf("msgs: %d pairs need as many users on each side (have %d, %d): %w", o.Pairs, len(o.AUsers), len(o.BUsers), ErrOptions)
	}
	o.Window = cmp.Or(max(o.Window, 0), 1)
	o.Run.defaults(10_000_000)
	return nil
}

// Phases of a run, as receivers see them.
const (
	phaseWarmup int32 = iota
	phaseMeasure
	phaseDrain
)

// direction is one sender→receiver path of a pair.
type direction struct {
	pair int
	side byte // who sends: 'a' or 'b'
	// slots holds one token per message in flight; the sender blocks when
	// it is full and the receiver takes a token out.
	slots chan struct{}
	send  func([]byte) error
	// prefix is the message up to its id; suffix follows the body text.
	prefix []byte
}

// msgRun is the shared state of one Msgs call.
type msgRun struct {
	o     *MsgsOptions
	run   string
	start time.Time
	tally

	dirs map[[2]int]*direction // by pair and side (0 'a', 1 'b')

	mu    sync.Mutex
	hists []*hist
}

// tally is what a message load (Msgs, MUC) counts while it runs.
type tally struct {
	phase                     atomic.Int32
	sent, received, delivered atomic.Int64
	errors                    atomic.Int64
	errOnce                   sync.Once
	firstErr                  string
}

func (t *tally) fail(err error) {
	t.errors.Add(1)
	t.errOnce.Do(func() { t.firstErr = err.Error() })
}

// window is the measured part of a run.
type window struct {
	sent    int64   // messages sent within it
	seconds float64 // its length
	// cpu is the CPU time each measured target used within it, by name.
	cpu map[string]time.Duration
}

// measure runs a load whose senders have started: the warm-up, then the
// measured window between two readings of the CPU time of targets. It
// then stops the senders (closing stop, waiting for senders) and lets
// the messages in flight arrive, until want() have or the drain ends.
func (t *tally) measure(ctx context.Context, o *Run, targets []Target, stop chan struct{}, senders *sync.WaitGroup, want func() int64) (window, error) {
	if !sleepCtx(ctx, o.Warmup) {
		close(stop)
		return window{}, ctx.Err()
	}
	before, err := cpuOf(o.Proc, targets)
	if err != nil {
		close(stop)
		return window{}, err
	}
	sent0, t0 := t.sent.Load(), time.Now()
	t.phase.Store(phaseMeasure)
	ok := sleepCtx(ctx, o.Duration)
	t.phase.Store(phaseDrain)
	t1 := time.Now()
	after, err := cpuOf(o.Proc, targets)
	sent1 := t.sent.Load()
	close(stop)
	senders.Wait()
	if !ok {
		return window{}, ctx.Err()
	}
	if err != nil {
		return window{}, err
	}
	w := window{sent: sent1 - sent0, seconds: t1.Sub(t0).Seconds(), cpu: make(map[string]time.Duration, len(after))}
	for name, c := range after {
		w.cpu[name] = c - before[name]
	}
	deadline := time.Now().Add(o.Drain)
	for t.received.Load() < want() && time.Now().Before(deadline) && t.errors.Load() == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	return w, nil
}

func newRunID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// body filler: a chat message of an everyday length.
const filler = "Are we still on for dinner tonight? I can bring the salad and something to drink. "

// Msgs runs a message load and measures it.
func Msgs(ctx context.Context, o MsgsOptions) (MsgsResult, error) {
	if err := o.defaults(); err != nil {
		return MsgsResult{}, err
	}
	r := &msgRun{o: &o, run: newRunID(), start: time.Now(), dirs: make(map[[2]int]*direction)}
	res := MsgsResult{Pairs: o.Pairs, Window: o.Window, Offered: o.Rate, CPU: map[string]time.Duration{}}

	ends, tlsDesc, err := r.connect(ctx)
	defer func() {
		for _, e := range ends {
			e.close()
		}
	}()
	if err != nil {
		return res, err
	}
	res.TLS = tlsDesc

	var readers sync.WaitGroup
	for _, e := range ends {
		readers.Go(func() {
			h := new(hist)
			r.mu.Lock()
			r.hists = append(r.hists, h)
			r.mu.Unlock()
			if err := e.receive(func(m marker) { r.onMarker(h, m) }); err != nil && r.phase.Load() < phaseDrain {
				r.fail(err)
			}
		})
	}

	stop := make(chan struct{})
	var senders sync.WaitGroup
	nDirs := 2 * o.Pairs
	i := 0
	for _, d := range r.dirs {
		// At a fixed rate the directions take turns, instead of all
		// sending at the same instants.
		var offset time.Duration
		if o.Rate > 0 {
			offset = time.Duration(float64(i) / o.Rate * float64(time.Second))
		}
		i++
		senders.Go(func() { r.sendLoop(d, nDirs, offset, stop) })
	}

	// The drain lets the messages in flight arrive, so that Lost means
	// lost.
	targets := distinctTargets(o.A, o.B, o.Relay)
	w, err := r.measure(ctx, &o.Run, targets, stop, &senders, r.sent.Load)
	if err != nil {
		return res, err
	}
	for _, e := range ends {
		e.closeStream()
	}
	waitTimeout(&readers, 2*closeWait)

	res.Seconds = w.seconds
	res.Sent = w.sent
	res.Delivered = r.delivered.Load()
	res.Lost = r.sent.Load() - r.received.Load()
	res.Rate = float64(res.Delivered) / res.Seconds
	var total time.Duration
	for _, t := range targets {
		d := w.cpu[t.Name]
		res.CPU[t.Name] = d
		total += d
	}
	if total > 0 {
		res.PerCPU = float64(res.Delivered) / total.Seconds()
	}
	all := new(hist)
	r.mu.Lock()
	for _, h := range r.hists {
		all.merge(h)
	}
	r.mu.Unlock()
	res.Latency = all.summary()
	res.Errors, res.FirstError = r.errors.Load(), r.firstErr
	return res, nil
}

func (r *msgRun) onMarker(h *hist, m marker) {
	if m.run != r.run {
		return // a message of an earlier run, stored offline meanwhile
	}
	side := 0
	if m.side == 'b' {
		side = 1
	}
	d := r.dirs[[2]int{m.pair, side}]
	if d == nil {
		return
	}
	select {
	case <-d.slots:
	default:
	}
	r.received.Add(1)
	if r.phase.Load() == phaseMeasure {
		r.delivered.Add(1)
		h.record(time.Since(r.start) - m.stamp)
	}
}

// sendLoop sends on one direction until stop closes or the run's message
// bound is reached.
func (r *msgRun) sendLoop(d *direction, nDirs int, offset time.Duration, stop <-chan struct{}) {
	var interval time.Duration
	if r.o.Rate > 0 {
		interval = time.Duration(float64(nDirs) / r.o.Rate * float64(time.Second))
	}
	next := time.Since(r.start) + offset
	buf := make([]byte, 0, 512)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for seq := uint64(1); ; seq++ {
		var stamp time.Duration
		if interval > 0 {
			// On time, the clock starts when the timer woke the sender,
			// not when it was due: how late timers fire is the tool's
			// business. Behind schedule (the window was full), it starts
			// when the message was due, so the server is charged for the
			// backlog it caused.
			stamp = next
			if wait := next - time.Since(r.start); wait > 0 {
				timer.Reset(wait)
				select {
				case <-timer.C:
				case <-stop:
					return
				}
				stamp = time.Since(r.start)
			}
			next += interval
		}
		select {
		case d.slots <- struct{}{}:
		case <-stop:
			return
		}
		if r.sent.Load() >= r.o.MaxMessages {
			return
		}
		r.sent.Add(1)
		if interval == 0 {
			stamp = time.Since(r.start)
		}
		buf = append(buf[:0], d.prefix...)
		buf = strconv.AppendUint(buf, seq, 36)
		buf = append(buf, "'><body>"...)
		buf = append(buf, filler...)
		buf = appendMarker(buf, r.run, d.pair, d.side, seq, stamp)
		buf = append(buf, "</body><active xmlns='"+nsChatStates+"'/></message>"...)
		if err := d.send(buf); err != nil {
			if r.phase.Load() < phaseDrain {
				r.fail(err)
			}
			return
		}
	}
}

// end is one client connection of a pair: an XMPP session or a relay
// connection.
type end struct {
	sess  *Session
	relay *relayConn
	// pair and side say which messages are this end's to receive: those of
	// its pair sent by the other side. Anything else (an error bounce that
	// carries our own message back) is not a delivery.
	pair int
	side byte
}

// contentNS declares jabber:client on a stanza sent over WebSocket, where
// each message stands alone (RFC 7395 §3.3.3); on TCP the stream header
// declares it.
func contentNS(t Target) string {
	if t.WebSocket != "" {
		return "xmlns='jabber:client' "
	}
	return ""
}

func (e *end) send(b []byte) error {
	if e.relay != nil {
		_, err := e.relay.tc.Write(b)
		return err
	}
	return e.sess.Write(b)
}

func (e *end) receive(fn func(marker)) error {
	mine := func(m marker) {
		if m.pair == e.pair && m.side != e.side {
			fn(m)
		}
	}
	if e.relay != nil {
		return receiveRaw(e.relay.tc, mine)
	}
	return e.sess.Serve(func(el *xmlstream.Element) {
		if el.Get("type") == "error" {
			return
		}
		if m, ok := findMarker(el.ChildText(xmlstream.NSClient, "body")); ok {
			mine(m)
		}
	})
}

func (e *end) closeStream() {
	if e.relay != nil {
		_ = e.relay.raw.SetReadDeadline(time.Now().Add(closeWait))
		return
	}
	e.sess.CloseStream()
}

func (e *end) close() {
	if e.relay != nil {
		_ = e.relay.raw.Close()
		return
	}
	_ = e.sess.Close()
}

// receiveRaw scans a relay connection's bytes for markers.
func receiveRaw(c net.Conn, fn func(marker)) error {
	buf := make([]byte, 32<<10)
	n := 0
	for {
		m, err := c.Read(buf[n:])
		n += m
		used := scanMarkers(buf[:n], fn)
		n = copy(buf, buf[used:n])
		if err != nil {
			return err
		}
		if n == len(buf) {
			n = 0 // cannot happen with markers bounded by maxMarker
		}
	}
}

// connect opens both ends of every pair.
func (r *msgRun) connect(ctx context.Context) ([]*end, string, error) {
	o := r.o
	ends := make([]*end, 2*o.Pairs)
	sem := make(chan struct{}, o.Concurrency)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for i := range ends {
		pair, side := i/2, i%2
		t, user, peer, peerT := o.A, o.AUsers[pair], o.BUsers[pair], o.B
		if side == 1 {
			t, user, peer, peerT = o.B, o.BUsers[pair], o.AUsers[pair], o.A
		}
		d := &direction{
			pair:   pair,
			side:   "ab"[side],
			slots:  make(chan struct{}, o.Window),
			prefix: []byte("<message " + contentNS(t) + "to='" + peer + "@" + peerT.Domain + "' type='chat' id='"),
		}
		r.dirs[[2]int{pair, side}] = d
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			e := &end{pair: pair, side: d.side}
			var err error
			if o.Relay {
				e.relay, err = dialRelay(ctx, t, fmt.Sprintf("%s-%06d", r.run, pair)[:relayTokenLen-1])
				if err == nil {
					d.send = e.send
				}
			} else {
				e.sess, err = o.Dialer.Login(ctx, t, user, o.Password, LoginOptions{Resource: "bench", Presence: true})
				if err == nil {
					d.send = e.send
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				firstErr = cmpErr(firstErr, err)
				return
			}
			ends[i] = e
		})
	}
	wg.Wait()
	var live []*end
	for _, e := range ends {
		if e != nil {
			live = append(live, e)
		}
	}
	if firstErr != nil {
		return live, "", fmt.Errorf("open sessions: %w", firstErr)
	}
	if o.Relay {
		for _, e := range live {
			if err := e.relay.awaitPairing(); err != nil {
				return live, "", err
			}
		}
		cs := live[0].relay.tc.ConnectionState()
		return live, tlsName(cs.Version, cs.CipherSuite, cs.CurveID), nil
	}
	// Presence may still be on its way; give the servers a moment to make
	// every session available before messages to bare JIDs start.
	if !sleepCtx(ctx, 200*time.Millisecond) {
		return live, "", ctx.Err()
	}
	return live, live[0].sess.TLSDescription(), nil
}

func cmpErr(first, err error) error {
	if first == nil {
		return err
	}
	return first
}

// distinctTargets lists the measured servers once each.
func distinctTargets(a, b Target, relay bool) []Target {
	ts := []Target{a}
	if !relay && (b.Name != a.Name || b.PID != a.PID) {
		ts = append(ts, b)
	}
	return ts
}

func cpuOf(p Proc, ts []Target) (map[string]time.Duration, error) {
	m := make(map[string]time.Duration, len(ts))
	for _, t := range ts {
		if t.PID == 0 {
			continue
		}
		c, err := p.CPU(t.PID)
		if err != nil {
			return nil, err
		}
		m[t.Name] = c
	}
	return m, nil
}

// sleepCtx sleeps for d, or less if ctx ends (then it returns false).
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// waitTimeout waits for wg, at most d.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}
