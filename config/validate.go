package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// validate returns one FieldError per problem in c, positioned with src.
func validate(c Config, src source) []*FieldError {
	v := validator{src: src}
	v.domains(c)
	if c.DataDir == "" {
		v.add("data_dir", errorf(ErrMissing, "must not be empty"))
	}
	v.log(c.Log)
	v.admin(c.Admin)
	v.tls(c)
	v.c2s(c.C2S)
	v.s2s(c.S2S)
	v.components(c)
	v.listeners(c)
	v.webSocket(c.WebSocket)
	v.pep(c.PEP)
	v.upload(c)
	v.web(c)
	v.contact(c.Contact)
	v.intRange("import.max_element_bytes", int64(c.Import.MaxElementBytes), 64<<10, 1<<30, "")
	v.intRange("import.batch_bytes", int64(c.Import.BatchBytes), 64<<10, 1<<30, "")
	v.limits(c.Limits)
	v.muc(c)
	v.mam(c.MAM, c.Limits)
	v.turn(c.TURN)
	v.intRange("push.max_registrations", int64(c.Push.MaxRegistrations), 1, 100, "")
	return v.errs
}

type validator struct {
	src  source
	errs []*FieldError
}

// add reports err on field. If the file does not have field, the error is
// placed at the first of the related settings that it has.
func (v *validator) add(field string, err error, related ...string) {
	if v.src.decodeFailed(field) {
		return
	}
	v.errs = append(v.errs, v.src.fieldError(field, err, related...))
}

func (v *validator) domains(c Config) {
	if len(c.Domains) == 0 {
		v.add("domains", errorf(ErrMissing, `list at least one domain, such as ["example.org"]`))
	}
	seen := make(map[string]bool, len(c.Domains))
	for i, d := range c.Domains {
		field := indexPath("domains", i)
		if err := checkDomain(d); err != nil {
			v.add(field, err)
			continue
		}
		if seen[d] {
			v.add(field, errorf(ErrConflict, "%q: listed twice", d))
		}
		seen[d] = true
	}
	// The labels below every domain: the listed subdomains, then those of
	// the enabled features, each reported at the setting that adds it.
	type label struct{ name, field string }
	var labels []label
	subs := make(map[string]bool, len(c.Subdomains))
	for i, s := range c.Subdomains {
		field := indexPath("subdomains", i)
		if err := checkLabel(s); err != nil {
			v.add(field, err)
			continue
		}
		if subs[s] {
			v.add(field, errorf(ErrConflict, "%q: listed twice", s))
		}
		subs[s] = true
		labels = append(labels, label{s, field})
	}
	if c.Upload.Enabled && !subs[UploadLabel] {
		labels = append(labels, label{UploadLabel, "upload.enabled"})
	}
	for _, l := range labels {
		for _, d := range c.Domains {
			full := l.name + "." + d
			if seen[full] {
				v.add(l.field, errorf(ErrConflict, "%q: %s is also listed in domains", l.name, full),
					indexPath("domains", slices.Index(c.Domains, full)))
			} else if seen[d] && checkDomain(full) != nil {
				v.add(l.field, errorf(ErrInvalid, "%q: %s is too long for a domain name", l.name, full))
			}
		}
	}
}

// checkDomain accepts "localhost" and DNS names of two labels or more, in
// the canonical form of RFC 7622 §3.2 (U-labels, lowercase).
func checkDomain(d string) error {
	switch {
	case d == "localhost":
		return nil
	case d == "":
		return errorf(ErrInvalid, "empty domain")
	case strings.HasSuffix(d, "."):
		return errorf(ErrInvalid, "%q: remove the final dot", d)
	}
	if _, err := netip.ParseAddr(d); err == nil {
		return errorf(ErrInvalid, "%q: an IP address, not a domain name", d)
	}
	ascii, err := idna.Lookup.ToASCII(d)
	if err != nil {
		return errorf(ErrInvalid, "%q: not a valid domain name", d)
	}
	if len(ascii) > 253 {
		return errorf(ErrInvalid, "%q: longer than the 253 characters a domain name may have", d)
	}
	labels := strings.Split(ascii, ".")
	if len(labels) < 2 {
		return errorf(ErrInvalid, `%q: needs a dot, such as "example.org" (or use "localhost")`, d)
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return errorf(ErrInvalid, "%q: not a valid domain name", d)
		}
	}
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return errorf(ErrInvalid, "%q: the last label cannot be all digits", d)
	}
	// RFC 7622 §3.2 canonicalises a domainpart to U-labels; insisting on
	// that form here means the domain compares equal to the JIDs clients
	// send.
	if canon, err := idna.Lookup.ToUnicode(ascii); err != nil || canon != d {
		return errorf(ErrInvalid, "%q: write it as %q", d, canon)
	}
	return nil
}

