package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

const (
	// acmePrefix prefixes every autocert cache key in the BlobCache.
	acmePrefix = "acme/"
	// failurePrefix prefixes the last failed attempt of a name (JSON
	// acmeFailure), kept so that it outlives the process for Inspect.
	failurePrefix = "certstatus/"
	// issuerRenewBefore is the RenewBefore of the short-lived issuing
	// autocert.Managers. autocert starts a renewal timer for every certificate
	// it issues and offers no way to stop it; with this value the timer fires
	// only at the certificate's expiry, and by then the issuer is closed (see
	// issuerCache), so it adopts the newer certificate from the cache
	// without network I/O. Renewal is Run's job.
	issuerRenewBefore = 10 * time.Microsecond
	// acmeRequestTimeout bounds one HTTP exchange with the CA.
	acmeRequestTimeout = time.Minute
	// maxACMEBody bounds an ACME JSON response read by acmeTransport.
	maxACMEBody = 1 << 20
	// maxProblems bounds the challenge failures remembered per attempt.
	maxProblems = 4
)

// acmeState is the ACME state of one name, guarded by Manager.mu.
type acmeState struct {
	cert      *tls.Certificate // nil until the first issuance
	failures  int              // consecutive failed attempts
	next      time.Time        // next attempt: renewal time or retry time
	lastErr   string
	lastErrAt time.Time
	advice    string
}

// acmeFailure is the stored form of a name's last failed attempt.
type acmeFailure struct {
	Error  string    `json:"error"`
	Advice string    `json:"advice"`
	At     time.Time `json:"at"`
}

// loadFailure fills st with the last failure stored for name, if any. A
// restart forgets the backoff, not what went wrong.
func (m *Manager) loadFailure(name string, st *acmeState) {
	data, ok, err := m.cache.Blob(failurePrefix + name)
	if err != nil || !ok {
		return
	}
	var f acmeFailure
	if json.Unmarshal(data, &f) != nil {
		return
	}
	st.lastErr, st.advice, st.lastErrAt = f.Error, f.Advice, f.At
}

// storeFailure records st's failure for name, or removes the record after a
// success. It is best effort: the failure is logged and in Status anyway.
// The caller holds m.mu.
func (m *Manager) storeFailure(name string, st *acmeState) {
	if st.lastErr == "" {
		if err := m.cache.DeleteBlob(failurePrefix + name); err != nil {
			m.log.Warn("cannot clear the stored ACME failure", "name", name, "err", err)
		}
		return
	}
	data, err := json.Marshal(acmeFailure{Error: st.lastErr, Advice: st.advice, At: st.lastErrAt})
	if err == nil {
		err = m.cache.PutBlob(failurePrefix+name, data)
	}
	if err != nil {
		m.log.Warn("cannot store the ACME failure", "name", name, "err", err)
	}
}

