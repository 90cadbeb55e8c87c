package netconn

import (
	"net"
	"net/netip"
)

// ipv6Group is the prefix length IPv6 addresses are grouped by: the
// network one subscriber gets (RFC 6177 §3 recommends a /48 or /56 for a
// site; a /64 is the smallest any host has, as SLAAC needs it).
const ipv6Group = 64

// AddrKey returns the group a connection from a counts against for the
// per-address limit: the IPv4 address, or the /64 network of an IPv6
// address ("2001:db8:1:2::/64"). An IPv4-mapped IPv6 address counts as the
// IPv4 address, and zones are dropped. An address that is not IP (a unix
// socket, an in-memory pipe) is its own group, by its string.
func AddrKey(a net.Addr) string {
	if a == nil {
		return ""
	}
	var ip netip.Addr
	switch a := a.(type) {
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	default:
		s := a.String()
		if ap, err := netip.ParseAddrPort(s); err == nil {
			ip = ap.Addr()
		} else if ip, err = netip.ParseAddr(s); err != nil {
			return s
		}
	}
	if !ip.IsValid() {
		return a.String()
	}
	return IPKey(ip)
}

// IPKey is [AddrKey] of a valid IP address, for callers that have the
// address rather than a connection (the web console's login page).
func IPKey(ip netip.Addr) string {
	ip = ip.Unmap().WithZone("")
	if ip.Is4() {
		return ip.String()
	}
	return netip.PrefixFrom(ip, ipv6Group).Masked().String()
}