// checkLabel accepts one canonical DNS label, for subdomains.
func checkLabel(s string) error {
	if s == "" || strings.Contains(s, ".") {
		return errorf(ErrInvalid, `%q: want one label without dots, such as "conference"`, s)
	}
	ascii, err := idna.Lookup.ToASCII(s)
	if err != nil || len(ascii) > 63 {
		return errorf(ErrInvalid, "%q: not a valid domain label", s)
	}
	if canon, err := idna.Lookup.ToUnicode(ascii); err != nil || canon != s {
		return errorf(ErrInvalid, "%q: write it as %q", s, canon)
	}
	return nil
}

func (v *validator) log(l Log) {
	if _, ok := levelName(l.Level); !ok {
		v.add("log.level", errorf(ErrInvalid, "%v: want one of debug, info, warn, error", l.Level))
	}
	switch l.Format {
	case FormatText, FormatJSON, FormatJournal:
	default:
		v.add("log.format", errorf(ErrInvalid, "%q: want one of text, json, journal", l.Format))
	}
}

// maxSocketPath is the longest unix socket path Linux accepts: sun_path is
// 108 bytes including the terminating NUL.
const maxSocketPath = 107

func (v *validator) admin(a Admin) {
	switch {
	case a.Socket == "":
		v.add("admin.socket", errorf(ErrMissing, "must not be empty"))
	case len(a.Socket) > maxSocketPath:
		v.add("admin.socket", errorf(ErrInvalid, "%q: %d bytes long, but a unix socket path may have at most %d",
			a.Socket, len(a.Socket), maxSocketPath))
	}
	if a.Group != "" && !validGroup(a.Group) {
		v.add("admin.group", errorf(ErrInvalid, "%q: not a group name", a.Group))
	}
}

// validGroup is a loose check of a Unix group name; the server looks it up.
func validGroup(g string) bool {
	if len(g) > 32 || g[0] == '-' || !utf8.ValidString(g) {
		return false
	}
	return !strings.ContainsFunc(g, func(r rune) bool {
		return r <= ' ' || r == ':' || r == '/' || r == ',' || r == 0x7f
	})
}

func (v *validator) tls(c Config) {
	t := c.TLS
	switch t.Source {
	case SourceSelfSigned, SourceACME, SourceFiles:
	default:
		v.add("tls.source", errorf(ErrInvalid, `%q: want one of "self-signed", "files", "acme"`, t.Source))
	}
	switch {
	case t.Source == SourceFiles && len(t.Certificates) == 0:
		v.add("tls.certificate",
			errorf(ErrMissing, `tls.source is "files" but no [[tls.certificate]] is given`), "tls.source")
	case t.Source == SourceFiles:
		for i, cert := range t.Certificates {
			base := indexPath("tls.certificate", i)
			v.file(base+".cert_file", cert.CertFile, true)
			v.file(base+".key_file", cert.KeyFile, true)
		}
	case len(t.Certificates) > 0:
		v.add("tls.certificate", errorf(ErrConflict, `only used when tls.source is "files", not %q`, t.Source))
	}

	a := t.ACME
	if u, err := url.Parse(a.Directory); err != nil || u.Scheme != "https" || u.Host == "" {
		v.add("tls.acme.directory", errorf(ErrInvalid, "%q: want an https:// URL", a.Directory))
	}
	v.duration("tls.acme.renew_before", a.RenewBefore, time.Hour, 90*24*time.Hour)
	if t.Source != SourceACME {
		return
	}
	// The contact is optional (RFC 8555 §7.3); Let's Encrypt needs none.
	if a.Email != "" {
		if addr, err := mail.ParseAddress(a.Email); err != nil || addr.Name != "" || addr.Address != a.Email {
			v.add("tls.acme.email", errorf(ErrInvalid, "%q: not an email address", a.Email))
		}
	}
	v.file("tls.acme.ca_file", a.CAFile, false)
	// A public CA validates names by connecting to them (RFC 8555 §8), so
	// it cannot issue for names that exist only at home. A private CA (one
	// whose root ca_file adds) may.
	for i, d := range c.Domains {
		if special := specialUse(d); special != "" && (a.CAFile == "" || !strings.Contains(d, ".")) {
			v.add(indexPath("domains", i), errorf(ErrInvalid,
				"%q: an ACME CA cannot issue certificates for %s names (tls.source is \"acme\")", d, special),
				"tls.source")
		}
	}
	if !a.HTTPChallenge && !a.TLSALPNChallenge {
		v.add("tls.acme",
			errorf(ErrMissing, "enable http_challenge or tls_alpn_challenge, or the CA cannot check the domains"),
			"tls.acme.http_challenge", "tls.acme.tls_alpn_challenge")
	}
	if a.HTTPChallenge && len(c.HTTPS.HTTPListen) == 0 {
		v.add("https.http_listen", errorf(ErrMissing,
			`needed by tls.acme.http_challenge: listen where the CA's port 80 connections arrive, such as ["[::]:80"]`),
			"tls.acme.http_challenge", "tls.source")
	}
	if a.TLSALPNChallenge && len(c.HTTPS.Listen) == 0 {
		v.add("https.listen", errorf(ErrMissing,
			`needed by tls.acme.tls_alpn_challenge: listen where the CA's port 443 connections arrive, such as ["[::]:443"]`),
			"tls.acme.tls_alpn_challenge", "tls.source")
	}
}

