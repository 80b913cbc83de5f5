//go:build !windows

package server

import (
	"net"
	"os"
	"sync"
	"syscall"
)

// umaskMu serialises the umask change: it is process-wide.
var umaskMu sync.Mutex

// listenUnixPrivate creates the socket with mode 0600, with no window in which others may
// connect: the umask is set before the socket is born.
func listenUnixPrivate(path string) (net.Listener, error) {
	umaskMu.Lock()
	old := syscall.Umask(0o177)
	l, err := net.Listen("unix", path)
	syscall.Umask(old)
	umaskMu.Unlock()
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}
