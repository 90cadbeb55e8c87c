//go:build interop

package interop

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/template"
	"time"

	"roost/internal/client"
	"roost/internal/xmpptest"
	"roost/jid"
	"roost/xmlstream"
)

// The client matrix (issue 20): every client program a family might use,
// from the Debian packages .ci/run installs, logs in to one roost over
// STARTTLS and over direct TLS, sends a chat message that a Go peer
// receives, and shows the peer's answer. Seats run in parallel, each with
// accounts of its own. Which SASL mechanism and stream management each
// client used is read from roost's own debug log; whether it enabled
// carbons, from the client's own protocol trace (roost does not log it).
// With -clients-doc the run writes the table to docs/clients.md
// (make clients-doc).

var clientsDoc = flag.String("clients-doc", "", "write the client matrix as markdown to this file (docs/clients.md)")

// Address and domain of the client matrix, apart from the other suites'.
const (
	clientsIP     = "127.0.0.20"
	clientsDomain = "home.example"
	// seatTimeout bounds each wait of a seat: a login, a message.
	seatTimeout = 30 * time.Second
)

// transport is how a seat reaches roost.
type transport struct {
	name      string // as the table says it
	header    string // the table's column
	key       string // in account names
	port      string
	directTLS bool
}

func matrixTransports() []transport {
	return []transport{
		{name: "STARTTLS", header: "STARTTLS (5222)", key: "starttls", port: "5222"},
		{name: "direct TLS", header: "Direct TLS (5223)", key: "tls", port: "5223", directTLS: true},
	}
}

// matrixClient is one client program of the matrix.
type matrixClient struct {
	name string
	key  string // in account and session names
	pkg  string // Debian package of the client
	lib  string // the XMPP library it is built on
	// libPkg is the library's Debian package, "" when the client is the
	// library; with builtUsing the library is linked in (a Go program)
	// and its version is read from the client package's Built-Using.
	libPkg     string
	builtUsing bool
	// noDirectTLS says why the client cannot use direct TLS, if it cannot.
	noDirectTLS string
	// trust says how the client checks roost's certificate.
	trust func(transport) string
	// seat runs the client as s.user: it logs in, sends s.hello to s.peer
	// and returns once the client shows s.reply. It reports whether the
	// client enabled carbons ("yes" or "no"), as the client shows it.
	seat func(t *testing.T, s *seat) (carbons string)
}

func matrixClients() []matrixClient {
	same := func(how string) func(transport) string { return func(transport) string { return how } }
	return []matrixClient{
		{name: "slixmpp", key: "slixmpp", pkg: "python3-slixmpp", lib: "slixmpp",
			trust: same("test CA via `ca_certs`"), seat: slixmppSeat},
		{name: "aioxmpp", key: "aioxmpp", pkg: "python3-aioxmpp", lib: "aioxmpp",
			trust: same("test CA via its SSL context"), seat: aioxmppSeat},
		{name: "profanity", key: "profanity", pkg: "profanity", lib: "libstrophe", libPkg: "libstrophe0",
			trust: same("test CA via `SSL_CERT_FILE`"), seat: profanitySeat},
		{name: "mcabber", key: "mcabber", pkg: "mcabber", lib: "loudmouth", libPkg: "libloudmouth1-0",
			trust: func(tr transport) string {
				if tr.directTLS {
					// loudmouth matches the name in the certificate
					// against the address it connects to, not the domain.
					return "pinned fingerprint via `ssl_fingerprint`, `ssl_ignore_checks`"
				}
				return "test CA via `ssl_ca`"
			}, seat: mcabberSeat},
		{name: "go-sendxmpp", key: "sendxmpp", pkg: "go-sendxmpp", lib: "go-xmpp",
			libPkg: "golang-github-mattn-go-xmpp", builtUsing: true,
			trust: same("test CA via `SSL_CERT_FILE`"), seat: sendxmppSeat},
		{name: "poezio", key: "poezio", pkg: "poezio", lib: "slixmpp", libPkg: "python3-slixmpp",
			noDirectTLS: "poezio 0.14 has no setting for it",
			trust:       same("test CA via `ca_cert_path`"), seat: poezioSeat},
	}
}

