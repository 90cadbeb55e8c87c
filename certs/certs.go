package certs

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
	"golang.org/x/net/idna"
)

// Source says where certificates come from.
type Source string

// The certificate sources.
const (
	// SourceSelfSigned serves one self-signed ECDSA P-256 certificate
	// covering every configured name. It is the default, so a first run works
	// before DNS, port forwarding or files are set up.
	SourceSelfSigned Source = "self-signed"
	// SourceFiles serves PEM certificate chains and keys read from files,
	// for example written by certbot or an internal CA.
	SourceFiles Source = "files"
	// SourceACME obtains and renews certificates from an ACME CA (RFC 8555),
	// Let's Encrypt by default, using golang.org/x/crypto/acme/autocert.
	SourceACME Source = "acme"
)

// KeyPair names a PEM certificate chain file (leaf first) and the PEM file
// holding its private key (PKCS #1, PKCS #8 or SEC 1). Both may be the same
// file.
type KeyPair struct {
	CertFile string
	KeyFile  string
}

// ACMEOptions configures SourceACME.
type ACMEOptions struct {
	// DirectoryURL is the CA's ACME directory. Default:
	// autocert.DefaultACMEDirectory (Let's Encrypt production).
	DirectoryURL string
	// Email is the optional contact address registered with the account.
	Email string
	// CAFile optionally names a PEM file of extra roots trusted, besides the
	// system roots, for the HTTPS connections to the ACME server (a private
	// CA, or Pebble in tests). It does not affect the certificates served.
	CAFile string
	// HTTPChallenge enables http-01 (RFC 8555 §8.3): the CA fetches a token
	// from port 80, which must reach [Manager.HTTPHandler].
	HTTPChallenge bool
	// TLSALPNChallenge enables tls-alpn-01 (RFC 8737): the CA opens TLS to
	// port 443 with ALPN "acme-tls/1", which must reach a listener using
	// [Manager.ServerTLSConfig] or [Manager.GetCertificate].
	TLSALPNChallenge bool
	// RenewBefore is how long before expiry a certificate is renewed.
	// Default: a third of its lifetime, at most 30 days. It is capped at half
	// the lifetime so that a short-lived certificate is not renewed in a loop.
	RenewBefore time.Duration
}

// BlobCache is the small key/value store certs keeps its state in: the ACME
// account key and certificates (keys "acme/..."), the last ACME failure of
// each name ("certstatus/...") and the self-signed certificate
// ("selfsigned/..."). *store.Store satisfies it, so everything
// lives in the one bbolt file. Values are PEM and include private keys.
type BlobCache interface {
	// Blob returns the value stored under key, and false if there is none.
	Blob(key string) ([]byte, bool, error)
	// PutBlob stores v under key, replacing any previous value.
	PutBlob(key string, v []byte) error
	// DeleteBlob removes key; removing a missing key is not an error.
	DeleteBlob(key string) error
}

