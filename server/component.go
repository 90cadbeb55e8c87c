package server

import (
	"context"
	"net"
	"strings"

	"roost/component"
	"roost/module"
	componentmod "roost/module/component"
)

// ListenComponent is the listener name of external component connections
// (XEP-0114), as systemd socket units name them (FileDescriptorName=).
// Sockets passed under it serve every configured component.
const ListenComponent = "component"

// newComponent builds the module hosting the external components'
// domains, and the listener it hands their stanzas to; nil when no
// [[component]] is configured.
func (w *wiring) newComponent() (module.Module, error) {
	cfg, lim := w.s.cfg, w.s.cfg.Limits
	if len(cfg.Components) == 0 {
		return nil, nil
	}
	secrets := make(map[string]string, len(cfg.Components))
	comps := make([]componentmod.Component, len(cfg.Components))
	for i, c := range cfg.Components {
		secrets[c.Domain] = c.Secret
		comps[i] = componentmod.Component{Domain: c.Domain, Parent: parentDomain(cfg.Domains, c.Domain), Name: c.Name}
	}
	w.s.components = component.New(component.Options{
		Secrets:       secrets,
		Server:        cfg.Domains[0],
		ServerOptions: serverOptions(lim),
		ReadRate:      int(lim.ReadRateBytes),
		ReadBurst:     int(lim.ReadBurstBytes),
		MaxConnsPerIP: lim.MaxConnectionsPerIP,
		Logger:        w.logger("component"),
	}, w.s.router)
	return componentmod.New(componentmod.Options{Components: comps, Link: w.s.components}), nil
}

// parentDomain returns the account domain whose disco#items lists a
// component: the longest one that domain is a subdomain of, or "".
func parentDomain(domains []string, domain string) string {
	parent := ""
	for _, d := range domains {
		if strings.HasSuffix(domain, "."+d) && len(d) > len(parent) {
			parent = d
		}
	}
	return parent
}

// setupComponents binds the component listeners: one per configured
// address, serving the components that name it, or the sockets systemd
// passed, serving them all.
func (s *Server) setupComponents() error {
	srv := s.components
	if srv == nil {
		return nil
	}
	var addrs []string
	served := map[string][]string{} // address → the domains connecting there
	for _, c := range s.cfg.Components {
		for _, a := range c.Listen {
			if served[a] == nil {
				addrs = append(addrs, a)
			}
			served[a] = append(served[a], c.Domain)
		}
	}
	_, activated := s.opts.Listeners[ListenComponent]
	lns, err := s.listen(ListenComponent, addrs)
	if err != nil {
		return err
	}
	for i := range lns {
		var domains []string
		if !activated {
			domains = served[addrs[i]]
		}
		s.serveListeners("component", lns[i:i+1], func(ctx context.Context, ln net.Listener) error {
			return srv.Serve(ctx, ln, domains...)
		})
	}
	s.stops = append(s.stops, stop{"component", srv.Shutdown})
	return nil
}
