//go:build interop

package interop

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"roost/dialback"
	"roost/internal/xmpptest"
	"roost/s2s"
	"roost/srv"
	"roost/stanza"
	"roost/stream"
	"roost/xmlstream"
)

// account is a user the federation scenarios log in as.
type account struct {
	jid, password string
	host, ca      string // the server's c2s address and the CA clients trust for it
}

// s2sConfig returns the [s2s] body for a roost on ip resolving through z.
func s2sConfig(ip string, z *zone, mode peerMode, extra string) func(*roostConfig) {
	return func(rc *roostConfig) {
		// The peers listen on 127.0.0.x, which roost refuses to connect to
		// by default.
		rc.S2S = fmt.Sprintf("enabled = true\nlisten = [\"%s:5269\"]\nlisten_tls = [\"%s:5270\"]\nresolver = \"%s:%d\"\nconnect_timeout = \"5s\"\nallow_private_addresses = true\n",
			ip, ip, z.ip, z.port)
		if mode.secure {
			rc.S2S += fmt.Sprintf("require_valid_certificates = true\nca_file = %q\n", mode.trusted)
		}
		rc.S2S += extra
	}
}

// befriend runs the befriend scenario: one asks two, then the other way
// round; chat and presence both ways.
func befriend(t *testing.T, one, two account) {
	t.Helper()
	ev := runPy(t, "testdata/slix_s2s.py", "befriend",
		"--jid1", one.jid, "--password1", one.password, "--host1", one.host, "--ca1", one.ca,
		"--jid2", two.jid, "--password2", two.password, "--host2", two.host, "--ca2", two.ca)
	bare := func(j string) string { return strings.SplitN(j, "/", 2)[0] }
	steps, messages := 0, 0
	for _, e := range ev {
		switch e["event"] {
		case "step":
			steps++
			if e["ok"] != true {
				t.Errorf("%s ↔ %s: %v: did not happen", bare(one.jid), bare(two.jid), e["step"])
			}
		case "roster":
			if e["state"] != "both" {
				t.Errorf("%s's client sees %v in the roster as %q, want \"both\"", e["client"], e["contact"], e["state"])
			}
		case "message":
			messages++
			want := map[int][2]string{1: {one.jid, two.jid}, 2: {two.jid, one.jid}}[messages]
			if e["frm"] != want[0] || bare(fmt.Sprint(e["to"])) != bare(want[1]) || !strings.HasPrefix(fmt.Sprint(e["body"]), "hello") {
				t.Errorf("message %d: %v, want from %s to %s", messages, e, want[0], want[1])
			}
		}
	}
	if steps != 9 || messages != 2 {
		t.Errorf("%d steps and %d messages, want 9 and 2: %v", steps, messages, ev)
	}
}

// authorized reports whether roost's log shows the pair with remote
// authorized in direction dir ("in" or "out") by mechanism.
func authorized(log, dir, remote, mechanism string) bool {
	for _, l := range strings.Split(log, "\n") {
		if !strings.Contains(l, `msg="`+map[string]string{"in": "inbound", "out": "outbound"}[dir]+` pair authorized"`) ||
			!strings.Contains(l, "mechanism="+mechanism) {
			continue
		}
		if dir == "out" && strings.Contains(l, " to="+remote+" ") || dir == "in" && strings.Contains(l, " from="+remote+" ") {
			return true
		}
	}
	return false
}

