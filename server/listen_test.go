//go:build unix

package server

import (
	"net"
	"syscall"
	"testing"

	"roost/config"
)

// TestListenWithoutKeepAlive: connections accepted on roost's listeners
// have no TCP keepalive, whether roost bound the port or systemd passed
// it (socket activation), so an idle phone is not woken every 15 s.
func TestListenWithoutKeepAlive(t *testing.T) {
	passed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = passed.Close() })
	for _, tc := range []struct {
		name  string
		addrs []string
	}{
		{"bound by roost", []string{"127.0.0.1:0"}},
		{"passed by systemd", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Server{cfg: config.Default(), listeners: map[string][]net.Listener{},
				opts: Options{Listeners: map[string][]net.Listener{}}}
			if tc.addrs == nil {
				s.opts.Listeners[ListenC2S] = []net.Listener{passed}
			}
			lns, err := s.listen(ListenC2S, tc.addrs)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range s.closers {
				t.Cleanup(c)
			}
			client, err := net.Dial("tcp", lns[0].Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			c, err := lns[0].Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if on := keepAlive(t, c); on {
				t.Errorf("SO_KEEPALIVE is on for an accepted connection, want off")
			}
			// The check itself can tell: a connection with keepalive on.
			if err := c.(*net.TCPConn).SetKeepAlive(true); err != nil {
				t.Fatal(err)
			}
			if !keepAlive(t, c) {
				t.Errorf("SO_KEEPALIVE reads off after turning it on: the check is broken")
			}
		})
	}
}

func keepAlive(t *testing.T, c net.Conn) bool {
	t.Helper()
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		v, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
	}); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatal(gerr)
	}
	return v != 0
}
