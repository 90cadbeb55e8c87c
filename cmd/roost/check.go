package main

import (
	"fmt"
	"io"
)

func cmdCheck(args []string, stdout, stderr io.Writer) error {
	cmd := newCommand("check", stderr)
	_, cfg, err := cmd.load(args, nil)
	if err != nil {
		return err
	}
	name := configPath(*cmd.config)
	if name == "" {
		name = "built-in defaults"
	}
	fmt.Fprintf(stdout, "%s: ok (domains %v, data in %s)\n", name, cfg.Domains, cfg.DataDir)
	return nil
}
