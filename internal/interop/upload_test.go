//go:build interop

package interop

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"roost/internal/client"
	"roost/internal/xmpptest"
	"roost/jid"
	"roost/xmlstream"
)

// HTTP File Upload (XEP-0363): slixmpp's xep_0363 plugin end to end over
// the default configuration, curl for the HTTP edge cases, a full disk on
// a small tmpfs, and a 50 MiB transfer that must stream.

// Addresses of the upload tests, apart from the other suites'.
const (
	uploadDefaultsIP = "127.0.0.60"
	uploadIP         = "127.0.0.61"
	uploadDiskIP     = "127.0.0.62"
	uploadStreamIP   = "127.0.0.63"
	uploadDomain     = "up.example"
	uploadHost       = "upload." + uploadDomain
	scriptUpload     = "testdata/slix_upload.py"
)

const nsUpload = "urn:xmpp:http:upload:0"

// TestInteropUploadDefaults is the "done when": over the
// configuration of `make run` (no file: domain localhost, a self-signed
// certificate, HTTPS on [::]:5443, file sharing on), a photo alice's
// slixmpp sends reaches bob's slixmpp as an https URL that downloads the
// same bytes; curl fetches it too. Only the XMPP listeners move to this
// test's address, because this machine's own servers may hold 5222 and
// 5269 on every address.
func TestInteropUploadDefaults(t *testing.T) {
	dir := t.TempDir()
	cfg := fmt.Sprintf(`[c2s]
listen = ["%[1]s:5222"]
listen_tls = ["%[1]s:5223"]
[s2s]
listen = ["%[1]s:5269"]
listen_tls = ["%[1]s:5270"]
`, uploadDefaultsIP)
	r := runRoost(t, uploadDefaultsIP, "localhost", dir, cfg)
	r.AddUser(t, "alice@localhost", "alice-secret")
	r.AddUser(t, "bob@localhost", "bob-secret")
	certFile := serverCertFile(t, uploadDefaultsIP+":5223", "localhost")

	photo := filepath.Join(dir, "baby.jpg")
	data := randomFile(t, photo, 300_000)
	ev := runPyEnv(t, []string{"SSL_CERT_FILE=" + certFile}, scriptUpload, "share",
		"--host", uploadDefaultsIP, "--domain", "localhost", "--ca", certFile, "--file", photo)
	t.Logf("share: %v", ev)
	up := event(t, ev, "uploaded")
	url := fmt.Sprint(up["url"])
	if !strings.HasPrefix(url, "https://localhost:5443/upload/") || !strings.HasSuffix(url, "/baby.jpg") {
		t.Errorf("GET URL %s, want https://localhost:5443/upload/<id>/baby.jpg", url)
	}
	want(t, up, "service", "upload.localhost")
	want(t, up, "max", "1.048576e+08") // 100 MiB, as JSON numbers print
	want(t, event(t, ev, "received"), "url", url)
	got := event(t, ev, "downloaded")
	want(t, got, "status", "200")
	want(t, got, "sha256", sha256hex(data))
	want(t, got, "content_type", "image/jpeg")
	want(t, got, "nosniff", "nosniff")

	// curl, another client of this machine, with the defaults too.
	out, err := exec.Command("curl", "-sS", "--fail", "--cacert", certFile, url).Output()
	if err != nil || !bytes.Equal(out, data) {
		t.Errorf("curl %s: %v, %d bytes, equal %t", url, err, len(out), bytes.Equal(out, data))
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "uploads")); err != nil {
		t.Errorf("the files are not in data/uploads: %v", err)
	}
}

