package c2s

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"roost/jid"
	"roost/metrics"
	"roost/netconn"
	"roost/sasl"
	"roost/stanza"
	"roost/stream"
	"roost/xmlstream"
)

// Router is what a session needs from the session table. *router.Router
// satisfies it: [Endpoint] is the router's Session type.
type Router interface {
	// Bind registers the session for full; an error (a *stanza.Error) is
	// returned to the client in the bind result.
	Bind(ctx context.Context, full jid.JID, s Endpoint) error
	// Unbind removes the session.
	Unbind(ctx context.Context, full jid.JID, s Endpoint)
	// FromClient routes a stanza from the session; st.From is stamped.
	FromClient(ctx context.Context, st *stanza.Stanza)
}

// Endpoint is a bound session as the router sees it. It is an alias of an
// unnamed interface type, and package router declares its Session the
// same way, so that the two are one type and *router.Router satisfies
// [Router] without either package importing the other.
type Endpoint = interface {
	// Send queues el for the client without blocking; false when the
	// session cannot take it (closing, or its queue is full, in which
	// case it closes itself).
	Send(el *xmlstream.Element) bool
	// Close ends the session with reason, a *stream.Error to send if the
	// session can.
	Close(reason error)
}

// Credentials looks up the stored SCRAM keys of an account.
type Credentials interface {
	SCRAMCredentials(ctx context.Context, bare jid.JID, h sasl.Hash) (sasl.Credentials, bool, error)
}

// Options configure a Server. Zero durations and limits take the defaults
// noted on each field.
type Options struct {
	// Domains are the hosted domains a stream may be addressed to.
	Domains []string
	// TLS is the server's TLS configuration (certificates). Required.
	TLS *tls.Config
	// SASLSecret keys the fake credentials offered for unknown users, so
	// that they look the same across attempts.
	SASLSecret []byte
	// AllowPlain offers SASL PLAIN (always over TLS).
	AllowPlain bool
	// StrictChannelBinding: see sasl.ServerOptions.StrictChannelBinding.
	StrictChannelBinding bool
	// ServerOptions: the parser limits, the timeouts (NegotiationTimeout
	// bounds everything from accept to bind) and QueueDepth, the most
	// stanzas queued for a client.
	stream.ServerOptions
	// QueueBytes bounds the footprint (xmlstream.Element.Footprint) of
	// what a session holds for its client: queued, held back while the
	// client is inactive (XEP-0352), and sent but not acknowledged
	// (XEP-0198), also while the session waits to be resumed (4 MiB).
	QueueBytes int
	// MaxAuthFailures ends the stream after this many SASL failures (3).
	MaxAuthFailures int
	// ReadRate and ReadBurst limit the bytes per second read from one
	// connection (0: unlimited).
	ReadRate, ReadBurst int
	// MaxConnsPerIP bounds simultaneous connections from one address (0:
	// unlimited), so one misbehaving host cannot take every slot. At the
	// limit, the oldest connection from the address that has not
	// authenticated is ended (policy-violation) to make room; when all
	// have authenticated, the new connection is refused.
	MaxConnsPerIP int
	// Features are added to the features offered after authentication
	// (e.g. roster versioning).
	Features []*xmlstream.Element
	// PreAuth answers IQs sent before authentication, such as in-band
	// registration (XEP-0077); nil refuses them.
	PreAuth PreAuthHandler
	// PreAuthFeatures are added to the features offered with SASL.
	PreAuthFeatures []*xmlstream.Element
	// ResumeTimeout is how long a session with resumable stream
	// management (XEP-0198 §5) waits for its client after losing the
	// connection (5m; negative: sessions are not resumable).
	ResumeTimeout time.Duration
	// Undelivered takes what a session with stream management (XEP-0198)
	// sent but never got acknowledged; nil drops it.
	Undelivered UndeliveredHandler
	// Tokens keeps the tokens of FAST (XEP-0484); nil offers no FAST.
	Tokens Tokens
	// BindFeatures are the features, besides client state indication and
	// stream management, that a client may enable inline when it binds
	// with Bind 2 (XEP-0386), such as carbons.
	BindFeatures []BindFeature
	// Durable, if set, is called before the server acknowledges the
	// client's stanzas with stream management (<a/>, <resumed/>), and
	// returns once what handling them wrote (archived messages, which
	// are committed in groups) is on disk: a client forgets what the
	// server acknowledged.
	Durable func(ctx context.Context) error
	// Backoff holds logins back after failed ones, per account and per
	// address (backoff.Table); nil holds nothing back.
	Backoff Backoff
	// Metrics counts logins and sessions closed for a full queue; nil:
	// counters nobody reads.
	Metrics *metrics.Counters
	Logger  *slog.Logger
}

// Backoff slows down password guessing: every login attempt waits Delay
// before its credentials are checked, and reports how it ended. account
// is the bare JID the attempt names ("" when it named none readable);
// addr is the client's address as netconn.AddrKey gives it.
type Backoff interface {
	Delay(account, addr string) time.Duration
	Failed(account, addr string)
	Succeeded(account, addr string)
}

// BindFeature is a session feature offered inline in Bind 2: Var is
// listed in the Bind 2 stream feature, and the elements of a client's
// <bind xmlns='urn:xmpp:bind:0'/> in that namespace go to Handler once
// the session is bound.
type BindFeature struct {
	Var     string
	Handler BindHandler
}

