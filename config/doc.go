// Package config reads roost's one configuration file, /etc/roost/roost.toml
// when packaged, into plain structs with every default applied, and reports
// every mistake in it by file, line and key.
//
// config imports no other roost package. The server translates a [Config]
// into each package's own Options; this package only knows what the file
// may say and what values are sane. Command-line flags are not its concern.
//
// # The file
//
// The file is TOML (v1.0, and v1.1 as far as go-toml accepts it). Its schema
// is the tree of [Config] structs: each field's toml tag is its key, and
// [Default] gives the value of every key the file leaves out. Lists replace
// their default rather than extend it, so `listen = []` turns a listener
// off. Durations are strings for [time.ParseDuration] ("30s"); a [Size] is
// an integer or a string with a binary unit ("256KiB").
//
// The commented default file, roost.toml in this directory, is embedded
// ([DefaultFile]) and doubles as the packaged /etc/roost/roost.toml. Tests
// hold it to the code: it parses to [Default] (apart from data_dir, which it
// points at /var/lib/roost), every field appears in it, and uncommenting
// every commented setting still gives the defaults, so the documentation
// cannot drift from them.
//
// Relative paths (data_dir, admin.socket, certificate and CA files) are
// resolved against the directory of the file, so that a configuration works
// wherever it is started from. An empty admin.socket means admin.sock inside
// data_dir.
//
// # Errors
//
// [Parse] and [Load] report every problem at once, as an [errors.Join] of
// [*FieldError] values in file order, so that `roost check` can list them
// all. Each renders as
//
//	roost.toml:12: c2s.listen[1]: "5222": missing host or port
//
// and wraps one of the sentinel kinds ([ErrSyntax], [ErrUnknownKey],
// [ErrType], [ErrInvalid], [ErrRange], [ErrMissing], [ErrConflict]) for
// errors.Is. Unknown keys are errors, because a misspelt key silently left
// at its default is worse than a refusal to start (with a "did you mean"
// hint for likely typos).
//
// Getting a line for every error takes two passes over the file, both with
// github.com/pelletier/go-toml/v2. First toml.Unmarshal decodes it into a
// generic map, which settles everything TOML itself defines: syntax,
// duplicate keys, table rules, value types. Decoding straight into the
// structs would stop at the first type error and cannot take a size as
// either an integer or a string. Then go-toml's unstable parser walks the
// syntax tree to map each key path ("tls.certificate[0].cert_file") to its
// line. The map is then applied to the structs by their tags, and the
// result validated; both steps look up lines by path. A problem with a key
// the file does not contain (a setting another one makes necessary) is
// reported at the closest table above it that the file mentions, or at the
// setting that requires it.
//
// # Validation
//
// [Config.Validate] runs the same checks on a Config built in code, without
// positions. It checks, among others:
//
//   - domains: at least one; each "localhost" or a DNS name of two labels
//     or more, in the canonical form of RFC 7622 §3.2 (U-labels, lowercase,
//     no final dot); subdomains are single labels.
//   - listen addresses: "host:port" with an IP address, "localhost" or an
//     empty host, and a port from 1 to 65535. No two listeners, across all
//     services, may bind the same port on overlapping addresses (on Linux
//     "[::]" also covers every IPv4 address).
//   - [[component]] blocks (external components, XEP-0114): a valid domain
//     that is neither an account domain, nor a service subdomain, nor another
//     component's; a secret; listen addresses, which default to
//     127.0.0.1:5347 and which components may share with each other (one
//     listener serves them all) but not with another service.
//   - limits and durations within sane bounds; limits.max_stanza_bytes at
//     least 10000, which RFC 6120 §13.12 requires servers to accept.
//   - tls.source "files" needs at least one [[tls.certificate]] whose files
//     exist; "acme" needs public domains (unless tls.acme.ca_file names a
//     private CA, which may issue for .home.arpa and the like), a listener
//     for an enabled challenge (RFC 8555 §8.3, RFC 8737), and an email only
//     if one is given to be a valid address. Parse gives an enabled
//     challenge its standard port, https.http_listen = ["[::]:80"] for
//     http-01 and https.listen = ["[::]:443"] for tls-alpn-01, when the
//     file does not mention the list, so that a domain and
//     `source = "acme"` are a complete configuration.
//
// Validation looks at the file system only to check that named files exist.
//
// # Concurrency
//
// There is no shared state: [Default] and [DefaultFile] return fresh values
// and Parse may run concurrently with itself.
package config
