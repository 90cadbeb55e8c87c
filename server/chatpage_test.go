package server

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"roost/config"
)

// TestChatPageApp: where the chat page's converse.js comes from, for each
// shape of [websocket] chat_app and chat_app_dir and the installed copy.
func TestChatPageApp(t *testing.T) {
	dir := t.TempDir()
	withApp := filepath.Join(dir, "app")
	installed := filepath.Join(dir, "usr", "share", "roost", "chat-app")
	for _, d := range []string{withApp, installed} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "converse.min.js"), []byte("export {}"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	empty := t.TempDir()
	const site = "https://static.example.org/converse/"
	tests := []struct {
		name      string
		app, dir  string // chat_app, chat_app_dir
		installed string // Options.InstalledChatApp
		off       bool   // chat_page = false
		wantDir   string // the local copy served, or ""
		wantApp   string // the page's App
	}{
		{name: "the installed copy", installed: installed, wantDir: installed, wantApp: config.DefaultChatApp},
		{name: "a copy named in the file", dir: withApp, installed: installed, wantDir: withApp, wantApp: config.DefaultChatApp},
		{name: "a site named in the file", app: site, installed: installed, wantApp: site},
		{name: "nothing installed", installed: filepath.Join(dir, "missing"), wantApp: config.DefaultChatApp},
		{name: "no installed copy known", wantApp: config.DefaultChatApp},
		{name: "a folder without converse.js", dir: empty, installed: installed, wantApp: config.DefaultChatApp},
		{name: "no chat page", off: true, installed: installed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.WebSocket.ChatApp, cfg.WebSocket.ChatAppDir, cfg.WebSocket.ChatPage = tt.app, tt.dir, !tt.off
			s := &Server{cfg: cfg, opts: Options{InstalledChatApp: tt.installed}}
			page := s.chatPage(slog.New(slog.DiscardHandler))
			if tt.off {
				if page != nil {
					t.Errorf("chat page %+v, want none", page)
				}
				return
			}
			if page == nil {
				t.Fatal("no chat page")
			}
			gotDir := ""
			if page.Local != nil {
				gotDir = page.Local.Dir()
			}
			if gotDir != tt.wantDir || page.App != tt.wantApp {
				t.Errorf("local copy %q, app %q; want %q, %q", gotDir, page.App, tt.wantDir, tt.wantApp)
			}
		})
	}
}
