//go:build !windows

package upstream

import "syscall"

// The errnos of a refused and a reset connection (see errno_windows.go for Windows).
var (
	refusedErrnos = []error{syscall.ECONNREFUSED}
	resetErrnos   = []error{syscall.ECONNRESET}
)
