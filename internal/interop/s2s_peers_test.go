//go:build interop

package interop

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"roost/internal/dnstest"
	"roost/internal/xmpptest"
)

// zoneIP is where the test zone's DNS server listens, on port 53: ejabberd
// looks up addresses through libc (getaddrinfo), which knows only port 53
// of the servers in resolv.conf. Every server under test resolves through
// it: roost with s2s.resolver, Prosody with libunbound forwarding, ejabberd
// with Erlang's resolver (inetrc) for SRV records and a private
// resolv.conf for addresses. Nothing else is asked.
const zoneIP = "127.0.0.153"

// zone is the test zone's DNS server.
type zone struct {
	*dnstest.Server
	ip   string
	port int
}

func newZone(t *testing.T) *zone {
	t.Helper()
	if os.Geteuid() != 0 {
		// Port 53, and ejabberd's private resolv.conf (unshare --mount).
		t.Skip("federation interop tests need root, as in CI (.ci/run)")
	}
	s := dnstest.NewServer(t, zoneIP+":53")
	_, port, err := net.SplitHostPort(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	return &zone{Server: s, ip: zoneIP, port: p}
}

// srvPublish says which SRV records a server gets.
type srvPublish struct {
	starttls, direct uint16 // ports; 0: no record of that kind
	directFirst      bool   // _xmpps-server gets the better priority
}

// publish adds a server's records: SRV records pointing at xmpp.<domain>,
// its A record, and an A record for the domain itself (the fallback of
// RFC 6120 §3.2.2 for peers that skip a kind of record).
func (z *zone) publish(domain, ip string, p srvPublish) {
	host := "xmpp." + domain
	plainPrio, directPrio := uint16(0), uint16(10)
	if p.directFirst {
		plainPrio, directPrio = 10, 0
	}
	if p.starttls != 0 {
		z.AddSRV("_xmpp-server._tcp."+domain, 300, plainPrio, 5, p.starttls, host)
	}
	if p.direct != 0 {
		z.AddSRV("_xmpps-server._tcp."+domain, 300, directPrio, 5, p.direct, host)
	}
	z.AddA(host, 300, ip)
	z.AddA(domain, 300, ip)
}

// process is a peer's process, stopped at the end of the test.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string // file with its log, shown when the test fails; "": its output
	out  *syncBuffer
	done chan struct{} // closed when the process has exited, with err
	err  error
	// stop asks the process to end; the default sends SIGTERM.
	stop func()
}

func (p *process) start(t *testing.T) {
	t.Helper()
	p.out = &syncBuffer{}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	// Its own process group, so that what it starts can be ended with it.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", p.name, err)
	}
	p.done = make(chan struct{})
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.terminate(t) })
}

// terminate stops the process; a test may stop it early, before its
// cleanup does so again.
func (p *process) terminate(t *testing.T) {
	select {
	case <-p.done:
		return
	default:
	}
	if p.stop != nil {
		p.stop()
	} else {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		t.Errorf("%s did not stop within 15s of SIGTERM; killing it", p.name)
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
	if t.Failed() {
		if p.log == "" {
			t.Logf("%s output:\n%s", p.name, tail(p.out.String(), 60))
			return
		}
		logText, _ := os.ReadFile(p.log)
		t.Logf("%s output:\n%s\n%s log (%s):\n%s", p.name, tail(p.out.String(), 20), p.name, p.log, tail(string(logText), 400))
	}
}

// logText is the process's log, or its output when it has no log file.
func (p *process) logText() []byte {
	if p.log == "" {
		return []byte(p.out.String())
	}
	b, _ := os.ReadFile(p.log)
	return b
}

// waitFor polls the process's log for want.
func (p *process) waitFor(t *testing.T, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		b := p.logText()
		if bytes.Contains(b, []byte(want)) {
			return
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited before it was ready: %v\n%s\n%s", p.name, p.err, p.out, tail(string(b), 60))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after %v:\n%s", p.name, within, tail(string(b), 60))
		}
	}
}

// peer is a Prosody or ejabberd server under test.
type peer struct {
	IP, Domain string
	CAFile     string // the CA clients must trust for it
	*process
	// ctl runs ejabberdctl against the node (ejabberd only).
	ctl func(args ...string) *exec.Cmd
}

// peerMode is how a federation test authenticates servers.
type peerMode struct {
	// secure: certificates from a CA every server trusts, and nothing
	// else accepted; otherwise self-signed-like certificates (each from
	// its own CA) and dialback.
	secure bool
	// trusted is the PEM file of the CAs every server trusts in the
	// secure mode.
	trusted string
}

// startProsody runs Debian's prosody for domain on ip, with users
// (name → password) and modules added to the ones every test needs.
func startProsody(t *testing.T, ip, domain string, ca *xmpptest.CA, z *zone, mode peerMode, users map[string]string, modules ...string) *peer {
	t.Helper()
	return startProsodyWith(t, ip, domain, ca, z, mode, users, prosodyExtra{modules: modules})
}

