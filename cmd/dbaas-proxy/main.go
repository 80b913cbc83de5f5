// Command dbaas-proxy is a local reverse proxy for the IBM Cloud Hyper Protect DBaaS Manager
// API. It takes plain HTTP requests on localhost (or a private address), forwards them over TLS
// pinned to the DBaaS Manager's CA, and obtains, caches, refreshes and attaches the access token
// itself, so that tools need neither the API key nor the token dance.
//
// Run `dbaas-proxy help` for the commands, the configuration (a YAML file, DBAAS_PROXY_*
// variables and flags), the signals and the exit codes; `dbaas-proxy help COMMAND` for one
// command. The text is in help.go.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// version is set at build time: -ldflags "-X main.version=v1.2.3". When it is not, the
// version comes from the build info (versionString).
var version = ""

// defaultMemoryLimit is the soft memory limit of the Go runtime unless GOMEMLIMIT says
// otherwise. A proxy's live heap is small (a few MiB even with 128 busy connections), but with
// the default GC pacing the heap of a burst or a long download lingers and RSS climbs past
// 60 MiB; the soft limit makes the GC return it (bench/RESULTS.md). It is soft: a gateway that
// really needs more gets more, with more frequent GC; set GOMEMLIMIT to raise it.
const defaultMemoryLimit = 48 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	sys := system{
		stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, environ: os.Environ,
		signals: func() (<-chan os.Signal, func()) {
			ch := make(chan os.Signal, 4)
			signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
			return ch, func() { signal.Stop(ch) }
		},
		exit: os.Exit,
	}
	run := func(sys system) int { return runMain(context.Background(), os.Args[1:], sys) }
	if code, ok := runService(run, sys); ok { // started by the Windows Service Control Manager
		os.Exit(code)
	}
	os.Exit(run(sys))
}

// system is what the program takes from the process: standard streams, the environment,
// signals and exit. Tests give their own.
type system struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	environ        func() []string // nil: no DBAAS_PROXY_* configuration variables
	signals        func() (<-chan os.Signal, func())
	exit           func(code int)
}

// exitCode is an error that carries the process's exit code.
type exitCode struct {
	code int
	err  error
}

func (e *exitCode) Error() string { return e.err.Error() }
func (e *exitCode) Unwrap() error { return e.err }

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)