// specialUse reports which special-use name (RFC 6761, RFC 6762, RFC 8375)
// d is under, or "".
func specialUse(d string) string {
	for _, s := range []string{"localhost", "local", "home.arpa", "internal", "test", "example", "invalid", "onion"} {
		if d == s || strings.HasSuffix(d, "."+s) {
			return "." + s
		}
	}
	return ""
}

// file checks that path names an existing regular file. An empty path is
// an error only if required.
func (v *validator) file(field, path string, required bool) {
	if path == "" {
		if required {
			v.add(field, errorf(ErrMissing, "must not be empty"))
		}
		return
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		v.add(field, newError(ErrInvalid, []error{err}, "%q: no such file", path))
	case err != nil:
		// A *PathError repeats the path; keep only the reason.
		reason := err
		var pe *fs.PathError
		if errors.As(err, &pe) {
			reason = pe.Err
		}
		v.add(field, newError(ErrInvalid, []error{err}, "%q: %v", path, reason))
	case !fi.Mode().IsRegular():
		v.add(field, errorf(ErrInvalid, "%q: not a regular file", path))
	}
}

// web checks the features served on the HTTPS port: invitations and the
// console.
func (v *validator) web(c Config) {
	if c.HTTPS.PublicURL != "" {
		v.httpsURL("https.public_url", c.HTTPS.PublicURL)
	}
	if in := c.Invites; in.Enabled {
		if in.Allow != InviteAdmins && in.Allow != InviteEveryone {
			v.add("invites.allow", errorf(ErrInvalid, "%q: want %q or %q", in.Allow, InviteAdmins, InviteEveryone))
		}
		v.duration("invites.expiry", in.Expiry, time.Hour, 366*24*time.Hour)
		v.intRange("invites.max_per_user", int64(in.MaxPerUser), 1, 1000, "")
		if in.WebClient != "" {
			v.httpsURL("invites.web_client", in.WebClient)
		}
	}
	if co := c.Console; co.Enabled {
		v.duration("console.session_timeout", co.SessionTimeout, 5*time.Minute, 30*24*time.Hour)
		v.intRange("console.max_login_failures", int64(co.MaxLoginFailures), 1, 1000, "")
		v.duration("console.login_window", co.LoginWindow, time.Minute, 24*time.Hour)
	}
	v.duration("commands.session_timeout", c.Commands.SessionTimeout, time.Minute, 24*time.Hour)
	v.intRange("commands.max_sessions", int64(c.Commands.MaxSessions), 1, 1000, "")
}

// httpsURL checks that field is an https:// address without user, query
// or fragment.
func (v *validator) httpsURL(field, s string) {
	p, err := url.Parse(s)
	switch {
	case err != nil || p.Scheme != "https" || p.Host == "" || p.Opaque != "":
		v.add(field, errorf(ErrInvalid, `%q: want an https:// address, such as "https://family.example.org"`, s))
	case p.User != nil || p.RawQuery != "" || p.Fragment != "" || p.ForceQuery:
		v.add(field, errorf(ErrInvalid, "%q: no user, query or fragment, please", s))
	}
}

// contact checks the XEP-0157 addresses: absolute URIs.
func (v *validator) contact(c Contact) {
	for _, l := range []struct {
		field string
		uris  []string
	}{
		{"contact.admin", c.Admin}, {"contact.abuse", c.Abuse}, {"contact.support", c.Support},
		{"contact.security", c.Security}, {"contact.feedback", c.Feedback}, {"contact.sales", c.Sales},
	} {
		for i, s := range l.uris {
			if u, err := url.Parse(s); err != nil || u.Scheme == "" || (u.Opaque == "" && u.Host == "") {
				v.add(indexPath(l.field, i), errorf(ErrInvalid, `%q: want an address such as "mailto:mum@example.org" or "xmpp:mum@example.org"`, s))
			}
		}
	}
}

