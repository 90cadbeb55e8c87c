package s2s

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"roost/dialback"
	"roost/jid"
	"roost/metrics"
	"roost/netconn"
	"roost/srv"
	"roost/stanza"
	"roost/stream"
	"roost/xmlstream"
)

// Router delivers stanzas that arrived from other servers. *router.Router
// satisfies it.
type Router interface {
	// Route delivers a stanza whose from address this package has
	// authenticated; error replies to remote senders come back through
	// SendRemote.
	Route(ctx context.Context, st *stanza.Stanza)
}

// Resolver finds where a domain's XMPP server listens. *srv.Resolver
// satisfies it.
type Resolver interface {
	LookupServer(ctx context.Context, domain string) ([]srv.Target, error)
	LookupHost(ctx context.Context, host string) ([]netip.Addr, error)
}

// Options configure a Server. Zero durations and limits take the defaults
// noted on each field.
type Options struct {
	// Domains are the hosted domains, service subdomains included: the
	// domains we send from and accept stanzas for.
	Domains []string
	// TLS is the server-side configuration (certificates, and the ALPN
	// protocol "xmpp-server" for direct TLS). Its certificates are also
	// presented as client certificates on outbound streams, for SASL
	// EXTERNAL. Required.
	TLS *tls.Config
	// RootCAs returns the authorities trusted for peer certificates
	// (system roots plus s2s.ca_file). It is called on every check, so
	// that the pool can be built on the first one (certs.LazyRoots): a
	// server that never federates never parses the system's roots. nil
	// means the system roots.
	RootCAs func() *x509.CertPool
	// RequireValidCertificates refuses peers whose certificates do not
	// validate for their domain; otherwise dialback is used with them.
	RequireValidCertificates bool
	// DialbackSecret keys the dialback keys (XEP-0185). Required.
	DialbackSecret []byte
	// Resolver finds remote servers. Required for outbound streams.
	Resolver Resolver
	// AllowPrivateAddresses lets outbound streams connect to addresses
	// that are not on the public internet (loopback, private, link-local;
	// see publicAddr), for servers federating on one network and for
	// tests. Off, such DNS answers are skipped, and a domain with no other
	// address is remote-server-not-found.
	AllowPrivateAddresses bool
	// Dial opens TCP connections; nil means a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// ConnectTimeout bounds DNS resolution and connecting (15s).
	ConnectTimeout time.Duration
	// NegotiationTimeout bounds a stream's negotiation: TLS, then SASL or
	// dialback, including the peer's dialback check (30s).
	NegotiationTimeout time.Duration
	// IdleTimeout closes outbound streams that carried no stanza and
	// inbound streams that received nothing for this long (10m).
	IdleTimeout time.Duration
	// KeepaliveInterval: after this long without writing, send a
	// whitespace keepalive (60s).
	KeepaliveInterval time.Duration
	// WriteTimeout bounds every write (30s).
	WriteTimeout time.Duration
	// QueueDepth is the most stanzas waiting for one domain pair while its
	// stream is set up, and four times as many queued on an established
	// stream (256).
	QueueDepth int
	// QueueBytes bounds the same queues in memory (the footprint of their
	// stanzas, xmlstream.Element.Footprint): what waits for one domain
	// pair while its stream is set up, and what is queued on an
	// established stream (4 MiB). A stanza that does not fit bounces.
	QueueBytes int
	// Limits for the XML parser.
	Limits xmlstream.Limits
	// ReadRate and ReadBurst limit the bytes per second read from one
	// stream, in either direction (0: unlimited), as for clients: a peer
	// carries what its users send ours, which a family's server reads at
	// a walking pace (Prosody reads 30 KiB/s per inbound stream by
	// default).
	ReadRate, ReadBurst int
	// MaxConnsPerIP bounds simultaneous inbound streams from one address
	// (0: unlimited). A peer opens one per domain pair it sends from,
	// plus one for each dialback check.
	MaxConnsPerIP int
	// MaxPendingDialback bounds the <db:result/> requests of one inbound
	// stream that wait for their Authoritative Server at once (10). Each
	// may make us open a stream to the domain it claims; one more is
	// answered with a resource-constraint dialback error.
	MaxPendingDialback int
	// MaxOutbound bounds the outbound streams open at once (100). At most
	// half of them may be opened to check the dialback keys of peers that
	// connected to us, so that strangers claiming domains cannot take the
	// room our users' messages need. A stanza that would need one more is
	// refused with resource-constraint; a key that would need one more is
	// answered with a dialback error.
	MaxOutbound int
	// Metrics counts stanzas refused for a full queue; nil: a counter
	// nobody reads.
	Metrics *metrics.Counters
	Logger  *slog.Logger
}

