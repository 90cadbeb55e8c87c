package config

import (
	_ "embed" // for the default conffile
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// defaultFile is the commented default conffile. It is a string, not a
// []byte, so that no caller can change it: DefaultFile hands out copies.
//
//go:embed roost.toml
var defaultFile string

// Config is the whole conffile. Every field has a toml tag naming its key;
// Default documents the value a missing key takes.
type Config struct {
	// Domains are the XMPP domains this server hosts (the part after the @
	// in a user's address). RFC 7622 §3.2: written as U-labels, lowercase.
	Domains []string `toml:"domains"`
	// Subdomains are further service labels hosted below every domain,
	// included in the server's certificates even before a service uses
	// them. A feature's own label (MUC.Subdomain, UploadLabel) is added by
	// the feature when it is enabled: see ServiceLabels.
	Subdomains []string `toml:"subdomains"`
	// DataDir holds the database, ACME account and certificates, and the
	// self-signed certificate. Parse resolves it against the file's directory.
	DataDir string `toml:"data_dir"`

	Log       Log       `toml:"log"`
	Admin     Admin     `toml:"admin"`
	TLS       TLS       `toml:"tls"`
	C2S       C2S       `toml:"c2s"`
	S2S       S2S       `toml:"s2s"`
	HTTPS     HTTPS     `toml:"https"`
	WebSocket WebSocket `toml:"websocket"`
	PEP       PEP       `toml:"pep"`
	Upload    Upload    `toml:"upload"`
	Import    Import    `toml:"import"`
	Limits    Limits    `toml:"limits"`
	MUC       MUC       `toml:"muc"`
	Invites   Invites   `toml:"invites"`
	Console   Console   `toml:"console"`
	Metrics   Metrics   `toml:"metrics"`
	// Commands is the [commands] table: ad-hoc commands (XEP-0050).
	Commands Commands `toml:"commands"`
	Contact  Contact  `toml:"contact"`
	// Components are the external components (XEP-0114) allowed to
	// connect, one [[component]] block each.
	Components []Component `toml:"component"`
	MAM        MAM         `toml:"mam"`
	TURN       TURN        `toml:"turn"`
	Push       Push        `toml:"push"`
}

// Component is one [[component]] block: an external component (XEP-0114),
// a separate program such as an IRC gateway that connects to roost and
// serves a domain of its own.
type Component struct {
	// Domain is the JID domain the component serves, such as
	// irc.example.org. Stanzas to it, or to any address at it, go to the
	// component; it may send from any address at it.
	Domain string `toml:"domain"`
	// Secret is the password shared with the component; the handshake
	// proves it knows it without sending it.
	Secret string `toml:"secret"`
	// Listen are the "host:port" addresses the component may connect
	// to. Parse sets [DefaultComponentListen] when the block leaves them
	// out. Components that give the same address share its listener.
	Listen []string `toml:"listen"`
	// Name is shown in service discovery (XEP-0030) next to the domain.
	Name string `toml:"name"`
}

// DefaultComponentListen is where components connect when their block
// names no address: the loopback address only, since the component
// protocol is not encrypted, and the port components use by default.
const DefaultComponentListen = "127.0.0.1:5347"

// ServiceLabels returns the labels of the services hosted below every
// domain: the label of each enabled feature that hosts a service, then
// Subdomains. Certificates, federation and DNS checks cover exactly these;
// a feature that hosts a service adds its label here when enabled.
func (c Config) ServiceLabels() []string {
	var labels []string
	if c.MUC.Enabled {
		labels = append(labels, c.MUC.Subdomain)
	}
	// Listed in Subdomains as well (as older files did), it is named once.
	if c.Upload.Enabled && !slices.Contains(c.Subdomains, UploadLabel) {
		labels = append(labels, UploadLabel)
	}
	return append(labels, c.Subdomains...)
}

// MUC is the [muc] table: group chat rooms (XEP-0045) on a service
// below every domain, such as conference.example.org.
type MUC struct {
	Enabled bool `toml:"enabled"`
	// Subdomain is the service's label: rooms are room@<label>.<domain>.
	Subdomain string `toml:"subdomain"`
	// Create says who may create rooms.
	Create RoomCreators `toml:"create"`
	// Persistent, MembersOnly and NonAnonymous are the settings of a new
	// room (muc#roomconfig_persistentroom, _membersonly, _whois);
	// Logging keeps its messages on disk (muc#roomconfig_enablelogging).
	// The room's owners may change them.
	Persistent   bool `toml:"persistent"`
	MembersOnly  bool `toml:"members_only"`
	NonAnonymous bool `toml:"non_anonymous"`
	Logging      bool `toml:"logging"`
	// KeepDays is how long a room's messages are kept, in its archive
	// and in the history shown on join; 0 keeps them forever.
	KeepDays int `toml:"keep_days"`
	// MaxRoomsPerUser bounds the rooms one user owns.
	MaxRoomsPerUser int `toml:"max_rooms_per_user"`
	// MaxOccupants bounds the people in one room.
	MaxOccupants int `toml:"max_occupants"`
	// History is how many of its last messages a room sends to someone who
	// joins (XEP-0045 §7.2.13); a logged room's archive keeps more.
	History int `toml:"history"`
	// MaxNickLength bounds a nickname, in characters.
	MaxNickLength int `toml:"max_nick_length"`
	// PresencePerMinute bounds the presence changes of one occupant that
	// the room passes on per minute; faster changes are merged.
	PresencePerMinute int `toml:"presence_per_minute"`
}

// RoomCreators names who may create group chat rooms.
type RoomCreators string

// Who may create rooms.
const (
	// CreateLocal: users of this server's domains.
	CreateLocal RoomCreators = "local"
	// CreateAnyone: anyone, from any server.
	CreateAnyone RoomCreators = "anyone"
	// CreateAdmin: only the administrator, with `roost room create`.
	CreateAdmin RoomCreators = "admin"
)

// Log is the [log] table. The command line may override both fields.
type Log struct {
	// Level is one of slog.LevelDebug, LevelInfo, LevelWarn, LevelError,
	// written "debug", "info", "warn" or "error".
	Level slog.Level `toml:"level"`
	// Format selects the slog handler.
	Format LogFormat `toml:"format"`
}

// LogFormat names a log output format.
type LogFormat string

// The log formats.
const (
	FormatText    LogFormat = "text"    // slog.TextHandler on stderr
	FormatJSON    LogFormat = "json"    // slog.JSONHandler on stderr
	FormatJournal LogFormat = "journal" // systemd journal fields
)

// Admin is the [admin] table: the unix socket that roost's admin subcommands
// use to talk to the running server.
type Admin struct {
	// Socket is the socket's path. Parse defaults it to
	// <data_dir>/admin.sock when the file leaves it empty.
	Socket string `toml:"socket"`
	// Group, when set, may use the socket (mode 0660); otherwise only the
	// server's own user may (0600).
	Group string `toml:"group"`
}

// TLS is the [tls] table: where the server's certificates come from.
type TLS struct {
	Source TLSSource `toml:"source"`
	// Certificates are used when Source is SourceFiles.
	Certificates []Certificate `toml:"certificate"`
	ACME         ACME          `toml:"acme"`
}

// TLSSource names where certificates come from.
type TLSSource string

// The certificate sources.
const (
	// SourceSelfSigned makes a certificate on first start and keeps it in
	// DataDir. Clients must be told to trust it; most public servers will
	// only federate through dialback (XEP-0220).
	SourceSelfSigned TLSSource = "self-signed"
	// SourceFiles reads PEM files that something else (certbot, a
	// reverse proxy) keeps up to date.
	SourceFiles TLSSource = "files"
	// SourceACME obtains and renews certificates itself (RFC 8555).
	SourceACME TLSSource = "acme"
)

// Certificate is one [[tls.certificate]] entry: a PEM certificate chain and
// its private key. Parse resolves both against the file's directory.
type Certificate struct {
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
}

// ACME is the [tls.acme] table (RFC 8555).
type ACME struct {
	// Directory is the ACME server's directory URL.
	Directory string `toml:"directory"`
	// Email is the optional account contact (RFC 8555 §7.3); some CAs send
	// expiry warnings there. Let's Encrypt needs none.
	Email string `toml:"email"`
	// CAFile holds extra PEM roots to trust for the ACME server itself
	// (a private CA or a test server such as Pebble). Setting it also
	// allows names a public CA refuses (.home.arpa, .internal, ...): a
	// private CA may issue for them.
	CAFile string `toml:"ca_file"`
	// HTTPChallenge answers http-01 (RFC 8555 §8.3) on HTTPS.HTTPListen,
	// which defaults to "[::]:80" for it when the file leaves it out.
	HTTPChallenge bool `toml:"http_challenge"`
	// TLSALPNChallenge answers tls-alpn-01 (RFC 8737) on HTTPS.Listen,
	// which defaults to "[::]:443" for it when the file leaves it out.
	TLSALPNChallenge bool `toml:"tls_alpn_challenge"`
	// RenewBefore is how long before expiry a certificate is renewed.
	RenewBefore time.Duration `toml:"renew_before"`
}

// C2S is the [c2s] table: client connections.
type C2S struct {
	// Listen addresses take STARTTLS streams (RFC 6120 §5); TLS is
	// always required before authentication.
	Listen []string `toml:"listen"`
	// ListenTLS addresses take direct TLS (XEP-0368).
	ListenTLS []string `toml:"listen_tls"`
	// SASLPlain offers PLAIN (RFC 4616) next to SCRAM. It is only ever
	// offered on TLS-protected streams.
	SASLPlain bool `toml:"sasl_plain"`
	// StrictChannelBinding refuses SCRAM logins from clients that claim
	// channel-binding support but do not use it although it is offered
	// (RFC 5802 §6). Off by default: clients that know only tls-unique,
	// which TLS 1.3 lacks, log in that way (XEP-0440 §3).
	StrictChannelBinding bool `toml:"strict_channel_binding"`
	// Registration allows in-band account creation (XEP-0077).
	Registration bool `toml:"registration"`
	// FastTokenLifetime is how long a FAST token (XEP-0484), with which a
	// device logs in again without its password, stays good; a device
	// that logs in with it at least every half lifetime gets a new one
	// in time. 0 turns FAST off.
	FastTokenLifetime time.Duration `toml:"fast_token_lifetime"`
}

// S2S is the [s2s] table: federation with other servers.
type S2S struct {
	Enabled   bool     `toml:"enabled"`
	Listen    []string `toml:"listen"`     // STARTTLS, RFC 6120 §5
	ListenTLS []string `toml:"listen_tls"` // direct TLS, XEP-0368
	// RequireValidCertificates refuses peers that cannot be authenticated
	// with SASL EXTERNAL on a valid certificate (RFC 6120 §13.7.2). When
	// false, dialback (XEP-0220) is accepted instead.
	RequireValidCertificates bool `toml:"require_valid_certificates"`
	// Resolver is a DNS server "ip:port" for SRV lookups; empty means the
	// system's /etc/resolv.conf.
	Resolver string `toml:"resolver"`
	// CAFile holds extra PEM roots trusted for peer certificates.
	CAFile         string        `toml:"ca_file"`
	ConnectTimeout time.Duration `toml:"connect_timeout"`
	// IdleTimeout closes server-to-server streams that carried no stanza
	// for this long.
	IdleTimeout time.Duration `toml:"idle_timeout"`
	// AllowPrivateAddresses lets roost connect to other servers at
	// addresses that are not on the internet (loopback, link-local,
	// RFC 1918 and unique local networks), as servers on one home network
	// or in tests do. Off, DNS answers with such addresses are refused: a
	// stranger's server could otherwise make roost connect into the home.
	AllowPrivateAddresses bool `toml:"allow_private_addresses"`
	// MaxPendingDialback bounds the dialback keys (XEP-0220) one incoming
	// server connection may have checked at once; each may make roost
	// connect to the domain it claims.
	MaxPendingDialback int `toml:"max_pending_dialback"`
	// MaxOutboundConnections bounds the connections roost opens to other
	// servers; half at most are for checking the keys of servers that
	// connected to it.
	MaxOutboundConnections int `toml:"max_outbound_connections"`
}

// HTTPS is the [https] table: the web listeners.
type HTTPS struct {
	// Listen addresses take TLS and dispatch by ALPN (XMPP direct TLS,
	// tls-alpn-01, HTTPS: XEP-0156 host-meta, /health, uploaded files).
	// The default port, 5443, needs no privilege; "[::]:443" is the port
	// every network lets through.
	Listen []string `toml:"listen"`
	// HTTPListen addresses take plain HTTP: ACME http-01, and a redirect to
	// https for everything else.
	HTTPListen []string `toml:"http_listen"`
	// PublicHealth answers /health (status, uptime, sessions,
	// certificates) to anyone; by default only to this machine.
	PublicHealth bool `toml:"public_health"`
	// PublicURL is the https:// address at which people reach the web
	// port (invitation links, the console), such as
	// "https://family.example.org" when a router forwards port 443 to
	// 5443. Empty: https://<domain>, with the port of Listen unless 443.
	PublicURL string `toml:"public_url"`
}

// Invitation policies (Invites.Allow).
const (
	InviteAdmins   = "admins"
	InviteEveryone = "everyone"
)

// Invites is the [invites] table: joining by invitation link (XEP-0401,
// XEP-0445), served on the HTTPS port.
type Invites struct {
	Enabled bool `toml:"enabled"`
	// Allow says who may invite people to make an account: InviteAdmins
	// or InviteEveryone. Everyone may invite contacts who have an account
	// elsewhere.
	Allow string `toml:"allow"`
	// Expiry is how long an invitation is valid unless its maker says.
	Expiry time.Duration `toml:"expiry"`
	// MaxPerUser bounds the open invitations of an account that is not an
	// admin.
	MaxPerUser int `toml:"max_per_user"`
	// WebClient is the address of a web chat app to suggest on the
	// invitation page; empty suggests the web port's own chat page when
	// [websocket] serves one, else none.
	WebClient string `toml:"web_client"`
}

// Console is the [console] table: the admins' web pages on the HTTPS
// port, at /admin/.
type Console struct {
	Enabled bool `toml:"enabled"`
	// SessionTimeout logs an admin out after this long.
	SessionTimeout time.Duration `toml:"session_timeout"`
	// MaxLoginFailures is how many wrong passwords one address may try in
	// LoginWindow before it must wait.
	MaxLoginFailures int           `toml:"max_login_failures"`
	LoginWindow      time.Duration `toml:"login_window"`
}

// Metrics is the [metrics] table: the server's counters at /metrics on
// the HTTPS port, in the Prometheus text format.
type Metrics struct {
	Enabled bool `toml:"enabled"`
	// Public answers /metrics to anyone; by default only to this
	// machine, as /health.
	Public bool `toml:"public"`
}

// Commands is the [commands] table: ad-hoc commands (XEP-0050), such as
// the admins' "add a user" run from a chat app (XEP-0133).
type Commands struct {
	// SessionTimeout forgets a command whose form was not sent back.
	SessionTimeout time.Duration `toml:"session_timeout"`
	// MaxSessions is how many commands one account may have waiting for
	// their forms at once; the oldest gives way.
	MaxSessions int `toml:"max_sessions"`
}

// Contact is the [contact] table: addresses people can reach the server's
// operators at (XEP-0157), each a URI such as "mailto:mum@example.org" or
// "xmpp:mum@example.org".
type Contact struct {
	Admin    []string `toml:"admin"`
	Abuse    []string `toml:"abuse"`
	Support  []string `toml:"support"`
	Security []string `toml:"security"`
	Feedback []string `toml:"feedback"`
	Sales    []string `toml:"sales"`
}

// Import is the [import] table: how roost import reads data moved from
// another server (XEP-0227 documents, Prosody's files) and writes it.
type Import struct {
	// MaxElementBytes bounds one piece of an account the importer holds
	// in memory at a time: a vCard, a message, a PEP item, one value of
	// Prosody's files.
	MaxElementBytes Size `toml:"max_element_bytes"`
	// BatchBytes is how much of one account the importer writes in one
	// transaction: an account larger than this (a long message archive)
	// is written in several, so that memory stays bounded.
	BatchBytes Size `toml:"batch_bytes"`
}

// WebSocket is the [websocket] table: XMPP over WebSocket (RFC 7395), how
// web clients such as converse.js connect, served on the HTTPS listener
// and listed in /.well-known/host-meta (XEP-0156). Without an
// HTTPS.Listen there is none.
type WebSocket struct {
	Enabled bool `toml:"enabled"`
	// Path is the endpoint's path on the HTTPS listener.
	Path string `toml:"path"`
	// Origins are the web pages ("https://chat.example.org") that may
	// connect besides the server's own: https://<domain> on any port for
	// each hosted domain (and http:// for a loopback name such as
	// localhost). "*" allows any page.
	Origins []string `toml:"origins"`
	// SeeOtherURI, if set, sends every web client to another endpoint
	// instead (RFC 7395 §3.6.1), such as "wss://xmpp.example.org/ws".
	SeeOtherURI string `toml:"see_other_uri"`
	// ChatPage serves a web chat page at the root of the HTTPS listener
	// (https://<domain>:5443/): converse.js, set up for this server's
	// WebSocket and domain, so that nobody needs a page of their own.
	ChatPage bool `toml:"chat_page"`
	// ChatApp, if set, is where the browser loads converse.js's files
	// from (the folder holding converse.min.js, converse.min.css and the
	// rest of its dist/), ending in "/"; roost does not fetch it. Empty:
	// roost serves the copy in ChatAppDir, or when there is none the
	// browser loads DefaultChatApp.
	ChatApp string `toml:"chat_app"`
	// ChatAppDir is the folder of converse.js's files roost serves to the
	// chat page itself (at /chat-app/ on the web port), so that the page
	// needs no other site. Empty: the copy installed with roost,
	// share/roost/chat-app beside the folder of the roost program
	// (/usr/share/roost/chat-app for /usr/bin/roost, where the Debian
	// package puts it).
	ChatAppDir string `toml:"chat_app_dir"`
}

// DefaultChatApp is the converse.js release the chat page loads when
// roost has no copy of its own to serve: the npm package the interop tests
// drive (internal/interop/testdata/node/package.json, which `make
// chat-app` installs for roost to serve), its files as jsDelivr serves
// them from npm, with the CORS header a module script from another site
// needs.
const DefaultChatApp = "https://cdn.jsdelivr.net/npm/converse.js@14.0.0/dist/"

// PEP is the [pep] table: personal eventing (XEP-0163), where each
// account's clients keep encryption keys (OMEMO), avatars and bookmarks
// and share them with contacts. Its limits bound what one account keeps.
type PEP struct {
	// MaxNodes bounds the nodes (kinds of data: avatar, bookmarks, one
	// per OMEMO device...) of one account.
	MaxNodes int `toml:"max_nodes"`
	// MaxItems bounds the items one node keeps, what clients get when
	// they ask for "max" (one bookmark is one item).
	MaxItems int `toml:"max_items"`
	// MaxItemBytes bounds one item, such as an avatar image; none is ever
	// larger than Limits.MaxStanzaBytes.
	MaxItemBytes Size `toml:"max_item_bytes"`
	// MaxSubscribers bounds the people one node lists: explicit
	// subscribers and those the account allows or bans.
	MaxSubscribers int `toml:"max_subscribers"`
	// CapsCache bounds the client versions whose interests (entity
	// capabilities, XEP-0115) the server remembers.
	CapsCache int `toml:"caps_cache"`
}

// UploadLabel is the upload service's label below each domain:
// upload.example.org.
const UploadLabel = "upload"

// Upload is the [upload] table: sharing files (HTTP File Upload,
// XEP-0363) through the service upload.<domain>, whose files are served on
// the HTTPS listener.
type Upload struct {
	Enabled bool `toml:"enabled"`
	// PublicURL is the https:// address at which clients reach the HTTPS
	// listener, such as "https://family.example.org" when a router
	// forwards port 443 to this machine's 5443; links are PublicURL +
	// "/upload/...". Empty: [https] public_url when that is set (one
	// setting for a router that forwards 443), else
	// https://upload.<domain>, with the listener's port unless it is 443,
	// and https://localhost:<port> for the domain localhost (whose
	// subdomains few resolvers know).
	PublicURL string `toml:"public_url"`
	// MaxFileSize bounds one file; clients learn it through service
	// discovery.
	MaxFileSize Size `toml:"max_file_size"`
	// UserQuota bounds what one account's files take together, TotalQuota
	// what all files take; 0 is no limit.
	UserQuota  Size `toml:"user_quota"`
	TotalQuota Size `toml:"total_quota"`
	// KeepFree refuses uploads that would leave less free space on the
	// data directory's disk.
	KeepFree Size `toml:"keep_free"`
	// ExpireAfter is how long a file is kept.
	ExpireAfter time.Duration `toml:"expire_after"`
	// SlotTimeout is how long an upload link may wait before the upload
	// starts (XEP-0363 §7 recommends about a minute).
	SlotTimeout time.Duration `toml:"slot_timeout"`
	// MaxConcurrent bounds the uploads one account runs at once.
	MaxConcurrent int `toml:"max_concurrent"`
	// TransferTimeout cuts an upload or download that moves no byte for
	// this long; MinRate cuts one that, after that long, averages fewer
	// bytes per second (slow clients holding connections: slowloris).
	TransferTimeout time.Duration `toml:"transfer_timeout"`
	MinRate         Size          `toml:"min_rate"`
}

// Limits is the [limits] table: the resource limits of STYLE rule 12.
type Limits struct {
	// MaxStanzaBytes bounds one top-level stream element, enforced before
	// buffering. RFC 6120 §13.12 requires accepting at least 10000 bytes.
	MaxStanzaBytes Size `toml:"max_stanza_bytes"`
	// MaxDepth bounds element nesting inside one stanza.
	MaxDepth int `toml:"max_depth"`
	// MaxAttributes bounds the attributes of one element.
	MaxAttributes int `toml:"max_attributes"`
	// MaxElements bounds the elements of one stanza, each attribute
	// counting one more: what a stanza takes in memory once read, which
	// for many tiny elements is far more than its size in bytes.
	MaxElements int `toml:"max_elements"`
	// NegotiationTimeout bounds stream negotiation: TLS, SASL and bind.
	NegotiationTimeout time.Duration `toml:"negotiation_timeout"`
	// IdleTimeout: a client silent this long is pinged (XEP-0199), then
	// disconnected if it stays silent.
	IdleTimeout time.Duration `toml:"idle_timeout"`
	// ResumeTimeout is how long a client session with stream management
	// (XEP-0198) outlives a lost connection, waiting for the client to
	// resume it; 0 makes sessions not resumable.
	ResumeTimeout time.Duration `toml:"resume_timeout"`
	// KeepaliveInterval: a whitespace keepalive (RFC 6120 §4.6.1) is sent on
	// streams quiet this long, to keep NAT mappings open.
	KeepaliveInterval time.Duration `toml:"keepalive_interval"`
	// WriteTimeout bounds every write to a peer.
	WriteTimeout time.Duration `toml:"write_timeout"`
	// MaxAuthFailures closes a stream after that many failed SASL attempts
	// (RFC 6120 §6.4.5).
	MaxAuthFailures int `toml:"max_auth_failures"`
	// LoginDelayMax caps how long a login waits after failed ones from
	// the same address or for the same account (password guessing); 0
	// turns the delays off. LoginDelayWindow is how long failures are
	// remembered after the last one.
	LoginDelayMax    time.Duration `toml:"login_delay_max"`
	LoginDelayWindow time.Duration `toml:"login_delay_window"`
	// QueueDepth is the number of stanzas queued to one session before it
	// is closed as too slow. It must exceed MaxOfflineMessages: stored
	// messages arrive in one burst when the user logs in.
	QueueDepth int `toml:"queue_depth"`
	// QueueBytes bounds the memory the stanzas waiting for one client
	// session take (queued, held back for an inactive client, or sent and
	// not yet acknowledged); past it the session is closed as too slow,
	// and a session waiting to be resumed ends, its stanzas stored
	// offline.
	QueueBytes Size `toml:"queue_bytes"`
	// FederationQueueBytes bounds the memory the stanzas waiting for another
	// server take: per domain pair while the stream to it is set up, and
	// per established stream; a stanza that does not fit goes back to its
	// sender with resource-constraint.
	FederationQueueBytes Size `toml:"federation_queue_bytes"`
	// MaxResources bounds concurrent sessions per account (RFC 6120 §7.6.2.1).
	MaxResources int `toml:"max_resources"`
	// MaxOfflineMessages bounds stored messages per account; 0 disables
	// offline storage.
	MaxOfflineMessages int `toml:"max_offline_messages"`
	// MaxRosterItems bounds contacts per account.
	MaxRosterItems int `toml:"max_roster_items"`
	// MaxSubscriptionRequests bounds the subscription requests from
	// strangers waiting for an account's answer; they do not count
	// against MaxRosterItems.
	MaxSubscriptionRequests int `toml:"max_subscription_requests"`
	// MaxPrivateKeys bounds the kinds of private XML (XEP-0049) one
	// account keeps, each up to MaxStanzaBytes.
	MaxPrivateKeys int `toml:"max_private_keys"`
	// ReadRateBytes is the sustained bytes per second read from one
	// connection, a client's or another server's; ReadBurstBytes is the
	// token bucket's size.
	ReadRateBytes  Size `toml:"read_rate_bytes"`
	ReadBurstBytes Size `toml:"read_burst_bytes"`
	// MaxConnectionsPerIP bounds simultaneous connections from one address
	// (an IPv6 /64 counts as one), counted apart for clients, servers and
	// the HTTPS port. For clients, the oldest connection from the address
	// that has not logged in makes room for a new one.
	MaxConnectionsPerIP int `toml:"max_connections_per_ip"`
}

// MAM is the [mam] table: the message archive (XEP-0313), which keeps a
// copy of every conversation so that all of an account's devices see the
// same history.
type MAM struct {
	Enabled bool `toml:"enabled"`
	// Default is what an account that has not chosen archives: "always",
	// "roster" (only conversations with contacts in its roster) or
	// "never" (XEP-0441).
	Default string `toml:"default"`
	// KeepDays is how long messages are kept; 0 keeps them forever.
	KeepDays int `toml:"keep_days"`
	// MaxAccountSize is the most one account's archive keeps; the oldest
	// messages beyond it are deleted. 0: no cap.
	MaxAccountSize Size `toml:"max_account_size"`
	// MaxPage is the most messages one archive query returns (RSM max,
	// XEP-0059), whatever the client asks for.
	MaxPage int `toml:"max_page"`
}

// TURN is the [turn] table: a STUN/TURN server (such as coturn) that
// roost tells clients about (XEP-0215), so that calls get through home
// routers. roost does not relay calls itself.
type TURN struct {
	// Host is the TURN server's name or address; empty offers none.
	Host string `toml:"host"`
	// Port is its STUN/TURN port (UDP and TCP); TLSPort its TURNS port,
	// 0 for none.
	Port    int `toml:"port"`
	TLSPort int `toml:"tls_port"`
	// Secret is the TURN server's shared secret (coturn's
	// static-auth-secret, with use-auth-secret): roost makes
	// time-limited credentials with it.
	Secret string `toml:"secret"`
	// CredentialLifetime is how long the credentials handed out stay
	// valid.
	CredentialLifetime time.Duration `toml:"credential_lifetime"`
}

// Push is the [push] table: push notifications (XEP-0357), which wake a
// phone app the system has put to sleep when a message arrives.
type Push struct {
	Enabled bool `toml:"enabled"`
	// IncludeBody puts the message's text in the notification, which
	// then passes through the app's push server and Apple's or Google's.
	IncludeBody bool `toml:"include_body"`
	// MaxRegistrations bounds the apps (devices) of one account that
	// receive notifications; the oldest is dropped for a new one.
	MaxRegistrations int `toml:"max_registrations"`
}

// Size is a number of bytes. The file may write it as an integer or as a
// string with a binary unit: "256KiB", "1 MiB".
type Size int64

// Default returns the configuration used for every key the file leaves out.
// Each call returns a fresh value.
func Default() Config {
	return Config{
		Domains: []string{"localhost"},
		DataDir: "data",
		Log:     Log{Level: slog.LevelInfo, Format: FormatText},
		Admin:   Admin{Socket: filepath.Join("data", adminSocketName)},
		TLS: TLS{
			Source: SourceSelfSigned,
			ACME: ACME{
				Directory:     "https://acme-v02.api.letsencrypt.org/directory",
				HTTPChallenge: true,
				RenewBefore:   720 * time.Hour,
			},
		},
		C2S: C2S{
			Listen:    []string{"[::]:5222"},
			ListenTLS: []string{"[::]:5223"},
			SASLPlain: true,
			// Three weeks, as Prosody: a phone left in a drawer for a
			// holiday still logs in without its password.
			FastTokenLifetime: 21 * 24 * time.Hour,
		},
		S2S: S2S{
			Enabled:        true,
			Listen:         []string{"[::]:5269"},
			ListenTLS:      []string{"[::]:5270"},
			ConnectTimeout: 15 * time.Second,
			// A server checks one key per domain it sends from, a few at
			// a time (a main domain and its services).
			MaxPendingDialback: 10,
			// Far more servers than a household talks to at once.
			MaxOutboundConnections: 100,
			IdleTimeout:            10 * time.Minute,
		},
		WebSocket: WebSocket{
			Enabled:  true,
			Path:     "/xmpp-websocket",
			ChatPage: true,
		},
		PEP: PEP{
			MaxNodes:       64,
			MaxItems:       256,
			MaxItemBytes:   128 << 10,
			MaxSubscribers: 100,
			CapsCache:      1000,
		},
		HTTPS: HTTPS{
			Listen: []string{"[::]:5443"},
		},
		Upload: Upload{
			Enabled:         true,
			MaxFileSize:     100 << 20,
			UserQuota:       5 << 30,
			TotalQuota:      20 << 30,
			KeepFree:        1 << 30,
			ExpireAfter:     365 * 24 * time.Hour,
			SlotTimeout:     5 * time.Minute,
			MaxConcurrent:   3,
			TransferTimeout: 30 * time.Second,
			MinRate:         4 << 10,
		},
		Invites: Invites{
			Enabled:    true,
			Allow:      InviteAdmins,
			Expiry:     7 * 24 * time.Hour,
			MaxPerUser: 10,
		},
		Metrics: Metrics{Enabled: true},
		Console: Console{
			Enabled:          true,
			SessionTimeout:   12 * time.Hour,
			MaxLoginFailures: 10,
			LoginWindow:      15 * time.Minute,
		},
		Commands: Commands{
			SessionTimeout: 10 * time.Minute,
			MaxSessions:    10,
		},
		Import: Import{
			MaxElementBytes: 16 << 20,
			BatchBytes:      8 << 20,
		},
		Limits: Limits{
			MaxStanzaBytes:          256 << 10,
			MaxDepth:                32,
			MaxAttributes:           32,
			MaxElements:             8192,
			NegotiationTimeout:      30 * time.Second,
			IdleTimeout:             5 * time.Minute,
			ResumeTimeout:           5 * time.Minute,
			KeepaliveInterval:       60 * time.Second,
			WriteTimeout:            30 * time.Second,
			MaxAuthFailures:         3,
			LoginDelayMax:           10 * time.Second,
			LoginDelayWindow:        15 * time.Minute,
			QueueDepth:              1024,
			QueueBytes:              4 << 20,
			FederationQueueBytes:    4 << 20,
			MaxResources:            10,
			MaxOfflineMessages:      500,
			MaxRosterItems:          1000,
			MaxSubscriptionRequests: 100,
			MaxPrivateKeys:          100,
			ReadRateBytes:           64 << 10,
			ReadBurstBytes:          256 << 10,
			MaxConnectionsPerIP:     64,
		},
		MUC: MUC{
			Enabled:           true,
			Subdomain:         "conference",
			Create:            CreateLocal,
			Persistent:        true,
			MembersOnly:       true,
			NonAnonymous:      true,
			Logging:           true,
			KeepDays:          365,
			MaxRoomsPerUser:   20,
			MaxOccupants:      100,
			History:           50,
			MaxNickLength:     64,
			PresencePerMinute: 12,
		},
		MAM: MAM{
			Enabled:        true,
			Default:        "always",
			KeepDays:       365,
			MaxAccountSize: 100 << 20,
			MaxPage:        100,
		},
		TURN: TURN{
			Port:               3478,
			CredentialLifetime: 24 * time.Hour,
		},
		Push: Push{
			Enabled:          true,
			MaxRegistrations: 5,
		},
	}
}

// adminSocketName is the admin socket's file name inside DataDir.
const adminSocketName = "admin.sock"

// DefaultFile returns the commented default conffile, which is also the
// packaged /etc/roost/roost.toml. It parses to Default() except for data_dir
// (and the admin socket inside it), which it sets to /var/lib/roost.
func DefaultFile() []byte {
	return []byte(defaultFile)
}

// Load reads the file at path and returns Parse's result for it. Relative
// paths in the file are resolved against the file's absolute directory.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return Config{}, fmt.Errorf("resolve config path: %w", err)
	}
	return parse(path, filepath.Dir(abs), data)
}