func (v *validator) c2s(c C2S) {
	if len(c.Listen) == 0 && len(c.ListenTLS) == 0 {
		v.add("c2s.listen",
			errorf(ErrMissing, "clients could not connect: set c2s.listen or c2s.listen_tls"), "c2s.listen_tls")
	}
	if c.FastTokenLifetime != 0 {
		v.duration("c2s.fast_token_lifetime", c.FastTokenLifetime, time.Hour, 366*24*time.Hour)
	}
}

func (v *validator) s2s(s S2S) {
	if s.Resolver != "" {
		host, port, err := net.SplitHostPort(s.Resolver)
		ip, ipErr := netip.ParseAddr(host)
		if err != nil || ipErr != nil || ip.Zone() != "" || checkPort(port) != nil {
			v.add("s2s.resolver", errorf(ErrInvalid, `%q: want an IP address and port, such as "127.0.0.53:53"`, s.Resolver))
		}
	}
	if s.Enabled {
		v.file("s2s.ca_file", s.CAFile, false)
	}
	v.duration("s2s.connect_timeout", s.ConnectTimeout, time.Second, 5*time.Minute)
	v.duration("s2s.idle_timeout", s.IdleTimeout, 10*time.Second, 24*time.Hour)
	v.intRange("s2s.max_pending_dialback", int64(s.MaxPendingDialback), 1, 1000, "")
	v.intRange("s2s.max_outbound_connections", int64(s.MaxOutboundConnections), 2, 100000, "")
}

// components checks the [[component]] blocks (XEP-0114). Their listen
// addresses are checked with every other listener's.
func (v *validator) components(c Config) {
	taken := make(map[string]string) // domain → the setting that has it
	for i, d := range c.Domains {
		taken[d] = indexPath("domains", i)
	}
	for i, s := range c.Subdomains {
		for _, d := range c.Domains {
			taken[s+"."+d] = indexPath("subdomains", i)
		}
	}
	if c.MUC.Enabled {
		for _, d := range c.Domains {
			taken[c.MUC.Subdomain+"."+d] = "muc.subdomain"
		}
	}
	if c.Upload.Enabled {
		for _, d := range c.Domains {
			if taken[UploadLabel+"."+d] == "" {
				taken[UploadLabel+"."+d] = "upload.enabled"
			}
		}
	}
	for i, comp := range c.Components {
		base := indexPath("component", i)
		switch err := checkDomain(comp.Domain); {
		case comp.Domain == "":
			v.add(base+".domain", errorf(ErrMissing, `name the domain the component serves, such as "irc.example.org"`), base)
		case err != nil:
			v.add(base+".domain", err)
		case taken[comp.Domain] != "":
			other := taken[comp.Domain]
			what := "also " + other
			switch {
			case strings.HasPrefix(other, "domains"):
				what = "an account domain (" + other + "); a component needs a domain of its own, such as irc." + comp.Domain
			case strings.HasPrefix(other, "subdomains"), other == "muc.subdomain", other == "upload.enabled":
				what = "a service roost hosts itself (" + other + ")"
			}
			v.add(base+".domain", errorf(ErrConflict, "%q: %s", comp.Domain, what), other)
		default:
			taken[comp.Domain] = base + ".domain"
		}
		if comp.Secret == "" {
			v.add(base+".secret", errorf(ErrMissing, "set the password the component connects with"), base)
		}
		if len(comp.Listen) == 0 {
			v.add(base+".listen", errorf(ErrMissing, "must not be empty ([%q] when left out)", DefaultComponentListen), base)
		}
		if c.TLS.Source == SourceACME && c.TLS.ACME.CAFile == "" {
			if special := specialUse(comp.Domain); special != "" {
				v.add(base+".domain", errorf(ErrInvalid,
					"%q: an ACME CA cannot issue certificates for %s names (tls.source is \"acme\")", comp.Domain, special),
					"tls.source")
			}
		}
	}
}

// listenAddr is one parsed listen address.
type listenAddr struct {
	field, text string
	shared      bool // see listeners
	port        int
	all         bool         // "" or "::": every address (Linux binds [::] dual-stack)
	all4        bool         // "0.0.0.0": every IPv4 address
	ips         []netip.Addr // otherwise
}

// overlaps reports whether a and b could not both be bound.
func (a listenAddr) overlaps(b listenAddr) bool {
	switch {
	case a.port != b.port:
		return false
	case a.all || b.all, a.all4 && b.all4:
		return true
	case a.all4:
		return hasIPv4(b.ips)
	case b.all4:
		return hasIPv4(a.ips)
	}
	for _, x := range a.ips {
		for _, y := range b.ips {
			if x == y {
				return true
			}
		}
	}
	return false
}

