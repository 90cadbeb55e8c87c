package httpd

import (
	"bytes"
	"html/template"
	"net/http"
	"sync"
)

// ChatPage is the web chat page: converse.js, loaded by the browser from
// Local, served beside the page, or else from App, connecting to this
// server's XMPP over WebSocket (RFC 7395) at WebSocketPath on the address
// the page came from.
type ChatPage struct {
	// Local, if set, is a copy of converse.js this handler serves; the
	// page loads it from there and App is not used.
	Local *ChatApp
	// App is the URL of converse.js's dist/ folder, ending in "/".
	App string
	// WebSocketPath is the path of the WebSocket endpoint on this
	// listener, such as "/xmpp-websocket".
	WebSocketPath string
	// Registration offers "Create an account" (XEP-0077), which only
	// works when the server allows in-band registration.
	Registration bool
}

// chatPageHTML is the page. The WebSocket address is made in the browser
// from location.host, so it names the host and port the page was reached
// by (a router forwarding 443 to 5443 included) and the browser's Origin
// is this server's own, which the endpoint allows. Domain is the default
// for a name typed without "@", so that a family member logs in with
// "alice" and her password. If the app cannot be loaded (no Internet, a
// wrong chat_app), the text says so instead of a blank page: the inline
// module runs after the app's module script whether or not that loaded
// (module scripts run in document order, like deferred ones), so it is
// the one place that decides, by whether converse is defined. A message
// set by the app script's onerror would be removed by it. From the local
// copy, the Internet has nothing to do with it. Players of other sites
// (YouTube, Spotify) for links in messages are off, so that a link does
// not tell those sites who reads it.
const chatPageHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Chat on {{.Domain}}</title>
<link rel="stylesheet" href="{{.App}}converse.min.css">
<script type="module" src="{{.App}}converse.min.js"></script>
</head>
<body class="converse-fullscreen">
<p id="roost-loading" style="font-family: sans-serif; margin: 2em">Loading the chat…</p>
<noscript><p style="font-family: sans-serif; margin: 2em">The chat needs JavaScript: please turn it on for this page.</p></noscript>
<script type="module">
const loading = document.getElementById('roost-loading');
if (typeof converse === 'undefined') {
  loading.textContent = {{.Failed}};
} else {
  loading.remove();
  converse.initialize({
    view_mode: 'fullscreen',
    assets_path: {{.App}},
    websocket_url: 'wss://' + location.host + {{.WebSocketPath}},
    discover_connection_methods: false,
    default_domain: {{.Domain}},
    allow_registration: {{if .Registration}}true{{else}}false{{end}},
    auto_reconnect: true,
    embed_3rd_party_media_players: false,
  });
}
</script>
</body>
</html>
`

// chatPage renders the page for a domain.
type chatPage struct {
	tmpl func() (*template.Template, error) // parseChatPage, once
	page ChatPage
}

// newChatPage parses the page on the first request, not at start: the
// parse costs memory the Pi keeps, for a page few open.
// TestParseChatPage keeps a broken page failing the tests.
func newChatPage(p ChatPage) *chatPage {
	return &chatPage{tmpl: sync.OnceValues(parseChatPage), page: p}
}

// parseChatPage parses chatPageHTML.
func parseChatPage() (*template.Template, error) {
	return template.New("chat").Parse(chatPageHTML)
}

// serve answers GET / with the page for domain.
func (c *chatPage) serve(w http.ResponseWriter, domain string) {
	var b bytes.Buffer
	app, failed := c.page.App, "The chat app could not be loaded from "+c.page.App+": is this device online?"
	if c.page.Local != nil {
		app, failed = c.page.Local.URL(), "The chat app could not be loaded from this server: please reload the page."
	}
	t, err := c.tmpl()
	if err == nil {
		err = t.Execute(&b, struct {
			WebSocketPath, App, Domain, Failed string
			Registration                       bool
		}{c.page.WebSocketPath, app, domain, failed, c.page.Registration})
	}
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(b.Bytes())
}