// BindHandler enables a feature a client asked for in its Bind 2 request
// for the session full, bound by then, and returns what goes into
// <bound/>, or nil.
type BindHandler interface {
	EnableInline(ctx context.Context, full jid.JID, el *xmlstream.Element) *xmlstream.Element
}

// PreAuthHandler answers IQs received on an encrypted but not yet
// authenticated stream. PreAuthStream is called at a stream's first such
// IQ; the function it returns answers that IQ and every later one of the
// same stream, so that it can keep what one IQ established for the next
// (an invitation accepted before in-band registration, XEP-0445). The
// function returns the reply element, or nil for an IQ it does not serve,
// which ends the stream with not-authorized.
type PreAuthHandler interface {
	PreAuthStream() func(ctx context.Context, domain string, iq *xmlstream.Element) *xmlstream.Element
}

func (o *Options) setDefaults() {
	o.ServerOptions.SetDefaults()
	if o.ResumeTimeout == 0 {
		o.ResumeTimeout = 5 * time.Minute
	}
	if o.QueueBytes <= 0 {
		o.QueueBytes = 4 << 20
	}
	if o.MaxAuthFailures <= 0 {
		o.MaxAuthFailures = 3
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = new(metrics.Counters)
	}
}

// ErrServerClosed is returned by Serve after Shutdown. It matches
// netconn.ErrServerClosed.
var ErrServerClosed = netconn.ServerClosed("c2s")

// Server accepts client connections.
type Server struct {
	opts     Options
	router   Router
	creds    Credentials
	domains  map[string]string // each hosted domain to itself, so sessions keep the configured string
	log      *slog.Logger
	conns    *netconn.Set[*session]
	features *featureSet
	bindVars map[string]BindHandler // BindFeatures by namespace

	nextID atomic.Uint64

	mu        sync.Mutex
	resumable map[string]*session // by stream management id

	sweepOnce sync.Once
	sweeping  sync.WaitGroup
}

// New returns a server; it serves nothing until Serve is called.
func New(opts Options, r Router, c Credentials) *Server {
	opts.setDefaults()
	s := &Server{
		opts:      opts,
		router:    r,
		creds:     c,
		domains:   make(map[string]string, len(opts.Domains)),
		log:       opts.Logger,
		conns:     netconn.NewSet[*session](opts.MaxConnsPerIP, opts.Logger),
		resumable: make(map[string]*session),
		features:  newFeatureSet(&opts),
		bindVars:  make(map[string]BindHandler, len(opts.BindFeatures)),
	}
	// A crowd of connections that never log in from the address of a
	// family's NAT must not lock the family out: the oldest of them
	// makes room for a new one (issue 18, item 4).
	s.conns.EvictUnauthenticated(func(c *session) {
		s.opts.Metrics.C2SEvicted.Add(1)
		c.shutdown(errCrowded)
	})
	for _, d := range opts.Domains {
		s.domains[d] = d
	}
	for _, bf := range opts.BindFeatures {
		s.bindVars[bf.Var] = bf.Handler
	}
	return s
}

// Serve accepts STARTTLS connections on ln until Shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	return s.serve(ctx, ln, false)
}

// ServeTLS accepts direct TLS connections (XEP-0368) on ln until Shutdown.
func (s *Server) ServeTLS(ctx context.Context, ln net.Listener) error {
	return s.serve(ctx, ln, true)
}

func (s *Server) serve(ctx context.Context, ln net.Listener, directTLS bool) error {
	err := s.conns.Serve(ln, func(nc net.Conn) { s.ServeConn(ctx, nc, directTLS) })
	if errors.Is(err, netconn.ErrServerClosed) {
		return ErrServerClosed
	}
	return err
}

// ServeConn serves one connection in a new goroutine. With directTLS the
// connection starts with a TLS handshake, unless it already is a
// *tls.Conn whose handshake is done (handed over by an ALPN dispatcher).
// The connection counts against [Options.MaxConnsPerIP].
func (s *Server) ServeConn(ctx context.Context, nc net.Conn, directTLS bool) {
	c, ok := s.conns.Add(nc, func() *session { return s.newSession(nc) })
	if !ok {
		return
	}
	s.startSweep()
	go c.serve(ctx, directTLS, func() { s.conns.Done(c) })
}

// startSweep starts the keepalive sweep with the first connection.
func (s *Server) startSweep() {
	s.sweepOnce.Do(func() {
		s.sweeping.Add(1)
		go s.sweep()
	})
}

// sweep sends whitespace keepalives (RFC 6120 §4.6.1) to the sessions
// that have written nothing for KeepaliveInterval. One goroutine for the
// server instead of a timer per session keeps idle sessions small.
func (s *Server) sweep() {
	defer s.sweeping.Done()
	t := time.NewTicker(max(s.opts.KeepaliveInterval/2, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-s.conns.Closing():
			return
		case now := <-t.C:
			s.conns.Range(func(c *session) { c.keepaliveIfQuiet(now, s.opts.KeepaliveInterval) })
		}
	}
}

// Shutdown stops accepting, ends every stream with system-shutdown and
// waits for the connections to finish, or for ctx, after which those left
// are dropped.
func (s *Server) Shutdown(ctx context.Context) error {
	shut := &stream.Error{Condition: stream.SystemShutdown, Text: "the server is shutting down"}
	err := s.conns.Shutdown(ctx, func(c *session) { c.shutdown(shut) }, (*session).abort)
	s.sweeping.Wait() // it stops as the set closes
	return err
}

// ConnCount returns the number of open connections.
func (s *Server) ConnCount() int { return s.conns.Len() }
