-- Prosody 0.12 as `make bench-peers` runs it. This file is a Go
-- text/template: the suite fills in the loopback address, the domain, the
-- run's directory and the certificate it issued (ECDSA P-256, the same
-- kind for every server; RSA-2048 for the second login load).
--
-- The modules match roost's core: roster, SASL, TLS, dialback, disco,
-- ping, offline storage (loaded automatically), the message archive
-- (mod_mam, on by default in roost), in-band registration so that the
-- suite can create the accounts, and group chat (the muc component below,
-- with its defaults: history in memory, no room archive). No carbons,
-- stream management or PEP. Everything else keeps Prosody's defaults,
-- Nagle's algorithm included (network_settings.nagle).
--
-- THE ARCHIVE is kept as roost keeps it: every chat message, both
-- directions, for a year, with room for the archive load's 100,000
-- messages (the internal store stops at 10,000 by default). It is kept in
-- Prosody's default storage, "internal" (a file per account), as roost
-- keeps it in its own default store; appending is cheap there, and each
-- query reads the account's whole archive. (SQLite, through
-- lua-dbi-sqlite3, was tried: it archives a few hundred messages a
-- second on this machine, each insert synced to disk.)
--
-- RATE LIMITS ARE OFF: mod_limits (c2s and s2s read rate limits) is not
-- loaded, and registration throttling (mod_register_limits) stays off
-- because min_seconds_between_registrations is not set.

run_as_root = true -- the suite may run as root; harmless otherwise
pidfile = "{{.Dir}}/prosody.pid"
data_path = "{{.Dir}}/data"
certificates = "{{.Dir}}"
log = { info = "{{.Dir}}/prosody.log" }

interfaces = { "{{.IP}}" }
c2s_ports = { 5222 }
s2s_ports = { 5269 }
c2s_direct_tls_ports = { }
legacy_ssl_ports = { }

modules_enabled = {
	"roster"; "saslauth"; "tls"; "dialback"; "disco"; "ping"; "register"; "mam";
}

archive_expires_after = "1y"
storage_archive_item_limit = 1000000

authentication = "internal_hashed"
storage = "internal"
allow_registration = true
c2s_require_encryption = true
s2s_require_encryption = true
s2s_secure_auth = false

ssl = {
	certificate = "{{.Cert}}";
	key = "{{.Key}}";
	cafile = "{{.CA}}";
}

-- Name resolution for federation stays on loopback: the bench names come
-- from a hosts file, and any other query goes to the suite's DNS server.
unbound = {
	hoststxt = "{{.Dir}}/hosts";
	forward = "{{.DNSAt}}";
}

VirtualHost "{{.Domain}}"

-- Group chat for the MUC load: anyone may create rooms (the default).
Component "conference.{{.Domain}}" "muc"