// seat is one client on one transport, with its accounts.
type seat struct {
	r        *Roost
	ca       *xmpptest.CA
	tmux     *tmuxServer
	tr       transport
	name     string // "client-transport": the account's local part, the tmux session
	user     string // the client's bare JID
	password string
	peer     string // the Go peer's bare JID
	hello    string // what the client sends the peer
	reply    string // what the peer answers
	dir      string // the client's own directory
}

// seatUser is the bare JID a client logs in as over a transport.
func seatUser(mc matrixClient, tr transport, domain string) string {
	return mc.key + "-" + tr.key + "@" + domain
}

func newSeat(t *testing.T, r *Roost, ca *xmpptest.CA, tm *tmuxServer, mc matrixClient, tr transport) *seat {
	local := mc.key + "-" + tr.key
	s := &seat{
		r: r, ca: ca, tmux: tm, tr: tr,
		name:     local,
		user:     seatUser(mc, tr, r.Domain),
		password: local + "-secret",
		peer:     "peer-" + local + "@" + r.Domain,
		hello:    "hello roost from " + mc.name + " over " + tr.name,
		reply:    "peer answers " + mc.name + " over " + tr.name,
		dir:      t.TempDir(),
	}
	r.AddUser(t, s.user, s.password)
	r.AddUser(t, s.peer, s.password)
	return s
}

// seatOutcome is what a seat showed.
type seatOutcome struct {
	ran     bool
	passed  bool
	carbons string
}

// TestInteropClients runs the client matrix against one roost.
func TestInteropClients(t *testing.T) {
	ca := xmpptest.NewCA(t)
	r := startRoost(t, clientsIP, clientsDomain, ca, func(c *roostConfig) { c.Log = `format = "json"` })
	tm := newTmux(t)
	clients, transports := matrixClients(), matrixTransports()
	outcomes := make([][]seatOutcome, len(clients))
	start := time.Now()
	t.Run("seats", func(t *testing.T) {
		for i, mc := range clients {
			outcomes[i] = make([]seatOutcome, len(transports))
			for j, tr := range transports {
				if tr.directTLS && mc.noDirectTLS != "" {
					continue // the table says why
				}
				out := &outcomes[i][j]
				t.Run(mc.key+"/"+tr.key, func(t *testing.T) {
					t.Parallel()
					out.ran = true
					t.Cleanup(func() { out.passed = !t.Failed() })
					s := newSeat(t, r, ca, tm, mc, tr)
					p := startPeer(t, s)
					out.carbons = mc.seat(t, s)
					p.expectHello(t, s)
				})
			}
		}
	})
	t.Logf("client matrix: %s", time.Since(start).Round(time.Millisecond))

	conns := c2sConns(r.Log())
	rows := make([]matrixRow, len(clients))
	for i, mc := range clients {
		rows[i] = newMatrixRow(mc)
		for j, tr := range transports {
			out := outcomes[i][j]
			if !out.ran {
				rows[i].cells = append(rows[i].cells, cell{note: mc.noDirectTLS})
				continue
			}
			c := cell{ran: true, passed: out.passed, carbons: out.carbons, trust: mc.trust(tr)}
			recs := conns[seatUser(mc, tr, r.Domain)]
			if out.passed {
				checkConns(t, mc.name, tr, recs)
			}
			for _, rec := range recs {
				mech := rec.mechanism
				if rec.plusFirst {
					mech += " after trying -PLUS"
				}
				if mech != "" && !slices.Contains(c.mechanisms, mech) {
					c.mechanisms = append(c.mechanisms, mech)
				}
				c.sm = c.sm || rec.sm
				c.resume = c.resume || rec.resume
			}
			rows[i].cells = append(rows[i].cells, c)
		}
	}
	if *clientsDoc != "" {
		writeClientsDoc(t, *clientsDoc, rows, transports)
	}
}

