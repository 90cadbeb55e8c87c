package main

import (
	"flag"
	"fmt"
	"io"
)

func cmdCheck(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs)
	if _, err := flags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	name := configPath(*cfgPath)
	if name == "" {
		name = "built-in defaults"
	}
	fmt.Fprintf(stdout, "%s: ok (domains %v, data in %s)\n", name, cfg.Domains, cfg.DataDir)
	return nil
}
