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
	"github.com/dbaas-proxy/dbaas-proxy/internal/files"
	"github.com/dbaas-proxy/dbaas-proxy/internal/server"
)

// runFlags are run's flags, which validate takes too.
func runFlags(fs *flag.FlagSet) *configFlags {
	return addConfigFlags(fs,
		[2]string{"listen", "the listen `address`: HOST:PORT or unix:/path"},
		[2]string{"admin.listen", "the admin listener's `address` (\"\" disables it)"},
		[2]string{"log.level", "the log `level`: trace, debug, info, warn or error"})
}

// setupServe is the default command: serve until a signal.
func setupServe(fs *flag.FlagSet) runFunc {
	cf := runFlags(fs)
	return func(ctx context.Context, sys system, _ []string) error {
		return serve(ctx, func() (*config.Config, error) { return cf.load(sys) }, sys)
	}
}

// serve runs the server of load's configuration until a signal: SIGHUP reopens log.file and
// reloads (off the signal loop; load again for the client lists), SIGTERM or SIGINT drains, and
// a second one exits at once with 128+N.
func serve(ctx context.Context, load func() (*config.Config, error), sys system) error {
	cfg, err := load()
	if err != nil {
		return err
	}
	out, closeLog, err := logOutput(cfg.Log, sys.stderr)
	if err != nil {
		return usageErr(err)
	}
	defer closeLog()
	logger := newLogger(cfg.Log, out)
	srv, err := newServer(cfg, logger, sys)
	if err != nil {
		return err
	}
	if err := listen(srv); err != nil {
		return err
	}
	sig, stopSignals := sys.signals()
	defer stopSignals()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	reloads := make(chan struct{}, 1)
	go reloader(ctx, reloads, func() { reload(srv, load, logger, out) })
	var forced os.Signal
	for {
		select {
		case err := <-done:
			return exitErr(err, forced)
		case s := <-sig:
			switch {
			case forced != nil:
			case s == syscall.SIGHUP:
				select {
				case reloads <- struct{}{}:
				default: // a reload is already due: SIGHUPs coalesce
				}
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

// exitErr is serve's end as an exit code: 128+N after a forced exit, 1 after shutdown_timeout.
func exitErr(err error, forced os.Signal) error {
	switch {
	case forced != nil:
		return &exitCode{code: 128 + signalNumber(forced), err: errors.New("")}
	case errors.Is(err, server.ErrShutdownTimeout):
		return &exitCode{code: exitFailure, err: err}
	}
	return err
}

// newServer turns PR_SET_DUMPABLE off, builds the server from cfg and logs the start notes.
func newServer(cfg *config.Config, logger zerolog.Logger, sys system) (*server.Server, error) {
	if err := notDumpable(); err != nil {
		logger.Warn().Err(err).Msg("cannot turn PR_SET_DUMPABLE off: a core dump could hold the API key")
	}
	srv, err := preflight(cfg, sys, logger)
	if err != nil {
		return nil, err
	}
	if sys.memory != nil {
		d, err := sys.memory()
		logger.Info().Str("memory_limit", d.String()).Msg("Go runtime memory limit")
		if err != nil {
			logger.Warn().Err(err).Msg("cannot read the container's memory limit; using the default")
		}
	}
	for _, w := range preflightWarnings(cfg, srv) {
		logger.Warn().Msg(w)
	}
	return srv, nil
}

// reload is SIGHUP's work: reopen log.file, reload srv's files, then its client lists.
func reload(srv *server.Server, load func() (*config.Config, error), logger zerolog.Logger, out io.Writer) {
	if lf, ok := out.(*logFile); ok {
		if err := lf.reopen(); err != nil {
			logger.Error().Err(err).Msg("cannot reopen log.file; logging on to the old file")
		}
	}
	srv.Reload() // does nothing once shutdown has begun
	if cfg, err := load(); err != nil {
		logger.Error().Err(err).Msg("cannot read the configuration again; keeping the old client lists")
	} else if err := srv.SetClients(cfg); err != nil {
		logger.Error().Err(err).Msg("keeping the old client lists")
	}
}

// reloader runs reload for each request on reloads until ctx ends, off the signal loop, so
// that a slow reload (a slow api_key_command) never keeps a SIGTERM waiting.
func reloader(ctx context.Context, reloads <-chan struct{}, reload func()) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-reloads:
			reload()
		}
	}
}

// listen opens the listeners of srv; a port in use gets a hint.
func listen(srv *server.Server) error {
	err := srv.Listen()
	if errors.Is(err, syscall.EADDRINUSE) || errors.Is(err, syscall.Errno(10048)) { // 10048: Windows' WSAEADDRINUSE
		err = fmt.Errorf("%w: is another dbaas-proxy already running? (`-listen` / `-admin-listen` to pick other ports)", err)
	}
	return err
}

// signalNumber is s's number for the exit code 128+N (SIGTERM's if it has none).
func signalNumber(s os.Signal) int {
	if n, ok := s.(syscall.Signal); ok {
		return int(n)
	}
	return int(syscall.SIGTERM)
}

// timeFormat is RFC 3339 in UTC with milliseconds (zerolog's default has whole seconds).
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

// timeHook adds the time field in timeFormat; zerolog's Timestamp() reads a package global
// (zerolog.TimeFieldFormat) that tests running loggers side by side would race on.
type timeHook struct{ now func() time.Time }

func (h timeHook) Run(e *zerolog.Event, _ zerolog.Level, _ string) {
	e.Str(zerolog.TimestampFieldName, h.now().UTC().Format(timeFormat))
}

// newLogger builds the root logger: JSON, or text for log.format text (or auto on a terminal).
func newLogger(c config.LogConfig, w io.Writer) zerolog.Logger {
	level, err := zerolog.ParseLevel(c.Level)
	if err != nil || c.Level == "" {
		level = zerolog.InfoLevel
	}
	terminal := false
	if f, ok := w.(*os.File); ok {
		st, err := f.Stat()
		terminal = err == nil && st.Mode()&os.ModeCharDevice != 0
	}
	if c.Format == "text" || c.Format == "console" || (c.Format == "auto" || c.Format == "") && terminal {
		w = textWriter(w, !terminal)
	}
	return zerolog.New(w).Level(level).Hook(timeHook{now: time.Now})
}

// textWriter turns the JSON lines into one short line each for a person.
func textWriter(w io.Writer, noColor bool) io.Writer {
	return zerolog.ConsoleWriter{Out: w, NoColor: noColor, FieldsOrder: []string{"route", "id"},
		FieldsExclude: []string{"bytes_in", "bytes_out", "replayed", "upstream_duration_ms", "user_agent", "client", "request_id"},
		TimeFormat:    "15:04:05.000", TimeLocation: time.UTC,
		FormatPrepare: func(ev map[string]any) error {
			if ev[zerolog.MessageFieldName] == "request" {
				ev[zerolog.MessageFieldName] = fmt.Sprintf("%v %v → %v %vms", ev["method"], ev["path"], ev["status"], ev["duration_ms"])
				delete(ev, "method")
				delete(ev, "path")
				delete(ev, "status")
				delete(ev, "duration_ms")
			}
			if id, ok := ev["request_id"]; ok {
				ev["id"] = id
			}
			return nil
		},
	}
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

// logFile is log.file: reopen (on SIGHUP) opens the path again, after logrotate's rename.
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
	f, err := files.OpenAppend("log.file", l.path)
	if err != nil {
		return err
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
