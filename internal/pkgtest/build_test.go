//go:build pkgtest

package pkgtest

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"roost/config"
	"roost/internal/client"
	"roost/jid"
	"roost/xmlstream"
)

// Set once by TestMain: what `make deb` built.
var (
	repo       string            // the repository root
	out        string            // make's BIN: binaries and packages
	version    string            // roost's version string
	debVersion string            // the packages' version
	debs       map[string]string // Debian architecture to package file
	prevDeb    string            // an arm64 package of a lower version, to upgrade from
	epoch      string            // SOURCE_DATE_EPOCH of the build
)

// tools are the programs these tests need; .ci/run installs them.
var tools = []string{"make", "git", "dpkg-deb", "lintian", "systemd-analyze", "debootstrap",
	"qemu-aarch64", "qemu-arm", "qemu-aarch64-static", "chroot", "unshare"}

func TestMain(m *testing.M) {
	code, err := setup(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pkgtest:", err)
		code = 1
	}
	if out != "" {
		_ = os.RemoveAll(out)
	}
	os.Exit(code)
}

func setup(m *testing.M) (int, error) {
	if os.Geteuid() != 0 {
		return 1, fmt.Errorf("the packaging tests need root (they run dpkg in a chroot); run them with sudo or .ci/run")
	}
	for _, t := range tools {
		if _, err := exec.LookPath(t); err != nil {
			return 1, fmt.Errorf("%s not installed; .ci/run installs what these tests need", t)
		}
	}
	var err error
	if repo, err = filepath.Abs("../.."); err != nil {
		return 1, err
	}
	if out, err = os.MkdirTemp("", "roost-pkgtest-"); err != nil {
		return 1, err
	}
	if version, err = run(repo, nil, "git", "describe", "--tags", "--always", "--dirty"); err != nil {
		version = "dev"
	}
	if debVersion, err = run(repo, nil, "packaging/debversion.sh", version); err != nil {
		return 1, err
	}
	if epoch, err = run(repo, nil, "git", "log", "-1", "--format=%ct"); err != nil {
		epoch = "0"
	}
	start := time.Now()
	if err := makeDebs(repo, out, nil); err != nil {
		return 1, err
	}
	fmt.Fprintf(os.Stderr, "pkgtest: make deb %s took %.0fs\n", debVersion, time.Since(start).Seconds())
	debs = map[string]string{}
	for _, arch := range []string{"amd64", "arm64", "armhf"} {
		debs[arch] = filepath.Join(out, fmt.Sprintf("roost_%s_%s.deb", debVersion, arch))
		if _, err := os.Stat(debs[arch]); err != nil {
			return 1, err
		}
	}
	// The package a user has before upgrading: same contents, lower
	// version, so that dpkg runs the full upgrade sequence of scripts.
	prev := filepath.Join(out, "prev")
	if _, err := run(repo, []string{"SOURCE_DATE_EPOCH=" + epoch}, "packaging/build-deb.sh", "arm64",
		filepath.Join(out, "roost-linux-arm64"), debVersion+"~prev", prev); err != nil {
		return 1, err
	}
	prevDeb = filepath.Join(prev, fmt.Sprintf("roost_%s~prev_arm64.deb", debVersion))
	return m.Run(), nil
}

// makeDebs runs `make deb` in dir with its output in bin.
func makeDebs(dir, bin string, env []string) error {
	env = append(env, "SOURCE_DATE_EPOCH="+epoch)
	_, err := run(dir, env, "make", "-s", "deb", "BIN="+bin, "VERSION="+version, "DEB_VERSION="+debVersion)
	return err
}

// run runs a command and returns its trimmed standard output; the error
// includes standard error.
func run(dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w\n%s%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return strings.TrimSpace(stdout.String()), nil
}

