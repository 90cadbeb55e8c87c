package upload

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// server serves e's module over a real connection (deadlines and all),
// and rewrites the module's URLs to it.
type server struct {
	*httptest.Server
	e *env
}

func newServer(t *testing.T, e *env) *server {
	t.Helper()
	s := &server{Server: httptest.NewServer(e.m), e: e}
	t.Cleanup(s.Close)
	return s
}

// local turns a slot URL into one of the test server.
func (s *server) local(u string) string {
	_, rest, _ := strings.Cut(u, "/upload/")
	return s.URL + "/upload/" + rest
}

// do sends method to url with headers (name, value pairs) and body, and
// returns the status and body.
func (s *server) do(t *testing.T, method, url string, body []byte, headers ...string) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] == "Content-Length" {
			fmt.Sscan(headers[i+1], &req.ContentLength)
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// dirNames lists the upload directory.
func (e *env) dirNames(t *testing.T) []string {
	t.Helper()
	names, err := e.fs.Names()
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func TestPutGet(t *testing.T) {
	e := newEnv(t, nil)
	s := newServer(t, e)
	data := randomBytes(t, 100_000)
	put, auth, get := e.slot(t, "baby.jpg", len(data), "image/jpeg")
	resp, _ := s.do(t, "PUT", s.local(put), data, "Authorization", auth, "Content-Type", "image/jpeg")
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("PUT = %s (CORS %q), want 201 with CORS", resp.Status, resp.Header.Get("Access-Control-Allow-Origin"))
	}
	resp, got := s.do(t, "GET", s.local(get), nil)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, data) {
		t.Fatalf("GET = %s, %d bytes, equal %t", resp.Status, len(got), bytes.Equal(got, data))
	}
	for name, want := range map[string]string{
		"Content-Type":                  "image/jpeg",
		"Content-Disposition":           `inline; filename=baby.jpg`,
		"X-Content-Type-Options":        "nosniff",
		"Content-Security-Policy":       "default-src 'none'; sandbox",
		"Cache-Control":                 "max-age=31536000, immutable",
		"Access-Control-Allow-Origin":   "*",
		"Access-Control-Expose-Headers": corsExpose,
		"Content-Length":                "100000",
		"Accept-Ranges":                 "bytes",
	} {
		if got := resp.Header.Get(name); got != want {
			t.Errorf("GET %s: %q, want %q", name, got, want)
		}
	}
	etag := resp.Header.Get("ETag")

	// HEAD: the headers, no body.
	resp, got = s.do(t, "HEAD", s.local(get), nil)
	if resp.StatusCode != http.StatusOK || len(got) != 0 || resp.ContentLength != 100000 {
		t.Errorf("HEAD = %s, %d body bytes, length %d", resp.Status, len(got), resp.ContentLength)
	}
	// Range.
	resp, got = s.do(t, "GET", s.local(get), nil, "Range", "bytes=1000-1999")
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(got, data[1000:2000]) ||
		resp.Header.Get("Content-Range") != "bytes 1000-1999/100000" {
		t.Errorf("range GET = %s, Content-Range %q, %d bytes", resp.Status, resp.Header.Get("Content-Range"), len(got))
	}
	// A suffix range, and one past the end.
	if resp, got = s.do(t, "GET", s.local(get), nil, "Range", "bytes=-10"); resp.StatusCode != http.StatusPartialContent || !bytes.Equal(got, data[len(data)-10:]) {
		t.Errorf("suffix range GET = %s, %d bytes", resp.Status, len(got))
	}
	if resp, _ = s.do(t, "GET", s.local(get), nil, "Range", "bytes=200000-"); resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("range past the end = %s, want 416", resp.Status)
	}
	// Conditional: a cached copy is still good.
	if resp, _ = s.do(t, "GET", s.local(get), nil, "If-None-Match", etag); resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match %s = %s, want 304", etag, resp.Status)
	}
	// Once only.
	if resp, _ = s.do(t, "PUT", s.local(put), data, "Authorization", auth, "Content-Type", "image/jpeg"); resp.StatusCode != http.StatusConflict {
		t.Errorf("second PUT = %s, want 409", resp.Status)
	}
	// The name in the URL is not the key: a client that re-encodes it
	// still gets the file.
	if resp, _ = s.do(t, "GET", s.local(strings.TrimSuffix(get, "baby.jpg")+"other.bin"), nil); resp.StatusCode != http.StatusOK {
		t.Errorf("GET with another name = %s, want 200", resp.Status)
	}
	if names := e.dirNames(t); len(names) != 1 || !ValidID(names[0]) {
		t.Errorf("upload directory holds %q, want the one body", names)
	}
}

