package httpd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"roost/netconn"
)

// Sentinel errors.
var (
	// ErrServerClosed is returned by [Dispatcher.Serve] after
	// [Dispatcher.Shutdown].
	ErrServerClosed = netconn.ServerClosed("httpd")
	// errListenerClosed is returned by the internal HTTP listener's Accept
	// once the Dispatcher shuts down.
	errListenerClosed = errors.New("httpd: listener closed")
)

// ALPN protocol identifiers (RFC 7301 registry).
const (
	ProtoACMETLS = "acme-tls/1" // RFC 8737
	ProtoXMPPC2S = "xmpp-client"
	ProtoXMPPS2S = "xmpp-server" // XEP-0368
	ProtoHTTP2   = "h2"
	ProtoHTTP11  = "http/1.1"
)

// Defaults of DispatcherOptions.
const (
	DefaultHandshakeTimeout = 30 * time.Second
)

// ConnHandler takes over a connection whose TLS handshake is done. It
// should return promptly, serving the connection on a goroutine of its own
// server (c2s.Server.ServeConn does), and it owns the connection: it must
// close it.
type ConnHandler func(ctx context.Context, c *tls.Conn)

// DispatcherOptions configures a [Dispatcher].
type DispatcherOptions struct {
	// TLS is the base configuration (required): certificates through
	// GetCertificate, versions, suites. Its NextProtos are appended to the
	// Dispatcher's own, so the "acme-tls/1" a certificate manager adds for
	// tls-alpn-01 is offered. It is cloned, not modified.
	TLS *tls.Config
	// Protocols maps ALPN protocols to the servers that take them, e.g.
	// ProtoXMPPC2S to the c2s server.
	Protocols map[string]ConnHandler
	// HTTP serves "h2", "http/1.1" and connections without ALPN. Nil: those
	// are refused (not advertised, and closed when no ALPN was sent).
	HTTP http.Handler
	// RequestClientCert lists protocols whose handshakes ask for, but do
	// not require or verify, a client certificate: ProtoXMPPS2S, so that a
	// peer server can authenticate with SASL EXTERNAL (XEP-0178) and the
	// s2s server checks the certificate itself. Browsers are never asked,
	// since the choice is made from the protocols the ClientHello offers.
	RequestClientCert []string
	// HandshakeTimeout bounds the TLS handshake. Default
	// DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// MaxConnsPerIP bounds the connections from one address that are in
	// the handshake or serving HTTP. 0: no limit.
	MaxConnsPerIP int
	// Logger receives connection events. Default: discard.
	Logger *slog.Logger
}

// Dispatcher serves one TLS port for several protocols, chosen by ALPN.
// Create it with [NewDispatcher]; all methods are safe for concurrent use.
type Dispatcher struct {
	tls      *tls.Config
	handlers map[string]ConnHandler
	timeout  time.Duration
	log      *slog.Logger

	httpSrv  *http.Server  // nil without Options.HTTP
	httpLn   *connListener // feeds httpSrv
	httpOnce sync.Once     // starts httpSrv with the first HTTP connection
	httpWG   sync.WaitGroup

	// conns holds the raw connections in the handshake. One handed to a
	// ConnHandler leaves it (its server counts it); one handed to HTTP is
	// detached, keeping its address slot until httpConnState frees it.
	conns *netconn.Set[net.Conn]
}

// serverOrder is the order in which the known protocols are preferred by
// the server. XMPP first: a client offering both wants XMPP from a port it
// was sent to by an _xmpps-client SRV record.
var serverOrder = []string{ProtoXMPPC2S, ProtoXMPPS2S}

// NewDispatcher returns a Dispatcher; it serves nothing until Serve.
func NewDispatcher(o DispatcherOptions) *Dispatcher {
	d := &Dispatcher{
		handlers: make(map[string]ConnHandler, len(o.Protocols)),
		timeout:  o.HandshakeTimeout,
		log:      o.Logger,
	}
	if d.timeout <= 0 {
		d.timeout = DefaultHandshakeTimeout
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	d.conns = netconn.NewSet[net.Conn](o.MaxConnsPerIP, d.log)
	var protos []string
	for p, h := range o.Protocols {
		if h != nil && p != ProtoACMETLS && p != ProtoHTTP2 && p != ProtoHTTP11 {
			d.handlers[p] = h
		}
	}
	for _, p := range serverOrder {
		if d.handlers[p] != nil {
			protos = append(protos, p)
		}
	}
	var others []string
	for p := range d.handlers {
		if !slices.Contains(protos, p) {
			others = append(others, p)
		}
	}
	slices.Sort(others)
	protos = append(protos, others...)
	if o.HTTP != nil {
		protos = append(protos, ProtoHTTP2, ProtoHTTP11)
		d.httpLn = newConnListener()
		d.httpSrv = NewHTTPServer(o.HTTP, d.log)
		d.httpSrv.ConnState = d.httpConnState
	}
	d.tls = o.TLS.Clone()
	for _, p := range o.TLS.NextProtos {
		if !slices.Contains(protos, p) {
			protos = append(protos, p)
		}
	}
	d.tls.NextProtos = protos
	var ask []string
	for _, p := range o.RequestClientCert {
		if d.handlers[p] != nil {
			ask = append(ask, p)
		}
	}
	if len(ask) > 0 {
		withCert := d.tls.Clone()
		withCert.ClientAuth = tls.RequestClientCert
		d.tls.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			if slices.Contains(ask, selectProto(protos, hello.SupportedProtos)) {
				return withCert, nil
			}
			return nil, nil // the base configuration
		}
	}
	return d
}

