// Package acmetest runs Pebble, Let's Encrypt's small ACME test CA
// (github.com/letsencrypt/pebble/v2), for tests of ACME clients, the way
// net/http/httptest runs an HTTP server.
//
// # Building Pebble
//
// Pebble is pinned as a tool in the repository's tools/go.mod. The first
// [Start] builds it with `go build -modfile=<repo>/tools/go.mod` into the user
// cache directory, under a name derived from tools/go.mod, tools/go.sum and
// the Go version, and later test binaries reuse it. Pebble and its
// dependencies come from the Go module proxy, checked against tools/go.sum;
// on a fresh machine the download and build take about half a minute. Test
// binaries that need it at the same time take turns on a lock file in the
// cache (the first builds, the others find its result), and the build
// writes to a temporary name and renames it, so nobody sees half a binary.
// Without a Go toolchain the test is skipped; when the build fails (modules
// not downloadable) it fails, so that the ACME tests cannot pass unseen.
//
// # What a Server runs
//
// Each [Start] runs its own Pebble process on 127.0.0.1 ports picked at run
// time, with an HTTPS certificate generated into t.TempDir() (exposed as
// [Server.CAFile]) and a JSON config with one certificate profile, so the
// validity is the one asked for. Its validation authority resolves names with
// the DNS server given in [Options] (an internal/dnstest server) and connects
// to [Options.HTTPPort] for http-01 and [Options.TLSPort] for tls-alpn-01, so
// tests need no privileged port. PEBBLE_VA_NOSLEEP=1 and
// PEBBLE_WFE_NONCEREJECT=0 make validations immediate and nonces reliable.
// After start, the issuing roots are fetched from the management interface
// (/roots/0) into [Server.Roots], so a client can verify issued chains even
// after [Server.Stop].
//
// # Concurrency and lifetime
//
// The process and the goroutine waiting for it are stopped by t.Cleanup (or
// earlier by Stop). Pebble's output is logged when the test failed. The
// package keeps no global state.
package acmetest