func TestPutRefusals(t *testing.T) {
	tests := []struct {
		name    string
		headers func(auth string) []string
		body    []byte // default: the declared 1000 bytes
		setup   func(e *env)
		want    int
	}{
		{"no authorization", func(string) []string { return []string{"Content-Type", "image/png"} }, nil, nil, http.StatusForbidden},
		{"basic auth", func(string) []string { return []string{"Authorization", "Basic YTpi", "Content-Type", "image/png"} }, nil, nil, http.StatusForbidden},
		{"another slot's token", func(string) []string {
			return []string{"Authorization", "Bearer " + signToken(bytes.Repeat([]byte{7}, 32), File{ID: "other", Size: 1000, Type: "image/png", Expires: t0.Add(time.Hour)}), "Content-Type", "image/png"}
		}, nil, nil, http.StatusForbidden},
		{"expired", func(a string) []string { return []string{"Authorization", a, "Content-Type", "image/png"} }, nil,
			func(e *env) { e.clock.Add(DefaultSlotTimeout + time.Second) }, http.StatusGone},
		{"longer", func(a string) []string { return []string{"Authorization", a, "Content-Type", "image/png"} }, make([]byte, 1001), nil, http.StatusRequestEntityTooLarge},
		{"shorter", func(a string) []string { return []string{"Authorization", a, "Content-Type", "image/png"} }, make([]byte, 999), nil, http.StatusBadRequest},
		{"chunked", func(a string) []string {
			return []string{"Authorization", a, "Content-Type", "image/png", "Content-Length", "-1"}
		}, nil, nil, http.StatusLengthRequired},
		{"other type", func(a string) []string { return []string{"Authorization", a, "Content-Type", "text/html"} }, nil, nil, http.StatusBadRequest},
		{"type with parameters is the type", func(a string) []string {
			return []string{"Authorization", a, "Content-Type", "IMAGE/PNG; x=y"}
		}, nil, nil, http.StatusCreated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			s := newServer(t, e)
			put, auth, _ := e.slot(t, "a.png", 1000, "image/png")
			if tc.setup != nil {
				tc.setup(e)
			}
			body := tc.body
			if body == nil {
				body = make([]byte, 1000)
			}
			resp, msg := s.do(t, "PUT", s.local(put), body, tc.headers(auth)...)
			if resp.StatusCode != tc.want {
				t.Fatalf("PUT = %s (%q), want %d", resp.Status, msg, tc.want)
			}
			id := strings.Split(strings.TrimPrefix(s.local(put), s.URL+"/upload/"), "/")[0]
			f, _, _ := e.store.File(id)
			if names := e.dirNames(t); (tc.want == http.StatusCreated) != (len(names) == 1) || f.Complete != (tc.want == http.StatusCreated) {
				t.Errorf("after %d: directory %q, record complete %t", tc.want, names, f.Complete)
			}
		})
	}
}

