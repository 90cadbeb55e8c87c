//go:build interop

package interop

import (
	"net"
	"testing"
	"time"

	"roost/internal/xmpptest"
	"roost/stream"
	"roost/xmlstream"
)

// crowdIP is the address of TestInteropCrowdFromOneAddress's roost.
const crowdIP = "127.0.0.114"

// TestInteropCrowdFromOneAddress: with max_connections_per_ip = 4, four
// connections that never log in fill the address; two slixmpp clients
// from the same address still log in and chat, each taking the place of
// the oldest silent connection, which ends with policy-violation; the
// newer silent ones stay (issue 18, item 4).
func TestInteropCrowdFromOneAddress(t *testing.T) {
	ca := xmpptest.NewCA(t)
	r := startRoost(t, crowdIP, "a.example", ca, func(rc *roostConfig) { rc.Limits = "max_connections_per_ip = 4\n" })
	r.AddUser(t, "alice", "alice-secret")
	r.AddUser(t, "bob", "bob-secret")
	var silent []net.Conn
	for range 4 {
		nc, err := net.Dial("tcp", net.JoinHostPort(crowdIP, "5222"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		silent = append(silent, nc)
	}
	time.Sleep(200 * time.Millisecond) // accepted, in order, before the clients come

	ev := slix(t, "chat", "--host", crowdIP, "--port", "5222", "--ca", ca.File,
		"--jid", "alice@a.example/laptop", "--password", "alice-secret", "--mech", "SCRAM-SHA-256",
		"--jid2", "bob@a.example/phone", "--password2", "bob-secret", "--mech2", "SCRAM-SHA-256")
	assertEvents(t, ev, []map[string]any{
		{"event": "login", "jid": "alice@a.example/laptop", "mechanism": "SCRAM-SHA-256"},
		{"event": "login", "jid": "bob@a.example/phone", "mechanism": "SCRAM-SHA-256"},
		{"event": "message", "to": "bob@a.example", "frm": "alice@a.example/laptop", "body": "hello from alice", "type": "chat"},
		{"event": "message", "to": "alice@a.example/laptop", "frm": "bob@a.example/phone", "body": "hello back", "type": "chat"},
		{"event": "ping", "ok": true},
	})

	for i, nc := range silent {
		evicted := i < 2
		_ = nc.SetReadDeadline(time.Now().Add(2 * time.Second))
		dec := xmlstream.NewDecoder(nc, xmlstream.Limits{})
		_, err := dec.ReadHeader()
		if !evicted {
			if err == nil {
				t.Errorf("silent connection %d got a stream header, want it left waiting", i)
			}
			continue
		}
		if err != nil {
			t.Errorf("silent connection %d: %v, want a stream error", i, err)
			continue
		}
		el, err := dec.ReadElement()
		if err != nil || !el.Is(xmlstream.NSStream, "error") || stream.ParseError(el).Condition != stream.PolicyViolation {
			t.Errorf("silent connection %d got %v, %v; want stream error policy-violation", i, el, err)
		}
	}
}