func hasIPv4(ips []netip.Addr) bool {
	for _, ip := range ips {
		if ip.Is4() {
			return true
		}
	}
	return false
}

// listenList is one setting's listen addresses.
type listenList struct {
	field string
	addrs []string
	used  bool // the service is enabled
	// shared: entries of other shared lists may give the same address,
	// and then share its listener (components, XEP-0114).
	shared bool
}

// listeners checks every listen address, and that no two services (or two
// entries of one) would bind the same port on overlapping addresses.
func (v *validator) listeners(c Config) {
	lists := []listenList{
		{"c2s.listen", c.C2S.Listen, true, false},
		{"c2s.listen_tls", c.C2S.ListenTLS, true, false},
		{"s2s.listen", c.S2S.Listen, c.S2S.Enabled, false},
		{"s2s.listen_tls", c.S2S.ListenTLS, c.S2S.Enabled, false},
		{"https.listen", c.HTTPS.Listen, true, false},
		{"https.http_listen", c.HTTPS.HTTPListen, true, false},
	}
	for i, comp := range c.Components {
		lists = append(lists, listenList{indexPath("component", i) + ".listen", comp.Listen, true, true})
	}
	var bound []listenAddr
	for _, l := range lists {
		for i, s := range l.addrs {
			field := indexPath(l.field, i)
			la, err := parseListen(s)
			if err != nil {
				v.add(field, err)
				continue
			}
			if !l.used {
				continue
			}
			la.field, la.shared = field, l.shared
			for _, other := range bound {
				if la.shared && other.shared && la.text == other.text {
					continue
				}
				if la.overlaps(other) {
					v.add(field, errorf(ErrConflict, "%q: already used by %s (%q)", s, other.field, other.text),
						other.field)
					break
				}
			}
			bound = append(bound, la)
		}
	}
}

// parseListen parses "host:port" where host is empty (every address), an
// IP address or "localhost".
func parseListen(s string) (listenAddr, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		if strings.Count(s, ":") > 1 && !strings.HasPrefix(s, "[") {
			return listenAddr{}, errorf(ErrInvalid, `%q: write IPv6 addresses in brackets, such as "[::1]:5222"`, s)
		}
		return listenAddr{}, errorf(ErrInvalid, "%q: missing host or port", s)
	}
	la := listenAddr{text: s}
	if la.port, err = strconv.Atoi(port); err != nil || checkPort(port) != nil {
		return listenAddr{}, errorf(ErrInvalid, "%q: the port must be a number from 1 to 65535", s)
	}
	switch host {
	case "":
		la.all = true
	case "localhost":
		la.ips = []netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 1}), netip.IPv6Loopback()}
	default:
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return listenAddr{}, errorf(ErrInvalid, `%q: the host must be an IP address, "localhost", or empty for every address`, s)
		}
		ip = ip.Unmap()
		switch {
		case ip == netip.IPv6Unspecified():
			la.all = true
		case ip == netip.IPv4Unspecified():
			la.all4 = true
		default:
			la.ips = []netip.Addr{ip}
		}
	}
	return la, nil
}

// checkPort accepts a decimal port from 1 to 65535.
func checkPort(port string) error {
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 || port[0] == '+' || port[0] == '-' {
		return errorf(ErrRange, "%q: not a port", port)
	}
	return nil
}

