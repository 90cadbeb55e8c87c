package netconn

import "sync"

// Phase is where a connection is in its life, as its server's Shutdown
// needs to know: negotiating, when no writer runs yet and the shutdown
// must interrupt the negotiation's read and let it send the stream error
// itself, or running, when the connection is closed like any stream. The
// zero Phase is negotiating.
type Phase struct {
	mu      sync.Mutex
	running bool
	stopped error
}

// Stop is called by the server's Shutdown. It reports true if the
// connection runs (the caller closes it with reason); otherwise it keeps
// reason for the negotiation, whose read the caller interrupts.
func (p *Phase) Stop(reason error) (running bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.running {
		p.stopped = reason
	}
	return p.running
}

// Run marks the connection running. It returns the reason of a Stop that
// came while it negotiated, if any: the connection must close with it.
func (p *Phase) Run() (stopped error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.running = true
	return p.stopped
}

// Stopped returns the reason of a Stop that came while the connection
// negotiated, or nil.
func (p *Phase) Stopped() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stopped
}
