package main

import (
	"context"
	"fmt"
	"io"

	"roost/certs"
	"roost/checkdns"
)

// cmdCheckDNS runs `roost check dns [DOMAIN...]`: what the world sees of
// each configured domain (or the ones named), in plain words. It fails
// when a problem was found, so that scripts can use it.
func cmdCheckDNS(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	domains, cfg, err := newCommand("check dns", stderr).load(args, nil)
	if err != nil {
		return err
	}
	if len(domains) == 0 {
		domains = cfg.Domains
	}
	// The roots the server checks peers against: a ca_file it would refuse
	// to start with is refused here too.
	roots, err := certs.Roots(cfg.S2S.CAFile)
	if err != nil {
		return fmt.Errorf("s2s.ca_file: %w", err)
	}
	checker, err := checkdns.New(checkdns.Options{
		DNSServer: cfg.S2S.Resolver,
		Roots:     roots,
		Services:  cfg.ServiceLabels(),
	})
	if err != nil {
		return err
	}
	problems := 0
	for i, d := range domains {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		r := checker.Check(ctx, d)
		if err := r.WriteText(stdout); err != nil {
			return err
		}
		problems += r.Problems()
	}
	if problems > 0 {
		return fmt.Errorf("check dns: %d problems found", problems)
	}
	return nil
}
