package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
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

// command is a subcommand's flags: -config, and whatever else the
// subcommand registers on fs before calling load.
type command struct {
	fs     *flag.FlagSet
	config *string
	stderr io.Writer
}

func newCommand(name string, stderr io.Writer) command {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return command{fs: fs, config: configFlag(fs), stderr: stderr}
}

// load parses args and loads the configuration. Unless ok (nil accepts
// anything) approves of the positional arguments, it prints the usage and
// fails with errUsage.
func (c command) load(args []string, ok func(pos []string) bool) ([]string, config.Config, error) {
	pos, err := flags(c.fs, args)
	if err != nil {
		return nil, config.Config{}, err
	}
	if ok != nil && !ok(pos) {
		fmt.Fprint(c.stderr, usage)
		return nil, config.Config{}, errUsage
	}
	cfg, err := loadConfig(*c.config)
	return pos, cfg, err
}

// oneArg approves of exactly one positional argument.
func oneArg(pos []string) bool { return len(pos) == 1 }
