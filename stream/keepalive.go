package stream

import "time"

// Keepalive is the ping discipline of a stream whose peer must answer
// pings (XEP-0199 §4.2; RFC 6120 §4.6.4 lets either side check a silent
// stream): after the idle timeout of silence the stream pings, and a peer
// that stays silent for the answer timeout too is gone. It is used by one
// read loop and is not safe for concurrent use.
type Keepalive struct {
	rd           idler
	idle, answer time.Duration
	pinged       bool
}

// idler is the connection's read deadline: the time of silence after
// which a read times out.
type idler interface{ SetIdle(time.Duration) }

// NewKeepalive returns the keepalive of the stream read through rd, which
// is set for the idle timeout already.
func NewKeepalive(rd idler, idle, answer time.Duration) *Keepalive {
	return &Keepalive{rd: rd, idle: idle, answer: answer}
}

// TimedOut is called when a read timed out. A peer that has not answered
// the last ping gets a connection-timeout stream error; otherwise ping is
// called and the peer has the answer timeout to say anything.
func (k *Keepalive) TimedOut(ping func()) error {
	if k.pinged {
		return &Error{Condition: ConnectionTimeout, Text: "no answer to ping"}
	}
	k.pinged = true
	k.rd.SetIdle(k.answer)
	ping()
	return nil
}

// Heard is called for every element read: any traffic answers a ping, and
// the idle timeout starts again.
func (k *Keepalive) Heard() {
	if k.pinged {
		k.pinged = false
		k.rd.SetIdle(k.idle)
	}
}
