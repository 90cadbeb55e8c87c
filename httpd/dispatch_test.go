package httpd

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"roost/internal/xmpptest"
)

// dispatchEnv runs a Dispatcher on a loopback listener with an echoing
// "xmpp-client" handler and an HTTP handler that reports the protocol.
type dispatchEnv struct {
	d      *Dispatcher
	addr   string
	client *tls.Config
	served chan error
	xmpp   sync.WaitGroup // echo goroutines
}

func newDispatchEnv(t *testing.T, o DispatcherOptions) *dispatchEnv {
	t.Helper()
	before := runtime.NumGoroutine()
	server, client := xmpptest.TLS(t, "d.example")
	server.NextProtos = slices.Clone(o.TLS.NextProtos)
	o.TLS = server
	env := &dispatchEnv{client: client, served: make(chan error, 1)}
	if o.Protocols == nil {
		o.Protocols = map[string]ConnHandler{ProtoXMPPC2S: env.echo}
	}
	env.d = NewDispatcher(o)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	env.addr = ln.Addr().String()
	go func() { env.served <- env.d.Serve(context.Background(), ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := env.d.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-env.served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
		env.xmpp.Wait()
		checkGoroutines(t, before)
	})
	return env
}

// echo is the "xmpp-client" server: it answers each line with the
// negotiated protocol and the line.
func (env *dispatchEnv) echo(_ context.Context, c *tls.Conn) {
	env.xmpp.Add(1)
	go func() {
		defer env.xmpp.Done()
		defer c.Close()
		proto := c.ConnectionState().NegotiatedProtocol
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			if _, err := fmt.Fprintf(c, "%s %s\n", proto, sc.Text()); err != nil {
				return
			}
		}
	}()
}

func (env *dispatchEnv) dial(t *testing.T, protos ...string) (*tls.Conn, error) {
	t.Helper()
	cfg := env.client.Clone()
	cfg.NextProtos = protos
	d := &net.Dialer{Timeout: 10 * time.Second}
	return tls.DialWithDialer(d, "tcp", env.addr, cfg)
}

// checkGoroutines waits for the goroutine count to return to before.
func checkGoroutines(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines leaked:\n%s", n-before, buf[:runtime.Stack(buf, true)])
	}
}

func httpHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tlsProto := "no TLS"
		if r.TLS != nil {
			tlsProto = "tls " + r.TLS.ServerName
		}
		fmt.Fprintf(w, "%s %s %s", r.Proto, tlsProto, r.URL.Path)
	})
}

func TestDispatcherNextProtos(t *testing.T) {
	h := func(context.Context, *tls.Conn) {}
	tests := []struct {
		name string
		o    DispatcherOptions
		want []string
	}{
		{"c2s and http", DispatcherOptions{Protocols: map[string]ConnHandler{ProtoXMPPC2S: h}, HTTP: httpHandler()},
			[]string{"xmpp-client", "h2", "http/1.1"}},
		{"c2s, s2s, http and acme", DispatcherOptions{
			TLS:       &tls.Config{NextProtos: []string{"xmpp-client", "acme-tls/1"}},
			Protocols: map[string]ConnHandler{ProtoXMPPS2S: h, ProtoXMPPC2S: h}, HTTP: httpHandler()},
			[]string{"xmpp-client", "xmpp-server", "h2", "http/1.1", "acme-tls/1"}},
		{"no http, nil handler dropped", DispatcherOptions{Protocols: map[string]ConnHandler{ProtoXMPPC2S: h, ProtoXMPPS2S: nil}},
			[]string{"xmpp-client"}},
		{"handlers cannot take over acme or http", DispatcherOptions{Protocols: map[string]ConnHandler{ProtoACMETLS: h, ProtoHTTP2: h, "x-other": h}},
			[]string{"x-other"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.o.TLS == nil {
				tc.o.TLS = &tls.Config{}
			}
			base := slices.Clone(tc.o.TLS.NextProtos)
			got := NewDispatcher(tc.o).NextProtos()
			if !slices.Equal(got, tc.want) {
				t.Errorf("NextProtos() = %q, want %q", got, tc.want)
			}
			if !slices.Equal(tc.o.TLS.NextProtos, base) {
				t.Errorf("base config changed to %q, want %q", tc.o.TLS.NextProtos, base)
			}
		})
	}
}

