package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"roost/jid"
	"roost/module/blocking"
	"roost/module/disco"
	"roost/module/last"
	"roost/module/ping"
	"roost/module/private"
	"roost/module/register"
	"roost/module/vcard"
	"roost/module/version"
	"roost/router"
	"roost/store"
)

// setupModules builds the handlers for stanzas the server answers itself.
// The module list is static: each module is a package under module/. It
// runs before setupIM, so that the blocking interceptors see stanzas before
// im does, and before the protocol servers are set up, so that modules can
// add stream features (s.c2sFeatures, s.preAuthFeatures) and a pre-auth
// handler (s.preAuth).
func (s *Server) setupModules() error {
	cfg := s.cfg
	logger := func(name string) *slog.Logger { return s.log.With("component", name) }

	blk := blocking.New(blocking.Options{
		Store:        s.store,
		Router:       s.router,
		Subscription: s.subscription,
		Logger:       logger("blocking"),
	})
	s.isBlocked = blk.IsBlocked
	lst := last.New(last.Options{
		Store:        lastStore{s.store},
		Sessions:     s.router,
		Subscription: s.subscription,
		Started:      s.started,
		Logger:       logger("last"),
	})
	vc := vcard.New(vcard.Options{Store: s.store, MaxBytes: int(cfg.Limits.MaxStanzaBytes)})
	priv := private.New(private.Options{Store: s.store, MaxBytes: int(cfg.Limits.MaxStanzaBytes)})
	ver := version.New(version.Options{Version: s.opts.Version})
	reg := register.New(register.Options{
		Accounts: registerAccounts{s.accounts},
		Sessions: s.router,
		Allow:    cfg.C2S.Registration,
		Logger:   logger("register"),
	})

	// Blocking comes first in both directions: nothing else may see a
	// stanza a block list refuses (XEP-0191 §3.3).
	s.router.UseInbound(router.InterceptorFunc(blk.Inbound))
	s.router.UseOutbound(router.InterceptorFunc(blk.Outbound), lst)
	s.router.Observe(blk)
	s.router.Observe(lst)
	prev := s.accounts.onDelete
	s.accounts.onDelete = func(j jid.JID) {
		blk.Forget(j)
		if prev != nil {
			prev(j)
		}
	}

	s.mux.IQ(ping.NS, "ping", ping.Handler{})
	s.mux.IQ(version.NS, "query", ver)
	s.mux.IQ(last.NS, "query", lst)
	s.mux.IQ(vcard.NS, "vCard", vc)
	s.mux.IQ(private.NS, "query", priv)
	s.mux.IQ(blocking.NS, "blocklist", blk)
	s.mux.IQ(blocking.NS, "block", blk)
	s.mux.IQ(blocking.NS, "unblock", blk)
	s.mux.IQ(register.NS, "query", reg)

	// Service discovery lists exactly what is served: the features of the
	// handlers above here, im's in setupIM; setupDisco builds it last.
	s.discoFeatures = append(s.discoFeatures, ping.NS)
	for _, m := range []interface{ Features() []string }{ver, lst, vc, priv, blk, reg} {
		s.discoFeatures = append(s.discoFeatures, m.Features()...)
	}
	// Registration requests before login are always answered (closed:
	// service-unavailable); the feature is advertised only when open.
	s.preAuth = reg
	s.preAuthFeatures = append(s.preAuthFeatures, reg.StreamFeatures()...)
	return nil
}

// setupDisco builds service discovery (XEP-0030) and the server's entity
// capabilities (XEP-0115) from s.discoFeatures, once every other module
// has added its features (it runs after setupIM) and before setupC2S,
// which offers the caps as a stream feature.
func (s *Server) setupDisco() error {
	d, err := disco.New(disco.Options{
		Features: s.discoFeatures,
		// What the server answers on an account's behalf (RFC 6121
		// §8.5.2.1.3).
		AccountFeatures: []string{last.NS, vcard.NS},
		Subscription:    s.subscription,
		Logger:          s.log.With("component", "disco"),
	})
	if err != nil {
		return fmt.Errorf("service discovery: %w", err)
	}
	s.mux.IQ(disco.NSInfo, "query", d)
	s.mux.IQ(disco.NSItems, "query", d)
	s.c2sFeatures = append(s.c2sFeatures, d.Caps())
	return nil
}

// subscription looks up a roster subscription in im, which setupIM builds
// after the modules; until then (and if im is absent) nobody is
// subscribed, which only ever hides information.
func (s *Server) subscription(ctx context.Context, user, contact jid.JID) (string, error) {
	if s.im == nil {
		return "none", nil
	}
	return s.im.Subscription(ctx, user, contact)
}

// lastStore records last activity; an account deleted while its last
// session was ending has nothing left to record.
type lastStore struct{ *store.Store }

func (l lastStore) SetLastActivity(user string, at time.Time, status string) error {
	if err := l.Store.SetLastActivity(user, at, status); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

// registerAccounts gives the register module the account manager with the
// errors it understands.
type registerAccounts struct{ a *Accounts }

func (r registerAccounts) AddUser(ctx context.Context, user, password string) error {
	return registerErr(r.a.AddUser(ctx, user, password))
}

func (r registerAccounts) SetPassword(ctx context.Context, user, password string) error {
	return registerErr(r.a.SetPassword(ctx, user, password))
}

func (r registerAccounts) DeleteUser(ctx context.Context, user string) error {
	return registerErr(r.a.DeleteUser(ctx, user))
}

func registerErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrUserExists):
		return fmt.Errorf("%w: %w", register.ErrExists, err)
	case errors.Is(err, ErrWeakPassword):
		return fmt.Errorf("%w: %w", register.ErrWeakPassword, err)
	case errors.Is(err, ErrBadUser):
		return fmt.Errorf("%w: %w", register.ErrBadUser, err)
	}
	return err
}
