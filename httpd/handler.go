package httpd

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"path"
	"strconv"
	"strings"
	"time"

	"roost/jid"
	"roost/xmlstream"
)

// XEP-0156 link relations (§3.1). [Options.Links] returns their URLs,
// such as wss://example.org/xmpp-websocket with [RelWebSocket] (RFC 7395
// §4); roost serves no BOSH. Direct TLS on 443
// or 5223 is not listed: XEP-0156 §3.2 says a domain SHOULD NOT repeat
// what its SRV records (_xmpps-client, XEP-0368) say, and the XEP-0487
// "tls" links need the server's public addresses, which roost does not
// know (a home server sits behind NAT).
const (
	RelWebSocket = "urn:xmpp:alt-connections:websocket" // RFC 7395
	RelBOSH      = "urn:xmpp:alt-connections:xbosh"     // XEP-0206
)

// nsXRD is the namespace of a host-meta document (RFC 6415 §3, XRD 1.0).
const nsXRD = "http://docs.oasis-open.org/ns/xri/xrd-1.0"

// Link is one alternative connection method of a domain (XEP-0156 §3).
type Link struct {
	Rel  string `json:"rel"`
	Href string `json:"href"`
}

// Health is the server state /health reports.
type Health struct {
	// Status is "ok", or "degraded" when a certificate has an error or has
	// expired. NewHandler sets it.
	Status        string       `json:"status"`
	UptimeSeconds int64        `json:"uptime_s"`
	Sessions      int          `json:"sessions"`
	Certificates  []CertHealth `json:"certificates"`
}

// CertHealth is the certificate served for one name.
type CertHealth struct {
	Name   string `json:"name"`
	Source string `json:"source"`
	// Fallback: the configured source has nothing for the name yet and a
	// self-signed certificate is served.
	Fallback bool      `json:"fallback,omitempty"`
	NotAfter time.Time `json:"not_after,omitzero"`
	// Failing: getting or renewing it failed last time. Why is in the
	// log, not here: an error names hosts and paths a stranger has no
	// business seeing.
	Failing bool `json:"failing,omitempty"`
}

// Options configures [NewHandler].
type Options struct {
	// Domains are the hosted XMPP domains; host-meta answers for them only.
	Domains []string
	// Links returns the alternative connection methods of a hosted
	// domain. authority is the host (and port, unless 443) the request
	// named, lower-case: the address at which the client reached this
	// listener, so at which it reaches the endpoints served beside
	// host-meta. Nil: none (an empty host-meta document).
	Links func(domain, authority string) []Link
	// Health returns the state for /health. Nil: /health answers 404.
	Health func() Health
	// PublicHealth answers /health to every client; otherwise only to
	// those on a loopback address (a monitor on the same machine), and 404
	// to others.
	PublicHealth bool
	// Metrics serves /metrics (the server's counters for a monitoring
	// system). Nil: /metrics answers 404.
	Metrics http.Handler
	// PublicMetrics answers /metrics to every client; otherwise only to
	// loopback clients, as /health.
	PublicMetrics bool
	// Now is the clock for Health's expiry check. Default: time.Now.
	Now func() time.Time
	// Logger receives request errors. Default: discard.
	Logger *slog.Logger
	// Routes are the features' handlers (the server's modules), mounted
	// beside the resources above.
	Routes []Route
	// ChatPage, if set, is served at "/": a web chat page for the
	// requested domain (the first hosted one for another host, such as
	// an IP address), and its Local copy of converse.js, if any, at
	// ChatAppPath.
	ChatPage *ChatPage
}

// Route is an HTTP handler for a pattern of net/http's ServeMux.
type Route struct {
	Pattern string
	Handler http.Handler
}

// handler is the HTTPS handler. Its fields are fixed by NewHandler.
type handler struct {
	domains map[string]string // canonical domain → itself
	links   func(domain, authority string) []Link
	health  func() Health
	now     func() time.Time
	log     *slog.Logger
}