func (v *validator) upload(c Config) {
	u := c.Upload
	if !u.Enabled {
		return
	}
	if len(c.HTTPS.Listen) == 0 {
		v.add("https.listen", errorf(ErrMissing,
			`needed by upload.enabled: files are served on the HTTPS port, such as ["[::]:5443"]`), "upload.enabled")
	}
	if u.PublicURL != "" {
		p, err := url.Parse(u.PublicURL)
		switch {
		case err != nil || p.Scheme != "https" || p.Host == "" || p.Opaque != "":
			v.add("upload.public_url", errorf(ErrInvalid, `%q: want an https:// address, such as "https://family.example.org"`, u.PublicURL))
		case p.User != nil || p.RawQuery != "" || p.Fragment != "" || p.ForceQuery:
			v.add("upload.public_url", errorf(ErrInvalid, "%q: no user, query or fragment, please", u.PublicURL))
		}
	}
	sizeOK := v.intRange("upload.max_file_size", int64(u.MaxFileSize), 1<<10, 16<<30, "")
	if sizeOK && u.UserQuota > 0 && u.UserQuota < u.MaxFileSize {
		v.add("upload.user_quota", errorf(ErrConflict, "%d: smaller than upload.max_file_size (%d)", u.UserQuota, u.MaxFileSize), "upload.max_file_size")
	} else if u.UserQuota < 0 {
		v.add("upload.user_quota", errorf(ErrRange, "%d: must be 0 (no limit) or more", u.UserQuota))
	}
	if sizeOK && u.TotalQuota > 0 && u.TotalQuota < u.MaxFileSize {
		v.add("upload.total_quota", errorf(ErrConflict, "%d: smaller than upload.max_file_size (%d)", u.TotalQuota, u.MaxFileSize), "upload.max_file_size")
	} else if u.TotalQuota < 0 {
		v.add("upload.total_quota", errorf(ErrRange, "%d: must be 0 (no limit) or more", u.TotalQuota))
	}
	v.intRange("upload.keep_free", int64(u.KeepFree), 0, 1<<50, "")
	v.duration("upload.expire_after", u.ExpireAfter, time.Hour, 10*365*24*time.Hour)
	v.duration("upload.slot_timeout", u.SlotTimeout, 10*time.Second, 24*time.Hour)
	v.intRange("upload.max_concurrent", int64(u.MaxConcurrent), 1, 100, "")
	v.duration("upload.transfer_timeout", u.TransferTimeout, time.Second, time.Hour)
	v.intRange("upload.min_rate", int64(u.MinRate), 0, 1<<30, "")
}

func (v *validator) limits(l Limits) {
	v.intRange("limits.max_stanza_bytes", int64(l.MaxStanzaBytes), 10000, 16<<20,
		" (RFC 6120 §13.12 requires accepting 10000)")
	v.intRange("limits.max_depth", int64(l.MaxDepth), 8, 256, "")
	v.intRange("limits.max_attributes", int64(l.MaxAttributes), 4, 256, "")
	v.intRange("limits.max_elements", int64(l.MaxElements), 64, 1<<20, "")
	v.duration("limits.negotiation_timeout", l.NegotiationTimeout, time.Second, 10*time.Minute)
	v.duration("limits.idle_timeout", l.IdleTimeout, 10*time.Second, 24*time.Hour)
	if l.ResumeTimeout != 0 {
		v.duration("limits.resume_timeout", l.ResumeTimeout, 10*time.Second, 24*time.Hour)
	}
	v.duration("limits.keepalive_interval", l.KeepaliveInterval, time.Second, 24*time.Hour)
	v.duration("limits.write_timeout", l.WriteTimeout, time.Second, 10*time.Minute)
	v.intRange("limits.max_auth_failures", int64(l.MaxAuthFailures), 1, 100, "")
	if l.LoginDelayMax != 0 {
		v.duration("limits.login_delay_max", l.LoginDelayMax, time.Second, time.Minute)
		if l.LoginDelayMax > l.NegotiationTimeout/2 && l.NegotiationTimeout >= time.Second {
			v.add("limits.login_delay_max", errorf(ErrConflict, "%s: must be at most half of limits.negotiation_timeout (%s), so that a held back login still has time to finish",
				formatDuration(l.LoginDelayMax), formatDuration(l.NegotiationTimeout)), "limits.negotiation_timeout")
		}
	}
	v.duration("limits.login_delay_window", l.LoginDelayWindow, time.Minute, 24*time.Hour)
	v.intRange("limits.queue_depth", int64(l.QueueDepth), 8, 65536, "")
	if v.intRange("limits.queue_bytes", int64(l.QueueBytes), 64<<10, 1<<30, "") && l.QueueBytes < 2*l.MaxStanzaBytes {
		v.add("limits.queue_bytes", errorf(ErrConflict, "%d: must be at least twice limits.max_stanza_bytes (%d), so that a large stanza does not close the session it is sent to",
			l.QueueBytes, l.MaxStanzaBytes), "limits.max_stanza_bytes")
	}
	if v.intRange("limits.federation_queue_bytes", int64(l.FederationQueueBytes), 64<<10, 1<<30, "") && l.FederationQueueBytes < 2*l.MaxStanzaBytes {
		v.add("limits.federation_queue_bytes", errorf(ErrConflict, "%d: must be at least twice limits.max_stanza_bytes (%d), so that a large stanza can be sent to another server",
			l.FederationQueueBytes, l.MaxStanzaBytes), "limits.max_stanza_bytes")
	}
	v.intRange("limits.max_resources", int64(l.MaxResources), 1, 1000, "")
	v.intRange("limits.max_offline_messages", int64(l.MaxOfflineMessages), 0, 1000000, "")
	v.intRange("limits.max_roster_items", int64(l.MaxRosterItems), 1, 100000, "")
	v.intRange("limits.max_subscription_requests", int64(l.MaxSubscriptionRequests), 1, 10000, "")
	v.intRange("limits.max_private_keys", int64(l.MaxPrivateKeys), 1, 10000, "")
	if l.MaxOfflineMessages >= l.QueueDepth && l.QueueDepth >= 8 {
		v.add("limits.max_offline_messages", errorf(ErrConflict, "%d: must be below limits.queue_depth (%d), as stored messages are delivered in one burst",
			l.MaxOfflineMessages, l.QueueDepth), "limits.queue_depth")
	}
	rateOK := v.intRange("limits.read_rate_bytes", int64(l.ReadRateBytes), 1<<10, 1<<30, "")
	burstOK := v.intRange("limits.read_burst_bytes", int64(l.ReadBurstBytes), 1<<10, 1<<30, "")
	if rateOK && burstOK && l.ReadBurstBytes < l.ReadRateBytes {
		v.add("limits.read_burst_bytes", errorf(ErrConflict, "%d: smaller than limits.read_rate_bytes (%d)",
			l.ReadBurstBytes, l.ReadRateBytes), "limits.read_rate_bytes")
	}
	v.intRange("limits.max_connections_per_ip", int64(l.MaxConnectionsPerIP), 1, 65535, "")
}

