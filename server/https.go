package server

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"time"

	"roost/httpd"
)

// Listener names of the web ports, as systemd socket units name them
// (FileDescriptorName=).
const (
	ListenHTTPS = "https" // TLS shared by ALPN, usually 443
	ListenHTTP  = "http"  // plain HTTP, usually 80
)

// setupHTTPS binds the web ports. The TLS port dispatches by ALPN:
// tls-alpn-01 validations (answered inside the certificate manager's
// GetCertificate), XMPP client streams to c2s, server streams to s2s (when
// federation is on), HTTP to host-meta, the health page, XMPP over
// WebSocket and the modules' routes (uploaded files). The plain port
// answers http-01 validations and redirects everything else to https. It
// runs after the protocol servers it hands connections to are set up, and
// after the modules, whose HTTP routes it serves.
func (s *Server) setupHTTPS() error {
	cfg := s.cfg
	secure, err := s.listen(ListenHTTPS, cfg.HTTPS.Listen)
	if err != nil {
		return err
	}
	plain, err := s.listen(ListenHTTP, cfg.HTTPS.HTTPListen)
	if err != nil {
		return err
	}
	log := s.log.With("component", "https")
	if len(secure) > 0 {
		var routes []httpd.Route
		for _, rt := range s.modules.Routes() {
			routes = append(routes, httpd.Route{Pattern: rt.Pattern, Handler: rt.Handler})
		}
		var links func(domain, authority string) []httpd.Link
		var chat *httpd.ChatPage
		if ws, ok := s.webSocketRoute(); ok {
			routes = append(routes, ws)
			links = s.webSocketLinks
			chat = s.chatPage(log)
		}
		web, err := httpd.NewHandler(httpd.Options{
			Domains:       cfg.Domains,
			Links:         links,
			ChatPage:      chat,
			Health:        s.health,
			PublicHealth:  cfg.HTTPS.PublicHealth,
			Metrics:       s.metricsHandler(),
			PublicMetrics: cfg.Metrics.Public,
			Logger:        log,
			Routes:        routes,
		})
		if err != nil {
			return err
		}
		protocols := map[string]httpd.ConnHandler{
			// Direct TLS, XEP-0368; c2s sees a finished handshake and
			// counts the connection against its own limits.
			httpd.ProtoXMPPC2S: func(ctx context.Context, c *tls.Conn) { s.c2s.ServeConn(ctx, c, true) },
		}
		if s.s2s != nil {
			// Direct TLS from peer servers (XEP-0368). Only advertised
			// with federation on: otherwise a peer offering only
			// "xmpp-server" fails the handshake (no_application_protocol).
			protocols[httpd.ProtoXMPPS2S] = func(ctx context.Context, c *tls.Conn) { s.s2s.ServeConn(ctx, c) }
		}
		d := httpd.NewDispatcher(httpd.DispatcherOptions{
			// The certificate manager's config: certificates, renewed
			// ones included, through GetCertificate, and "acme-tls/1"
			// when tls-alpn-01 is on.
			TLS:       s.certs.ServerTLSConfig(),
			Protocols: protocols,
			// Peer servers may authenticate with their certificate (SASL
			// EXTERNAL, XEP-0178); s2s verifies it.
			RequestClientCert: []string{httpd.ProtoXMPPS2S},
			HTTP:              web,
			HandshakeTimeout:  cfg.Limits.NegotiationTimeout,
			MaxConnsPerIP:     cfg.Limits.MaxConnectionsPerIP,
			Logger:            log,
		})
		for _, ln := range secure {
			s.jobs = append(s.jobs, job{"https", func(ctx context.Context) error {
				// Handed-on streams must outlive the signal to stop, so
				// that their server's Shutdown ends them gracefully.
				err := d.Serve(context.WithoutCancel(ctx), ln)
				if errors.Is(err, httpd.ErrServerClosed) {
					return nil
				}
				return err
			}})
		}
		// First, so that no new stream reaches a server that is stopping.
		s.stops = append([]stop{{"https", d.Shutdown}}, s.stops...)
		log.Info("serving TLS by ALPN", "protocols", d.NextProtos())
	}
	if len(plain) > 0 {
		var fallback http.Handler = http.NotFoundHandler()
		if len(secure) > 0 {
			fallback = httpd.Redirect(append(append([]string(nil), cfg.Domains...), serviceNames(cfg)...))
		}
		srv := httpd.NewHTTPServer(s.certs.HTTPHandler(fallback), log)
		for _, ln := range plain {
			s.jobs = append(s.jobs, job{"http", func(context.Context) error {
				err := srv.Serve(ln)
				if errors.Is(err, http.ErrServerClosed) {
					return nil
				}
				return err
			}})
		}
		s.stops = append([]stop{{"http", srv.Shutdown}}, s.stops...)
	}
	return nil
}

// health is the state /health reports.
func (s *Server) health() httpd.Health {
	h := httpd.Health{
		UptimeSeconds: int64(time.Since(s.started) / time.Second),
		Sessions:      s.router.SessionCount(),
	}
	for _, st := range s.certs.Status() {
		h.Certificates = append(h.Certificates, httpd.CertHealth{
			Name:     st.Name,
			Source:   string(st.Source),
			Fallback: st.Fallback,
			NotAfter: st.NotAfter,
			Failing:  st.LastError != "",
		})
	}
	return h
}
