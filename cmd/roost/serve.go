package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"roost/admin"
	"roost/config"
	"roost/server"
	"roost/systemd"
)

// shutdownTimeout bounds a graceful stop: streams closed with
// system-shutdown, jobs ended, store closed. hardStopAfter later the
// process exits anyway; bbolt's file is consistent after any exit, and
// the unit's TimeoutStopSec (30 s) is longer still.
const (
	shutdownTimeout = 10 * time.Second
	hardStopAfter   = shutdownTimeout + 10*time.Second
)

// gcPercent is the GOGC roost runs with unless the environment sets one.
// Idle sessions are small and many, and the heap between collections is
// mostly garbage from routing: at the default 100 a home server on a Pi
// holds twice its live heap, while 50 cuts resident memory per idle
// session by about a sixth with no measurable loss in messages per
// CPU-second (docs/benchmarks.md).
const gcPercent = 50

func cmdServe(ctx context.Context, args []string, stderr io.Writer) error {
	cmd := newCommand("serve", stderr)
	level := cmd.fs.String("log-level", "", "override the configured log level (debug, info, warn, error)")
	format := cmd.fs.String("log-format", "", "override the configured log format (text, json, journal)")
	_, cfg, err := cmd.load(args, nil)
	if err != nil {
		return err
	}
	path := configPath(*cmd.config)
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
	if *level != "" {
		if err := cfg.Log.Level.UnmarshalText([]byte(*level)); err != nil {
			return fmt.Errorf("-log-level: %w", err)
		}
	}
	if *format != "" {
		cfg.Log.Format = config.LogFormat(*format)
	}
	// A LevelVar, so that a reload can change the level of the running
	// server's loggers.
	lv := new(slog.LevelVar)
	lv.Set(cfg.Log.Level)
	log := newLeveledLogger(stderr, cfg.Log.Format, lv)
	systemd.Status("starting")

	listeners, err := systemd.Listeners()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	srv, err := server.New(server.Options{
		Config:           cfg,
		Logger:           log,
		Version:          version,
		Listeners:        listeners,
		Status:           systemd.Status,
		ShutdownTimeout:  shutdownTimeout,
		InstalledChatApp: installedChatApp(),
	})
	if err != nil {
		systemd.Status("failed to start: " + err.Error())
		return err
	}
	// server.New has bound every listener and opened the store: only now
	// may systemd start what depends on roost (Type=notify).
	serving := fmt.Sprintf("serving %s", strings.Join(cfg.Domains, " "))
	systemd.Ready(serving)
	// Start-up leaves megabytes of garbage (configuration, certificates,
	// the store's first reads) that the runtime would hand back to the
	// system only over minutes; on a Pi that memory is better returned
	// now, at the cost of one collection.
	debug.FreeOSMemory()

	go func() {
		adm := admin.Client{Path: cfg.Admin.Socket}
		alive := func(ctx context.Context) bool {
			// The admin socket answering means the accept loops, the
			// router and the scheduler are alive.
			_, err := adm.Status(ctx)
			return err == nil
		}
		if err := systemd.Watchdog(ctx, alive); err != nil {
			log.Warn("watchdog disabled", "err", err)
		}
	}()

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				systemd.Reloading()
				status := serving
				if err := reload(path, cfg, lv, srv, log); err != nil {
					log.Error("reload failed", "err", err)
					status += " (last reload failed: see the log)"
				}
				systemd.Ready(status)
			}
		}
	}()

	// Run can return before the AfterFunc goroutine has been scheduled;
	// waiting for it keeps the process from exiting without telling
	// systemd it is stopping (which it would log as a crash).
	announced := make(chan struct{})
	context.AfterFunc(ctx, func() {
		defer close(announced)
		// A second SIGTERM or ^C now ends the process at once.
		stop()
		systemd.Stopping("shutting down")
		log.Info("shutting down", "timeout_s", shutdownTimeout.Seconds())
		time.AfterFunc(hardStopAfter, func() {
			log.Error("graceful shutdown took too long; exiting", "after_s", hardStopAfter.Seconds())
			os.Exit(1)
		})
	})
	err = srv.Run(ctx)
	if ctx.Err() != nil {
		<-announced
	}
	if err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// reloader is what a reload needs of the server.
type reloader interface {
	Reload() error
}

// reload applies what can change without a restart (SIGHUP): the log
// level and the certificate files. It re-reads the configuration file and
// names the settings that changed but take effect only on restart; an
// invalid file is reported and changes nothing.
func reload(path string, running config.Config, lv *slog.LevelVar, srv reloader, log *slog.Logger) error {
	log.Info("reloading", "config", path)
	if path != "" {
		next, err := config.Load(path)
		if err != nil {
			return fmt.Errorf("reload configuration: %w", err)
		}
		lv.Set(next.Log.Level)
		if changed := restartNeeded(running, next); len(changed) > 0 {
			log.Warn("changed settings take effect on restart", "settings", changed)
		}
	}
	if err := srv.Reload(); err != nil {
		return fmt.Errorf("reload certificates: %w", err)
	}
	log.Info("reloaded")
	return nil
}

// restartNeeded names the top-level settings and tables that differ
// between the running and the new configuration, other than the log
// level, which reload applies.
func restartNeeded(running, next config.Config) []string {
	running.Log.Level, next.Log.Level = 0, 0
	a, b := reflect.ValueOf(running), reflect.ValueOf(next)
	var out []string
	for i := range a.NumField() {
		if !reflect.DeepEqual(a.Field(i).Interface(), b.Field(i).Interface()) {
			name, _, _ := strings.Cut(a.Type().Field(i).Tag.Get("toml"), ",")
			out = append(out, name)
		}
	}
	return out
}

// newLeveledLogger builds the process's log handler. The journal format
// leaves timestamps to journald and prefixes each line with its syslog
// priority (sd-daemon(3)), so that journalctl shows levels and colours.
func newLeveledLogger(w io.Writer, format config.LogFormat, level slog.Leveler) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case config.FormatJSON:
		return slog.New(slog.NewJSONHandler(w, opts))
	case config.FormatJournal:
		return slog.New(newJournalHandler(w, opts))
	default:
		return slog.New(slog.NewTextHandler(w, opts))
	}
}

// installedChatApp is where the copy of converse.js installed with roost
// is: share/roost/chat-app beside the folder of the running executable,
// so /usr/share/roost/chat-app for /usr/bin/roost (the .deb),
// /usr/local/share/roost/chat-app for /usr/local/bin/roost, and
// share/roost/chat-app in the source tree for bin/roost (`make run`). ""
// when the executable cannot be found.
func installedChatApp() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	return filepath.Join(filepath.Dir(filepath.Dir(exe)), "share", "roost", "chat-app")
}