// reservedPaths are served on the HTTPS listener by roost itself (httpd
// and the features' routes): each is the path without its final "/" and
// everything below it. A WebSocket path among them would be registered
// twice with the HTTP mux, which httpd would report only when roost
// starts, naming a mux pattern; here `roost check` names the setting.
var reservedPaths = []string{"/.well-known/", "/health/", "/metrics/", "/chat-app/", "/upload/", "/invite/", "/admin/"}

func (v *validator) webSocket(w WebSocket) {
	switch p := w.Path; {
	case !strings.HasPrefix(p, "/") || strings.ContainsAny(p, " ?#\t\r\n{}") || path.Clean(p) != p:
		v.add("websocket.path", errorf(ErrInvalid, "%q: want a clean absolute path, such as \"/xmpp-websocket\"", p))
	case p == "/" || slices.ContainsFunc(reservedPaths, func(r string) bool { return p == strings.TrimSuffix(r, "/") || strings.HasPrefix(p, r) }):
		v.add("websocket.path", errorf(ErrConflict, "%q: the server serves this path itself; use another, such as \"/xmpp-websocket\"", p))
	}
	for i, o := range w.Origins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Hostname() == "" ||
			(u.Path != "" && u.Path != "/") || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			v.add(indexPath("websocket.origins", i), errorf(ErrInvalid,
				"%q: want the address of a web page's site, scheme and host (and port), such as \"https://chat.example.org\", or \"*\" for any", o))
		}
	}
	if w.SeeOtherURI != "" {
		u, err := url.Parse(w.SeeOtherURI)
		if err != nil || (u.Scheme != "wss" && u.Scheme != "ws") || u.Host == "" {
			v.add("websocket.see_other_uri", errorf(ErrInvalid, "%q: want a WebSocket address, such as \"wss://xmpp.example.org/ws\"", w.SeeOtherURI))
		}
	}
	if w.ChatApp != "" && w.ChatAppDir != "" {
		v.add("websocket.chat_app_dir", errorf(ErrConflict, "%q: the chat page loads its app from websocket.chat_app (%q); set one of the two", w.ChatAppDir, w.ChatApp), "websocket.chat_app")
	}
	if w.ChatPage && w.ChatApp != "" {
		u, err := url.Parse(w.ChatApp)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || !strings.HasSuffix(u.Path, "/") ||
			u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			v.add("websocket.chat_app", errorf(ErrInvalid, "%q: want the web address of converse.js's files, ending in /, such as %q", w.ChatApp, DefaultChatApp))
		}
	}
}

func (v *validator) pep(p PEP) {
	v.intRange("pep.max_nodes", int64(p.MaxNodes), 1, 10000, "")
	v.intRange("pep.max_items", int64(p.MaxItems), 1, 100000, "")
	// Above limits.max_stanza_bytes it is harmless: no item that big
	// arrives.
	v.intRange("pep.max_item_bytes", int64(p.MaxItemBytes), 1<<10, 16<<20, "")
	v.intRange("pep.max_subscribers", int64(p.MaxSubscribers), 1, 100000, "")
	v.intRange("pep.caps_cache", int64(p.CapsCache), 10, 1000000, "")
}

