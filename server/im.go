package server

import (
	"roost/im"
	"roost/jid"
	"roost/module/carbons"
	"roost/module/offline"
	"roost/router"
)

// setupIM wires the RFC 6121 core (roster, subscriptions, presence) and
// offline messages. It runs after setupModules, so that the modules'
// interceptors (blocking) see stanzas before im does.
func (s *Server) setupIM() error {
	off := offline.New(offline.Options{
		Store:  s.store,
		Router: s.router,
		Max:    s.cfg.Limits.MaxOfflineMessages,
		Logger: s.log.With("component", "offline"),
	})
	m := im.New(im.Options{
		Store:          s.store,
		Router:         s.router,
		MaxRosterItems: s.cfg.Limits.MaxRosterItems,
		Blocked: func(user, other jid.JID) bool {
			return s.isBlocked != nil && s.isBlocked(user, other)
		},
		OnAvailable: off.Deliver,
		Logger:      s.log.With("component", "im"),
	})
	s.im = m
	s.mux.IQ(im.NSRoster, "query", m)
	s.router.UseOutbound(router.InterceptorFunc(m.InterceptOutbound))
	s.router.UseInbound(router.InterceptorFunc(m.InterceptInbound))
	if s.cfg.Limits.MaxOfflineMessages > 0 {
		// With no storage the router answers service-unavailable; what
		// was stored before is still delivered.
		s.router.UseOffline(off)
	}
	s.router.Observe(m)
	s.c2sFeatures = append(s.c2sFeatures, m.Features()...)

	// Message carbons (XEP-0280) keep a user's devices in step.
	cb := carbons.New(s.router)
	s.mux.IQ(carbons.NS, "enable", cb)
	s.mux.IQ(carbons.NS, "disable", cb)
	s.router.UseOutbound(router.InterceptorFunc(cb.InterceptOutbound))
	s.router.ObserveDeliveries(cb)
	s.router.Observe(cb)
	s.discoFeatures = append(s.discoFeatures, cb.Features()...)
	if s.cfg.Limits.MaxOfflineMessages > 0 {
		s.discoFeatures = append(s.discoFeatures, offline.Feature)
	}
	return nil
}
