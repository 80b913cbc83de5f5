// Package sdnotify tells systemd about the service's state, as sd_notify(3) does, without a
// library: one datagram to the Unix socket named by NOTIFY_SOCKET. With systemd's Type=notify,
// dbaas-proxy sends "READY=1" once it serves, "RELOADING=1" (see Reloading) while it reloads its
// configuration and "STOPPING=1" when it begins to shut down. Outside systemd NOTIFY_SOCKET is
// unset and every call is a no-op.
package sdnotify

import (
	"fmt"
	"net"
	"os"
	"strings"
)

// Notify sends state (e.g. "READY=1", "STOPPING=1", or several "KEY=value" lines joined by "\n")
// to the socket named by NOTIFY_SOCKET: a path, or an abstract socket name beginning with "@".
// If NOTIFY_SOCKET is unset or empty, Notify does nothing and returns nil. It is safe for
// concurrent use.
func Notify(state string) error {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return nil
	}
	return send(addr, state)
}

// Reloading tells systemd that a configuration reload has begun ("RELOADING=1" with the
// MONOTONIC_USEC that Type=notify-reload requires). Send "READY=1" when it is done.
func Reloading() error { return Notify(reloadingState()) }

// send writes state as one datagram to the unixgram socket addr.
func send(addr, state string) error {
	if !strings.HasPrefix(addr, "/") && !strings.HasPrefix(addr, "@") {
		return fmt.Errorf("sdnotify: NOTIFY_SOCKET %q is neither a socket path nor an abstract socket name (@...)", addr)
	}
	// The Go runtime turns a leading "@" into the NUL byte of an abstract socket address.
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sdnotify: connect to NOTIFY_SOCKET: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("sdnotify: send to NOTIFY_SOCKET: %w", err)
	}
	return nil
}