func mustRun(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	s, err := run(dir, env, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// binaries are what `make cross` builds.
var binaries = []string{"roost-linux-amd64", "roost-linux-arm64", "roost-linux-armv7", "roost-linux-armv6"}

// TestReproducible builds everything again from a copy of the tree at
// another path, with an empty build cache, and compares the bytes.
func TestReproducible(t *testing.T) {
	copyDir := filepath.Join(t.TempDir(), "elsewhere", "roost")
	if err := os.MkdirAll(copyDir, 0o755); err != nil {
		t.Fatal(err)
	}
	tar := fmt.Sprintf("tar -C %q --exclude=./.git --exclude=./bin --exclude=./data -cf - . | tar -C %q -xf -", repo, copyDir)
	mustRun(t, repo, nil, "sh", "-c", tar)
	bin2 := filepath.Join(t.TempDir(), "bin")
	start := time.Now()
	if err := makeDebs(copyDir, bin2, []string{"GOCACHE=" + t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	t.Logf("second build, empty cache: %.0fs", time.Since(start).Seconds())
	files := slices.Clone(binaries)
	for _, arch := range []string{"amd64", "arm64", "armhf"} {
		files = append(files, filepath.Base(debs[arch]))
	}
	for _, f := range files {
		a, err := os.ReadFile(filepath.Join(out, f))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(bin2, f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between two builds (%d and %d bytes)", f, len(a), len(b))
		}
	}
}

// TestSizes reports the sizes README.md quotes.
func TestSizes(t *testing.T) {
	for _, f := range append(slices.Clone(binaries), filepath.Base(debs["amd64"]), filepath.Base(debs["arm64"]), filepath.Base(debs["armhf"])) {
		fi, err := os.Stat(filepath.Join(out, f))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%-45s %5.1f MiB", f, float64(fi.Size())/(1<<20))
		// A bound to notice a bloated dependency, far above today's sizes.
		if fi.Size() > 24<<20 {
			t.Errorf("%s is %d bytes; more than 24 MiB", f, fi.Size())
		}
	}
}

// TestStatic checks the binaries are static executables for their
// architecture (CGO_ENABLED=0), with no interpreter to find on the Pi.
func TestStatic(t *testing.T) {
	tests := []struct{ bin, want string }{
		{"roost-linux-amd64", "x86-64"},
		{"roost-linux-arm64", "aarch64"},
		{"roost-linux-armv7", "ARM"},
		{"roost-linux-armv6", "ARM"},
	}
	for _, tt := range tests {
		t.Run(tt.bin, func(t *testing.T) {
			got := mustRun(t, out, nil, "file", "-b", tt.bin)
			if !strings.Contains(got, "statically linked") || !strings.Contains(got, tt.want) || !strings.Contains(got, "stripped") {
				t.Errorf("file %s: %q, want a stripped static %s executable", tt.bin, got, tt.want)
			}
		})
	}
}

// TestPackageContents checks each package: its binary is the one built
// for it (armhf carries the GOARM=6 build), its files and conffile, and
// that the packaged configuration is valid and set up for the unit.
func TestPackageContents(t *testing.T) {
	tests := []struct{ arch, bin string }{
		{"amd64", "roost-linux-amd64"},
		{"arm64", "roost-linux-arm64"},
		{"armhf", "roost-linux-armv6"},
	}
	wantFiles := []string{
		"-rwxr-xr-x root/root ./usr/bin/roost",
		"-rw-r--r-- root/root ./etc/roost/roost.toml",
		"-rw-r--r-- root/root ./lib/systemd/system/roost.service",
		"-rw-r--r-- root/root ./lib/systemd/system/roost-c2s.socket",
		"-rw-r--r-- root/root ./lib/systemd/system/roost-c2s-tls.socket",
		"-rw-r--r-- root/root ./lib/systemd/system/roost-s2s.socket",
		"-rw-r--r-- root/root ./lib/systemd/system/roost-s2s-tls.socket",
		"-rw-r--r-- root/root ./lib/systemd/system/roost-https.socket",
		"-rw-r--r-- root/root ./lib/systemd/system/roost-http.socket",
		"-rw-r--r-- root/root ./lib/systemd/system/roost-component.socket",
		"-rw-r--r-- root/root ./usr/share/man/man8/roost.8.gz",
		"-rw-r--r-- root/root ./usr/share/doc/roost/copyright",
		"-rw-r--r-- root/root ./usr/share/doc/roost/changelog.gz",
		// The chat page's app, served by roost (make chat-app).
		"-rw-r--r-- root/root ./usr/share/roost/chat-app/converse.min.js",
		"-rw-r--r-- root/root ./usr/share/roost/chat-app/converse.min.css",
		"-rw-r--r-- root/root ./usr/share/roost/chat-app/curve25519_compiled.wasm",
	}
	for _, tt := range tests {
		t.Run(tt.arch, func(t *testing.T) {
			deb := debs[tt.arch]
			if got := mustRun(t, out, nil, "dpkg-deb", "-f", deb, "Architecture"); got != tt.arch {
				t.Errorf("Architecture: %q, want %q", got, tt.arch)
			}
			if got := mustRun(t, out, nil, "dpkg-deb", "-f", deb, "Version"); got != debVersion {
				t.Errorf("Version: %q, want %q", got, debVersion)
			}
			var listing []string
			for _, l := range strings.Split(mustRun(t, out, nil, "dpkg-deb", "-c", deb), "\n") {
				f := strings.Fields(l)
				if len(f) == 6 {
					listing = append(listing, f[0]+" "+f[1]+" "+f[5])
				}
			}
			for _, w := range wantFiles {
				if !slices.Contains(listing, w) {
					t.Errorf("missing %q in\n%s", w, strings.Join(listing, "\n"))
				}
			}
			// Only what the page loads: no source maps, no unminified
			// builds.
			for _, l := range listing {
				if strings.HasSuffix(l, ".map") || strings.HasSuffix(l, "/converse.js") || strings.HasSuffix(l, "/converse.css") {
					t.Errorf("the package has %s", l)
				}
			}
			dir := t.TempDir()
			mustRun(t, out, nil, "dpkg-deb", "-x", deb, dir)
			mustRun(t, out, nil, "dpkg-deb", "-e", deb, filepath.Join(dir, "DEBIAN"))
			got, _ := os.ReadFile(filepath.Join(dir, "usr/bin/roost"))
			want, _ := os.ReadFile(filepath.Join(out, tt.bin))
			if len(want) == 0 || !bytes.Equal(got, want) {
				t.Errorf("usr/bin/roost is not %s", tt.bin)
			}
			if c, _ := os.ReadFile(filepath.Join(dir, "DEBIAN/conffiles")); string(c) != "/etc/roost/roost.toml\n" {
				t.Errorf("conffiles = %q", c)
			}
			cfg, err := config.Load(filepath.Join(dir, "etc/roost/roost.toml"))
			if err != nil {
				t.Fatalf("packaged configuration: %v", err)
			}
			if cfg.DataDir != "/var/lib/roost" || cfg.Admin.Socket != "/run/roost/admin.sock" || cfg.Admin.Group != "roost" || cfg.Log.Format != config.FormatJournal {
				t.Errorf("packaged configuration: data_dir %q, admin %+v, log format %q; want /var/lib/roost, /run/roost/admin.sock for group roost, journal",
					cfg.DataDir, cfg.Admin, cfg.Log.Format)
			}
			// File sharing works as installed: on, on a port that needs
			// no privilege.
			if !cfg.Upload.Enabled || !slices.Equal(cfg.HTTPS.Listen, []string{"[::]:5443"}) {
				t.Errorf("packaged configuration: upload.enabled %t, https.listen %q; want on, on [::]:5443",
					cfg.Upload.Enabled, cfg.HTTPS.Listen)
			}
			body, _ := os.ReadFile(filepath.Join(dir, "etc/roost/roost.toml"))
			if n := bytes.Count(body, []byte("\n#")); n < 100 {
				t.Errorf("packaged configuration has %d comment lines; want the commented default", n)
			}
		})
	}
}

// TestCopyrightCoversModules checks that the copyright file names every
// module linked into roost: the binary is static, so their licenses ship
// with it.
func TestCopyrightCoversModules(t *testing.T) {
	mods := mustRun(t, repo, nil, "go", "list", "-deps", "-f", "{{with .Module}}{{.Path}}{{end}}", "./cmd/roost")
	copyright, err := os.ReadFile(filepath.Join(repo, "packaging/debian/copyright"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, m := range strings.Fields(mods) {
		if m == "roost" || seen[m] {
			continue
		}
		seen[m] = true
		if !regexp.MustCompile(`(?m)^(Files:| ).*\b` + regexp.QuoteMeta(m) + `(\s|$)`).Match(copyright) {
			t.Errorf("packaging/debian/copyright does not cover %s", m)
		}
	}
}

// smoke logs in to addr as user and answers a ping round trip.
func smoke(t *testing.T, addr, user, password string) {
	t.Helper()
	c := login(t, addr, user, password)
	defer c.Close()
	if err := c.SendRaw([]byte("<iq type='get' id='smoke'><ping xmlns='urn:xmpp:ping'/></iq>")); err != nil {
		t.Fatal(err)
	}
	for {
		el, err := c.Recv()
		if err != nil {
			t.Fatalf("waiting for the ping's answer: %v", err)
		}
		if el.Is(xmlstream.NSClient, "iq") && el.Get("id") == "smoke" {
			if el.Get("type") != "result" {
				t.Errorf("ping answered with %s", el)
			}
			return
		}
	}
}

// uploadSmoke shares a file as user: a slot from upload.localhost over
// XMPP at xmppAddr, the PUT and GET over HTTPS at httpsAddr (the links
// name https://localhost:5443, the packaged default), the bytes compared.
// chatAppSmoke checks the chat page on httpsAddr, as installed: its
// converse.js comes from roost (/usr/share/roost/chat-app), the file
// make chat-app fetched, not from another site.
func chatAppSmoke(t *testing.T, httpsAddr string) {
	t.Helper()
	hc := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, httpsAddr)
		},
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // self-signed
	}}
	get := func(url string) (*http.Response, []byte) {
		t.Helper()
		resp, err := hc.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		return resp, b
	}
	_, page := get("https://localhost:5443/")
	m := regexp.MustCompile(`src="(/chat-app/[0-9a-z]+/)converse.min.js"`).FindSubmatch(page)
	if m == nil {
		t.Fatalf("the chat page does not load converse.js from roost:\n%s", page)
	}
	resp, js := get("https://localhost:5443" + string(m[1]) + "converse.min.js")
	want, err := os.ReadFile(filepath.Join(repo, "share/roost/chat-app/converse.min.js"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/javascript; charset=utf-8" || !bytes.Equal(js, want) {
		t.Errorf("converse.min.js from the installed roost: %s, %q, %d bytes; want 200, text/javascript, the %d bytes of make chat-app",
			resp.Status, resp.Header.Get("Content-Type"), len(js), len(want))
	}
}

func uploadSmoke(t *testing.T, xmppAddr, httpsAddr, user, password string) {
	t.Helper()
	c := login(t, xmppAddr, user, password)
	defer c.Close()
	data := bytes.Repeat([]byte("roost "), 10_000)
	req := fmt.Sprintf("<iq type='get' id='slot' to='upload.localhost'><request xmlns='urn:xmpp:http:upload:0' filename='smoke.txt' size='%d' content-type='text/plain'/></iq>", len(data))
	if err := c.SendRaw([]byte(req)); err != nil {
		t.Fatal(err)
	}
	var url, auth string
	for url == "" {
		el, err := c.Recv()
		if err != nil {
			t.Fatalf("waiting for the slot: %v", err)
		}
		if !el.Is(xmlstream.NSClient, "iq") || el.Get("id") != "slot" {
			continue
		}
		s := el.Child("urn:xmpp:http:upload:0", "slot")
		if s == nil {
			t.Fatalf("slot request answered %s", el)
		}
		put := s.Child("urn:xmpp:http:upload:0", "put")
		url, auth = put.Get("url"), put.Child("urn:xmpp:http:upload:0", "header").Text()
	}
	if !strings.HasPrefix(url, "https://localhost:5443/upload/") {
		t.Errorf("slot URL %s, want https://localhost:5443/upload/...", url)
	}
	hc := &http.Client{Timeout: 120 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, httpsAddr)
		},
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // self-signed
	}}
	put, _ := http.NewRequest("PUT", url, bytes.NewReader(data))
	put.Header.Set("Authorization", auth)
	put.Header.Set("Content-Type", "text/plain")
	resp, err := hc.Do(put)
	if err != nil {
		t.Fatalf("PUT %s: %v", url, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT %s: %s", url, resp.Status)
	}
	resp, err = hc.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, data) {
		t.Errorf("GET %s: %s, %d bytes, equal %t", url, resp.Status, len(got), bytes.Equal(got, data))
	}
}

// login connects as user to the server at addr, whose certificate is its
// self-signed one, with two minutes for everything that follows.
func login(t *testing.T, addr, user, password string) *client.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, addr, client.Options{
		JID:      jid.MustParse(user),
		Password: password,
		TLS:      &tls.Config{InsecureSkipVerify: true}, // self-signed
	})
	if err != nil {
		t.Fatalf("log in as %s at %s: %v", user, addr, err)
	}
	_ = c.SetDeadline(time.Now().Add(120 * time.Second))
	return c
}