// TestInteropFederation is issue 4's acceptance test: alice on roost
// (a.example), bob on Prosody (b.example) and carol on ejabberd
// (c.example), all found through SRV records in a test zone, become
// contacts, see each other's presence and chat — once with certificates
// every server trusts (SASL EXTERNAL, nothing else accepted) and once with
// certificates nobody trusts (dialback). roost asks first, then, after
// roost restarted, the peers ask first, so that each side opens the
// streams and verifies the other first once.
func TestInteropFederation(t *testing.T) {
	for _, tc := range []struct {
		name   string
		secure bool
	}{{"dialback", false}, {"certificates", true}} {
		t.Run(tc.name, func(t *testing.T) {
			z := newZone(t)
			mode := peerMode{secure: tc.secure}
			caA, caB, caC := xmpptest.NewCA(t), xmpptest.NewCA(t), xmpptest.NewCA(t)
			roostCA := caA.File
			var roostTLS func(*roostConfig)
			if tc.secure {
				// The peers' certificates have serverAuth only (roost must
				// accept them); roost's has clientAuth too, which ejabberd
				// 23.01 requires of a client certificate.
				shared := xmpptest.NewCA(t)
				caB, caC = shared, shared
				both := newBothUsagesCA(t, "a.example", "conference.a.example", "upload.a.example")
				roostCA = both.File
				mode.trusted = bundle(t, shared.File, both.File)
				roostTLS = func(rc *roostConfig) {
					rc.TLS = tlsFiles(both.CertFile, both.KeyFile)
				}
			}
			// With certificates, roost prefers direct TLS (XEP-0368) in
			// its SRV records, so peers that support it use it.
			z.publish("a.example", "127.0.0.2", srvPublish{starttls: 5269, direct: 5270, directFirst: tc.secure})
			z.publish("b.example", "127.0.0.3", srvPublish{starttls: 5269})
			z.publish("c.example", "127.0.0.4", srvPublish{starttls: 5269})

			mods := []func(*roostConfig){s2sConfig("127.0.0.2", z, mode, "")}
			if roostTLS != nil {
				mods = append(mods, roostTLS)
			}
			r := startRoost(t, "127.0.0.2", "a.example", caA, mods...)
			r.AddUser(t, "alice", "alice-secret")
			r.AddUser(t, "frank", "frank-secret")
			prosody := startProsody(t, "127.0.0.3", "b.example", caB, z, mode, map[string]string{"bob": "bob-secret", "dave": "dave-secret"})
			ejabberd := startEjabberd(t, "127.0.0.4", "c.example", caC, z, mode, map[string]string{"carol": "carol-secret", "erin": "erin-secret"})

			alice := account{"alice@a.example/laptop", "alice-secret", r.IP, roostCA}
			frank := account{"frank@a.example/desk", "frank-secret", r.IP, roostCA}
			bob := account{"bob@b.example/phone", "bob-secret", prosody.IP, prosody.CAFile}
			dave := account{"dave@b.example/tablet", "dave-secret", prosody.IP, prosody.CAFile}
			carol := account{"carol@c.example/pc", "carol-secret", ejabberd.IP, ejabberd.CAFile}
			erin := account{"erin@c.example/watch", "erin-secret", ejabberd.IP, ejabberd.CAFile}

			t.Run("roost asks Prosody", func(t *testing.T) { befriend(t, alice, bob) })
			t.Run("roost asks ejabberd", func(t *testing.T) { befriend(t, alice, carol) })
			// A restart ends every stream: now the peers connect first.
			r.Restart(t)
			t.Run("Prosody asks roost", func(t *testing.T) { befriend(t, dave, frank) })
			t.Run("ejabberd asks roost", func(t *testing.T) { befriend(t, erin, frank) })

			mech := "dialback"
			if tc.secure {
				mech = "EXTERNAL"
			}
			log := r.Log()
			if testing.Verbose() {
				for _, l := range strings.Split(log, "\n") {
					if strings.Contains(l, "pair authorized") || strings.Contains(l, `msg=connected`) {
						t.Log(l)
					}
				}
			}
			for _, peer := range []string{"b.example", "c.example"} {
				for _, dir := range []string{"in", "out"} {
					if !authorized(log, dir, peer, mech) {
						t.Errorf("roost's log shows no %sbound stream with %s authorized by %s", dir, peer, mech)
					}
				}
			}
			if tc.secure && !regexp.MustCompile(`component=s2s conn=\d+ dir=in [^\n]*direct_tls=true`).MatchString(log) {
				t.Errorf("no peer used roost's _xmpps-server record (direct TLS, XEP-0368)")
			}
			if !tc.secure {
				t.Run("spoofed dialback key refused", func(t *testing.T) { spoof(t, r, "b.example") })
				t.Run("multiplexing", func(t *testing.T) { multiplexing(t, z) })
			}
		})
	}
}

