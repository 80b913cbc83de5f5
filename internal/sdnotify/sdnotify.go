// Package sdnotify tells systemd the service's state as sd_notify(3) does, without a library:
// READY=1 once serving, RELOADING=1 while reloading, STOPPING=1 at shutdown. Outside systemd
// (NOTIFY_SOCKET unset) every call is a no-op.
package sdnotify

import (
	"fmt"
	"net"
	"os"
	"strings"
)

// Notify sends state ("READY=1", or "KEY=value" lines joined by "\n") as one datagram to
// NOTIFY_SOCKET, a path or an abstract name beginning with "@"; it does nothing if that is
// unset. It is safe for concurrent use.
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
