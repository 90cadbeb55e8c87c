package main

import (
	"context"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"os"

	"roost/checkdns"
)

// cmdCheckDNS runs `roost check dns [DOMAIN...]`: what the world sees of
// each configured domain (or the ones named), in plain words. It fails
// when a problem was found, so that scripts can use it.
func cmdCheckDNS(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check dns", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs)
	domains, err := flags(fs, args)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if len(domains) == 0 {
		domains = cfg.Domains
	}
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	if cfg.S2S.CAFile != "" {
		pem, err := os.ReadFile(cfg.S2S.CAFile)
		if err != nil {
			return fmt.Errorf("s2s.ca_file: %w", err)
		}
		roots.AppendCertsFromPEM(pem)
	}
	checker, err := checkdns.New(checkdns.Options{
		DNSServer: cfg.S2S.Resolver,
		Roots:     roots,
		Services:  cfg.Subdomains,
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
