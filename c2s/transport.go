package c2s

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"roost/netconn"
	"roost/stream"
	"roost/xmlstream"
)

// transport is how a client stream is framed on its connection: over TCP
// as one XML document each way (RFC 6120 §4, [tcpStream]), or over
// WebSocket as one standalone element per message (RFC 7395, wsStream).
// Everything else, from SASL to stream management, is the one session
// implementation above it.
//
// Reading belongs to the goroutine that reads the connection. Writing
// belongs to whoever writes: the negotiation, then the session's writer
// goroutine, one at a time. A batch is built with the append methods into
// a pooled buffer and sent with one write, so that a busy session pays one
// system call (and one TLS record) for many stanzas.
type transport interface {
	// readHeader reads the client's stream header (RFC 6120 §4.7, or
	// <open/>, RFC 7395 §3.4). A header that was read but is not
	// acceptable comes with the stream error to answer it with; err is
	// set when nothing usable was read.
	readHeader() (h stream.Header, serr *stream.Error, err error)
	// readElement reads the next top-level element. It returns
	// xmlstream.ErrStreamEnd when the client closed its stream, and the
	// read deadline's timeout error, after which the stream goes on,
	// when the connection was silent between elements.
	readElement() (*xmlstream.Element, error)
	// restart expects a new stream header, as after SASL (RFC 6120
	// §6.4.6, RFC 7395 §3.7).
	restart()

	// appendHeader appends our stream header.
	appendHeader(b []byte, h stream.Header) []byte
	// appendElement appends el as a top-level element of the stream.
	appendElement(b []byte, el *xmlstream.Element) []byte
	// appendRaw appends a top-level element serialised beforehand, with
	// its namespace declared.
	appendRaw(b, el []byte) []byte
	// appendPrepared appends a top-level element serialised beforehand
	// for either framing, such as the stream features of each stage.
	appendPrepared(b []byte, p *prepared) []byte
	// appendEnd appends the stream error se, if not nil, and the end of
	// the stream.
	appendEnd(b []byte, se *stream.Error) []byte
	// write sends a batch within the write timeout.
	write(b []byte) error
	// keepalive tells the client, and whatever sits between, that the
	// connection lives: a whitespace (RFC 6120 §4.6.1) or a WebSocket ping
	// (RFC 7395 §3.8).
	keepalive() error
	// close ends the connection after the stream's end was written:
	// lingering at most netconn.LingerTime for the client to close its
	// side (RFC 6120 §4.4), over WebSocket with the closing handshake.
	close()
}

// link is a session's connection. The negotiation builds it; a session
// resumed on a new connection (sm.go) takes that connection's link as a
// whole, under the session's lock, while no writer runs: a session begun
// over TCP goes on over WebSocket, and the other way round.
type link struct {
	raw net.Conn        // as accepted; closing it drops the connection at once
	rd  *netconn.Reader // the read deadline and rate, under the framing
	t   transport
}

// tcpStream is the TCP binding of RFC 6120: STARTTLS or direct TLS
// (XEP-0368), then the stream's XML read by a decoder that owns the
// connection's only read buffer.
type tcpStream struct {
	raw     net.Conn
	nc      net.Conn // raw, or TLS once negotiated
	rd      *netconn.Reader
	dec     *xmlstream.Decoder
	timeout time.Duration // for every write
	moved   int64         // unix nanoseconds: when a write last moved the write deadline
}

func newTCPStream(nc net.Conn, rd *netconn.Reader, o *Options) *tcpStream {
	return &tcpStream{raw: nc, nc: nc, rd: rd, dec: xmlstream.NewDecoder(rd, o.Limits), timeout: o.WriteTimeout}
}

func (t *tcpStream) readHeader() (stream.Header, *stream.Error, error) {
	hdr, err := t.dec.ReadHeader()
	if err != nil {
		return stream.Header{}, nil, err
	}
	h, serr := stream.ParseHeader(hdr, t.dec.ContentNamespace(), xmlstream.NSClient)
	return h, serr, nil
}

func (t *tcpStream) readElement() (*xmlstream.Element, error) { return t.dec.ReadElement() }

func (t *tcpStream) restart() { t.dec.Restart() }

func (t *tcpStream) appendHeader(b []byte, h stream.Header) []byte {
	h.ContentNS = xmlstream.NSClient
	return stream.AppendHeader(b, h)
}

func (t *tcpStream) appendElement(b []byte, el *xmlstream.Element) []byte {
	return xmlstream.AppendElement(b, el, xmlstream.NSClient)
}

func (t *tcpStream) appendRaw(b, el []byte) []byte { return append(b, el...) }

func (t *tcpStream) appendPrepared(b []byte, p *prepared) []byte { return append(b, p.inStream...) }

func (t *tcpStream) appendEnd(b []byte, se *stream.Error) []byte {
	return stream.AppendEnd(b, se, xmlstream.NSClient)
}

// write writes b within the write timeout. Like the read deadline, the
// write deadline moves only when it is more than a slack old (a timer
// update in the runtime saved on most writes under load), so each write
// gets at least the timeout less the slack.
func (t *tcpStream) write(b []byte) error {
	moveWriteDeadline(t.nc, &t.moved, t.timeout)
	_, err := t.nc.Write(b)
	return err
}

func (t *tcpStream) keepalive() error { return t.write([]byte{' '}) }

func (t *tcpStream) close() {
	t.rd.Drain()
	_ = t.raw.Close() // not TLS's Close: a close_notify may block on a peer that does not read
}

// startTLS runs the TLS handshake on the connection, unless it already is
// a *tls.Conn whose handshake is done (handed over by an ALPN dispatcher),
// and expects a new stream header over TLS. What the client sent before
// the handshake must have been checked (stream.BeforeTLS): it is dropped.
func (t *tcpStream) startTLS(ctx context.Context, cfg *tls.Config) (*tls.Conn, error) {
	tc, ok := t.nc.(*tls.Conn)
	if !ok {
		tc = tls.Server(t.nc, cfg)
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("tls handshake: %w", err)
	}
	t.nc = tc
	t.rd.SetConn(tc)
	t.dec.Reset(t.rd)
	return tc, nil
}

// moveWriteDeadline sets nc's write deadline timeout from now, unless
// *moved says it was set less than a slack ago (a second, or a quarter of
// the timeout).
func moveWriteDeadline(nc net.Conn, moved *int64, timeout time.Duration) {
	now := time.Now().UnixNano()
	if now-*moved >= int64(min(time.Second, timeout/4)) {
		_ = nc.SetWriteDeadline(time.Unix(0, now).Add(timeout))
		*moved = now
	}
}
