package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"

	"roost/config"
)

// defaultConfig is the configuration file used without -config, set at
// link time for installed binaries (make cross and the Debian package
// pass -X main.defaultConfig=/etc/roost/roost.toml), so that
// `sudo roost user add alice` finds the server. Empty, or naming a file
// that does not exist, the built-in defaults apply.
var defaultConfig = ""

// configFlag registers -config on fs.
func configFlag(fs *flag.FlagSet) *string {
	usage := "configuration `file` (default: built-in defaults, data in ./data)"
	if defaultConfig != "" {
		usage = fmt.Sprintf("configuration `file` (default: %s if it exists, else built-in defaults)", defaultConfig)
	}
	return fs.String("config", "", usage)
}

// configPath returns the file to read: the -config flag, else
// defaultConfig if it exists, else "" for the built-in defaults.
func configPath(flag string) string {
	if flag != "" || defaultConfig == "" {
		return flag
	}
	if _, err := os.Stat(defaultConfig); errors.Is(err, fs.ErrNotExist) {
		return ""
	}
	return defaultConfig
}

// loadConfig reads the configuration file (see configPath), or returns
// the built-in defaults when there is none.
func loadConfig(path string) (config.Config, error) {
	path = configPath(path)
	if path == "" {
		c := config.Default()
		return c, c.Validate()
	}
	c, err := config.Load(path)
	if err != nil {
		return c, fmt.Errorf("configuration:\n%w", err)
	}
	return c, nil
}