// Parse decodes data, the contents of the file called name, over Default()
// and validates the result. Relative paths in the file are resolved against
// filepath.Dir(name), and name prefixes every error.
//
// A non-nil error is an errors.Join of *FieldError values in file order, so
// that `roost check` can print every problem at once; the Config is then the
// zero value.
func Parse(name string, data []byte) (Config, error) {
	return parse(name, filepath.Dir(name), data)
}

// Validate checks c as Parse does, for a Config built in code. Its errors
// are *FieldError values, joined, without file positions. Relative paths
// in c are taken as they are, relative to the working directory.
func (c Config) Validate() error {
	return joinErrors(validate(c, source{}))
}

func parse(name, dir string, data []byte) (Config, error) {
	c, src, errs := decodeFile(name, data)
	if src.pos == nil {
		// Not TOML: there is nothing to validate.
		return Config{}, joinErrors(errs)
	}
	c.resolvePaths(dir)
	c.acmeListeners(src)
	c.componentListeners()
	errs = append(errs, validate(c, src)...)
	if len(errs) > 0 {
		return Config{}, joinErrors(errs)
	}
	return c, nil
}

// Listen addresses an enabled ACME challenge implies (RFC 8555 §8.3, RFC
// 8737 §3: the CA connects to port 80 or 443 of the name).
const (
	acmeHTTPListen = "[::]:80"
	acmeTLSListen  = "[::]:443"
)