// serverCertFile writes the certificate roost presents at addr (its
// self-signed one) as a PEM file that clients can trust.
func serverCertFile(t *testing.T, addr, name string) string {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: name, InsecureSkipVerify: true, NextProtos: []string{"xmpp-client"}}) //nolint:gosec // fetching the certificate to trust
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var b bytes.Buffer
	for _, cert := range c.ConnectionState().PeerCertificates {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	}
	path := filepath.Join(t.TempDir(), "roost.pem")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func randomFile(t testing.TB, path string, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, _ = rand.Read(b)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return b
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// uploadEnv is a roost serving up.example with the test CA, and the means
// to drive it: a Go XMPP client for slots, curl for HTTP.
type uploadEnv struct {
	r   *Roost
	ca  *xmpptest.CA
	ip  string
	dir string // scratch files
}

func startUpload(t *testing.T, ip, uploadTable string, mods ...func(*roostConfig)) *uploadEnv {
	t.Helper()
	ca := xmpptest.NewCA(t)
	mods = append(mods, func(rc *roostConfig) { rc.Tables += "[upload]\n" + uploadTable })
	r := startRoost(t, ip, uploadDomain, ca, mods...)
	for _, u := range []string{"alice", "bob", "carol", "dave"} {
		r.AddUser(t, u, u+"-secret")
	}
	return &uploadEnv{r: r, ca: ca, ip: ip, dir: t.TempDir()}
}

// slot holds a slot's URL and its PUT authorisation.
type slot struct{ url, auth string }

// path is the URL's path.
func (s slot) path() string { return strings.TrimPrefix(s.url, "https://"+uploadHost+":5443") }

// slot asks for a slot as user over XMPP.
func (u *uploadEnv) slot(t *testing.T, user, name string, size int, typ string) slot {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, u.ip+":5222", client.Options{
		JID: jid.MustParse(user + "@" + uploadDomain + "/curl"), Password: user + "-secret", TLS: u.ca.ClientTLS(uploadDomain),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := xmlstream.New(nsUpload, "request").SetAttr("filename", name).SetAttr("size", strconv.Itoa(size))
	if typ != "" {
		req.SetAttr("content-type", typ)
	}
	if err := c.Send(xmlstream.New(xmlstream.NSClient, "iq").SetAttr("type", "get").SetAttr("id", "s").SetAttr("to", uploadHost).Append(req)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	for {
		el, err := c.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if el.Name.Local != "iq" || el.Get("id") != "s" {
			continue
		}
		s := el.Child(nsUpload, "slot")
		if s == nil {
			t.Fatalf("slot request: %s", xmlstream.AppendElement(nil, el, xmlstream.NSClient))
		}
		return slot{url: s.Child(nsUpload, "put").Get("url"), auth: s.Child(nsUpload, "put").Child(nsUpload, "header").Text()}
	}
}

// curlResult is what curl saw.
type curlResult struct {
	code    int // 0 when no response came
	proto   string
	header  http.Header
	body    []byte
	err     error
	elapsed time.Duration
}

// curl runs curl against the server with the test CA, the service's name
// resolving to its address.
func (u *uploadEnv) curl(t *testing.T, args ...string) curlResult {
	t.Helper()
	hdr := filepath.Join(u.dir, "headers")
	body := filepath.Join(u.dir, "body")
	_ = os.Remove(hdr)
	_ = os.Remove(body)
	all := append([]string{"-sS", "--cacert", u.ca.File, "--resolve", uploadHost + ":5443:" + u.ip,
		"-D", hdr, "-o", body, "-w", "%{http_code} %{http_version}"}, args...)
	start := time.Now()
	out, err := exec.Command("curl", all...).Output()
	res := curlResult{err: err, elapsed: time.Since(start), header: http.Header{}}
	fields := strings.Fields(string(out))
	if len(fields) == 2 {
		res.code, _ = strconv.Atoi(fields[0])
		res.proto = fields[1]
	}
	res.body, _ = os.ReadFile(body)
	// The last header block (after any 100 Continue).
	if h, _ := os.ReadFile(hdr); len(h) > 0 {
		blocks := strings.Split(strings.TrimSpace(strings.ReplaceAll(string(h), "\r\n", "\n")), "\n\n")
		last := blocks[len(blocks)-1]
		if _, rest, ok := strings.Cut(last, "\n"); ok {
			mh, _ := textproto.NewReader(bufio.NewReader(strings.NewReader(rest + "\n\n"))).ReadMIMEHeader()
			res.header = http.Header(mh)
		}
	}
	return res
}

// put uploads file to s with curl (-T, so with Content-Length).
func (u *uploadEnv) put(t *testing.T, s slot, file, typ string, extra ...string) curlResult {
	t.Helper()
	args := []string{"-T", file, "-H", "Authorization: " + s.auth}
	if typ != "" {
		args = append(args, "-H", "Content-Type: "+typ)
	}
	return u.curl(t, append(append(args, extra...), s.url)...)
}

// file writes n random bytes to a scratch file.
func (u *uploadEnv) file(t *testing.T, name string, n int) (string, []byte) {
	t.Helper()
	p := filepath.Join(u.dir, name)
	return p, randomFile(t, p, n)
}

// uploadDir lists the server's upload directory.
func (u *uploadEnv) uploadDir(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(u.r.Dir, "data", "uploads"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func (u *uploadEnv) waitDir(t *testing.T, what string, cond func([]string) bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond(u.uploadDir(t)) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; directory %q", what, u.uploadDir(t))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func countPrefix(names []string, prefix string) int {
	n := 0
	for _, s := range names {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n
}

// TestInteropUploadEdges: the service's refusals with slixmpp, and every
// HTTP edge case with curl, on one server with small limits.
func TestInteropUploadEdges(t *testing.T) {
	u := startUpload(t, uploadIP, `max_file_size = "1MiB"
user_quota = "3MiB"
transfer_timeout = "2s"
min_rate = "32KiB"
max_concurrent = 2
`)

	t.Run("slixmpp refusals", func(t *testing.T) {
		ev := runPy(t, scriptUpload, "slots", "--host", uploadIP, "--domain", uploadDomain, "--ca", u.ca.File)
		t.Logf("slots: %v", ev)
		svc := event(t, ev, "service")
		want(t, svc, "jid", uploadHost)
		want(t, svc, "max", "1.048576e+06")
		want(t, event(t, ev, "too-big-local"), "refused", "true")
		big := event(t, ev, "refused", "name", "big.bin")
		want(t, big, "condition", "not-acceptable")
		want(t, big, "limit", "1048576")
		want(t, event(t, ev, "refused", "name", "../etc/passwd"), "condition", "bad-request")
		q := event(t, ev, "quota")
		want(t, q, "granted", "3")
		want(t, q, "condition", "resource-constraint")
		if text := fmt.Sprint(q["text"]); !strings.Contains(text, "Your files take 3 MiB of your 3 MiB") {
			t.Errorf("quota text %q", text)
		}
	})

	photo, data := u.file(t, "photo.jpg", 300_000)
	s := u.slot(t, "bob", "photo.jpg", len(data), "image/jpeg")
	t.Run("put get head range", func(t *testing.T) {
		if res := u.put(t, s, photo, "image/jpeg"); res.code != http.StatusCreated {
			t.Fatalf("PUT = %d (%v)", res.code, res.err)
		}
		res := u.curl(t, s.url)
		if res.code != http.StatusOK || !bytes.Equal(res.body, data) {
			t.Fatalf("GET = %d, %d bytes, equal %t", res.code, len(res.body), bytes.Equal(res.body, data))
		}
		for name, want := range map[string]string{
			"Content-Type":                "image/jpeg",
			"Content-Disposition":         "inline; filename=photo.jpg",
			"X-Content-Type-Options":      "nosniff",
			"Access-Control-Allow-Origin": "*",
			"Accept-Ranges":               "bytes",
			"Content-Length":              "300000",
		} {
			if got := res.header.Get(name); got != want {
				t.Errorf("GET %s: %q, want %q", name, got, want)
			}
		}
		// A year, less the moments since the upload.
		if cc := res.header.Get("Cache-Control"); !strings.HasPrefix(cc, "max-age=315359") || !strings.HasSuffix(cc, ", immutable") {
			t.Errorf("GET Cache-Control: %q, want a year's max-age, immutable", cc)
		}
		if res.proto != "2" {
			t.Errorf("curl spoke HTTP/%s, want 2 (h2 by ALPN)", res.proto)
		}
		if res := u.curl(t, "-I", s.url); res.code != http.StatusOK || res.header.Get("Content-Length") != "300000" {
			t.Errorf("HEAD = %d, Content-Length %q", res.code, res.header.Get("Content-Length"))
		}
		res = u.curl(t, "-r", "1000-1999", s.url)
		if res.code != http.StatusPartialContent || !bytes.Equal(res.body, data[1000:2000]) || res.header.Get("Content-Range") != "bytes 1000-1999/300000" {
			t.Errorf("range GET = %d, %d bytes, Content-Range %q", res.code, len(res.body), res.header.Get("Content-Range"))
		}
		if res := u.curl(t, "--http1.1", s.url); res.code != http.StatusOK || res.proto != "1.1" || !bytes.Equal(res.body, data) {
			t.Errorf("HTTP/1.1 GET = %d over %s", res.code, res.proto)
		}
	})

	// Each PUT refusal on a fresh slot of 1000 bytes, type image/png.
	small, _ := u.file(t, "small.png", 1000)
	longer, _ := u.file(t, "longer.png", 2000)
	shorter, _ := u.file(t, "shorter.png", 999)
	for _, tc := range []struct {
		name string
		put  func(s slot) curlResult
		want int
	}{
		{"no token", func(s slot) curlResult { return u.curl(t, "-T", small, "-H", "Content-Type: image/png", s.url) }, http.StatusForbidden},
		{"another slot's token", func(s slot) curlResult {
			other := u.slot(t, "bob", "x.png", 1000, "image/png")
			return u.put(t, slot{url: s.url, auth: other.auth}, small, "image/png")
		}, http.StatusForbidden},
		{"longer than declared", func(s slot) curlResult { return u.put(t, s, longer, "image/png") }, http.StatusRequestEntityTooLarge},
		{"shorter than declared", func(s slot) curlResult { return u.put(t, s, shorter, "image/png") }, http.StatusBadRequest},
		{"chunked", func(s slot) curlResult {
			return u.curl(t, "-T", "-", "-H", "Authorization: "+s.auth, "-H", "Content-Type: image/png", "--http1.1", s.url)
		}, http.StatusLengthRequired},
		{"other type", func(s slot) curlResult { return u.put(t, s, small, "text/html") }, http.StatusBadRequest},
		{"once only", func(s slot) curlResult {
			if res := u.put(t, s, small, "image/png"); res.code != http.StatusCreated {
				t.Fatalf("first PUT = %d", res.code)
			}
			return u.put(t, s, small, "image/png")
		}, http.StatusConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := u.slot(t, "bob", "a.png", 1000, "image/png")
			if res := tc.put(s); res.code != tc.want {
				t.Errorf("PUT = %d (%v), want %d", res.code, res.err, tc.want)
			}
		})
	}

	t.Run("html and svg are not served as such", func(t *testing.T) {
		for _, typ := range []string{"text/html", "image/svg+xml"} {
			page, _ := u.file(t, "page", 100)
			s := u.slot(t, "bob", "page", 100, typ)
			if res := u.put(t, s, page, typ); res.code != http.StatusCreated {
				t.Fatalf("PUT = %d", res.code)
			}
			res := u.curl(t, s.url)
			if ct, cd := res.header.Get("Content-Type"), res.header.Get("Content-Disposition"); ct != "application/octet-stream" || !strings.HasPrefix(cd, "attachment") {
				t.Errorf("%s served as %q, %q; want application/octet-stream, attachment", typ, ct, cd)
			}
		}
	})

	t.Run("path tricks", func(t *testing.T) {
		id := strings.Split(strings.TrimPrefix(s.path(), "/upload/"), "/")[0]
		base := "https://" + uploadHost + ":5443"
		for _, p := range []string{
			"/upload/../etc/passwd",
			"/upload/" + id + "/../../../etc/passwd",
			"/upload/" + id + "/..%2F..%2Fetc%2Fpasswd",
			"/upload/" + id + "/a%2Fb",
			"/upload/%2e%2e/" + id + "/photo.jpg",
			"/upload/" + id,
			"/upload/" + id + "/photo.jpg/x",
			"/upload/" + strings.ToUpper(id) + "/photo.jpg",
			"//upload/" + id + "/photo.jpg",
		} {
			if res := u.curl(t, "--path-as-is", base+p); res.code != http.StatusNotFound {
				t.Errorf("GET %s = %d, want 404", p, res.code)
			}
		}
	})

	t.Run("cors preflight", func(t *testing.T) {
		res := u.curl(t, "-X", "OPTIONS", "-H", "Origin: https://chat.example", "-H", "Access-Control-Request-Method: PUT",
			"-H", "Access-Control-Request-Headers: authorization,content-type", s.url)
		if res.code != http.StatusNoContent || res.header.Get("Access-Control-Allow-Origin") != "*" ||
			res.header.Get("Access-Control-Allow-Methods") != "GET, HEAD, PUT, OPTIONS" ||
			res.header.Get("Access-Control-Allow-Headers") != "Authorization, Content-Type" {
			t.Errorf("OPTIONS = %d, %v", res.code, res.header)
		}
	})

	t.Run("slowloris", func(t *testing.T) {
		// curl --limit-rate sends a first burst, then pauses both ways
		// until its average is down to the rate: so the cut is timed
		// on the server, by the temporary file going away, and curl is
		// stopped then.
		f, _ := u.file(t, "slow.bin", 200_000)
		s := u.slot(t, "bob", "slow.bin", 200_000, "")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		curl := exec.CommandContext(ctx, "curl", "-sS", "--cacert", u.ca.File, "--resolve", uploadHost+":5443:"+u.ip,
			"-o", "/dev/null", "-T", f, "-H", "Authorization: "+s.auth, "--limit-rate", "2k", s.url)
		if err := curl.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cancel(); _ = curl.Wait() }()
		u.waitDir(t, "the upload to start", func(names []string) bool { return countPrefix(names, ".put-") == 1 })
		start := time.Now()
		u.waitDir(t, "the server to cut the upload", func(names []string) bool { return countPrefix(names, ".put-") == 0 })
		cut := time.Since(start)
		// curl's burst, then nothing for transfer_timeout (2s): cut.
		if cut > 8*time.Second {
			t.Errorf("a PUT at 2 KiB/s was cut after %v, want about 2s", cut)
		}
		t.Logf("a 2 KiB/s PUT was cut %v after it started", cut.Round(time.Millisecond))
		if res := u.curl(t, s.url); res.code != http.StatusNotFound {
			t.Errorf("GET after a cut upload = %d, want 404", res.code)
		}
	})

	t.Run("concurrent uploads per user", func(t *testing.T) {
		f, _ := u.file(t, "paced.bin", 200_000)
		var wg sync.WaitGroup
		codes := make([]int, 2)
		for i := range 2 {
			s := u.slot(t, "bob", fmt.Sprint("paced", i), 200_000, "")
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes[i] = u.putQuiet(s, f, "--limit-rate", "48k")
			}()
		}
		u.waitDir(t, "two uploads running", func(names []string) bool { return countPrefix(names, ".put-") == 2 })
		third := u.slot(t, "bob", "third", 1000, "")
		if res := u.put(t, third, small, ""); res.code != http.StatusTooManyRequests {
			t.Errorf("a third concurrent PUT of bob = %d, want 429", res.code)
		}
		// Another user is not held up by bob.
		if res := u.put(t, u.slot(t, "dave", "d", 1000, ""), small, ""); res.code != http.StatusCreated {
			t.Errorf("dave's PUT meanwhile = %d, want 201", res.code)
		}
		wg.Wait()
		if codes[0] != http.StatusCreated || codes[1] != http.StatusCreated {
			t.Errorf("the paced uploads ended %v, want 201 each (above min_rate, never cut)", codes)
		}
	})

	t.Run("account deletion deletes the files", func(t *testing.T) {
		f, _ := u.file(t, "d.bin", 5000)
		s := u.slot(t, "dave", "d.bin", 5000, "")
		if res := u.put(t, s, f, ""); res.code != http.StatusCreated {
			t.Fatalf("PUT = %d", res.code)
		}
		id := strings.Split(strings.TrimPrefix(s.path(), "/upload/"), "/")[0]
		if out, err := exec.Command(roostBin, "user", "del", "dave", "-config", u.r.Config).CombinedOutput(); err != nil {
			t.Fatalf("roost user del: %v\n%s", err, out)
		}
		if res := u.curl(t, s.url); res.code != http.StatusNotFound {
			t.Errorf("GET after the account was deleted = %d, want 404", res.code)
		}
		u.waitDir(t, "dave's files to go", func(names []string) bool {
			for _, n := range names {
				if n == id {
					return false
				}
			}
			return true
		})
	})

	t.Run("backup and restore", func(t *testing.T) {
		f, data := u.file(t, "keep.jpg", 40_000)
		s := u.slot(t, "alice", "keep.jpg", len(data), "image/jpeg")
		if res := u.put(t, s, f, "image/jpeg"); res.code != http.StatusCreated {
			t.Fatalf("PUT = %d", res.code)
		}
		backup := filepath.Join(u.dir, "roost.backup")
		if out, err := exec.Command(roostBin, "backup", backup, "-config", u.r.Config).CombinedOutput(); err != nil {
			t.Fatalf("roost backup: %v\n%s", err, out)
		}
		id := strings.Split(strings.TrimPrefix(s.path(), "/upload/"), "/")[0]
		if names := tarNames(t, backup); !contains(names, "uploads/"+id) || names[len(names)-1] != "roost.db" {
			t.Errorf("backup holds %q, want uploads/%s and roost.db last", names, id)
		}
		if out, err := exec.Command(roostBin, "user", "del", "alice", "-config", u.r.Config).CombinedOutput(); err != nil {
			t.Fatalf("roost user del: %v\n%s", err, out)
		}
		u.waitDir(t, "alice's file to go", func(names []string) bool { return !contains(names, id) })
		u.r.stop(t)
		if out, err := exec.Command(roostBin, "restore", backup, "-config", u.r.Config).CombinedOutput(); err != nil {
			t.Fatalf("roost restore: %v\n%s", err, out)
		}
		u.r.start(t)
		if res := u.curl(t, s.url); res.code != http.StatusOK || !bytes.Equal(res.body, data) {
			t.Errorf("GET after the restore = %d, equal %t", res.code, bytes.Equal(res.body, data))
		}
	})
}

// putQuiet is put for a goroutine: it returns the status only.
func (u *uploadEnv) putQuiet(s slot, file string, extra ...string) int {
	args := append([]string{"-sS", "--cacert", u.ca.File, "--resolve", uploadHost + ":5443:" + u.ip, "-o", "/dev/null",
		"-w", "%{http_code}", "-T", file, "-H", "Authorization: " + s.auth}, extra...)
	out, _ := exec.Command("curl", append(args, s.url)...).Output()
	code, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	return code
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func tarNames(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var names []string
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names
		}
		if err != nil {
			t.Fatalf("backup is no tar archive: %v", err)
		}
		names = append(names, h.Name)
	}
}

// TestInteropUploadDiskFull: the upload directory on a 1 MiB tmpfs (a
// mount namespace of roost's own, so nothing else sees it). A 2 MiB upload
// fills it: 507, nothing left behind, and the server goes on: a small
// upload then works, and XMPP answers.
func TestInteropUploadDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("no unshare(1)")
	}
	// $4 is the configuration file: the data directory is beside it.
	mount := `d="$(dirname "$4")/data/uploads" && mkdir -p "$d" && mount -t tmpfs -o size=1m,mode=0750 tmpfs "$d" && exec "$@"`
	u := startUpload(t, uploadDiskIP, "max_file_size = \"4MiB\"\nkeep_free = 0\n", func(rc *roostConfig) {
		rc.Prefix = []string{"unshare", "--mount", "--propagation", "private", "sh", "-c", mount, "sh"}
	})
	big, _ := u.file(t, "big.bin", 2<<20)
	s := u.slot(t, "bob", "big.bin", 2<<20, "")
	if res := u.put(t, s, big, ""); res.code != http.StatusInsufficientStorage {
		t.Fatalf("PUT of 2 MiB onto 1 MiB = %d (%v), want 507", res.code, res.err)
	}
	if res := u.curl(t, s.url); res.code != http.StatusNotFound {
		t.Errorf("GET of the refused file = %d, want 404", res.code)
	}
	small, data := u.file(t, "small.bin", 100_000)
	s = u.slot(t, "bob", "small.bin", len(data), "")
	if res := u.put(t, s, small, ""); res.code != http.StatusCreated {
		t.Fatalf("a small PUT after the full disk = %d, want 201", res.code)
	}
	if res := u.curl(t, s.url); res.code != http.StatusOK || !bytes.Equal(res.body, data) {
		t.Errorf("GET = %d, equal %t", res.code, bytes.Equal(res.body, data))
	}
	if !strings.Contains(u.r.Log(), "the disk is full") {
		t.Errorf("the log does not say the disk was full")
	}
}

