package httpd

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// chatAppFiles is a small copy of converse.js's dist/: name → content.
var chatAppFiles = map[string]string{
	"converse.min.js":                  "export const converse = 1;",
	"converse.min.css":                 "body { color: black }",
	"converse.min.js.map":              `{"version":3}`,
	"curve25519_compiled.wasm":         "\x00asm\x01\x00\x00\x00",
	"emoji.json":                       `{"smileys":{}}`,
	"chunkjs/locales/de-LC.js":         "export default {};",
	"webfonts/muli.woff2":              "wOF2",
	"webfonts/muli.ttf":                "\x00\x01\x00\x00",
	"sounds/msg_received.mp3":          "ID3",
	"sounds/msg_received.ogg":          "OggS",
	"sounds/README":                    "Sound credit",
	"images/logo/conversejs.svg":       "<svg xmlns='http://www.w3.org/2000/svg'/>",
	"images/favicon.ico":               "\x00\x00\x01\x00",
	"images/custom_emojis/xmpp.png":    "\x89PNG",
	".hidden.js":                       "hidden",
	"chunkjs/.cache/x.js":              "hidden",
	"chunkjs/locales/dayjs/fr-js.js":   "export default {};",
	"chunkjs/locales/dayjs/fr-js.js.x": "no type",
}

