package server

import (
	"errors"
	"net"
)

// listenUnixPrivate refuses: on Windows a Unix socket cannot be made owner-only, so any
// local user could use the proxy's API key through it (config validation says so first).
func listenUnixPrivate(string) (net.Listener, error) {
	return nil, errors.New("unix: sockets are not supported on Windows (they cannot be made owner-only); listen on 127.0.0.1:PORT")
}