// checkConns asserts on roost's record of a seat that passed: the client
// logged in, and over the transport the seat asked for.
func checkConns(t *testing.T, client string, tr transport, recs []*connRecord) {
	t.Helper()
	if len(recs) == 0 {
		t.Errorf("%s over %s: roost logged no authentication", client, tr.name)
	}
	for _, rec := range recs {
		if rec.directTLS != tr.directTLS {
			t.Errorf("%s over %s: roost saw connection %s with direct_tls=%v", client, tr.name, rec.conn, rec.directTLS)
		}
	}
}

// connRecord is what roost's debug log says of one client connection.
type connRecord struct {
	conn      string
	directTLS bool
	mechanism string
	// plusFirst: the client first asked for a -PLUS mechanism with a
	// channel-binding type roost does not have, then logged in without.
	plusFirst bool
	sm        bool
	resume    bool
}

// c2sConns reads roost's JSON log and returns the authenticated client
// connections by account. c2s logs "connected" (with direct_tls),
// "channel binding type not supported", "authenticated" (user, mechanism)
// and "stream management enabled" (resume_asked), each with the
// connection's id.
func c2sConns(log string) map[string][]*connRecord {
	byConn := map[string]*connRecord{}
	byUser := map[string][]*connRecord{}
	for _, line := range strings.Split(log, "\n") {
		var e struct {
			Msg       string          `json:"msg"`
			Component string          `json:"component"`
			Conn      json.RawMessage `json:"conn"`
			DirectTLS bool            `json:"direct_tls"`
			User      string          `json:"user"`
			Mechanism string          `json:"mechanism"`
			Resume    bool            `json:"resume_asked"`
		}
		if json.Unmarshal([]byte(line), &e) != nil || e.Component != "c2s" || len(e.Conn) == 0 {
			continue
		}
		id := string(e.Conn)
		switch e.Msg {
		case "connected":
			byConn[id] = &connRecord{conn: id, directTLS: e.DirectTLS}
		case "authenticated":
			if rec := byConn[id]; rec != nil {
				rec.mechanism = e.Mechanism
				byUser[e.User] = append(byUser[e.User], rec)
			}
		case "channel binding type not supported":
			if rec := byConn[id]; rec != nil {
				rec.plusFirst = true
			}
		case "stream management enabled":
			if rec := byConn[id]; rec != nil {
				rec.sm, rec.resume = true, e.Resume
			}
		}
	}
	return byUser
}

// chatPeer is the Go side of a seat: it logs in as s.peer, answers the
// client's hello with s.reply, and remembers what it got.
type chatPeer struct {
	c    *client.Conn
	msgs chan peerMsg
	done chan struct{} // closed when serve returns; nil until it runs
}

type peerMsg struct{ from, body string }

func startPeer(t *testing.T, s *seat) *chatPeer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), seatTimeout)
	defer cancel()
	c, err := client.Dial(ctx, net.JoinHostPort(s.r.IP, "5222"), client.Options{
		JID: jid.MustParse(s.peer + "/peer"), Password: s.password, TLS: s.ca.ClientTLS(s.r.Domain),
	})
	if err != nil {
		t.Fatalf("peer %s: %v", s.peer, err)
	}
	p := &chatPeer{c: c, msgs: make(chan peerMsg, 16)}
	t.Cleanup(func() {
		_ = c.Close()
		if p.done != nil {
			<-p.done
		}
	})
	_ = c.SetDeadline(time.Now().Add(4 * seatTimeout))
	// Available, so that messages to the bare JID reach it (RFC 6121
	// §8.5.2.1.1); roost echoes the presence back once it holds it.
	if err := c.Send(xmlstream.New(xmlstream.NSClient, "presence")); err != nil {
		t.Fatal(err)
	}
	for {
		el, err := c.Recv()
		if err != nil {
			t.Fatalf("peer %s: waiting for its own presence: %v", s.peer, err)
		}
		if el.Is(xmlstream.NSClient, "presence") && el.Get("from") == c.JID.String() {
			break
		}
	}
	p.done = make(chan struct{})
	go p.serve(s)
	return p
}