// Options configures a Manager. The zero value of each field is documented.
type Options struct {
	// Domains are the hosted XMPP domains (required). The first one is the
	// default: its certificate is served when a client sends no SNI, as many
	// XMPP peers do, or an SNI name that is not configured.
	Domains []string
	// Subdomains are the full names of service subdomains that need
	// certificates too, e.g. "conference.example.org", "upload.example.org".
	Subdomains []string
	// Source selects where certificates come from. Default: SourceSelfSigned.
	Source Source
	// Files lists the key pairs for SourceFiles. Each configured name is
	// served the first pair whose certificate covers it (SANs, wildcards
	// included).
	Files []KeyPair
	// ACME configures SourceACME.
	ACME ACMEOptions
	// Cache persists keys and certificates (required).
	Cache BlobCache
	// Logger receives certificate events. Default: discard.
	Logger *slog.Logger
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

// Status describes the certificate served for one configured name.
type Status struct {
	Name string
	// Source is where the served certificate comes from. It is
	// SourceSelfSigned when the configured source has no certificate for the
	// name yet; Fallback is then true.
	Source   Source
	Fallback bool
	// Issuer is the issuer's common name (or full DN when it has none).
	Issuer    string
	NotBefore time.Time
	NotAfter  time.Time
	// Fingerprint is the hex SHA-256 of the leaf certificate, for users who
	// pin a self-signed certificate in their client.
	Fingerprint string
	// FingerprintSHA1 is the hex SHA-1 of the leaf: some clients show only
	// that one when they ask to trust a certificate (profanity 0.13,
	// Pidgin), and a user comparing it with the SHA-256 one would see no
	// match. It identifies, it protects nothing.
	FingerprintSHA1 string
	// NextAttempt is, for SourceACME, when the next renewal or retry is due.
	NextAttempt time.Time
	// LastError is the last failure for this name, empty after a success.
	// For SourceACME it survives a restart (it is kept in the BlobCache),
	// so that [Inspect] can report it while the server is stopped.
	LastError string
	// LastErrorAt is when LastError happened, if known.
	LastErrorAt time.Time
	// Advice says in plain words what to do about LastError, or about a
	// certificate clients will not trust.
	Advice string
}

// Manager serves TLS certificates for the configured names. Create it with
// [New]; run its background work with [Manager.Run]. All methods are safe for
// concurrent use.
type Manager struct {
	src      Source
	names    []string            // configured names, normalised; names[0] is the default
	index    map[string]struct{} // the set of names, for the ACME HostPolicy
	cache    BlobCache
	log      *slog.Logger
	now      func() time.Time
	acmeOpts ACMEOptions
	// readOnly is set by Inspect: nothing is generated or written.
	readOnly bool

	// table is the immutable snapshot GetCertificate and Status read. Writers
	// hold mu, build a new table and store it.
	table atomic.Pointer[table]

	mu         sync.Mutex // serialises writers; guards the fields below
	selfSigned *tls.Certificate
	selfErr    string // last self-signed generation or persistence error
	files      []*fileState
	acmeState  map[string]*acmeState

	// ACME only.
	challenge     *autocert.Manager // serves challenge responses from the cache, never issues
	alpnChallenge bool              // tls-alpn-01 enabled: route "acme-tls/1" hellos to challenge
	acmeBase      *http.Transport   // shared by issuers; idle connections closed after each pass

	kick    chan struct{} // wakes Run early (Reload)
	running atomic.Bool

	// Timings, fixed by New; tests in this package shorten them.
	pollInterval time.Duration // file mtime polling
	backoffBase  time.Duration // first ACME retry delay
	backoffMax   time.Duration // cap of the ACME retry delay
	maxSleep     time.Duration // longest Run sleeps without re-checking (clock jumps)
}

// table is an immutable snapshot of what is served.
type table struct {
	byName map[string]*served
	def    *served   // the first domain's entry
	order  []*served // in configured order, for Status
}

// served is the immutable state of one name in a table.
type served struct {
	name        string
	cert        *tls.Certificate
	source      Source
	fallback    bool
	nextAttempt time.Time
	lastErr     string
	lastErrAt   time.Time
	advice      string
}

// Defaults of the unexported timings.
const (
	defaultPollInterval = time.Minute
	// Let's Encrypt allows 5 failed validations per hostname and hour: two
	// minutes doubling gives at most 5 attempts in the first hour.
	defaultBackoffBase = 2 * time.Minute
	defaultBackoffMax  = time.Hour
	defaultMaxSleep    = 30 * time.Minute
)

// New validates opts, loads what the cache and files hold and returns a
// Manager that already serves certificates: the persisted ACME or self-signed
// ones, the files, or the self-signed fallback. It does no network I/O; ACME
// issuance starts with [Manager.Run].
func New(opts Options) (*Manager, error) {
	return newManager(opts, false)
}

// Inspect reports what a Manager made from opts would serve, in the order
// of [Manager.Status], without writing to the cache or contacting a CA: the
// stored ACME and self-signed certificates and the files. It is for
// `roost cert status` while the server is stopped (bbolt then lets another
// process read the store). A name with nothing stored yet has no Issuer and
// says so in Advice; a certificate file that does not load is not an error
// but the LastError of the names no loaded file covers. ACME
// failures are those of the server's last attempts (no NextAttempt).
func Inspect(opts Options) ([]Status, error) {
	m, err := newManager(opts, true)
	if err != nil {
		return nil, err
	}
	return m.Status(), nil
}

func newManager(opts Options, readOnly bool) (*Manager, error) {
	m := &Manager{
		readOnly:     readOnly,
		src:          opts.Source,
		cache:        opts.Cache,
		log:          opts.Logger,
		now:          opts.Now,
		acmeOpts:     opts.ACME,
		index:        make(map[string]struct{}),
		kick:         make(chan struct{}, 1),
		pollInterval: defaultPollInterval,
		backoffBase:  defaultBackoffBase,
		backoffMax:   defaultBackoffMax,
		maxSleep:     defaultMaxSleep,
	}
	if m.src == "" {
		m.src = SourceSelfSigned
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.cache == nil {
		return nil, ErrNoCache
	}
	if len(opts.Domains) == 0 {
		return nil, ErrNoDomains
	}
	for _, raw := range slices.Concat(opts.Domains, opts.Subdomains) {
		name, err := canonicalName(raw)
		if err != nil {
			return nil, err
		}
		if m.src == SourceACME && !strings.Contains(name, ".") {
			// A public CA only issues for names in a public zone, and
			// autocert refuses single-label names.
			return nil, fmt.Errorf("check name %q: single-label names cannot get ACME certificates: %w", raw, ErrBadName)
		}
		if _, dup := m.index[name]; dup {
			continue
		}
		m.index[name] = struct{}{}
		m.names = append(m.names, name)
	}

	switch m.src {
	case SourceSelfSigned:
	case SourceFiles:
		if len(opts.Files) == 0 {
			return nil, ErrNoFiles
		}
		for _, p := range opts.Files {
			fs := &fileState{pair: p}
			if err := fs.load(); err != nil && !m.readOnly {
				// At startup there is no previous certificate to keep
				// serving, and the admin asked for these files: fail loudly.
				// Inspect reports the error per name instead.
				return nil, err
			}
			m.files = append(m.files, fs)
		}
	case SourceACME:
		if err := m.initACME(); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("check source %q: %w", opts.Source, ErrBadSource)
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.ensureSelfSigned(); err != nil {
		return nil, err
	}
	m.publishLocked()
	return m, nil
}

// canonicalName validates a configured name and returns its lower-case
// A-label form without a trailing dot.
func canonicalName(raw string) (string, error) {
	name := strings.TrimSuffix(raw, ".")
	if name == "" || strings.ContainsAny(name, "*:/ ") || net.ParseIP(name) != nil {
		return "", fmt.Errorf("check name %q: %w", raw, ErrBadName)
	}
	// The lookup profile (UTS #46 mapping, as autocert uses) plus DNS length
	// checks, which also reject empty labels.
	profile := idna.New(idna.MapForLookup(), idna.BidiRule(), idna.StrictDomainName(true), idna.VerifyDNSLength(true))
	ascii, err := profile.ToASCII(name)
	if err != nil {
		return "", fmt.Errorf("check name %q: %w: %w", raw, ErrBadName, err)
	}
	return ascii, nil
}

// normalizeHost turns an SNI name or HTTP Host header into the form of the
// configured names: port stripped, ASCII lower case, no trailing dot. It does
// not validate; a name that is not configured simply matches nothing.
func normalizeHost(host string) string {
	if strings.IndexByte(host, ':') >= 0 {
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
	}
	host = strings.TrimSuffix(host, ".")
	for i := 0; i < len(host); i++ {
		if c := host[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(host)
		}
	}
	return host
}

// GetCertificate implements [tls.Config.GetCertificate]. It returns the
// certificate for hello.ServerName; when the client sent no SNI, or a name
// that is not configured, it returns the first domain's certificate, because
// XMPP peers often omit SNI (RFC 6120 §13.7.2.1 does not require it).
//
// A ClientHello offering only ALPN "acme-tls/1" is an ACME CA validating a
// tls-alpn-01 challenge (RFC 8737 §3); when that challenge is enabled it is
// answered with the challenge certificate by autocert.
//
// The common path is a lock-free map lookup and does not allocate.
func (m *Manager) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if m.alpnChallenge && len(hello.SupportedProtos) == 1 && hello.SupportedProtos[0] == acme.ALPNProto {
		return m.challenge.GetCertificate(hello)
	}
	t := m.table.Load()
	name := hello.ServerName
	if name == "" {
		return t.def.cert, nil
	}
	if s, ok := t.byName[name]; ok {
		return s.cert, nil
	}
	if n := normalizeHost(name); n != name {
		if s, ok := t.byName[n]; ok {
			return s.cert, nil
		}
	}
	return t.def.cert, nil
}

// serverCipherSuites are the TLS 1.2 suites offered: ECDHE key exchange and
// AEAD ciphers only (TLS 1.3 suites are not configurable and all qualify).
// ECDSA suites come first: the ACME and self-signed certificates are P-256,
// which is cheap to sign with on a Raspberry Pi.
var serverCipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
}

// ServerTLSConfig returns a new server configuration: TLS 1.2 or later,
// ECDHE AEAD suites, certificates from [Manager.GetCertificate], and ALPN
// protocols nextProtos (e.g. "xmpp-client" for XEP-0368 direct TLS). When the
// tls-alpn-01 challenge is enabled, "acme-tls/1" is appended so the CA's
// validation handshake can negotiate it. The caller may modify the result.
func (m *Manager) ServerTLSConfig(nextProtos ...string) *tls.Config {
	protos := slices.Clone(nextProtos)
	if m.alpnChallenge && !slices.Contains(protos, acme.ALPNProto) {
		protos = append(protos, acme.ALPNProto)
	}
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		CipherSuites:   slices.Clone(serverCipherSuites),
		GetCertificate: m.GetCertificate,
		NextProtos:     protos,
	}
}

