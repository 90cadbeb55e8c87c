package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"

	"roost/admin"
	"roost/c2s"
	"roost/certs"
	"roost/config"
	"roost/jid"
	"roost/module/ping"
	"roost/router"
	"roost/stanza"
	"roost/store"
	"roost/stream"
	"roost/xmlstream"
)

// Listener names, as systemd socket units name them (FileDescriptorName=).
const (
	ListenC2S    = "c2s"
	ListenC2STLS = "c2s-tls"
)

// StoreFile is the name of the data file inside the data directory.
const StoreFile = "roost.db"

// Options configure a Server.
type Options struct {
	Config  config.Config
	Logger  *slog.Logger
	Version string
	// Listeners are already-bound listeners by name (systemd socket
	// activation); a service with none listens on its configured addresses.
	Listeners map[string][]net.Listener
	// Status, if set, receives one-line status updates (systemd STATUS=).
	Status func(string)
	// ShutdownTimeout bounds a graceful shutdown (default 10s).
	ShutdownTimeout time.Duration
}

// Server is a running roost.
type Server struct {
	opts     Options
	cfg      config.Config
	log      *slog.Logger
	store    *store.Store
	accounts *Accounts
	certs    *certs.Manager
	router   *router.Router
	c2s      *c2s.Server
	started  time.Time

	c2sLns, c2sTLSLns []net.Listener
	adminLn           net.Listener
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
	s := &Server{opts: opts, cfg: cfg, log: opts.Logger, started: time.Now()}
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
	if s.accounts, err = NewAccounts(s.store, cfg.Domains); err != nil {
		return nil, err
	}

	files := make([]certs.KeyPair, len(cfg.TLS.Certificates))
	for i, c := range cfg.TLS.Certificates {
		files[i] = certs.KeyPair{CertFile: c.CertFile, KeyFile: c.KeyFile}
	}
	// Service subdomains (conference., upload.) need certificates too.
	var subs []string
	for _, d := range cfg.Domains {
		for _, label := range cfg.Subdomains {
			subs = append(subs, label+"."+d)
		}
	}
	s.certs, err = certs.New(certs.Options{
		Domains:    cfg.Domains,
		Subdomains: subs,
		Source:     certs.Source(cfg.TLS.Source),
		Files:      files,
		ACME: certs.ACMEOptions{
			DirectoryURL:     cfg.TLS.ACME.Directory,
			Email:            cfg.TLS.ACME.Email,
			CAFile:           cfg.TLS.ACME.CAFile,
			HTTPChallenge:    cfg.TLS.ACME.HTTPChallenge,
			TLSALPNChallenge: cfg.TLS.ACME.TLSALPNChallenge,
			RenewBefore:      cfg.TLS.ACME.RenewBefore,
		},
		Cache:  s.store,
		Logger: s.log.With("component", "certs"),
	})
	if err != nil {
		return nil, fmt.Errorf("certificates: %w", err)
	}

	secret, err := s.secret("secret/sasl")
	if err != nil {
		return nil, err
	}
	s.router = router.New(router.Options{
		Domains:      cfg.Domains,
		MaxResources: cfg.Limits.MaxResources,
		Accounts:     s.accounts,
		Logger:       s.log.With("component", "router"),
	})
	s.accounts.onDelete = func(j jid.JID) {
		s.router.CloseUser(j, &stream.Error{Condition: stream.NotAuthorized, Text: "the account was deleted"})
	}
	s.router.SetHandler(s.modules())

	lim := cfg.Limits
	s.c2s = c2s.New(c2s.Options{
		Domains:              cfg.Domains,
		TLS:                  s.certs.ServerTLSConfig("xmpp-client"),
		SASLSecret:           secret,
		AllowPlain:           cfg.C2S.SASLPlain,
		StrictChannelBinding: cfg.C2S.StrictChannelBinding,
		Limits:               xmlstream.Limits{MaxStanzaBytes: int(lim.MaxStanzaBytes), MaxDepth: lim.MaxDepth, MaxAttrs: lim.MaxAttributes},
		NegotiationTimeout:   lim.NegotiationTimeout,
		IdleTimeout:          lim.IdleTimeout,
		KeepaliveInterval:    lim.KeepaliveInterval,
		WriteTimeout:         lim.WriteTimeout,
		QueueDepth:           lim.QueueDepth,
		MaxAuthFailures:      lim.MaxAuthFailures,
		ReadRate:             int(lim.ReadRateBytes),
		ReadBurst:            int(lim.ReadBurstBytes),
		MaxConnsPerIP:        lim.MaxConnectionsPerIP,
		Logger:               s.log.With("component", "c2s"),
	}, c2sRouter{s.router}, s.accounts)

	if s.c2sLns, err = s.listen(ListenC2S, cfg.C2S.Listen); err != nil {
		return nil, err
	}
	if s.c2sTLSLns, err = s.listen(ListenC2STLS, cfg.C2S.ListenTLS); err != nil {
		return nil, err
	}
	if s.adminLn, err = admin.Listen(cfg.Admin.Socket, cfg.Admin.Group); err != nil {
		return nil, err
	}
	return s, nil
}

