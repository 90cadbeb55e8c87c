package httpd

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestHostMeta(t *testing.T) {
	links := func(d, authority string) []Link {
		return []Link{{Rel: RelWebSocket, Href: "wss://" + authority + "/xmpp-websocket"}, {Rel: "urn:x-test:domain", Href: d}}
	}
	tests := []struct {
		name       string
		opts       Options
		method     string
		host       string
		path       string
		wantCode   int
		wantType   string
		wantBody   string // substring
		wantCORS   bool
		wantAllow  string
		wantAbsent string
	}{
		{
			name: "xml without links", opts: Options{Domains: []string{"d.example"}},
			method: "GET", host: "d.example", path: "/.well-known/host-meta",
			wantCode: 200, wantType: "application/xrd+xml; charset=utf-8", wantCORS: true,
			wantBody: "<?xml version='1.0' encoding='utf-8'?>\n<XRD xmlns=\"http://docs.oasis-open.org/ns/xri/xrd-1.0\"/>\n",
		},
		{
			name: "xml with a link, host with port and capitals", opts: Options{Domains: []string{"d.example"}, Links: links},
			method: "GET", host: "D.Example:443", path: "/.well-known/host-meta",
			wantCode: 200, wantType: "application/xrd+xml; charset=utf-8", wantCORS: true,
			wantBody: `<Link rel="urn:xmpp:alt-connections:websocket" href="wss://d.example/xmpp-websocket"/>`,
		},
		{
			name: "json without links is an empty list", opts: Options{Domains: []string{"d.example"}},
			method: "GET", host: "d.example", path: "/.well-known/host-meta.json",
			wantCode: 200, wantType: "application/json", wantCORS: true, wantBody: `"links": []`,
		},
		{
			name: "json with a link", opts: Options{Domains: []string{"d.example"}, Links: links},
			method: "GET", host: "d.example.", path: "/.well-known/host-meta.json",
			wantCode: 200, wantType: "application/json", wantCORS: true,
			wantBody: `"href": "wss://d.example/xmpp-websocket"`,
		},
		{
			name: "IDN domain asked for by its A-label", opts: Options{Domains: []string{"bücher.example"}, Links: links},
			method: "GET", host: "xn--bcher-kva.example", path: "/.well-known/host-meta.json",
			wantCode: 200, wantType: "application/json", wantCORS: true, wantBody: `"href": "bücher.example"`,
		},
		{
			name: "links name the port the request came to", opts: Options{Domains: []string{"d.example"}, Links: links},
			method: "GET", host: "d.example:5443", path: "/.well-known/host-meta.json",
			wantCode: 200, wantType: "application/json", wantCORS: true, wantBody: `"href": "wss://d.example:5443/xmpp-websocket"`,
		},
		{
			name: "a port that is no number is dropped", opts: Options{Domains: []string{"d.example"}, Links: links},
			method: "GET", host: "d.example:x", path: "/.well-known/host-meta.json",
			wantCode: 200, wantType: "application/json", wantCORS: true, wantBody: `"href": "wss://d.example/xmpp-websocket"`,
		},
		{
			name: "CORS preflight", opts: Options{Domains: []string{"d.example"}, Links: links},
			method: "OPTIONS", host: "d.example", path: "/.well-known/host-meta",
			wantCode: 204, wantCORS: true,
		},
		{
			name: "head", opts: Options{Domains: []string{"d.example"}},
			method: "HEAD", host: "d.example", path: "/.well-known/host-meta",
			wantCode: 200, wantType: "application/xrd+xml; charset=utf-8", wantCORS: true,
		},
		{
			name: "unknown host", opts: Options{Domains: []string{"d.example"}},
			method: "GET", host: "other.example", path: "/.well-known/host-meta",
			wantCode: 404, wantAbsent: "XRD",
		},
		{
			name: "IP address as host", opts: Options{Domains: []string{"d.example"}},
			method: "GET", host: "127.0.0.5", path: "/.well-known/host-meta.json",
			wantCode: 404, wantAbsent: "links",
		},
		{
			name: "subdomain is not a hosted domain", opts: Options{Domains: []string{"d.example"}},
			method: "GET", host: "conference.d.example", path: "/.well-known/host-meta",
			wantCode: 404,
		},
		{
			name: "post", opts: Options{Domains: []string{"d.example"}},
			method: "POST", host: "d.example", path: "/.well-known/host-meta",
			wantCode: 405, wantAllow: "GET, HEAD",
		},
		{
			name: "other path", opts: Options{Domains: []string{"d.example"}},
			method: "GET", host: "d.example", path: "/",
			wantCode: 404,
		},
		{
			name: "health not configured", opts: Options{Domains: []string{"d.example"}},
			method: "GET", host: "d.example", path: "/health",
			wantCode: 404,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, "https://h.invalid"+tc.path, nil)
			req.Host = tc.host
			rec := httptest.NewRecorder()
			mustHandler(t, tc.opts).ServeHTTP(rec, req)
			res := rec.Result()
			body := rec.Body.String()
			if res.StatusCode != tc.wantCode {
				t.Fatalf("status = %d, want %d; body %q", res.StatusCode, tc.wantCode, body)
			}
			if got := res.Header.Get("Content-Type"); tc.wantType != "" && got != tc.wantType {
				t.Errorf("Content-Type = %q, want %q", got, tc.wantType)
			}
			if got := res.Header.Get("Access-Control-Allow-Origin"); (got == "*") != tc.wantCORS {
				t.Errorf("Access-Control-Allow-Origin = %q, want CORS %v", got, tc.wantCORS)
			}
			if got := res.Header.Get("Allow"); got != tc.wantAllow {
				t.Errorf("Allow = %q, want %q", got, tc.wantAllow)
			}
			if !strings.Contains(body, tc.wantBody) {
				t.Errorf("body = %q, want it to contain %q", body, tc.wantBody)
			}
			if tc.wantAbsent != "" && strings.Contains(body, tc.wantAbsent) {
				t.Errorf("body = %q, want no %q", body, tc.wantAbsent)
			}
		})
	}
}