func (o *Options) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.ConnectTimeout, 15*time.Second)
	def(&o.NegotiationTimeout, 30*time.Second)
	def(&o.IdleTimeout, 10*time.Minute)
	def(&o.KeepaliveInterval, time.Minute)
	def(&o.WriteTimeout, 30*time.Second)
	if o.QueueDepth <= 0 {
		o.QueueDepth = 256
	}
	if o.MaxPendingDialback <= 0 {
		o.MaxPendingDialback = 10
	}
	if o.MaxOutbound <= 0 {
		o.MaxOutbound = 100
	}
	if o.QueueBytes <= 0 {
		o.QueueBytes = 4 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = new(metrics.Counters)
	}
	if o.Dial == nil {
		var d net.Dialer
		o.Dial = d.DialContext
	}
}

// Errors.
var (
	// ErrServerClosed is returned by Serve after Shutdown.
	ErrServerClosed = netconn.ServerClosed("s2s")
	// ErrNoResolver: outbound streams need Options.Resolver.
	ErrNoResolver = errors.New("s2s: no resolver configured")
	// ErrUntrusted: the peer's certificate does not validate and the
	// policy requires valid certificates.
	ErrUntrusted = errors.New("s2s: peer certificate not valid for its domain")
	// ErrNoTLS: the peer offers no STARTTLS; server streams must be
	// encrypted.
	ErrNoTLS = errors.New("s2s: peer does not offer TLS")
	// ErrAuthFailed: the peer did not let us authenticate.
	ErrAuthFailed = errors.New("s2s: authentication refused by peer")
	// ErrTooManyOutbound: Options.MaxOutbound streams are open (for a
	// dialback check, half of it).
	ErrTooManyOutbound = errors.New("s2s: too many outbound streams")

	// errNegotiationTimeout: the peer did not complete negotiation in time.
	errNegotiationTimeout = errors.New("s2s: stream negotiation took too long")
	// errHandled: the stream error was already sent.
	errHandled = errors.New("s2s: stream error sent")
)

// Server runs server-to-server streams: it accepts inbound streams
// (Serve, ServeTLS, ServeConn) and opens outbound ones for SendRemote.
type Server struct {
	opts     Options
	router   Router
	keys     *dialback.Keyer
	receiver dialback.Receiver
	hosted   map[string]struct{}
	inTLS    *tls.Config // opts.TLS asking for client certificates
	log      *slog.Logger
	ctx      context.Context // outbound streams live in it
	cancel   context.CancelFunc

	nextID atomic.Uint64
	ins    *netconn.Set[*inConn] // inbound streams and their listeners
	outWG  sync.WaitGroup        // the goroutines of the outbound streams

	mu      sync.Mutex
	closing bool
	outs    map[*outConn]struct{}
	routes  map[dialback.Pair]*route // outbound, by (ours, theirs)
}

// route is the outbound state of one domain pair: the stream that carries
// or will carry it, and the stanzas waiting until it is authorized.
type route struct {
	pair  dialback.Pair
	conn  *outConn
	ready bool
	queue []*stanza.Stanza
	bytes int // the footprint of queue
}

