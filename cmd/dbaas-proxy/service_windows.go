//go:build windows

package main

import (
	"os"
	"syscall"

	"golang.org/x/sys/windows/svc"
)

// runService runs the program under the Service Control Manager when it started the process:
// Stop and Shutdown become SIGTERM (they drain), a second Stop exits at once. It reports false
// when the process is not a service.
func runService(run func(system) int, sys system) (code int, ok bool) {
	isService, err := svc.IsWindowsService()
	if err != nil || !isService {
		return 0, false
	}
	signals := make(chan os.Signal, 4)
	sys.signals = func() (<-chan os.Signal, func()) { return signals, func() {} }
	h := &service{signals: signals, run: func() int { return run(sys) }}
	if err := svc.Run("dbaas-proxy", h); err != nil { // the name is ignored for an own-process service
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
