package server

import (
	"roost/module/ping"
)

// setupModules builds the handlers for stanzas the server answers itself.
// The module list is static: each module is a package under module/. It
// runs before the protocol servers are set up, so that modules can add
// stream features (s.c2sFeatures, s.preAuthFeatures) and a pre-auth
// handler (s.preAuth).
func (s *Server) setupModules() error {
	s.mux.IQ(ping.NS, "ping", ping.Handler{})
	return nil
}