// serve answers the hello and hands every message with a body to
// expectHello. It ends when the connection closes.
func (p *chatPeer) serve(s *seat) {
	defer close(p.done)
	for {
		el, err := p.c.Recv()
		if err != nil {
			return
		}
		body := el.ChildText(xmlstream.NSClient, "body")
		if !el.Is(xmlstream.NSClient, "message") || body == "" {
			continue
		}
		from := el.Get("from")
		if f, err := jid.Parse(from); err == nil && f.Bare().String() == s.user && body == s.hello {
			// To the bare JID: go-sendxmpp listens on another session
			// than the one that sent.
			_ = p.c.Send(xmlstream.New(xmlstream.NSClient, "message").
				SetAttr("to", s.user).SetAttr("type", "chat").
				Append(xmlstream.New(xmlstream.NSClient, "body").AppendText(s.reply)))
		}
		select {
		case p.msgs <- peerMsg{from: from, body: body}:
		default:
		}
	}
}

// expectHello checks that the peer got the client's hello, from the
// client's account.
func (p *chatPeer) expectHello(t *testing.T, s *seat) {
	t.Helper()
	var got []peerMsg
	timeout := time.After(seatTimeout)
	for {
		select {
		case m := <-p.msgs:
			if m.body == s.hello && strings.HasPrefix(m.from, s.user+"/") {
				return
			}
			got = append(got, m)
		case <-timeout:
			t.Fatalf("peer %s did not get %q from %s; got %v", s.peer, s.hello, s.user, got)
		}
	}
}

// carbonsEnable finds an iq enabling carbons (XEP-0280 §4) in a client's
// trace, and its attributes.
var carbonsEnable = regexp.MustCompile(`<iq\b([^>]*)>\s*<enable xmlns=["']urn:xmpp:carbons:2["']`)

// carbonsFromTrace says whether a client's protocol trace shows carbons
// enabled: the enable request and a result for it.
func carbonsFromTrace(trace string) string {
	for _, m := range carbonsEnable.FindAllStringSubmatch(trace, -1) {
		id := regexp.MustCompile(`\bid=["']([^"']+)["']`).FindStringSubmatch(m[1])
		if id == nil {
			continue
		}
		result := regexp.MustCompile(`<iq\b[^>]*\bid=["']` + regexp.QuoteMeta(id[1]) + `["'][^>]*>`)
		for _, r := range result.FindAllString(trace, -1) {
			if strings.Contains(r, `type="result"`) || strings.Contains(r, `type='result'`) {
				return "yes"
			}
		}
	}
	return "no"
}

func readTrace(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("reading the client's trace: %v", err)
	}
	return string(b)
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// pyEvents checks a python driver's events: a login, carbons enabled, and
// the peer's reply.
func pyEvents(t *testing.T, s *seat, ev []map[string]any) (carbons string) {
	t.Helper()
	event(t, ev, "login")
	m := event(t, ev, "message")
	want(t, m, "body", s.reply)
	if f, err := jid.Parse(fmt.Sprint(m["frm"])); err != nil || f.Bare().String() != s.peer {
		t.Errorf("reply from %v, want %s", m["frm"], s.peer)
	}
	if e := event(t, ev, "carbons"); e["enabled"] == true {
		return "yes"
	}
	return "no"
}

func pyArgs(s *seat, userJID string) []string {
	args := []string{"--host", s.r.IP, "--port", s.tr.port, "--ca", s.ca.File,
		"--jid", userJID, "--password", s.password, "--peer", s.peer, "--send", s.hello,
		"--timeout", fmt.Sprint(seatTimeout.Seconds())}
	if s.tr.directTLS {
		args = append(args, "--direct-tls")
	}
	return args
}