// TestInteropUploadStreams: a 50 MiB file through roost on loopback, up
// and down with curl, against the floor of copying it on the same disk;
// roost's memory during the upload must not grow with the file (it
// streams to disk). The figures are logged (docs/benchmarks.md); only the
// memory bound and the bytes are asserted.
func TestInteropUploadStreams(t *testing.T) {
	const size = 50 << 20
	u := startUpload(t, uploadStreamIP, "max_file_size = \"64MiB\"\nuser_quota = \"1GiB\"\n")
	src, data := u.file(t, "big.bin", size)

	// The floor: the same bytes copied on the same disk, and synced, then
	// read back.
	start := time.Now()
	copyFile(t, src, filepath.Join(u.dir, "copy.bin"))
	floorUp := time.Since(start)
	start = time.Now()
	readFile(t, filepath.Join(u.dir, "copy.bin"))
	floorDown := time.Since(start)

	pid := u.r.cmd.Process.Pid
	before := procStatus(t, pid, "VmRSS")
	s := u.slot(t, "alice", "big.bin", size, "application/octet-stream")
	stop := make(chan struct{})
	peak := make(chan int64, 1)
	go func() {
		hi := int64(0)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				peak <- hi
				return
			case <-tick.C:
				hi = max(hi, procStatus(t, pid, "VmRSS"))
			}
		}
	}()
	res := u.put(t, s, src, "application/octet-stream")
	close(stop)
	hi := <-peak
	if res.code != http.StatusCreated {
		t.Fatalf("PUT of 50 MiB = %d (%v)", res.code, res.err)
	}
	up := res.elapsed
	res = u.curl(t, s.url)
	if res.code != http.StatusOK || !bytes.Equal(res.body, data) {
		t.Fatalf("GET = %d, %d bytes, equal %t", res.code, len(res.body), bytes.Equal(res.body, data))
	}
	down := res.elapsed
	// The same over HTTP/1.1, which some clients still speak.
	s = u.slot(t, "alice", "big1.bin", size, "application/octet-stream")
	res = u.put(t, s, src, "application/octet-stream", "--http1.1")
	if res.code != http.StatusCreated {
		t.Fatalf("HTTP/1.1 PUT of 50 MiB = %d (%v)", res.code, res.err)
	}
	up11 := res.elapsed
	res = u.curl(t, "--http1.1", s.url)
	if res.code != http.StatusOK || !bytes.Equal(res.body, data) {
		t.Fatalf("HTTP/1.1 GET = %d, %d bytes", res.code, len(res.body))
	}
	down11 := res.elapsed
	mib := func(d time.Duration) float64 { return float64(size) / (1 << 20) / d.Seconds() }
	t.Logf("50 MiB upload:   roost %.0f MiB/s over HTTP/2 (%v), %.0f MiB/s over HTTP/1.1; disk copy + fsync %.0f MiB/s (%v)",
		mib(up), up.Round(time.Millisecond), mib(up11), mib(floorUp), floorUp.Round(time.Millisecond))
	t.Logf("50 MiB download: roost %.0f MiB/s over HTTP/2 (%v), %.0f MiB/s over HTTP/1.1; disk read %.0f MiB/s (%v)",
		mib(down), down.Round(time.Millisecond), mib(down11), mib(floorDown), floorDown.Round(time.Millisecond))
	t.Logf("roost RSS: %d MiB before the upload, %d MiB at most during it", before>>10, hi>>10)
	if grew := hi - before; grew > 32<<10 {
		t.Errorf("roost's RSS grew by %d MiB during a 50 MiB upload: it buffers instead of streaming", grew>>10)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	// Through a buffer, as roost copies from a socket: no
	// copy_file_range shortcut.
	if _, err := io.CopyBuffer(struct{ io.Writer }{out}, struct{ io.Reader }{in}, make([]byte, 32<<10)); err != nil {
		t.Fatal(err)
	}
	if err := out.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// readFile reads path through a 32 KiB buffer, as a server sends it.
func readFile(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, struct{ io.Reader }{f}, make([]byte, 32<<10)); err != nil {
		t.Fatal(err)
	}
}

// procStatus reads a kB field of /proc/PID/status.
func procStatus(t *testing.T, pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}
