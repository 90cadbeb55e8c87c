package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	"roost/archive"
	"roost/config"
	"roost/im"
	"roost/jid"
	"roost/module"
	"roost/module/adhoc"
	"roost/module/admincmd"
	"roost/module/blocking"
	"roost/module/carbons"
	"roost/module/console"
	"roost/module/contact"
	"roost/module/disco"
	"roost/module/extdisco"
	"roost/module/invite"
	"roost/module/last"
	"roost/module/mam"
	"roost/module/muc"
	"roost/module/offline"
	"roost/module/pep"
	"roost/module/ping"
	"roost/module/private"
	"roost/module/push"
	"roost/module/register"
	"roost/module/vcard"
	"roost/module/version"
	"roost/store"
	"roost/xmlstream"
)

// step builds one module of the list; a nil module is a feature the
// configuration turns off.
type step struct {
	name  string
	build func() (module.Module, error)
}

// wiring builds the modules. Its fields are what later modules take from
// earlier ones: every dependency between features is a field here, set
// by the step that builds it and read by the steps after it.
type wiring struct {
	s   *Server
	set module.Set
	// rosters answers "may this contact see that account's presence?"
	// from the store, for the features built before im.
	rosters  im.Rosters
	blocking *blocking.Module
	offline  *offline.Offline
	// pep keeps avatars and bookmarks, which vcard and private convert
	// to and from; private's stored bookmarks are read back by pep.
	pep     *pep.Module
	private *private.Handler
	muc     *muc.MUC // nil when group chat is off
	// invites is nil when invitations are off.
	invites *invite.Module
	// mam is the account archive, nil when [mam] is off.
	mam *mam.MAM
}

// modules is the server's feature list, in the order features see
// stanzas: interceptors and observers run in this order (as coredns's
// plugin.cfg orders its chain). Each feature declares what it serves in
// its Register method; nothing is wired anywhere else.
func (w *wiring) modules() []step {
	return []step{
		// First, in both directions: nothing else may see a stanza a
		// block list refuses (XEP-0191 §3.3).
		{"blocking", w.newBlocking},
		// Records a logout before im turns it into unavailable presence.
		{"last", w.newLast},
		// Before im, which hands stored messages over once a resource
		// sends initial presence.
		{"offline", w.newOffline},
		// Before im, which consumes broadcast presence: pep reads the
		// caps of the account's own resources in it and adds the avatar
		// hash (XEP-0398 §4) before im sends it out.
		{"pep", w.newPEP},
		// Before im, whose inbound interceptor must find a subscription
		// request that carries an invitation token already pre-approved
		// (XEP-0379); before register, which redeems tokens through it.
		{"invite", w.newInvite},
		// Before im, which takes subscription requests in: push only
		// looks at what arrives for an account, after blocking has
		// refused what the account does not want.
		{"push", w.newPush},
		{"im", w.newIM},
		// Before carbons, after im: archives what im let through and
		// stamps its stanza-id (XEP-0359), both ways, so that carbon
		// copies and offline storage carry it (XEP-0313 §3.5).
		{"mam", w.newMAM},
		// After im: sent copies are made of what im let through.
		{"carbons", w.newCarbons},
		// After carbons: the sender's stanza-id goes on its sent carbon
		// copies, never to the recipient (XEP-0313 §3.5).
		{"mam-seal", w.newMAMSeal},
		{"ping", func() (module.Module, error) { return ping.Handler{}, nil }},
		{"version", w.newVersion},
		{"vcard", w.newVCard},
		{"private", w.newPrivate},
		{"register", w.newRegister},
		// A hosted service: it sees only what is addressed to it, so its
		// place among the interceptors does not matter.
		{"muc", w.newMUC},
		// A hosted service (upload.<domain>) with its own HTTP route; it
		// sees no stanza of the others, so only disco, which lists it,
		// must come after it.
		{"upload", w.newUpload},
		// External components (XEP-0114): hosted services like any
		// other, so before disco, which lists them.
		{"component", w.newComponent},
		// The admins' web pages: after muc, whose rooms it lists; they
		// see no stanza.
		{"console", w.newConsole},
		// Service administration (XEP-0133): commands, served by adhoc.
		{"admincmd", w.newAdminCmd},
		// After every module that declares commands (invite, admincmd),
		// which it serves; before disco, which lists its nodes.
		{"adhoc", w.newAdhoc},
		// The operators' addresses (XEP-0157): a form in the server's
		// disco#info, so before disco.
		{"contact", w.newContact},
		{"extdisco", w.newExtDisco},
		// Last: it lists what the modules before it serve.
		{"disco", w.newDisco},
	}
}