// HTTPHandler returns the handler for port 80. When the http-01 challenge is
// enabled it is autocert's responder: it answers
// /.well-known/acme-challenge/ requests for configured hosts (RFC 8555 §8.3)
// and passes everything else to fallback. Otherwise it is fallback itself. A
// nil fallback answers 404.
func (m *Manager) HTTPHandler(fallback http.Handler) http.Handler {
	if fallback == nil {
		fallback = http.NotFoundHandler()
	}
	if m.challenge == nil || !m.acmeOpts.HTTPChallenge {
		return fallback
	}
	return m.challenge.HTTPHandler(fallback)
}

// Status reports the certificate served for every configured name, in the
// order configured (domains, then subdomains).
func (m *Manager) Status() []Status {
	t := m.table.Load()
	out := make([]Status, 0, len(t.order))
	for _, s := range t.order {
		st := Status{
			Name:        s.name,
			Source:      s.source,
			Fallback:    s.fallback,
			NextAttempt: s.nextAttempt,
			LastError:   s.lastErr,
			LastErrorAt: s.lastErrAt,
			Advice:      s.advice,
		}
		if s.cert != nil && s.cert.Leaf != nil {
			leaf := s.cert.Leaf
			st.Issuer = leaf.Issuer.CommonName
			if st.Issuer == "" {
				st.Issuer = leaf.Issuer.String()
			}
			st.NotBefore, st.NotAfter = leaf.NotBefore, leaf.NotAfter
			sum := sha256.Sum256(leaf.Raw)
			st.Fingerprint = hex.EncodeToString(sum[:])
			sum1 := sha1.Sum(leaf.Raw) //nolint:gosec // a fingerprint to compare by eye, as clients show it
			st.FingerprintSHA1 = hex.EncodeToString(sum1[:])
		}
		out = append(out, st)
	}
	return out
}

