package loadtool

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"roost/xmlstream"
)

// Group chat (XEP-0045) namespaces the load speaks.
const (
	nsMUC      = "http://jabber.org/protocol/muc"
	nsMUCUser  = nsMUC + "#user"
	nsMUCOwner = nsMUC + "#owner"
	nsData     = "jabber:x:data"
)

// MUCOptions configure a group chat load: Occupants sessions join one new
// room at Service; Senders of them send groupchat messages, each with at
// most Window in flight (a message is in flight until its sender gets it
// back from the room), and every occupant receives every message. A
// delivery is one message received by one occupant, the sender's own copy
// included: the room's fan-out work.
type MUCOptions struct {
	Target Target
	// Service is the group chat domain, such as conference.example.org.
	Service string
	// Users name the accounts (local parts); at least Occupants.
	Users    []string
	Password string
	// Occupants join the room (50 by default); the first creates it as
	// an instant room (§10.1.2).
	Occupants int
	// Senders send (5 by default), Window messages in flight each (4).
	Senders, Window int
	// Run: at most 1 million messages by default; Concurrency bounds
	// the joins too.
	Run
}

// MUCResult is what a group chat load measured.
type MUCResult struct {
	Occupants, Senders, Window int
	Seconds                    float64
	// Sent counts messages sent within the window; Delivered the copies
	// received within it, by every occupant.
	Sent, Delivered int64
	// Rate is Delivered per second.
	Rate float64
	// CPU is the server's CPU time within the window; PerCPU is Delivered
	// divided by it in seconds.
	CPU    time.Duration
	PerCPU float64
	// Incomplete counts messages of the whole run that did not reach
	// every occupant by the end of the drain.
	Incomplete int64
	Errors     int64
	FirstError string
}

func (o *MUCOptions) defaults() error {
	o.Occupants = cmp.Or(max(o.Occupants, 0), 50)
	o.Senders = cmp.Or(max(o.Senders, 0), 5)
	o.Window = cmp.Or(max(o.Window, 0), 4)
	if o.Senders > o.Occupants || len(o.Users) < o.Occupants || o.Service == "" {
		return fmt.Errorf("muc: %d occupants (%d sending) need as many users (have %d) and a service %q: %w",
			o.Occupants, o.Senders, len(o.Users), o.Service, ErrOptions)
	}
	o.Run.defaults(1_000_000)
	return nil
}

// mucRun is the shared state of one MUC call.
type mucRun struct {
	o     *MUCOptions
	run   string
	room  string // room@service
	start time.Time
	tally

	slots []chan struct{} // per sender: one token per message in flight
}

// MUC runs a group chat load and measures it.
func MUC(ctx context.Context, o MUCOptions) (MUCResult, error) {
	if err := o.defaults(); err != nil {
		return MUCResult{}, err
	}
	r := &mucRun{o: &o, run: newRunID(), start: time.Now()}
	r.room = "bench-" + r.run + "@" + o.Service
	r.slots = make([]chan struct{}, o.Senders)
	for i := range r.slots {
		r.slots[i] = make(chan struct{}, o.Window)
	}
	res := MUCResult{Occupants: o.Occupants, Senders: o.Senders, Window: o.Window}

	sessions := make([]*Session, o.Occupants)
	var readers sync.WaitGroup
	defer closeAll(sessions, &readers)
	serve := func(i int, s *Session) {
		readers.Go(func() {
			if err := s.Serve(func(el *xmlstream.Element) { r.onMessage(i, el) }); err != nil && r.phase.Load() < phaseDrain {
				r.fail(err)
			}
		})
	}
	// The first occupant creates the room; the others join it at once.
	first, err := r.enter(ctx, 0, true)
	if err != nil {
		return res, err
	}
	sessions[0] = first
	serve(0, first)
	sem := make(chan struct{}, o.Concurrency)
	var joins sync.WaitGroup
	var mu sync.Mutex
	var joinErr error
	for i := 1; i < o.Occupants; i++ {
		joins.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			s, err := r.enter(ctx, i, false)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				joinErr = cmpErr(joinErr, err)
				return
			}
			sessions[i] = s
			serve(i, s)
		})
	}
	joins.Wait()
	if joinErr != nil {
		return res, fmt.Errorf("join the room: %w", joinErr)
	}

	stop := make(chan struct{})
	var senders sync.WaitGroup
	for i := range o.Senders {
		senders.Go(func() { r.sendLoop(i, sessions[i], stop) })
	}
	want := func() int64 { return r.sent.Load() * int64(o.Occupants) }
	w, err := r.measure(ctx, &o.Run, []Target{o.Target}, stop, &senders, want)
	if err != nil {
		return res, err
	}
	res.Seconds = w.seconds
	res.Sent = w.sent
	res.Delivered = r.delivered.Load()
	res.Rate = float64(res.Delivered) / res.Seconds
	res.CPU = w.cpu[o.Target.Name]
	if res.CPU > 0 {
		res.PerCPU = float64(res.Delivered) / res.CPU.Seconds()
	}
	res.Incomplete = (want() - r.received.Load() + int64(o.Occupants) - 1) / int64(o.Occupants)
	res.Errors, res.FirstError = r.errors.Load(), r.firstErr
	return res, nil
}

