package server

import (
	"fmt"

	"roost/admin"
	"roost/certs"
	"roost/config"
)

// certOptions translates the configuration into certs.Options, without the
// cache and logger.
func certOptions(cfg config.Config) certs.Options {
	files := make([]certs.KeyPair, len(cfg.TLS.Certificates))
	for i, c := range cfg.TLS.Certificates {
		files[i] = certs.KeyPair{CertFile: c.CertFile, KeyFile: c.KeyFile}
	}
	return certs.Options{
		Domains:    cfg.Domains,
		Subdomains: serviceNames(cfg),
		Source:     certs.Source(cfg.TLS.Source),
		Files:      files,
		ACME: certs.ACMEOptions{
			DirectoryURL:     cfg.TLS.ACME.Directory,
			Email:            cfg.TLS.ACME.Email,
			CAFile:           cfg.TLS.ACME.CAFile,
			HTTPChallenge:    cfg.TLS.ACME.HTTPChallenge,
			TLSALPNChallenge: cfg.TLS.ACME.TLSALPNChallenge,
			RenewBefore:      cfg.TLS.ACME.RenewBefore,
		},
	}
}

// serviceNames returns the enabled service domains: the service
// subdomains of every hosted domain for the services the configuration
// enables (config.ServiceLabels: conference., upload.) and the domains of
// the external components (XEP-0114). They need certificates too, they
// federate, and a module may host no other.
func serviceNames(cfg config.Config) []string {
	var out []string
	labels := cfg.ServiceLabels()
	for _, d := range cfg.Domains {
		for _, label := range labels {
			out = append(out, label+"."+d)
		}
	}
	for _, c := range cfg.Components {
		out = append(out, c.Domain)
	}
	return out
}

// InspectCerts reports the certificates a server with cfg would serve from
// cache (the *store.Store of a stopped server), for `roost cert status`:
// the ACME and self-signed certificates and last ACME failures it holds,
// and the certificate files. It writes nothing.
func InspectCerts(cfg config.Config, cache certs.BlobCache) ([]admin.CertStatus, error) {
	opts := certOptions(cfg)
	opts.Cache = cache
	s, err := certs.Inspect(opts)
	if err != nil {
		return nil, fmt.Errorf("inspect certificates: %w", err)
	}
	return adminCertStatus(s), nil
}

// adminCertStatus converts certs.Status to the admin protocol's type.
func adminCertStatus(in []certs.Status) []admin.CertStatus {
	out := make([]admin.CertStatus, len(in))
	for i, s := range in {
		out[i] = admin.CertStatus{
			Name:            s.Name,
			Source:          string(s.Source),
			Fallback:        s.Fallback,
			Issuer:          s.Issuer,
			NotBefore:       s.NotBefore,
			NotAfter:        s.NotAfter,
			Fingerprint:     s.Fingerprint,
			FingerprintSHA1: s.FingerprintSHA1,
			NextAttempt:     s.NextAttempt,
			LastError:       s.LastError,
			LastErrorAt:     s.LastErrorAt,
			Advice:          s.Advice,
		}
	}
	return out
}