// newTestChatApp writes chatAppFiles to dir/app, with a file outside it
// (dir/secret.js) and symbolic links to both, and opens it.
func newTestChatApp(t *testing.T) (*ChatApp, string) {
	t.Helper()
	dir := t.TempDir()
	app := filepath.Join(dir, "app")
	for name, content := range chatAppFiles {
		p := filepath.Join(app, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "secret.js"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{
		"escape.js":          "../secret.js",
		"absolute.js":        filepath.Join(dir, "secret.js"),
		"alias.js":           "converse.min.js",
		"chunkjs/up.js":      "../../secret.js",
		"images/dir-up.svg":  "..",
		"webfonts/loop.woff": "loop.woff",
	} {
		if err := os.Symlink(target, filepath.Join(app, filepath.FromSlash(link))); err != nil {
			t.Fatal(err)
		}
	}
	a, err := OpenChatApp(app)
	if err != nil {
		t.Fatalf("OpenChatApp: %v", err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a, app
}

func TestChatAppServe(t *testing.T) {
	a, _ := newTestChatApp(t)
	h, err := NewHandler(Options{Domains: []string{"d.example"}, ChatPage: &ChatPage{Local: a, WebSocketPath: "/xmpp-websocket"}})
	if err != nil {
		t.Fatal(err)
	}
	v := a.URL() // /chat-app/<version>/
	if !strings.HasPrefix(v, ChatAppPath) || len(v) <= len(ChatAppPath)+1 || !strings.HasSuffix(v, "/") {
		t.Fatalf("URL() = %q, want %s<version>/", v, ChatAppPath)
	}
	const long = "public, max-age=31536000, immutable"
	tests := []struct {
		name     string
		method   string
		path     string
		header   map[string]string
		wantCode int
		wantType string // Content-Type when 200
		wantBody string // when 200 and not HEAD: the file
	}{
		{name: "the script", method: "GET", path: v + "converse.min.js", wantCode: 200, wantType: "text/javascript; charset=utf-8", wantBody: chatAppFiles["converse.min.js"]},
		{name: "the style", method: "GET", path: v + "converse.min.css", wantCode: 200, wantType: "text/css; charset=utf-8", wantBody: chatAppFiles["converse.min.css"]},
		{name: "WebAssembly", method: "GET", path: v + "curve25519_compiled.wasm", wantCode: 200, wantType: "application/wasm", wantBody: chatAppFiles["curve25519_compiled.wasm"]},
		{name: "JSON", method: "GET", path: v + "emoji.json", wantCode: 200, wantType: "application/json", wantBody: chatAppFiles["emoji.json"]},
		{name: "a chunk", method: "GET", path: v + "chunkjs/locales/de-LC.js", wantCode: 200, wantType: "text/javascript; charset=utf-8", wantBody: chatAppFiles["chunkjs/locales/de-LC.js"]},
		{name: "a deeper chunk", method: "GET", path: v + "chunkjs/locales/dayjs/fr-js.js", wantCode: 200, wantType: "text/javascript; charset=utf-8", wantBody: chatAppFiles["chunkjs/locales/dayjs/fr-js.js"]},
		{name: "woff2", method: "GET", path: v + "webfonts/muli.woff2", wantCode: 200, wantType: "font/woff2", wantBody: "wOF2"},
		{name: "ttf", method: "GET", path: v + "webfonts/muli.ttf", wantCode: 200, wantType: "font/ttf", wantBody: chatAppFiles["webfonts/muli.ttf"]},
		{name: "mp3", method: "GET", path: v + "sounds/msg_received.mp3", wantCode: 200, wantType: "audio/mpeg", wantBody: "ID3"},
		{name: "ogg", method: "GET", path: v + "sounds/msg_received.ogg", wantCode: 200, wantType: "audio/ogg", wantBody: "OggS"},
		{name: "svg", method: "GET", path: v + "images/logo/conversejs.svg", wantCode: 200, wantType: "image/svg+xml", wantBody: chatAppFiles["images/logo/conversejs.svg"]},
		{name: "png", method: "GET", path: v + "images/custom_emojis/xmpp.png", wantCode: 200, wantType: "image/png", wantBody: "\x89PNG"},
		{name: "ico", method: "GET", path: v + "images/favicon.ico", wantCode: 200, wantType: "image/vnd.microsoft.icon", wantBody: chatAppFiles["images/favicon.ico"]},
		{name: "a link inside the folder", method: "GET", path: v + "alias.js", wantCode: 200, wantType: "text/javascript; charset=utf-8", wantBody: chatAppFiles["converse.min.js"]},
		{name: "HEAD", method: "HEAD", path: v + "converse.min.js", wantCode: 200, wantType: "text/javascript; charset=utf-8"},
		{name: "not modified", method: "GET", path: v + "converse.min.js", header: map[string]string{"If-Modified-Since": time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)}, wantCode: 304},
		{name: "a range", method: "GET", path: v + "converse.min.js", header: map[string]string{"Range": "bytes=0-5"}, wantCode: 206, wantType: "text/javascript; charset=utf-8", wantBody: "export"},
		{name: "POST", method: "POST", path: v + "converse.min.js", wantCode: 405},
		{name: "PUT", method: "PUT", path: v + "new.js", wantCode: 405},
		{name: "another version", method: "GET", path: ChatAppPath + "0/converse.min.js", wantCode: 404},
		{name: "no version", method: "GET", path: ChatAppPath + "converse.min.js", wantCode: 404},
		{name: "the folder", method: "GET", path: v, wantCode: 404},
		{name: "the top", method: "GET", path: ChatAppPath, wantCode: 404},
		{name: "a folder", method: "GET", path: v + "chunkjs/", wantCode: 404},
		{name: "a folder without slash", method: "GET", path: v + "chunkjs", wantCode: 404},
		{name: "a folder named like a file", method: "GET", path: v + "images/dir-up.svg", wantCode: 404},
		{name: "a source map", method: "GET", path: v + "converse.min.js.map", wantCode: 404},
		{name: "a README", method: "GET", path: v + "sounds/README", wantCode: 404},
		{name: "an unknown type", method: "GET", path: v + "chunkjs/locales/dayjs/fr-js.js.x", wantCode: 404},
		{name: "a hidden file", method: "GET", path: v + ".hidden.js", wantCode: 404},
		{name: "a hidden folder", method: "GET", path: v + "chunkjs/.cache/x.js", wantCode: 404},
		{name: "a missing file", method: "GET", path: v + "missing.js", wantCode: 404},
		{name: "dot segments", method: "GET", path: v + "../../secret.js", wantCode: 404},
		{name: "encoded dot segments", method: "GET", path: v + "%2e%2e/%2e%2e/secret.js", wantCode: 404},
		{name: "an encoded slash", method: "GET", path: v + "chunkjs%2f..%2f..%2fsecret.js", wantCode: 404},
		{name: "a doubled slash", method: "GET", path: v + "chunkjs//locales/de-LC.js", wantCode: 404},
		{name: "a link out of the folder", method: "GET", path: v + "escape.js", wantCode: 404},
		{name: "an absolute link", method: "GET", path: v + "absolute.js", wantCode: 404},
		{name: "a link out from below", method: "GET", path: v + "chunkjs/up.js", wantCode: 404},
		{name: "a link loop", method: "GET", path: v + "webfonts/loop.woff", wantCode: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, "https://d.example"+tt.path, nil)
			for k, val := range tt.header {
				req.Header.Set(k, val)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			resp := rec.Result()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("status %d, want %d; body %q", resp.StatusCode, tt.wantCode, body)
			}
			if strings.Contains(string(body), "secret") {
				t.Errorf("body %q has the file outside the folder", body)
			}
			switch tt.wantCode {
			case 200, 206:
				if got := resp.Header.Get("Content-Type"); got != tt.wantType {
					t.Errorf("Content-Type %q, want %q", got, tt.wantType)
				}
				if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
					t.Errorf("X-Content-Type-Options %q, want nosniff", got)
				}
				if got := resp.Header.Get("Cache-Control"); got != long {
					t.Errorf("Cache-Control %q, want %q", got, long)
				}
				if resp.Header.Get("Last-Modified") == "" {
					t.Error("no Last-Modified")
				}
				if tt.method == "HEAD" {
					if len(body) != 0 || resp.Header.Get("Content-Length") != "26" {
						t.Errorf("HEAD: body %q, Content-Length %q; want none, 26", body, resp.Header.Get("Content-Length"))
					}
				} else if string(body) != tt.wantBody {
					t.Errorf("body %q, want %q", body, tt.wantBody)
				}
				wantCSP := strings.HasSuffix(tt.path, ".svg")
				if got := resp.Header.Get("Content-Security-Policy"); (got != "") != wantCSP || (wantCSP && !strings.Contains(got, "sandbox")) {
					t.Errorf("Content-Security-Policy %q; want a sandbox for an svg only", got)
				}
			case 405:
				if got := resp.Header.Get("Allow"); got != "GET, HEAD" {
					t.Errorf("Allow %q, want GET, HEAD", got)
				}
			}
		})
	}
}

