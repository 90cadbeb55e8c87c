package certs

import "errors"

// Sentinel errors. Every error returned by this package wraps one of these, so
// callers test with [errors.Is]; the wrapping text names the file, name or
// request involved.
var (
	// ErrNoDomains: Options.Domains is empty.
	ErrNoDomains = errors.New("certs: no domains configured")
	// ErrBadName: a configured domain or subdomain is not a usable DNS name.
	ErrBadName = errors.New("certs: invalid domain name")
	// ErrBadSource: Options.Source is not one of the Source constants.
	ErrBadSource = errors.New("certs: unknown certificate source")
	// ErrNoCache: Options.Cache is nil.
	ErrNoCache = errors.New("certs: no blob cache")
	// ErrNoFiles: Source is SourceFiles but Options.Files is empty.
	ErrNoFiles = errors.New("certs: no certificate files configured")
	// ErrNoChallenge: Source is SourceACME but neither challenge type is enabled.
	ErrNoChallenge = errors.New("certs: no ACME challenge type enabled")
	// ErrCAFile: a CA file given to [Roots] (such as ACMEOptions.CAFile)
	// cannot be read or holds no PEM certificate.
	ErrCAFile = errors.New("certs: invalid CA file")
	// ErrBadKeyPair: a PEM certificate chain or private key is malformed, or
	// the key does not match the certificate.
	ErrBadKeyPair = errors.New("certs: invalid certificate or key")
	// ErrNotCovered: no certificate of the configured source covers a name,
	// so the self-signed fallback is served for it.
	ErrNotCovered = errors.New("certs: no certificate covers the name")
	// ErrExpired: the certificate served for a name has expired.
	ErrExpired = errors.New("certs: certificate expired")
	// ErrUnknownHost: an ACME challenge or request named a host that is not
	// configured (the autocert HostPolicy refusal).
	ErrUnknownHost = errors.New("certs: host not configured")
	// ErrRunning: Run was called while another call to Run is active.
	ErrRunning = errors.New("certs: Run is already running")
	// ErrIssuerClosed: an ACME request was attempted after its issuance pass
	// ended, or after Run returned.
	ErrIssuerClosed = errors.New("certs: ACME issuer closed")
)
