package stream

import (
	"testing"
	"time"
)

func TestServerOptionsSetDefaults(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in, out ServerOptions
	}{
		{"zero", ServerOptions{}, ServerOptions{
			NegotiationTimeout: 30 * time.Second, IdleTimeout: 5 * time.Minute, PingTimeout: time.Minute,
			KeepaliveInterval: time.Minute, WriteTimeout: 30 * time.Second, QueueDepth: 1024,
		}},
		{"negative", ServerOptions{NegotiationTimeout: -1, IdleTimeout: -1, PingTimeout: -1, KeepaliveInterval: -1, WriteTimeout: -1, QueueDepth: -1}, ServerOptions{
			NegotiationTimeout: 30 * time.Second, IdleTimeout: 5 * time.Minute, PingTimeout: time.Minute,
			KeepaliveInterval: time.Minute, WriteTimeout: 30 * time.Second, QueueDepth: 1024,
		}},
		{"set, ping clamped to idle", ServerOptions{
			NegotiationTimeout: time.Second, IdleTimeout: 10 * time.Second, PingTimeout: time.Minute,
			KeepaliveInterval: 2 * time.Second, WriteTimeout: 3 * time.Second, QueueDepth: 7,
		}, ServerOptions{
			NegotiationTimeout: time.Second, IdleTimeout: 10 * time.Second, PingTimeout: 10 * time.Second,
			KeepaliveInterval: 2 * time.Second, WriteTimeout: 3 * time.Second, QueueDepth: 7,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.in
			got.SetDefaults()
			if got != tc.out {
				t.Errorf("got %+v, want %+v", got, tc.out)
			}
		})
	}
}