// slixmppSeat: testdata/slix.py with the stream management (XEP-0198) and
// carbons (XEP-0280) plugins.
func slixmppSeat(t *testing.T, s *seat) string {
	return pyEvents(t, s, runPy(t, "testdata/slix.py", append([]string{"client"}, pyArgs(s, s.user+"/slixmpp")...)...))
}

// aioxmppSeat: testdata/aiox.py; aioxmpp negotiates stream management by
// itself and enables carbons through its CarbonsClient.
func aioxmppSeat(t *testing.T, s *seat) string {
	return pyEvents(t, s, runPy(t, "testdata/aiox.py", pyArgs(s, s.user)...))
}

// profanitySeat: profanity with an account file, its defaults otherwise
// (stream management and carbons on), in tmux.
func profanitySeat(t *testing.T, s *seat) string {
	policy := "force"
	if s.tr.directTLS {
		policy = "legacy" // libstrophe's name for direct TLS
	}
	writeFile(t, filepath.Join(s.dir, "data/profanity/accounts"), fmt.Sprintf(`[%s]
enabled=true
jid=%s
server=%s
port=%s
resource=profanity
password=%s
tls.policy=%s
`, s.user, s.user, s.r.IP, s.tr.port, s.password, policy), 0o600)
	trace := filepath.Join(s.dir, "profanity.log")
	p := s.tmux.start(t, s.name, []string{
		"HOME=" + s.dir, "XDG_CONFIG_HOME=" + filepath.Join(s.dir, "config"),
		"XDG_DATA_HOME=" + filepath.Join(s.dir, "data"), "SSL_CERT_FILE=" + s.ca.File,
	}, "profanity", "-a", s.user, "-l", "DEBUG", "-f", trace)
	p.waitFor(t, "logged in successfully", seatTimeout)
	p.typeLine(t, "/msg "+s.peer+" "+s.hello)
	p.waitFor(t, s.reply, seatTimeout)
	return carbonsFromTrace(readTrace(t, trace))
}

// mcabberSeat: mcabber with carbons on (off by default), in tmux.
func mcabberSeat(t *testing.T, s *seat) string {
	trace := filepath.Join(s.dir, "trace.log")
	rc := fmt.Sprintf(`set jid = %s
set password = %s
set server = %s
set port = %s
set resource = mcabber
set disable_random_resource = 1
set carbons = 1
set tracelog_level = 3
set tracelog_file = %s
`, s.user, s.password, s.r.IP, s.tr.port, trace)
	if s.tr.directTLS {
		rc += fmt.Sprintf("set tls = 0\nset ssl = 1\nset ssl_fingerprint = SHA256:%s\nset ssl_ignore_checks = 1\n", servedCertSHA256(t, s))
	} else {
		rc += fmt.Sprintf("set tls = 1\nset ssl_ca = %s\n", s.ca.File)
	}
	path := filepath.Join(s.dir, ".mcabber/mcabberrc")
	writeFile(t, path, rc, 0o600)
	p := s.tmux.start(t, s.name, []string{"HOME=" + s.dir}, "mcabber", "-f", path)
	p.waitFor(t, "Connection established", seatTimeout)
	p.typeLine(t, "/say_to "+s.peer+" "+s.hello)
	// Select the peer and open its chat buffer (Enter on an empty line).
	p.typeLine(t, "/roster search "+s.peer)
	p.press(t, "Enter")
	p.waitFor(t, "<== "+s.reply, seatTimeout)
	return carbonsFromTrace(readTrace(t, trace))
}

// servedCertSHA256 is the SHA-256 of the certificate roost serves on the
// seat's direct TLS port, in hex.
func servedCertSHA256(t *testing.T, s *seat) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), seatTimeout)
	defer cancel()
	d := tls.Dialer{Config: s.ca.ClientTLS(s.r.Domain)}
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(s.r.IP, s.tr.port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sum := sha256.Sum256(c.(*tls.Conn).ConnectionState().PeerCertificates[0].Raw)
	return hex.EncodeToString(sum[:])
}