func TestPathTricks(t *testing.T) {
	e := newEnv(t, nil)
	s := newServer(t, e)
	data := []byte("secret family recipe")
	put, auth, get := e.slot(t, "r.txt", len(data), "text/plain")
	if resp, _ := s.do(t, "PUT", s.local(put), data, "Authorization", auth, "Content-Type", "text/plain"); resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT = %s", resp.Status)
	}
	id := strings.Split(strings.TrimPrefix(s.local(get), s.URL+"/upload/"), "/")[0]
	// Some are cleaned or redirected by the client or net/http before the
	// handler; the raw paths go through a raw connection below.
	for _, p := range []string{
		"/upload/" + id,
		"/upload/" + id + "/",
		"/upload/" + id + "/r.txt/more",
		"/upload/" + id + "/a%2Fb",
		"/upload/" + id + "/..%2F..%2Fetc%2Fpasswd",
		"/upload/" + id + "/%2e%2e",
		"/upload/" + id + "/a%5Cb",
		"/upload/" + id + "/a%00",
		"/upload/" + id[:21] + "/r.txt",
		"/upload/" + id + "x/r.txt",
		"/upload/..%2F" + id + "/r.txt",
		"/upload/" + strings.ToLower(id) + "/r.txt",
	} {
		status := rawGet(t, s.Listener.Addr().String(), p)
		if status != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", p, status)
		}
	}
	if status := rawGet(t, s.Listener.Addr().String(), "/upload/"+id+"/r.txt"); status != http.StatusOK {
		t.Errorf("the real path = %d, want 200", status)
	}
}

// rawGet sends path as it is, without a client's cleaning.
func rawGet(t *testing.T, addr, path string) int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestSafeTypes(t *testing.T) {
	tests := []struct {
		declared, wantType, wantDisposition string
	}{
		{"image/jpeg", "image/jpeg", "inline"},
		{"image/png", "image/png", "inline"},
		{"video/mp4; codecs=avc1", "video/mp4", "inline"},
		{"audio/ogg", "audio/ogg", "inline"},
		{"text/plain; charset=utf-8", "text/plain; charset=utf-8", "inline"},
		{"text/html", "application/octet-stream", "attachment"},
		{"image/svg+xml", "application/octet-stream", "attachment"},
		{"application/xhtml+xml", "application/octet-stream", "attachment"},
		{"text/javascript", "application/octet-stream", "attachment"},
		{"application/pdf", "application/octet-stream", "attachment"},
		{"", "application/octet-stream", "attachment"},
	}
	for _, tc := range tests {
		t.Run(tc.declared, func(t *testing.T) {
			e := newEnv(t, nil)
			s := newServer(t, e)
			data := []byte("<html><script>alert(1)</script></html>")
			put, auth, get := e.slot(t, "x", len(data), tc.declared)
			headers := []string{"Authorization", auth}
			if tc.declared != "" {
				headers = append(headers, "Content-Type", tc.declared)
			}
			if resp, _ := s.do(t, "PUT", s.local(put), data, headers...); resp.StatusCode != http.StatusCreated {
				t.Fatalf("PUT = %s", resp.Status)
			}
			resp, _ := s.do(t, "GET", s.local(get), nil)
			if got := resp.Header.Get("Content-Type"); got != tc.wantType {
				t.Errorf("Content-Type %q, want %q", got, tc.wantType)
			}
			if got := resp.Header.Get("Content-Disposition"); got != tc.wantDisposition+"; filename=x" {
				t.Errorf("Content-Disposition %q, want %s", got, tc.wantDisposition)
			}
		})
	}
}

func TestPreflight(t *testing.T) {
	e := newEnv(t, nil)
	s := newServer(t, e)
	put, _, _ := e.slot(t, "a", 1, "")
	resp, _ := s.do(t, "OPTIONS", s.local(put), nil, "Origin", "https://web.example", "Access-Control-Request-Method", "PUT",
		"Access-Control-Request-Headers", "authorization,content-type")
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("OPTIONS = %s", resp.Status)
	}
	for name, want := range map[string]string{
		"Access-Control-Allow-Origin":  "*",
		"Access-Control-Allow-Methods": "GET, HEAD, PUT, OPTIONS",
		"Access-Control-Allow-Headers": "Authorization, Content-Type",
	} {
		if got := resp.Header.Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if resp, _ := s.do(t, "DELETE", s.local(put), nil); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("DELETE = %s, want 405", resp.Status)
	}
}