// acmeListeners gives the web listeners their ACME defaults: when
// tls.source is "acme" and the file does not mention https.http_listen
// (https.listen), an enabled http-01 (tls-alpn-01) challenge listens on
// every address at port 80 (443), so that `source = "acme"` and a domain
// are a complete configuration. A list the file sets, even empty, is kept.
func (c *Config) acmeListeners(src source) {
	if c.TLS.Source != SourceACME {
		return
	}
	if _, set := src.pos["https.http_listen"]; !set && c.TLS.ACME.HTTPChallenge {
		c.HTTPS.HTTPListen = []string{acmeHTTPListen}
	}
	if _, set := src.pos["https.listen"]; !set && c.TLS.ACME.TLSALPNChallenge {
		c.HTTPS.Listen = []string{acmeTLSListen}
	}
}

// componentListeners gives every [[component]] without a listen address
// the default one.
func (c *Config) componentListeners() {
	for i := range c.Components {
		if len(c.Components[i].Listen) == 0 {
			c.Components[i].Listen = []string{DefaultComponentListen}
		}
	}
}

// resolvePaths makes the file's relative paths relative to dir, and derives
// the admin socket from DataDir when the file left it empty.
func (c *Config) resolvePaths(dir string) {
	resolve := func(p *string) {
		if *p == "" {
			return
		}
		if filepath.IsAbs(*p) {
			*p = filepath.Clean(*p)
			return
		}
		*p = filepath.Join(dir, *p)
	}
	resolve(&c.DataDir)
	if c.Admin.Socket == "" && c.DataDir != "" {
		c.Admin.Socket = filepath.Join(c.DataDir, adminSocketName)
	} else {
		resolve(&c.Admin.Socket)
	}
	for i := range c.TLS.Certificates {
		resolve(&c.TLS.Certificates[i].CertFile)
		resolve(&c.TLS.Certificates[i].KeyFile)
	}
	resolve(&c.TLS.ACME.CAFile)
	resolve(&c.S2S.CAFile)
	resolve(&c.WebSocket.ChatAppDir)
}