// TestChatAppPathTaken: without a copy, or without a chat page, the path
// is 404, and no route may take it.
func TestChatAppPathTaken(t *testing.T) {
	a, _ := newTestChatApp(t)
	for _, tt := range []struct {
		name string
		page *ChatPage
	}{
		{"no chat page", nil},
		{"a page without a copy", &ChatPage{App: "https://cdn.example.net/converse/", WebSocketPath: "/ws"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h, err := NewHandler(Options{Domains: []string{"d.example"}, ChatPage: tt.page})
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "https://d.example"+a.URL()+"converse.min.js", nil))
			if rec.Code != 404 {
				t.Errorf("status %d, want 404", rec.Code)
			}
			_, err = NewHandler(Options{ChatPage: tt.page, Routes: []Route{{Pattern: "/chat-app/", Handler: http.NotFoundHandler()}}})
			if err == nil {
				t.Error("a route at /chat-app/ was accepted")
			}
		})
	}
}

func TestOpenChatApp(t *testing.T) {
	dir := t.TempDir()
	mkdir := func(name string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write := func(p, s string, mtime time.Time) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	empty := mkdir("empty")
	asDir := mkdir("asdir")
	mkdir("asdir/converse.min.js")
	outside := mkdir("outside")
	write(filepath.Join(outside, "converse.min.js"), "x", time.Unix(1e9, 0))
	linked := mkdir("linked")
	if err := os.Symlink("../outside/converse.min.js", filepath.Join(linked, "converse.min.js")); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, dir string }{
		{"a missing folder", filepath.Join(dir, "missing")},
		{"an empty folder", empty},
		{"converse.min.js is a folder", asDir},
		{"converse.min.js links out of the folder", linked},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a, err := OpenChatApp(tt.dir)
			if !errors.Is(err, ErrNoChatApp) {
				t.Errorf("OpenChatApp = %v, %v; want ErrNoChatApp", a, err)
			}
		})
	}

	// The version follows the main file: same file, same version; a new
	// size or time, a new one.
	app := mkdir("app")
	main := filepath.Join(app, "converse.min.js")
	version := func() string {
		t.Helper()
		a, err := OpenChatApp(app)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		if a.Dir() != app {
			t.Errorf("Dir() = %q, want %q", a.Dir(), app)
		}
		return a.URL()
	}
	write(main, "v1", time.Unix(1e9, 0))
	v1 := version()
	if again := version(); again != v1 {
		t.Errorf("the same files: %q, then %q", v1, again)
	}
	write(main, "v1", time.Unix(2e9, 0))
	v2 := version()
	write(main, "v22", time.Unix(2e9, 0))
	v3 := version()
	if v1 == v2 || v2 == v3 || v1 == v3 {
		t.Errorf("versions %q, %q, %q; want a new one for each change", v1, v2, v3)
	}
}

// TestChatPageLocal: with a local copy the page loads converse.js from
// it, and names no other site.
func TestChatPageLocal(t *testing.T) {
	a, _ := newTestChatApp(t)
	h, err := NewHandler(Options{Domains: []string{"d.example"},
		ChatPage: &ChatPage{Local: a, App: "https://cdn.example.net/converse/", WebSocketPath: "/xmpp-websocket"}})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "https://d.example/", nil))
	body := rec.Body.String()
	if rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	for _, w := range []string{
		`<link rel="stylesheet" href="` + a.URL() + `converse.min.css">`,
		`<script type="module" src="` + a.URL() + `converse.min.js">`,
		`assets_path: "` + a.URL() + `"`,
		`loading.textContent = "The chat app could not be loaded from this server: please reload the page.";`,
		`embed_3rd_party_media_players: false`,
	} {
		if !strings.Contains(body, w) {
			t.Errorf("page lacks %s:\n%s", w, body)
		}
	}
	if strings.Contains(body, "cdn.example.net") || strings.Contains(body, "https://") {
		t.Errorf("page names another site:\n%s", body)
	}
	// Every file the page names is served.
	for _, f := range []string{"converse.min.css", "converse.min.js"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "https://d.example"+a.URL()+f, nil))
		if rec.Code != 200 {
			t.Errorf("%s: status %d", f, rec.Code)
		}
	}
}
