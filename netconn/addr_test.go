package netconn

import (
	"net"
	"testing"
)

type strAddr string

func (a strAddr) Network() string { return "test" }
func (a strAddr) String() string  { return string(a) }

func TestAddrKey(t *testing.T) {
	tcp := func(s string) net.Addr {
		a, err := net.ResolveTCPAddr("tcp", s)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	tests := []struct {
		name string
		addr net.Addr
		want string
	}{
		{"IPv4", tcp("192.0.2.7:5222"), "192.0.2.7"},
		{"IPv4 neighbour is another group", tcp("192.0.2.8:5222"), "192.0.2.8"},
		{"IPv4-mapped IPv6 is IPv4", tcp("[::ffff:192.0.2.7]:5222"), "192.0.2.7"},
		{"IPv6 host", tcp("[2001:db8:1:2:a:b:c:d]:5222"), "2001:db8:1:2::/64"},
		{"IPv6 same /64, other host", tcp("[2001:db8:1:2:ffff:ffff:ffff:ffff]:40000"), "2001:db8:1:2::/64"},
		{"IPv6 next /64", tcp("[2001:db8:1:3::1]:5222"), "2001:db8:1:3::/64"},
		{"IPv6 loopback", tcp("[::1]:5222"), "::/64"},
		{"IPv6 zone dropped", &net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 5222, Zone: "eth0"}, "fe80::/64"},
		{"address string with port", strAddr("[2001:db8::5]:1"), "2001:db8::/64"},
		{"address string without port", strAddr("198.51.100.1"), "198.51.100.1"},
		{"not IP: its own group", strAddr("pipe"), "pipe"},
		{"unix socket", &net.UnixAddr{Name: "@", Net: "unix"}, "@"},
		{"nil", nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := AddrKey(tc.addr); got != tc.want {
				t.Errorf("AddrKey(%v) = %q, want %q", tc.addr, got, tc.want)
			}
		})
	}
}