// initACME validates the ACME options, builds the HTTP transport trusting
// the system roots plus CAFile, the challenge responder and the per-name
// state from the cache.
func (m *Manager) initACME() error {
	o := &m.acmeOpts
	if !o.HTTPChallenge && !o.TLSALPNChallenge {
		return ErrNoChallenge
	}
	if o.DirectoryURL == "" {
		o.DirectoryURL = autocert.DefaultACMEDirectory
	}
	pool, err := Roots(o.CAFile)
	if err != nil {
		return err
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	// A few requests every few weeks gain nothing from reused connections,
	// and a kept-alive one still busy when Run ends would outlive it:
	// CloseIdleConnections only closes idle ones.
	base.DisableKeepAlives = true
	m.acmeBase = base

	// The challenge Manager only answers the CA: tls-alpn-01 in
	// GetCertificate and http-01 in HTTPHandler. It reads the responses the
	// issuers put in the shared cache ("Multiple Managers can share the same
	// Cache") and is never asked for a regular certificate, so it never
	// issues nor starts renewal timers. Its Client refuses all requests to
	// make that certain.
	m.challenge = &autocert.Manager{
		Cache:      acmeCache{m.cache},
		HostPolicy: m.hostPolicy,
		Client:     &acme.Client{HTTPClient: &http.Client{Transport: closedTransport{}}},
	}
	m.alpnChallenge = o.TLSALPNChallenge

	now := m.now()
	m.acmeState = make(map[string]*acmeState, len(m.names))
	var missing []string
	for _, name := range m.names {
		st := &acmeState{next: now}
		m.acmeState[name] = st
		m.loadFailure(name, st)
		c, err := m.loadACMECert(name, now)
		if err != nil {
			return err
		}
		if c == nil {
			missing = append(missing, name)
			continue
		}
		st.cert = c
		st.next = m.renewAt(c.Leaf)
	}
	if len(missing) > 0 && !m.readOnly {
		m.log.Warn("no ACME certificate yet, serving the self-signed certificate until one is obtained", "names", missing)
	}
	return nil
}

// loadACMECert returns the certificate autocert stored for name, or nil if
// there is none or it is unusable (wrong name, expired, corrupt).
func (m *Manager) loadACMECert(name string, now time.Time) (*tls.Certificate, error) {
	data, ok, err := m.cache.Blob(acmePrefix + name)
	if err != nil {
		return nil, fmt.Errorf("read ACME certificate for %s: %w", name, err)
	}
	if !ok {
		return nil, nil
	}
	c, err := parseKeyPair(data, data)
	if err == nil {
		err = c.Leaf.VerifyHostname(name)
	}
	if err == nil && !now.Before(c.Leaf.NotAfter) {
		err = ErrExpired
	}
	if err != nil {
		m.log.Warn("ignoring stored ACME certificate", "name", name, "err", err)
		return nil, nil
	}
	return c, nil
}

// renewAt returns when a certificate should be renewed: RenewBefore (default
// a third of the lifetime, at most 30 days, as autocert does) before expiry,
// but never earlier than half its lifetime.
func (m *Manager) renewAt(leaf *x509.Certificate) time.Time {
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	before := m.acmeOpts.RenewBefore
	if before <= 0 {
		before = min(life/3, 30*24*time.Hour)
	}
	before = min(before, life/2)
	return leaf.NotAfter.Add(-before)
}

// hostPolicy is the autocert.HostPolicy: exactly the configured names. The
// host may carry a port (an http-01 Host header) and any letter case.
func (m *Manager) hostPolicy(_ context.Context, host string) error {
	if _, ok := m.index[normalizeHost(host)]; ok {
		return nil
	}
	return fmt.Errorf("check host %q: %w", host, ErrUnknownHost)
}

// fillFromACME makes s serve the name's ACME certificate, or the self-signed
// fallback before the first issuance.
func (m *Manager) fillFromACME(s *served, now time.Time) {
	st := m.acmeState[s.name]
	if !m.readOnly {
		// Inspect knows no schedule: the server starts afresh.
		s.nextAttempt = st.next
	}
	if st.cert == nil {
		m.fillSelfSigned(s, true, "the first ACME certificate is obtained")
		if st.lastErr != "" {
			s.lastErr, s.lastErrAt = st.lastErr, st.lastErrAt
			s.advice = st.advice + " (a self-signed certificate is served meanwhile)"
		}
		return
	}
	s.cert = st.cert
	s.source = SourceACME
	s.lastErr, s.lastErrAt, s.advice = st.lastErr, st.lastErrAt, st.advice
	checkExpiry(s, now, "renewal keeps failing; fix the cause above")
}

// acmeCache is the autocert.Cache on the BlobCache, under "acme/".
type acmeCache struct{ c BlobCache }

func (a acmeCache) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	v, ok, err := a.c.Blob(acmePrefix + key)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	if !ok {
		return nil, autocert.ErrCacheMiss
	}
	return v, nil
}

func (a acmeCache) Put(ctx context.Context, key string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := a.c.PutBlob(acmePrefix+key, data); err != nil {
		return fmt.Errorf("store %s: %w", key, err)
	}
	return nil
}

func (a acmeCache) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := a.c.DeleteBlob(acmePrefix + key); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

// isTokenKey reports whether an autocert cache key holds a challenge
// response (tls-alpn-01 certificate or http-01 body).
func isTokenKey(key string) bool {
	return strings.HasSuffix(key, "+token") || strings.HasSuffix(key, "+http-01")
}

