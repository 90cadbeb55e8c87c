package server

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"roost/admin"
	"roost/config"
	"roost/module/upload"
	"roost/store"
	"roost/xmlstream"
)

// requestSlot asks the upload service for a slot as c and returns the PUT
// URL, its Authorization header and the GET URL.
func requestSlot(t *testing.T, c interface {
	Send(*xmlstream.Element) error
	Recv() (*xmlstream.Element, error)
	SetDeadline(time.Time) error
}, name string, size int) (put, auth, get string) {
	t.Helper()
	req := xmlstream.New(xmlstream.NSClient, "iq").SetAttr("type", "get").SetAttr("id", "slot").SetAttr("to", "upload.example.org").
		Append(xmlstream.New(upload.NS, "request").SetAttr("filename", name).SetAttr("size", strconv.Itoa(size)).SetAttr("content-type", "image/jpeg"))
	if err := c.Send(req); err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	for {
		el, err := c.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if el.Name.Local != "iq" || el.Get("id") != "slot" {
			continue
		}
		slot := el.Child(upload.NS, "slot")
		if el.Get("type") != "result" || slot == nil {
			t.Fatalf("slot request answered %s", xmlstream.AppendElement(nil, el, xmlstream.NSClient))
		}
		p := slot.Child(upload.NS, "put")
		return p.Get("url"), p.Child(upload.NS, "header").Text(), slot.Child(upload.NS, "get").Get("url")
	}
}

// httpsClient talks to the server's HTTPS port whatever name a URL has:
// the names of the test domain do not resolve.
func (r *running) httpsClient() *http.Client {
	addr := r.addr(ListenHTTPS)
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}, //nolint:gosec // our own self-signed test certificate
		ForceAttemptHTTP2: true,
	}}
}

