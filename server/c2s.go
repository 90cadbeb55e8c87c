package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"time"

	"roost/backoff"
	"roost/c2s"
	"roost/config"
	"roost/httpd"
	"roost/jid"
	"roost/module"
	"roost/module/carbons"
	"roost/netconn"
	"roost/router"
	"roost/stanza"
	"roost/stream"
	"roost/xmlstream"
)

// Listener names for client streams, as systemd socket units name them
// (FileDescriptorName=).
const (
	ListenC2S    = "c2s"
	ListenC2STLS = "c2s-tls"
)

func (s *Server) setupC2S() error {
	secret, err := s.secret("secret/sasl")
	if err != nil {
		return err
	}
	cfg, lim := s.cfg, s.cfg.Limits
	var tokens c2s.Tokens
	if cfg.C2S.FastTokenLifetime > 0 {
		tokens = fastTokens{st: s.store, lifetime: cfg.C2S.FastTokenLifetime, now: time.Now}
	}
	var bindFeatures []c2s.BindFeature
	for _, f := range s.modules.BindFeatures() {
		bindFeatures = append(bindFeatures, c2s.BindFeature{Var: f.Var, Handler: f.Handler})
	}
	srv := c2s.New(c2s.Options{
		Domains:              cfg.Domains,
		TLS:                  s.certs.ServerTLSConfig("xmpp-client"),
		SASLSecret:           secret,
		AllowPlain:           cfg.C2S.SASLPlain,
		StrictChannelBinding: cfg.C2S.StrictChannelBinding,
		ServerOptions:        serverOptions(lim),
		ResumeTimeout:        resumeTimeout(lim.ResumeTimeout),
		QueueBytes:           int(lim.QueueBytes),
		MaxAuthFailures:      lim.MaxAuthFailures,
		Backoff:              s.logins,
		ReadRate:             int(lim.ReadRateBytes),
		ReadBurst:            int(lim.ReadBurstBytes),
		MaxConnsPerIP:        lim.MaxConnectionsPerIP,
		Features:             s.modules.StreamFeatures(module.AfterAuth),
		PreAuth:              s.modules.PreAuth(),
		PreAuthFeatures:      s.modules.StreamFeatures(module.BeforeAuth),
		Undelivered:          redeliverer{s.router},
		Tokens:               tokens,
		BindFeatures:         bindFeatures,
		Durable:              s.store.SyncArchive,
		Metrics:              &s.metrics,
		Logger:               s.log.With("component", "c2s"),
	}, s.router, s.accounts)
	s.c2s = srv
	plain, err := s.listen(ListenC2S, cfg.C2S.Listen)
	if err != nil {
		return err
	}
	direct, err := s.listen(ListenC2STLS, cfg.C2S.ListenTLS)
	if err != nil {
		return err
	}
	s.serveListeners("c2s", plain, srv.Serve)
	s.serveListeners("c2s-tls", direct, srv.ServeTLS)
	s.stops = append(s.stops, stop{"c2s", srv.Shutdown})
	return nil
}

// webSocketRoute returns the route of XMPP over WebSocket (RFC 7395) on
// the HTTPS listener, served by the c2s server like its TCP streams, and
// false when [websocket] is off. Its sessions end with c2s's Shutdown, so
// they get a context that no signal cancels, as TCP streams do.
func (s *Server) webSocketRoute() (httpd.Route, bool) {
	ws := s.cfg.WebSocket
	if !ws.Enabled {
		return httpd.Route{}, false
	}
	h := s.c2s.WebSocket(context.Background(), c2s.WebSocketOptions{Origins: ws.Origins, SeeOtherURI: ws.SeeOtherURI})
	return httpd.Route{Pattern: ws.Path, Handler: h}, true
}

// chatPage is the web chat page served beside the WebSocket endpoint, or
// nil when [websocket] chat_page is off. Its converse.js is the site
// chat_app names; else the copy in chat_app_dir (or the one installed
// with roost), served by roost; else the public copy. Which copy is
// decided here, once: installing the files takes a restart, as the
// package's upgrade does.
func (s *Server) chatPage(log *slog.Logger) *httpd.ChatPage {
	ws := s.cfg.WebSocket
	if !chatPageServed(s.cfg) {
		return nil
	}
	page := &httpd.ChatPage{App: ws.ChatApp, WebSocketPath: ws.Path, Registration: s.cfg.C2S.Registration}
	if ws.ChatApp != "" {
		return page
	}
	page.App = config.DefaultChatApp
	dir := ws.ChatAppDir
	if dir == "" {
		dir = s.opts.InstalledChatApp
	}
	if dir == "" {
		log.Info("chat page: converse.js is loaded from the Internet", "url", page.App)
		return page
	}
	app, err := httpd.OpenChatApp(dir)
	switch {
	case err == nil:
		page.Local = app
		s.closers = append(s.closers, func() { _ = app.Close() })
		log.Info("chat page: converse.js served by roost", "dir", dir, "path", app.URL())
	case ws.ChatAppDir != "":
		// Set by hand: a mistake worth a warning, though the page
		// still works with the public copy.
		log.Warn("chat page: websocket.chat_app_dir holds no converse.js; it is loaded from the Internet", "err", err, "url", page.App)
	default:
		log.Info("chat page: converse.js is not installed; it is loaded from the Internet", "dir", dir, "url", page.App)
	}
	return page
}

