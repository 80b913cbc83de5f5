package inbound

import (
	"net"
	"net/netip"
	"strings"
)

// hostMatcher decides which Host header values are answered. All keys are lower case.
type hostMatcher struct {
	any   bool                // accept every Host
	empty bool                // accept an empty Host (HTTP/1.0 over a Unix socket)
	exact map[string]struct{} // host:port values, that port only
	names map[string]struct{} // host names and addresses (IPv6 in brackets), any port or none
}

// newHostMatcher compiles the Host rule for cfg on listen; see Config.AllowedHosts.
func newHostMatcher(cfg Config, listen string) hostMatcher {
	m := hostMatcher{exact: map[string]struct{}{}, names: map[string]struct{}{}}
	if len(cfg.AllowedHosts) == 0 {
		if !IsLoopback(listen) && cfg.authConfigured() {
			m.any = true
			return m
		}
		for _, h := range []string{"localhost", "127.0.0.1", "[::1]"} {
			m.names[h] = struct{}{}
		}
		if strings.HasPrefix(listen, "unix:") {
			m.empty = true
		} else if host, _, err := net.SplitHostPort(listen); err == nil && host != "" {
			if ip, err := netip.ParseAddr(host); err == nil && ip.Is6() && !ip.Is4In6() {
				host = "[" + host + "]"
			}
			m.names[strings.ToLower(host)] = struct{}{}
		}
		return m
	}
	for _, h := range cfg.AllowedHosts {
		h = strings.ToLower(h)
		switch {
		case h == "*":
			m.any = true
		case hostHasPort(h):
			m.exact[h] = struct{}{}
		default:
			m.names[h] = struct{}{}
		}
	}
	return m
}

// allow reports whether host, a Host header value, is answered. It allocates only when host
// has upper-case letters.
func (m *hostMatcher) allow(host string) bool {
	switch {
	case m.any:
		return true
	case host == "":
		return m.empty
	}
	if hasUpper(host) {
		host = strings.ToLower(host)
	}
	if _, ok := m.exact[host]; ok {
		return true
	}
	name, ok := hostName(host)
	if !ok {
		return false
	}
	_, ok = m.names[name]
	return ok
}

// hostHasPort reports whether h (host, host:port, [v6] or [v6]:port) has a port.
func hostHasPort(h string) bool {
	if strings.HasPrefix(h, "[") {
		return strings.Contains(h, "]:")
	}
	return strings.Contains(h, ":")
}

// hostName returns the host part of a Host value, keeping IPv6 brackets, and whether the value
// was well formed (any port all digits).
func hostName(h string) (string, bool) {
	var name, rest string
	if strings.HasPrefix(h, "[") {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return "", false
		}
		name, rest = h[:end+1], h[end+1:]
	} else {
		i := strings.IndexByte(h, ':')
		if i < 0 {
			return h, true
		}
		name, rest = h[:i], h[i:]
	}
	if rest == "" {
		return name, true
	}
	return name, rest[0] == ':' && isPort(rest[1:])
}

// hasUpper reports whether s has an ASCII upper-case letter.
func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'Z' {
			return true
		}
	}
	return false
}
