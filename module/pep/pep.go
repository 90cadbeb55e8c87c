package pep

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"roost/discoinfo"
	"roost/jid"
	"roost/module"
	"roost/stanza"
	"roost/xmlstream"
)

// Namespaces and form types (XEP-0060 §16, XEP-0115).
const (
	NS       = "http://jabber.org/protocol/pubsub"
	NSEvent  = NS + "#event"
	NSOwner  = NS + "#owner"
	NSErrors = NS + "#errors"
	NSCaps   = "http://jabber.org/protocol/caps"
	nsDelay  = "urn:xmpp:delay"

	FormNodeConfig     = NS + "#node_config"
	FormPublishOptions = NS + "#publish-options"
	FormMetaData       = NS + "#meta-data"
)

// Defaults for [Limits].
const (
	DefaultMaxNodes       = 64
	DefaultMaxItems       = 256
	DefaultMaxItemBytes   = 128 << 10
	DefaultMaxSubscribers = 100
	DefaultCapsCache      = 1000
	DefaultMaxWatchers    = 4000
)

// Store keeps nodes and items; *store.Store satisfies it. Users are bare
// JIDs in string form. The PEP change functions run inside the store's
// write transaction (see store/pep.go): fn(rec, found, nodes) returns the
// record to keep (nil: unchanged, or not created) and how many items the
// node keeps (all when negative).
type Store interface {
	PEPNode(user, node string) (rec []byte, found bool, err error)
	PEPNodes(user string, fn func(node string, rec []byte) error) error
	UpdatePEPNode(user, node string, fn func(rec []byte, found bool, nodes int) ([]byte, int, error)) (created bool, err error)
	PublishPEPItem(user, node, id string, stamp time.Time, item []byte, fn func(rec []byte, found bool, nodes int) ([]byte, int, error)) (created bool, err error)
	DeletePEPNode(user, node string) (existed bool, err error)
	PEPItems(user, node string, ids []string, max int, fn func(id string, published time.Time, item []byte) error) (found bool, err error)
	RetractPEPItems(user, node string, ids []string) (removed []string, err error)
}

// VCards reads and writes stored vCards (XEP-0054), for the avatar
// conversion of XEP-0398; *store.Store satisfies it.
type VCards interface {
	VCard(user string) ([]byte, bool, error)
	PutVCard(user string, v []byte) error
}

// Rosters answers questions about an account's roster; im.Rosters
// satisfies it.
type Rosters interface {
	// Subscription is "none", "to", "from" or "both".
	Subscription(ctx context.Context, user, contact jid.JID) (string, error)
	// Groups are the roster groups of contact, nil when not in the roster.
	Groups(ctx context.Context, user, contact jid.JID) ([]string, error)
}

// Router is what PEP needs of the session table; *router.Router
// satisfies it.
type Router interface {
	Route(ctx context.Context, st *stanza.Stanza)
	// SetPresence records a session's broadcast presence, which answers
	// probes; PEP rewrites it to carry the avatar hash (XEP-0398 §4).
	SetPresence(full jid.JID, available bool, priority int, el *xmlstream.Element) (wasAvailable, ok bool)
}

// Limits bound what PEP keeps. Zero fields take the defaults.
type Limits struct {
	// MaxNodes bounds the nodes of one account.
	MaxNodes int
	// MaxItems bounds the items one node keeps; it is what "max" means
	// in pubsub#max_items.
	MaxItems int
	// MaxItemBytes bounds one item's payload, serialised.
	MaxItemBytes int
	// MaxSubscribers bounds the explicit subscriptions to one node.
	MaxSubscribers int
	// CapsCache bounds the entity capabilities remembered (one entry per
	// client version, XEP-0115 §5).
	CapsCache int
	// MaxWatchers bounds the available resources, the account's own and
	// its contacts', whose interests PEP follows for one account.
	MaxWatchers int
}

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxNodes, DefaultMaxNodes)
	def(&l.MaxItems, DefaultMaxItems)
	def(&l.MaxItemBytes, DefaultMaxItemBytes)
	def(&l.MaxSubscribers, DefaultMaxSubscribers)
	def(&l.CapsCache, DefaultCapsCache)
	def(&l.MaxWatchers, DefaultMaxWatchers)
	return l
}

// LegacyBookmarks reads bookmarks a client stored in private XML storage
// (XEP-0048 over XEP-0049) before they lived in PEP, to migrate them.
type LegacyBookmarks func(ctx context.Context, user jid.JID) (*xmlstream.Element, error)