// selectProto returns the protocol crypto/tls will negotiate: the first of
// the server's that the client offers (RFC 7301 §3.2 leaves the choice to
// the server), or "".
func selectProto(server, client []string) string {
	for _, p := range server {
		if slices.Contains(client, p) {
			return p
		}
	}
	return ""
}

// NextProtos returns the ALPN protocols the Dispatcher advertises, in the
// server's order of preference.
func (d *Dispatcher) NextProtos() []string { return slices.Clone(d.tls.NextProtos) }

// NewHTTPServer returns an http.Server for h with roost's timeouts and its
// error log at debug level (TLS and protocol errors of random clients are
// noise at any higher level).
func NewHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
}

// Serve accepts connections on ln until Shutdown, and returns
// ErrServerClosed then. ctx is handed to the ConnHandlers: it is the
// lifetime of the connections, so pass one that outlives the signal to stop
// if they are to end gracefully through their server's Shutdown.
func (d *Dispatcher) Serve(ctx context.Context, ln net.Listener) error {
	err := d.conns.Serve(ln, func(nc net.Conn) { d.serveConn(ctx, nc) })
	if errors.Is(err, netconn.ErrServerClosed) {
		return ErrServerClosed
	}
	return fmt.Errorf("accept connection: %w", err)
}

// serveConn starts the handshake of one accepted connection.
func (d *Dispatcher) serveConn(ctx context.Context, nc net.Conn) {
	if _, ok := d.conns.Add(nc, func() net.Conn { return nc }); ok {
		d.conns.Go(nc, func() { d.dispatch(ctx, nc) })
	}
}

// dispatch runs the handshake and hands the connection on. The set
// forgets nc when it returns, unless it was handed on before.
func (d *Dispatcher) dispatch(ctx context.Context, nc net.Conn) {
	tc := tls.Server(nc, d.tls)
	hctx, cancel := context.WithTimeout(ctx, d.timeout)
	err := tc.HandshakeContext(hctx)
	cancel()
	closing := false
	select {
	case <-d.conns.Closing():
		closing = true
	default:
	}
	if err != nil || closing {
		if err != nil {
			// Scanners and clients that distrust the certificate: noise.
			d.log.Debug("TLS handshake failed", "remote", nc.RemoteAddr().String(), "err", err)
		}
		_ = nc.Close()
		return
	}
	cs := tc.ConnectionState()
	proto := cs.NegotiatedProtocol
	if proto == ProtoACMETLS {
		// RFC 8737 §3: the CA closes after the handshake, which carried
		// the challenge certificate; nothing more is exchanged.
		d.log.Info("answered a tls-alpn-01 validation", "remote", nc.RemoteAddr().String(), "name", cs.ServerName)
		_ = tc.Close()
		return
	}
	if h := d.handlers[proto]; h != nil {
		// The receiving server counts its own connections.
		d.conns.Done(nc)
		h(ctx, tc)
		return
	}
	if d.httpSrv != nil && (proto == ProtoHTTP2 || proto == ProtoHTTP11 || proto == "") {
		// Its address slot is freed by httpConnState when HTTP is done
		// with it.
		d.conns.Detach(nc)
		d.httpOnce.Do(func() {
			d.httpWG.Add(1)
			go func() {
				defer d.httpWG.Done()
				// Returns when httpLn is closed or httpSrv shut down.
				_ = d.httpSrv.Serve(d.httpLn)
			}()
		})
		if !d.httpLn.hand(tc) {
			_ = tc.Close()
			d.conns.ReleaseAddr(nc.RemoteAddr())
		}
		return
	}
	// Without HTTP, a peer that sent no ALPN has no protocol here.
	d.log.Debug("no handler for the negotiated protocol", "remote", nc.RemoteAddr().String(), "alpn", proto)
	_ = tc.Close()
}

// httpConnState frees a connection's address slot when HTTP is done.
func (d *Dispatcher) httpConnState(c net.Conn, st http.ConnState) {
	if st == http.StateClosed || st == http.StateHijacked {
		d.conns.ReleaseAddr(c.RemoteAddr())
	}
}

// Shutdown stops accepting, aborts pending handshakes, shuts HTTP down
// gracefully (see http.Server.Shutdown) and waits for the goroutines the
// Dispatcher owns, or for ctx. Connections already handed to a
// ConnHandler are their server's to shut down.
func (d *Dispatcher) Shutdown(ctx context.Context) error {
	err := d.conns.Shutdown(ctx, func(nc net.Conn) { _ = nc.Close() }, nil)
	if d.httpSrv != nil {
		d.httpLn.Close()
		if herr := d.httpSrv.Shutdown(ctx); err == nil {
			err = herr
		}
		if werr := netconn.Wait(ctx, &d.httpWG); err == nil {
			err = werr
		}
	}
	return err
}

// connListener is a net.Listener whose connections are handed to it by the
// Dispatcher, so that an http.Server can serve connections whose TLS
// handshake is already done. Because they are *tls.Conn, net/http sets
// Request.TLS and uses HTTP/2 when "h2" was negotiated.
type connListener struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newConnListener() *connListener {
	return &connListener{ch: make(chan net.Conn), done: make(chan struct{})}
}

// hand gives c to Accept, and reports false if the listener is closed.
func (l *connListener) hand(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, errListenerClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr is a placeholder: the connections come from several listeners.
func (l *connListener) Addr() net.Addr { return dispatchedAddr{} }

type dispatchedAddr struct{}

func (dispatchedAddr) Network() string { return "tls" }
func (dispatchedAddr) String() string  { return "dispatched" }
