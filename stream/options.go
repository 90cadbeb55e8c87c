package stream

import (
	"time"

	"roost/xmlstream"
)

// ServerOptions are what every server of streams whose peers it pings
// (client streams, components: XEP-0199 §4.2) configures alike: parser
// limits, timeouts and the queue towards the peer. Packages c2s and
// component embed them in their Options. Zero durations and limits take
// the defaults noted on each field.
type ServerOptions struct {
	// Limits for the XML parser.
	Limits xmlstream.Limits
	// NegotiationTimeout bounds everything from accept to the end of the
	// negotiation: the handshake of a component, binding for a client
	// (30s).
	NegotiationTimeout time.Duration
	// IdleTimeout is the silence after which the server pings the peer
	// (5m).
	IdleTimeout time.Duration
	// PingTimeout is how long a pinged peer has to send anything (60s, at
	// most IdleTimeout).
	PingTimeout time.Duration
	// KeepaliveInterval: after this long without writing, send a
	// whitespace keepalive (60s).
	KeepaliveInterval time.Duration
	// WriteTimeout bounds every write (30s).
	WriteTimeout time.Duration
	// QueueDepth is the most stanzas queued for the peer (1024).
	QueueDepth int
}

// SetDefaults replaces zero and negative values with the defaults.
func (o *ServerOptions) SetDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.NegotiationTimeout, 30*time.Second)
	def(&o.IdleTimeout, 5*time.Minute)
	def(&o.PingTimeout, time.Minute)
	def(&o.KeepaliveInterval, time.Minute)
	def(&o.WriteTimeout, 30*time.Second)
	o.PingTimeout = min(o.PingTimeout, o.IdleTimeout)
	if o.QueueDepth <= 0 {
		o.QueueDepth = 1024
	}
}
