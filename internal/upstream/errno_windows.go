package upstream

import (
	"errors"
	"syscall"
)

// On Windows, Winsock reports WSAECONNREFUSED (10061) and WSAECONNRESET (10054); syscall's
// ECONNREFUSED and ECONNRESET are invented values that errors.Is does not map to them
// (syscall.Errno.Is only knows the os error classes), so both are listed.
var (
	refusedErrnos = []error{syscall.ECONNREFUSED, syscall.Errno(10061)}
	resetErrnos   = []error{syscall.ECONNRESET, syscall.WSAECONNRESET, syscall.WSAECONNABORTED}
)

// isEPIPE reports a write to a connection the peer had closed (Windows reports it as
// WSAECONNRESET or WSAECONNABORTED, already in resetErrnos).
func isEPIPE(err error) bool { return errors.Is(err, syscall.EPIPE) }