// prosodyExtra is what a test adds to Prosody's configuration.
type prosodyExtra struct {
	modules []string // enabled besides the ones every test needs
	tail    []string // lines that end the file, such as components
	// global are options before the VirtualHost, such as
	// component_ports: Prosody reads ports from the global section only.
	global []string
}

// startProsodyWith is startProsody with extra configuration.
func startProsodyWith(t *testing.T, ip, domain string, ca *xmpptest.CA, z *zone, mode peerMode, users map[string]string, extra prosodyExtra) *peer {
	t.Helper()
	dir := t.TempDir()
	certDir := filepath.Join(dir, "certs")
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := ca.IssueFiles(t, certDir, domain, "conference."+domain)
	dataDir := filepath.Join(dir, "data")
	// internal_plain keeps accounts as Lua files, one per user.
	accounts := filepath.Join(dataDir, strings.ReplaceAll(domain, ".", "%2e"), "accounts")
	if err := os.MkdirAll(accounts, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, pw := range users {
		body := fmt.Sprintf("return {\n\t[\"password\"] = %q;\n};\n", pw)
		if err := os.WriteFile(filepath.Join(accounts, name+".dat"), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	logFile := filepath.Join(dir, "prosody.log")
	secureAuth, cafile := "false", ""
	if mode.secure {
		secureAuth = "true"
		cafile = fmt.Sprintf("cafile = %q;", mode.trusted)
	}
	cfg := fmt.Sprintf(`-- written by roost's interop tests
run_as_root = true
pidfile = %[1]q
data_path = %[2]q
log = { { levels = { min = "debug" }, to = "file", filename = %[3]q } }
interfaces = { %[4]q }
c2s_ports = { 5222 }
s2s_ports = { 5269 }
c2s_direct_tls_ports = {}
s2s_direct_tls_ports = {}
http_ports = {}
https_ports = {}
certificates = %[5]q
ssl = { certificate = %[6]q; key = %[7]q; %[8]s }
modules_enabled = { "roster", "saslauth", "tls", "dialback", "disco", "ping", "presence"%[12]s }
authentication = "internal_plain"
c2s_require_encryption = true
s2s_require_encryption = true
s2s_secure_auth = %[9]s
-- libunbound, pointed at the test zone only.
unbound = { resolvconf = false; hoststxt = false; forward = %[10]q }
%[14]s
VirtualHost %[11]q
%[13]s
`, filepath.Join(dir, "prosody.pid"), dataDir, logFile, ip, certDir, certFile, keyFile, cafile, secureAuth,
		fmt.Sprintf("%s@%d", z.ip, z.port), domain, luaList(extra.modules), strings.Join(extra.tail, "\n"), strings.Join(extra.global, "\n"))
	cfgFile := filepath.Join(dir, "prosody.cfg.lua")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &peer{IP: ip, Domain: domain, CAFile: ca.File, process: &process{
		name: "prosody " + domain,
		cmd:  exec.Command("/usr/bin/prosody", "--config", cfgFile, "-F"),
		log:  logFile,
	}}
	p.start(t)
	p.waitFor(t, "Activated service 's2s' on ["+ip+"]:5269", 30*time.Second)
	p.waitFor(t, "Activated service 'c2s' on ["+ip+"]:5222", 30*time.Second)
	return p
}

// luaList writes names as further entries of a Lua list.
func luaList(names []string) string {
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, ", %q", n)
	}
	return b.String()
}

// startEjabberd runs Debian's ejabberd for domain on ip, with users and
// modules (YAML lines under modules:) added to the ones every test needs;
// a line that is not indented ends the modules and sets a top-level
// option, such as auth_password_format. It
// runs as the ejabberd user (ejabberdctl's choice when started as root),
// on a distribution port of its own instead of epmd, so that no daemon
// outlives the test, and resolves through the test zone: its inetrc
// points Erlang's resolver there for SRV and address lookups alike.
func startEjabberd(t *testing.T, ip, domain string, ca *xmpptest.CA, z *zone, mode peerMode, users map[string]string, modules ...string) *peer {
	t.Helper()
	dir, err := os.MkdirTemp("", "roost-ejabberd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	for _, sub := range []string{"spool", "logs"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	certFile, keyFile := ca.IssueFiles(t, dir, domain, "conference."+domain)
	pem := filepath.Join(dir, domain+".pem")
	var both []byte
	for _, f := range []string{certFile, keyFile} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		both = append(both, b...)
	}
	if err := os.WriteFile(pem, both, 0o600); err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	trusted := ca.File
	if mode.secure {
		trusted = mode.trusted
	}
	if b, err := os.ReadFile(trusted); err != nil {
		t.Fatal(err)
	} else if err := os.WriteFile(caFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	a := net.ParseIP(z.ip).To4()
	// No resolv.conf: its nameservers would take precedence over ours.
	inetrc := fmt.Sprintf("{resolv_conf, \"\"}.\n{lookup, [file, dns]}.\n{nameserver, {%d,%d,%d,%d}, %d}.\n", a[0], a[1], a[2], a[3], z.port)
	if err := os.WriteFile(filepath.Join(dir, "inetrc"), []byte(inetrc), 0o600); err != nil {
		t.Fatal(err)
	}
	// ejabberd resolves SRV targets with getaddrinfo: give it a resolv.conf
	// of its own, bind-mounted over /etc/resolv.conf in a private mount
	// namespace (the machine's file is never touched).
	resolvConf := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(resolvConf, []byte("nameserver "+z.ip+"\noptions attempts:1 timeout:2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dialback := "  mod_s2s_dialback: {}\n"
	if mode.secure {
		// Without dialback, only SASL EXTERNAL with a valid certificate
		// authenticates, and peers' certificates are verified.
		dialback = ""
	}
	cfg := fmt.Sprintf(`# written by roost's interop tests
hosts:
  - %[1]s
loglevel: debug
log_rotate_count: 0
certfiles:
  - %[2]q
ca_file: %[3]q
listen:
  -
    port: 5222
    ip: %[4]q
    module: ejabberd_c2s
    starttls_required: true
  -
    port: 5269
    ip: %[4]q
    module: ejabberd_s2s_in
s2s_use_starttls: required
outgoing_s2s_families:
  - ipv4
s2s_dns_timeout: 5
auth_method: internal
acl:
  local:
    user_regexp: ""
access_rules:
  local:
    allow: local
  c2s:
    allow: all
api_permissions:
  "console commands":
    from:
      - ejabberd_ctl
    who: all
    what: "*"
modules:
  mod_roster: {}
  mod_disco: {}
  mod_ping: {}
%[5]s%[6]s`, domain, pem, caFile, ip, dialback, strings.Join(modules, ""))
	if err := os.WriteFile(filepath.Join(dir, "ejabberd.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	u, err := user.Lookup("ejabberd")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	err = filepath.Walk(dir, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(path, uid, gid)
	})
	if err != nil {
		t.Fatal(err)
	}
	distPort := freePort(t)
	pidFile := filepath.Join(dir, "ejabberd.pid")
	env := append(os.Environ(), "ERL_DIST_PORT="+strconv.Itoa(distPort), "EJABBERD_PID_PATH="+pidFile)
	ctl := func(args ...string) *exec.Cmd {
		cmd := exec.Command("/usr/sbin/ejabberdctl", append([]string{
			"--config-dir", dir, "--logs", filepath.Join(dir, "logs"), "--spool", filepath.Join(dir, "spool"),
			"--node", "ejabberd@localhost"}, args...)...)
		cmd.Env = env
		cmd.Dir = dir
		return cmd
	}
	foreground := ctl("foreground")
	foreground.Args = append([]string{"/usr/bin/unshare", "--mount", "--propagation", "private", "--",
		"/bin/sh", "-c", `mount --bind "$0" /etc/resolv.conf && exec "$@"`, resolvConf}, foreground.Args...)
	foreground.Path = "/usr/bin/unshare"
	p := &peer{IP: ip, Domain: domain, CAFile: ca.File, process: &process{
		name: "ejabberd " + domain,
		cmd:  foreground,
		log:  filepath.Join(dir, "logs", "ejabberd.log"),
	}, ctl: ctl}
	// ejabberdctl runs the node through su, in a process group of its
	// own: signal the node itself, by the pid it wrote.
	p.stop = func() {
		if b, err := os.ReadFile(pidFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				_ = syscall.Kill(pid, syscall.SIGTERM)
				return
			}
		}
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	}
	p.start(t)
	p.waitFor(t, "Start accepting TCP connections at "+ip+":5269", 60*time.Second)
	p.waitFor(t, "Start accepting TCP connections at "+ip+":5222", 60*time.Second)
	for name, pw := range users {
		if out, err := ctl("register", name, domain, pw).CombinedOutput(); err != nil {
			t.Fatalf("ejabberdctl register %s: %v\n%s", name, err, out)
		}
	}
	return p
}

// freePort returns a TCP port nothing listens on at the moment.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// bothUsagesCA is a CA issuing one certificate with both the serverAuth
// and the clientAuth extended key usage: ejabberd 23.01 refuses, as a
// client certificate, one with serverAuth only ("unsupported certificate
// purpose"), which is all public CAs issue since 2026.
type bothUsagesCA struct {
	File              string // the CA certificate
	CertFile, KeyFile string // the server's
}

func newBothUsagesCA(t *testing.T, names ...string) bothUsagesCA {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "roost test CA (both usages)"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true, IsCA: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	c := bothUsagesCA{File: filepath.Join(dir, "ca.pem"), CertFile: filepath.Join(dir, "server.crt"), KeyFile: filepath.Join(dir, "server.key")}
	for f, b := range map[string]*pem.Block{
		c.File:     {Type: "CERTIFICATE", Bytes: caDER},
		c.CertFile: {Type: "CERTIFICATE", Bytes: der},
		c.KeyFile:  {Type: "PRIVATE KEY", Bytes: kder},
	} {
		if err := os.WriteFile(f, pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// bundle writes the concatenation of PEM files.
func bundle(t *testing.T, files ...string) string {
	t.Helper()
	var all []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	out := filepath.Join(t.TempDir(), "bundle.pem")
	if err := os.WriteFile(out, all, 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}