func (v *validator) mam(m MAM, l Limits) {
	switch m.Default {
	case "always", "roster", "never":
	default:
		v.add("mam.default", errorf(ErrInvalid, `%q: want "always", "roster" or "never"`, m.Default))
	}
	v.intRange("mam.keep_days", int64(m.KeepDays), 0, 36500, " (0 keeps messages forever)")
	if m.MaxAccountSize != 0 {
		v.intRange("mam.max_account_size", int64(m.MaxAccountSize), 1<<20, 64<<30, " bytes (0: no cap)")
	}
	if v.intRange("mam.max_page", int64(m.MaxPage), 10, 1000, "") && m.MaxPage >= l.QueueDepth && l.QueueDepth >= 8 {
		v.add("mam.max_page", errorf(ErrConflict, "%d: must be below limits.queue_depth (%d), as a page of results is sent in one burst",
			m.MaxPage, l.QueueDepth), "limits.queue_depth")
	}
}

func (v *validator) turn(t TURN) {
	if t.Host == "" {
		return
	}
	if _, err := netip.ParseAddr(t.Host); err != nil {
		if err := checkDomain(t.Host); err != nil {
			v.add("turn.host", err)
		}
	}
	v.intRange("turn.port", int64(t.Port), 1, 65535, "")
	if t.TLSPort != 0 {
		v.intRange("turn.tls_port", int64(t.TLSPort), 1, 65535, " (0: none)")
	}
	if len(t.Secret) < 16 {
		v.add("turn.secret", errorf(ErrInvalid, "must be at least 16 characters: the TURN server's static-auth-secret"), "turn.host")
	}
	v.duration("turn.credential_lifetime", t.CredentialLifetime, time.Second, 30*24*time.Hour)
}

// intRange reports whether lo <= n <= hi, and an error if not; why is
// appended to the message.
func (v *validator) intRange(field string, n, lo, hi int64, why string) bool {
	if n < lo || n > hi {
		v.add(field, errorf(ErrRange, "%d: must be from %d to %d%s", n, lo, hi, why))
		return false
	}
	return true
}

func (v *validator) duration(field string, d, lo, hi time.Duration) {
	if d < lo || d > hi {
		v.add(field, errorf(ErrRange, "%s: must be from %s to %s",
			formatDuration(d), formatDuration(lo), formatDuration(hi)))
	}
}

// formatDuration writes d the way the file does: "30s", "10m", "720h".
func formatDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return d.String()
}

func (v *validator) muc(c Config) {
	m := c.MUC
	if err := checkLabel(m.Subdomain); err != nil {
		v.add("muc.subdomain", err)
	} else if m.Enabled {
		if i := slices.Index(c.Subdomains, m.Subdomain); i >= 0 {
			v.add("muc.subdomain", errorf(ErrConflict, "%q: also listed in subdomains", m.Subdomain), indexPath("subdomains", i))
		}
		for i, d := range c.Domains {
			full := m.Subdomain + "." + d
			if j := slices.Index(c.Domains, full); j >= 0 {
				v.add("muc.subdomain", errorf(ErrConflict, "%q: %s is also listed in domains", m.Subdomain, full), indexPath("domains", j))
			} else if checkDomain(d) == nil && checkDomain(full) != nil {
				v.add("muc.subdomain", errorf(ErrInvalid, "%q: %s is too long for a domain name", m.Subdomain, full), indexPath("domains", i))
			}
		}
	}
	switch m.Create {
	case CreateLocal, CreateAnyone, CreateAdmin:
	default:
		v.add("muc.create", errorf(ErrInvalid, `%q: want one of "local", "anyone", "admin"`, m.Create))
	}
	v.intRange("muc.keep_days", int64(m.KeepDays), 0, 36500, " (0 keeps messages forever)")
	v.intRange("muc.max_rooms_per_user", int64(m.MaxRoomsPerUser), 0, 10000, "")
	occOK := v.intRange("muc.max_occupants", int64(m.MaxOccupants), 2, 10000, "")
	histOK := v.intRange("muc.history", int64(m.History), 0, 10000, "")
	v.intRange("muc.max_nick_length", int64(m.MaxNickLength), 1, 1023, "")
	v.intRange("muc.presence_per_minute", int64(m.PresencePerMinute), 1, 6000, "")
	// Joining a room sends every occupant's presence and the history in
	// one burst (XEP-0045 §7.2.3).
	if m.Enabled && occOK && histOK && c.Limits.QueueDepth >= 8 && m.MaxOccupants+m.History >= c.Limits.QueueDepth {
		v.add("muc.max_occupants", errorf(ErrConflict, "%d occupants and %d history messages: together must be below limits.queue_depth (%d), as joining a room sends them in one burst",
			m.MaxOccupants, m.History, c.Limits.QueueDepth), "muc.history", "limits.queue_depth")
	}
}