// New returns a server; nothing runs until Serve or SendRemote.
func New(opts Options, r Router) *Server {
	opts.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		opts:   opts,
		router: r,
		keys:   dialback.NewKeyer(opts.DialbackSecret),
		hosted: make(map[string]struct{}, len(opts.Domains)),
		log:    opts.Logger,
		ctx:    ctx,
		cancel: cancel,
		ins:    netconn.NewSet[*inConn](opts.MaxConnsPerIP, opts.Logger),
		outs:   make(map[*outConn]struct{}),
		routes: make(map[dialback.Pair]*route),
	}
	for _, d := range opts.Domains {
		if j, err := jid.Parse(d); err == nil {
			s.hosted[j.Domain()] = struct{}{}
		}
	}
	if opts.TLS != nil {
		s.inTLS = opts.TLS.Clone()
		// Ask for a certificate but do not require or check it here: a
		// peer without a valid one may still use dialback, and the check
		// (serverAuth accepted, clientAuth not required) is ours.
		s.inTLS.ClientAuth = tls.RequestClientCert
	}
	s.receiver = dialback.Receiver{
		Hosted:       s.isHosted,
		RequireTrust: opts.RequireValidCertificates,
		Verifier:     verifier{s},
	}
	return s
}

// roots is the pool peer certificates are checked against: nil, the
// system roots, when Options.RootCAs is not set.
func (s *Server) roots() *x509.CertPool {
	if s.opts.RootCAs == nil {
		return nil
	}
	return s.opts.RootCAs()
}

func (s *Server) isHosted(domain string) bool {
	_, ok := s.hosted[domain]
	return ok
}

// Serve accepts STARTTLS streams (port 5269) on ln until Shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	return s.serve(ctx, ln, false)
}

// ServeTLS accepts direct TLS streams (XEP-0368, port 5270) on ln until
// Shutdown.
func (s *Server) ServeTLS(ctx context.Context, ln net.Listener) error {
	return s.serve(ctx, ln, true)
}

func (s *Server) serve(ctx context.Context, ln net.Listener, directTLS bool) error {
	err := s.ins.Serve(ln, func(nc net.Conn) { s.accept(ctx, nc, directTLS) })
	if errors.Is(err, netconn.ErrServerClosed) {
		return ErrServerClosed
	}
	return err
}

// ServeConn serves one inbound stream on nc, a TLS connection whose
// handshake is done (or still to do) — for example one that a port-443
// dispatcher accepted with ALPN "xmpp-server" (XEP-0368). For SASL EXTERNAL
// its handshake must have asked for a client certificate; without one the
// peer can still use dialback. It returns at once. The connection counts
// against [Options.MaxConnsPerIP].
func (s *Server) ServeConn(ctx context.Context, nc net.Conn) {
	s.accept(ctx, nc, true)
}

func (s *Server) accept(ctx context.Context, nc net.Conn, directTLS bool) {
	if c, ok := s.ins.Add(nc, func() *inConn { return s.newInConn(nc, directTLS) }); ok {
		s.ins.Go(c, func() { c.serve(ctx) })
	}
}

// Shutdown stops accepting, ends every stream (inbound ones with
// system-shutdown) and waits for them, or for ctx, after which those left
// are dropped.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	outs := make([]*outConn, 0, len(s.outs))
	for c := range s.outs {
		outs = append(outs, c)
	}
	s.routes = make(map[dialback.Pair]*route)
	s.mu.Unlock()
	defer s.cancel()
	shut := &stream.Error{Condition: stream.SystemShutdown, Text: "the server is shutting down"}
	for _, c := range outs {
		c.shutdown(shut)
	}
	err := s.ins.Shutdown(ctx, func(c *inConn) { c.shutdown(shut) }, func(c *inConn) { _ = c.rd.Conn().Close() })
	if werr := netconn.Wait(ctx, &s.outWG); werr != nil {
		s.mu.Lock()
		for c := range s.outs {
			c.abort()
		}
		s.mu.Unlock()
		return werr
	}
	return err
}

// Stats returns the number of inbound and outbound streams.
func (s *Server) Stats() (in, out int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ins.Len(), len(s.outs)
}

// Link is an outbound route to a peer server: stanzas from Local to
// Remote, Ready once the pair is authorized.
type Link struct {
	Local, Remote string
	Ready         bool
}

// Links lists the outbound routes, for the admin's status page.
func (s *Server) Links() []Link {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Link, 0, len(s.routes))
	for p, r := range s.routes {
		out = append(out, Link{Local: p.Sender, Remote: p.Target, Ready: r.ready})
	}
	return out
}