// rawPut starts a PUT on a raw connection: the headers and the first part
// of the body; the caller sends or withholds the rest.
func rawPut(t *testing.T, s *server, put, auth string, size int, first []byte) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", s.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	path := strings.TrimPrefix(s.local(put), s.URL)
	fmt.Fprintf(c, "PUT %s HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\nContent-Length: %d\r\n\r\n", path, auth, size)
	if _, err := c.Write(first); err != nil {
		t.Fatal(err)
	}
	return c
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCutUploadLeavesNothing: a client that goes away mid-upload leaves no
// file, and the slot can still take a complete upload.
func TestCutUploadLeavesNothing(t *testing.T) {
	e := newEnv(t, nil)
	s := newServer(t, e)
	data := randomBytes(t, 50_000)
	put, auth, get := e.slot(t, "a", len(data), "")
	c := rawPut(t, s, put, auth, len(data), data[:20_000])
	waitFor(t, "the temporary file", func() bool { return len(e.dirNames(t)) == 1 })
	c.Close()
	waitFor(t, "the PUT to give up", func() bool { return len(e.dirNames(t)) == 0 && !e.m.active.busy(idOf(put)) })
	if resp, _ := s.do(t, "GET", s.local(get), nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET after a cut upload = %s, want 404", resp.Status)
	}
	if resp, _ := s.do(t, "PUT", s.local(put), data, "Authorization", auth); resp.StatusCode != http.StatusCreated {
		t.Errorf("PUT after the cut one = %s, want 201", resp.Status)
	}
}

func idOf(u string) string {
	_, rest, _ := strings.Cut(u, "/upload/")
	id, _, _ := strings.Cut(rest, "/")
	return id
}

// TestSlowloris: a PUT that stalls is cut after the transfer timeout, one
// that trickles below the minimum rate after the grace; both leave
// nothing behind.
func TestSlowloris(t *testing.T) {
	for _, tc := range []struct {
		name  string
		drip  time.Duration // between single bytes; 0: nothing after the first part
		limit time.Duration // the cut must come within this
	}{
		{"stall", 0, 5 * time.Second},
		{"trickle", 50 * time.Millisecond, 5 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(o *Options) {
				o.TransferTimeout = 300 * time.Millisecond
				o.MinRate = 1 << 20
			})
			s := newServer(t, e)
			put, auth, _ := e.slot(t, "a", 100_000, "")
			start := time.Now()
			c := rawPut(t, s, put, auth, 100_000, make([]byte, 10))
			done := make(chan error, 1)
			go func() {
				// The server closes the connection when it cuts the PUT:
				// then writes fail, and reads end.
				for tc.drip > 0 {
					time.Sleep(tc.drip)
					if _, err := c.Write([]byte{0}); err != nil {
						break
					}
				}
				_, err := io.Copy(io.Discard, c)
				done <- err
			}()
			select {
			case <-done:
			case <-time.After(tc.limit):
				t.Fatalf("the slow PUT still runs after %v", tc.limit)
			}
			waitFor(t, "the temporary file to go", func() bool { return len(e.dirNames(t)) == 0 })
			t.Logf("cut after %v", time.Since(start).Round(time.Millisecond))
		})
	}
}

