package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/dbaas-proxy/dbaas-proxy/internal/config"
	"github.com/dbaas-proxy/dbaas-proxy/internal/server"
)

// setupServe is the default command: serve until a signal.
func setupServe(fs *flag.FlagSet) runFunc {
	cf := addConfigFlags(fs,
		[2]string{"listen", "the listen `address`: HOST:PORT or unix:/path"},
		[2]string{"log.level", "the log `level`: trace, debug, info, warn or error"})
	return func(ctx context.Context, sys system, _ []string) error {
		cfg, err := cf.load(sys)
		if err != nil {
			return err
		}
		return serve(ctx, cfg, sys)
	}
}

// serve builds the server from cfg and runs it until a signal: SIGHUP reopens log.file and
// reloads; SIGTERM or SIGINT shuts down gracefully; a second SIGTERM or SIGINT, even after a
// SIGHUP, exits at once with 128+N.
func serve(ctx context.Context, cfg *config.Config, sys system) error {
	out, closeLog, err := logOutput(cfg.Log, sys.stderr)
	if err != nil {
		return usageErr(err)
	}
	defer closeLog()
	logger := newLogger(cfg.Log, out)
	srv, err := server.New(cfg, server.Options{Logger: logger, Getenv: sys.getenv, Version: versionString()})
	if err != nil {
		return usageErr(err)
	}
	if sys.memory != nil {
		d, err := sys.memory()
		logger.Info().Str("memory_limit", d.String()).Msg("Go runtime memory limit")
		if err != nil {
			logger.Warn().Err(err).Msg("cannot read the container's memory limit; using the default")
		}
	}
	for _, w := range append(srv.Warnings(), srv.KeyWarnings()...) {
		logger.Warn().Msg(w)
	}
	if err := srv.Listen(); err != nil {
		return err
	}
	sig, stopSignals := sys.signals()
	defer stopSignals()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	var forced os.Signal
	for {
		select {
		case err := <-done:
			switch {
			case forced != nil:
				return &exitCode{code: 128 + signalNumber(forced), err: errors.New("")}
			case errors.Is(err, server.ErrShutdownTimeout):
				return &exitCode{code: exitFailure, err: err}
			}
			return err
		case s := <-sig:
			switch {
			case forced != nil:
			case s == syscall.SIGHUP:
				if lf, ok := out.(*logFile); ok {
					if err := lf.reopen(); err != nil {
						logger.Error().Err(err).Msg("cannot reopen log.file; logging on to the old file")
					}
				}
				srv.Reload() // does nothing once shutdown has begun
			case ctx.Err() == nil:
				logger.Info().Str("signal", s.String()).Msg("shutting down: finishing requests in flight")
				cancel()
			default:
				logger.Warn().Str("signal", s.String()).Msg("second signal: exiting at once")
				forced = s
				sys.exit(128 + signalNumber(s))
			}
		}
	}
}

// signalNumber is the number of s, for the exit code 128+N; SIGTERM's for a signal that has
// none.
func signalNumber(s os.Signal) int {
	if n, ok := s.(syscall.Signal); ok {
		return int(n)
	}
	return int(syscall.SIGTERM)
}

// timeFormat is the log lines' time: RFC 3339 in UTC with milliseconds, which a pipeline can
// order (zerolog's default has whole seconds).
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

// timeHook adds the time field in timeFormat. It replaces zerolog's Timestamp(), whose format
// is a package global (zerolog.TimeFieldFormat) that tests running loggers side by side would
// race on.
type timeHook struct{ now func() time.Time }

func (h timeHook) Run(e *zerolog.Event, _ zerolog.Level, _ string) {
	e.Str(zerolog.TimestampFieldName, h.now().UTC().Format(timeFormat))
}

// newLogger builds the root logger: JSON, or human-readable console output when log.format
// is console, or auto and w is a terminal.
func newLogger(c config.LogConfig, w io.Writer) zerolog.Logger {
	level, err := zerolog.ParseLevel(c.Level)
	if err != nil || c.Level == "" {
		level = zerolog.InfoLevel
	}
	console := c.Format == "console"
	if c.Format == "auto" || c.Format == "" {
		if f, ok := w.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				console = true
			}
		}
	}
	if console {
		return zerolog.New(zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05.000"}).Level(level).With().Timestamp().Logger()
	}
	return zerolog.New(w).Level(level).Hook(timeHook{now: time.Now})
}

// logOutput is where the log lines go: log.file, appended to (created 0600), or stderr.
func logOutput(c config.LogConfig, stderr io.Writer) (io.Writer, func(), error) {
	if c.File == "" {
		return stderr, func() {}, nil
	}
	lf := &logFile{path: c.File}
	if err := lf.reopen(); err != nil {
		return nil, nil, err
	}
	return lf, lf.close, nil
}

// logFile is log.file: it appends, and reopen (on SIGHUP) opens the path again, so that after
// logrotate has renamed the file the lines go to a new one.
type logFile struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

func (l *logFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Write(p)
}

func (l *logFile) reopen() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("log.file: cannot open %s: %w", l.path, errors.Unwrap(err))
	}
	l.mu.Lock()
	old := l.f
	l.f = f
	l.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

func (l *logFile) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.f.Close()
}
