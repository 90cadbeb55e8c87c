package main

import (
	"flag"
	"fmt"
	"path/filepath"

	"roost/config"
)

// configFlag registers -config on fs.
func configFlag(fs *flag.FlagSet) *string {
	return fs.String("config", "", "configuration `file` (default: built-in defaults, data in ./data)")
}

// loadConfig reads the configuration file, or returns the built-in
// defaults when path is empty.
func loadConfig(path string) (config.Config, error) {
	if path == "" {
		c := config.Default()
		if c.Admin.Socket == "" {
			c.Admin.Socket = filepath.Join(c.DataDir, "admin.sock")
		}
		return c, c.Validate()
	}
	c, err := config.Load(path)
	if err != nil {
		return c, fmt.Errorf("configuration:\n%w", err)
	}
	return c, nil
}