// spoof claims to be domain on a stream to roost with a key domain's
// real server never made: roost asks that server, which says invalid, and
// roost refuses the stream.
func spoof(t *testing.T, r *Roost, domain string) {
	nc, err := net.DialTimeout("tcp", net.JoinHostPort(r.IP, "5269"), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	header := string(stream.AppendHeader(nil, stream.Header{From: domain, To: r.Domain, Version: "1.0", ContentNS: xmlstream.NSServer, Dialback: true}))
	dec := xmlstream.NewDecoder(nc, xmlstream.Limits{})
	next := func() *xmlstream.Element {
		t.Helper()
		el, err := dec.ReadElement()
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		return el
	}
	open := func(w io.Writer) {
		t.Helper()
		if _, err := io.WriteString(w, header); err != nil {
			t.Fatal(err)
		}
		if _, err := dec.ReadHeader(); err != nil {
			t.Fatal(err)
		}
		next() // features
	}
	open(nc)
	if _, err := io.WriteString(nc, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"); err != nil {
		t.Fatal(err)
	}
	if el := next(); !el.Is(stream.NSTLS, "proceed") {
		t.Fatalf("got %s, want <proceed/>", el)
	}
	tc := tls.Client(nc, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}) //nolint:gosec // the attacker does not care
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	dec = xmlstream.NewDecoder(tc, xmlstream.Limits{})
	open(tc)
	if _, err := io.WriteString(tc, "<db:result from='"+domain+"' to='"+r.Domain+"'>"+strings.Repeat("0f", 32)+"</db:result>"); err != nil {
		t.Fatal(err)
	}
	e, err := dialback.Parse(next())
	if err != nil || e.Type != dialback.Invalid {
		t.Fatalf("answer %+v (%v), want an invalid result", e, err)
	}
	el := next()
	if se := stream.ParseError(el); !el.Is(xmlstream.NSStream, "error") || se.Condition != stream.NotAuthorized {
		t.Fatalf("got %s, want a not-authorized stream error", el)
	}
}

// TestInteropFederationRoost federates two roost processes: a.example
// published for STARTTLS only and d.example for direct TLS only
// (XEP-0368), with trusted certificates that carry serverAuth only (SASL
// EXTERNAL both ways) and with untrusted ones (dialback). Then messages to
// servers that cannot be reached come back as errors in time.
func TestInteropFederationRoost(t *testing.T) {
	for _, tc := range []struct {
		name   string
		secure bool
	}{{"dialback", false}, {"certificates", true}} {
		t.Run(tc.name, func(t *testing.T) {
			z := newZone(t)
			mode := peerMode{secure: tc.secure}
			caA, caD := xmpptest.NewCA(t), xmpptest.NewCA(t)
			if tc.secure {
				caD = caA
				mode.trusted = caA.File
			}
			z.publish("a.example", "127.0.0.2", srvPublish{starttls: 5269})
			z.publish("d.example", "127.0.0.5", srvPublish{direct: 5270})
			// Unreachable: a closed port, and a server that never speaks.
			z.publish("closed.example", "127.0.0.6", srvPublish{starttls: 5269})
			silent, err := net.Listen("tcp", "127.0.0.7:5269")
			if err != nil {
				t.Fatal(err)
			}
			defer silent.Close()
			go func() {
				for {
					c, err := silent.Accept()
					if err != nil {
						return
					}
					defer c.Close()
				}
			}()
			z.publish("silent.example", "127.0.0.7", srvPublish{starttls: 5269})

			limits := func(rc *roostConfig) {
				// A held back login must fit in the negotiation (config
				// validation): at most half of it.
				rc.Limits = "negotiation_timeout = \"3s\"\nlogin_delay_max = \"1s\"\n"
			}
			a := startRoost(t, "127.0.0.2", "a.example", caA, s2sConfig("127.0.0.2", z, mode, ""), limits)
			d := startRoost(t, "127.0.0.5", "d.example", caD, s2sConfig("127.0.0.5", z, mode, ""), limits)
			a.AddUser(t, "alice", "alice-secret")
			d.AddUser(t, "dan", "dan-secret")
			alice := account{"alice@a.example/laptop", "alice-secret", a.IP, caA.File}
			dan := account{"dan@d.example/phone", "dan-secret", d.IP, caD.File}
			befriend(t, alice, dan)

			mech := map[bool]string{false: "dialback", true: "EXTERNAL"}[tc.secure]
			for _, c := range []struct {
				r      *Roost
				remote string
			}{{a, "d.example"}, {d, "a.example"}} {
				for _, dir := range []string{"in", "out"} {
					if !authorized(c.r.Log(), dir, c.remote, mech) {
						t.Errorf("%s's log shows no %sbound stream with %s authorized by %s", c.r.Domain, dir, c.remote, mech)
					}
				}
			}
			if !strings.Contains(a.Log(), "to=d.example sender=a.example mechanism="+mech+" peer_certificate_valid="+fmt.Sprint(tc.secure)+" direct_tls=true") {
				t.Errorf("a.example did not reach d.example over direct TLS")
			}

			for _, b := range []struct {
				to        string
				condition string
				within    float64 // seconds: s2s.connect_timeout, or limits.negotiation_timeout
			}{
				{"nobody@nowhere.example", "remote-server-not-found", 5},
				// Resolved but unreachable: a closed port answers as a
				// silent one does, so that nobody scans ports through
				// roost (docs/security.md).
				{"nobody@closed.example", "remote-server-timeout", 5},
				{"nobody@silent.example", "remote-server-timeout", 3 + 2},
			} {
				t.Run("bounce from "+strings.SplitN(b.to, "@", 2)[1], func(t *testing.T) {
					ev := runPy(t, "testdata/slix_s2s.py", "bounce", "--jid1", alice.jid, "--password1", alice.password,
						"--host1", alice.host, "--ca1", alice.ca, "--to", b.to)
					if len(ev) != 1 || ev[0]["condition"] != b.condition || ev[0]["frm"] != b.to {
						t.Fatalf("events %v, want a %s error from %s", ev, b.condition, b.to)
					}
					if secs, _ := ev[0]["seconds"].(float64); secs > b.within {
						t.Errorf("the error came after %.1fs, want within %.0fs", secs, b.within)
					}
				})
			}
		})
	}
}