// TestHostMetaXMLParses reads the XRD document back with encoding/xml,
// an independent parser: the namespace and the links must come out as put
// in, also with characters that need escaping.
func TestHostMetaXMLParses(t *testing.T) {
	links := []Link{
		{Rel: RelBOSH, Href: "https://d.example/http-bind?a=1&b=<2>\"'"},
		{Rel: RelWebSocket, Href: "wss://d.example/xmpp-websocket"},
	}
	doc := AppendHostMeta(nil, links)
	var xrd struct {
		XMLName xml.Name
		Links   []struct {
			XMLName xml.Name
			Rel     string `xml:"rel,attr"`
			Href    string `xml:"href,attr"`
		} `xml:"Link"`
	}
	if err := xml.Unmarshal(doc, &xrd); err != nil {
		t.Fatalf("parse %s: %v", doc, err)
	}
	if xrd.XMLName != (xml.Name{Space: nsXRD, Local: "XRD"}) {
		t.Fatalf("root = %v, want {%s}XRD", xrd.XMLName, nsXRD)
	}
	if len(xrd.Links) != len(links) {
		t.Fatalf("got %d links in %s, want %v", len(xrd.Links), doc, links)
	}
	for i, l := range xrd.Links {
		if l.XMLName.Space != nsXRD {
			t.Errorf("link %d in namespace %q, want %q", i, l.XMLName.Space, nsXRD)
		}
		if got := (Link{Rel: l.Rel, Href: l.Href}); got != links[i] {
			t.Errorf("link %d = %+v, want %+v", i, got, links[i])
		}
	}
}

