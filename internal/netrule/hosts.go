package netrule

import (
	"net/netip"
	"strings"
)

// HostRule decides which Host header values a listener answers, the defence against DNS
// rebinding. Build it with NewHostRule; the zero value answers nothing. It is immutable and
// safe for concurrent use.
type HostRule struct {
	any      bool                // accept every Host
	empty    bool                // accept an empty Host (HTTP/1.0, or a Unix socket)
	loopback bool                // accept every loopback name and address, any port
	exact    map[string]struct{} // lower-case host:port values, that port only
	names    map[string]struct{} // lower-case host names and addresses (IPv6 in brackets), any port
}

// NewHostRule compiles entries: each a host name or address, which matches any port or none,
// or a host:port, which matches that port only (IPv6 in brackets, "[fd00::5]:20000"); "*"
// matches every Host and "" is ignored. Names compare without case and without a final dot.
// Check entries with ValidHost first: a malformed one matches nothing useful.
func NewHostRule(entries ...string) HostRule {
	r := HostRule{exact: map[string]struct{}{}, names: map[string]struct{}{}}
	for _, e := range entries {
		e = strings.ToLower(strings.TrimSpace(e))
		switch {
		case e == "":
		case e == "*":
			r.any = true
		default:
			name, port, ok := splitHost(e)
			switch {
			case !ok:
			case port != "":
				r.exact[name+":"+port] = struct{}{}
			default:
				r.names[name] = struct{}{}
			}
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
// not all digits is never answered. It allocates only when host has upper-case letters.
func (r HostRule) Allow(host string) bool {
	switch {
	case r.any:
		return true
	case host == "":
		return r.empty
	}
	host = strings.ToLower(host) // returns host itself, without allocating, when it has no upper case
	if _, ok := r.exact[host]; ok {
		return true
	}
	name, port, ok := splitHost(host)
	if !ok {
		return false
	}
	if port != "" {
		if _, ok := r.exact[name+":"+port]; ok {
			return true
		}
	}
	if _, ok := r.names[name]; ok {
		return true
	}
	return r.loopback && IsLoopbackHost(name)
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
	if s == "" || len(s) > 5 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
