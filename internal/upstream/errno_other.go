//go:build !windows

package upstream

import (
	"errors"
	"syscall"
)

// The errnos of a refused and a reset connection (see errno_windows.go for Windows).
var (
	refusedErrnos = []error{syscall.ECONNREFUSED}
	resetErrnos   = []error{syscall.ECONNRESET}
)

// isEPIPE reports a write to a connection the peer had closed: nothing of that write was sent.
func isEPIPE(err error) bool { return errors.Is(err, syscall.EPIPE) }
