// Command dbaas-proxy is a local reverse proxy for the IBM Cloud Hyper Protect DBaaS Manager
// API: it takes plain HTTP on localhost, forwards it over TLS pinned to the DBaaS Manager's CA,
// and obtains, refreshes and attaches the access token itself. `dbaas-proxy help` (help.go)
// documents the commands, the configuration, the signals and the exit codes.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/dbaas-proxy/dbaas-proxy/internal/memlimit"
)

// version is set with -ldflags "-X main.version=v1.2.3"; else versionString asks the build info.
var version = ""

func main() {
	// The soft memory limit: a safety net, not a target (internal/memlimit says why).
	mem, memErr := memlimit.Apply(os.Getenv, os.ReadFile)
	sys := system{
		memory: func() (memlimit.Decision, error) { return mem, memErr },
		stdin:  os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, environ: os.Environ,
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

// system is what the program takes from the process; tests give their own.
type system struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	environ        func() []string // nil: no DBAAS_PROXY_* configuration variables
	signals        func() (<-chan os.Signal, func())
	exit           func(code int)
	memory         func() (memlimit.Decision, error) // nil: none was applied (tests)
}

// exitCode is an error that carries the process's exit code.
type exitCode struct {
	code int
	err  error
}

func (e *exitCode) Error() string { return e.err.Error() }
func (e *exitCode) Unwrap() error { return e.err }

const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)
