package loadtool

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of utime and stime in /proc/<pid>/stat. Linux
// exports it as 100 on every architecture, whatever the kernel's own tick
// rate (USER_HZ, see proc(5)), so it needs no sysconf call.
const userHZ = 100

// Proc reads process figures from a proc file system, so that the tool
// measures any server, whatever language it is written in.
type Proc struct {
	// Root is the mount point, "/proc" when empty. Tests point it at a
	// directory of fixtures.
	Root string
}

func (p Proc) path(parts ...string) string {
	root := p.Root
	if root == "" {
		root = "/proc"
	}
	return filepath.Join(append([]string{root}, parts...)...)
}

// Usage is a process's resource use at one moment.
type Usage struct {
	// CPU is user plus system time since the process started, in 10 ms
	// steps.
	CPU time.Duration
	// RSS is the resident set size in bytes (VmRSS).
	RSS int64
}

// Usage reads pid's CPU time from /proc/<pid>/stat and its resident size
// from /proc/<pid>/status.
func (p Proc) Usage(pid int) (Usage, error) {
	cpu, err := p.CPU(pid)
	if err != nil {
		return Usage{}, err
	}
	rss, err := p.RSS(pid)
	if err != nil {
		return Usage{}, err
	}
	return Usage{CPU: cpu, RSS: rss}, nil
}

// CPU returns utime+stime of pid.
func (p Proc) CPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(p.path(strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, fmt.Errorf("read process stat: %w", err)
	}
	ticks, err := parseStat(b)
	if err != nil {
		return 0, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// RSS returns the resident set size of pid in bytes.
func (p Proc) RSS(pid int) (int64, error) {
	m, err := p.Memory(pid)
	return m.RSS, err
}

// Memory is a process's resident memory in bytes: RSS is Anon (heap,
// stacks: the process's own) plus File (pages of its binary, libraries and
// mapped files, which the kernel can share and evict) plus shared memory.
type Memory struct{ RSS, Anon, File int64 }

// Memory reads pid's resident memory from /proc/<pid>/status.
func (p Proc) Memory(pid int) (Memory, error) {
	b, err := os.ReadFile(p.path(strconv.Itoa(pid), "status"))
	if err != nil {
		return Memory{}, fmt.Errorf("read process status: %w", err)
	}
	var m Memory
	for _, f := range []struct {
		key string
		dst *int64
	}{{"VmRSS:", &m.RSS}, {"RssAnon:", &m.Anon}, {"RssFile:", &m.File}} {
		kib, err := parseStatusKB(b, f.key)
		if err != nil {
			return Memory{}, fmt.Errorf("parse /proc/%d/status: %w", pid, err)
		}
		*f.dst = kib << 10
	}
	return m, nil
}

// Busy returns the CPU time all processors spent running processes since
// boot (the first line of /proc/stat), to tell how much of a run's machine
// went to other work.
func (p Proc) Busy() (time.Duration, error) {
	b, err := os.ReadFile(p.path("stat"))
	if err != nil {
		return 0, fmt.Errorf("read system stat: %w", err)
	}
	ticks, err := parseSystemBusy(b)
	if err != nil {
		return 0, fmt.Errorf("parse /proc/stat: %w", err)
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// parseSystemBusy sums the fields of the "cpu" line that processes are
// charged for: user, nice, system and steal (guest time is already in
// user). Interrupt and softirq time is left out: loopback networking runs
// there for the load's own packets, and no process is charged for it.
func parseSystemBusy(b []byte) (int64, error) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return 0, ErrProcFormat
	}
	var sum int64
	for _, i := range []int{1, 2, 3, 8} {
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil || n < 0 {
			return 0, ErrProcFormat
		}
		sum += n
	}
	return sum, nil
}

// parseStat returns utime+stime (fields 14 and 15 of proc(5)) in ticks. The
// command name (field 2) is parenthesised and may itself contain spaces and
// parentheses, so the fields are counted from the last ')'.
func parseStat(b []byte) (int64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, ErrProcFormat
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, ErrProcFormat
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil || u < 0 || s < 0 {
		return 0, ErrProcFormat
	}
	return u + s, nil
}

// parseStatusRSS returns the VmRSS line of /proc/<pid>/status in KiB.
func parseStatusRSS(b []byte) (int64, error) { return parseStatusKB(b, "VmRSS:") }

// parseStatusKB returns a "key: N kB" line of /proc/<pid>/status.
func parseStatusKB(b []byte, key string) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), key)
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, ErrProcFormat
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || n < 0 {
			return 0, ErrProcFormat
		}
		return n, nil
	}
	// Kernel threads and zombies have no VmRSS line.
	return 0, ErrProcFormat
}