// isCertKey reports whether an autocert cache key holds a certificate.
func isCertKey(key string) bool {
	return !isTokenKey(key) && !strings.HasPrefix(key, "acme_account")
}

// issuerCache is the cache of one issuing autocert.Manager. While open it
// hides stored certificates, so that autocert issues a new one even though
// the current one is still valid (that is what renewal needs), and it records
// the challenge responses put so they can be deleted when the attempt ends.
// Once closed it is read-only: a late autocert goroutine (the cleanup it
// starts with "go", or its renewal timer) can then neither remove a response
// a later issuer relies on nor overwrite a certificate.
type issuerCache struct {
	acmeCache
	mu     sync.Mutex
	closed bool
	tokens []string
}

func (c *issuerCache) Get(ctx context.Context, key string) ([]byte, error) {
	c.mu.Lock()
	hide := !c.closed && isCertKey(key)
	c.mu.Unlock()
	if hide {
		return nil, autocert.ErrCacheMiss
	}
	return c.acmeCache.Get(ctx, key)
}

func (c *issuerCache) Put(ctx context.Context, key string, data []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrIssuerClosed
	}
	if isTokenKey(key) {
		c.tokens = append(c.tokens, key)
	}
	return c.acmeCache.Put(ctx, key, data)
}

func (c *issuerCache) Delete(ctx context.Context, key string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	return c.acmeCache.Delete(ctx, key)
}

// deleteTokens removes the challenge responses put so far.
func (c *issuerCache) deleteTokens() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range c.tokens {
		_ = c.acmeCache.Delete(context.Background(), k)
	}
	c.tokens = nil
}

func (c *issuerCache) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
}

// challengeProblem is a failed challenge validation, read from an
// authorization object (RFC 8555 §7.1.4, §8: the challenge's "error").
type challengeProblem struct {
	name      string // identifier value
	challenge string // "tls-alpn-01", "http-01", ...
	typ       string // problem type, "urn:ietf:params:acme:error:..."
	detail    string
}

// acmeTransport is the HTTP transport of one issuance pass. It
//   - fails every request once the pass's context is done, and cancels the
//     ones in flight, because autocert runs its requests under contexts of
//     its own (context.Background plus minutes);
//   - records the challenge errors in authorization objects, which autocert
//     drops (it only reports "no viable challenge type found");
//   - when dropALPN is set, removes tls-alpn-01 from authorization objects,
//     because autocert always tries tls-alpn-01 first and offers no switch
//     to disable it; a doomed attempt would count against the CA's limit of
//     failed validations.
type acmeTransport struct {
	base     http.RoundTripper
	ctx      context.Context
	dropALPN bool

	mu       sync.Mutex
	problems []challengeProblem
}

func (t *acmeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.ctx.Err() != nil {
		return nil, ErrIssuerClosed
	}
	ctx, cancel := context.WithCancel(req.Context())
	stop := context.AfterFunc(t.ctx, cancel)
	done := func() { stop(); cancel() }
	resp, err := t.base.RoundTrip(req.WithContext(ctx))
	if err != nil {
		done()
		return nil, err
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		resp.Body = &doneBody{ReadCloser: resp.Body, done: done}
		return resp, nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxACMEBody))
	resp.Body.Close()
	done()
	if err != nil {
		return nil, fmt.Errorf("read ACME response: %w", err)
	}
	body = t.inspect(body)
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Del("Content-Length")
	return resp, nil
}

// doneBody runs done when the response body is closed.
type doneBody struct {
	io.ReadCloser
	once sync.Once
	done func()
}

func (b *doneBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.done)
	return err
}

// authzDoc is the part of an authorization object acmeTransport reads.
type authzDoc struct {
	Identifier *struct {
		Value string `json:"value"`
	} `json:"identifier"`
	Challenges []struct {
		Type  string `json:"type"`
		Error *struct {
			Type   string `json:"type"`
			Detail string `json:"detail"`
		} `json:"error"`
	} `json:"challenges"`
}

