// Command roostprof is `roost serve` with net/http/pprof on a loopback
// address, for profiling roost under the loads of `make bench-peers`
// (`make bench-profile`). It is not the shipped server: the benchmark
// figures come from bin/roost, and this binary only supplies the CPU and
// heap profiles behind them.
//
// Usage:
//
//	roostprof serve -config FILE -pprof 127.0.73.10:6060
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // the point of this command
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"roost/config"
	"roost/server"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "roostprof:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 || args[0] != "serve" {
		return errors.New("usage: roostprof serve -config FILE -pprof ADDR")
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "roost configuration file")
	pprofAddr := fs.String("pprof", "127.0.0.1:6060", "address for net/http/pprof (loopback)")
	memRate := fs.Int("memprofilerate", 4096, "runtime.MemProfileRate: sample an allocation every this many bytes")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	// Finer than the default 512 KiB, so that the few KiB an idle session
	// holds show up by allocation site.
	runtime.MemProfileRate = *memRate
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.Log.Level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	ln, err := net.Listen("tcp", *pprofAddr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: http.DefaultServeMux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()

	srv, err := server.New(server.Options{Config: cfg, Logger: log, Version: "roostprof"})
	if err != nil {
		return err
	}
	return srv.Run(ctx)
}