// setupModules builds the module list and installs it on the router. It
// runs before the protocol servers, which offer the stream features and
// the pre-authentication handler the modules declare.
func (s *Server) setupModules() error {
	w := &wiring{s: s, rosters: im.Rosters{Store: s.store}}
	for _, st := range w.modules() {
		m, err := st.build()
		if err != nil {
			return fmt.Errorf("module %s: %w", st.name, err)
		}
		if m == nil {
			continue
		}
		w.set.Add(m)
	}
	if err := w.set.Err(); err != nil {
		return err
	}
	enabled := serviceNames(s.cfg)
	for _, svc := range w.set.Services() {
		if !slices.Contains(enabled, svc.Domain) {
			return fmt.Errorf("module: service %s is not among the names the configuration enables (%v)", svc.Domain, enabled)
		}
	}
	w.set.Install(s.router)
	s.invites = w.invites
	for _, j := range w.set.Jobs() {
		s.jobs = append(s.jobs, job{j.Name, j.Run})
	}
	// Before the protocol servers' stops, which setupModules precedes:
	// modules still reach their users while they stop.
	for _, st := range w.set.Stops() {
		s.stops = append(s.stops, stop{st.Name, st.Run})
	}
	s.modules = &w.set
	s.rooms = w.muc
	return nil
}

func (w *wiring) logger(name string) *slog.Logger { return w.s.log.With("component", name) }

func (w *wiring) newBlocking() (module.Module, error) {
	w.blocking = blocking.New(blocking.Options{
		Store:        w.s.store,
		Router:       w.s.router,
		Subscription: w.rosters.Subscription,
		Logger:       w.logger("blocking"),
	})
	return w.blocking, nil
}

func (w *wiring) newLast() (module.Module, error) {
	return last.New(last.Options{
		Store:        lastStore{w.s.store},
		Sessions:     w.s.router,
		Subscription: w.rosters.Subscription,
		Started:      w.s.started,
		Logger:       w.logger("last"),
	}), nil
}

func (w *wiring) newOffline() (module.Module, error) {
	keep := w.s.cfg.Limits.MaxOfflineMessages
	if keep == 0 {
		keep = -1 // keep none
	}
	w.offline = offline.New(offline.Options{
		Store:  w.s.store,
		Router: w.s.router,
		Max:    keep,
		// A batch in flight counts against the session's queue with its
		// tree overhead (several times its stored size for small
		// elements) and beside the live traffic: an eighth keeps it well
		// clear of closing the session it is meant for.
		BatchBytes: int(w.s.cfg.Limits.QueueBytes / 8),
		Logger:     w.logger("offline"),
	})
	return w.offline, nil
}

func (w *wiring) newPEP() (module.Module, error) {
	lim := w.s.cfg.PEP
	w.pep = pep.New(pep.Options{
		Store:   w.s.store,
		Router:  w.s.router,
		Rosters: w.rosters,
		VCards:  w.s.store,
		// Read when first needed, by which time the private entry, later
		// in the list, has been built.
		LegacyBookmarks: func(_ context.Context, user jid.JID) (*xmlstream.Element, error) {
			return w.private.Fragment(user, xmlstream.Name{Space: "storage:bookmarks", Local: "storage"})
		},
		Blocked: w.blocking.IsBlocked,
		Limits: pep.Limits{
			MaxNodes:       lim.MaxNodes,
			MaxItems:       lim.MaxItems,
			MaxItemBytes:   int(lim.MaxItemBytes),
			MaxSubscribers: lim.MaxSubscribers,
			CapsCache:      lim.CapsCache,
			// Every resource of every contact, and a few more for the
			// account's own and those of contacts mid-change.
			MaxWatchers: (w.s.cfg.Limits.MaxRosterItems + 1) * w.s.cfg.Limits.MaxResources,
		},
		Logger: w.logger("pep"),
	})
	return w.pep, nil
}

func (w *wiring) newIM() (module.Module, error) {
	return im.New(im.Options{
		Store:                   w.s.store,
		Router:                  w.s.router,
		MaxRosterItems:          w.s.cfg.Limits.MaxRosterItems,
		MaxSubscriptionRequests: w.s.cfg.Limits.MaxSubscriptionRequests,
		Blocked:                 w.blocking.IsBlocked,
		OnAvailable:             w.offline.Deliver,
		// As for offline messages (newOffline).
		BatchBytes: int(w.s.cfg.Limits.QueueBytes / 8),
		Logger:     w.logger("im"),
	}), nil
}