// Options configure a Module.
type Options struct {
	Store   Store
	Router  Router
	Rosters Rosters
	// VCards, if set, turns avatars into vCard photos (XEP-0398).
	VCards VCards
	// LegacyBookmarks, if set, is read once when an account's bookmarks
	// are first needed and it has none in PEP.
	LegacyBookmarks LegacyBookmarks
	// Blocked reports whether user blocks other (XEP-0191): blocked
	// entities get no notifications (XEP-0163 §4.3.3).
	Blocked func(user, other jid.JID) bool
	Limits  Limits
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// Module is personal eventing. See the package documentation.
type Module struct {
	st      Store
	r       Router
	rosters Rosters
	vcards  VCards
	legacy  LegacyBookmarks
	blocked func(user, other jid.JID) bool
	lim     Limits
	now     func() time.Time
	log     *slog.Logger
	fields  fieldSet

	// prefix starts the ids of the stanzas PEP sends, so that answers to
	// them (disco#info results, bounced notifications) are told apart.
	prefix string
	seq    atomic.Uint64

	mu sync.Mutex
	// watchers: owner's bare JID → full JID of an available resource
	// (the owner's or a contact's) → its client's capabilities.
	watchers map[string]map[string]watcher
	// capsByVer: node#ver → capabilities, shared by every resource
	// running that client version.
	capsByVer map[string]*caps
	// asked: id of a disco#info request in flight → what it asks.
	asked map[string]*capsQuery
	// avatars: owner's bare JID → id (SHA-1) of the current avatar, ""
	// for none; absent until first needed.
	avatars map[string]string
}

// New returns the module.
func New(opts Options) *Module {
	m := &Module{
		st: opts.Store, r: opts.Router, rosters: opts.Rosters, vcards: opts.VCards, legacy: opts.LegacyBookmarks,
		blocked: opts.Blocked, lim: opts.Limits.withDefaults(), now: opts.Now, log: opts.Logger,
		fields:    configFields(),
		watchers:  make(map[string]map[string]watcher),
		capsByVer: make(map[string]*caps),
		asked:     make(map[string]*capsQuery),
		avatars:   make(map[string]string),
	}
	if m.blocked == nil {
		m.blocked = func(jid.JID, jid.JID) bool { return false }
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	m.prefix = "pep" + hex.EncodeToString(b[:]) + "-"
	return m
}

// Name implements module.Module.
func (m *Module) Name() string { return "pep" }

// Register implements module.Module: pubsub on every account's bare JID,
// the presence that tells who wants what, and the service discovery
// that says so (XEP-0163 §6.1).
func (m *Module) Register(r *module.Registry) {
	r.IQ("", NS, "pubsub", module.HandlerFunc(m.handle))
	r.IQ("", NSOwner, "pubsub", module.HandlerFunc(m.handle))
	r.Outbound(module.InterceptorFunc(m.outbound))
	r.Inbound(module.InterceptorFunc(m.inbound))
	r.ObserveSessions(m)
	r.ObserveAccounts(m)
	r.AccountIdentity(discoinfo.Identity{Category: "pubsub", Type: "pep"})
	r.AccountFeatures(Features()...)
	// Profanity 0.13 attaches publish-options (OMEMO's open access model)
	// only when the server's own disco#info lists the feature; ejabberd
	// lists its PEP features there too.
	r.ServerFeatures(NS + "#publish-options")
	r.AccountNodes(m)
}

// Features are the features PEP adds to an account's disco#info: pubsub
// itself and each pubsub# feature it implements (XEP-0060 §10), the
// XEP-0402 conversions and the XEP-0398 one. publish-options is among
// them: Conversations shows PEP as only "partial" without it.
func Features() []string {
	out := []string{NS}
	for _, f := range []string{
		"access-open", "access-presence", "access-roster", "access-whitelist",
		"auto-create", "auto-subscribe", "config-node", "config-node-max", "create-and-configure",
		"create-nodes", "delete-items", "delete-nodes", "filtered-notifications", "instant-nodes",
		"item-ids", "last-published", "manage-subscriptions", "member-affiliation", "meta-data",
		"modify-affiliations", "multi-items", "outcast-affiliation", "persistent-items",
		"presence-notifications", "presence-subscribe", "publish", "publish-options",
		"publisher-affiliation", "purge-nodes", "retract-items", "retrieve-affiliations",
		"retrieve-default", "retrieve-items", "retrieve-subscriptions", "subscribe",
	} {
		out = append(out, NS+"#"+f)
	}
	return append(out, nsBookmarks+"#compat", nsBookmarks+"#compat-pep", nsVCardConversion)
}

// AccountDeleted implements module.AccountObserver: the store deleted the
// account's nodes; forget what is kept in memory.
func (m *Module) AccountDeleted(_ context.Context, bare jid.JID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.watchers, bare.String())
	delete(m.avatars, bare.String())
}

// nextID returns a fresh stanza id of kind k.
func (m *Module) nextID(k byte) string {
	return m.prefix + string(k) + strconv.FormatUint(m.seq.Add(1), 36)
}

// send routes a stanza PEP builds.
func (m *Module) send(ctx context.Context, kind stanza.Kind, typ string, from, to jid.JID, id string, el *xmlstream.Element) {
	m.r.Route(ctx, &stanza.Stanza{Kind: kind, Type: typ, From: from, To: to, ID: id, El: el})
}