// inspect records the challenge errors of an authorization object and
// returns the body to hand to the ACME client, filtered if dropALPN is set.
// Anything that is not an authorization object passes unchanged.
func (t *acmeTransport) inspect(body []byte) []byte {
	var doc authzDoc
	if json.Unmarshal(body, &doc) != nil || doc.Identifier == nil || doc.Challenges == nil {
		return body
	}
	t.mu.Lock()
	for _, c := range doc.Challenges {
		if c.Error == nil {
			continue
		}
		t.addProblemLocked(challengeProblem{name: doc.Identifier.Value, challenge: c.Type, typ: c.Error.Type, detail: c.Error.Detail})
	}
	t.mu.Unlock()
	if !t.dropALPN {
		return body
	}
	if out, ok := dropChallenges(body, "tls-alpn-01"); ok {
		return out
	}
	return body
}

// addProblemLocked records p, replacing an earlier record of the same
// challenge (the client polls an authorization several times).
func (t *acmeTransport) addProblemLocked(p challengeProblem) {
	for i, q := range t.problems {
		if q.name == p.name && q.challenge == p.challenge {
			t.problems[i] = p
			return
		}
	}
	if len(t.problems) == maxProblems {
		t.problems = t.problems[1:]
	}
	t.problems = append(t.problems, p)
}

// takeProblems returns and forgets the recorded problems.
func (t *acmeTransport) takeProblems() []challengeProblem {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.problems
	t.problems = nil
	return p
}

// dropChallenges returns the JSON object body without the challenges of
// type typ in its "challenges" array, and false if body is not such an
// object.
func dropChallenges(body []byte, typ string) ([]byte, bool) {
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) != nil || obj == nil {
		return nil, false
	}
	var chals []json.RawMessage
	if json.Unmarshal(obj["challenges"], &chals) != nil || chals == nil {
		return nil, false
	}
	kept := chals[:0]
	for _, raw := range chals {
		var c struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(raw, &c) == nil && c.Type == typ {
			continue
		}
		kept = append(kept, raw)
	}
	enc, err := json.Marshal(kept)
	if err != nil {
		return nil, false
	}
	obj["challenges"] = enc
	out, err := json.Marshal(obj)
	if err != nil {
		return nil, false
	}
	return out, true
}

// closedTransport refuses every request.
type closedTransport struct{}

func (closedTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, ErrIssuerClosed
}

// issuer obtains certificates during one pass of Run. It wraps a fresh
// autocert.Manager because autocert keeps every certificate it has issued or
// loaded in memory and would hand it out again instead of renewing.
type issuer struct {
	am    *autocert.Manager
	cache *issuerCache
	tr    *acmeTransport
}

// newIssuer returns an issuer whose network access ends with ctx.
func (m *Manager) newIssuer(ctx context.Context) *issuer {
	tr := &acmeTransport{base: m.acmeBase, ctx: ctx, dropALPN: !m.acmeOpts.TLSALPNChallenge}
	ic := &issuerCache{acmeCache: acmeCache{m.cache}}
	am := &autocert.Manager{
		// Configuring ACME means accepting the CA's terms (RFC 8555 §7.3).
		Prompt:      autocert.AcceptTOS,
		Cache:       ic,
		HostPolicy:  m.hostPolicy,
		RenewBefore: issuerRenewBefore,
		Email:       m.acmeOpts.Email,
		Client: &acme.Client{
			DirectoryURL: m.acmeOpts.DirectoryURL,
			UserAgent:    "roost",
			HTTPClient:   &http.Client{Transport: tr, Timeout: acmeRequestTimeout},
		},
	}
	if m.acmeOpts.HTTPChallenge {
		// Enables http-01 in this Manager; the CA's requests are answered by
		// m.challenge's handler from the shared cache.
		am.HTTPHandler(nil)
	}
	return &issuer{am: am, cache: ic, tr: tr}
}

