package server

import (
	"fmt"
	"net"
	"os"
	"strings"
)

// listen opens a listener: TCP host:port, or unix:/path for a Unix socket that only its owner
// may use (other users of the machine must not borrow the API key).
func listen(addr string) (net.Listener, error) {
	path, ok := strings.CutPrefix(addr, "unix:")
	if !ok {
		return net.Listen("tcp", addr)
	}
	if st, err := os.Lstat(path); err == nil && st.Mode()&os.ModeSocket != 0 {
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return nil, fmt.Errorf("listen %s: another process is serving on it", addr)
		}
		_ = os.Remove(path) // a stale socket of an earlier run
	}
	return listenUnixPrivate(path)
}
