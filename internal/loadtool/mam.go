package loadtool

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"roost/xmlstream"
)

// Namespaces of the archive load.
const (
	nsMAM = "urn:xmpp:mam:2"                 // XEP-0313
	nsRSM = "http://jabber.org/protocol/rsm" // XEP-0059
)

// MAMOptions configure an archive load: Fill chat messages from Sender to
// User fill User's archive (XEP-0313), unmeasured; then one session of
// User pages backwards through the archive, Page messages a query, from
// the newest to the oldest and round again, as a phone does when its user
// scrolls back through a conversation, for Warmup unmeasured and Duration
// measured.
type MAMOptions struct {
	Target Target
	// User and Sender are local parts of accounts on Target.
	User, Sender string
	Password     string
	// Fill is the number of messages archived before the queries
	// (100,000); Window bounds those in flight (256).
	Fill, Window int
	// Page is the RSM max of each query (50).
	Page             int
	Warmup, Duration time.Duration
	// FillTimeout bounds the filling (3 minutes); a server that archives
	// more slowly is reported with what it archived by then.
	FillTimeout time.Duration
	Dialer      *Dialer
	Proc        Proc
}

// MAMResult is what an archive load measured.
type MAMResult struct {
	Fill, Page int
	// FillSeconds is how long archiving the messages took.
	FillSeconds float64
	// Pages and Results are the queries answered, and the messages in
	// them, in the measured window of Seconds.
	Pages, Results int
	Seconds        float64
	// Rate is pages per second; Latency the time from sending a query to
	// its IQ result, every result message read.
	Rate    float64
	Latency Latency
	// CPU is the server's CPU time in the window; PerCPU pages per server
	// CPU-second.
	CPU    time.Duration
	PerCPU float64
	// Archived is the number of messages one pass through the archive
	// found, 0 if no pass completed.
	Archived int
}

func (o *MAMOptions) defaults() {
	if o.Fill <= 0 {
		o.Fill = 100_000
	}
	if o.Window <= 0 {
		o.Window = 256
	}
	if o.Page <= 0 {
		o.Page = 50
	}
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
	}
	if o.FillTimeout <= 0 {
		o.FillTimeout = 3 * time.Minute
	}
	if o.Dialer == nil {
		o.Dialer = &Dialer{}
	}
}

// MAM runs an archive load and measures it.
func MAM(ctx context.Context, o MAMOptions) (MAMResult, error) {
	o.defaults()
	res := MAMResult{Fill: o.Fill, Page: o.Page}
	t0 := time.Now()
	n, err := fillArchive(ctx, &o)
	res.FillSeconds = time.Since(t0).Seconds()
	if err != nil {
		// What was archived in the time allowed still says how fast.
		res.Fill = n
		return res, err
	}

	s, err := o.Dialer.Login(ctx, o.Target, o.User, o.Password, LoginOptions{Resource: "history"})
	if err != nil {
		return res, err
	}
	defer s.Logout()
	w := &mamWalker{s: s, page: o.Page, ns: contentNS(o.Target)}
	// Warm up, unmeasured: also a first check that the archive answers.
	for end := time.Now().Add(o.Warmup); time.Now().Before(end) || w.queries == 0; {
		if _, err := w.next(); err != nil {
			return res, err
		}
	}
	before, err := cpuOf(o.Proc, []Target{o.Target})
	if err != nil {
		return res, err
	}
	h := new(hist)
	start := time.Now()
	for time.Since(start) < o.Duration {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		q0 := time.Now()
		n, err := w.next()
		if err != nil {
			return res, err
		}
		h.record(time.Since(q0))
		res.Pages++
		res.Results += n
	}
	res.Seconds = time.Since(start).Seconds()
	after, err := cpuOf(o.Proc, []Target{o.Target})
	if err != nil {
		return res, err
	}
	res.Rate = float64(res.Pages) / res.Seconds
	res.Latency = h.summary()
	res.CPU = after[o.Target.Name] - before[o.Target.Name]
	if res.CPU > 0 {
		res.PerCPU = float64(res.Pages) / res.CPU.Seconds()
	}
	res.Archived = w.archived
	return res, nil
}

