package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"time"

	"golang.org/x/sync/errgroup"

	"roost/c2s"
	"roost/certs"
	"roost/component"
	"roost/config"
	"roost/jid"
	"roost/metrics"
	"roost/module"
	"roost/module/invite"
	"roost/module/muc"
	"roost/module/upload"
	"roost/router"
	"roost/s2s"
	"roost/store"
	"roost/stream"
)

// StoreFile is the name of the data file inside the data directory.
const StoreFile = "roost.db"

// errAccountDeleted ends the sessions of a deleted account.
var errAccountDeleted = &stream.Error{Condition: stream.NotAuthorized, Text: "the account was deleted"}

// errPasswordChanged ends the other sessions of an account whose password
// changed: reset, as for credentials revoked during the life of the
// stream (RFC 6120 §4.9.3.16); the client logs in again with the new one.
var errPasswordChanged = &stream.Error{Condition: stream.Reset, Text: "the password was changed"}

// Options configure a Server.
type Options struct {
	Config  config.Config
	Logger  *slog.Logger
	Version string
	// Listeners are already-bound listeners by name (systemd socket
	// activation; see the Listen* constants); a service with none listens
	// on its configured addresses.
	Listeners map[string][]net.Listener
	// Status, if set, receives one-line status updates (systemd STATUS=).
	Status func(string)
	// ShutdownTimeout bounds a graceful shutdown (default 10s).
	ShutdownTimeout time.Duration
	// InstalledChatApp is the folder of the copy of converse.js installed
	// with roost, which the chat page uses when [websocket] chat_app_dir
	// is empty (see httpd.ChatApp). Empty: none.
	InstalledChatApp string
}

// Server is a running roost. Each subsystem (c2s.go, admin.go, ...) sets
// itself up in New through a setup method that binds its listeners and
// registers what Run starts and what shutdown stops.
type Server struct {
	opts     Options
	cfg      config.Config
	log      *slog.Logger
	store    *store.Store
	accounts *Accounts
	// logins holds back password guessing at every door that takes a
	// password (c2s, the web console); nil when limits turn it off.
	logins  c2s.Backoff
	certs   *certs.Manager
	router  *router.Router
	modules *module.Set    // the features, built by setupModules
	rooms   *muc.MUC       // group chat, nil when off
	upload  *upload.Module // nil when file sharing is off
	invites *invite.Module // nil when invitations are off
	c2s     *c2s.Server
	s2s     *s2s.Server // nil when federation is disabled
	// components is the external components' listener (XEP-0114), made
	// by the component module; nil when none is configured.
	components *component.Server
	started    time.Time
	metrics    metrics.Counters // shared by router, c2s and s2s; /metrics

	listeners map[string][]net.Listener // bound, by listener name
	jobs      []job                     // started by Run
	stops     []stop                    // run in order at shutdown
	closers   []func()                  // release resources, last first
}

// job is a goroutine owned by Run. It must return when ctx is done (or
// when its stop has run).
type job struct {
	name string
	run  func(ctx context.Context) error
}

// stop is one step of a graceful shutdown.
type stop struct {
	name string
	fn   func(ctx context.Context) error
}