func (w *wiring) newMAM() (module.Module, error) {
	c := w.s.cfg.MAM
	if !c.Enabled {
		return nil, nil
	}
	lim := w.s.cfg.Limits
	w.mam = mam.New(mam.Options{
		Archive: newArchiveStore(w.s.store),
		Prefs:   w.s.store,
		Trimmer: w.s.store,
		Router:  w.s.router,
		InRoster: func(_ context.Context, user, contact jid.JID) (bool, error) {
			_, found, err := w.s.store.RosterItem(user.Bare().String(), contact.Bare().String())
			return found, err
		},
		Default: c.Default,
		KeepFor: time.Duration(c.KeepDays) * 24 * time.Hour,
		MaxSize: int64(c.MaxAccountSize),
		Limits:  archive.Limits{MaxPage: c.MaxPage},
		XML:     xmlstream.Limits{MaxStanzaBytes: int(lim.MaxStanzaBytes), MaxDepth: lim.MaxDepth, MaxAttrs: lim.MaxAttributes},
		Logger:  w.logger("mam"),
	})
	return w.mam, nil
}

func (w *wiring) newMAMSeal() (module.Module, error) {
	if w.mam == nil {
		return nil, nil
	}
	return w.mam.Seal(), nil
}

func (w *wiring) newPush() (module.Module, error) {
	c := w.s.cfg.Push
	if !c.Enabled {
		return nil, nil
	}
	lim := w.s.cfg.Limits
	return push.New(push.Options{
		Store:            w.s.store,
		Router:           w.s.router,
		IncludeBody:      c.IncludeBody,
		MaxRegistrations: c.MaxRegistrations,
		XML:              xmlstream.Limits{MaxStanzaBytes: int(lim.MaxStanzaBytes), MaxDepth: lim.MaxDepth, MaxAttrs: lim.MaxAttributes},
		Logger:           w.logger("push"),
	}), nil
}

// newExtDisco offers the configured TURN server (XEP-0215), if any.
func (w *wiring) newExtDisco() (module.Module, error) {
	c := w.s.cfg.TURN
	if c.Host == "" {
		return nil, nil
	}
	services := []extdisco.Service{
		{Type: "stun", Host: c.Host, Port: c.Port, Transport: "udp"},
		{Type: "turn", Host: c.Host, Port: c.Port, Transport: "udp", Restricted: true},
		{Type: "turn", Host: c.Host, Port: c.Port, Transport: "tcp", Restricted: true},
	}
	if c.TLSPort != 0 {
		services = append(services, extdisco.Service{Type: "turns", Host: c.Host, Port: c.TLSPort, Transport: "tcp", Restricted: true})
	}
	return extdisco.New(extdisco.Options{
		Services: services,
		Secret:   []byte(c.Secret),
		Lifetime: c.CredentialLifetime,
		Local:    w.s.router.IsLocal,
	}), nil
}

func (w *wiring) newCarbons() (module.Module, error) { return carbons.New(w.s.router), nil }

func (w *wiring) newVersion() (module.Module, error) {
	return version.New(version.Options{Version: w.s.opts.Version}), nil
}

func (w *wiring) newVCard() (module.Module, error) {
	return vcard.New(vcard.Options{Store: w.s.store, MaxBytes: int(w.s.cfg.Limits.MaxStanzaBytes), OnSet: w.pep.VCardSet}), nil
}

func (w *wiring) newPrivate() (module.Module, error) {
	w.private = private.New(private.Options{Store: w.s.store, MaxBytes: int(w.s.cfg.Limits.MaxStanzaBytes),
		MaxKeys: w.s.cfg.Limits.MaxPrivateKeys, Delegate: w.pep})
	return w.private, nil
}

func (w *wiring) newInvite() (module.Module, error) {
	if !w.s.cfg.Invites.Enabled {
		return nil, nil
	}
	m, err := newInvites(w.s.store, w.s.accounts, w.s.router, w.s.cfg, w.logger("invite"))
	if err != nil {
		return nil, err
	}
	w.invites = m
	return m, nil
}

// newInvites builds the invitation manager, for the running server and
// for admin commands while it is stopped (then without a router: nothing
// is redeemed offline).
func newInvites(st *store.Store, a *Accounts, r invite.Router, cfg config.Config, log *slog.Logger) (*invite.Module, error) {
	c := cfg.Invites
	return invite.New(invite.Options{
		Store:      inviteStore{st},
		Accounts:   inviteAccounts{a},
		Router:     r,
		Domains:    cfg.Domains,
		BaseURL:    func(domain string) string { return publicURL(cfg, domain) },
		Allow:      c.Allow,
		Expiry:     c.Expiry,
		MaxPerUser: c.MaxPerUser,
		WebClient:  c.WebClient,
		ChatPage:   chatPageServed(cfg),
		Logger:     log,
	})
}