// sendxmppSeat: go-sendxmpp, as scripts use it: one run listens (-l) and
// prints what arrives, another sends the hello and exits.
func sendxmppSeat(t *testing.T, s *seat) string {
	args := []string{"-u", s.user, "-p", s.password, "-j", net.JoinHostPort(s.r.IP, s.tr.port)}
	if s.tr.directTLS {
		args = append(args, "-t")
	}
	env := append(os.Environ(), "HOME="+s.dir, "SSL_CERT_FILE="+s.ca.File)

	// -d prints what the server sends, roost's echo of the listener's
	// presence among it: from then on a message reaches the listener.
	listen := &process{name: "go-sendxmpp -l", cmd: exec.Command("go-sendxmpp", append(args, "-d", "-l")...)}
	listen.cmd.Env = env
	listen.start(t)
	listen.waitFor(t, "<presence", seatTimeout)

	ctx, cancel := context.WithTimeout(context.Background(), seatTimeout)
	defer cancel()
	send := exec.CommandContext(ctx, "go-sendxmpp", append(args, s.peer)...)
	send.Env = env
	send.Stdin = strings.NewReader(s.hello + "\n")
	if b, err := send.CombinedOutput(); err != nil {
		t.Fatalf("go-sendxmpp %s: %v\n%s", s.peer, err, b)
	}
	// The listener prints "<time> <from>: <body>".
	listen.waitFor(t, s.peer+": "+s.reply, seatTimeout)

	// go-xmpp has no carbons: the binary does not carry the namespace.
	bin, err := exec.LookPath("go-sendxmpp")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("urn:xmpp:carbons:2")) {
		t.Errorf("go-sendxmpp carries urn:xmpp:carbons:2: read its carbons from a trace instead")
	}
	return "no"
}

// poezioSeat: poezio with stream management on (off by default) and
// carbons (on by default), in tmux. poezio refuses to run as root, so
// under root (CI) it runs as nobody, in a directory nobody owns.
func poezioSeat(t *testing.T, s *seat) string {
	home, err := os.MkdirTemp("", "roost-poezio-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(home) })
	ca, err := os.ReadFile(s.ca.File)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(home, "ca.pem"), string(ca), 0o644)
	writeFile(t, filepath.Join(home, "config/poezio/poezio.cfg"), fmt.Sprintf(`[Poezio]
jid = %s
password = %s
custom_host = %s
custom_port = %s
ca_cert_path = %s
enable_smacks = true
`, s.user, s.password, s.r.IP, s.tr.port, filepath.Join(home, "ca.pem")), 0o600)
	trace := filepath.Join(home, "debug.log")
	argv := []string{"poezio", "-d", trace}
	if os.Geteuid() == 0 {
		if err := chownTree(home, nobody, nobody); err != nil {
			t.Fatal(err)
		}
		argv = append([]string{"setpriv", "--reuid=" + fmt.Sprint(nobody), "--regid=" + fmt.Sprint(nobody), "--clear-groups"}, argv...)
	}
	p := s.tmux.start(t, s.name, []string{
		"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, "config"),
		"XDG_DATA_HOME=" + filepath.Join(home, "data"), "XDG_CACHE_HOME=" + filepath.Join(home, "cache"),
		"LANG=C.UTF-8",
	}, argv...)
	p.waitFor(t, "Your JID is", seatTimeout)
	p.typeLine(t, "/message "+s.peer+" "+s.hello)
	p.waitFor(t, "> "+s.reply, seatTimeout)
	return carbonsFromTrace(readTrace(t, trace))
}

// nobody is the uid and gid of Debian's nobody and nogroup.
const nobody = 65534

func chownTree(root string, uid, gid int) error {
	return filepath.Walk(root, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, gid)
	})
}

// matrixRow is a client's line of the table.
type matrixRow struct {
	client, lib, version string
	cells                []cell
}

// cell is one client on one transport.
type cell struct {
	ran, passed bool
	note        string // why it did not run
	mechanisms  []string
	sm, resume  bool
	carbons     string
	trust       string
}

