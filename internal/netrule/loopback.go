package netrule

import (
	"net"
	"net/netip"
	"strings"
)

// IsLoopbackListen reports whether listen (a listen key value) can be reached only from this
// machine: a Unix socket ("unix:/path"), "localhost" or a loopback address, with a port. An
// empty host (":9090"), an unspecified address, any other name or an unparsable value is not
// loopback.
func IsLoopbackListen(listen string) bool {
	if strings.HasPrefix(listen, "unix:") {
		return true
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	return IsLoopbackHost(host)
}

// IsLoopbackHost reports whether name, a host without a port (IPv6 with or without brackets),
// is "localhost" (any case, with or without a final dot) or a loopback address (127.0.0.0/8,
// ::1, ::ffff:127.0.0.0/104; a zone is ignored).
func IsLoopbackHost(name string) bool {
	name = strings.TrimSuffix(name, ".")
	if strings.EqualFold(name, "localhost") {
		return true
	}
	if len(name) > 1 && name[0] == '[' && name[len(name)-1] == ']' {
		name = name[1 : len(name)-1]
	}
	ip, err := netip.ParseAddr(name)
	return err == nil && ip.WithZone("").Unmap().IsLoopback()
}