// Leaf returns the leaf certificate served for name, a configured domain or
// subdomain, and false if name is not configured. Use [Manager.Status] to
// learn whether it is the self-signed fallback.
func (m *Manager) Leaf(name string) (*x509.Certificate, bool) {
	s, ok := m.table.Load().byName[normalizeHost(name)]
	if !ok || s.cert == nil {
		return nil, false
	}
	return s.cert.Leaf, true
}

// Reload re-reads the certificate files (SIGHUP). A file that fails to load
// keeps its previous certificate in service; the failures are returned joined
// and reported in Status. For SourceACME it makes Run retry failed names now,
// with a fresh backoff, so that a fixed port forwarding or DNS record is
// picked up without waiting.
func (m *Manager) Reload() error {
	var err error
	m.mu.Lock()
	switch m.src {
	case SourceFiles:
		err = m.reloadFilesLocked(true)
	case SourceACME:
		now := m.now()
		for _, st := range m.acmeState {
			if st.failures > 0 || st.cert == nil {
				st.failures = 0
				st.next = now
			}
		}
	}
	m.publishLocked()
	m.mu.Unlock()
	select {
	case m.kick <- struct{}{}:
	default:
	}
	return err
}

// publishLocked builds a new table from the current state and stores it.
// The caller holds m.mu.
func (m *Manager) publishLocked() {
	now := m.now()
	t := &table{byName: make(map[string]*served, len(m.names))}
	for _, name := range m.names {
		s := &served{name: name}
		switch m.src {
		case SourceSelfSigned:
			m.fillSelfSigned(s, false, "")
		case SourceFiles:
			m.fillFromFiles(s, now)
		case SourceACME:
			m.fillFromACME(s, now)
		}
		t.byName[name] = s
		t.order = append(t.order, s)
	}
	t.def = t.byName[m.names[0]]
	m.table.Store(t)
}

// fillSelfSigned makes s serve the self-signed certificate. fallback says the
// configured source had nothing; why is its explanation.
func (m *Manager) fillSelfSigned(s *served, fallback bool, why string) {
	s.cert = m.selfSigned
	s.source = SourceSelfSigned
	s.fallback = fallback
	if s.cert == nil {
		// Only in Inspect, before the server's first start.
		s.advice = "no certificate stored yet: roost makes a self-signed one when it starts"
		return
	}
	if m.selfErr != "" {
		s.lastErr = m.selfErr
		s.advice = "check that the database is writable; the self-signed certificate is regenerated on every start until it can be stored"
		return
	}
	if !fallback {
		s.advice = "clients will warn about this self-signed certificate and other servers may refuse to federate: configure ACME or certificate files"
		return
	}
	s.advice = "serving a self-signed certificate until " + why
}

// checkExpiry sets s.lastErr when the served certificate has expired and
// nothing more specific was recorded.
func checkExpiry(s *served, now time.Time, advice string) {
	if s.cert == nil {
		return
	}
	if leaf := s.cert.Leaf; leaf != nil && now.After(leaf.NotAfter) && s.lastErr == "" {
		s.lastErr = fmt.Errorf("check %s: expired %s: %w", s.name, leaf.NotAfter.UTC().Format(time.RFC3339), ErrExpired).Error()
		s.advice = advice
	}
}
