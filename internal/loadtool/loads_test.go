package loadtool

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"roost/admin"
	"roost/config"
	"roost/server"
)

const testPassword = "bench-secret-1"

// startRoost runs roost in-process on 127.0.0.1:0 with users u1..uN and
// returns a target for it. The measured process is the test itself.
func startRoost(t *testing.T, users int) Target {
	t.Helper()
	tcp, _ := startRoostWS(t, users)
	return tcp
}

// startRoostWS is startRoost, and also returns a target for the same
// server over XMPP over WebSocket (RFC 7395) on its HTTPS port.
func startRoostWS(t *testing.T, users int) (tcp, ws Target) {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Domains = []string{"bench.test"}
	cfg.Subdomains = nil
	cfg.MUC.MembersOnly = false // the group chat load's room is open
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.Admin.Socket = filepath.Join(dir, "admin.sock")
	cfg.C2S.Listen = []string{"127.0.0.1:0"}
	cfg.C2S.ListenTLS = nil
	cfg.HTTPS.Listen = []string{"127.0.0.1:0"} // for the WebSocket
	cfg.S2S.Enabled = false
	cfg.Upload.Enabled = false
	cfg.Limits.ReadRateBytes, cfg.Limits.ReadBurstBytes = 1<<30, 1<<30
	cfg.Limits.MaxConnectionsPerIP = 65535
	// Every login comes from one address: the delays after failed ones
	// (what roost does against password guessing) would hold up the
	// load that tests failing logins.
	cfg.Limits.LoginDelayMax = 0
	srv, err := server.New(server.Options{Config: cfg, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("roost did not stop")
		}
	})
	adm := admin.Client{Path: cfg.Admin.Socket}
	for _, u := range userNames(users) {
		if err := adm.AddUser(context.Background(), u, testPassword); err != nil {
			t.Fatal(err)
		}
	}
	tcp = Target{Name: "roost", Addr: srv.Addrs()[server.ListenC2S][0].String(), Domain: "bench.test", PID: os.Getpid()}
	ws = tcp
	ws.Name, ws.Addr, ws.WebSocket = KindRoostWS, srv.Addrs()[server.ListenHTTPS][0].String(), "/xmpp-websocket"
	return tcp, ws
}

// TestWebSocket: the loads over XMPP over WebSocket, and messages between
// a WebSocket and a TCP session.
func TestWebSocket(t *testing.T) {
	tcp, ws := startRoostWS(t, 6)
	if _, err := WaitReady(testCtx(t), ws, false, time.Millisecond, 10*time.Second); err != nil {
		t.Fatalf("WaitReady over WebSocket: %v", err)
	}
	s, err := (&Dialer{}).Login(testCtx(t), ws, "u1", testPassword, LoginOptions{Resource: "web", Presence: true})
	if err != nil {
		t.Fatal(err)
	}
	if s.JID != "u1@bench.test/web" || s.TLSVersion < tls.VersionTLS12 {
		t.Errorf("logged in as %q over %s, want u1@bench.test/web over TLS", s.JID, s.TLSDescription())
	}
	s.Logout()
	c, err := Conns(testCtx(t), ConnsOptions{Target: ws, Users: userNames(4), Password: testPassword, Rate: 100, Settle: 10 * time.Millisecond})
	if err != nil || c.Sessions != 4 {
		t.Fatalf("idle WebSocket sessions: %d, %v; want 4", c.Sessions, err)
	}
	users := userNames(6)
	for _, tc := range []struct {
		name string
		a, b Target
	}{{"WebSocket to WebSocket", ws, ws}, {"TCP to WebSocket", tcp, ws}} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Msgs(testCtx(t), MsgsOptions{
				A: tc.a, B: tc.b, AUsers: users[:3], BUsers: users[3:], Password: testPassword,
				Pairs: 3, Window: 4, Run: Run{Warmup: 200 * time.Millisecond, Duration: time.Second},
			})
			if err != nil {
				t.Fatal(err)
			}
			checkMsgs(t, r)
		})
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestLogin(t *testing.T) {
	target := startRoost(t, 2)
	tests := []struct {
		name, mech, user, password string
		wantErr                    error
	}{
		{"scram-sha-1", MechSCRAMSHA1, "u1", testPassword, nil},
		{"scram-sha-256", MechSCRAMSHA256, "u2", testPassword, nil},
		{"plain", MechPlain, "u1", testPassword, nil},
		{"wrong password", MechSCRAMSHA1, "u1", "wrong-password", ErrAuth},
		{"unknown mechanism", "DIGEST-MD5", "u1", testPassword, ErrMechanism},
	}
	d := &Dialer{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d.Mechanism = tc.mech
			s, err := d.Login(testCtx(t), target, tc.user, tc.password, LoginOptions{Resource: "r", Presence: true})
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Login: err = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if want := tc.user + "@bench.test/r"; s.JID != want {
				t.Errorf("JID = %q, want %q", s.JID, want)
			}
			if s.TLSVersion < tls.VersionTLS12 {
				t.Errorf("TLS version %x, want 1.2 or later", s.TLSVersion)
			}
			s.Logout()
		})
	}
}

