package upload

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Route is the HTTP pattern the module serves (net/http.ServeMux syntax):
// every slot's URL is /upload/ID/NAME.
const Route = "/upload/"

// routePrefix is Route as it starts a path.
const routePrefix = Route

// splitPath returns the slot ID of an upload URL's escaped path,
// "/upload/ID/NAME". The name is one non-empty path segment: a path with
// more segments, an encoded slash or backslash in the name, or dot
// segments is not a slot's, and ok is false (the handler answers 404, so
// that path tricks learn nothing). The name itself is not checked against
// the slot's: the ID alone is the capability, and clients re-encode names.
func splitPath(escaped string) (id string, ok bool) {
	rest, ok := strings.CutPrefix(escaped, routePrefix)
	if !ok {
		return "", false
	}
	id, name, ok := strings.Cut(rest, "/")
	if !ok || !ValidID(id) || name == "" || strings.Contains(name, "/") {
		return "", false
	}
	raw, err := url.PathUnescape(name)
	if err != nil || raw == "." || raw == ".." || strings.ContainsAny(raw, "/\\\x00") {
		return "", false
	}
	return id, true
}

// CORS (the Fetch standard's CORS protocol): web clients on any origin
// upload with a PUT carrying Authorization and Content-Type, which needs a
// preflight, and read what they download. No credentials are involved
// (cookies or HTTP authentication), so "*" suits: the URLs and tokens are
// the capabilities.
const (
	corsMethods = "GET, HEAD, PUT, OPTIONS"
	corsHeaders = "Authorization, Content-Type"
	corsExpose  = "Content-Length, Content-Range, Content-Disposition, ETag"
	corsMaxAge  = "86400"
)