func TestHealth(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	good := CertHealth{Name: "d.example", Source: "acme", NotAfter: now.Add(time.Hour)}
	tests := []struct {
		name       string
		certs      []CertHealth
		wantStatus string
	}{
		{"all good", []CertHealth{good}, "ok"},
		{"no certificates", nil, "ok"},
		{"an error", []CertHealth{good, {Name: "upload.d.example", Source: "acme", NotAfter: now.Add(time.Hour), Failing: true}}, "degraded"},
		{"expired", []CertHealth{{Name: "d.example", Source: "files", NotAfter: now.Add(-time.Second)}}, "degraded"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := mustHandler(t, Options{
				Domains: []string{"d.example"},
				Now:     func() time.Time { return now },
				Health: func() Health {
					return Health{UptimeSeconds: 42, Sessions: 3, Certificates: tc.certs, Status: "ignored"}
				},
				PublicHealth: true,
			})
			// Any host: monitors often use the address.
			req := httptest.NewRequest("GET", "https://127.0.0.5/health", nil)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != 200 {
				t.Fatalf("status = %d, want 200", rec.Code)
			}
			if got := rec.Header().Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", got)
			}
			var got Health
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("decode %q: %v", rec.Body, err)
			}
			if got.Status != tc.wantStatus || got.Sessions != 3 || got.UptimeSeconds != 42 || len(got.Certificates) != len(tc.certs) {
				t.Errorf("got %+v, want status %q, 3 sessions, uptime 42, %d certificates", got, tc.wantStatus, len(tc.certs))
			}
			if !strings.Contains(rec.Body.String(), `"certificates": [`) {
				t.Errorf("body %s: certificates is not a list", rec.Body)
			}
		})
	}
}

// TestLocalAccess: /health and /metrics answer loopback clients, others
// only when public, and 404 when the server gives nothing to serve.
func TestLocalAccess(t *testing.T) {
	tests := []struct {
		remote   string
		public   bool
		wantCode int
	}{
		{"127.0.0.1:4000", false, 200},
		{"[::1]:4000", false, 200},
		{"[::ffff:127.0.0.1]:4000", false, 200},
		{"192.0.2.1:4000", false, 404},
		{"[2001:db8::1]:4000", false, 404},
		{"[::ffff:192.0.2.1]:4000", false, 404},
		{"192.0.2.1:4000", true, 200},
	}
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "m 1\n") })
	for _, path := range []string{"/health", "/metrics"} {
		for _, tc := range tests {
			t.Run(fmt.Sprintf("%s %s public=%v", path, tc.remote, tc.public), func(t *testing.T) {
				h := mustHandler(t, Options{Domains: []string{"d.example"}, PublicHealth: tc.public, PublicMetrics: tc.public,
					Health: func() Health { return Health{} }, Metrics: metrics})
				req := httptest.NewRequest("GET", "https://d.example"+path, nil)
				req.RemoteAddr = tc.remote
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != tc.wantCode {
					t.Errorf("status = %d, want %d", rec.Code, tc.wantCode)
				}
			})
		}
		t.Run(path+" off", func(t *testing.T) {
			h := mustHandler(t, Options{Domains: []string{"d.example"}, PublicHealth: true, PublicMetrics: true})
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "https://d.example"+path, nil))
			if rec.Code != 404 {
				t.Errorf("status = %d, want 404", rec.Code)
			}
		})
		t.Run(path+" POST", func(t *testing.T) {
			h := mustHandler(t, Options{Domains: []string{"d.example"}, Health: func() Health { return Health{} }, Metrics: metrics})
			req := httptest.NewRequest("POST", "https://d.example"+path, nil)
			req.RemoteAddr = "127.0.0.1:4000"
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != 405 {
				t.Errorf("status = %d, want 405", rec.Code)
			}
		})
	}
}

func TestRedirect(t *testing.T) {
	h := Redirect([]string{"d.example", "conference.d.example"})
	tests := []struct {
		name     string
		method   string
		host     string
		target   string
		wantCode int
		wantLoc  string
	}{
		{"domain", "GET", "d.example", "/", 308, "https://d.example/"},
		{"path, query and port", "GET", "D.example:80", "/a%20b/c?x=1&y=2", 308, "https://d.example/a%20b/c?x=1&y=2"},
		{"subdomain, post keeps method", "POST", "conference.d.example", "/upload", 308, "https://conference.d.example/upload"},
		{"unknown host", "GET", "evil.example", "/", 404, ""},
		{"address", "GET", "127.0.0.5", "/", 404, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, "http://"+tc.host+tc.target, nil)
			req.Host = tc.host
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.wantCode {
				t.Fatalf("status = %d, want %d", rec.Code, tc.wantCode)
			}
			if got := rec.Header().Get("Location"); got != tc.wantLoc {
				t.Errorf("Location = %q, want %q", got, tc.wantLoc)
			}
		})
	}
}