// SendRemote implements router.Remote: it queues st for the stream of its
// domain pair, setting one up if needed, without blocking. Stanzas that
// cannot be delivered come back to their sender as error stanzas through
// the Router; an error returned here is a *stanza.Error for the router to
// bounce at once.
func (s *Server) SendRemote(_ context.Context, st *stanza.Stanza) error {
	local, remote := st.From.Domain(), st.To.Domain()
	switch {
	case st.From.IsZero() || !s.isHosted(local):
		return stanza.NewError(stanza.NotAllowed, "this server relays only stanzas from its own domains")
	case s.isHosted(remote):
		return stanza.NewError(stanza.RemoteServerNotFound, "")
	case s.opts.Resolver == nil:
		return stanza.NewError(stanza.RemoteServerNotFound, "federation is not configured")
	}
	cp := *st
	cp.El = st.Element()
	size := cp.El.Footprint()
	p := dialback.Pair{Sender: local, Target: remote}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return stanza.NewError(stanza.RemoteServerTimeout, "the server is shutting down")
	}
	r := s.routes[p]
	if r != nil && r.ready {
		switch r.conn.sendStanza(cp.El, size, 4*s.opts.QueueDepth, s.opts.QueueBytes) {
		case sent:
			return nil
		case full:
			return s.queueFull(remote)
		}
		// The stream is closing: set up a new one.
		delete(s.routes, p)
		r = nil
	}
	if r == nil {
		var err error
		if r, err = s.newRouteLocked(p, false); err != nil {
			return &stanza.Error{Type: stanza.Wait, Condition: stanza.ResourceConstraint, Text: "too many connections to other servers; try again later"}
		}
	}
	if len(r.queue) >= s.opts.QueueDepth || r.bytes+size > s.opts.QueueBytes {
		return s.queueFull(remote)
	}
	r.queue = append(r.queue, &cp)
	r.bytes += size
	return nil
}

// queueFull counts a stanza refused because what waits for remote is at
// its bound, and returns the error it bounces with (RFC 6120 §8.3.3.18:
// resource-constraint, of type wait, as the sender may try again later).
func (s *Server) queueFull(remote string) error {
	s.opts.Metrics.S2SQueueFull.Add(1)
	return &stanza.Error{Type: stanza.Wait, Condition: stanza.ResourceConstraint, Text: "too many stanzas waiting for " + remote}
}

// newRouteLocked creates the route for p: multiplexed on an authenticated
// stream to the same remote domain when that stream allows it (XEP-0220
// §2.5, sender multiplexing), else on a new stream, if
// [Options.MaxOutbound] leaves room for it (forPeer: a stream opened to
// check a peer's dialback key). s.mu is held.
func (s *Server) newRouteLocked(p dialback.Pair, forPeer bool) (*route, error) {
	r := &route{pair: p}
	for _, other := range s.routes {
		if other.ready && other.pair.Target == p.Target && other.conn.multiplex(p.Sender) {
			r.conn = other.conn
			s.routes[p] = r
			return r, nil
		}
	}
	if !s.outRoomLocked(forPeer) {
		s.log.Warn("too many outbound streams", "to", p.Target, "limit", s.opts.MaxOutbound, "for_dialback_check", forPeer)
		return nil, ErrTooManyOutbound
	}
	c := s.newOutConn(p)
	c.forPeer = forPeer
	r.conn = c
	s.routes[p] = r
	s.outs[c] = struct{}{}
	s.outWG.Add(1)
	go func() {
		defer s.outWG.Done()
		c.run(s.ctx)
	}()
	return r, nil
}

// outRoomLocked reports whether one more outbound stream may open: fewer
// than MaxOutbound are, and, for a dialback check (forPeer), fewer than
// half of them were opened for checks. Checks are what a stranger can
// make us open, by claiming domains; half the room stays for our users.
// s.mu is held.
func (s *Server) outRoomLocked(forPeer bool) bool {
	if len(s.outs) >= s.opts.MaxOutbound {
		return false
	}
	if !forPeer {
		return true
	}
	n := 0
	for c := range s.outs {
		if c.forPeer {
			n++
		}
	}
	return n < max(s.opts.MaxOutbound/2, 1)
}