// ServeHTTP serves the slots: PUT uploads a body, GET and HEAD download
// it, OPTIONS answers CORS preflights.
func (m *Module) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	id, ok := splitPath(r.URL.EscapedPath())
	if !ok {
		http.NotFound(w, r)
		return
	}
	switch r.Method {
	case http.MethodPut, http.MethodGet, http.MethodHead:
	case http.MethodOptions:
		h.Set("Access-Control-Allow-Methods", corsMethods)
		h.Set("Access-Control-Allow-Headers", corsHeaders)
		h.Set("Access-Control-Max-Age", corsMaxAge)
		h.Set("Allow", corsMethods)
		w.WriteHeader(http.StatusNoContent)
		return
	default:
		h.Set("Allow", corsMethods)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	f, found, err := m.store.File(id)
	switch {
	case err != nil:
		m.log.Error("read upload record", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
	case !found:
		http.NotFound(w, r)
	case r.Method == http.MethodPut:
		m.put(w, r, f)
	default:
		m.get(w, r, f)
	}
}

// put stores the body of a slot (XEP-0363 §6): once, with the declared
// length and type, authorised by the slot's token.
func (m *Module) put(w http.ResponseWriter, r *http.Request, f File) {
	now := m.now()
	if f.Complete {
		http.Error(w, "this slot has its file already", http.StatusConflict)
		return
	}
	bearer, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	switch verifyToken(m.secret, bearer, f, now) {
	case tokenInvalid:
		http.Error(w, "missing or wrong Authorization for this slot", http.StatusForbidden)
		return
	case tokenExpired:
		http.Error(w, "the slot has expired: request a new one", http.StatusGone)
		return
	}
	if now.After(f.Expires) {
		http.Error(w, "the slot has expired: request a new one", http.StatusGone)
		return
	}
	switch {
	case r.ContentLength < 0:
		http.Error(w, "send Content-Length", http.StatusLengthRequired)
		return
	case r.ContentLength > f.Size:
		http.Error(w, "longer than the slot's size ("+strconv.FormatInt(f.Size, 10)+" bytes)", http.StatusRequestEntityTooLarge)
		return
	case r.ContentLength < f.Size:
		http.Error(w, "shorter than the slot's size ("+strconv.FormatInt(f.Size, 10)+" bytes)", http.StatusBadRequest)
		return
	}
	// XEP-0363 §6: the service SHOULD reject a type other than the one
	// declared; with none declared, any type is taken.
	if f.Type != "" && mediaType(r.Header.Get("Content-Type")) != mediaType(f.Type) {
		http.Error(w, "Content-Type differs from the slot's ("+f.Type+")", http.StatusBadRequest)
		return
	}
	release, status := m.active.acquire(f.Owner, f.ID, m.maxConcurrent)
	if status != 0 {
		msg := "an upload to this slot is in progress"
		if status == http.StatusTooManyRequests {
			msg = "too many uploads at once: wait for one to finish"
			w.Header().Set("Retry-After", "10")
		}
		http.Error(w, msg, status)
		return
	}
	defer release()
	if status, msg := m.receive(w, r, f); status != http.StatusCreated {
		http.Error(w, msg, status)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

// receive writes the body of slot f to a temporary file, and renames it to
// the slot's ID and marks the record complete only when all of it arrived:
// a cut upload leaves nothing behind. It returns the HTTP status and, for
// a failure, a message for the client.
func (m *Module) receive(w http.ResponseWriter, r *http.Request, f File) (int, string) {
	tmp := tempName(f.ID)
	dst, err := m.fs.Create(tmp)
	if err != nil {
		return m.diskError("create upload file", err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = dst.Close()
			if err := m.fs.Remove(tmp); err != nil {
				m.log.Error("remove a failed upload", "err", err)
			}
		}
	}()
	in := &pacedReader{r: r.Body, p: newPacer(http.NewResponseController(w).SetReadDeadline, m.transferTimeout, m.minRate)}
	// One byte more than declared: net/http stops at Content-Length, so
	// more is a protocol error, but the limit holds whatever the
	// transport.
	n, err := copyPooled(writeTagger{dst}, io.LimitReader(in, f.Size+1))
	if err != nil {
		var we *writeError
		if errors.As(err, &we) {
			return m.diskError("write upload file", we.err)
		}
		m.log.Debug("upload cut short", "owner", f.Owner, "got", n, "want", f.Size, "err", err)
		return http.StatusBadRequest, "the upload was cut short"
	}
	if n != f.Size {
		return http.StatusBadRequest, "the body's length differs from the slot's size"
	}
	if err := dst.Sync(); err != nil {
		return m.diskError("sync upload file", err)
	}
	if err := dst.Close(); err != nil {
		return m.diskError("close upload file", err)
	}
	ok = true
	if err := m.fs.Rename(tmp, f.ID); err != nil {
		_ = m.fs.Remove(tmp)
		return m.diskError("store upload file", err)
	}
	if err := m.fs.SyncDir(); err != nil {
		m.log.Warn("sync the upload directory", "err", err)
	}
	if err := m.store.Complete(f.ID, m.now().Add(m.expireAfter)); err != nil {
		// The slot lapsed into the sweeper, or its owner was deleted,
		// while the body arrived: it belongs to no one.
		if rerr := m.fs.Remove(f.ID); rerr != nil {
			m.log.Error("remove an orphaned upload", "err", rerr)
		}
		if errors.Is(err, ErrGone) {
			return http.StatusGone, "the slot is gone: request a new one"
		}
		m.log.Error("complete upload", "err", err)
		return http.StatusInternalServerError, "internal error"
	}
	m.log.Info("file uploaded", "owner", f.Owner, "bytes", f.Size)
	return http.StatusCreated, ""
}

// diskError maps a file system error to its HTTP status: 507 when the disk
// is full (RFC 4918 §11.5), so the client knows to try later; the server
// carries on either way.
func (m *Module) diskError(what string, err error) (int, string) {
	if isNoSpace(err) {
		m.log.Warn("the disk is full: an upload was refused", "op", what)
		return http.StatusInsufficientStorage, "the server's disk is full"
	}
	m.log.Error(what, "err", err)
	return http.StatusInternalServerError, "internal error"
}

// get serves a stored body with Range and HEAD (http.ServeContent), as
// passive content: see safeType.
func (m *Module) get(w http.ResponseWriter, r *http.Request, f File) {
	now := m.now()
	if !f.Complete || !now.Before(f.Expires) {
		http.NotFound(w, r)
		return
	}
	c, err := m.fs.Open(f.ID)
	if err != nil {
		m.log.Warn("an upload's file is missing", "err", err)
		http.NotFound(w, r)
		return
	}
	defer c.Close()
	h := w.Header()
	typ, inline := safeType(f.Type)
	disposition := "attachment"
	if inline {
		disposition = "inline"
	}
	h.Set("Content-Type", typ)
	h.Set("Content-Disposition", mime.FormatMediaType(disposition, map[string]string{"filename": f.Name}))
	h.Set("X-Content-Type-Options", "nosniff")
	// Nothing in a response runs, even opened directly: no scripts,
	// styles or frames, and a sandboxed origin.
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Access-Control-Expose-Headers", corsExpose)
	// A body never changes: caches may keep it until it expires.
	age := min(f.Expires.Sub(now), 365*24*time.Hour) / time.Second
	h.Set("Cache-Control", "max-age="+strconv.FormatInt(int64(age), 10)+", immutable")
	h.Set("ETag", `"`+f.ID+`"`)
	out := &pacedWriter{ResponseWriter: w, p: newPacer(http.NewResponseController(w).SetWriteDeadline, m.transferTimeout, m.minRate)}
	http.ServeContent(out, r, "", f.Created, c)
}

// inlineTypes are served as what they are: media a browser or client
// displays without running anything. Everything else (HTML, SVG, XML,
// scripts, PDFs, archives) is served as application/octet-stream and as
// an attachment, so that an uploaded page cannot act on anyone's behalf.
var inlineTypes = map[string]bool{
	"image/jpeg": true, "image/png": true, "image/gif": true, "image/webp": true,
	"image/avif": true, "image/heic": true, "image/heif": true, "image/bmp": true,
	"text/plain": true,
}

// safeType returns the Content-Type to serve a body declared as t, and
// whether it may be shown inline.
func safeType(t string) (string, bool) {
	mt, params, err := mime.ParseMediaType(t)
	if err != nil {
		return "application/octet-stream", false
	}
	major, _, _ := strings.Cut(mt, "/")
	switch {
	case mt == "text/plain":
		if cs := params["charset"]; cs != "" {
			return mime.FormatMediaType(mt, map[string]string{"charset": cs}), true
		}
		return mt, true
	case inlineTypes[mt], major == "audio" || major == "video":
		return mt, true
	}
	return "application/octet-stream", false
}