// NewHandler returns the handler for the HTTPS side: XEP-0156 host-meta,
// the health page and o.Routes. A path with dot segments ("/a/../b",
// encoded or not) is 404 rather than redirected to its clean form, so that
// no route sees a path trick. Every other path is 404. It fails when a
// route's pattern is invalid or conflicts with another.
func NewHandler(o Options) (http.Handler, error) {
	h := &handler{domains: hostSet(o.Domains), links: o.Links, health: o.Health, now: o.Now, log: o.Logger}
	if h.now == nil {
		h.now = time.Now
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/host-meta", h.hostMetaXML)
	mux.HandleFunc("/.well-known/host-meta.json", h.hostMetaJSON)
	// Both paths stay taken when there is nothing to serve, so that no
	// route can claim them.
	health, metrics := http.NotFoundHandler(), http.NotFoundHandler()
	if o.Health != nil {
		health = localOnly(o.PublicHealth, http.HandlerFunc(h.serveHealth))
	}
	if o.Metrics != nil {
		metrics = localOnly(o.PublicMetrics, o.Metrics)
	}
	mux.Handle("/health", health)
	mux.Handle("/metrics", metrics)
	// Taken with or without a copy of converse.js to serve, as the two
	// above.
	var app http.Handler = http.NotFoundHandler()
	if o.ChatPage != nil && o.ChatPage.Local != nil {
		app = o.ChatPage.Local
	}
	mux.Handle(ChatAppPath, app)
	for _, rt := range o.Routes {
		if err := handle(mux, rt); err != nil {
			return nil, err
		}
	}
	if o.ChatPage != nil {
		page := newChatPage(*o.ChatPage)
		fallback := ""
		if len(o.Domains) > 0 {
			fallback = o.Domains[0]
		}
		mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
			d := h.domain(r)
			if d == "" {
				d = fallback
			}
			page.serve(w, d)
		})
	}
	return cleanPaths(mux), nil
}

// handle registers rt on mux, turning ServeMux's panic on a bad or
// conflicting pattern into an error.
func handle(mux *http.ServeMux, rt Route) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("httpd: route %q: %v", rt.Pattern, r)
		}
	}()
	mux.Handle(rt.Pattern, rt.Handler)
	return nil
}

