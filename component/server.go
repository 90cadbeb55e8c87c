package component

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"

	"roost/netconn"
	"roost/stanza"
	"roost/stream"
	"roost/xmlstream"
)

// Router delivers the stanzas components send. *router.Router satisfies
// it.
type Router interface {
	// Route delivers a stanza whose from address this package has
	// checked: a local account, another component, a service or, over
	// s2s, a remote server.
	Route(ctx context.Context, st *stanza.Stanza)
}

// Options configure a Server. Zero and negative durations and limits take
// the defaults noted on each field.
type Options struct {
	// Secrets are the components that may connect: each one's domain and
	// the secret its handshake proves.
	Secrets map[string]string
	// Server is the address the server pings idle components from, one of
	// its account domains.
	Server string
	// ServerOptions: the parser limits, the timeouts (NegotiationTimeout
	// bounds the stream header and the handshake) and QueueDepth, the
	// most stanzas queued for a component.
	stream.ServerOptions
	// ReadRate and ReadBurst limit the bytes per second read from one
	// connection (0: unlimited).
	ReadRate, ReadBurst int
	// MaxConnsPerIP bounds simultaneous connections from one address
	// (0: unlimited).
	MaxConnsPerIP int
	Logger        *slog.Logger
}

func (o *Options) setDefaults() {
	o.ServerOptions.SetDefaults()
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// ErrServerClosed is returned by Serve after Shutdown. It matches
// netconn.ErrServerClosed.
var ErrServerClosed = netconn.ServerClosed("component")

// Stream errors a component gets.
var (
	errShutdown  = &stream.Error{Condition: stream.SystemShutdown, Text: "the server is shutting down"}
	errQueueFull = &stream.Error{Condition: stream.PolicyViolation, Text: "too many stanzas waiting: the component reads too slowly"}
	errConflict  = &stream.Error{Condition: stream.Conflict, Text: "this component is already connected"}
)

// Server accepts component connections and keeps the table of connected
// components.
type Server struct {
	opts   Options
	router Router
	log    *slog.Logger
	nextID atomic.Uint64
	conns  *netconn.Set[*conn]

	mu        sync.RWMutex
	connected map[string]*conn // by domain: the authenticated component
}

// New returns a server; it serves nothing until Serve is called.
func New(opts Options, r Router) *Server {
	opts.setDefaults()
	return &Server{
		opts:      opts,
		router:    r,
		log:       opts.Logger,
		conns:     netconn.NewSet[*conn](opts.MaxConnsPerIP, opts.Logger),
		connected: make(map[string]*conn),
	}
}

// Serve accepts connections on ln until Shutdown, for the components
// whose domains are listed (every configured component if none are).
func (s *Server) Serve(ctx context.Context, ln net.Listener, domains ...string) error {
	for _, d := range domains {
		if _, ok := s.opts.Secrets[d]; !ok {
			return errors.New("component: serve " + d + ": not a configured component")
		}
	}
	domains = slices.Clone(domains)
	err := s.conns.Serve(ln, func(nc net.Conn) {
		if c, ok := s.conns.Add(nc, func() *conn { return s.newConn(nc, domains) }); ok {
			s.conns.Go(c, func() { c.serve(ctx) })
		}
	})
	if errors.Is(err, netconn.ErrServerClosed) {
		return ErrServerClosed
	}
	return err
}

// Shutdown stops accepting, ends every stream with system-shutdown and
// waits for the connections to finish, or for ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.conns.Shutdown(ctx, func(c *conn) { c.stop(errShutdown) }, (*conn).abort)
}

// Send queues el, a stanza addressed to domain or a JID at it, for the
// component serving domain. It does not block; it reports false when no
// component is connected for domain or its connection is ending. A
// component too slow to take what is queued for it is disconnected.
func (s *Server) Send(domain string, el *xmlstream.Element) bool {
	s.mu.RLock()
	c := s.connected[domain]
	s.mu.RUnlock()
	return c != nil && c.send(el)
}

// Connected reports whether a component serving domain is connected.
func (s *Server) Connected(domain string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.connected[domain] != nil
}

// ConnCount returns the number of open connections, authenticated or not.
func (s *Server) ConnCount() int { return s.conns.Len() }

// claim makes c the component serving its domain. It refuses a second
// connection for a domain already served (see the package documentation:
// the connection that is already there stays).
func (s *Server) claim(c *conn) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.connected[c.domain] != nil {
		return errConflict
	}
	s.connected[c.domain] = c
	return nil
}

// release forgets c as the component serving its domain, if it still is.
func (s *Server) release(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.connected[c.domain] == c {
		delete(s.connected, c.domain)
	}
}