// chatPageServed reports whether the web port serves the chat page at its
// root: it needs the WebSocket endpoint and an HTTPS listener.
func chatPageServed(cfg config.Config) bool {
	return cfg.WebSocket.Enabled && cfg.WebSocket.ChatPage && len(cfg.HTTPS.Listen) > 0
}

// webSocketLinks lists the WebSocket endpoint in host-meta (XEP-0156 §3,
// RFC 7395 §4), at the address the request reached this listener by: the
// same host and port serve host-meta and the endpoint.
func (s *Server) webSocketLinks(_, authority string) []httpd.Link {
	return []httpd.Link{{Rel: httpd.RelWebSocket, Href: "wss://" + authority + s.cfg.WebSocket.Path}}
}

// resumeTimeout maps the configuration's 0 (no resumption) to what c2s
// takes for it.
func resumeTimeout(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// ignoreClosed maps the error a listener's server returns after Shutdown
// to nil: c2s, s2s and every server built on netconn wrap
// netconn.ErrServerClosed.
func ignoreClosed(err error) error {
	if errors.Is(err, netconn.ErrServerClosed) {
		return nil
	}
	return err
}

// serveListeners adds a job per listener: serve(ctx, ln) until the
// server's Shutdown. Streams outlive the signal to stop, so that Shutdown
// can end each with system-shutdown instead of cutting it.
func (s *Server) serveListeners(name string, lns []net.Listener, serve func(context.Context, net.Listener) error) {
	for _, ln := range lns {
		s.jobs = append(s.jobs, job{name, func(ctx context.Context) error {
			return ignoreClosed(serve(context.WithoutCancel(ctx), ln))
		}})
	}
}

// redeliverer takes back what a session with stream management (XEP-0198)
// sent but never got acknowledged. Messages go to the account's bare JID
// again, so another resource or offline storage gets them, as RFC 6121
// §8.5.3.2.1 treats a message for a resource that is gone; carbon copies
// are not sent twice. IQ requests are answered with an error on the gone
// resource's behalf, so that the requester does not wait. Presence is
// dropped: contacts are probed again at the next login.
type redeliverer struct{ r *router.Router }

func (d redeliverer) Undelivered(ctx context.Context, full jid.JID, els []*xmlstream.Element) {
	for _, el := range els {
		st, err := stanza.Parse(el)
		if err != nil {
			continue
		}
		switch st.Kind {
		case stanza.Message:
			if st.Type == stanza.TypeError || st.Type == stanza.TypeGroupchat || st.Type == stanza.TypeHeadline || isCarbon(el) {
				continue
			}
			st.To = full.Bare()
			d.r.Route(ctx, &st)
		case stanza.IQ:
			if st.Type != stanza.TypeGet && st.Type != stanza.TypeSet || st.From.IsZero() {
				continue
			}
			st.To = full
			reply, err := stanza.Parse(stanza.ErrorReply(&st, stanza.NewError(stanza.ServiceUnavailable, "")))
			if err == nil {
				d.r.Route(ctx, &reply)
			}
		}
	}
}

func isCarbon(el *xmlstream.Element) bool {
	for ch := range el.Elements() {
		if ch.Name.Space == carbons.NS {
			return true
		}
	}
	return false
}

// serverOptions are the limits and timeouts of client and component
// streams, the [limits] table's.
func serverOptions(lim config.Limits) stream.ServerOptions {
	return stream.ServerOptions{
		Limits:             parserLimits(lim),
		NegotiationTimeout: lim.NegotiationTimeout,
		IdleTimeout:        lim.IdleTimeout,
		KeepaliveInterval:  lim.KeepaliveInterval,
		WriteTimeout:       lim.WriteTimeout,
		QueueDepth:         lim.QueueDepth,
	}
}

// parserLimits are the XML parser's limits for every stream kind.
func parserLimits(lim config.Limits) xmlstream.Limits {
	return xmlstream.Limits{MaxStanzaBytes: int(lim.MaxStanzaBytes), MaxDepth: lim.MaxDepth, MaxAttrs: lim.MaxAttributes, MaxElements: lim.MaxElements}
}

// loginBackoff returns the delays after failed logins that
// limits.login_delay_max asks for, nil when it turns them off.
func loginBackoff(lim config.Limits) c2s.Backoff {
	if lim.LoginDelayMax <= 0 {
		return nil
	}
	return backoff.New(backoff.Options{Max: lim.LoginDelayMax, Window: lim.LoginDelayWindow})
}