// cleanPaths answers 404 for a request whose path is not in its clean form
// (RFC 3986 §5.2.4 dot segments, doubled slashes), which ServeMux would
// otherwise redirect to the cleaned path: a request that needs cleaning is
// no client's but a probe's.
func cleanPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; p != "" && p != "*" && p != cleanPath(p) {
			http.NotFound(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// cleanPath is path.Clean keeping a final slash, as ServeMux cleans.
func cleanPath(p string) string {
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	c := path.Clean(p)
	if p[len(p)-1] == '/' && c != "/" {
		c += "/"
	}
	return c
}

// hostSet indexes names by their canonical form.
func hostSet(names []string) map[string]string {
	m := make(map[string]string, len(names))
	for _, n := range names {
		if c := canonicalHost(n); c != "" {
			m[c] = n
		}
	}
	return m
}

// canonicalHost returns the domain a Host header or SNI value names, in the
// canonical form of RFC 7622 §3.2 (so that the A-label a browser sends
// matches a U-label in the configuration), without port or final dot; ""
// when it is no domain name (including IP literals).
func canonicalHost(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(host, ".")
	if host == "" || strings.ContainsAny(host, "@/[]") || net.ParseIP(host) != nil {
		return ""
	}
	j, err := jid.Parse(host)
	if err != nil {
		return ""
	}
	return j.Domain()
}

// domain returns the hosted domain r is for, or "".
func (h *handler) domain(r *http.Request) string {
	d, ok := h.domains[canonicalHost(r.Host)]
	if !ok {
		return ""
	}
	return d
}

// readOnly refuses methods other than GET and HEAD (RFC 9110 §15.5.6).
func readOnly(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	return false
}

// hostMetaLinks returns the links for r's domain, or false after answering
// 404 for a host that is not hosted here, or a CORS preflight.
func (h *handler) hostMetaLinks(w http.ResponseWriter, r *http.Request) ([]Link, bool) {
	if r.Method == http.MethodOptions {
		// A web client asking with headers that are not CORS-safelisted
		// (an Accept listing two types) asks first (Fetch §3.2.2).
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Access-Control-Allow-Methods", "GET, HEAD")
		w.Header().Set("Access-Control-Allow-Headers", "*")
		w.Header().Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
		return nil, false
	}
	if !readOnly(w, r) {
		return nil, false
	}
	d := h.domain(r)
	if d == "" {
		http.NotFound(w, r)
		return nil, false
	}
	// XEP-0156 §3 is meant for web clients, which usually run on another
	// origin: allow them to read it (never with credentials, per "*").
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Cache-Control", "max-age=3600")
	if h.links == nil {
		return nil, true
	}
	return h.links(d, authority(r.Host)), true
}

// authority returns the host and port a Host header names, for a URL: the
// host lower-case without final dots, the port unless it is 443 or not a
// number.
func authority(host string) string {
	name, port, err := net.SplitHostPort(host)
	if err != nil {
		name, port = host, ""
	}
	name = strings.ToLower(strings.TrimRight(name, "."))
	if _, err := strconv.ParseUint(port, 10, 16); err != nil || port == "443" {
		return name
	}
	return name + ":" + port
}

// hostMetaXML serves the XRD document, the representation RFC 6415 §3
// requires.
func (h *handler) hostMetaXML(w http.ResponseWriter, r *http.Request) {
	links, ok := h.hostMetaLinks(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/xrd+xml; charset=utf-8")
	_, _ = w.Write(AppendHostMeta(nil, links))
}

// AppendHostMeta appends the XRD host-meta document listing links to dst.
func AppendHostMeta(dst []byte, links []Link) []byte {
	xrd := xmlstream.New(nsXRD, "XRD")
	for _, l := range links {
		xrd.Append(xmlstream.New(nsXRD, "Link").SetAttr("rel", l.Rel).SetAttr("href", l.Href))
	}
	dst = append(dst, "<?xml version='1.0' encoding='utf-8'?>\n"...)
	dst = xmlstream.AppendElement(dst, xrd, "")
	return append(dst, '\n')
}

// hostMeta is the JSON representation (JRD, RFC 6415 Appendix A).
type hostMeta struct {
	Links []Link `json:"links"`
}

func (h *handler) hostMetaJSON(w http.ResponseWriter, r *http.Request) {
	links, ok := h.hostMetaLinks(w, r)
	if !ok {
		return
	}
	if links == nil {
		links = []Link{} // "links": [], not null
	}
	writeJSON(w, h.log, hostMeta{Links: links}, "application/json")
}

// serveHealth answers /health on any host, so that a monitor may use the
// address (to loopback clients only unless it is public: localOnly).
func (h *handler) serveHealth(w http.ResponseWriter, r *http.Request) {
	st := h.health()
	st.Status = "ok"
	now := h.now()
	for _, c := range st.Certificates {
		if c.Failing || (!c.NotAfter.IsZero() && now.After(c.NotAfter)) {
			st.Status = "degraded"
		}
	}
	if st.Certificates == nil {
		st.Certificates = []CertHealth{}
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, h.log, st, "application/json")
}

// localOnly serves next to loopback clients only, unless public, and 404
// to others, GET and HEAD only: what a monitor on this machine reads is
// none of a stranger's business (it names peer servers and certificates).
func localOnly(public bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !public && !fromLoopback(r) {
			http.NotFound(w, r)
			return
		}
		if readOnly(w, r) {
			next.ServeHTTP(w, r)
		}
	})
}

// fromLoopback reports whether r comes from a loopback address.
func fromLoopback(r *http.Request) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && ap.Addr().Unmap().IsLoopback()
}

func writeJSON(w http.ResponseWriter, log *slog.Logger, v any, contentType string) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		log.Error("encode HTTP response", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	_, _ = w.Write(append(b, '\n'))
}

// Redirect returns the plain-HTTP handler for everything but ACME
// challenges: a permanent redirect (308, which keeps the method) to the
// same path over https for the configured names, 404 for other hosts, so
// that roost does not redirect to names it does not serve.
func Redirect(names []string) http.Handler {
	hosts := hostSet(names)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := canonicalHost(r.Host)
		if _, ok := hosts[c]; !ok {
			http.NotFound(w, r)
			return
		}
		// The host is the one the client asked for (an A-label for an
		// IDN), checked above; the port is dropped because the public
		// port is 443 whatever port roost binds (a router may forward 443
		// to another one).
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		target := "https://" + strings.ToLower(host) + r.URL.EscapedPath()
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		http.Redirect(w, r, target, http.StatusPermanentRedirect)
	})
}