// errJoin: the room refused an occupant.
var errJoin = errors.New("refused to join")

// enter logs occupant i in and joins the room, without history; the
// creator (first) also accepts the default configuration, which makes the
// room an instant one (§10.1.2) on every server.
func (r *mucRun) enter(ctx context.Context, i int, first bool) (*Session, error) {
	o := r.o
	s, err := o.Dialer.Login(ctx, o.Target, o.Users[i], o.Password, LoginOptions{Resource: "bench"})
	if err != nil {
		return nil, err
	}
	nick := r.room + "/" + o.Users[i]
	join := xmlstream.New(xmlstream.NSClient, "presence").SetAttr("to", nick).Append(
		xmlstream.New(nsMUC, "x").Append(xmlstream.New(nsMUC, "history").SetAttr("maxstanzas", "0")))
	if err := s.WriteElement(join); err != nil {
		_ = s.Close()
		return nil, err
	}
	for range 10_000 { // bounded: the others' presence comes first
		el, err := s.Read()
		if err != nil {
			_ = s.Close()
			return nil, fmt.Errorf("join %s: %w", nick, err)
		}
		if !el.Is(xmlstream.NSClient, "presence") || el.Get("from") != nick {
			continue
		}
		if el.Get("type") == "error" {
			_ = s.Close()
			return nil, fmt.Errorf("%s: %w: %v", nick, errJoin, stanzaError(el))
		}
		if !selfPresence(el) {
			continue
		}
		if first {
			iq := xmlstream.New(xmlstream.NSClient, "iq").SetAttr("type", "set").SetAttr("id", "instant").SetAttr("to", r.room).
				Append(xmlstream.New(nsMUCOwner, "query").Append(xmlstream.New(nsData, "x").SetAttr("type", "submit")))
			if _, err := s.request(iq); err != nil {
				_ = s.Close()
				return nil, fmt.Errorf("configure %s: %w", r.room, err)
			}
		}
		return s, nil
	}
	_ = s.Close()
	return nil, fmt.Errorf("join %s: %w: no self-presence", nick, ErrUnexpected)
}

// selfPresence reports whether a room's presence is the occupant's own
// (status 110).
func selfPresence(el *xmlstream.Element) bool {
	for c := range el.Child(nsMUCUser, "x").Elements() {
		if c.Is(nsMUCUser, "status") && c.Get("code") == "110" {
			return true
		}
	}
	return false
}

// onMessage counts a groupchat message of this run received by occupant
// i; a sender's own copy frees a place in its window.
func (r *mucRun) onMessage(i int, el *xmlstream.Element) {
	if el.Get("type") != "groupchat" {
		return
	}
	m, ok := findMarker(el.ChildText(xmlstream.NSClient, "body"))
	if !ok || m.run != r.run {
		return
	}
	if m.pair == i {
		select {
		case <-r.slots[i]:
		default:
		}
	}
	r.received.Add(1)
	if r.phase.Load() == phaseMeasure {
		r.delivered.Add(1)
	}
}

// sendLoop has sender i send until stop closes or the bound is reached.
func (r *mucRun) sendLoop(i int, s *Session, stop <-chan struct{}) {
	prefix := "<message " + contentNS(r.o.Target) + "to='" + r.room + "' type='groupchat' id='"
	buf := make([]byte, 0, 512)
	for seq := uint64(1); ; seq++ {
		select {
		case r.slots[i] <- struct{}{}:
		case <-stop:
			return
		}
		if r.sent.Load() >= r.o.MaxMessages {
			return
		}
		r.sent.Add(1)
		buf = append(buf[:0], prefix...)
		buf = strconv.AppendUint(buf, seq, 36)
		buf = append(buf, "'><body>"...)
		buf = append(buf, filler...)
		buf = appendMarker(buf, r.run, i, 'a', seq, time.Since(r.start))
		buf = append(buf, "</body></message>"...)
		if err := s.Write(buf); err != nil {
			if r.phase.Load() < phaseDrain {
				r.fail(err)
			}
			return
		}
	}
}