// pairReady is called by an outbound stream once pair p is authorized on
// it: the route's queue goes out, in order, and later stanzas follow
// directly.
func (s *Server) pairReady(c *outConn, p dialback.Pair) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.routes[p]
	if r == nil || r.conn != c {
		if s.closing || (r != nil && r.ready) {
			return
		}
		// Authorized without a waiting route (the stream was opened for a
		// dialback check, or its route was replaced): offer it for use.
		r = &route{pair: p, conn: c}
		s.routes[p] = r
	}
	r.ready = true
	for i, st := range r.queue {
		c.sendStanza(st.El, st.El.Footprint(), 0, 0)
		r.queue[i] = nil
	}
	r.queue, r.bytes = nil, 0
}

// pairFailed is called when pair p cannot be authorized on c: its queue
// bounces with se.
func (s *Server) pairFailed(c *outConn, p dialback.Pair, se *stanza.Error) {
	s.mu.Lock()
	var queue []*stanza.Stanza
	if r := s.routes[p]; r != nil && r.conn == c {
		queue = r.queue
		delete(s.routes, p)
	}
	s.mu.Unlock()
	for _, st := range queue {
		s.bounce(st, se)
	}
}

// outDone is called when an outbound stream has ended: its routes are
// forgotten and whatever still waited bounces with se.
func (s *Server) outDone(c *outConn, se *stanza.Error) {
	s.mu.Lock()
	delete(s.outs, c)
	var queue []*stanza.Stanza
	for p, r := range s.routes {
		if r.conn == c {
			queue = append(queue, r.queue...)
			delete(s.routes, p)
		}
	}
	s.mu.Unlock()
	for _, st := range queue {
		s.bounce(st, se)
	}
}

// retire closes c if it has been idle: its routes are removed first, under
// the lock SendRemote holds while queueing, so no stanza is queued on a
// stream that is going away.
func (s *Server) retire(c *outConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !c.idle() {
		return
	}
	for _, r := range s.routes {
		if r.conn == c && len(r.queue) > 0 {
			return // a pair is still being set up on it
		}
	}
	for p, r := range s.routes {
		if r.conn == c {
			delete(s.routes, p)
		}
	}
	c.log.Debug("closing idle stream")
	c.close(nil)
}

// bounce returns an error for st to its sender (RFC 6120 §8.3.1), never
// for an error or an IQ result.
func (s *Server) bounce(st *stanza.Stanza, se *stanza.Error) {
	if st.IsError() || (st.Kind == stanza.IQ && st.Type == stanza.TypeResult) || st.From.IsZero() {
		return
	}
	el := stanza.ErrorReply(st, se)
	reply := &stanza.Stanza{Kind: st.Kind, To: st.From, From: st.To, ID: st.ID, Type: stanza.TypeError, El: el}
	s.router.Route(s.ctx, reply)
}

// verifier asks Authoritative Servers to verify dialback keys, over the
// outbound stream of the domain pair (XEP-0220 §2.1.2: "it can reuse an
// existing XML stream or establish a new connection").
type verifier struct{ s *Server }

func (v verifier) Verify(ctx context.Context, req dialback.Element) (dialback.Element, error) {
	s := v.s
	if s.isHosted(req.To) {
		// A peer claiming one of our own domains: we are the
		// Authoritative Server, so the answer needs no connection (and a
		// forged key is refused without one).
		return s.keys.Answer(req, s.isHosted), nil
	}
	p := dialback.Pair{Sender: req.From, Target: req.To}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return dialback.Element{}, ErrServerClosed
	}
	if s.opts.Resolver == nil {
		s.mu.Unlock()
		return dialback.Element{}, ErrNoResolver
	}
	r := s.routes[p]
	if r == nil || r.conn.isClosing() {
		if r != nil {
			delete(s.routes, p)
		}
		var err error
		if r, err = s.newRouteLocked(p, true); err != nil {
			s.mu.Unlock()
			return dialback.Element{}, err
		}
	}
	c := r.conn
	s.mu.Unlock()
	ch := c.requestVerify(req)
	select {
	case ans, ok := <-ch:
		if !ok {
			return dialback.Element{}, c.failure()
		}
		return ans, nil
	case <-ctx.Done():
		return dialback.Element{}, ctx.Err()
	}
}