// modules builds the handlers for stanzas the server answers itself.
func (s *Server) modules() router.Handler {
	mux := router.NewMux()
	mux.IQ(ping.NS, "ping", ping.Handler{})
	return mux
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

func (s *Server) listen(name string, addrs []string) ([]net.Listener, error) {
	if lns, ok := s.opts.Listeners[name]; ok {
		return lns, nil
	}
	var lns []net.Listener
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			for _, l := range lns {
				_ = l.Close()
			}
			return nil, fmt.Errorf("listen for %s on %s: %w", name, a, err)
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

// Addrs returns the bound addresses by listener name (for tests and logs).
func (s *Server) Addrs() map[string][]net.Addr {
	out := map[string][]net.Addr{}
	for name, lns := range map[string][]net.Listener{ListenC2S: s.c2sLns, ListenC2STLS: s.c2sTLSLns} {
		for _, ln := range lns {
			out[name] = append(out[name], ln.Addr())
		}
	}
	return out
}

// Run serves until ctx is done, then shuts down gracefully.
func (s *Server) Run(ctx context.Context) error {
	defer s.closeAll()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.certs.Run(gctx) })
	// Connections must outlive the signal to stop, so that Shutdown can
	// end each stream with system-shutdown instead of cutting it.
	connCtx := context.WithoutCancel(gctx)
	for _, ln := range s.c2sLns {
		g.Go(func() error { return ignoreClosed(s.c2s.Serve(connCtx, ln)) })
	}
	for _, ln := range s.c2sTLSLns {
		g.Go(func() error { return ignoreClosed(s.c2s.ServeTLS(connCtx, ln)) })
	}
	g.Go(func() error { return admin.Serve(gctx, s.adminLn, s.backend(), s.log.With("component", "admin")) })
	s.log.Info("roost is ready", "version", s.opts.Version, "domains", s.cfg.Domains, "addrs", s.Addrs(),
		"start_s", time.Since(s.started).Seconds())
	s.status("serving " + fmt.Sprint(s.cfg.Domains))

	<-gctx.Done()
	s.status("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
	defer cancel()
	if err := s.c2s.Shutdown(sctx); err != nil {
		s.log.Warn("client streams did not all close in time", "err", err)
	}
	err := g.Wait()
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
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
	for _, ln := range append(append([]net.Listener{}, s.c2sLns...), s.c2sTLSLns...) {
		_ = ln.Close()
	}
	if s.adminLn != nil {
		_ = s.adminLn.Close()
		_ = os.Remove(s.cfg.Admin.Socket)
	}
	if s.store != nil {
		if err := s.store.Close(); err != nil {
			s.log.Error("closing the store", "err", err)
		}
		s.store = nil
	}
}

func ignoreClosed(err error) error {
	if errors.Is(err, c2s.ErrServerClosed) {
		return nil
	}
	return err
}

// backend is the admin backend of a running server.
func (s *Server) backend() admin.Backend { return backend{s} }

type backend struct{ s *Server }

func (b backend) AddUser(ctx context.Context, u, p string) error {
	return b.s.accounts.AddUser(ctx, u, p)
}
func (b backend) DeleteUser(ctx context.Context, u string) error {
	return b.s.accounts.DeleteUser(ctx, u)
}
func (b backend) SetPassword(ctx context.Context, u, p string) error {
	return b.s.accounts.SetPassword(ctx, u, p)
}
func (b backend) Users(ctx context.Context) ([]string, error) { return b.s.accounts.Users(ctx) }

func (b backend) Status(context.Context) (map[string]string, error) {
	st := map[string]string{
		"version":     b.s.opts.Version,
		"domains":     fmt.Sprint(b.s.cfg.Domains),
		"uptime":      time.Since(b.s.started).Round(time.Second).String(),
		"sessions":    strconv.Itoa(b.s.router.SessionCount()),
		"connections": strconv.Itoa(b.s.c2s.ConnCount()),
	}
	return st, nil
}

func (b backend) Backup(_ context.Context, w io.Writer, size func(int64) error) error {
	return backupTo(b.s.store, b.s.cfg.DataDir, w, size)
}

// backupTo makes a consistent copy of st in a temporary file (so that its
// size is known before it is sent), then streams it to w.
func backupTo(st *store.Store, dir string, w io.Writer, size func(int64) error) error {
	f, err := os.CreateTemp(dir, ".backup-*")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	n, err := st.Backup(f)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := size(n); err != nil {
		return err
	}
	_, err = io.Copy(w, f)
	return err
}

// c2sRouter adapts the router to the interface c2s declares.
type c2sRouter struct{ r *router.Router }

func (a c2sRouter) Bind(ctx context.Context, full jid.JID, s c2s.Endpoint) error {
	return a.r.Bind(ctx, full, s)
}

func (a c2sRouter) Unbind(ctx context.Context, full jid.JID, s c2s.Endpoint) {
	a.r.Unbind(ctx, full, s)
}

func (a c2sRouter) FromClient(ctx context.Context, st *stanza.Stanza) error {
	return a.r.FromClient(ctx, st)
}