// obtain runs one ACME order for name and returns the certificate, or the
// error with the challenge problems the CA reported.
func (is *issuer) obtain(name string) (*tls.Certificate, []challengeProblem, error) {
	is.tr.takeProblems()
	// An ECDSA-capable hello: autocert then issues a P-256 certificate.
	hello := &tls.ClientHelloInfo{
		ServerName:       name,
		SignatureSchemes: []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256},
		SupportedCurves:  []tls.CurveID{tls.CurveP256},
		CipherSuites:     []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
	}
	c, err := is.am.GetCertificate(hello)
	is.cache.deleteTokens()
	problems := is.tr.takeProblems()
	if err != nil {
		return nil, problems, fmt.Errorf("obtain certificate for %s: %w", name, err)
	}
	if c.Leaf == nil {
		leaf, err := x509.ParseCertificate(c.Certificate[0])
		if err != nil {
			return nil, nil, fmt.Errorf("obtain certificate for %s: %w: %w", name, ErrBadKeyPair, err)
		}
		c.Leaf = leaf
	}
	return c, nil, nil
}

// close ends the issuer: its cache turns read-only. The caller cancels the
// context given to newIssuer.
func (is *issuer) close() {
	is.cache.close()
}

// challengePort is the port the CA connects to for a challenge type.
func challengePort(challenge string) string {
	switch challenge {
	case "tls-alpn-01":
		return "443"
	case "http-01":
		return "80"
	}
	return "443 or 80"
}

// describeFailure turns a failed attempt into Status.LastError and
// Status.Advice: plain words about what to fix, derived from the problem
// types of RFC 8555 §6.7 and the kind of network error.
func describeFailure(name, directory string, err error, problems []challengeProblem) (lastErr, advice string) {
	lastErr = err.Error()
	if len(problems) > 0 {
		var sb strings.Builder
		sb.WriteString(lastErr)
		sb.WriteString(": the CA could not validate")
		for _, p := range problems {
			fmt.Fprintf(&sb, "; %s %s: %s", p.name, p.challenge, p.detail)
		}
		lastErr = sb.String()
		p := problems[len(problems)-1]
		return lastErr, problemAdvice(p.name, p.challenge, p.typ) + retryAdvice
	}
	var ae *acme.Error
	if errors.As(err, &ae) {
		return lastErr, problemAdvice(name, "", ae.ProblemType) + retryAdvice
	}
	var (
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		invalid   x509.CertificateInvalidError
		verifyErr *tls.CertificateVerificationError
		dnsErr    *net.DNSError
		netErr    net.Error
	)
	switch {
	case errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &invalid), errors.As(err, &verifyErr):
		advice = "the ACME server's TLS certificate is not trusted: check the ACME directory URL, or configure the CA file for a private CA"
	case errors.As(err, &dnsErr):
		advice = "the ACME server's name (" + directory + ") does not resolve: check this machine's DNS resolver and internet connection"
	case errors.As(err, &netErr):
		advice = "the ACME server " + directory + " cannot be reached: check this machine's internet connection and firewall"
	default:
		advice = "the ACME request failed"
	}
	return lastErr, advice + retryAdvice
}

const retryAdvice = "; roost retries with a growing delay, reload it to retry at once"

// problemAdvice explains an ACME problem type for name. challenge may be
// empty when the problem is not about a validation.
func problemAdvice(name, challenge, typ string) string {
	port := challengePort(challenge)
	switch strings.TrimPrefix(typ, "urn:ietf:params:acme:error:") {
	case "dns":
		return "DNS for " + name + " does not resolve at the CA: publish an A (and AAAA) record for " + name + " pointing at this server's public address"
	case "connection":
		return "port " + port + " is not reachable from the internet: forward TCP port " + port + " on the router to this server and open it in the firewall"
	case "unauthorized", "incorrectResponse":
		return "the CA reached another machine for " + name + ": DNS for " + name + " points elsewhere, or the router forwards port " + port + " to another machine"
	case "tls":
		return "the CA could not complete TLS on port " + port + ": check that the port reaches roost and not another server"
	case "caa":
		return "a CAA record for " + name + " forbids this CA: add the CA to the CAA record or remove it"
	case "rejectedIdentifier":
		return "the CA will not issue for " + name + ": it must be a public domain name"
	case "rateLimited":
		return "the CA's rate limit for " + name + " was reached"
	}
	return "the CA refused the request for " + name
}
