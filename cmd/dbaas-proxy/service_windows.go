//go:build windows

package main

import (
	"errors"
	"os"
	"syscall"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
)

// runService runs the program under the Service Control Manager when it started the process:
// Stop and Shutdown become SIGTERM, so that they drain like it, and a second Stop exits at
// once, like a second SIGTERM. It reports false when the process is not a service, which
// svc.Run (StartServiceCtrlDispatcher) says at once with ERROR_FAILED_SERVICE_CONTROLLER_CONNECT.
// (svc.IsWindowsService, which looks for services.exe in session 0, is false under wine 8,
// whose services run in session 1; .ci/windows runs the service there.)
func runService(run func(system) int, sys system) (code int, ok bool) {
	signals := make(chan os.Signal, 4)
	sys.signals = func() (<-chan os.Signal, func()) { return signals, func() {} }
	h := &service{signals: signals, run: func() int { return run(sys) }}
	switch err := svc.Run("dbaas-proxy", h); { // the name is ignored for an own-process service
	case errors.Is(err, windows.ERROR_FAILED_SERVICE_CONTROLLER_CONNECT):
		return 0, false
	case err != nil:
		return exitFailure, true
	}
	return h.code, true
}

// service is the svc.Handler: it runs the program and turns the SCM's requests into signals.
type service struct {
	signals chan os.Signal
	run     func() int
	code    int
}

// Execute runs the program until it exits, answering the SCM meanwhile.
func (s *service) Execute(_ []string, requests <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	status <- svc.Status{State: svc.StartPending}
	done := make(chan int, 1)
	go func() { done <- s.run() }()
	status <- svc.Status{State: svc.Running, Accepts: svc.AcceptStop | svc.AcceptShutdown}
	for {
		select {
		case s.code = <-done:
			status <- svc.Status{State: svc.StopPending}
			return s.code != 0, uint32(s.code)
		case r := <-requests:
			switch r.Cmd {
			case svc.Interrogate:
				status <- r.CurrentStatus
			case svc.Stop, svc.Shutdown:
				status <- svc.Status{State: svc.StopPending}
				select {
				case s.signals <- syscall.SIGTERM:
				default: // the program is not reading signals: it is exiting anyway
				}
			}
		}
	}
}
