package loadtool

import "errors"

// Errors. Protocol failures from the server come as *StreamError or
// *StanzaError.
var (
	// ErrProcFormat: a /proc file did not look as proc(5) says.
	ErrProcFormat = errors.New("unexpected /proc format")
	// ErrNoProcess: no process holds the socket asked about.
	ErrNoProcess = errors.New("no such process")
	// ErrMechanism: the SASL mechanism is unknown or not offered.
	ErrMechanism = errors.New("sasl mechanism not available")
	// ErrExists: in-band registration found the account already there.
	ErrExists = errors.New("account exists")
	// ErrTooManyErrors: a load stopped because most of its work failed.
	ErrTooManyErrors = errors.New("too many failures")
	// ErrRelay: the relay's pairing handshake failed.
	ErrRelay = errors.New("relay handshake failed")
	// ErrOptions: the options of a load do not fit together.
	ErrOptions = errors.New("invalid options")
	// ErrNotInstalled: a server's software is missing.
	ErrNotInstalled = errors.New("not installed")
	// ErrAddrInUse: another process already serves a suite address.
	ErrAddrInUse = errors.New("address taken by another process")
	// ErrNotReady: a server did not become ready in time.
	ErrNotReady = errors.New("server not ready")
)