// ListeningPID returns the process that holds the TCP socket listening on
// addr (host:port): it finds the socket's inode in /proc/net/tcp{,6}, then
// the process with a descriptor for that inode. A listener on the wildcard
// address matches any host. This lets a run name its servers by address,
// whatever started them (a wrapper script, erl, lua).
func (p Proc) ListeningPID(addr string) (int, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		host, port, err2 := net.SplitHostPort(addr)
		if err2 != nil {
			return 0, fmt.Errorf("parse address %q: %w", addr, err)
		}
		ips, err2 := net.LookupIP(host)
		if err2 != nil || len(ips) == 0 {
			return 0, fmt.Errorf("parse address %q: %w", addr, err)
		}
		ip, _ := netip.AddrFromSlice(ips[0])
		pn, _ := strconv.Atoi(port)
		ap = netip.AddrPortFrom(ip.Unmap(), uint16(pn))
	}
	var inode string
	for _, f := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(p.path("net", f))
		if err != nil {
			continue
		}
		if inode = listeningInode(b, ap); inode != "" {
			break
		}
	}
	if inode == "" {
		return 0, fmt.Errorf("find listener on %s: %w", addr, ErrNoProcess)
	}
	want := "socket:[" + inode + "]"
	procs, err := os.ReadDir(p.path())
	if err != nil {
		return 0, fmt.Errorf("list processes: %w", err)
	}
	for _, d := range procs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		fds, err := os.ReadDir(p.path(d.Name(), "fd"))
		if err != nil {
			continue // not ours to read, or gone
		}
		for _, fd := range fds {
			if l, err := os.Readlink(p.path(d.Name(), "fd", fd.Name())); err == nil && l == want {
				return pid, nil
			}
		}
	}
	return 0, fmt.Errorf("find process with socket %s for %s: %w", inode, addr, ErrNoProcess)
}

// tcpListen is the st column's value for a listening socket.
const tcpListen = "0A"

// listeningInode scans a /proc/net/tcp or tcp6 table for a listening
// socket bound to want (or to the wildcard address on want's port) and
// returns its inode, or "".
func listeningInode(table []byte, want netip.AddrPort) string {
	sc := bufio.NewScanner(bytes.NewReader(table))
	sc.Scan() // header
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 || f[3] != tcpListen {
			continue
		}
		ap, ok := parseProcAddr(f[1])
		if !ok || ap.Port() != want.Port() {
			continue
		}
		if ap.Addr().Unmap() == want.Addr().Unmap() || ap.Addr().IsUnspecified() {
			return f[9]
		}
	}
	return ""
}

// parseProcAddr decodes "0A00007F:1466": the address is the in-memory
// (network order) bytes printed as host-order 32-bit words, the port is
// plain hex.
func parseProcAddr(s string) (netip.AddrPort, bool) {
	hexIP, hexPort, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, false
	}
	raw, err := hex.DecodeString(hexIP)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, false
	}
	port, err := strconv.ParseUint(hexPort, 16, 16)
	if err != nil {
		return netip.AddrPort{}, false
	}
	// Each printed word is a 32-bit value; storing it in this machine's
	// byte order gives back the bytes the kernel read it from.
	ip := make([]byte, len(raw))
	for w := 0; w < len(raw); w += 4 {
		binary.NativeEndian.PutUint32(ip[w:], binary.BigEndian.Uint32(raw[w:w+4]))
	}
	addr, _ := netip.AddrFromSlice(ip)
	return netip.AddrPortFrom(addr.Unmap(), uint16(port)), true
}