// publicURL is the https:// address of the web port for domain:
// https.public_url, or the domain with the first HTTPS listener's port.
func publicURL(cfg config.Config, domain string) string {
	if cfg.HTTPS.PublicURL != "" {
		return strings.TrimSuffix(cfg.HTTPS.PublicURL, "/")
	}
	port := "443"
	if len(cfg.HTTPS.Listen) > 0 {
		if _, p, err := net.SplitHostPort(cfg.HTTPS.Listen[0]); err == nil {
			port = p
		}
	}
	if port == "443" {
		return "https://" + domain
	}
	return "https://" + net.JoinHostPort(domain, port)
}

func (w *wiring) newConsole() (module.Module, error) {
	c := w.s.cfg.Console
	if !c.Enabled {
		return nil, nil
	}
	opts := console.Options{
		Accounts:         consoleAccounts{w.s.accounts},
		Backoff:          consoleBackoff(w.s.logins),
		Sessions:         consoleSessions{w.s},
		Status:           w.s.consoleStatus,
		Domains:          w.s.cfg.Domains,
		SessionTimeout:   c.SessionTimeout,
		MaxLoginFailures: c.MaxLoginFailures,
		LoginWindow:      c.LoginWindow,
		Logger:           w.logger("console"),
	}
	if w.invites != nil {
		opts.Invites = consoleInvites{w.invites}
	}
	if w.muc != nil {
		opts.Rooms = consoleRooms{w.muc}
	}
	return console.New(opts), nil
}

func (w *wiring) newAdminCmd() (module.Module, error) {
	return admincmd.New(admincmd.Options{
		Accounts: adminCmdAccounts{w.s.accounts, w.s.store},
		Sessions: adminCmdSessions{w.s},
		Domains:  w.s.cfg.Domains,
		Logger:   w.logger("admincmd"),
	}), nil
}

func (w *wiring) newAdhoc() (module.Module, error) {
	return adhoc.New(adhoc.Options{
		Commands:       w.set.Commands(),
		Domains:        w.s.cfg.Domains,
		SessionTimeout: w.s.cfg.Commands.SessionTimeout,
		MaxSessions:    w.s.cfg.Commands.MaxSessions,
		Logger:         w.logger("adhoc"),
	}), nil
}

func (w *wiring) newContact() (module.Module, error) {
	c := w.s.cfg.Contact
	return contact.New(contact.Addresses{Admin: c.Admin, Abuse: c.Abuse, Support: c.Support, Security: c.Security,
		Feedback: c.Feedback, Sales: c.Sales}), nil
}

func (w *wiring) newRegister() (module.Module, error) {
	opts := register.Options{
		Accounts: registerAccounts{w.s.accounts},
		Sessions: w.s.router,
		Allow:    w.s.cfg.C2S.Registration,
		Logger:   w.logger("register"),
	}
	if w.invites != nil {
		opts.Invites = w.invites
	}
	return register.New(opts), nil
}

func (w *wiring) newMUC() (module.Module, error) {
	cfg := w.s.cfg
	if !cfg.MUC.Enabled {
		return nil, nil
	}
	opts := mucOptions(cfg, w.s.store, w.logger("muc"))
	opts.Router = w.s.router
	m, err := muc.New(opts)
	if err != nil {
		return nil, err
	}
	w.muc = m
	return m, nil
}

// mucOptions translates the [muc] table; the router is set by the running
// server only.
func mucOptions(cfg config.Config, st *store.Store, log *slog.Logger) muc.Options {
	c := cfg.MUC
	return muc.Options{
		Domains: cfg.Domains,
		Label:   c.Subdomain,
		Store:   st,
		// The same archive as the accounts', with the room as owner.
		Archive: archiveStore{st: st, now: time.Now},
		KeepFor: time.Duration(c.KeepDays) * 24 * time.Hour,
		Trimmer: st,
		Create:  muc.Creators(c.Create),
		Defaults: muc.Config{
			Persistent:   c.Persistent,
			MembersOnly:  c.MembersOnly,
			NonAnonymous: c.NonAnonymous,
			Logging:      c.Logging,
			// A family's room: members may invite family, everyone may
			// set the subject and talk in private.
			AllowInvites:  true,
			ChangeSubject: true,
			AllowPM:       muc.PMAnyone,
		},
		MaxRoomsPerUser:   c.MaxRoomsPerUser,
		MaxOccupants:      c.MaxOccupants,
		History:           historyOption(c.History),
		MaxNickLength:     c.MaxNickLength,
		PresencePerMinute: c.PresencePerMinute,
		Logger:            log,
	}
}