// fillArchive has Sender send Fill messages to User's bare JID, with one
// available session of User reading them, at most Window in flight, and
// returns how many User received.
func fillArchive(ctx context.Context, o *MAMOptions) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, o.FillTimeout)
	defer cancel()
	recv, err := o.Dialer.Login(ctx, o.Target, o.User, o.Password, LoginOptions{Resource: "phone", Presence: true})
	if err != nil {
		return 0, err
	}
	send, err := o.Dialer.Login(ctx, o.Target, o.Sender, o.Password, LoginOptions{Resource: "pc"})
	if err != nil {
		recv.Logout()
		return 0, err
	}
	defer send.Logout()
	slots := make(chan struct{}, o.Window)
	var got atomic.Int64
	done := make(chan error, 1)
	served := make(chan struct{}) // closed when Serve returned
	// The goroutine below is recv's only reader: at the end, close the
	// stream and wait for it rather than read concurrently (Logout).
	defer func() {
		recv.CloseStream()
		select {
		case <-served:
		case <-time.After(2 * closeWait):
		}
		_ = recv.Close()
	}()
	go func() {
		defer close(served)
		done <- recv.Serve(func(el *xmlstream.Element) {
			if el.Get("type") == "chat" && el.Child(el.Name.Space, "body") != nil {
				got.Add(1)
				select {
				case <-slots:
				default:
				}
			}
		})
	}()
	to := o.User + "@" + o.Target.Domain
	for i := range o.Fill {
		select {
		case slots <- struct{}{}:
		case err := <-done:
			return int(got.Load()), fmt.Errorf("fill archive: receiver: %w", cmpErr(err, ErrUnexpected))
		case <-ctx.Done():
			return int(got.Load()), fmt.Errorf("fill archive: %d of %d archived in %s: %w", got.Load(), o.Fill, o.FillTimeout, ctx.Err())
		}
		msg := "<message " + contentNS(o.Target) + "type='chat' to='" + to + "' id='f" + strconv.Itoa(i) + "'><body>" + filler + strconv.Itoa(i) + "</body></message>"
		if err := send.Write([]byte(msg)); err != nil {
			return int(got.Load()), fmt.Errorf("fill archive: %w", err)
		}
	}
	for got.Load() < int64(o.Fill) {
		if !sleepCtx(ctx, 20*time.Millisecond) {
			return int(got.Load()), fmt.Errorf("fill archive: %d of %d archived in %s: %w", got.Load(), o.Fill, o.FillTimeout, ctx.Err())
		}
	}
	return o.Fill, nil
}

// mamWalker pages backwards through the archive of its session's account.
type mamWalker struct {
	s       *Session
	page    int
	ns      string // the content namespace declaration WebSocket frames need
	before  string // the oldest id of the last page; "" for the newest page
	queries int
	// pass counts the messages of the current pass; archived those of the
	// first complete pass.
	pass, archived int
}

// next asks for the page before the last one and returns how many
// messages it held. Every page but the oldest must be full.
func (w *mamWalker) next() (int, error) {
	w.queries++
	id := "mam" + strconv.Itoa(w.queries)
	q := "<iq " + w.ns + "type='set' id='" + id + "'><query xmlns='" + nsMAM + "' queryid='" + id + "'><set xmlns='" + nsRSM + "'><max>" +
		strconv.Itoa(w.page) + "</max><before>" + w.before + "</before></set></query></iq>"
	if err := w.s.Write([]byte(q)); err != nil {
		return 0, err
	}
	n := 0
	for {
		el, err := w.s.Read()
		if err != nil {
			return n, fmt.Errorf("archive query: %w", err)
		}
		if r := el.Child(nsMAM, "result"); r != nil && r.Get("queryid") == id {
			n++
			continue
		}
		if !el.Is(xmlstream.NSClient, "iq") || el.Get("id") != id {
			continue
		}
		if el.Get("type") != "result" {
			return n, fmt.Errorf("archive query: %w", stanzaError(el))
		}
		fin := el.Child(nsMAM, "fin")
		first := fin.Child(nsRSM, "set").ChildText(nsRSM, "first")
		complete := fin.Get("complete") == "true" || fin.Get("complete") == "1"
		w.pass += n
		if complete || first == "" {
			if w.archived == 0 {
				w.archived = w.pass
			}
			w.pass, w.before = 0, ""
			return n, nil
		}
		if n != w.page {
			return n, fmt.Errorf("archive query: %w: a page of %d in the middle of the archive, want %d", ErrUnexpected, n, w.page)
		}
		w.before = first
		return n, nil
	}
}