func TestConcurrentPutsBounded(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxConcurrent = 2 })
	s := newServer(t, e)
	var slots [3][2]string
	for i := range slots {
		put, auth, _ := e.slot(t, fmt.Sprint("f", i), 1000, "")
		slots[i] = [2]string{put, auth}
	}
	for i := range 2 {
		rawPut(t, s, slots[i][0], slots[i][1], 1000, make([]byte, 10))
	}
	waitFor(t, "two uploads running", func() bool { return len(e.dirNames(t)) == 2 })
	resp, msg := s.do(t, "PUT", s.local(slots[2][0]), make([]byte, 1000), "Authorization", slots[2][1])
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("third concurrent PUT = %s (%q), want 429", resp.Status, msg)
	}
	// The same slot twice at once.
	resp, _ = s.do(t, "PUT", s.local(slots[0][0]), make([]byte, 1000), "Authorization", slots[0][1])
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("a second PUT of a running slot = %s, want 409", resp.Status)
	}
}

// TestDiskFull: a disk that fills up mid-upload answers 507, keeps no
// partial file, and the server goes on serving.
func TestDiskFull(t *testing.T) {
	e := newEnv(t, nil)
	s := newServer(t, e)
	e.fs.budget = 30_000
	data := randomBytes(t, 100_000)
	put, auth, get := e.slot(t, "big", len(data), "")
	resp, msg := s.do(t, "PUT", s.local(put), data, "Authorization", auth)
	if resp.StatusCode != http.StatusInsufficientStorage {
		t.Fatalf("PUT on a full disk = %s (%q), want 507", resp.Status, msg)
	}
	if names := e.dirNames(t); len(names) != 0 {
		t.Errorf("after a full disk the directory holds %q", names)
	}
	if resp, _ := s.do(t, "GET", s.local(get), nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET = %s, want 404", resp.Status)
	}
	// Space again: the same slot takes the file.
	e.fs.budget = -1
	if resp, _ := s.do(t, "PUT", s.local(put), data, "Authorization", auth); resp.StatusCode != http.StatusCreated {
		t.Errorf("PUT once there is space = %s, want 201", resp.Status)
	}
}

// TestCompleteAfterOwnerDeleted: a body that arrives after its record went
// (the account was deleted meanwhile) is not kept.
func TestCompleteAfterOwnerDeleted(t *testing.T) {
	e := newEnv(t, nil)
	s := newServer(t, e)
	put, auth, _ := e.slot(t, "a", 1000, "")
	c := rawPut(t, s, put, auth, 1000, make([]byte, 10))
	waitFor(t, "the upload to start", func() bool { return e.m.active.busy(idOf(put)) })
	e.store.deleteOwner("alice@example.org")
	if _, err := c.Write(make([]byte, 990)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusGone {
		t.Errorf("PUT = %s, want 410", resp.Status)
	}
	if names := e.dirNames(t); len(names) != 0 {
		t.Errorf("directory holds %q, want nothing", names)
	}
}

func TestGetMissingBody(t *testing.T) {
	e := newEnv(t, nil)
	s := newServer(t, e)
	put, auth, get := e.slot(t, "a", 3, "")
	if resp, _ := s.do(t, "PUT", s.local(put), []byte("abc"), "Authorization", auth); resp.StatusCode != http.StatusCreated {
		t.Fatal(resp.Status)
	}
	if err := os.Remove(filepath.Join(e.dir, idOf(put))); err != nil {
		t.Fatal(err)
	}
	if resp, _ := s.do(t, "GET", s.local(get), nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET without a body = %s, want 404", resp.Status)
	}
	// Expired files are not served even before the sweeper runs.
	put, auth, get = e.slot(t, "b", 3, "")
	if resp, _ := s.do(t, "PUT", s.local(put), []byte("abc"), "Authorization", auth); resp.StatusCode != http.StatusCreated {
		t.Fatal(resp.Status)
	}
	e.clock.Add(DefaultExpireAfter)
	if resp, _ := s.do(t, "GET", s.local(get), nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET of an expired file = %s, want 404", resp.Status)
	}
}

func FuzzSplitPath(f *testing.F) {
	id := strings.Repeat("a", idLen)
	for _, p := range []string{"/upload/" + id + "/x.jpg", "/upload/" + id + "/a%2Fb", "/upload/../x", "/upload/" + id + "/%zz", "/upload//x", ""} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		got, ok := splitPath(p)
		if !ok {
			return
		}
		if !ValidID(got) || !strings.HasPrefix(p, routePrefix+got+"/") {
			t.Fatalf("splitPath(%q) = %q", p, got)
		}
		name, _ := strings.CutPrefix(p, routePrefix+got+"/")
		raw, err := url.PathUnescape(name)
		if err != nil || strings.ContainsAny(raw, "/\\\x00") || raw == ".." || raw == "." {
			t.Fatalf("splitPath(%q) accepted the name %q", p, raw)
		}
	})
}

