// Command dbaas-proxy is a local reverse proxy for the IBM Cloud Hyper Protect DBaaS Manager
// API. It takes plain HTTP requests on localhost (or a private address), forwards them over TLS
// pinned to the DBaaS Manager's CA, and obtains, caches, refreshes and attaches the access token
// itself, so that tools need neither the API key nor the token dance.
//
// Usage:
//
//	dbaas-proxy -config FILE [-listen ADDR] [-log-level LEVEL]   serve
//	dbaas-proxy demo                                            serve in front of the built-in emulator
//	dbaas-proxy validate -config FILE                           check a config file
//	dbaas-proxy token -config FILE [-json]                      print a fresh access token
//	dbaas-proxy doctor -config FILE                             check CA, TLS, key, token, clock
//	dbaas-proxy hash-token                                      hash a client token read from stdin
//	dbaas-proxy healthcheck [-addr HOST:PORT]                   probe the admin listener's /healthz
//	dbaas-proxy version                                         print the version
//
// Exit codes: 0 success; 1 a runtime failure (cannot listen, a failed check, requests cut off at
// shutdown_timeout); 2 bad usage or configuration; 128+N when a second signal N forced the exit.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

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
		stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv,
		signals: func() (<-chan os.Signal, func()) {
			ch := make(chan os.Signal, 4)
			signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
			return ch, func() { signal.Stop(ch) }
		},
		exit: os.Exit,
	}
	os.Exit(runMain(context.Background(), os.Args[1:], sys))
}

// system is what the program takes from the process: standard streams, the environment,
// signals and exit. Tests give their own.
type system struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
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
