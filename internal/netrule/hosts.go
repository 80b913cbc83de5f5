package netrule

import (
	"net"
	"net/netip"
	"strings"
)

// HostRule decides which Host values a listener answers (the defence against DNS rebinding).
// Build it with NewHostRule; the zero value answers nothing. Immutable, safe for concurrent use.
type HostRule struct {
	any      bool // accept every Host
	empty    bool // accept an empty Host (HTTP/1.0, or a Unix socket)
	loopback bool // accept every loopback name and address, any port
	// entries: lower-case hosts (IPv6 in brackets) for any port, host:port for that port only.
	entries map[string]bool
}

// NewHostRule compiles entries: a host name or address matches with any port or none, a
// host:port with that port only (IPv6 in brackets); "*" matches every Host, "" is ignored.
// Names compare without case and final dot. Check entries with ValidHost first.
func NewHostRule(entries ...string) HostRule {
	r := HostRule{entries: map[string]bool{}}
	for _, e := range entries {
		e = strings.ToLower(strings.TrimSpace(e))
		name, port, ok := splitHost(e)
		switch {
		case e == "*":
			r.any = true
		case e == "" || !ok:
		case port != "":
			r.entries[name+":"+port] = true
		default:
			r.entries[name] = true
		}
	}
	return r
}

// WithLoopback returns r that also accepts every loopback name and address (localhost,
// 127.0.0.0/8, [::1]) with any port: a web page of another site can never make a browser send
// one, so they are safe from DNS rebinding.
func (r HostRule) WithLoopback() HostRule { r.loopback = true; return r }

// WithEmpty returns r that also accepts a request without a Host (HTTP/1.0 clients, which on a
// Unix socket have no name to send).
func (r HostRule) WithEmpty() HostRule { r.empty = true; return r }

// Allow reports whether host, a Host header value, is answered. A value with a port that is
// not all digits is never answered.
func (r HostRule) Allow(host string) bool {
	switch {
	case r.any:
		return true
	case host == "":
		return r.empty
	}
	name, port, ok := splitHost(strings.ToLower(host))
	if !ok {
		return false
	}
	return port != "" && r.entries[name+":"+port] || r.entries[name] || r.loopback && IsLoopbackHost(name)
}

// ValidHost reports whether h can be an allowed-hosts entry: "*", or a host name or address
// with an optional decimal port (IPv6 in brackets).
func ValidHost(h string) bool {
	if h == "*" {
		return true
	}
	if h == "" || strings.ContainsAny(h, " \t/\\@?#%*") {
		return false
	}
	name, _, ok := splitHost(h)
	if !ok || name == "" {
		return false
	}
	if strings.HasPrefix(name, "[") {
		_, err := netip.ParseAddr(name[1 : len(name)-1])
		return err == nil
	}
	return true
}

// splitHost splits a Host value into its name (IPv6 kept in brackets, a final dot removed) and
// port ("" when none), and reports whether it is well formed: a port, if any, all digits.
func splitHost(h string) (name, port string, ok bool) {
	var rest string
	if strings.HasPrefix(h, "[") {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return "", "", false
		}
		name, rest = h[:end+1], h[end+1:]
	} else {
		i := strings.IndexByte(h, ':')
		if i < 0 {
			return strings.TrimSuffix(h, "."), "", true
		}
		name, rest = h[:i], h[i:]
	}
	name = strings.TrimSuffix(name, ".")
	if rest == "" {
		return name, "", true
	}
	if rest[0] != ':' || !isPort(rest[1:]) {
		return "", "", false
	}
	return name, rest[1:], true
}

// isPort reports whether s is a decimal port number of at most five digits.
func isPort(s string) bool {
	return s != "" && len(s) <= 5 && strings.Trim(s, "0123456789") == ""
}

// IsLoopbackListen reports whether listen (a listen key value) can be reached only from this
// machine: a Unix socket ("unix:/path"), or "localhost" or a loopback address with a port.
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

// IsLoopbackHost reports whether name, a host without a port, is "localhost" (any case, final
// dot optional) or a loopback address (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104; zone ignored).
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
