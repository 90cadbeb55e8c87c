package main

import (
	"context"
	"io"
	"log/slog"
	"sync"
)

// journalHandler prefixes each line with "<N>", its syslog priority, which
// journald reads from a service's output (sd-daemon(3)), and leaves the
// timestamp to journald.
type journalHandler struct {
	inner slog.Handler
	mu    *sync.Mutex // shared by handlers derived with WithAttrs/WithGroup
	w     io.Writer
}

func newJournalHandler(w io.Writer, opts *slog.HandlerOptions) *journalHandler {
	o := *opts
	o.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey) {
			return slog.Attr{}
		}
		return a
	}
	return &journalHandler{inner: slog.NewTextHandler(w, &o), mu: new(sync.Mutex), w: w}
}

func (h *journalHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *journalHandler) Handle(ctx context.Context, r slog.Record) error {
	p := "<7>"
	switch {
	case r.Level >= slog.LevelError:
		p = "<3>"
	case r.Level >= slog.LevelWarn:
		p = "<4>"
	case r.Level >= slog.LevelInfo:
		p = "<6>"
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, err := io.WriteString(h.w, p); err != nil {
		return err
	}
	return h.inner.Handle(ctx, r)
}

func (h *journalHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &journalHandler{inner: h.inner.WithAttrs(as), mu: h.mu, w: h.w}
}

func (h *journalHandler) WithGroup(name string) slog.Handler {
	return &journalHandler{inner: h.inner.WithGroup(name), mu: h.mu, w: h.w}
}
