// Package interop tests roost against software nobody here wrote: real
// XMPP clients (slixmpp) and, for federation, real servers (Prosody,
// ejabberd). The tests build the roost binary, run it as a separate
// process on its own loopback address (127.0.0.2, 127.0.0.3, ...) with
// standard ports, and drive it with the peers.
//
// The tests carry the build tag "interop" and run with `make interop`
// (part of `make test`); they need the Debian packages .ci/run installs.
// Nothing leaves the loopback interface.
package interop
