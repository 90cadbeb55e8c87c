package httpd

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
)

// ChatAppPath is where the handler serves a local copy of converse.js
// ([ChatApp]): the path and everything below it. It is taken whether or
// not there is a copy, so that no route claims it.
const ChatAppPath = "/chat-app/"

// chatAppMain is the file whose presence makes a directory a copy of
// converse.js, and whose size and time make its version.
const chatAppMain = "converse.min.js"

// ErrNoChatApp: the directory holds no copy of converse.js.
var ErrNoChatApp = errors.New("no converse.js here")

// chatAppTypes are the files served and their types, by extension. A
// closed list rather than mime.TypeByExtension, which reads the system's
// mime.types, so that the answer does not depend on the machine; anything
// else (source maps, READMEs) is 404. The types are those browsers insist
// on: module scripts need a JavaScript type, WebAssembly streaming
// compilation application/wasm.
var chatAppTypes = map[string]string{
	".js":    "text/javascript; charset=utf-8",
	".css":   "text/css; charset=utf-8",
	".json":  "application/json",
	".wasm":  "application/wasm",
	".woff2": "font/woff2",
	".woff":  "font/woff",
	".ttf":   "font/ttf",
	".mp3":   "audio/mpeg",
	".ogg":   "audio/ogg",
	".png":   "image/png",
	".svg":   "image/svg+xml",
	".ico":   "image/vnd.microsoft.icon",
}

// ChatApp is a local copy of converse.js's dist/ folder, served under
// [ChatAppPath] so that the chat page needs no other site: on a home
// network without the Internet the page still works, and no third party
// learns who chats when.
//
// Files are opened when requested and streamed from disk (nothing is read
// at start beyond one stat, nothing is kept in memory), through an
// [os.Root] opened once, so that no name and no symbolic link reaches
// outside the directory. Their URLs carry a version ([ChatApp.URL]) made from the
// main file's size and time, so browsers may cache them for a year and
// still fetch the new files after an upgrade.
type ChatApp struct {
	root    *os.Root
	dir     string
	version string
}

// OpenChatApp returns the copy of converse.js in dir, or an error
// wrapping [ErrNoChatApp] when dir does not hold converse.min.js. It
// holds the directory open until [ChatApp.Close].
func OpenChatApp(dir string) (*ChatApp, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("open chat app %s: %w", dir, ErrNoChatApp)
		}
		return nil, fmt.Errorf("open chat app: %w", err)
	}
	fi, err := root.Stat(chatAppMain)
	if err != nil || !fi.Mode().IsRegular() {
		_ = root.Close()
		return nil, fmt.Errorf("open chat app %s: %w", dir, ErrNoChatApp)
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%d %d", fi.Size(), fi.ModTime().UnixNano())
	return &ChatApp{root: root, dir: dir, version: strconv.FormatUint(h.Sum64(), 36)}, nil
}

// Close releases the directory.
func (a *ChatApp) Close() error {
	return a.root.Close()
}

// URL is the path of the copy's folder, ending in "/", for the chat page:
// ChatAppPath, then the version.
func (a *ChatApp) URL() string {
	return ChatAppPath + a.version + "/"
}

// Dir is the directory the copy is served from.
func (a *ChatApp) Dir() string {
	return a.dir
}

// ServeHTTP serves one file of the copy: GET and HEAD only, 404 for
// another version, a directory, a hidden name or a type not in the list.
func (a *ChatApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !readOnly(w, r) {
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, a.URL())
	typ := chatAppTypes[path.Ext(rest)]
	if !ok || typ == "" || !fs.ValidPath(rest) || hidden(rest) {
		http.NotFound(w, r)
		return
	}
	// A name that leaves the directory, through ".." or a symbolic link
	// pointing outside, is an error of os.Root: 404 as any missing file.
	f, err := a.root.Open(rest)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", typ)
	h.Set("X-Content-Type-Options", "nosniff")
	// The version in the path changes with the files.
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	if path.Ext(rest) == ".svg" {
		// An image opened on its own is a document of this origin: no
		// script may run in it.
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox")
	}
	// Range, HEAD and If-Modified-Since as net/http does for files.
	http.ServeContent(w, r, fi.Name(), fi.ModTime(), f)
}

// hidden reports whether a slash-separated name has an element starting
// with a dot: never part of converse.js's files, often an editor's or a
// tool's.
func hidden(name string) bool {
	for e := range strings.SplitSeq(name, "/") {
		if strings.HasPrefix(e, ".") {
			return true
		}
	}
	return false
}
