package server

import (
	"errors"
	"net"
)

// listenUnixPrivate refuses: on Windows, umask and chmod do not make a Unix socket private, so
// any local user could use the proxy's API key through it. The config validation says so
// first; this is the second line.
func listenUnixPrivate(string) (net.Listener, error) {
	return nil, errors.New("unix: sockets are not supported on Windows (they cannot be made owner-only); listen on 127.0.0.1:PORT")
}