func TestDispatcherRoutesByALPN(t *testing.T) {
	env := newDispatchEnv(t, DispatcherOptions{
		TLS:  &tls.Config{NextProtos: []string{ProtoACMETLS}},
		HTTP: httpHandler(),
	})

	t.Run("xmpp-client reaches its handler", func(t *testing.T) {
		c, err := env.dial(t, "xmpp-client")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "<stream>\n")
		line, err := bufio.NewReader(c).ReadString('\n')
		if want := "xmpp-client <stream>\n"; line != want || err != nil {
			t.Errorf("echo = %q, %v; want %q", line, err, want)
		}
	})

	t.Run("server prefers xmpp over http", func(t *testing.T) {
		c, err := env.dial(t, "http/1.1", "xmpp-client")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if got := c.ConnectionState().NegotiatedProtocol; got != "xmpp-client" {
			t.Errorf("negotiated %q, want xmpp-client", got)
		}
	})

	for _, tc := range []struct {
		name      string
		protos    []string
		forceH2   bool
		wantProto string
	}{
		{"h2", []string{"h2", "http/1.1"}, true, "HTTP/2.0"},
		{"http/1.1", []string{"http/1.1"}, false, "HTTP/1.1"},
		{"no ALPN is HTTP", nil, false, "HTTP/1.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := env.client.Clone()
			cfg.NextProtos = tc.protos
			tr := &http.Transport{
				DialTLSContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
					d := tls.Dialer{Config: cfg}
					return d.DialContext(ctx, "tcp", env.addr)
				},
				ForceAttemptHTTP2: tc.forceH2,
			}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			resp, err := client.Get("https://d.example/x")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if want := tc.wantProto + " tls d.example /x"; string(body) != want {
				t.Errorf("body = %q, want %q", body, want)
			}
		})
	}

	t.Run("unserved protocol fails the handshake", func(t *testing.T) {
		c, err := env.dial(t, "xmpp-server")
		if err == nil {
			c.Close()
			t.Fatal("handshake offering only xmpp-server succeeded, want no_application_protocol")
		}
		if !strings.Contains(err.Error(), "no application protocol") {
			t.Errorf("err = %v, want a no_application_protocol alert", err)
		}
	})

	t.Run("acme-tls/1 is closed after the handshake", func(t *testing.T) {
		cfg := env.client.Clone()
		cfg.NextProtos = []string{"acme-tls/1"}
		cfg.InsecureSkipVerify = true // the CA checks the challenge certificate itself
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", env.addr, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if got := c.ConnectionState().NegotiatedProtocol; got != "acme-tls/1" {
			t.Errorf("negotiated %q, want acme-tls/1", got)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if n, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("Read = %d, %v; want EOF", n, err)
		}
	})
}

func TestDispatcherWithoutHTTP(t *testing.T) {
	env := newDispatchEnv(t, DispatcherOptions{TLS: &tls.Config{}})
	if got := env.d.NextProtos(); !slices.Equal(got, []string{"xmpp-client"}) {
		t.Fatalf("NextProtos = %q", got)
	}
	c, err := env.dial(t) // no ALPN: nothing to hand it to
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("Read = %d, %v; want EOF", n, err)
	}
}

func TestDispatcherLimitsConnectionsPerIP(t *testing.T) {
	env := newDispatchEnv(t, DispatcherOptions{TLS: &tls.Config{}, HTTP: httpHandler(), MaxConnsPerIP: 2})
	// Two raw connections sit in the handshake and use up the limit.
	var raws []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", env.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		raws = append(raws, c)
	}
	// The Dispatcher counts them when it accepts them: wait for that.
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := env.d.conns.Len()
		if n == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := env.dial(t, "xmpp-client"); err == nil {
		t.Errorf("third connection from one address was served, want it closed")
	}
	// Once one leaves, there is room again.
	raws[0].Close()
	deadline = time.Now().Add(10 * time.Second)
	for {
		c, err := env.dial(t, "xmpp-client")
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection accepted after one closed: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDispatcherShutdownAbortsHandshakes(t *testing.T) {
	before := runtime.NumGoroutine()
	server, _ := xmpptest.TLS(t, "d.example")
	d := NewDispatcher(DispatcherOptions{TLS: server, HTTP: httpHandler(), HandshakeTimeout: time.Hour})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- d.Serve(context.Background(), ln) }()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := d.conns.Len()
		if n == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown = %v, want nil (the handshake aborted, not waited for)", err)
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve = %v, want ErrServerClosed", err)
	}
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := raw.Read(make([]byte, 1)); err == nil {
		t.Errorf("pending connection still open after Shutdown")
	}
	if err := d.Serve(context.Background(), ln); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Shutdown = %v, want ErrServerClosed", err)
	}
	checkGoroutines(t, before)
}

// TestDispatcherRequestsClientCertForS2S: a peer server offering
// xmpp-server is asked for its certificate (for SASL EXTERNAL); an HTTP or
// c2s client is not.
func TestDispatcherRequestsClientCertForS2S(t *testing.T) {
	peers := make(chan int, 4)
	record := func(_ context.Context, c *tls.Conn) {
		peers <- len(c.ConnectionState().PeerCertificates)
		c.Close()
	}
	env := newDispatchEnv(t, DispatcherOptions{
		TLS:               &tls.Config{},
		Protocols:         map[string]ConnHandler{ProtoXMPPC2S: record, ProtoXMPPS2S: record},
		HTTP:              httpHandler(),
		RequestClientCert: []string{ProtoXMPPS2S},
	})
	ca := xmpptest.NewCA(t)
	peerCert := ca.Issue(t, "peer.example")
	for _, tc := range []struct {
		name      string
		protos    []string
		wantCerts int
	}{
		{"xmpp-server", []string{"xmpp-server"}, 1},
		{"xmpp-client", []string{"xmpp-client"}, 0},
		{"both offered: c2s preferred, no request", []string{"xmpp-server", "xmpp-client"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := env.client.Clone()
			cfg.NextProtos = tc.protos
			cfg.Certificates = []tls.Certificate{peerCert}
			c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", env.addr, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			select {
			case n := <-peers:
				if n != tc.wantCerts {
					t.Errorf("handler saw %d client certificates, want %d", n, tc.wantCerts)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("handler not called")
			}
		})
	}
	t.Run("http is not asked", func(t *testing.T) {
		cfg := env.client.Clone()
		cfg.NextProtos = []string{"http/1.1"}
		asked := false
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			asked = true
			return &peerCert, nil
		}
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", env.addr, cfg)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		if asked {
			t.Error("an HTTP client was asked for a certificate")
		}
	})
}