// multiplexing runs roost's s2s package in-process for m.example and its
// service conference.m.example, and pings Prosody and ejabberd from both:
// the service is added to the stream m.example opened, by dialback
// (XEP-0220 §2.5, sender multiplexing), and the peers' answers come back.
func multiplexing(t *testing.T, z *zone) {
	ln, err := net.Listen("tcp", "127.0.0.8:5269")
	if err != nil {
		t.Fatal(err)
	}
	domains := []string{"m.example", "conference.m.example"}
	for _, d := range domains {
		z.publish(d, "127.0.0.8", srvPublish{starttls: 5269})
	}
	res, err := srv.New(srv.Options{Server: net.JoinHostPort(z.ip, strconv.Itoa(z.port)), CacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	delivered := make(chan *stanza.Stanza, 16)
	log := &syncBuffer{}
	server := s2s.New(s2s.Options{
		Domains:        domains,
		TLS:            &tls.Config{Certificates: []tls.Certificate{xmpptest.NewCA(t).Issue(t, domains...)}, MinVersion: tls.VersionTLS12},
		RootCAs:        func() *x509.CertPool { return x509.NewCertPool() },
		DialbackSecret: []byte("m.example's secret"),
		Resolver:       res,
		// The peers listen on 127.0.0.x.
		AllowPrivateAddresses: true,
		Logger:                slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}, routerFunc(func(_ context.Context, st *stanza.Stanza) {
		delivered <- st
	}))
	go func() { _ = server.Serve(context.Background(), ln) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = server.Shutdown(ctx)
		if t.Failed() {
			t.Logf("in-process s2s log:\n%s", tail(log.String(), 80))
		}
	}()
	for i, peer := range []string{"b.example", "c.example"} {
		for _, from := range []string{"alice@m.example/x", "room@conference.m.example/alice"} {
			id := "ping-" + strings.SplitN(from, "@", 2)[1] + "-" + peer
			st := xmpptest.Stanza(t, "<iq type='get' id='"+id+"' from='"+from+"' to='"+peer+"'><ping xmlns='urn:xmpp:ping'/></iq>")
			if err := server.SendRemote(context.Background(), st); err != nil {
				t.Fatal(err)
			}
			select {
			case got := <-delivered:
				if got.ID != id || got.Type != "result" || got.From.String() != peer || got.To.String() != from {
					t.Errorf("got %s, want the result of %s", got.El, id)
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("no answer to the ping from %s to %s", from, peer)
			}
		}
		if _, out := server.Stats(); out != i+1 {
			t.Errorf("after pinging %s: %d outbound streams, want %d (one per peer, the service multiplexed)", peer, out, i+1)
		}
	}
}

// routerFunc adapts a function to s2s.Router.
type routerFunc func(ctx context.Context, st *stanza.Stanza)

func (f routerFunc) Route(ctx context.Context, st *stanza.Stanza) { f(ctx, st) }
