package server

import (
	"fmt"
	"slices"

	"roost/certs"
	"roost/s2s"
	"roost/srv"
)

// Listener names for server-to-server streams, as systemd socket units
// name them (FileDescriptorName=).
const (
	ListenS2S    = "s2s"
	ListenS2STLS = "s2s-tls"
)

// setupS2S wires federation: the s2s server becomes the router's Remote,
// and listens on 5269 (STARTTLS) and 5270 (direct TLS).
func (s *Server) setupS2S() error {
	cfg, lim := s.cfg.S2S, s.cfg.Limits
	if !cfg.Enabled {
		return nil
	}
	secret, err := s.secret("secret/dialback")
	if err != nil {
		return err
	}
	roots, err := certs.LazyRoots(cfg.CAFile)
	if err != nil {
		return fmt.Errorf("s2s.ca_file: %w", err)
	}
	res, err := srv.New(srv.Options{Server: cfg.Resolver, Timeout: min(cfg.ConnectTimeout, srv.DefaultTimeout)})
	if err != nil {
		return fmt.Errorf("s2s: %w", err)
	}
	server := s2s.New(s2s.Options{
		// Service subdomains (conference., upload.) federate as well.
		Domains:                  append(slices.Clone(s.cfg.Domains), serviceNames(s.cfg)...),
		TLS:                      s.certs.ServerTLSConfig("xmpp-server"),
		RootCAs:                  roots,
		RequireValidCertificates: cfg.RequireValidCertificates,
		DialbackSecret:           secret,
		Resolver:                 res,
		AllowPrivateAddresses:    cfg.AllowPrivateAddresses,
		ConnectTimeout:           cfg.ConnectTimeout,
		NegotiationTimeout:       lim.NegotiationTimeout,
		IdleTimeout:              cfg.IdleTimeout,
		KeepaliveInterval:        lim.KeepaliveInterval,
		WriteTimeout:             lim.WriteTimeout,
		QueueDepth:               lim.QueueDepth,
		QueueBytes:               int(lim.FederationQueueBytes),
		Limits:                   parserLimits(lim),
		ReadRate:                 int(lim.ReadRateBytes), // as for clients: see config/roost.toml
		ReadBurst:                int(lim.ReadBurstBytes),
		MaxConnsPerIP:            lim.MaxConnectionsPerIP,
		MaxPendingDialback:       cfg.MaxPendingDialback,
		MaxOutbound:              cfg.MaxOutboundConnections,
		Metrics:                  &s.metrics,
		Logger:                   s.log.With("component", "s2s"),
	}, s.router)
	s.s2s = server
	s.router.SetRemote(server)

	plain, err := s.listen(ListenS2S, cfg.Listen)
	if err != nil {
		return err
	}
	direct, err := s.listen(ListenS2STLS, cfg.ListenTLS)
	if err != nil {
		return err
	}
	s.serveListeners("s2s", plain, server.Serve)
	s.serveListeners("s2s-tls", direct, server.ServeTLS)
	s.stops = append(s.stops, stop{"s2s", server.Shutdown})
	return nil
}
