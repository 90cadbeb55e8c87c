package loadtool

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// The relay is the floor that roost's routing is measured against: the
// least a server must do to move a message from one TLS client to another.
// It reads what one connection's TLS records carry and writes it to the
// paired connection, with no parsing, no routing table and no XML. Whatever a server spends beyond the relay's CPU per message is
// the cost of being an XMPP server rather than a pipe.
//
// Pairing: after the handshake each client sends a token line of
// relayTokenLen bytes ending in '\n'; the relay answers "OK\n" to both
// clients of a token once the second arrives, and from then on copies
// bytes in both directions.

const (
	relayTokenLen = 24
	relayOK       = "OK\n"
	// relayBuffer holds the largest TLS record's plaintext.
	relayBuffer = 16 << 10
	// relayPairWait bounds how long a client waits for its partner.
	relayPairWait = 30 * time.Second
)

// Relay serves the floor.
type Relay struct {
	// TLS is the server configuration (certificates). Required.
	TLS *tls.Config
	// Logger receives connection failures; nil discards them.
	Logger *slog.Logger

	mu      sync.Mutex
	waiting map[string]*tls.Conn
	wg      sync.WaitGroup
}

// Serve accepts connections on ln until ctx is done, then closes every
// connection and waits for their goroutines.
func (r *Relay) Serve(ctx context.Context, ln net.Listener) error {
	log := r.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	var conns sync.Map
	defer func() {
		conns.Range(func(k, _ any) bool { _ = k.(net.Conn).Close(); return true })
		r.wg.Wait()
	}()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return fmt.Errorf("accept: %w", err)
		}
		conns.Store(nc, nil)
		r.wg.Go(func() {
			defer conns.Delete(nc)
			if err := r.serveConn(ctx, nc); err != nil && ctx.Err() == nil {
				log.Debug("relay connection", "remote", nc.RemoteAddr().String(), "err", err)
			}
		})
	}
}

func (r *Relay) serveConn(ctx context.Context, nc net.Conn) error {
	_ = nc.SetDeadline(time.Now().Add(relayPairWait))
	tc := tls.Server(nc, r.TLS)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = nc.Close()
		return fmt.Errorf("tls handshake: %w", err)
	}
	var tok [relayTokenLen]byte
	if _, err := io.ReadFull(tc, tok[:]); err != nil || tok[relayTokenLen-1] != '\n' {
		_ = nc.Close()
		return fmt.Errorf("read token: %w", ErrRelay)
	}
	r.mu.Lock()
	if r.waiting == nil {
		r.waiting = make(map[string]*tls.Conn)
	}
	peer := r.waiting[string(tok[:])]
	if peer == nil {
		r.waiting[string(tok[:])] = tc
		r.mu.Unlock()
		return nil // the partner's goroutine takes over this connection
	}
	delete(r.waiting, string(tok[:]))
	r.mu.Unlock()
	for _, c := range []*tls.Conn{tc, peer} {
		_ = c.NetConn().SetDeadline(time.Time{})
		if _, err := c.Write([]byte(relayOK)); err != nil {
			_, _ = tc.NetConn().Close(), peer.NetConn().Close()
			return fmt.Errorf("confirm pairing: %w", err)
		}
	}
	r.wg.Go(func() { relayCopy(peer, tc) })
	relayCopy(tc, peer)
	return nil
}

// relayCopy moves data from src to dst until either side fails, then
// closes both. A reader goroutine takes each record's data as it arrives;
// the writer sends whatever has collected meanwhile in one write, as
// roost's session writer does, so that the floor gets the same batching
// under load that a server can get.
func relayCopy(dst, src *tls.Conn) {
	p := &relayPipe{}
	p.cond = sync.NewCond(&p.mu)
	readDone := make(chan struct{})
	go func() { p.read(src); close(readDone) }()
	p.write(dst)
	_ = dst.NetConn().Close()
	_ = src.NetConn().Close()
	<-readDone
}

// relayPipe is the data read from one side and not yet written to the
// other.
type relayPipe struct {
	mu      sync.Mutex
	cond    *sync.Cond
	pending []byte
	done    bool // the reader stopped (or the writer failed)
}

// relayMaxPending bounds what a slow reader on the other side can make
// the relay hold.
const relayMaxPending = 1 << 20

func (p *relayPipe) read(src *tls.Conn) {
	buf := make([]byte, relayBuffer)
	for {
		n, err := src.Read(buf)
		p.mu.Lock()
		for len(p.pending) >= relayMaxPending && !p.done {
			p.cond.Wait()
		}
		p.pending = append(p.pending, buf[:n]...)
		if err != nil {
			p.done = true
		}
		stop := p.done
		p.mu.Unlock()
		p.cond.Broadcast()
		if stop {
			return
		}
	}
}

func (p *relayPipe) write(dst *tls.Conn) {
	var spare []byte
	for {
		p.mu.Lock()
		for len(p.pending) == 0 && !p.done {
			p.cond.Wait()
		}
		out, done := p.pending, p.done
		p.pending = spare[:0]
		p.mu.Unlock()
		p.cond.Broadcast()
		if len(out) > 0 {
			if _, err := dst.Write(out); err != nil {
				p.mu.Lock()
				p.done = true
				p.mu.Unlock()
				p.cond.Broadcast()
				return
			}
		}
		if done {
			return
		}
		spare = out
	}
}

// relayConn is a client's connection to the relay.
type relayConn struct {
	raw net.Conn
	tc  *tls.Conn
}

// dialRelay connects to the relay and sends the pairing token; the caller
// then waits for the partner with awaitPairing.
func dialRelay(ctx context.Context, t Target, token string) (*relayConn, error) {
	if len(token) != relayTokenLen-1 {
		return nil, fmt.Errorf("relay token %q: %w", token, ErrRelay)
	}
	var nd net.Dialer
	ctx, cancel := context.WithTimeout(ctx, relayPairWait)
	defer cancel()
	raw, err := nd.DialContext(ctx, "tcp", t.Addr)
	if err != nil {
		return nil, fmt.Errorf("dial relay: %w", err)
	}
	tc := tls.Client(raw, t.tlsConfig())
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("relay tls handshake: %w", err)
	}
	if _, err := tc.Write([]byte(token + "\n")); err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("send relay token: %w", err)
	}
	return &relayConn{raw: raw, tc: tc}, nil
}

func (c *relayConn) awaitPairing() error {
	_ = c.raw.SetReadDeadline(time.Now().Add(relayPairWait))
	var ok [len(relayOK)]byte
	if _, err := io.ReadFull(c.tc, ok[:]); err != nil || string(ok[:]) != relayOK {
		return fmt.Errorf("await relay partner: %w", ErrRelay)
	}
	return c.raw.SetReadDeadline(time.Time{})
}
