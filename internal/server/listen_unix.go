//go:build !windows

package server

import (
	"net"
	"sync"
	"syscall"
)

// umaskMu serialises the umask change: it is process-wide.
var umaskMu sync.Mutex

// listenUnixPrivate creates the socket with mode 0600, with no window in which others may
// connect: the umask (0177) is set before the socket is born.
func listenUnixPrivate(path string) (net.Listener, error) {
	umaskMu.Lock()
	old := syscall.Umask(0o177)
	l, err := net.Listen("unix", path)
	syscall.Umask(old)
	umaskMu.Unlock()
	return l, err
}
