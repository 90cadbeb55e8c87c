package c2s

import (
	"crypto/tls"
	"io"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"roost/internal/xmpptest"
	"roost/xmlstream"
)

// sinkConn is a connection that takes every write at once, so that a
// benchmark measures the session's own work.
type sinkConn struct{ written atomic.Int64 }

func (s *sinkConn) Read([]byte) (int, error)    { return 0, io.EOF }
func (s *sinkConn) Write(b []byte) (int, error) { s.written.Add(int64(len(b))); return len(b), nil }
func (s *sinkConn) Close() error                { return nil }
func (s *sinkConn) LocalAddr() net.Addr         { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5222} }
func (s *sinkConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}
func (s *sinkConn) SetDeadline(time.Time) error      { return nil }
func (s *sinkConn) SetReadDeadline(time.Time) error  { return nil }
func (s *sinkConn) SetWriteDeadline(time.Time) error { return nil }

// benchSend runs the session send path, Send (what the router calls) to
// the writer goroutine's write, for every iteration, and waits until the
// last byte was written. written reports the bytes that reached nc. With
// one, each iteration waits for its message to be written, so a writer is
// started for each message; otherwise messages queue up while the writer
// works and are written in batches, as under load.
func benchSend(b *testing.B, nc net.Conn, written func() int64, one bool) {
	srv := New(Options{Domains: []string{"example.com"}, TLS: &tls.Config{}, QueueDepth: 1 << 30}, &fakeRouter{sessions: map[string]Endpoint{}}, creds{})
	c := srv.newSession(nc)
	c.q.running = true // as after bind: Send starts the writer as needed
	el := xmpptest.Element(b, `<message xmlns='jabber:client' to='juliet@example.com/balcony' from='romeo@example.net/orchard' type='chat' id='ktx72v49'><body>Are we still on for dinner tonight? I can bring the salad.</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>`)
	size := int64(len(xmlstream.AppendElement(nil, el, xmlstream.NSClient)))
	start := written()
	b.SetBytes(size)
	b.ReportAllocs()
	var n int64
	for b.Loop() {
		if !c.Send(el) {
			b.Fatal("session closed")
		}
		n++
		for one && written()-start < n*size {
			runtime.Gosched()
		}
	}
	for written()-start < n*size {
		time.Sleep(10 * time.Microsecond)
	}
	b.StopTimer()
	c.Close(nil)
	c.writers.Wait()
}

// BenchmarkSessionSend is the send path without TLS: queueing, waking the
// writer, serialising the batch and handing it to the connection.
func BenchmarkSessionSend(b *testing.B) {
	nc := &sinkConn{}
	benchSend(b, nc, nc.written.Load, false)
}

// BenchmarkSessionSendOne sends one message at a time: the cost of waking
// the writer for each, as at a light load.
func BenchmarkSessionSendOne(b *testing.B) {
	nc := &sinkConn{}
	benchSend(b, nc, nc.written.Load, true)
}

// BenchmarkSessionSendTLS adds what a real session pays: TLS records over
// loopback TCP, read and discarded by a client.
func BenchmarkSessionSendTLS(b *testing.B) {
	serverTLS, clientTLS := xmpptest.TLS(b, "example.com")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	var read atomic.Int64
	clientDone := make(chan struct{})
	go func() {
		defer close(clientDone)
		raw, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return
		}
		tc := tls.Client(raw, clientTLS)
		defer tc.Close()
		buf := make([]byte, 32<<10)
		for {
			n, err := tc.Read(buf)
			read.Add(int64(n))
			if err != nil {
				return
			}
		}
	}()
	raw, err := ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	tc := tls.Server(raw, serverTLS)
	if err := tc.Handshake(); err != nil {
		b.Fatal(err)
	}
	benchSend(b, tc, read.Load, false)
	_ = raw.Close()
	<-clientDone
}
