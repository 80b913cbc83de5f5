package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/dbaas-proxy/dbaas-proxy/internal/admin"
	"github.com/dbaas-proxy/dbaas-proxy/internal/config"
	"github.com/dbaas-proxy/dbaas-proxy/internal/inbound"
	"github.com/dbaas-proxy/dbaas-proxy/internal/server"
)

// command is one subcommand.
type command struct {
	name  string
	usage string
	run   func(ctx context.Context, args []string, sys system) error
}

func commands() []command {
	return []command{
		{"run", "-config FILE [-listen ADDR] [-log-level LEVEL]: serve (the default command)", runServe},
		{"demo", "[-listen ADDR] [-admin-listen ADDR]: serve in front of the built-in DBaaS Manager emulator", runDemo},
		{"validate", "-config FILE: check a config file and exit non-zero with every problem", runValidate},
		{"token", "-config FILE [-json]: print a fresh access token", runToken},
		{"doctor", "-config FILE: check the CA file, TLS, API key, token and clock", runDoctor},
		{"hash-token", ": read a client token from stdin, print its token_sha256 line", runHashToken},
		{"healthcheck", "[-addr HOST:PORT] [-config FILE]: probe the admin listener's /healthz", runHealthcheck},
		{"version", ": print the version", runVersion},
	}
}

// runMain runs the command in args and returns the process's exit code.
func runMain(ctx context.Context, args []string, sys system) int {
	name := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	for _, c := range commands() {
		if c.name == name {
			return report(c.run(ctx, args, sys), sys.stderr)
		}
	}
	if name == "help" || name == "-h" || name == "--help" {
		usage(sys.stdout)
		return exitOK
	}
	fmt.Fprintf(sys.stderr, "dbaas-proxy: unknown command %q\n", name)
	usage(sys.stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: dbaas-proxy [command] [flags]; commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.usage)
	}
}

// report prints err, if any, and returns its exit code.
func report(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	var ec *exitCode
	code := exitFailure
	if errors.As(err, &ec) {
		code = ec.code
	}
	if err.Error() != "" {
		fmt.Fprintln(stderr, "dbaas-proxy: "+strings.ReplaceAll(err.Error(), "\n", "\ndbaas-proxy: "))
	}
	return code
}

func usageErr(err error) error { return &exitCode{code: exitUsage, err: err} }

// flagSet returns a FlagSet for a command that reports errors as usage errors.
func flagSet(name string, sys system) *flag.FlagSet {
	fs := flag.NewFlagSet("dbaas-proxy "+name, flag.ContinueOnError)
	fs.SetOutput(sys.stderr)
	return fs
}

// parse parses args; stray arguments are a usage error (an API key must never be one).
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageErr(errors.New(""))
	}
	if fs.NArg() > 0 {
		return usageErr(fmt.Errorf("unexpected argument %q (the API key is never an argument: use auth.api_key_file or %s)", fs.Arg(0), server.APIKeyEnv))
	}
	return nil
}

// loadFlags loads -config and applies -listen and -log-level over it.
func loadFlags(configPath, listenFlag, levelFlag string) (*config.Config, error) {
	if configPath == "" {
		return nil, usageErr(errors.New("-config FILE is required (see config.example.yaml)"))
	}
	cfg, err := config.Load(configPath, func(c *config.Config) {
		if listenFlag != "" {
			c.Listen = listenFlag
		}
		if levelFlag != "" {
			c.Log.Level = levelFlag
		}
	})
	if err != nil {
		return nil, usageErr(err)
	}
	return cfg, nil
}

// runServe is the default command: serve until a signal.
func runServe(ctx context.Context, args []string, sys system) error {
	fs := flagSet("run", sys)
	configPath := fs.String("config", "", "the config `file` (YAML; see config.example.yaml)")
	listenFlag := fs.String("listen", "", "the listen `address`, overriding listen in the config")
	levelFlag := fs.String("log-level", "", "the log `level` (trace, debug, info, warn, error), overriding log.level")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadFlags(*configPath, *listenFlag, *levelFlag)
	if err != nil {
		return err
	}
	return serve(ctx, cfg, sys)
}

// serve builds the server from cfg and runs it until a signal: SIGHUP reloads; SIGTERM or
// SIGINT shuts down gracefully; a second SIGTERM or SIGINT, even after a SIGHUP, exits at once
// with 128+N.
func serve(ctx context.Context, cfg *config.Config, sys system) error {
	logger := newLogger(cfg.Log, sys.stderr)
	srv, err := server.New(cfg, server.Options{Logger: logger, Getenv: sys.getenv, Version: version})
	if err != nil {
		return usageErr(err)
	}
	for _, w := range srv.Warnings() {
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

// newLogger builds the root logger: JSON, or human-readable console output when log.format
// is console, or auto and stderr is a terminal.
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
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

// runValidate checks a config file and the files it names, and exits non-zero with every
// problem of the file, or with the first missing or broken file it names.
func runValidate(_ context.Context, args []string, sys system) error {
	fs := flagSet("validate", sys)
	configPath := fs.String("config", "", "the config `file` to check")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadFlags(*configPath, "", "")
	if err != nil {
		return err
	}
	// The files the config names must be there and usable too: the CA file, the API key (file
	// or environment) and the inbound TLS files. Building the app reads them and starts nothing.
	if _, err := server.New(cfg, server.Options{Logger: zerolog.Nop(), Getenv: sys.getenv, Version: version}); err != nil {
		return usageErr(err)
	}
	fmt.Fprintf(sys.stdout, "%s: ok\n", *configPath)
	return nil
}

func runVersion(_ context.Context, args []string, sys system) error {
	if err := parse(flagSet("version", sys), args); err != nil {
		return err
	}
	fmt.Fprintf(sys.stdout, "dbaas-proxy %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}

// runHashToken reads a client token from stdin and prints the token_sha256 line for
// inbound.clients, so that plaintext client tokens never live in config files.
func runHashToken(_ context.Context, args []string, sys system) error {
	if err := parse(flagSet("hash-token", sys), args); err != nil {
		return err
	}
	line, err := bufio.NewReader(io.LimitReader(sys.stdin, 64<<10)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("hash-token: reading stdin: %w", err)
	}
	token := strings.TrimSpace(line)
	if len(token) < 16 {
		return usageErr(errors.New("hash-token: give a client token of at least 16 characters on stdin, e.g. from: openssl rand -hex 32"))
	}
	fmt.Fprintf(sys.stdout, "token_sha256: %s\n", inbound.HashToken(token))
	return nil
}

// runHealthcheck probes /healthz of the admin listener: the Docker HEALTHCHECK, which has
// no shell or curl in a distroless image.
func runHealthcheck(ctx context.Context, args []string, sys system) error {
	fs := flagSet("healthcheck", sys)
	addr := fs.String("addr", "", "the admin listener's `address` (default: admin.listen of -config, else 127.0.0.1:9090)")
	configPath := fs.String("config", "", "a config `file` to take admin.listen from")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *addr == "" {
		*addr = config.Defaults().Admin.Listen
		if *configPath != "" {
			cfg, err := loadFlags(*configPath, "", "")
			if err != nil {
				return err
			}
			*addr = cfg.Admin.Listen
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := admin.Probe(ctx, probeAddr(*addr)); err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	fmt.Fprintln(sys.stdout, "ok")
	return nil
}

// probeAddr turns a listen address into one to connect to: an unspecified host (0.0.0.0, ::
// or none) is reached on the loopback address.
func probeAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		return net.JoinHostPort("127.0.0.1", port)
	}
	return addr
}