func BenchmarkGet(b *testing.B) {
	e := newEnv(b, nil)
	data := randomBytes(b, 64<<10)
	put, auth, get := e.slot(b, "a.jpg", len(data), "image/jpeg")
	req := httptest.NewRequest("PUT", put, bytes.NewReader(data))
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "image/jpeg")
	rec := httptest.NewRecorder()
	e.m.ServeHTTP(rec, req)
	if rec.Code != http.StatusCreated {
		b.Fatal(rec.Code)
	}
	req = httptest.NewRequest("GET", get, nil)
	w := &discardWriter{header: http.Header{}}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		clear(w.header)
		w.n, w.code = 0, 0
		e.m.ServeHTTP(w, req)
		if w.code != http.StatusOK || w.n != len(data) {
			b.Fatal(w.code, w.n)
		}
	}
}

// discardWriter is a ResponseWriter that keeps only the status and count.
type discardWriter struct {
	header http.Header
	code   int
	n      int
}

func (w *discardWriter) Header() http.Header { return w.header }
func (w *discardWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *discardWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.n += len(b)
	return len(b), nil
}

// TestPutLongerThanDeclared: bytes past the declared Content-Length are
// not part of the file; net/http reads them as a next request, which is
// garbage.
func TestPutLongerThanDeclared(t *testing.T) {
	e := newEnv(t, nil)
	s := newServer(t, e)
	data := randomBytes(t, 1500)
	put, auth, get := e.slot(t, "a", 1000, "")
	c := rawPut(t, s, put, auth, 1000, data)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT = %s, want 201 for the declared 1000 bytes", resp.Status)
	}
	// Random bytes parse as a broken request at once, or wait for more
	// header: either way they are no part of any file.
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if resp, err := http.ReadResponse(br, nil); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("the extra bytes got %s, want 400", resp.Status)
		}
	}
	resp, got := s.do(t, "GET", s.local(get), nil)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, data[:1000]) {
		t.Errorf("GET = %s, %d bytes; want the first 1000 bytes sent", resp.Status, len(got))
	}
}

// TestSlowDownload: a client that stops reading a download is cut after
// the transfer timeout; it never gets the whole file.
func TestSlowDownload(t *testing.T) {
	const size = 16 << 20 // beyond what loopback socket buffers hold
	e := newEnv(t, func(o *Options) {
		o.MaxFileSize = size
		o.TransferTimeout = 300 * time.Millisecond
	})
	s := newServer(t, e)
	data := randomBytes(t, size)
	put, auth, get := e.slot(t, "big", size, "")
	if resp, _ := s.do(t, "PUT", s.local(put), data, "Authorization", auth); resp.StatusCode != http.StatusCreated {
		t.Fatal(resp.Status)
	}
	c, err := net.Dial("tcp", s.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", strings.TrimPrefix(s.local(get), s.URL))
	time.Sleep(2 * time.Second) // read nothing: the server's writes block
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := io.Copy(io.Discard, c)
	if err != nil {
		t.Fatalf("reading after the stall: %v (the server did not close)", err)
	}
	if n >= size {
		t.Errorf("got %d bytes, want the download cut short", n)
	}
	t.Logf("the stalled download ended after %d of %d bytes", n, size)
}