// historyOption maps history = 0 (keep none) to muc's "none".
func historyOption(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

func (w *wiring) newDisco() (module.Module, error) {
	d, err := disco.New(disco.Options{
		Catalog:      w.set.Catalog(),
		Subscription: w.rosters.Subscription,
		Logger:       w.logger("disco"),
	})
	if err != nil {
		return nil, fmt.Errorf("service discovery: %w", err)
	}
	return d, nil
}

// accountDeleted ends the deleted account's sessions and tells the
// modules, which forget what they keep about it in memory.
func (s *Server) accountDeleted(j jid.JID) {
	s.router.CloseUser(j, errAccountDeleted)
	if s.modules == nil {
		return
	}
	for _, o := range s.modules.AccountObservers() {
		o.AccountDeleted(context.Background(), j)
	}
}

// lastStore gives the last activity module the store's batch of logouts.
type lastStore struct{ *store.Store }

func (l lastStore) SetLastActivities(logouts []last.Logout) error {
	recs := make([]store.LastActivity, len(logouts))
	for i, lo := range logouts {
		recs[i] = store.LastActivity{User: lo.User, At: lo.At, Status: lo.Status}
	}
	return l.Store.SetLastActivities(recs)
}

// registerAccounts gives the register module the account manager with the
// errors it understands.
type registerAccounts struct{ a *Accounts }

func (r registerAccounts) AddUser(ctx context.Context, user, password string) error {
	return registerErr(r.a.AddUser(ctx, user, password))
}

func (r registerAccounts) ChangePassword(ctx context.Context, session jid.JID, password string) error {
	return registerErr(r.a.ChangePassword(ctx, session.Bare().String(), password, session))
}

func (r registerAccounts) DeleteUser(ctx context.Context, user string) error {
	return registerErr(r.a.DeleteUser(ctx, user))
}

func registerErr(err error) error {
	return accountErr(err, register.ErrExists, register.ErrWeakPassword, register.ErrBadUser)
}

// accountErr marks an account manager's error with a module's sentinel
// for it (taken name, refused password, invalid name), keeping both in
// the chain.
func accountErr(err, exists, weak, bad error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrUserExists):
		return fmt.Errorf("%w: %w", exists, err)
	case errors.Is(err, ErrWeakPassword):
		return fmt.Errorf("%w: %w", weak, err)
	case errors.Is(err, ErrBadUser):
		return fmt.Errorf("%w: %w", bad, err)
	}
	return err
}

// inviteAccounts gives the invite module the account manager with the
// errors it understands, and the admin role.
type inviteAccounts struct{ a *Accounts }

func (i inviteAccounts) AddUser(ctx context.Context, user, password string) error {
	return accountErr(i.a.AddUser(ctx, user, password), invite.ErrExists, invite.ErrWeakPassword, invite.ErrBadUser)
}

func (i inviteAccounts) DeleteUser(ctx context.Context, user string) error {
	return i.a.DeleteUser(ctx, user)
}

func (i inviteAccounts) SetAdmin(ctx context.Context, user string, admin bool) error {
	return i.a.SetAdmin(ctx, user, admin)
}

func (i inviteAccounts) IsAdmin(ctx context.Context, user string) (bool, error) {
	return i.a.IsAdmin(ctx, user)
}

// inviteStore keeps the invite module's records as the store's
// invitations (the two types have the same fields).
type inviteStore struct{ st *store.Store }

func (i inviteStore) CreateInvite(r invite.Record) error { return i.st.CreateInvite(store.Invite(r)) }

func (i inviteStore) Invite(hash []byte) (invite.Record, bool, error) {
	r, ok, err := i.st.Invite(hash)
	return invite.Record(r), ok, err
}

func (i inviteStore) UpdateInvite(hash []byte, fn func(*invite.Record) (bool, error)) error {
	return i.st.UpdateInvite(hash, func(r *store.Invite) (bool, error) { return fn((*invite.Record)(r)) })
}

func (i inviteStore) Invites(fn func(invite.Record) error) error {
	return i.st.Invites(func(r store.Invite) error { return fn(invite.Record(r)) })
}

func (i inviteStore) DeleteInvites(prefix []byte) (int, error) { return i.st.DeleteInvites(prefix) }

func (i inviteStore) DeleteExpiredInvites(t time.Time) (int, error) {
	return i.st.DeleteExpiredInvites(t)
}
