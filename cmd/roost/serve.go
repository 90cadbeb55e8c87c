package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"roost/config"
	"roost/server"
	"roost/systemd"
)

func cmdServe(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs)
	level := fs.String("log-level", "", "override the configured log level (debug, info, warn, error)")
	format := fs.String("log-format", "", "override the configured log format (text, json, journal)")
	if _, err := flags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if *level != "" {
		if err := cfg.Log.Level.UnmarshalText([]byte(*level)); err != nil {
			return fmt.Errorf("-log-level: %w", err)
		}
	}
	if *format != "" {
		cfg.Log.Format = config.LogFormat(*format)
	}
	log := newLogger(stderr, cfg.Log)

	listeners, err := systemd.Listeners()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	srv, err := server.New(server.Options{
		Config:    cfg,
		Logger:    log,
		Version:   version,
		Listeners: listeners,
		Status:    systemd.Status,
	})
	if err != nil {
		return err
	}
	systemd.Ready(fmt.Sprintf("serving %v", cfg.Domains))
	go systemd.Watchdog(ctx, nil)

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
				if err := srv.Reload(); err != nil {
					log.Error("reload failed", "err", err)
				} else {
					log.Info("reloaded")
				}
				systemd.Ready(fmt.Sprintf("serving %v", cfg.Domains))
			}
		}
	}()

	go func() {
		<-ctx.Done()
		systemd.Stopping()
	}()
	return srv.Run(ctx)
}

// newLogger builds the process's log handler. The journal format leaves
// timestamps to journald and prefixes each line with its syslog priority
// (sd-daemon(3)), so that journalctl shows levels and colours.
func newLogger(w io.Writer, c config.Log) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.Level}
	switch c.Format {
	case config.FormatJSON:
		return slog.New(slog.NewJSONHandler(w, opts))
	case config.FormatJournal:
		return slog.New(newJournalHandler(w, opts))
	default:
		return slog.New(slog.NewTextHandler(w, opts))
	}
}
