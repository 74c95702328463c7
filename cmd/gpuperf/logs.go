package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// logSink is where gpuperf's log lines go: standard error, or the progress
// display while one is drawn (which prints them above its lines instead of
// through them).
type logSink struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// redirect sends log lines to w until the returned restore is called.
func (s *logSink) redirect(w io.Writer) (restore func()) {
	s.mu.Lock()
	old := s.w
	s.w = w
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		s.w = old
		s.mu.Unlock()
	}
}

type logSinkKey struct{}

// logSinkFrom returns the command's log sink (standard error when the
// command runs outside the root command, as in tests).
func logSinkFrom(ctx context.Context) *logSink {
	if s, ok := ctx.Value(logSinkKey{}).(*logSink); ok {
		return s
	}
	return &logSink{w: os.Stderr}
}

// newLogger is gpuperf's logger. With --log-level, structured slog text at
// that level, for whoever wants records. Without it, warnings and errors
// only, as sentences for people ("gpuperf: warning: run failed (host a,
// scenario Offline): agent unavailable: ..."), each distinct one once.
func newLogger(w io.Writer, level slog.Level, structured bool) *slog.Logger {
	if structured {
		return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
	}
	return slog.New(&readableHandler{w: w, level: slog.LevelWarn, seen: &seenLines{counts: map[string]int{}}})
}

// readableHandler writes records as one readable line each.
type readableHandler struct {
	w      io.Writer
	level  slog.Level
	attrs  []slog.Attr
	groups []string
	seen   *seenLines
}

// seenLines remembers which lines were written, so a fault that fails run
// after run (a killed agent) is told once, not once a run.
type seenLines struct {
	mu     sync.Mutex
	counts map[string]int
}

func (h *readableHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *readableHandler) Handle(_ context.Context, r slog.Record) error {
	var ctx []string
	var errText string
	add := func(a slog.Attr) {
		if a.Equal(slog.Attr{}) {
			return
		}
		key := a.Key
		if len(h.groups) > 0 {
			key = strings.Join(append(slices.Clone(h.groups), key), ".")
		}
		v := a.Value.Resolve()
		switch {
		case a.Key == "err" || a.Key == "error":
			errText = v.String()
		case v.Kind() == slog.KindDuration:
			ctx = append(ctx, key+" "+v.Duration().Round(time.Millisecond).String())
		default:
			ctx = append(ctx, key+" "+v.String())
		}
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(func(a slog.Attr) bool { add(a); return true })
	level := "warning"
	if r.Level >= slog.LevelError {
		level = "error"
	} else if r.Level < slog.LevelWarn {
		level = strings.ToLower(r.Level.String())
	}
	line := fmt.Sprintf("gpuperf: %s: %s", level, r.Message)
	if len(ctx) > 0 {
		line += " (" + strings.Join(ctx, ", ") + ")"
	}
	// The same message on another run is the same news (a dead agent
	// fails each run a little differently: EOF, then refused): the key
	// is the message alone. The display shows every run's own error.
	key := r.Message
	if errText != "" {
		line += ": " + errText
	}
	h.seen.mu.Lock()
	n := h.seen.counts[key]
	h.seen.counts[key] = n + 1
	h.seen.mu.Unlock()
	switch {
	case n == 0:
	case n == 1:
		line = fmt.Sprintf("gpuperf: %s: %s again (further repeats are not shown; --log-level warn shows every one)", level, r.Message)
	default:
		return nil
	}
	_, err := io.WriteString(h.w, line+"\n")
	return err
}

func (h *readableHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(slices.Clone(h.attrs), as...)
	return &c
}

func (h *readableHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.groups = append(slices.Clone(h.groups), name)
	return &c
}