func newMatrixRow(mc matrixClient) matrixRow {
	lib := mc.lib
	switch {
	case mc.libPkg == "":
	case mc.builtUsing:
		lib += " " + builtUsingVersion(mc.pkg, mc.libPkg)
	default:
		lib += " " + debVersion(mc.libPkg)
	}
	return matrixRow{client: mc.name, lib: lib, version: debVersion(mc.pkg)}
}

// debVersion is the installed version of a Debian package.
func debVersion(pkg string) string {
	out, err := exec.Command("dpkg-query", "-W", "-f", "${Version}", pkg).Output()
	if err != nil || len(out) == 0 {
		return "(unknown)"
	}
	return string(out)
}

// builtUsingVersion is the version of lib that pkg was built with, from
// its Built-Using field ("lib (= 1.2-3), ...").
func builtUsingVersion(pkg, lib string) string {
	out, err := exec.Command("dpkg-query", "-W", "-f", "${Built-Using}", pkg).Output()
	if err != nil {
		return "(unknown)"
	}
	m := regexp.MustCompile(regexp.QuoteMeta(lib) + ` \(= ([^)]+)\)`).FindSubmatch(out)
	if m == nil {
		return "(unknown)"
	}
	return string(m[1])
}

// perTransport joins a value that may differ by transport: one value when
// all cells that ran agree, "a (STARTTLS), b (direct TLS)" otherwise.
func perTransport(r matrixRow, transports []transport, value func(cell) string) string {
	var vals, names []string
	for i, c := range r.cells {
		if !c.ran || value(c) == "" {
			continue
		}
		vals, names = append(vals, value(c)), append(names, transports[i].name)
	}
	if len(vals) == 0 {
		return "—"
	}
	if len(slices.Compact(slices.Clone(vals))) == 1 {
		return vals[0]
	}
	parts := make([]string, len(vals))
	for i := range vals {
		parts[i] = vals[i] + " (" + names[i] + ")"
	}
	return strings.Join(parts, ", ")
}

// markdownTable renders the matrix.
func markdownTable(rows []matrixRow, transports []transport) string {
	var b strings.Builder
	b.WriteString("| Client | Library | Version |")
	for _, tr := range transports {
		fmt.Fprintf(&b, " %s |", tr.header)
	}
	b.WriteString(" SASL mechanism | Stream management | Carbons | Certificate check | Result |\n|---|---|---|")
	for range transports {
		b.WriteString("---|")
	}
	b.WriteString("---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s |", r.client, r.lib, r.version)
		var failed []string
		for i, c := range r.cells {
			switch {
			case !c.ran:
				fmt.Fprintf(&b, " not offered: %s |", c.note)
			case c.passed:
				b.WriteString(" works |")
			default:
				b.WriteString(" **fails** |")
				failed = append(failed, transports[i].name)
			}
		}
		mech := perTransport(r, transports, func(c cell) string { return strings.Join(c.mechanisms, ", ") })
		sm := perTransport(r, transports, func(c cell) string {
			switch {
			case c.resume:
				return "yes, resumable"
			case c.sm:
				return "yes"
			}
			return "no"
		})
		carbons := perTransport(r, transports, func(c cell) string { return c.carbons })
		trust := perTransport(r, transports, func(c cell) string { return c.trust })
		result := "works"
		if len(failed) > 0 {
			result = "**fails over " + strings.Join(failed, " and ") + "**"
		}
		fmt.Fprintf(&b, " %s | %s | %s | %s | %s |\n", mech, sm, carbons, trust, result)
	}
	return b.String()
}

// writeClientsDoc renders testdata/clients.md.tmpl with the table to path.
func writeClientsDoc(t *testing.T, path string, rows []matrixRow, transports []transport) {
	t.Helper()
	tmpl, err := template.ParseFiles("testdata/clients.md.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	err = tmpl.Execute(&b, map[string]string{
		"Date":  time.Now().UTC().Format("2006-01-02"),
		"Table": markdownTable(rows, transports),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", path)
}