// TestUploadEndToEnd: a slot over XMPP, the PUT and GET over the server's
// own HTTPS port (HTTP/2, as browsers use it), the file in a backup and
// back after a restore, and gone with its account.
func TestUploadEndToEnd(t *testing.T) {
	dir := t.TempDir()
	r := start(t, dir)
	ctx := context.Background()
	adm := admin.Client{Path: r.cfg.Admin.Socket}
	if err := adm.AddUser(ctx, "carol", "carol-secret"); err != nil {
		t.Fatal(err)
	}
	c, err := r.login(t, "carol@example.org/desk", "carol-secret")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	data := make([]byte, 300_000)
	_, _ = rand.Read(data)
	put, auth, get := requestSlot(t, c, "baby.jpg", len(data))
	_, port, _ := net.SplitHostPort(r.addr(ListenHTTPS))
	if want := "https://upload.example.org:" + port + "/upload/"; !strings.HasPrefix(get, want) || put != get {
		t.Fatalf("slot URLs %q, %q; want both under %s", put, get, want)
	}
	hc := r.httpsClient()
	req, _ := http.NewRequest("PUT", put, bytes.NewReader(data))
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "image/jpeg")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || resp.ProtoMajor != 2 {
		t.Fatalf("PUT = %s over %s, want 201 over HTTP/2", resp.Status, resp.Proto)
	}
	download := func() (int, []byte) {
		resp, err := hc.Get(get)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if code, got := download(); code != http.StatusOK || !bytes.Equal(got, data) {
		t.Fatalf("GET = %d, %d bytes, equal %t", code, len(got), bytes.Equal(got, data))
	}

	// The backup holds the body and the store.
	var backup bytes.Buffer
	var announced int64
	if err := adm.Backup(ctx, &backup, func(n int64) error { announced = n; return nil }); err != nil {
		t.Fatal(err)
	}
	if announced != int64(backup.Len()) {
		t.Errorf("backup announced %d bytes, sent %d", announced, backup.Len())
	}
	id := strings.Split(strings.TrimPrefix(get, "https://upload.example.org:"+port+"/upload/"), "/")[0]
	var names []string
	tr := tar.NewReader(bytes.NewReader(backup.Bytes()))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Name == "uploads/"+id {
			if b, _ := io.ReadAll(tr); !bytes.Equal(b, data) {
				t.Errorf("the archived body differs")
			}
		}
	}
	if want := []string{"uploads/" + id, StoreFile}; !slices.Equal(names, want) {
		t.Errorf("backup entries %q, want %q", names, want)
	}

	// Deleting carol deletes her file.
	if err := adm.DeleteUser(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	body := filepath.Join(r.cfg.DataDir, upload.DirName, id)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(body); errors.Is(err, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the deleted account's file is still on disk")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, _ := download(); code != http.StatusNotFound {
		t.Errorf("GET after the account was deleted = %d, want 404", code)
	}
	r.stop(t)

	// A restore brings carol and her file back.
	if err := Restore(r.cfg, bytes.NewReader(backup.Bytes())); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(body); err != nil || !bytes.Equal(got, data) {
		t.Errorf("restored body: %v, equal %t", err, bytes.Equal(got, data))
	}
	st, err := store.Open(filepath.Join(r.cfg.DataDir, StoreFile), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if u, found, err := st.Upload(id); err != nil || !found || !u.Complete || u.Owner != "carol@example.org" {
		t.Errorf("restored record %+v, %t, %v", u, found, err)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(r.cfg.DataDir, ".*")); len(leftovers) != 0 {
		t.Errorf("restore left %q", leftovers)
	}

	// The store alone, as roost export takes it from a running server.
	copied := filepath.Join(t.TempDir(), "copy.db")
	f, err := os.Create(copied)
	if err != nil {
		t.Fatal(err)
	}
	if err := StoreOfBackup(bytes.NewReader(backup.Bytes()), f); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	st2, err := store.Open(copied, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	if u, found, err := st2.Upload(id); err != nil || !found || u.Owner != "carol@example.org" {
		t.Errorf("the store taken from the backup: record %+v, %t, %v", u, found, err)
	}
}

// TestStoreOfBackup: the store entry is copied, bodies skipped; an
// archive without one is refused; a raw store is copied as it is.
func TestStoreOfBackup(t *testing.T) {
	archive := func(entries ...string) []byte {
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		for i := 0; i < len(entries); i += 2 {
			_ = tw.WriteHeader(&tar.Header{Name: entries[i], Mode: 0o600, Size: int64(len(entries[i+1])), Typeflag: tar.TypeReg})
			_, _ = tw.Write([]byte(entries[i+1]))
		}
		_ = tw.Close()
		return b.Bytes()
	}
	tests := []struct {
		name    string
		in      []byte
		want    string
		wantErr error
	}{
		{"bodies then store", archive("uploads/AAAAAAAAAAAAAAAAAAAAAA", "photo", StoreFile, "the store"), "the store", nil},
		{"no store", archive("uploads/AAAAAAAAAAAAAAAAAAAAAA", "photo"), "", ErrNotBackup},
		{"raw store", []byte("raw bbolt bytes"), "raw bbolt bytes", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got bytes.Buffer
			err := StoreOfBackup(bytes.NewReader(tc.in), &got)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil && got.String() != tc.want {
				t.Errorf("copied %q, want %q", got.String(), tc.want)
			}
		})
	}
}

// TestRestoreRefusesGarbage: an archive without a store, or with strange
// entries, changes nothing.
func TestRestoreRefusesGarbage(t *testing.T) {
	archive := func(names ...string) []byte {
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		for _, n := range names {
			_ = tw.WriteHeader(&tar.Header{Name: n, Mode: 0o600, Size: 1, Typeflag: tar.TypeReg})
			_, _ = tw.Write([]byte{1})
		}
		_ = tw.Close()
		return b.Bytes()
	}
	for name, b := range map[string][]byte{
		"no store":                archive("uploads/AAAAAAAAAAAAAAAAAAAAAA"),
		"path trick":              archive("uploads/../../etc/passwd", StoreFile),
		"bad store":               archive(StoreFile),
		"stranger":                archive("x", StoreFile),
		"not an archive or store": []byte("hello"),
	} {
		t.Run(name, func(t *testing.T) {
			cfg := config.Default()
			cfg.DataDir = t.TempDir()
			marker := filepath.Join(cfg.DataDir, upload.DirName, "BBBBBBBBBBBBBBBBBBBBBB")
			if err := os.MkdirAll(filepath.Dir(marker), 0o750); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(marker, []byte("keep"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := Restore(cfg, bytes.NewReader(b)); err == nil {
				t.Fatal("Restore succeeded")
			}
			if _, err := os.Stat(marker); err != nil {
				t.Errorf("the existing upload is gone: %v", err)
			}
			entries, _ := os.ReadDir(cfg.DataDir)
			for _, e := range entries {
				if e.Name() != upload.DirName {
					t.Errorf("restore left %s", e.Name())
				}
			}
		})
	}
}

func TestUploadBaseURLs(t *testing.T) {
	tests := []struct {
		name    string
		domains []string
		listen  []string // bound on 127.0.0.1, port 0 means any
		public  string
		https   string            // [https] public_url
		want    map[string]string // "PORT" stands for the bound port
	}{
		{"localhost", []string{"localhost"}, []string{"127.0.0.1:0"}, "", "",
			map[string]string{"localhost": "https://localhost:PORT"}},
		{"domains", []string{"example.org", "bücher.example"}, []string{"127.0.0.1:0"}, "", "",
			map[string]string{"example.org": "https://upload.example.org:PORT", "bücher.example": "https://upload.xn--bcher-kva.example:PORT"}},
		{"public URL", []string{"example.org", "example.net"}, []string{"127.0.0.1:0"}, "https://family.example.org/", "",
			map[string]string{"example.org": "https://family.example.org", "example.net": "https://family.example.org"}},
		{"the web port's public URL", []string{"example.org"}, []string{"127.0.0.1:0"}, "", "https://home.example.org/",
			map[string]string{"example.org": "https://home.example.org"}},
		{"its own public URL first", []string{"example.org"}, []string{"127.0.0.1:0"}, "https://files.example.org", "https://home.example.org",
			map[string]string{"example.org": "https://files.example.org"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Domains = tc.domains
			cfg.HTTPS.Listen = tc.listen
			cfg.Upload.PublicURL = tc.public
			cfg.HTTPS.PublicURL = tc.https
			s := &Server{cfg: cfg, opts: Options{}, listeners: map[string][]net.Listener{}}
			defer s.closeAll()
			got, err := s.uploadBaseURLs()
			if err != nil {
				t.Fatal(err)
			}
			port := ""
			if lns := s.listeners[ListenHTTPS]; len(lns) > 0 {
				_, port, _ = net.SplitHostPort(lns[0].Addr().String())
			}
			for d, w := range tc.want {
				if w = strings.ReplaceAll(w, "PORT", port); got[d] != w {
					t.Errorf("%s: %q, want %q", d, got[d], w)
				}
			}
		})
	}
	// Port 443 is left out of the links; a systemd socket counts like a
	// configured address.
	ln443 := fakeListener{addr: &net.TCPAddr{IP: net.IPv6zero, Port: 443}}
	s := &Server{cfg: config.Default(), opts: Options{Listeners: map[string][]net.Listener{ListenHTTPS: {ln443}}}, listeners: map[string][]net.Listener{}}
	got, err := s.uploadBaseURLs()
	if err != nil || got["localhost"] != "https://localhost" {
		t.Errorf("on 443: %q, %v; want https://localhost", got, err)
	}
	s = &Server{cfg: config.Default(), listeners: map[string][]net.Listener{}}
	s.cfg.HTTPS.Listen = nil
	if _, err := s.uploadBaseURLs(); err == nil {
		t.Error("without an HTTPS listener: no error")
	}
}

type fakeListener struct {
	net.Listener
	addr net.Addr
}

func (l fakeListener) Addr() net.Addr { return l.addr }