func TestSCRAMKeysAreCached(t *testing.T) {
	target := startRoost(t, 1)
	d := &Dialer{}
	for range 3 {
		s, err := d.Login(testCtx(t), target, "u1", testPassword, LoginOptions{})
		if err != nil {
			t.Fatal(err)
		}
		s.Logout()
	}
	if n := d.keys.Len(); n != 1 {
		t.Errorf("cached keys = %d after three logins as one user, want 1", n)
	}
}

func TestRegisterUnsupported(t *testing.T) {
	// roost refuses in-band registration unless configured: Register must
	// report the server's answer, not succeed.
	target := startRoost(t, 0)
	err := (&Dialer{}).Register(testCtx(t), target, "newuser", testPassword)
	var se *StanzaError
	if !errors.As(err, &se) {
		t.Fatalf("Register: err = %v, want a *StanzaError", err)
	}
}

func TestConns(t *testing.T) {
	target := startRoost(t, 10)
	idle := false
	r, err := Conns(testCtx(t), ConnsOptions{
		Target: target, Users: userNames(10), Password: testPassword, Rate: 100,
		Settle: 100 * time.Millisecond, OnIdle: func() { idle = true },
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Sessions != 10 || r.Failed != 0 {
		t.Errorf("sessions %d, failed %d; want 10, 0", r.Sessions, r.Failed)
	}
	if r.RSSBefore <= 0 || r.RSSAfter <= 0 {
		t.Errorf("RSS before %d, after %d: want both measured", r.RSSBefore, r.RSSAfter)
	}
	if !idle {
		t.Error("OnIdle was not called")
	}
	if r.Login.N != 10 {
		t.Errorf("login latencies recorded: %d, want 10", r.Login.N)
	}
}

func TestConnsReportsFailures(t *testing.T) {
	target := startRoost(t, 2)
	r, err := Conns(testCtx(t), ConnsOptions{
		Target: target, Users: []string{"u1", "u2", "nobody"}, Password: testPassword, Rate: 100, Settle: time.Millisecond,
	})
	if !errors.Is(err, ErrTooManyErrors) {
		t.Fatalf("err = %v, want ErrTooManyErrors", err)
	}
	if r.Sessions != 2 || r.Failed != 1 {
		t.Errorf("sessions %d, failed %d; want 2, 1", r.Sessions, r.Failed)
	}
}

func TestMsgs(t *testing.T) {
	target := startRoost(t, 6)
	tests := []struct {
		name   string
		rate   float64
		window int
	}{
		{"as fast as the window allows", 0, 4},
		{"fixed rate", 200, 8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			users := userNames(6)
			r, err := Msgs(testCtx(t), MsgsOptions{
				A: target, B: target, AUsers: users[:3], BUsers: users[3:], Password: testPassword,
				Pairs: 3, Window: tc.window, Rate: tc.rate, Run: Run{Warmup: 200 * time.Millisecond, Duration: time.Second},
			})
			if err != nil {
				t.Fatal(err)
			}
			checkMsgs(t, r)
			if tc.rate > 0 && (r.Rate < tc.rate/5 || r.Rate > tc.rate*1.5) {
				t.Errorf("delivered %.0f msg/s at an offered %.0f", r.Rate, tc.rate)
			}
		})
	}
}

func checkMsgs(t *testing.T, r MsgsResult) {
	t.Helper()
	if r.Delivered == 0 || r.Lost != 0 || r.Errors != 0 {
		t.Errorf("delivered %d, lost %d, errors %d (%s): want some, none, none", r.Delivered, r.Lost, r.Errors, r.FirstError)
	}
	if r.Latency.N != uint64(r.Delivered) || r.Latency.P50 <= 0 || r.Latency.P99 < r.Latency.P50 {
		t.Errorf("latency %+v for %d delivered", r.Latency, r.Delivered)
	}
	if r.Rate <= 0 || r.Seconds <= 0 {
		t.Errorf("rate %v over %v s", r.Rate, r.Seconds)
	}
	if r.TLS == "" {
		t.Error("no TLS description")
	}
}

func TestMUC(t *testing.T) {
	target := startRoost(t, 8)
	r, err := MUC(testCtx(t), MUCOptions{
		Target: target, Service: "conference.bench.test", Users: userNames(8), Password: testPassword,
		Occupants: 8, Senders: 2, Window: 2, Run: Run{Warmup: 200 * time.Millisecond, Duration: time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Sent == 0 || r.Delivered == 0 || r.Incomplete != 0 || r.Errors != 0 {
		t.Errorf("sent %d, delivered %d, incomplete %d, errors %d (%s): want some, some, none, none",
			r.Sent, r.Delivered, r.Incomplete, r.Errors, r.FirstError)
	}
	// Every message reaches all 8 (the window's edges aside).
	if d := float64(r.Delivered) / float64(r.Sent); d < 6 || d > 10 {
		t.Errorf("%.1f deliveries per message sent, want about 8", d)
	}
	if r.CPU <= 0 || r.PerCPU <= 0 || r.Rate <= 0 {
		t.Errorf("CPU %v, per CPU %v, rate %v: want all measured", r.CPU, r.PerCPU, r.Rate)
	}
	if _, err := MUC(testCtx(t), MUCOptions{Target: target, Service: "conference.bench.test", Users: userNames(2), Occupants: 3}); !errors.Is(err, ErrOptions) {
		t.Errorf("too few users: err = %v, want ErrOptions", err)
	}
}

func TestMsgsOptions(t *testing.T) {
	_, err := Msgs(testCtx(t), MsgsOptions{Pairs: 2, AUsers: []string{"a"}, BUsers: []string{"b", "c"}})
	if !errors.Is(err, ErrOptions) {
		t.Errorf("too few users: err = %v, want ErrOptions", err)
	}
}

func TestLogins(t *testing.T) {
	target := startRoost(t, 3)
	for _, tc := range []struct {
		name string
		o    LoginOptions
	}{{"SASL", LoginOptions{}}, {"SASL2", LoginOptions{SASL2: true}}, {"FAST", LoginOptions{FAST: true}}} {
		t.Run(tc.name, func(t *testing.T) {
			d := &Dialer{}
			r, err := Logins(testCtx(t), LoginsOptions{
				Target: target, Users: userNames(3), Password: testPassword, Workers: 2, Login: tc.o,
				Warmup: 100 * time.Millisecond, Duration: time.Second, Dialer: d,
			})
			if err != nil {
				t.Fatal(err)
			}
			if r.Logins == 0 || r.Failed != 0 || r.Rate <= 0 || r.CPU <= 0 || r.PerCPU <= 0 {
				t.Errorf("logins %d, failed %d, rate %v, CPU %v, per CPU %v: want all measured", r.Logins, r.Failed, r.Rate, r.CPU, r.PerCPU)
			}
			tokens := 0
			d.tokens.Range(func(any, any) bool { tokens++; return true })
			if want := map[bool]int{true: 3}[tc.o.FAST]; tokens != want {
				t.Errorf("the dialer keeps %d FAST tokens, want %d", tokens, want)
			}
		})
	}
}

func TestLoginsStopsOnFailures(t *testing.T) {
	target := startRoost(t, 0)
	_, err := Logins(testCtx(t), LoginsOptions{
		Target: target, Users: []string{"nobody"}, Password: testPassword, Workers: 2, Duration: 30 * time.Second,
	})
	if !errors.Is(err, ErrTooManyErrors) {
		t.Fatalf("err = %v, want ErrTooManyErrors", err)
	}
}

func TestWaitReady(t *testing.T) {
	target := startRoost(t, 0)
	if _, err := WaitReady(testCtx(t), target, false, time.Millisecond, 10*time.Second); err != nil {
		t.Errorf("WaitReady on a running server: %v", err)
	}
	// A port nobody listens on never becomes ready.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	_, err = WaitReady(testCtx(t), Target{Name: "none", Addr: addr, Domain: "x"}, false, 10*time.Millisecond, 200*time.Millisecond)
	if !errors.Is(err, ErrNotReady) {
		t.Errorf("WaitReady on a closed port: err = %v, want ErrNotReady", err)
	}
}

func TestServeAnswersPing(t *testing.T) {
	target := startRoost(t, 1)
	s, err := (&Dialer{}).Login(testCtx(t), target, "u1", testPassword, LoginOptions{Resource: "r"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The server answers our own ping; Serve must skip the result and
	// return cleanly when the stream closes.
	if err := s.Write([]byte("<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(nil) }()
	time.Sleep(100 * time.Millisecond)
	s.CloseStream()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after the stream closed")
	}
}

func TestAnswer(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"ping", "<iq xmlns='jabber:client' type='get' id='1' from='d'><ping xmlns='urn:xmpp:ping'/></iq>", `type="result"`},
		{"unknown", "<iq xmlns='jabber:client' type='get' id='2'><query xmlns='x'/></iq>", "service-unavailable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			el := mustParse(t, tc.in)
			got := answer(el).String()
			if !containsAll(got, tc.want, `id="`) {
				t.Errorf("answer = %s, want it to contain %s", got, tc.want)
			}
		})
	}
}

func ExampleDialer_Login() {
	d := &Dialer{Mechanism: MechSCRAMSHA256}
	t := Target{Name: "roost", Addr: "127.0.0.1:5222", Domain: "localhost"}
	s, err := d.Login(context.Background(), t, "alice", "secret", LoginOptions{Presence: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Logout()
	fmt.Println("logged in as", s.JID)
}

// TestMAM fills an archive through roost and pages back through all of
// it: every page full but the oldest, one pass finds every message.
func TestMAM(t *testing.T) {
	target := startRoost(t, 2)
	r, err := MAM(testCtx(t), MAMOptions{
		Target: target, User: "u1", Sender: "u2", Password: testPassword,
		Fill: 530, Page: 50, Duration: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Pages < 11 || r.Archived != 530 || r.Latency.P50 <= 0 || r.FillSeconds <= 0 {
		t.Errorf("MAM = %+v; want at least a pass of 11 pages finding the 530 messages", r)
	}
	if r.Results > r.Pages*50 || r.Results < (r.Pages-r.Pages/11-1)*50 {
		t.Errorf("%d results in %d pages of 50", r.Results, r.Pages)
	}
}