func TestCanonicalHost(t *testing.T) {
	tests := []struct{ in, want string }{
		{"d.example", "d.example"},
		{"D.EXAMPLE", "d.example"},
		{"d.example:8443", "d.example"},
		{"d.example.", "d.example"},
		{"xn--bcher-kva.example", "bücher.example"},
		{"127.0.0.1", ""},
		{"[::1]:443", ""},
		{"::1", ""},
		{"", ""},
		{"user@d.example", ""},
		{"d.example/x", ""},
		{"a..b", ""},
	}
	for _, tc := range tests {
		if got := canonicalHost(tc.in); got != tc.want {
			t.Errorf("canonicalHost(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzCanonicalHost: any Host header is handled without panicking, and
// the canonical form is stable.
func FuzzCanonicalHost(f *testing.F) {
	for _, s := range []string{"d.example", "D.Example:443", "xn--bcher-kva.example", "[::1]:80", "bücher.example.", "a..b", "\x00", "@/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		c := canonicalHost(host)
		if c == "" {
			return
		}
		// The authority links are built with names the same domain, with
		// at most a numeric port, and is stable.
		a := authority(host)
		if canonicalHost(a) != c || authority(a) != a {
			t.Errorf("authority(%q) = %q: canonical %q, again %q; want %q and itself", host, a, canonicalHost(a), authority(a), c)
		}
		if again := canonicalHost(c); again != c {
			t.Errorf("canonicalHost(%q) = %q, but canonicalHost(%q) = %q", host, c, c, again)
		}
	})
}

func BenchmarkHostMetaJSON(b *testing.B) {
	h := mustHandler(b, Options{Domains: []string{"d.example"}})
	req := httptest.NewRequest("GET", "https://d.example/.well-known/host-meta.json", nil)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}

func mustHandler(t testing.TB, o Options) http.Handler {
	t.Helper()
	h, err := NewHandler(o)
	if err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	return h
}

// TestRoutes: the features' routes are mounted beside the built-in
// resources, and a path with dot segments reaches none of them.
func TestRoutes(t *testing.T) {
	files := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "files:"+r.URL.Path)
	})
	h := mustHandler(t, Options{Domains: []string{"d.example"}, Routes: []Route{{Pattern: "/files/", Handler: files}}})
	tests := []struct {
		path     string
		wantCode int
		wantBody string
	}{
		{"/files/a/b.jpg", http.StatusOK, "files:/files/a/b.jpg"},
		{"/files/a/../b.jpg", http.StatusNotFound, ""},
		{"/files/a/%2e%2e/b.jpg", http.StatusNotFound, ""},
		{"/files//b.jpg", http.StatusNotFound, ""},
		{"/x/../files/b", http.StatusNotFound, ""},
		{"/other", http.StatusNotFound, ""},
		{"/.well-known/host-meta.json", http.StatusOK, ""},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			req := httptest.NewRequest("GET", "https://d.example"+tc.path, nil)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.wantCode {
				t.Fatalf("GET %s = %d, want %d (Location %q)", tc.path, rec.Code, tc.wantCode, rec.Header().Get("Location"))
			}
			if tc.wantBody != "" && rec.Body.String() != tc.wantBody {
				t.Errorf("GET %s body %q, want %q", tc.path, rec.Body.String(), tc.wantBody)
			}
		})
	}
}

func TestRouteConflicts(t *testing.T) {
	for _, pattern := range []string{"/health", "/metrics", "/.well-known/host-meta.json", "/bad/{"} {
		_, err := NewHandler(Options{Routes: []Route{{Pattern: pattern, Handler: http.NotFoundHandler()}}})
		if err == nil || !strings.Contains(err.Error(), pattern) {
			t.Errorf("NewHandler with route %q: %v, want an error naming it", pattern, err)
		}
	}
}
