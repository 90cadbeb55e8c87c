package httpd

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestChatPage(t *testing.T) {
	page := &ChatPage{App: "https://cdn.example.net/converse/1.0/dist/", WebSocketPath: "/xmpp-websocket"}
	tests := []struct {
		name     string
		page     *ChatPage
		method   string
		host     string
		path     string
		wantCode int
		want     []string // substrings of the body
		absent   []string
	}{
		{
			name: "the page for the domain asked", page: page, method: "GET", host: "d.example:5443", path: "/", wantCode: 200,
			want: []string{
				`<title>Chat on d.example</title>`,
				`<link rel="stylesheet" href="https://cdn.example.net/converse/1.0/dist/converse.min.css">`,
				`<script type="module" src="https://cdn.example.net/converse/1.0/dist/converse.min.js"`,
				`assets_path: "https://cdn.example.net/converse/1.0/dist/"`,
				`websocket_url: 'wss://' + location.host + "/xmpp-websocket"`,
				`default_domain: "d.example"`,
				`allow_registration: false`,
				"if (typeof converse === 'undefined') {\n  loading.textContent = \"The chat app could not be loaded from https://cdn.example.net/converse/1.0/dist/: is this device online?\";",
			},
		},
		{
			name: "registration offered", method: "GET", host: "d.example", path: "/", wantCode: 200,
			page: &ChatPage{App: page.App, WebSocketPath: page.WebSocketPath, Registration: true},
			want: []string{`allow_registration: true`},
		},
		{
			name: "another hosted domain", page: page, method: "GET", host: "E.example", path: "/", wantCode: 200,
			want: []string{`default_domain: "e.example"`},
		},
		{
			name: "an IP address gets the first domain", page: page, method: "GET", host: "192.0.2.1:5443", path: "/", wantCode: 200,
			want: []string{`default_domain: "d.example"`},
		},
		{
			name: "HEAD", page: page, method: "HEAD", host: "d.example", path: "/", wantCode: 200,
		},
		{
			name: "only the root", page: page, method: "GET", host: "d.example", path: "/index.html", wantCode: 404,
			absent: []string{"converse"},
		},
		{
			name: "read only", page: page, method: "POST", host: "d.example", path: "/", wantCode: 405,
		},
		{
			name: "no page configured", method: "GET", host: "d.example", path: "/", wantCode: 404,
			absent: []string{"converse"},
		},
		{
			name: "markup in a setting stays text", method: "GET", host: "d.example", path: "/", wantCode: 200,
			page:   &ChatPage{App: `https://x.example/"><script>alert(1)</script>/`, WebSocketPath: `/ws"</script>`},
			absent: []string{"<script>alert(1)", `/ws"</script>`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := NewHandler(Options{Domains: []string{"d.example", "e.example"}, ChatPage: tt.page})
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest(tt.method, "https://"+tt.host+tt.path, nil)
			req.Host = tt.host
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			resp := rec.Result()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tt.wantCode, body)
			}
			if tt.wantCode == 200 {
				if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
					t.Errorf("Content-Type %q, want text/html; charset=utf-8", ct)
				}
			}
			for _, w := range tt.want {
				if !strings.Contains(string(body), w) {
					t.Errorf("page lacks %s:\n%s", w, body)
				}
			}
			for _, a := range tt.absent {
				if strings.Contains(string(body), a) {
					t.Errorf("page has %s:\n%s", a, body)
				}
			}
		})
	}
}

// TestParseChatPage: the page is parsed on the first request, not by
// NewHandler, so a broken template must fail here.
func TestParseChatPage(t *testing.T) {
	tmpl, err := parseChatPage()
	if err != nil {
		t.Fatalf("parseChatPage: %v", err)
	}
	if got := tmpl.Name(); got != "chat" {
		t.Errorf("template name = %q, want %q", got, "chat")
	}
}