// New opens the store, prepares certificates and binds every listener.
// When it returns without error the server is ready to Run.
func New(opts Options) (_ *Server, err error) {
	cfg := opts.Config
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 10 * time.Second
	}
	s := &Server{opts: opts, cfg: cfg, log: opts.Logger, started: time.Now(), listeners: map[string][]net.Listener{}}
	defer func() {
		if err != nil {
			s.closeAll()
		}
	}()

	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	s.store, err = store.Open(filepath.Join(cfg.DataDir, StoreFile), store.Options{})
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	st := s.store
	s.closers = append(s.closers, func() {
		if err := st.Close(); err != nil {
			s.log.Error("closing the store", "err", err)
		}
	})
	// Archived messages wait in memory for a group commit; this job
	// commits them (and what is left at shutdown, before the store
	// closes).
	s.jobs = append(s.jobs, job{"archive commits", func(ctx context.Context) error { return st.RunArchive(ctx, archiveCommitEvery) }})
	if s.accounts, err = NewAccounts(s.store, cfg.Domains); err != nil {
		return nil, err
	}
	s.logins = loginBackoff(cfg.Limits)
	if err := s.setupCerts(); err != nil {
		return nil, err
	}
	s.router = router.New(router.Options{
		Domains:      cfg.Domains,
		MaxResources: cfg.Limits.MaxResources,
		Accounts:     s.accounts,
		Metrics:      &s.metrics,
		Logger:       s.log.With("component", "router"),
	})
	s.accounts.onDelete = s.accountDeleted
	s.accounts.onPasswordChange = func(j, keep jid.JID) { s.router.CloseUserExcept(j, keep, errPasswordChanged) }
	// Modules first: the protocol servers offer the stream features and
	// serve the hosted services they declare.
	for _, setup := range []func() error{s.setupModules, s.setupC2S, s.setupS2S, s.setupComponents, s.setupHTTPS, s.setupAdmin} {
		if err := setup(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *Server) setupCerts() error {
	opts := certOptions(s.cfg)
	opts.Cache = s.store
	opts.Logger = s.log.With("component", "certs")
	m, err := certs.New(opts)
	if err != nil {
		return fmt.Errorf("certificates: %w", err)
	}
	s.certs = m
	s.jobs = append(s.jobs, job{"certs", m.Run})
	return nil
}

// secret returns a random server secret kept in the store under key, made
// on first use.
func (s *Server) secret(key string) ([]byte, error) {
	v, ok, err := s.store.Blob(key)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	if ok && len(v) >= 32 {
		return v, nil
	}
	v = make([]byte, 32)
	if _, err := rand.Read(v); err != nil {
		return nil, fmt.Errorf("make %s: %w", key, err)
	}
	if err := s.store.PutBlob(key, v); err != nil {
		return nil, fmt.Errorf("store %s: %w", key, err)
	}
	return v, nil
}

// listen binds the configured addresses for a listener name, unless
// systemd passed sockets for it; a name already bound returns its
// listeners (the upload module reads the HTTPS port before the HTTPS
// server is set up).
//
// Go turns TCP keepalive on for every accepted connection, with a 15 s idle
// time, by default: three system calls per connection and, on an idle
// phone's connection, a probe that wakes its radio every 15 s. roost needs
// none of it: streams keep themselves alive (whitespace keepalives, pings
// and write deadlines, RFC 6120 §4.6) and HTTP has its idle timeout.
// Sockets systemd passed get the same through [withoutKeepAlive].
func (s *Server) listen(name string, addrs []string) ([]net.Listener, error) {
	if lns, ok := s.listeners[name]; ok {
		return lns, nil
	}
	lns, ok := s.opts.Listeners[name]
	if ok {
		lns = withoutKeepAlive(lns)
	} else {
		lc := net.ListenConfig{KeepAlive: -1}
		for _, a := range addrs {
			ln, err := lc.Listen(context.Background(), "tcp", a)
			if err != nil {
				return nil, fmt.Errorf("listen for %s on %s: %w", name, a, err)
			}
			lns = append(lns, ln)
			s.closers = append(s.closers, func() { _ = ln.Close() })
		}
	}
	s.listeners[name] = lns
	return lns, nil
}

// withoutKeepAlive turns TCP keepalive off on the connections lns accept.
// A listener systemd passed (socket activation) was not made by a
// ListenConfig, so Go turns keepalive on for each connection it accepts;
// turning it off again costs one more system call per connection, and
// spares an idle phone a probe every 15 s.
func withoutKeepAlive(lns []net.Listener) []net.Listener {
	out := make([]net.Listener, len(lns))
	for i, ln := range lns {
		if tl, ok := ln.(*net.TCPListener); ok {
			ln = quietListener{tl}
		}
		out[i] = ln
	}
	return out
}

// quietListener is a TCP listener whose connections have no keepalive.
type quietListener struct{ *net.TCPListener }

func (l quietListener) Accept() (net.Conn, error) {
	c, err := l.AcceptTCP()
	if err != nil {
		return nil, err
	}
	// An error here means the connection is already gone, which its
	// first read reports; an accept error would stop the whole listener.
	_ = c.SetKeepAlive(false)
	return c, nil
}

// Addrs returns the bound addresses by listener name (for tests and logs).
func (s *Server) Addrs() map[string][]net.Addr {
	out := map[string][]net.Addr{}
	for name, lns := range s.listeners {
		for _, ln := range lns {
			out[name] = append(out[name], ln.Addr())
		}
	}
	return out
}

// Run serves until ctx is done, then shuts down gracefully: every stop in
// order (ending streams with system-shutdown), then the jobs are waited
// for and the store is closed.
func (s *Server) Run(ctx context.Context) error {
	defer s.closeAll()
	g, gctx := errgroup.WithContext(ctx)
	for _, j := range s.jobs {
		g.Go(func() error {
			if err := j.run(gctx); err != nil && !errors.Is(err, context.Canceled) {
				return fmt.Errorf("%s: %w", j.name, err)
			}
			return nil
		})
	}
	names := make([]string, 0, len(s.listeners))
	for n := range s.listeners {
		names = append(names, n)
	}
	sort.Strings(names)
	s.log.Info("roost is ready", "version", s.opts.Version, "domains", s.cfg.Domains, "listeners", names, "addrs", s.Addrs(),
		"start_s", time.Since(s.started).Seconds())
	s.status(fmt.Sprintf("serving %v", s.cfg.Domains))

	<-gctx.Done()
	s.status("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
	defer cancel()
	for _, st := range s.stops {
		if err := st.fn(sctx); err != nil {
			s.log.Warn("shutdown step did not finish cleanly", "step", st.name, "err", err)
		}
	}
	err := g.Wait()
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// Reload re-reads what can change without a restart: certificate files.
func (s *Server) Reload() error {
	return s.certs.Reload()
}

func (s *Server) status(msg string) {
	if s.opts.Status != nil {
		s.opts.Status(msg)
	}
}

func (s *Server) closeAll() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
}
