// Package certs provides roost's TLS certificates. Consumers (c2s, s2s, the
// HTTPS side and the port-443 ALPN dispatcher) only see
// [Manager.GetCertificate], [Manager.ServerTLSConfig] and
// [Manager.HTTPHandler]; where a certificate comes from is this package's
// business.
//
// # Sources
//
// [SourceSelfSigned], the default, serves one ECDSA P-256 certificate whose
// SANs are all configured domains and subdomains. It is generated on the
// first run and kept in the [BlobCache] under "selfsigned/cert", so that a
// user who accepted it in a client is not asked again after a restart. It is
// regenerated when the configured names change or 30 days before it expires
// (it lives five years).
//
// [SourceFiles] serves PEM chains and keys from files. Each configured name
// gets the first pair whose certificate covers it (RFC 6125 matching,
// wildcards included). The files are re-read on [Manager.Reload] (SIGHUP) and
// when their modification time or size changes (polled by [Manager.Run]). A
// file that fails to load keeps its previous certificate in service and the
// error is shown in [Manager.Status].
//
// [SourceACME] obtains certificates from an ACME CA (RFC 8555) through
// golang.org/x/crypto/acme/autocert, one certificate per name, with
// tls-alpn-01 (RFC 8737) and/or http-01 (RFC 8555 §8.3). The account key and
// certificates live in the BlobCache under "acme/" (an autocert.Cache), so
// they sit in the one bbolt file. Until a name has a certificate it is served
// the self-signed one, flagged Fallback in Status and logged.
//
// # No SNI
//
// Many XMPP peers send no server_name (RFC 6066 §3) and autocert refuses such
// handshakes, so GetCertificate answers them, and names it does not know,
// with the certificate of the first configured domain. SNI is matched
// case-insensitively and without a trailing dot.
//
// # How autocert is used
//
// autocert issues certificates from its GetCertificate and then renews them
// on timers of its own, which cannot be stopped, report no errors and retry
// every 30 to 60 minutes. roost wants renewal owned by Run, with capped
// exponential backoff, errors and advice in Status, and nothing running after
// Run returns. So:
//
//   - A long-lived autocert.Manager (the challenge responder) answers the
//     CA: tls-alpn-01 handshakes, which GetCertificate recognises by the
//     single ALPN protocol "acme-tls/1", and http-01 requests through
//     HTTPHandler. It reads the responses from the shared cache and is never
//     asked for a regular certificate, so it never issues or starts timers.
//   - Run issues and renews through a fresh autocert.Manager per pass, whose
//     cache hides the stored certificates (so a renewal is a new order) and
//     whose HTTP transport is cut when the pass ends. autocert's renewal timer
//     for the new certificate is set to fire only at its expiry; by then the
//     pass's cache is read-only and the timer merely adopts the newer
//     certificate Run stored. This is the one piece of autocert machinery
//     that outlives a pass: a pending timer, not a goroutine.
//   - The transport records the challenge errors in authorization objects
//     (autocert drops them) to turn them into advice such as "port 80 is not
//     reachable from the internet", and removes tls-alpn-01 from them when
//     that challenge is disabled, since autocert always tries it first.
//
// Both HostPolicy and HTTPHandler accept exactly the configured names.
//
// # Renewal and failure
//
// A certificate is renewed ACMEOptions.RenewBefore before expiry (default a
// third of its lifetime, at most 30 days). A failed attempt is retried after
// 2 minutes doubling up to an hour (±10%), which keeps within Let's Encrypt's
// five failed validations per name and hour; Reload retries at once. Until a
// renewal succeeds the current certificate stays in service. The last
// failure of each name is kept in the BlobCache under "certstatus/", so that
// it survives a restart and [Inspect] can show it.
//
// # Inspect
//
// [Inspect] builds the same table from the cache and files without writing
// anything (no self-signed certificate is generated, no file error is
// fatal) and without network I/O, for `roost cert status` while the server
// is stopped.
//
// # Concurrency
//
// What is served is an immutable table behind an atomic pointer:
// GetCertificate, Status and Leaf read it without locking, and
// GetCertificate does not allocate for a configured or empty SNI. Writers
// (New, Run, Reload) hold one mutex, build a new table and swap it in. Run
// does all background work on the caller's goroutine and returns when its
// context is done; Manager is never kept in a package variable.
//
// # Clocks
//
// Options.Now drives renewal times, status and the self-signed validity.
// A Raspberry Pi has no real-time clock, so Run never sleeps more than half
// an hour without re-reading the clock, and self-signed certificates are
// backdated by an hour.
package certs
